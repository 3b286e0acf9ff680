"""The "Detect scratches" dock widget: image (+ optional region) → the marks, an editable Labels
layer, and a hidden probability layer.

The marks layer is what "Restore selection" repairs (see _marks.py). Moving the threshold keeps
the user's erasures and painted marks; detecting again replaces the marks where the detector
looked (inside the region) and keeps them elsewhere. The status line follows the user's edits of
the layer.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
from magicgui.widgets import FloatSlider
from qtpy.QtCore import QTimer

import unscratch
import unscratch.api
from unscratch import Cancelled
from unscratch.hostkit import ACTIONS, marks_name, summary

from . import _marks, _results
from ._job import (
    JobWidget,
    all_slices_box,
    default_threshold,
    index_list,
    layer_combo,
    layer_kwargs,
    paint_red,
    provenance,
)
from ._layers import (
    ImageSource,
    compose,
    current_index,
    image_source,
    infrared_planes,
    require_nonempty,
    selection_planes,
    slice_indices,
    unwrap,
    with_infrared,
    zeros_like_stack,
)

PROBABILITY_SUFFIX = "scratch probability"


@dataclass
class _DetectJob:
    image: object           # the image layer chosen
    src: ImageSource        # what is detected on: the image as the user sees it
    indices: list
    regions: dict | None
    threshold: float
    region_name: str | None
    infrared: dict | None = None  # {slice: infrared plane} of a film scan, or None: the network


class DetectWidget(JobWidget):
    """Image (+ optional Shapes/Labels region) → an editable Labels mask and a hidden probability
    layer; the threshold re-thresholds it live, keeping the user's edits."""
    title = ACTIONS["detect"]
    run_text = ACTIONS["detect"]

    def __init__(self, napari_viewer):
        from napari.layers import Image, Labels, Shapes

        image = layer_combo(napari_viewer, "image", Image,
                            "the image to inspect (never modified); after a Restore selection, "
                            "its restored result is what is inspected")
        region = layer_combo(napari_viewer, "region", (Shapes, Labels),
                             "optional Shapes or Labels layer: look only inside it, and "
                             "replace the marks only there (----- = whole image)", nullable=True)
        start, problem = default_threshold()
        threshold = FloatSlider(name="threshold", label="threshold", min=0.0, max=1.0, step=0.01,
                                value=start,
                                tooltip="probability above which a pixel is a defect; moving it "
                                        "re-thresholds the marks layer live without running the "
                                        "detector again, keeping your erasures and painted marks")
        infrared = layer_combo(napari_viewer, "infrared", Image,
                               "optional: the film scanner's infrared plane of this image (an "
                               "RGBI TIFF opens as the image and an 'infrared' layer); defects are "
                               "found in it instead of by the network (----- = the network)",
                               nullable=True, value=None)
        all_slices = all_slices_box()
        self._watched: set[int] = set()
        super().__init__(napari_viewer, [image, region, threshold, infrared, all_slices])
        if problem:
            self.status.value = problem
        threshold.changed.connect(self._on_threshold)
        infrared.changed.connect(self._on_infrared)
        if infrared.value is not None:  # pre-selected from a layer already open
            self._on_infrared(infrared.value)
        _marks.subscribe(self)

    def _on_inserted(self, layer) -> None:
        # an RGBI scan's infrared layer, as the reader opens it, is what to detect with
        if layer.metadata.get("unscratch", {}).get("infrared") and self.infrared.value is None:
            try:
                self.infrared.value = layer
            except ValueError:
                pass

    def _on_infrared(self, layer) -> None:
        """The two detectors have their own scales: the slider starts at the chosen one's
        threshold."""
        infrared = unscratch.api.settings("infrared").threshold
        start = infrared if layer is not None else default_threshold()[0]
        self._set_quietly(self.threshold, start)

    # --- running -----------------------------------------------------------------------------
    def _prepare(self) -> _DetectJob:
        viewer, image = self.viewer, self.image.value
        original = image_source(image)
        seen = _results.shown(image, viewer)   # the image with its repairs applied, if any
        src = image_source(seen) if seen is not unwrap(image) else original
        idx = current_index(viewer, image, original)
        indices = slice_indices(original, idx, self.all_slices.value)
        region = self.region.value
        regions = selection_planes(region, image, original, indices, "region")
        require_nonempty(regions, region, "region",
                         "draw the region over the image or choose no region (-----)")
        return _DetectJob(unwrap(image), src, indices, regions, float(self.threshold.value),
                          region.name if region is not None else None,
                          infrared_planes(self.infrared.value, original, indices))

    @staticmethod
    def _compute(job: _DetectJob, progress, cancel) -> dict:
        out = {}
        n = len(job.indices)
        for k, idx in enumerate(job.indices):
            if cancel.is_set():
                raise Cancelled("cancelled")
            plane = job.src.work_plane(idx)
            method = "auto"
            if job.infrared is not None:
                plane, method = with_infrared(plane, job.infrared[idx]), "infrared"
            region = job.regions[idx] if job.regions is not None else None
            out[idx] = unscratch.detect(plane, region=region, threshold=job.threshold,
                                        cancel=cancel, method=method,
                                        progress=lambda f, k=k: progress((k + f) / n))
        return out

    def _meta(self, job: _DetectJob, output: str, detections: dict, previous: dict | None) -> dict:
        det = next(iter(detections.values()))
        slices = {tuple(i) for i in ((previous or {}).get("parameters", {}).get("slices") or [])}
        slices |= set(detections)
        return provenance(
            operation="detect", output=output, source_layer=job.image.name,
            models=[det.provenance.get("detector")], detector=det.provenance.get("detector"),
            threshold=job.threshold,
            parameters={"method": det.provenance.get("method", "auto"),
                        "region_layer": job.region_name, "detected_on": job.src.name,
                        "threshold": job.threshold, "slices": index_list(sorted(slices))})

    def _new_marks(self, job: _DetectJob, detections: dict) -> _marks.Marks:
        from napari.layers import Image, Labels

        src = image_source(job.image)
        kwargs = layer_kwargs(job.image)
        prob = Image(zeros_like_stack(src, src.plane_shape, np.float32, lazy=True),
                     name=f"{job.image.name} ({PROBABILITY_SUFFIX})", colormap="inferno",
                     contrast_limits=(0.0, 1.0), visible=False,
                     metadata=self._meta(job, "probability", detections, None), **kwargs)
        labels = Labels(np.zeros(src.full_shape, np.uint8), name=marks_name(job.image.name),
                        opacity=0.8, metadata=self._meta(job, "mask", detections, None),
                        **kwargs)
        paint_red(labels)
        marks = _marks.Marks(job.image, labels, prob, tuple(src.leading), job.threshold)
        # known as marks (and with its provenance) before the viewer announces it: Restore
        # selection picks a new marks layer up as it is inserted
        _marks.register(marks)
        self.viewer.add_layer(prob)
        self.viewer.add_layer(labels)
        return marks

    def _watch(self, labels) -> None:
        """Recount when the user paints, erases, fills or undoes on the marks layer."""
        if id(labels) in self._watched:
            return
        self._watched.add(id(labels))
        ref = weakref.ref(labels)
        # labels_update follows a brush or eraser stroke's write; paint (emitted before the write,
        # also by fill and undo's history) and data (a new array) are counted once events settle
        labels.events.labels_update.connect(lambda *_: self._recount(ref()))
        for emitter in (labels.events.paint, labels.events.data):
            emitter.connect(lambda *_: QTimer.singleShot(0, lambda: self._recount(ref())))

    def _apply(self, job: _DetectJob, detections: dict) -> str:
        viewer = self.viewer
        marks = _marks.of_image(job.image, viewer) or self._new_marks(job, detections)
        labels, prob = marks.labels(), marks.probability()
        for idx, d in detections.items():
            region = job.regions[idx] if job.regions is not None else None
            marks.add(idx, d.probability, region, job.threshold, d.picture)
        if prob is not None and any(x is prob for x in map(unwrap, viewer.layers)):
            probs = {i: marks.probability_plane(i) for i in detections}
            prob.data = compose(prob.data, probs, marks.leading)
            prob.metadata = self._meta(job, "probability", detections,
                                       prob.metadata.get("unscratch"))
        _marks.rethreshold(marks, job.threshold, source=self)
        labels.metadata = self._meta(job, "mask", detections, labels.metadata.get("unscratch"))
        labels.visible = True
        self._watch(labels)
        self.outputs = {"mask": labels, "probability": prob}
        marked = sum(int(np.count_nonzero(marks.current(i))) for i in detections)
        lead = marks.leading
        where = (f" ({len(detections)} slices)" if lead and len(detections) > 1
                 else (" (this slice)" if lead else ""))
        info = {"defect_pixels": marked, "selection": job.regions is not None,
                "threshold": job.threshold}
        text = summary("detect", info, self.elapsed, marks=labels.name)
        if where:
            text = text.replace(f"Marked {marked} pixels", f"Marked {marked} pixels{where}", 1)
        if job.src.name != job.image.name:
            text += f" Detected on '{job.src.name}', the image as repaired so far."
        c = marks.counts()
        if c["erased"] or c["painted"]:
            text += (f" Your edits outside the region are kept ({c['erased']} erased, "
                     f"{c['painted']} painted).")
        return text

    # --- the threshold and the user's edits --------------------------------------------------
    def _on_threshold(self, value) -> None:
        if self._quiet or self.worker is not None:
            return  # moved by code, or a running job keeps the threshold it started with
        image = self.image.value
        marks = _marks.of_image(image, self.viewer) if image is not None else None
        if marks is None:
            name = f"'{image.name}'" if image is not None else "this image"
            self.status.value = (f"threshold {float(value):.2f}: no marks layer for {name} yet; "
                                 f"{ACTIONS['detect']} uses it")
            return
        gained, lost = _marks.rethreshold(marks, float(value), source=self)
        marks.labels().visible = True
        self.status.value = _marks.remade_text(marks, gained, lost)

    def marks_rethresholded(self, marks: _marks.Marks) -> None:
        """Another widget re-thresholded a marks layer: show its value if it is this image's."""
        image = self.image.value
        if image is not None and unwrap(image) is marks.image():
            self._set_quietly(self.threshold, marks.threshold)

    def _recount(self, labels) -> None:
        try:
            if self.worker is not None or labels is None or self.viewer is None:
                return
        except RuntimeError:  # the widget is gone
            return
        marks = _marks.of_labels(labels, self.viewer)
        if marks is None:
            return
        c = marks.counts()
        self.status.value = (f"'{marks.labels().name}' marks {c['marked']} pixels now (you erased "
                             f"{c['erased']}, painted {c['painted']}); {ACTIONS['restore']} "
                             "repairs what it shows")


"""The dock widgets: "Detect scratches", "Restore" and "Restoration metrics".

Each widget is a JobWidget (_job.py: Run, Cancel, progress, status around a worker thread) docked by
napari (`viewer.window.add_plugin_dock_widget("unscratch", NAME)`). Problems with the input (no
image, mismatched shapes, a region that selects nothing, …) become a napari error notification,
never a traceback.

Stacks (leading axes before H, W): by default only the slice on screen is processed; tick "all
slices" to process every slice, one after another. Outputs always have the image's full shape so
they line up on every slice; running again on another slice adds that slice to the same output
layers. A dask (or other lazy) layer is read tile by tile inside the worker, and outputs other than
the editable mask stay lazy: only the processed slices' masks and the pixels a restoration changed
are held in memory.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FloatSlider
from napari.layers import Image
from napari.utils.notifications import show_info

import unscratch
import unscratch.api
from unscratch import Cancelled, InputError
from unscratch import metrics as _metrics
from unscratch.protocol import repair_summary
from unscratch.worker import repair_rule

from . import _layers as L
from ._job import (JobWidget, alive, default_threshold, index_list, layer_choices, layer_kwargs,
                   output_kind, paint_red, provenance)

MASK_NAME, PROB_NAME = "scratches", "scratch probability"
RESTORED_NAME, DIFF_NAME = "restored", "difference"


# --- Detect scratches --------------------------------------------------------------------------
@dataclass
class _DetectJob:
    image: object
    src: L.ImageSource
    indices: list
    regions: dict | None
    threshold: float
    region_name: str | None
    # {slice index: infrared plane} of a film scan, or None: the network
    infrared: dict | None = None


@dataclass
class _DetectState:
    """What the threshold slider needs: the cached detections of one image and its output layers."""
    image: weakref.ref
    labels: weakref.ref
    probability: weakref.ref
    leading: tuple
    detections: dict = field(default_factory=dict)


class DetectWidget(JobWidget):
    """Image (+ optional Shapes/Labels region) → an editable Labels mask and a hidden probability
    layer.

    The threshold slider re-thresholds the cached probability live, without running the detector
    again (this replaces the mask of the detected slices, so make brush edits after choosing the
    threshold).
    """
    title = "Detect scratches"
    run_text = "Detect"

    def __init__(self, napari_viewer):
        from napari.layers import Image, Labels, Shapes

        viewer_ref = weakref.ref(L.unwrap(napari_viewer))
        image = ComboBox(name="image", label="image", choices=layer_choices(viewer_ref, Image),
                         tooltip="the image to inspect (never modified)")
        region = ComboBox(name="region", label="region", nullable=True,
                          choices=layer_choices(viewer_ref, (Shapes, Labels)),
                          tooltip="optional Shapes or Labels layer: look only inside it (----- = "
                                  "whole image)")
        threshold = FloatSlider(name="threshold", label="threshold", min=0.0, max=1.0, step=0.01,
                                value=default_threshold(),
                                tooltip="probability above which a pixel is a defect; moving it "
                                        "re-thresholds the last detection without running the "
                                        "detector again")
        infrared = ComboBox(name="infrared", label="infrared", nullable=True, value=None,
                            choices=layer_choices(viewer_ref, Image),
                            tooltip="optional: the film scanner's infrared plane of this image "
                                    "(an RGBI TIFF opens as the image and an 'infrared' layer); "
                                    "defects are found in it instead of by the network (----- = "
                                    "the network)")
        all_slices = CheckBox(name="all_slices", text="all slices", value=False,
                              tooltip="stacks: process every slice (otherwise only the slice on "
                                      "screen)")
        self._states: dict[int, _DetectState] = {}
        super().__init__(napari_viewer, [image, region, threshold, infrared, all_slices])
        threshold.changed.connect(self._on_threshold)
        infrared.changed.connect(self._on_infrared)
        if infrared.value is not None:  # pre-selected from a layer already open
            self._on_infrared(infrared.value)

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
        self.threshold.value = infrared if layer is not None else default_threshold()

    def _prepare(self) -> _DetectJob:
        viewer, image = self.viewer, self.image.value
        src = L.image_source(image)
        idx = L.current_index(viewer, image, src)
        indices = L.slice_indices(src, idx, self.all_slices.value)
        region = self.region.value
        regions = L.selection_planes(region, image, src, indices, "region")
        L.require_nonempty(regions, region, "region",
                           "draw the region over the image or choose no region (-----)")
        return _DetectJob(L.unwrap(image), src, indices, regions, float(self.threshold.value),
                          region.name if region is not None else None,
                          L.infrared_planes(self.infrared.value, src, indices))

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
                plane, method = L.with_infrared(plane, job.infrared[idx]), "infrared"
            region = job.regions[idx] if job.regions is not None else None
            out[idx] = unscratch.detect(plane, region=region, threshold=job.threshold,
                                        cancel=cancel, method=method,
                                        progress=lambda f, k=k: progress((k + f) / n))
        return out

    def _state(self, image) -> _DetectState | None:
        image = L.unwrap(image)
        state = self._states.get(id(image))
        if state is None or state.image() is not image:
            return None
        labels, prob = alive(state.labels, self.viewer), alive(state.probability, self.viewer)
        if labels is None or prob is None or tuple(labels.data.shape) != tuple(prob.data.shape):
            return None
        return state

    def _meta(self, job: _DetectJob, output: str, detections: dict, previous: dict | None) -> dict:
        det = next(iter(detections.values()))
        slices = {tuple(i) for i in ((previous or {}).get("parameters", {}).get("slices") or [])}
        slices |= set(detections)
        return provenance(
            operation="detect", output=output, source_layer=job.src.name,
            models=[det.provenance.get("detector")], detector=det.provenance.get("detector"),
            threshold=det.threshold,
            parameters={"method": det.provenance.get("method", "auto"),
                        "region_layer": job.region_name,
                        "threshold": det.threshold, "slices": index_list(sorted(slices))})

    def _apply(self, job: _DetectJob, detections: dict) -> str:
        viewer, src = self.viewer, job.src
        lead = tuple(src.leading)
        masks = {i: d.mask.astype(np.uint8) for i, d in detections.items()}
        probs = {i: d.probability for i, d in detections.items()}
        state = self._state(job.image)
        if state is not None:
            labels, prob = state.labels(), state.probability()
            labels.data = L.compose(labels.data, masks, lead)
            prob.data = L.compose(prob.data, probs, lead)
            labels.metadata = self._meta(job, "mask", detections, labels.metadata.get("unscratch"))
            prob.metadata = self._meta(job, "probability", detections,
                                       prob.metadata.get("unscratch"))
            state.detections.update(detections)
        else:
            mask_data = L.compose(np.zeros(src.full_shape, np.uint8), masks, lead)
            prob_data = L.compose(L.zeros_like_stack(src, src.plane_shape, np.float32, lazy=True),
                                  probs, lead)
            prob_meta = self._meta(job, "probability", detections, None)
            prob = L.unwrap(viewer.add_image(prob_data, name=PROB_NAME, colormap="inferno",
                                             contrast_limits=(0.0, 1.0), visible=False,
                                             metadata=prob_meta, **layer_kwargs(job.image)))
            labels = L.unwrap(viewer.add_labels(mask_data, name=MASK_NAME, opacity=0.8,
                                                metadata=self._meta(job, "mask", detections, None),
                                                **layer_kwargs(job.image)))
            paint_red(labels)
            state = _DetectState(weakref.ref(job.image), weakref.ref(labels), weakref.ref(prob),
                                 lead, dict(detections))
            self._states[id(job.image)] = state
        self.outputs = {"mask": labels, "probability": prob}
        count = int(sum(int(m.sum()) for m in masks.values()))
        where = (f" on {len(masks)} slices" if lead and len(masks) > 1
                 else (" on this slice" if lead else ""))
        return f"{count} defect pixels{where} at threshold {job.threshold:.2f} → '{labels.name}'"

    def _on_threshold(self, value) -> None:
        if self.worker is not None:
            return  # the running job keeps the threshold it started with
        state = self._state(self.image.value) if self.image.value is not None else None
        if state is None:
            return
        try:
            new = {i: d.rethreshold(float(value)) for i, d in state.detections.items()}
        except InputError as exc:
            self._report_error(str(exc))
            return
        state.detections = new
        labels, prob = state.labels(), state.probability()
        masks = {i: d.mask.astype(np.uint8) for i, d in new.items()}
        labels.data = L.compose(labels.data, masks, state.leading)
        for layer in (labels, prob):
            info = dict(layer.metadata.get("unscratch", {}))
            info["threshold"] = float(value)
            info["parameters"] = dict(info.get("parameters", {}), threshold=float(value))
            layer.metadata = dict(layer.metadata, unscratch=info)
        count = int(sum(int(m.sum()) for m in masks.values()))
        self.status.value = (f"re-thresholded at {float(value):.2f}: {count} defect pixels "
                             "(detector not re-run)")


# --- Restore -----------------------------------------------------------------------------------
MODES = [("repair defects (mask)", "defects"), ("fill region", "fill")]


@dataclass
class _RestoreJob:
    image: object
    src: L.ImageSource
    indices: list
    masks: dict | None
    regions: dict | None
    mode: str
    mask_name: str | None
    mask_provenance: dict | None
    region_name: str | None
    # when mask is None: the sensitivity; None = the detector's own rules
    threshold: float | None = None


class RestoreWidget(JobWidget):
    """Image + mask (Labels from detection or painted) + optional region + mode → "restored" and
    "difference".

    The input layer is never modified. mask ----- in "defects" mode detects the defects first:
    inside a region, every pixel at or above the sensitivity (the detector's threshold unless
    moved); on a whole image at the detector's own threshold, only the defects it is sure of (unless
    the sensitivity was moved). "fill" heals the whole region from its surroundings. Nothing
    changed: no layer is added, and the status says why.
    """
    title = "Restore"
    run_text = "Restore"

    def __init__(self, napari_viewer):
        from napari.layers import Image, Labels, Shapes

        viewer_ref = weakref.ref(L.unwrap(napari_viewer))
        image = ComboBox(name="image", label="image", choices=layer_choices(viewer_ref, Image),
                         tooltip="the image to repair (never modified)")
        mask = ComboBox(name="mask", label="mask", nullable=True,
                        choices=layer_choices(viewer_ref, Labels),
                        tooltip="Labels layer marking the defects (from Detect scratches, or "
                                "painted); ----- = detect them now")
        region = ComboBox(name="region", label="region", nullable=True,
                          choices=layer_choices(viewer_ref, (Shapes, Labels)),
                          tooltip="optional Shapes or Labels layer: change nothing outside it")
        mode = ComboBox(name="mode", label="mode", choices=MODES, value="defects",
                        tooltip="defects: repair the masked pixels; fill: heal the whole region")
        sensitivity = FloatSlider(name="sensitivity", label="sensitivity", min=0.0, max=1.0,
                                  step=0.01, value=default_threshold(),
                                  tooltip="with mask -----: the detection threshold. Inside a "
                                          "region every pixel at or above it is repaired. On the "
                                          "whole image, at the detector's own value (the default "
                                          "shown) only defects it is sure of are repaired; move "
                                          "it to repair every pixel at or above it. Unused with a "
                                          "mask.")
        all_slices = CheckBox(name="all_slices", text="all slices", value=False,
                              tooltip="stacks: process every slice (otherwise only the slice on "
                                      "screen)")
        self._outputs: dict[int, dict] = {}
        super().__init__(napari_viewer, [image, mask, region, mode, sensitivity, all_slices])

    def _on_inserted(self, layer) -> None:
        # a fresh detection mask becomes the mask to restore with, on the image it was detected on
        if output_kind(layer) == "mask":
            try:
                self.mask.value = layer
                source = layer.metadata["unscratch"].get("source_layer")
                match = [x for x in self._layers(Image) if x.name == source]
                if match:
                    self.image.value = match[0]
            except (ValueError, KeyError):
                pass

    def _prepare(self) -> _RestoreJob:
        viewer, image = self.viewer, self.image.value
        src = L.image_source(image)
        idx = L.current_index(viewer, image, src)
        indices = L.slice_indices(src, idx, self.all_slices.value)
        mode = self.mode.value
        region_layer, mask_layer = self.region.value, self.mask.value
        regions = L.selection_planes(region_layer, image, src, indices, "region")
        L.require_nonempty(regions, region_layer, "region",
                           "draw the region over the image or choose no region (-----)")
        masks = None
        if mode == "fill":
            if regions is None:
                raise InputError("fill mode heals a selection: choose a region (a Shapes or "
                                 "Labels layer)")
        elif mask_layer is not None:
            if L.unwrap(mask_layer) is L.unwrap(image):
                raise InputError("the mask must be a Labels layer, not the image itself")
            masks = L.selection_planes(mask_layer, image, src, indices, "mask")
            L.require_nonempty(masks, mask_layer, "mask",
                               "paint the defects or run Detect scratches first")
        mask_prov = None
        if mask_layer is not None and mode == "defects":
            info = (mask_layer.metadata or {}).get("unscratch")
            mask_prov = dict(info) if isinstance(info, dict) else None
        threshold = float(self.sensitivity.value)
        if regions is None and abs(threshold - default_threshold()) < 1e-9:
            threshold = None  # the whole image at the detector's own value: its cautious rule
        return _RestoreJob(L.unwrap(image), src, indices, masks, regions, mode,
                           mask_layer.name if (mask_layer is not None and mode == "defects")
                           else None, mask_prov,
                           region_layer.name if region_layer is not None else None, threshold)

    @staticmethod
    def _compute(job: _RestoreJob, progress, cancel):
        out = {}
        n = len(job.indices)
        for k, idx in enumerate(job.indices):
            if cancel.is_set():
                raise Cancelled("cancelled")
            mask = job.masks[idx] if job.masks is not None else None
            region = job.regions[idx] if job.regions is not None else None
            work = job.src.work_plane(idx)
            start = 0.0  # the share of this slice's progress spent detecting
            # detect first: the mask restore would repair
            if mask is None and job.mode == "defects":
                start = 0.4
                mask = unscratch.api.detect_and_mask(work, region=region, threshold=job.threshold,
                                                     cancel=cancel,
                                                     progress=lambda f,
                                                     k=k: progress((k + 0.4 * f) / n)
                                                     ).repair_mask
            options = dict(region=region, mode=job.mode, cancel=cancel,
                           progress=lambda f, k=k, s=start: progress((k + s + (1 - s) * f) / n))
            # keep only the changed pixels; the layers overlay them on the input lazily
            if job.src.lazy:
                patches = unscratch.restore_patches(work, mask, **options)
                original = job.src.lazy_plane(idx)
                out[idx] = _Restored(L.overlay(original, patches),
                                     L.patch_difference(original, patches), *L.patch_stats(patches))
            else:
                plane = job.src.plane(idx)
                result = L.from_core(unscratch.restore(work, mask, **options), plane, work)
                diff = L.difference(plane, result)
                out[idx] = _Restored(result, diff, float(diff.max()), int(np.count_nonzero(diff)))
        defaults = unscratch.api.settings()
        models = {"inpainter": defaults.restorer, "defaults": defaults}
        if job.mode == "defects" and job.masks is None:
            models["detector"] = defaults.detector
        first = job.indices[0]
        models["rule"] = repair_rule(job.mode, job.masks[first] if job.masks is not None else None,
                                     job.regions[first] if job.regions is not None else None,
                                     {} if job.threshold is None else {"threshold": job.threshold})
        return out, models

    def _meta(self, job: _RestoreJob, output: str, models: dict, slices) -> dict:
        detector = models.get("detector")
        if detector is None and job.mask_provenance:
            detector = job.mask_provenance.get("detector")
        used = [m for m in (detector, models.get("inpainter")) if m]
        mask_threshold = job.mask_provenance.get("threshold") if job.mask_provenance else None
        if job.mode == "defects" and job.masks is None:
            mask_threshold = models["rule"].get("threshold")
        return provenance(
            operation="restore", output=output, source_layer=job.src.name, models=used,
            inpainter=models.get("inpainter"), detector=detector, threshold=mask_threshold,
            mask_provenance=job.mask_provenance,
            parameters={"mode": job.mode, "mask_layer": job.mask_name,
                        "region_layer": job.region_name,
                        "method": "auto", "dilate": models["defaults"].dilate,
                        "feather": models["defaults"].feather, "grain": True,
                        "slices": index_list(sorted(slices)),
                        "rule": models["rule"].get("rule"),
                        "mask": "detected automatically (restore's auto mask)"
                        if (job.mode == "defects" and job.masks is None)
                        else ("layer" if job.mode == "defects" else "region is the hole")})

    def _apply(self, job: _RestoreJob, payload) -> str:
        results, models = payload
        changed = sum(r.changed for r in results.values())
        source = f"the layer '{job.mask_name}'" if job.mask_name else None
        summary = repair_summary(dict(models["rule"], repaired_pixels=changed), source=source,
                                 fill_hint="mode 'fill region'",
                                 select_hint="choose a region over the damage")
        if changed == 0:  # an unchanged copy would only hide that nothing happened
            show_info(f"{self.title}: nothing was repaired, so no layer was added. {summary}")
            return f"nothing repaired (no layer added). {summary}"
        viewer, src, image = self.viewer, job.src, job.image
        lead = tuple(src.leading)
        restored = {i: r.restored for i, r in results.items()}
        diffs = {i: r.difference for i, r in results.items()}
        top = max(r.top for r in results.values())
        entry = self._outputs.get(id(image))
        out_layer = diff_layer = None
        if entry is not None and entry["image"]() is image:
            out_layer, diff_layer = alive(entry["restored"],
                                          viewer), alive(entry["difference"], viewer)
            if (out_layer is None or diff_layer is None
                    or tuple(out_layer.data.shape) != tuple(src.data.shape)):
                out_layer = diff_layer = None
        if out_layer is not None:
            params = out_layer.metadata.get("unscratch", {}).get("parameters", {})
            done = {tuple(i) for i in (params.get("slices") or [])}
            done |= set(results)
            out_layer.data = L.compose(out_layer.data, restored, lead)
            diff_layer.data = L.compose(diff_layer.data, diffs, lead)
            out_layer.metadata = self._meta(job, "restored", models, done)
            diff_layer.metadata = self._meta(job, "difference", models, done)
            lo, hi = diff_layer.contrast_limits
            diff_layer.contrast_limits = (0, max(hi, top, 1e-6))
        else:
            # a stack: unprocessed slices read the input lazily (a view that is never written to)
            data = L.compose(L.lazy_view(src), restored, lead) if lead else restored[()]
            dzero = L.zeros_like_stack(src, diffs[next(iter(diffs))].shape,
                                       diffs[next(iter(diffs))].dtype, lazy=True)
            ddata = L.compose(dzero, diffs, lead) if lead else diffs[()]
            kwargs = layer_kwargs(image)
            # shown as the original is: an additive channel of a multichannel view stays additive
            # instead of covering the other channels
            extra = {"blending": image.blending, "opacity": image.opacity, "gamma": image.gamma}
            if not image.rgb:
                extra["colormap"] = image.colormap.name
            done = set(results)
            out_meta = self._meta(job, "restored", models, done)
            diff_meta = self._meta(job, "difference", models, done)
            out_layer = L.unwrap(viewer.add_image(data, name=RESTORED_NAME, rgb=image.rgb,
                                                  contrast_limits=tuple(image.contrast_limits),
                                                  metadata=out_meta,
                                                  **extra, **kwargs))
            diff_layer = L.unwrap(viewer.add_image(ddata, name=DIFF_NAME, colormap="magma",
                                                   visible=False,
                                                   contrast_limits=(0, max(top, 1e-6)),
                                                   metadata=diff_meta,
                                                   **kwargs))
            self._outputs[id(image)] = {"image": weakref.ref(image),
                                        "restored": weakref.ref(out_layer),
                                        "difference": weakref.ref(diff_layer)}
        self.outputs = {"restored": out_layer, "difference": diff_layer}
        return f"{summary} → '{out_layer.name}', '{diff_layer.name}' (hidden)"


class _Restored(NamedTuple):
    """One slice's restoration: layer data (numpy, or dask for lazy input) and its summary."""
    restored: object
    difference: object
    top: float       # largest |restored − original|
    changed: int     # pixels changed


# --- Metrics -----------------------------------------------------------------------------------
@dataclass
class _MetricsJob:
    reference: np.ndarray
    image: np.ndarray
    mask: np.ndarray | None
    names: tuple


class MetricsWidget(JobWidget):
    """PSNR and SSIM of an image against a reference, inside and outside a mask (on the slice on
    screen)."""
    title = "Restoration metrics"
    run_text = "Compute"
    cancellable = False

    def __init__(self, napari_viewer):
        from napari.layers import Image, Labels

        viewer_ref = weakref.ref(L.unwrap(napari_viewer))
        reference = ComboBox(name="reference", label="reference",
                             choices=layer_choices(viewer_ref, Image),
                             tooltip="the clean image to compare against")
        image = ComboBox(name="image", label="image", choices=layer_choices(viewer_ref, Image),
                         tooltip="the image to score (e.g. 'restored')")
        mask = ComboBox(name="mask", label="mask", nullable=True,
                        choices=layer_choices(viewer_ref, Labels),
                        tooltip="Labels layer: report inside and outside it")
        self.result: dict | None = None
        super().__init__(napari_viewer, [reference, image, mask])
        for layer in self._layers(Image):
            if "reference" in layer.name.lower():
                self.reference.value = layer
                break

    def _on_inserted(self, layer) -> None:
        kind = output_kind(layer)
        try:
            if kind == "restored":
                self.image.value = layer
            elif kind == "mask":
                self.mask.value = layer
        except ValueError:
            pass

    def _prepare(self) -> _MetricsJob:
        viewer = self.viewer
        ref_layer, img_layer, mask_layer = self.reference.value, self.image.value, self.mask.value
        if ref_layer is None or img_layer is None:
            raise InputError("choose a reference image and an image to score")
        ref_src, img_src = L.image_source(ref_layer), L.image_source(img_layer)
        if ref_src.full_shape != img_src.full_shape or ref_src.rgb != img_src.rgb:
            raise InputError(f"image '{img_src.name}' has shape {tuple(img_src.data.shape)}, the "
                             f"reference '{ref_src.name}' {tuple(ref_src.data.shape)}: they must "
                             "match")
        idx = L.current_index(viewer, img_layer, img_src)
        mask = None
        if mask_layer is not None:
            mask = L.selection_planes(mask_layer, img_layer, img_src, [idx], "mask")[idx]
        return _MetricsJob(ref_src.plane(idx), img_src.plane(idx), mask,
                           (ref_src.name, img_src.name,
                            mask_layer.name if mask_layer is not None else None))

    @staticmethod
    def _compute(job: _MetricsJob, progress, cancel) -> dict:
        ref, img = job.reference, job.image
        rng = _metrics.data_range_for(ref.dtype)
        if ref.dtype.kind == "f" and img.dtype.kind == "f":
            rng = 1.0
        result = _metrics.compare(ref, img, job.mask, data_range=rng)
        progress(1.0)
        return result

    def _apply(self, job: _MetricsJob, result: dict) -> str:
        self.result = dict(result, reference=job.names[0], image=job.names[1], mask=job.names[2])
        self.outputs = {"metrics": self.result}

        def f(v, digits):
            return "—" if v is None or v != v else ("∞" if v == float("inf") else f"{v:.{digits}f}")

        rows = [("PSNR (dB)", "psnr", 2), ("SSIM", "ssim", 4)]
        if job.mask is not None:
            head = "<tr><th></th><th>inside mask</th><th>outside</th><th>all</th></tr>"
            body = "".join(f"<tr><td>{t}</td><td>{f(result[k + '_inside'], d)}</td>"
                           f"<td>{f(result[k + '_outside'], d)}</td><td>{f(result[k], d)}</td></tr>"
                           for t, k, d in rows)
            body += (f"<tr><td>pixels</td><td>{result['pixels_inside']}</td>"
                     f"<td>{result['pixels_outside']}</td><td>{result['pixels']}</td></tr>")
        else:
            head = "<tr><th></th><th>all</th></tr>"
            body = "".join(f"<tr><td>{t}</td><td>{f(result[k], d)}</td></tr>" for t, k, d in rows)
        return (f"<b>{job.names[1]}</b> vs <b>{job.names[0]}</b>"
                f"<table cellspacing='6'>{head}{body}</table>")

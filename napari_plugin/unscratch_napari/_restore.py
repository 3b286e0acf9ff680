"""The "Restore selection" dock widget: image + marks (Labels) + optional region + mode → the
image's result layer (and a hidden difference layer).

What is repaired is what the user sees: the marks layer as edited (a deleted one means no marks:
the detector runs inside the region at the sensitivity), and the image with its earlier repairs
applied (_results.py), so repairs add up and "Undo last restore" takes the last one back. While a
marks layer from Detect scratches is chosen, the sensitivity re-thresholds it live (_marks.py);
with marks painted by hand it is disabled and says why.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from magicgui.widgets import ComboBox, FloatSlider, PushButton
from napari.utils.notifications import show_info

import unscratch
import unscratch.api
from unscratch import Cancelled, InputError
from unscratch.hostkit import ACTIONS, hide_marks

from . import _marks, _results
from ._job import (
    JobWidget,
    all_slices_box,
    default_threshold,
    layer_combo,
    output_kind,
)
from ._layers import (
    ImageSource,
    compose,
    current_index,
    difference,
    from_core,
    image_source,
    overlay,
    patch_difference,
    patch_stats,
    require_nonempty,
    selection_planes,
    slice_indices,
    unwrap,
)
from ._restore_layers import add_layers, meta, summary_text

MODES = [("repair defects (marks)", "defects"), ("fill region", "fill")]
UNDO = "Undo last restore"
DETECT_TIP = ("no marks layer (-----): the detection threshold; every pixel at or above it, inside "
              "the region if one is chosen, is repaired (with the detector's margin). It starts at "
              "the detector's own value.")


@dataclass
class _RestoreJob:
    image: object            # the image layer (never modified)
    src: ImageSource         # its pixels
    work: ImageSource        # what is repaired: the image as the user sees it (earlier repairs)
    chain: object            # _results.Chain of the earlier repairs, or None
    indices: list
    masks: dict | None
    regions: dict | None
    mode: str
    mask_layer: object
    mask_provenance: dict | None
    region_name: str | None
    threshold: float | None = None  # when mask is None: the sensitivity

    @property
    def mask_name(self) -> str | None:
        return self.mask_layer.name if self.mask_layer is not None else None

    @property
    def detected(self) -> bool:
        """Whether the mask repaired is the detector's (defects mode, no marks layer chosen)."""
        return self.mode == "defects" and self.masks is None


class _Restored(NamedTuple):
    """One slice's restoration: layer data (numpy, or dask for lazy input) and its summary."""
    restored: object
    difference: object
    top: float       # largest |restored − original|
    changed: int     # pixels this repair changed


class RestoreWidget(JobWidget):
    """Image + marks (Labels from Detect scratches, or painted) + optional region + mode → the
    image's result layer, repairs adding up, the last one undoable."""
    title = ACTIONS["restore"]
    run_text = ACTIONS["restore"]

    def __init__(self, napari_viewer):
        from napari.layers import Image, Labels, Shapes

        image = layer_combo(napari_viewer, "image", Image,
                            "the image to repair (never modified); later repairs work on its "
                            "result layer, what you see")
        mask = layer_combo(napari_viewer, "mask", Labels,
                           "the marks: a Labels layer (from Detect scratches, or painted), "
                           "repaired as it shows; ----- = detect them now", nullable=True)
        region = layer_combo(napari_viewer, "region", (Shapes, Labels),
                             "optional Shapes or Labels layer: change nothing outside it",
                             nullable=True)
        mode = ComboBox(name="mode", label="mode", choices=MODES, value="defects",
                        tooltip="defects: repair the marked pixels; fill: heal the whole region")
        start, problem = default_threshold()
        sensitivity = FloatSlider(name="sensitivity", label="sensitivity", min=0.0, max=1.0,
                                  step=0.01, value=start, tooltip=DETECT_TIP)
        all_slices = all_slices_box()
        undo = PushButton(text=UNDO, name="undo_button", enabled=False)
        super().__init__(napari_viewer, [image, mask, region, mode, sensitivity, all_slices],
                         extra_buttons=[undo])
        if problem:
            self.status.value = problem
        undo.changed.connect(lambda *_: self.undo())
        image.changed.connect(lambda *_: self._sync_undo())
        mask.changed.connect(lambda *_: self._sync_sensitivity(announce=True))
        mode.changed.connect(lambda *_: self._sync_sensitivity(announce=True))
        sensitivity.changed.connect(self._on_sensitivity)
        _marks.subscribe(self)
        self._sync_sensitivity()
        self._sync_undo()

    def _on_inserted(self, layer) -> None:
        # a fresh detection mask becomes the mask to restore with, on the image it was detected on
        if output_kind(layer) == "mask":
            try:
                self.mask.value = layer
                source = layer.metadata["unscratch"].get("source_layer")
                from napari.layers import Image

                match = [x for x in self._layers(Image) if x.name == source]
                if match:
                    self.image.value = match[0]
            except (ValueError, KeyError):
                pass

    def _on_layers_changed(self, event=None):
        super()._on_layers_changed(event)
        self._sync_sensitivity()
        self._sync_undo()

    def _set_running(self, running: bool) -> None:
        super()._set_running(running)
        self._sync_undo()

    # --- the sensitivity ---------------------------------------------------------------------
    def _sync_sensitivity(self, announce: bool = False) -> None:
        """Enable the sensitivity where it does something, and say what."""
        if not hasattr(self, "sensitivity"):
            return
        mask, note = self.mask.value, ""
        if self.mode.value == "fill":
            enabled, tip = False, "unused in fill mode: the whole region is healed"
        elif mask is None:
            enabled, tip = True, DETECT_TIP
        else:
            marks = _marks.of_labels(mask, self.viewer)
            if marks is not None:
                enabled = True
                tip = (f"re-thresholds the marks in '{mask.name}' live (without running the "
                       "detector), keeping your erasures and painted marks")
                self._set_quietly(self.sensitivity, marks.threshold)
            else:
                enabled = False
                tip = (f"unused: the marks in '{mask.name}' were painted by hand (there is no "
                       "detection to re-threshold); they are repaired as painted")
                note = f"sensitivity {tip}"
        self.sensitivity.enabled = enabled
        self.sensitivity.tooltip = tip
        if announce and note and self.worker is None:
            self.status.value = note

    def _on_sensitivity(self, value) -> None:
        if self._quiet or self.worker is not None or self.mode.value == "fill":
            return
        mask = self.mask.value
        marks = _marks.of_labels(mask, self.viewer) if mask is not None else None
        if marks is None:
            return  # with no marks layer it is the threshold of the detection Restore runs
        gained, lost = _marks.rethreshold(marks, float(value), source=self)
        marks.labels().visible = True
        self.status.value = (f"{_marks.remade_text(marks, gained, lost)} "
                             f"{ACTIONS['restore']} repairs what it shows.")

    def marks_rethresholded(self, marks: _marks.Marks) -> None:
        mask = self.mask.value
        if mask is not None and unwrap(mask) is marks.labels():
            self._set_quietly(self.sensitivity, marks.threshold)

    # --- undo --------------------------------------------------------------------------------
    def _chain(self):
        image = self.image.value
        return _results.chain_of(image, self.viewer) if image is not None else None

    def _sync_undo(self) -> None:
        if not hasattr(self, "buttons"):
            return
        chain = self._chain()
        self.buttons.undo_button.enabled = bool(self.worker is None and chain is not None
                                                and chain.steps)

    def undo(self) -> str:
        """Take the last repair of the chosen image back."""
        chain = self._chain()
        if self.worker is not None or chain is None or not chain.steps:
            text = "nothing to undo: no repair of this image is left"
        else:
            text = _results.undo(chain, self.viewer)
        self.status.value = text
        self._sync_undo()
        return text

    # --- running -----------------------------------------------------------------------------
    def _prepare(self) -> _RestoreJob:
        viewer, chosen = self.viewer, self.image.value
        chain = _results.chain_of(chosen, viewer) if chosen is not None else None
        image = chain.image() if chain is not None else chosen
        src = image_source(image)
        work = image_source(chain.restored()) if chain is not None else src
        idx = current_index(viewer, image, src)
        indices = slice_indices(src, idx, self.all_slices.value)
        mode = self.mode.value
        region_layer, mask_layer = self.region.value, self.mask.value
        regions = selection_planes(region_layer, image, src, indices, "region")
        require_nonempty(regions, region_layer, "region",
                         "draw the region over the image or choose no region (-----)")
        masks = None
        if mode == "fill":
            if regions is None:
                raise InputError("fill mode heals a selection: choose a region (a Shapes or "
                                 "Labels layer)")
            mask_layer = None
        elif mask_layer is not None:
            if unwrap(mask_layer) is unwrap(image):
                raise InputError("the mask must be a Labels layer, not the image itself")
            masks = selection_planes(mask_layer, image, src, indices, "mask")
            require_nonempty(masks, mask_layer, "mask",
                             "paint the defects or run Detect scratches first")
        mask_prov = None
        if mask_layer is not None:
            info = (mask_layer.metadata or {}).get("unscratch")
            mask_prov = dict(info) if isinstance(info, dict) else None
        threshold = float(self.sensitivity.value)
        return _RestoreJob(unwrap(image), src, work, chain, indices, masks, regions, mode,
                           unwrap(mask_layer) if mask_layer is not None else None, mask_prov,
                           region_layer.name if region_layer is not None else None, threshold)

    @staticmethod
    def _compute(job: _RestoreJob, progress, cancel):
        out, rules = {}, []
        n = len(job.indices)
        detected = job.detected
        for k, idx in enumerate(job.indices):
            if cancel.is_set():
                raise Cancelled("cancelled")
            mask = job.masks[idx] if job.masks is not None else None
            region = job.regions[idx] if job.regions is not None else None
            work = job.work.work_plane(idx)
            options = dict(region=region, mode=job.mode, cancel=cancel,
                           progress=lambda f, k=k: progress((k + f) / n))
            # lazy input: keep only the changed pixels; the layers overlay them on what was shown
            if job.work.lazy:
                if detected:  # detect first: restore_patches repairs the mask it gives
                    options["progress"] = (lambda f, k=k: progress((k + 0.4 + 0.6 * f) / n))
                    scan = unscratch.api.detect_and_mask(
                        work, region=region, threshold=job.threshold, cancel=cancel,
                        progress=lambda f, k=k: progress((k + 0.4 * f) / n))
                    mask = scan.repair_mask   # grown as the detector's rule says
                    options.update(dilate=scan.rule.dilate, feather=scan.rule.feather)
                    rules.append(scan.rule.as_dict())
                else:
                    rules.append(unscratch.api.repair_rule(job.mode, mask, region).as_dict())
                patches = unscratch.restore_patches(work, mask, **options)
                seen = job.work.lazy_plane(idx)
                restored = overlay(seen, patches)
                top, changed = patch_stats(patches)
                if job.chain is None:
                    diff = patch_difference(seen, patches)
                else:
                    diff = difference(job.src.lazy_plane(idx), restored)
                out[idx] = _Restored(restored, diff, top, changed)
            else:
                seen = job.work.plane(idx)
                done = unscratch.api.restore_and_report(
                    work, mask, threshold=job.threshold if detected else None, **options)
                rules.append(done.rule.as_dict())
                result = from_core(done.image, seen, work)
                diff = difference(seen, result)
                changed = int(np.count_nonzero(diff))
                if job.chain is not None:  # the difference shown is against the original
                    diff = difference(job.src.plane(idx), result)
                out[idx] = _Restored(result, diff, float(diff.max()), changed)
        defaults = unscratch.api.settings()
        models = {"inpainter": defaults.restorer}
        if detected:
            models["detector"] = defaults.detector
        models["rule"] = rule = dict(rules[0])   # one rule for every slice; the pixels add up
        if "mask_pixels" in rule:
            rule["mask_pixels"] = sum(r.get("mask_pixels", 0) for r in rules)
        return out, models

    def _apply(self, job: _RestoreJob, payload) -> str:
        results, models = payload
        changed = sum(r.changed for r in results.values())
        text = summary_text(job, models, changed, self.viewer, self.elapsed)
        if changed == 0:  # an unchanged copy would only hide that nothing happened
            text = f"{text} No layer was added or changed."
            show_info(f"{self.title}: {text}")
            return text
        viewer, src, image = self.viewer, job.src, job.image
        lead = tuple(src.leading)
        restored = {i: r.restored for i, r in results.items()}
        diffs = {i: r.difference for i, r in results.items()}
        top = max(r.top for r in results.values())
        mask = job.mask_layer
        hidden = ([mask] if mask is not None and hide_marks(mask.visible)
                  and any(unwrap(x) is mask for x in viewer.layers) else [])
        chain = _results.chain_of(image, viewer) if job.chain is not None else None
        if chain is not None and chain is job.chain:
            out_layer, diff_layer = chain.restored(), chain.difference()
            _results.record(chain, list(results), hidden)
            params = out_layer.metadata.get("unscratch", {}).get("parameters", {})
            done = {tuple(i) for i in (params.get("slices") or [])} | set(results)
            out_layer.data = compose(out_layer.data, restored, lead)
            diff_layer.data = compose(diff_layer.data, diffs, lead)
            if isinstance(out_layer.data, np.ndarray) and lead:
                out_layer.refresh()
                diff_layer.refresh()
            lo, hi = diff_layer.contrast_limits
            diff_layer.contrast_limits = (0, max(hi, top, 1e-6))
        else:
            out_layer, diff_layer = add_layers(viewer, job, restored, diffs, top, models)
            chain = _results.start(image, out_layer, diff_layer, hidden)
            done = set(results)
        for layer in hidden:
            layer.visible = False
        repairs = len(chain.steps)
        out_layer.metadata = meta(job, "restored", models, done, repairs)
        diff_layer.metadata = meta(job, "difference", models, done, repairs)
        self.outputs = {"restored": out_layer, "difference": diff_layer}
        self._sync_undo()
        kept = (f" It worked on what you saw: {repairs - 1} earlier repair"
                f"{'s' if repairs > 2 else ''} kept." if repairs > 1 else "")
        hid = f" '{mask.name}' is hidden (undo shows it again)." if hidden else ""
        return f"{text} → '{out_layer.name}'.{kept}{hid} {UNDO} takes it back."

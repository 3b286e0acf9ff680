"""`detect` and `restore`: the two calls every front end (CLI, plug-ins, batch) goes through, and
what front ends show before and after them (settings, the rule applied). Below them: operators.py
(the detector and inpainter), rules.py (which pixels are repaired), compositing.py (how a fill is
put in).

Rules kept here, once: inputs are validated with messages that name the problem; only tiles that
touch the region (or the repair mask) are computed; pixels outside (dilated mask ∩ region) are
returned bit-identical; alpha is never altered; a 1-pixel image has no context to judge a defect by,
so it is never flagged and comes back unchanged.

Images may be lazy (dask, zarr, …): they are read tile by tile and never whole, and
`restore_patches` returns only the pixels that change, so a huge lazy image can be repaired without
holding a copy.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import models
from .arrays import (
    bbox,
    check_image,
    check_plane,
    colour_planes,
    read_block,
    region_weight,
    to_float,
    to_rgb_float,
)
from .choices import check_choice
from .classical import ClassicalDetector, ClassicalInpainter
from .compositing import (
    Cancel,
    Patch,
    Progress,
    SparsePlane,
    _cancel_fn,
    repair,
    repair_counted,
    repair_patches,
)
from .errors import InputError
from .infrared import InfraredDetector
from .operators import DETECT_METHODS, METHODS, detect_method_for, get_detector, get_inpainter
from .rules import (
    DETECTED_GROWTH,
    RepairRule,
    _check_threshold,
    card_growth,
    detected_growth,
    detector_marks,
    drop_picture_lines,
    picture_lines_out,
    repair_rule,
    repair_weight,
    resolve_threshold,
    sees_picture,
    threshold_mask,
)
from .tiles import run_tiled

# the calls front ends make, and the names of the modules below that they use as api.NAME
__all__ = ["DETECTED_GROWTH", "DETECT_METHODS", "METHODS", "MODES", "Detection", "Patch",
           "RepairRule", "Restored", "Scan", "Settings", "changed_pixels", "colour_planes",
           "detect", "detect_and_mask", "detect_method_for", "detect_tiles", "detector_marks",
           "drop_picture_lines", "get_detector", "get_inpainter", "picture_lines_out",
           "read_block", "repair", "repair_patches", "repair_rule", "repair_weight",
           "resolve_threshold", "restore", "restore_and_report", "restore_patches", "sees_picture",
           "settings", "threshold_mask"]

MODES = ("defects", "fill")


@dataclass
class Detection:
    """Defect probability (float32 HxW in [0, 1]; None when made without it) and its marks at
    `threshold` inside the region (rules.detector_marks: what restore repairs when given no mask;
    `picture`: the detector sees the picture, so slanted picture lines are left)."""
    probability: np.ndarray | None
    mask: np.ndarray
    threshold: float
    region: np.ndarray | None = field(default=None, repr=False)
    provenance: dict = field(default_factory=dict)
    picture: bool = True

    def rethreshold(self, threshold: float) -> Detection:
        """The same detection at another threshold, without running the detector again."""
        threshold = _check_threshold(threshold)
        if self.probability is None:
            raise ValueError("this detection was made without its probability "
                             "(keep_probability=False): detect again to change the threshold")
        mask = detector_marks(self.probability, threshold, self.region, self.picture)
        return Detection(self.probability, mask, threshold, self.region,
                         dict(self.provenance, threshold=threshold), self.picture)


def _sub_progress(progress: Progress, start: float, end: float) -> Progress:
    if progress is None:
        return None
    return lambda f: progress(start + (end - start) * f)


def detect(image, *, region=None, threshold=None, progress: Progress = None, cancel: Cancel = None,
           method: str = "auto", keep_probability: bool = True) -> Detection:
    """Defect probability at native resolution and its mask inside `region` (bool or soft
    selection).

    method: "auto"/"model" (the shipped network), "classical", or "infrared" for a film scan
    whose fourth plane is the scanner's infrared (R, G, B, IR; see unscratch.infrared).
    keep_probability=False: only the mask is made, band by band, and `.probability` is None (a
    100-MP scan's probability is 400 MB)."""
    return _detect(check_image(image, lazy_ok=True), get_detector(method), method, region,
                   threshold, progress, cancel, keep_probability)


def _detect(img, detector, method: str, region, threshold, progress: Progress,
            cancel: Cancel, keep_probability: bool = True) -> Detection:
    """`detect` with the image checked and the detector made (detect_and_mask reuses the
    detector)."""
    H, W = img.shape[:2]
    weight = region_weight(region, (H, W))
    inside = None if weight is None else weight > 0
    del weight
    threshold = resolve_threshold(detector, threshold)
    infrared = getattr(detector, "reads_infrared", False)
    if infrared:
        detector.fit(img)
    stream = not (keep_probability or infrared)  # the infrared detector clears the frame after
    out = np.zeros((H, W), bool if stream else np.float32)  # the mask, or the probability
    roi = (0, H, 0, W) if inside is None else bbox(inside)
    if roi is not None and min(H, W) > 1:
        detect_tiles(img, detector, out, roi=roi, progress=progress, cancel=cancel,
                     threshold=threshold if stream else None, inside=inside)
    probability, mask = (None, out) if stream else (out, None)
    if infrared:
        detector.clear_frame(probability)
    picture = sees_picture(detector)
    if stream:
        mask = drop_picture_lines(mask) if picture else mask
    else:
        if inside is not None:
            probability[~inside] = 0.0
        mask = detector_marks(probability, threshold, inside, picture)
    provenance = {"detector": detector.provenance, "threshold": threshold, "method": method}
    if progress is not None:
        progress(1.0)
    return Detection(probability, mask, threshold, inside, provenance, picture)


def detect_tiles(img, detector, out: np.ndarray, *, roi=None, layout=None,
                 progress: Progress = None, cancel: Cancel = None, threshold: float | None = None,
                 inside: np.ndarray | None = None) -> None:
    """Run `detector` over img's tiles into `out`: the probability (HxW float32, clipped to [0, 1])
    or, with `threshold`, a bool plane that receives threshold_mask(probability, threshold, inside)
    band by band, never holding the probability. The tile reading of `detect` (colour planes as RGB
    in [0, 1]; every plane for a detector that reads infrared), shared with a split image's chunks
    (`layout`, see split.py)."""
    infrared = getattr(detector, "reads_infrared", False)

    def source(y0, y1, x0, x1):
        if infrared:
            return to_float(read_block(img, y0, y1, x0, x1, all_planes=True))
        return to_rgb_float(read_block(img, y0, y1, x0, x1))

    def sink(y0, y1, x0, x1, block):
        p = np.clip(block[:, :, 0], 0.0, 1.0)
        if threshold is not None:
            p = threshold_mask(p, threshold, None if inside is None else inside[y0:y1, x0:x1])
        out[y0:y1, x0:x1] = p

    run_tiled(detector, source, sink, shape=out.shape, out_channels=1, tile=detector.tile,
              overlap=detector.overlap, multiple=getattr(detector, "multiple", 1), roi=roi,
              layout=layout, progress=progress, cancel=_cancel_fn(cancel))


@dataclass
class Restored:
    """What `restore_and_report` did: the repaired image, the rule that chose its pixels, how many
    pixels changed, and the detection when it ran (None with a mask or in fill mode)."""
    image: np.ndarray
    rule: RepairRule
    repaired_pixels: int
    detection: Detection | None = None


def restore(image, mask=None, *, region=None, mode: str = "defects", progress: Progress = None,
            cancel: Cancel = None, method: str = "auto", detect_method: str = "auto",
            threshold: float | None = None, dilate: int | None = None, feather: int | None = None,
            grain: bool = True) -> np.ndarray:
    """Repaired copy of `image` (same shape and dtype); only (grown mask ∩ region) changes.

    mode="defects": repair the defects in `mask`, as given (a mark is the damage: `dilate` and
    `feather` grow it only when asked). When mask is None they are detected first, with one rule
    whether or not a `region` is given: every pixel at or above the detector's threshold (or
    `threshold`, the sensitivity), grown as the detector's card says (see `repair_rule`).
    mode="fill": the whole region is the hole, filled from its surroundings (heal a selection).
    A soft region (uint8/float selection) blends the repair in proportion to its weight.
    `grain`: add back the film grain of the surroundings that a smooth fill lacks.
    """
    plan = _plan(image, mask, region, mode, progress, cancel, method, detect_method, threshold,
                 dilate, feather)
    return repair(plan.img, plan.alpha, plan.inpainter, progress=plan.progress, cancel=cancel,
                  grain=grain, hole=plan.seen)


def restore_and_report(image, mask=None, *, region=None, mode: str = "defects",
                       progress: Progress = None, cancel: Cancel = None, method: str = "auto",
                       detect_method: str = "auto", threshold: float | None = None,
                       dilate: int | None = None, feather: int | None = None,
                       grain: bool = True, keep_detection: bool = False,
                       overwrite: bool = False) -> Restored:
    """`restore` (same arguments, same pixels) with what front ends report: the rule applied and
    the number of pixels that changed; with `keep_detection`, also the detection it ran (to show
    as marks; on a 100-MP scan its probability is 400 MB held through the repair).
    `overwrite`: `image` is an ndarray the caller gives up (the CLI's own read of a file): it is
    repaired in place and returned, instead of a copy (600 MB for a 100-MP 16-bit scan)."""
    plan = _plan(image, mask, region, mode, progress, cancel, method, detect_method, threshold,
                 dilate, feather, keep_detection)
    fixed, changed = repair_counted(plan.img, plan.alpha, plan.inpainter, overwrite=overwrite,
                                    progress=plan.progress, cancel=cancel, grain=grain,
                                    hole=plan.seen)
    return Restored(fixed, plan.rule, changed, plan.detection)


def changed_pixels(a: np.ndarray, b, rows: int = 256) -> int:
    """How many pixels differ in any channel, counted in bands of rows: a whole-image comparison
    of a 100-MP RGB scan would hold 300 MB of booleans beside both images."""
    total = 0
    for y in range(0, a.shape[0], rows):
        diff = a[y:y + rows] != np.asarray(b[y:y + rows])
        total += int((diff.any(axis=2) if diff.ndim == 3 else diff).sum())
    return total


def restore_patches(image, mask=None, *, region=None, mode: str = "defects",
                    progress: Progress = None, cancel: Cancel = None, method: str = "auto",
                    detect_method: str = "auto", threshold: float | None = None,
                    dilate: int | None = None, feather: int | None = None,
                    grain: bool = True) -> list[Patch]:
    """`restore`, returning only the pixels that change: for lazy or huge images, where the
    caller keeps the original and overlays the patches (`Patch.apply`) instead of holding a
    repaired copy."""
    plan = _plan(image, mask, region, mode, progress, cancel, method, detect_method, threshold,
                 dilate, feather)
    patches: list[Patch] = []
    repair_patches(plan.img, plan.alpha, plan.inpainter, patches.append, progress=plan.progress,
                   cancel=cancel, grain=grain, hole=plan.seen)
    return patches


@dataclass
class _Plan:
    img: object                  # the checked image
    alpha: np.ndarray            # compositing weight: the grown hole × the region
    seen: np.ndarray | None      # the hole the inpainter sees, when it is not alpha > 0
    inpainter: object
    progress: Progress           # what is left of the progress bar, for the repair
    rule: RepairRule
    detection: Detection | None = None


def _plan(image, mask, region, mode, progress, cancel, method, detect_method, threshold, dilate,
          feather, keep_detection: bool = False) -> _Plan:
    """Check the arguments of restore and build what repair needs. Detection runs here when
    `mask` is None.

    A selection clips where the repair is composited (alpha), not the defect the restorer sees: it
    says where pixels may change, not what surrounds the defect (a hole cut along a tight
    selection would leave the restorer no margin to tell damage from picture)."""
    img = check_image(image, lazy_ok=True)
    check_choice("mode", mode, MODES)
    H, W = img.shape[:2]
    weight = region_weight(region, (H, W))
    cancel = _cancel_fn(cancel)
    detect_share = 0.0  # the part of the progress bar spent detecting
    seen, detection = None, None
    if mode == "fill":
        if weight is None:
            raise InputError("region: fill mode needs a region (the selection to heal)")
        if mask is not None:
            check_plane(mask, (H, W), "mask")
        rule = repair_rule("fill", region=weight)
        alpha = weight
    else:
        if mask is None:
            detect_share = 0.4
            detector = get_detector(detect_method)
            rule = repair_rule("defects", region=weight, detector=detector, threshold=threshold,
                               dilate=dilate, feather=feather)
            inside = None if weight is None else weight > 0  # _detect would make a float copy
            detection = _detect(img, detector, detect_method, inside, rule.threshold,
                                _sub_progress(progress, 0, detect_share), cancel,
                                keep_probability=keep_detection)
            del inside
            hole = detection.mask
            if not keep_detection:
                detection = None
        else:
            hole = check_plane(mask, (H, W), "mask") > 0  # as plane_weight(...) > 0, without floats
            if weight is not None:
                hole &= weight > 0
            rule = repair_rule("defects", hole, weight, dilate=dilate, feather=feather,
                               clipped=True)
        alpha = repair_weight(hole, rule.dilate, rule.feather)
        del hole  # keep peak memory down on 100-MP scans
        if weight is not None:
            seen = SparsePlane(alpha > 0)
            alpha *= weight
        alpha = SparsePlane(alpha)  # 0 almost everywhere: held as its non-zero blocks
    return _Plan(img, alpha, seen, get_inpainter(method, fill=mode == "fill"),
                 _sub_progress(progress, detect_share, 1.0), rule, detection)


# ----------------------------------------------------------------------------------- for front ends
@dataclass(frozen=True)
class Settings:
    """What a front end shows before any run (its controls' starting values), from the cards."""
    threshold: float              # the detector's own: its card's, else the classical baseline's
    detector: dict                # the detector's provenance
    restorer: dict                # the restorer's provenance (method auto)
    dilate: int = DETECTED_GROWTH[0]   # how restore grows a detected hole (px), then feathers it
    feather: int = DETECTED_GROWTH[1]
    methods: tuple = METHODS
    detect_methods: tuple = DETECT_METHODS
    modes: tuple = MODES


def settings(method: str = "auto") -> Settings:
    """The defaults of `method`'s detector and of restore, read from the model cards without loading
    a network (cheap enough for a dialog as it opens). ModelError when a card is broken or, for
    "model", missing."""
    check_choice("method", method, DETECT_METHODS)
    card = models.default_card("detect") if method in ("auto", "model") else None
    if card is None and method in ("auto", "model"):
        raise models.ModelError(models.missing_model("detect"))
    if card is not None and card.threshold is not None:
        threshold, detector, growth = card.threshold, card.provenance, card_growth(card)
    else:
        own = InfraredDetector() if method == "infrared" else ClassicalDetector()
        threshold, detector, growth = own.threshold, own.provenance, detected_growth(own)
    restore_card = models.default_card("restore")
    restorer = restore_card.provenance if restore_card else ClassicalInpainter().provenance
    return Settings(float(threshold), detector, restorer, int(growth[0]), int(growth[1]))


@dataclass
class Scan:
    """An image, its detection, the mask `restore` repairs when given none, and the rule that chose
    it (detect_and_mask)."""
    image: object                   # the checked image (numpy, or the lazy array as given)
    detection: Detection
    repair_mask: np.ndarray         # bool HxW
    rule: RepairRule


def detect_and_mask(image, *, region=None, threshold: float | None = None,
                    progress: Progress = None, cancel: Cancel = None, method: str = "auto") -> Scan:
    """Detect, then the mask restore(image, region=region, threshold=threshold) repairs (the
    detection's marks) and its rule. restore(image, scan.repair_mask, region=region,
    dilate=scan.rule.dilate, feather=scan.rule.feather) gives the same pixels as restore(image,
    region=region, threshold=threshold)."""
    img = check_image(image, lazy_ok=True)
    detector = get_detector(method)
    rule = repair_rule("defects", region=region, detector=detector, threshold=threshold)
    detection = _detect(img, detector, method, region, rule.threshold, progress, cancel)
    return Scan(img, detection, detection.mask, rule)


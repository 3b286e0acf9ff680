"""`detect` and `restore`: the two calls every front end (CLI, plug-ins, batch) goes through.

Rules kept here, once: inputs are validated with messages that name the problem; only tiles that
touch the region (or the repair mask) are computed; pixels outside (dilated mask ∩ region) are
returned bit-identical; alpha is never altered; a 1-pixel image has no context to judge a defect by,
so it is never flagged and comes back unchanged.

Images may be lazy (dask, zarr, …): they are read tile by tile and never whole, and
`restore_patches` returns only the pixels that change, so a huge lazy image can be repaired without
holding a copy.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from . import grain as grain_mod
from . import models
from .arrays import (
    bbox,
    check_image,
    check_plane,
    colour_planes,
    from_float,
    plane_weight,
    read_block,
    to_float,
    to_rgb_float,
)
from .choices import check_choice
from .classical import ClassicalDetector, ClassicalInpainter, defect_pixels
from .engine import run_tiled
from .errors import InputError
from .infrared import InfraredDetector
from .synthesis import TextureFill

Progress = Callable[[float], None] | None
Cancel = Callable[[], bool] | None
METHODS = ("auto", "model", "classical")
# infrared: a film scanner's fourth plane (see unscratch.infrared)
DETECT_METHODS = METHODS + ("infrared",)
MODES = ("defects", "fill")


@dataclass
class Detection:
    """Defect probability (float32 HxW in [0, 1]) and the mask it gives at `threshold` inside the
    region."""
    probability: np.ndarray
    mask: np.ndarray
    threshold: float
    region: np.ndarray | None = field(default=None, repr=False)
    provenance: dict = field(default_factory=dict)

    def rethreshold(self, threshold: float) -> Detection:
        """The same detection at another threshold, without running the detector again."""
        threshold = _check_threshold(threshold)
        mask = threshold_mask(self.probability, threshold, self.region)
        return Detection(self.probability, mask, threshold, self.region,
                         dict(self.provenance, threshold=threshold))


def threshold_mask(probability: np.ndarray, threshold: float,
                   region: np.ndarray | None = None) -> np.ndarray:
    """Pixels at or above `threshold` inside `region`; threshold 0 still means "some evidence" (>
    0)."""
    mask = probability >= threshold if threshold > 0 else probability > 0
    if region is not None:
        mask &= region
    return mask


def resolve_threshold(detector, threshold: float | None) -> float:
    """The caller's threshold, else the detector's default (its card's), checked to lie in [0,
    1]."""
    return _check_threshold(detector.threshold if threshold is None else threshold)


def _check_threshold(threshold) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise InputError(f"threshold: {threshold!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise InputError(f"threshold: {value} is outside [0, 1]")
    return value


def _cancel_fn(cancel) -> Callable[[], bool] | None:
    """Accept a callable or anything with is_set() (threading.Event)."""
    if cancel is None:
        return None
    if hasattr(cancel, "is_set"):
        return cancel.is_set
    return cancel


def _sub_progress(progress: Progress, start: float, end: float) -> Progress:
    if progress is None:
        return None
    return lambda f: progress(start + (end - start) * f)


def get_detector(method: str = "auto"):
    """The shipped detector network (method auto/model), the classical baseline, or the infrared
    plane's."""
    check_choice("method", method, DETECT_METHODS)
    if method == "infrared":
        return InfraredDetector()
    card = models.default_card("detect") if method != "classical" else None
    if card is None:
        if method != "classical":  # the classical detector runs only when asked for (issue 30)
            raise models.ModelError(models.missing_model("detect"))
        return ClassicalDetector()
    return _NetworkOp(card)


def detect_method_for(method: str, infrared: bool) -> str:
    """The detector for a file: `method`, except that "auto" on a scan saved with an infrared
    plane (io.ImageInfo.infrared) uses that plane, which sees dust and scratches whatever the
    picture shows."""
    return "infrared" if infrared and method == "auto" else method


def get_inpainter(method: str = "auto", *, fill: bool = False, texture: bool = True):
    """The shipped restorer (auto/model) or classical Telea. `fill=True`: the hole's own pixels
    are not evidence (heal a selection), so a restorer that reuses what shows through a defect
    must not see them; there "auto" is Telea, because the shipped restorer, shown nothing of the
    hole, only returns its Telea prefill (within ±0.1 dB in the hole on every damage set, issue
    23) at 5x the time. With `texture` (not for "classical", the plain baseline), holes more than
    a few pixels across are synthesised from the texture around them (unscratch.synthesis)."""
    check_choice("method", method, METHODS)
    if fill and texture and method != "classical":
        return TextureFill(get_inpainter(method, fill=True, texture=False))
    shipped = method == "model" or (method == "auto" and not fill)
    card = models.default_card("restore") if shipped else None
    if card is None:
        if shipped:  # Telea stands in for the restorer only when asked for (issue 30)
            raise models.ModelError(models.missing_model("restore"))
        return ClassicalInpainter()
    return _NetworkOp(card, hide_hole=fill)


class _NetworkOp:
    """A shipped ONNX model as a tile function with the card's tiling and threshold."""

    def __init__(self, card: models.ModelCard, hide_hole: bool = False):
        self.card, self.hide_hole = card, hide_hole
        self.fn = models.OnnxTileFn(card)
        self.name, self.tile = card.name, card.tile
        self.overlap, self.multiple = card.overlap, card.multiple
        self.threshold = card.threshold
        self.repair_growth = card_growth(card)
        self.provenance = card.provenance
        self.wants_rgb = True
        self.prefill = ClassicalInpainter() if card.card.get("prefill") == "telea" else None
        # sees what shows through a defect
        self.reuses_hole = self.prefill is not None and not hide_hole

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        if self.prefill is None:
            return self.fn(tile)
        boxes = _hole_windows(tile[:, :, 3] > 0, RESTORER_CONTEXT, self.fn.card.multiple)
        if boxes is None:
            return self._restore(tile)
        out = tile[:, :, :3].copy()  # only hole pixels are used by the caller
        for y0, y1, x0, x1, own in boxes:
            out[y0:y1, x0:x1][own] = self._restore(tile[y0:y1, x0:x1])[own]
        return out

    def release_memory(self) -> None:
        self.fn.release_memory()

    def _restore(self, tile: np.ndarray) -> np.ndarray:
        """A restorer that corrects a classical fill gets it as extra planes. The hole pixels it
        must not reuse (all of them in fill mode; else classical.defect_pixels: those far outside
        the range of their intact surroundings, which no picture shows through, and their edges)
        are replaced by the fill, so its gate cannot keep them: a learnt gate kept much of opaque
        scratches on damage unlike its training's (issue 23)."""
        prefill = self.prefill(tile)
        hole = tile[:, :, 3] > 0
        hidden = hole if self.hide_hole else defect_pixels(tile[:, :, :3], hole, prefill)
        if hidden.any():
            rgb = np.where(hidden[:, :, None], prefill, tile[:, :, :3])
            tile = np.concatenate([rgb, tile[:, :, 3:]], axis=2)
        return self.fn(np.concatenate([tile, prefill], axis=2))


# px: beyond this the shipped restorer's output inside a hole does not change (measured ≤ 1e-7)
RESTORER_CONTEXT = 96


def _hole_windows(hole: np.ndarray, context: int, multiple: int):
    """Windows around groups of holes that are further than 2×context apart, each with the hole
    pixels it must deliver, or None when they would cover most of the tile anyway (dense damage: run
    it whole).

    A U-Net's output only matches the whole-tile run when the window starts on its downsampling
    grid (a multiple of `multiple`) and holds `context` pixels around the hole; then it is
    identical, and sparse dust and scratches cost their neighbourhood instead of the whole tile."""
    h, w = hole.shape
    near = cv2.dilate(hole.astype(np.uint8),
                      cv2.getStructuringElement(cv2.MORPH_RECT, (2 * context + 1,) * 2))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(near, connectivity=8)
    boxes, area = [], 0
    for i in range(1, n):
        x, y, bw, bh = stats[i, :4]
        y0, x0 = y // multiple * multiple, x // multiple * multiple
        y1, x1 = y + bh, x + bw
        area += (y1 - y0) * (x1 - x0)
        boxes.append((y0, y1, x0, x1, (labels[y0:y1, x0:x1] == i) & hole[y0:y1, x0:x1]))
    return boxes if area < 0.6 * h * w else None


def _region_plane(region, shape) -> np.ndarray | None:
    """Soft region weight in [0, 1], or None meaning 'everywhere'."""
    if region is None:
        return None
    return plane_weight(check_plane(region, shape, "region"))


def detect(image, *, region=None, threshold=None, progress: Progress = None, cancel: Cancel = None,
           method: str = "auto") -> Detection:
    """Defect probability at native resolution and its mask inside `region` (bool or soft
    selection).

    method: "auto"/"model" (the shipped network), "classical", or "infrared" for a film scan
    whose fourth plane is the scanner's infrared (R, G, B, IR; see unscratch.infrared)."""
    return _detect(check_image(image, lazy_ok=True), get_detector(method), method, region,
                   threshold, progress, cancel)


def _detect(img, detector, method: str, region, threshold, progress: Progress,
            cancel: Cancel) -> Detection:
    """`detect` with the image checked and the detector made (detect_and_mask reuses the
    detector)."""
    H, W = img.shape[:2]
    weight = _region_plane(region, (H, W))
    inside = None if weight is None else weight > 0
    threshold = resolve_threshold(detector, threshold)
    infrared = getattr(detector, "reads_infrared", False)
    if infrared:
        detector.fit(img)
    probability = np.zeros((H, W), np.float32)
    roi = (0, H, 0, W) if inside is None else bbox(inside)
    if roi is not None and min(H, W) > 1:
        detect_tiles(img, detector, probability, roi=roi, progress=progress, cancel=cancel)
    if infrared:
        detector.clear_frame(probability)
    if inside is not None:
        probability[~inside] = 0.0
    mask = threshold_mask(probability, threshold, inside)
    provenance = {"detector": detector.provenance, "threshold": threshold, "method": method}
    if progress is not None:
        progress(1.0)
    return Detection(probability, mask, threshold, inside, provenance)


def detect_tiles(img, detector, probability: np.ndarray, *, roi=None, layout=None,
                 progress: Progress = None, cancel: Cancel = None) -> None:
    """Run `detector` over img's tiles into `probability` (HxW float32, clipped to [0, 1]): the tile
    reading of `detect` (colour planes as RGB in [0, 1]; every plane for a detector that reads
    infrared), shared with a split image's chunks (`layout`, see split.py)."""
    infrared = getattr(detector, "reads_infrared", False)

    def source(y0, y1, x0, x1):
        if infrared:
            return to_float(read_block(img, y0, y1, x0, x1, all_planes=True))
        return to_rgb_float(read_block(img, y0, y1, x0, x1))

    def sink(y0, y1, x0, x1, block):
        probability[y0:y1, x0:x1] = np.clip(block[:, :, 0], 0.0, 1.0)

    run_tiled(detector, source, sink, shape=probability.shape, out_channels=1, tile=detector.tile,
              overlap=detector.overlap, multiple=getattr(detector, "multiple", 1), roi=roi,
              layout=layout, progress=progress, cancel=_cancel_fn(cancel))


@dataclass(frozen=True)
class RepairRule:
    """Which pixels a restore repairs, decided once (`repair_rule`) and reported by every front end.

    source: "fill" (the whole region is the hole), "mask" (the caller's marks, repaired as given:
    a mark a user drew or edited is the damage) or "detector" (the detection at `threshold`, the
    same rule with or without a selection). `dilate`/`feather`: px the hole grows, then feathers
    over. `mask_pixels`: the caller's marks ∩ the region, before growth."""
    source: str
    selection: bool
    threshold: float | None = None
    dilate: int = 0
    feather: int = 0
    mask_pixels: int | None = None

    def as_dict(self) -> dict:
        """The facts a host shows (protocol.repair_summary): rule "fill", "mask", "selection" (the
        detector inside a region) or "threshold" (the detector on the whole image)."""
        rule = {"fill": "fill", "mask": "mask"}.get(
            self.source, "selection" if self.selection else "threshold")
        facts = {"rule": rule, "selection": self.selection, "dilate": self.dilate,
                 "feather": self.feather}
        if self.threshold is not None:
            facts["threshold"] = self.threshold
        if self.mask_pixels is not None:
            facts["mask_pixels"] = self.mask_pixels
        return facts


# px a detected hole grows, then feathers over, for a detector whose card does not say: the
# baselines' margin (their masks sit tight on the damage's core)
DETECTED_GROWTH = (2, 2)


def card_growth(card: models.ModelCard) -> tuple[int, int]:
    """(dilate, feather) of a detector card's `repair_growth`, else DETECTED_GROWTH."""
    growth = card.card.get("repair_growth")
    return (int(growth["dilate"]), int(growth["feather"])) if growth else DETECTED_GROWTH


def detected_growth(detector) -> tuple[int, int]:
    """(dilate, feather) for the detector's masks: the shipped network's card chooses it on real
    scans (a wider repair replaces good grain around every speck)."""
    return tuple(getattr(detector, "repair_growth", DETECTED_GROWTH))


def _inside(plane) -> np.ndarray:
    """A mask or region plane as bool: non-zero is inside."""
    plane = np.asarray(plane)
    return plane.copy() if plane.dtype == bool else plane_weight(plane) > 0


def repair_rule(mode: str, mask=None, region=None, *, detector=None, threshold=None,
                dilate: int | None = None, feather: int | None = None) -> RepairRule:
    """The one rule for what restore repairs. `mask` (marks, any array; only its non-zero pixels
    ∩ region are counted) is repaired as given unless `dilate`/`feather` say otherwise; with none,
    the detector's mask at `threshold` (default: its card's) grown as its card says."""
    selection = region is not None
    if mode == "fill":
        return RepairRule("fill", selection, None, dilate or 0, feather or 0)
    if mask is not None:
        marks = _inside(mask)
        if region is not None:
            marks &= _inside(region)
        return RepairRule("mask", selection, None, dilate or 0, feather or 0, int(marks.sum()))
    grow, soften = detected_growth(detector)
    return RepairRule("detector", selection, resolve_threshold(detector, threshold),
                      grow if dilate is None else dilate, soften if feather is None else feather)


def repair_weight(hole: np.ndarray, dilate: int = 0, feather: int = 0) -> np.ndarray:
    """Compositing weight for a defect mask: 1 on the hole grown by `dilate` px, then a linear
    feather.

    Growing covers the defect's faint fringe (anti-aliasing, halo) that the mask threshold leaves
    out.
    """
    grown = hole.astype(np.uint8)
    if dilate > 0:
        grown = cv2.dilate(grown,
                           cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1,) * 2))
    if feather <= 0:
        return grown.astype(np.float32)
    np.subtract(1, grown, out=grown)  # in place throughout: a 100-MP scan must stay within a few GB
    weight = cv2.distanceTransform(grown, cv2.DIST_L2, 3)
    del grown
    weight *= np.float32(-1.0 / (feather + 1))
    weight += np.float32(1.0)
    return np.clip(weight, 0.0, 1.0, out=weight)


def _grain_at(img, alpha: np.ndarray, rows: np.ndarray, cols: np.ndarray, origin: tuple[int, int],
              see_through: bool) -> np.ndarray:
    """Grain (N×1 float32) for the repaired pixels at absolute (rows, cols), computed strip by
    strip from the image within grain.MARGIN of them: bounded memory, and the same values
    whichever band or dask chunk a pixel falls in."""
    H, W = img.shape[:2]
    out = np.zeros((rows.size, 1), np.float32)
    for s0 in range(int(cols.min()), int(cols.max()) + 1, GRAIN_STRIP):
        sel = np.flatnonzero((cols >= s0) & (cols < s0 + GRAIN_STRIP))
        if sel.size == 0:
            continue
        r, c = rows[sel], cols[sel]
        margin = grain_mod.MARGIN
        gy0, gy1 = max(0, int(r.min()) - margin), min(H, int(r.max()) + 1 + margin)
        gx0, gx1 = max(0, int(c.min()) - margin), min(W, int(c.max()) + 1 + margin)
        luma = to_float(read_block(img, gy0, gy1, gx0, gx1)).mean(axis=2)
        field = grain_mod.grain(luma, alpha[gy0:gy1, gx0:gx1] > 0, origin[0] + gy0, origin[1] + gx0,
                                see_through)
        out[sel, 0] = field[r - gy0, c - gx0]
    return out


GRAIN_STRIP = 1024  # px: grain is computed over strips this wide (plus margins) to bound memory


@dataclass
class Patch:
    """The repaired pixels of one band of an image: colour values (N×C, the image's dtype) at
    absolute (rows, cols), with the values they replace. `box` (y0, y1, x0, x1) bounds them."""
    box: tuple[int, int, int, int]
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    old: np.ndarray

    def apply(self, block: np.ndarray, y0: int = 0, x0: int = 0) -> None:
        """Write the pixels that fall inside `block` (an ndarray whose top-left is (y0, x0)) in
        place."""
        h, w = block.shape[:2]
        by0, by1, bx0, bx1 = self.box
        if by1 <= y0 or by0 >= y0 + h or bx1 <= x0 or bx0 >= x0 + w:
            return
        inside = (self.rows >= y0) & (self.rows < y0 + h) & (self.cols >= x0) & (self.cols < x0 + w)
        colour_planes(block)[self.rows[inside] - y0, self.cols[inside] - x0] = self.values[inside]


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
                       grain: bool = True, keep_detection: bool = False) -> Restored:
    """`restore` (same arguments, same pixels) with what front ends report: the rule applied and
    the number of pixels that changed; with `keep_detection`, also the detection it ran (to show
    as marks; on a 100-MP scan its probability is 400 MB held through the repair)."""
    plan = _plan(image, mask, region, mode, progress, cancel, method, detect_method, threshold,
                 dilate, feather, keep_detection)
    fixed = repair(plan.img, plan.alpha, plan.inpainter, progress=plan.progress, cancel=cancel,
                   grain=grain, hole=plan.seen)
    return Restored(fixed, plan.rule, changed_pixels(fixed, plan.img), plan.detection)


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

    A selection clips where the repair is composited (alpha), not the grown defect the restorer
    sees: it says where pixels may change, not what surrounds the defect (a restorer trained only
    on 2+2-px hole margins left much of a scratch 4 px inside a hole cut along a tight
    selection)."""
    img = check_image(image, lazy_ok=True)
    if mode not in MODES:
        raise InputError(f"mode: {mode!r} is not one of {', '.join(MODES)}")
    H, W = img.shape[:2]
    weight = _region_plane(region, (H, W))
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
            detection = _detect(img, detector, detect_method, region, rule.threshold,
                                _sub_progress(progress, 0, detect_share), cancel)
            hole = detection.mask
            if not keep_detection:
                detection = None  # frees the probability before the repair
        else:
            hole = plane_weight(check_plane(mask, (H, W), "mask")) > 0
            if weight is not None:
                hole &= weight > 0
            rule = repair_rule("defects", hole, weight, dilate=dilate, feather=feather)
        alpha = repair_weight(hole, rule.dilate, rule.feather)
        del hole  # keep peak memory down on 100-MP scans
        if weight is not None:
            seen = alpha > 0
            alpha *= weight
    return _Plan(img, alpha, seen, get_inpainter(method, fill=mode == "fill"),
                 _sub_progress(progress, detect_share, 1.0), rule, detection)


def repair(img, alpha: np.ndarray, inpainter, *, progress: Progress = None, cancel: Cancel = None,
           layout: tuple[list, list] | None = None, grain: bool = False,
           origin: tuple[int, int] = (0, 0), hole: np.ndarray | None = None) -> np.ndarray:
    """Composite `inpainter`'s fill into a copy of `img` with weight `alpha`; pixels where alpha
    is 0 stay bit-identical. Shared by restore(), batch and the evaluation, so every method is
    judged with the same mask and compositing."""
    # a copy; a lazy image is computed whole here (the caller asked for a copy)
    result = np.array(img[...])
    repair_patches(img, alpha, inpainter, lambda patch: patch.apply(result), progress=progress,
                   cancel=_cancel_fn(cancel), layout=layout, grain=grain, origin=origin, hole=hole)
    return result


def repair_patches(img, alpha: np.ndarray, inpainter, emit: Callable[[Patch], None], *,
                   progress: Progress = None, cancel: Cancel = None,
                   layout: tuple[list, list] | None = None, grain: bool = False,
                   origin: tuple[int, int] = (0, 0), hole: np.ndarray | None = None) -> None:
    """Run `inpainter` over the pixels where alpha > 0 (the hole it sees, unless `hole` is given)
    and hand each band's repaired pixels, blended with weight `alpha`, to `emit` as a Patch. `img`
    is read block by block. `grain=True` adds back the film grain a smooth fill lacks
    (`unscratch.grain`); `origin` is where img[0, 0] lies when img is a window of a larger image, so
    the grain matches a whole-image run.

    `hole`: what the inpainter sees as the hole, a superset of alpha > 0; see _plan.

    Tiles cover the mask's bounding box (grown by the overlap); a split image's block passes its
    share of the whole image's tiles as `layout` instead (see engine.run_tiled)."""
    H, W = img.shape[:2]
    if hole is None and layout is None and hasattr(inpainter, "synthesise_large"):
        # fill mode: holes more than a few px across are synthesised whole, the rest tiled below
        alpha = inpainter.synthesise_large(img, alpha, emit, origin=origin,
                                           cancel=_cancel_fn(cancel))
    # where alpha > 0, read block by block: a whole plane is 100 MB more on 100-MP scans
    if hole is None:
        roi = bbox(alpha > 0)

        def hole_at(y0, y1, x0, x1):
            return alpha[y0:y1, x0:x1] > 0
    else:
        roi = bbox(hole)

        def hole_at(y0, y1, x0, x1):
            return hole[y0:y1, x0:x1]
    if roi is None or min(H, W) == 1:
        if progress is not None:
            progress(1.0)
        return
    n_planes = 1 if img.ndim == 2 else min(3, img.shape[2])
    wants_rgb = getattr(inpainter, "wants_rgb", False)

    def source(y0, y1, x0, x1):
        planes = read_block(img, y0, y1, x0, x1)
        block = to_rgb_float(planes) if wants_rgb else to_float(planes)
        hole_plane = hole_at(y0, y1, x0, x1)[:, :, None].astype(np.float32)
        return np.concatenate([block, hole_plane], axis=2)

    def skip(y0, y1, x0, x1):
        return not hole_at(y0, y1, x0, x1).any()

    def sink(y0, y1, x0, x1, block):
        a = alpha[y0:y1, x0:x1]
        rows, cols = np.nonzero(a > 0)
        if rows.size == 0:
            return
        # only the pixels being repaired: band-sized temporaries cost GBs on 100-MP scans
        fill = block[rows, cols]
        if wants_rgb and n_planes == 1:
            fill = fill.mean(axis=1, keepdims=True)
        else:
            fill = fill[:, :n_planes]
        if grain:
            fill = fill + _grain_at(img, alpha, rows + y0, cols + x0, origin,
                                    getattr(inpainter, "reuses_hole", False))
        old = read_block(img, y0, y1, x0, x1)[rows, cols]
        original = to_float(old)
        values = from_float(original + (fill - original) * a[rows, cols][:, None], img.dtype)
        emit(Patch((y0, y1, x0, x1), (rows + y0).astype(np.int32), (cols + x0).astype(np.int32),
                   values, old))

    run_tiled(inpainter, source, sink, shape=(H, W), out_channels=3 if wants_rgb else n_planes,
              tile=inpainter.tile, overlap=inpainter.overlap,
              multiple=getattr(inpainter, "multiple", 1), roi=roi, layout=layout, skip=skip,
              progress=progress, cancel=_cancel_fn(cancel))
    if progress is not None:
        progress(1.0)


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
    detection's mask at the threshold, inside the region) and its rule. restore(image,
    scan.repair_mask, region=region, dilate=scan.rule.dilate, feather=scan.rule.feather) gives the
    same pixels as restore(image, region=region, threshold=threshold)."""
    img = check_image(image, lazy_ok=True)
    detector = get_detector(method)
    rule = repair_rule("defects", region=region, detector=detector, threshold=threshold)
    detection = _detect(img, detector, method, region, rule.threshold, progress, cancel)
    return Scan(img, detection, detection.mask, rule)

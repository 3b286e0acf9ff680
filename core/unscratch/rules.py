"""Which pixels a restore repairs: thresholds, the one repair rule, and the compositing weight of a
hole (grown and feathered as the rule says)."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import models
from .arrays import plane_weight
from .errors import InputError


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
        """The facts a host shows (hostkit.summary): rule "fill", "mask", "selection" (the
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
    """A mask or region plane as bool (a bool plane as it is): non-zero is inside."""
    plane = np.asarray(plane)
    return plane if plane.dtype == bool else plane_weight(plane) > 0


def repair_rule(mode: str, mask=None, region=None, *, detector=None, threshold=None,
                dilate: int | None = None, feather: int | None = None,
                clipped: bool = False) -> RepairRule:
    """The one rule for what restore repairs. `mask` (marks, any array; only its non-zero pixels
    ∩ region are counted; `clipped`: it is that intersection already) is repaired as given unless
    `dilate`/`feather` say otherwise; with none, the detector's mask at `threshold` (default: its
    card's) grown as its card says."""
    selection = region is not None
    if mode == "fill":
        return RepairRule("fill", selection, None, dilate or 0, feather or 0)
    if mask is not None:
        marks = _inside(mask)
        if region is not None and not clipped:
            marks = marks & _inside(region)
        return RepairRule("mask", selection, None, dilate or 0, feather or 0,
                          int(np.count_nonzero(marks)))
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


# A long, thin, straight mark at a slant across the image is picture far more often than damage on
# real photos: of the 20 the shipped detector made at its rule on the real photos checked, 17 were
# ropes, branches, a rail and the edges of a sail, an awning and a roof, 2 strokes of a plate number
# and 1 a piece of a crack (README, "Slanted picture lines"). Film-transport scratches run along
# the film, the image's axes, and are kept, as is anything curved, short or wide.
PICTURE_LINE_LENGTH = 40   # px: at least this long
PICTURE_LINE_SPREAD = 2.0  # px: its outline's rms distance from a straight line at most this
PICTURE_LINE_SLANT = 12.0  # degrees: at least this far from both of the image's axes


def drop_picture_lines(mask: np.ndarray) -> np.ndarray:
    """`mask` (bool HxW; changed in place when contiguous) without its marks that are long, thin,
    straight lines at a slant (see PICTURE_LINE_*): the rule for masks the detector makes, never
    for marks a user gives. Works on outlines, so a 100-MP mask needs no label plane."""
    mask = np.ascontiguousarray(mask)
    plane = mask.view(np.uint8)
    outlines, _ = cv2.findContours(plane, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    for outline in outlines:
        if len(outline) < PICTURE_LINE_LENGTH:  # its outline runs along both sides
            continue
        spread, axis = np.linalg.eigh(np.cov(outline.reshape(-1, 2).T.astype(np.float64)))
        length = 4.0 * np.sqrt(max(spread[1], 0.0))  # ~1.15x the extent of points spread evenly
        angle = np.degrees(np.arctan2(abs(axis[1, 1]), abs(axis[0, 1])))
        if (length >= PICTURE_LINE_LENGTH and np.sqrt(max(spread[0], 0.0)) <= PICTURE_LINE_SPREAD
                and min(angle, 90.0 - angle) >= PICTURE_LINE_SLANT):
            cv2.drawContours(plane, [outline], -1, 0, thickness=cv2.FILLED)
    return mask


def sees_picture(detector) -> bool:
    """Whether a detector's marks can be picture: every one but the infrared plane's, which shows
    only dust and scratches (a slanted straight line there is a scratch)."""
    return not getattr(detector, "reads_infrared", False)


def detector_marks(probability: np.ndarray, threshold: float, region: np.ndarray | None = None,
                   picture: bool = True) -> np.ndarray:
    """The marks a detection gives at `threshold` inside `region`, the same wherever they are
    made: what `restore` repairs when given no mask, what Detect shows (so restoring them as marked
    does the same) and what a host re-thresholds. `picture`: the detector sees the picture
    (sees_picture), so slanted picture lines are left."""
    mask = threshold_mask(probability, threshold, region)
    return drop_picture_lines(mask) if picture else mask


# sensitivities a host's slider is likely to be moved to, where picture_lines_out also takes lines
RETHRESHOLD_GRID = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
PICTURE_LINE_HALO = 3  # px beside such a line taken with it: at a lower sensitivity its halo
#                        would otherwise be marked as two rails along it


def picture_lines_out(probability: np.ndarray, threshold: float,
                      region: np.ndarray | None = None) -> np.ndarray:
    """`probability` (float32, changed in place: a 100-MP one is 400 MB) with 0 on the slanted
    picture lines detector_marks leaves at `threshold` and at the sensitivities of
    RETHRESHOLD_GRID, for hosts that re-threshold a stored detection in pure Python (GIMP and Krita
    have no numpy, so no drop_picture_lines). Thresholded at `threshold` it gives exactly
    detector_marks; at another sensitivity it leaves those lines as the rule would, and may leave a
    little more (a piece of a line found at another one, and PICTURE_LINE_HALO px beside it)."""
    kept = detector_marks(probability, threshold, region)
    picture = np.zeros(probability.shape, np.uint8)
    for t in sorted(set(RETHRESHOLD_GRID) | {threshold}):
        found = threshold_mask(probability, t, region)
        picture |= found & ~drop_picture_lines(found.copy())
    side = 2 * PICTURE_LINE_HALO + 1
    picture = cv2.dilate(picture, cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))) > 0
    picture &= ~kept
    probability[picture] = 0.0
    return probability

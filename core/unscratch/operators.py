"""The detector and the inpainter a restore runs: the shipped networks (from their cards), the
classical baselines and the infrared plane's detector, each a tile function with its tiling."""
from __future__ import annotations

import cv2
import numpy as np

from . import models
from .choices import check_choice
from .classical import ClassicalDetector, ClassicalInpainter, defect_pixels
from .infrared import InfraredDetector
from .rules import card_growth
from .synthesis import TextureFill

METHODS = ("auto", "model", "classical")
# infrared: a film scanner's fourth plane (see unscratch.infrared)
DETECT_METHODS = METHODS + ("infrared",)


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

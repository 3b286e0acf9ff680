"""Compositing a fill into an image: only where the weight is above 0, tile by tile, with the grain
of the surroundings added back; whole (`repair`) or as patches of the changed pixels
(`repair_patches`)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import grain as grain_mod
from .arrays import bbox, colour_planes, from_float, read_block, to_float, to_rgb_float
from .tiles import run_tiled

Progress = Callable[[float], None] | None
Cancel = Callable[[], bool] | None


def _cancel_fn(cancel) -> Callable[[], bool] | None:
    """Accept a callable or anything with is_set() (threading.Event)."""
    if cancel is None:
        return None
    if hasattr(cancel, "is_set"):
        return cancel.is_set
    return cancel


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
    share of the whole image's tiles as `layout` instead (see tiles.run_tiled)."""
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

"""Compositing a fill into an image: only where the weight is above 0, tile by tile, with the grain
of the surroundings added back; whole (`repair`, `repair_counted`) or as patches of the changed
pixels (`repair_patches`). A weight that is 0 almost everywhere (a defect mask's) can be held as a
`SparsePlane`."""
from __future__ import annotations

import math
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


def _positive(plane, y0: int, y1: int, x0: int, x1: int):
    """(rows, cols, values) of plane[y0:y1, x0:x1] > 0, window relative, in np.nonzero's order."""
    if isinstance(plane, SparsePlane):
        return plane.positive(y0, y1, x0, x1)
    window = plane[y0:y1, x0:x1]
    rows, cols = np.nonzero(window > 0)
    return rows, cols, window[rows, cols]


class SparsePlane:
    """A read-only HxW plane (a repair's weight or hole) kept as BLOCK x BLOCK blocks, without
    those that are all 0: a defect mask's weight is 0 almost everywhere, and as a float32 plane a
    100-MP scan's is 400 MB. `plane[y0:y1, x0:x1]` gives an ndarray with the plane's values."""
    BLOCK = 32

    def __init__(self, plane: np.ndarray, dtype=None):
        """The plane's values as `dtype` (default its own), read band by band."""
        b = self.BLOCK
        H, W = self.shape = tuple(plane.shape)
        self.dtype = np.dtype(dtype or plane.dtype)
        nby, nbx = -(-H // b), -(-W // b)
        self.index = np.zeros((nby, nbx), np.int32)  # block (by, bx) is data[index]; 0: all zero
        starts = np.arange(0, W, b)
        blocks = [np.zeros((1, b, b), self.dtype)]
        count = 0
        for by in range(nby):
            band = plane[by * b:(by + 1) * b]
            used = np.flatnonzero(np.logical_or.reduceat(band.any(axis=0), starts))
            if used.size == 0:
                continue
            wide = np.zeros((b, nbx * b), self.dtype)
            wide[:band.shape[0], :W] = band
            blocks.append(wide.reshape(b, nbx, b).transpose(1, 0, 2)[used])
            self.index[by, used] = np.arange(count + 1, count + 1 + used.size)
            count += used.size
        self.data = np.concatenate(blocks)  # data[0]: the all-zero block

    def __getitem__(self, key) -> np.ndarray:
        rows, cols = key
        y0, y1, _ = rows.indices(self.shape[0])
        x0, x1, _ = cols.indices(self.shape[1])
        out = np.zeros((max(0, y1 - y0), max(0, x1 - x0)), self.dtype)
        if out.size == 0:
            return out
        b = self.BLOCK
        by0, bx0 = y0 // b, x0 // b
        index = self.index[by0:-(-y1 // b), bx0:-(-x1 // b)]
        for iy, ix in zip(*np.nonzero(index)):
            # the part of the block inside the window
            ty, tx = (by0 + iy) * b, (bx0 + ix) * b
            sy0, sy1 = max(y0, ty), min(y1, ty + b)
            sx0, sx1 = max(x0, tx), min(x1, tx + b)
            out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = \
                self.data[index[iy, ix], sy0 - ty:sy1 - ty, sx0 - tx:sx1 - tx]
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = self[:, :]
        return whole if dtype is None else whole.astype(dtype)

    def positive(self, y0: int, y1: int, x0: int, x1: int):
        """(rows, cols, values) of the window's pixels above 0, as np.nonzero orders them, window
        relative: read a strip of blocks at a time, not as a band-sized plane."""
        b = self.BLOCK
        found = []
        top = y0
        while top < y1:
            bottom = min(y1, (top // b + 1) * b)
            if self.index[top // b, x0 // b:-(-x1 // b)].any():
                strip = self[top:bottom, x0:x1]
                r, c = np.nonzero(strip > 0)
                found.append((r + (top - y0), c, strip[r, c]))
            top = bottom
        if not found:
            return np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0, self.dtype)
        return tuple(np.concatenate(parts) for parts in zip(*found))

    @property
    def nbytes(self) -> int:
        return self.data.nbytes + self.index.nbytes

    def bbox(self) -> tuple[int, int, int, int] | None:
        """arrays.bbox of the plane, found from its stored blocks."""
        blocks = bbox(self.index)
        if blocks is None:
            return None
        b = self.BLOCK
        by0, by1, bx0, bx1 = blocks
        first = np.flatnonzero(self[by0 * b:(by0 + 1) * b, :].any(axis=1))[0]
        last = np.flatnonzero(self[(by1 - 1) * b:by1 * b, :].any(axis=1))[-1]
        left = np.flatnonzero(self[:, bx0 * b:(bx0 + 1) * b].any(axis=0))[0]
        right = np.flatnonzero(self[:, (bx1 - 1) * b:bx1 * b].any(axis=0))[-1]
        return (by0 * b + int(first), (by1 - 1) * b + int(last) + 1,
                bx0 * b + int(left), (bx1 - 1) * b + int(right) + 1)


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
    return repair_counted(img, alpha, inpainter, progress=progress, cancel=cancel, layout=layout,
                          grain=grain, origin=origin, hole=hole)[0]


def repair_counted(img, alpha: np.ndarray, inpainter, *, overwrite: bool = False,
                   **options) -> tuple[np.ndarray, int]:
    """`repair` (same options), and how many pixels changed (as api.changed_pixels counts them).

    The copy is made when the inpainter is done (its working memory handed back), unless the
    repaired pixels outgrow a quarter of the image first. `overwrite`: `img` is an ndarray the
    caller gives up (the CLI's own read of a file): the repaired pixels are written into it, once
    nothing reads it any more, instead of into a copy."""
    into = _Collector(img, overwrite)
    repair_patches(img, alpha, inpainter, into, **options)
    return into.finish(), into.changed


class _Collector:
    """The `emit` of repair: patches are kept until the run ends, then put into a copy of the
    image (or the image itself, with `overwrite`); when they would outgrow a quarter of the image
    the copy is made at once and they go in as they come. Counts the pixels that change."""

    def __init__(self, img, overwrite: bool):
        self.img, self.result, self.changed = img, None, 0
        self.overwrite = overwrite and isinstance(img, np.ndarray) and img.flags.writeable
        self.pending: list[Patch] = []
        self.size, self.budget = 0, math.prod(img.shape) * np.dtype(img.dtype).itemsize // 4

    def __call__(self, patch: Patch) -> None:
        if self.result is not None:
            self._put(patch)
            return
        self.pending.append(patch)
        self.size += patch.rows.nbytes + patch.cols.nbytes + patch.values.nbytes + patch.old.nbytes
        if self.size > self.budget:  # the image is still read: a copy, as for a lazy image
            self.result = np.array(self.img[...])
            self._flush()

    def finish(self) -> np.ndarray:
        if self.result is None:
            self.result = self.img if self.overwrite else np.array(self.img[...])
        self._flush()
        return self.result

    def _flush(self) -> None:
        for patch in self.pending:
            self._put(patch)
        self.pending = []

    def _put(self, patch: Patch) -> None:
        """patch.apply(result), counting: old holds the image's pixels, which nothing changes
        before the run ends, so a pixel is changed when its new value differs from them."""
        planes = colour_planes(self.result)
        was = (planes[patch.rows, patch.cols] != patch.old).any(axis=1)
        now = (patch.values != patch.old).any(axis=1)
        self.changed += int(now.sum()) - int(was.sum())
        planes[patch.rows, patch.cols] = patch.values


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
        alpha = inpainter.synthesise_large(img, np.asarray(alpha), emit, origin=origin,
                                           cancel=_cancel_fn(cancel))
    # where alpha > 0, read block by block: a whole plane is 100 MB more on 100-MP scans
    if hole is None:
        roi = alpha.bbox() if isinstance(alpha, SparsePlane) else bbox(alpha > 0)

        def hole_at(y0, y1, x0, x1):
            return alpha[y0:y1, x0:x1] > 0
    else:
        roi = hole.bbox() if isinstance(hole, SparsePlane) else bbox(hole)

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
        rows, cols, a = _positive(alpha, y0, y1, x0, x1)
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
        values = from_float(original + (fill - original) * a[:, None], img.dtype)
        emit(Patch((y0, y1, x0, x1), (rows + y0).astype(np.int32), (cols + x0).astype(np.int32),
                   values, old))

    run_tiled(inpainter, source, sink, shape=(H, W), out_channels=3 if wants_rgb else n_planes,
              tile=inpainter.tile, overlap=inpainter.overlap,
              multiple=getattr(inpainter, "multiple", 1), roi=roi, layout=layout, skip=skip,
              progress=progress, cancel=_cancel_fn(cancel))
    if progress is not None:
        progress(1.0)

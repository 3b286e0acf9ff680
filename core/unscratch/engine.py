"""Tiled execution of a per-tile function over an image of any size in bounded memory.

Tiles overlap; each output pixel is a weighted sum of the tiles covering it, with weights that
form an exact partition of unity. At an inner tile edge the outer quarter of the overlap is
discarded (a network's border pixels lack context) and the next half is a linear ramp. Rows of
tiles are finished one band at a time and handed to a sink, so memory holds about two tile rows
of output, never the whole image in float.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .errors import Cancelled

TileFn = Callable[[np.ndarray], np.ndarray]
Source = Callable[[int, int, int, int], np.ndarray]
Sink = Callable[[int, int, int, int, np.ndarray], None]


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size `tile` covering [0, length), consecutive tiles overlapping by ≥ overlap."""
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def axis_weights(starts: list[int], tile: int, length: int, overlap: int) -> list[np.ndarray]:
    """1-D weights per tile that sum to exactly 1 at every position of [0, length).

    Each tile's window is 0 over the outer quarter of the overlap at an inner edge, rises linearly
    over the next half, and is 1 beyond; image borders are not tapered. Dividing by the sum of all
    windows makes the set an exact partition of unity whatever the tile layout.
    """
    size = min(tile, length)
    d = np.arange(size, dtype=np.float64) + 0.5
    cut, ramp = overlap / 4.0, max(overlap / 2.0, 1.0)
    windows = []
    for s in starts:
        w = np.ones(size)
        if s > 0:
            w = np.minimum(w, np.clip((d - cut) / ramp, 0.0, 1.0))
        if s + size < length:
            w = np.minimum(w, np.clip((size - d - cut) / ramp, 0.0, 1.0))
        windows.append(w)
    total = np.zeros(length)
    for s, w in zip(starts, windows):
        total[s:s + size] += w
    return [(w / total[s:s + size]).astype(np.float32) for s, w in zip(starts, windows)]


def run_tiled(fn: TileFn, source: Source, sink: Sink, *, shape: tuple[int, int], out_channels: int,
              tile: int, overlap: int, roi: tuple[int, int, int, int] | None = None,
              skip: Callable[[int, int, int, int], bool] | None = None,
              progress: Callable[[float], None] | None = None,
              cancel: Callable[[], bool] | None = None) -> None:
    """Run `fn` on overlapping tiles covering `roi` (grown by `overlap` for context) and stream the
    blended result, band by band, to `sink(y0, y1, x0, x1, block)`.

    `skip(y0, y1, x0, x1)` may declare a tile not worth running; its area then receives zeros, so the
    caller must not use pixels that only skipped tiles cover.
    """
    H, W = shape
    y0r, y1r, x0r, x1r = roi if roi is not None else (0, H, 0, W)
    y0r, x0r = max(0, y0r - overlap), max(0, x0r - overlap)
    y1r, x1r = min(H, y1r + overlap), min(W, x1r + overlap)
    rh, rw = y1r - y0r, x1r - x0r
    ys, xs = tile_starts(rh, tile, overlap), tile_starts(rw, tile, overlap)
    wy, wx = axis_weights(ys, tile, rh, overlap), axis_weights(xs, tile, rw, overlap)
    th, tw = min(tile, rh), min(tile, rw)
    total = len(ys) * len(xs)
    done = 0
    band = np.zeros((0, rw, out_channels), np.float32)
    band_top = 0  # region-relative row of band[0]
    for iy, ty in enumerate(ys):
        need = ty + th - band_top
        if band.shape[0] < need:
            band = np.concatenate([band, np.zeros((need - band.shape[0], rw, out_channels), np.float32)])
        for ix, tx in enumerate(xs):
            if cancel is not None and cancel():
                raise Cancelled("cancelled")
            gy, gx = y0r + ty, x0r + tx
            if skip is None or not skip(gy, gy + th, gx, gx + tw):
                out = fn(source(gy, gy + th, gx, gx + tw))
                weight = wy[iy][:, None, None] * wx[ix][None, :, None]
                band[ty - band_top:ty - band_top + th, tx:tx + tw] += out.reshape(th, tw, out_channels) * weight
            done += 1
            if progress is not None:
                progress(done / total)
        final_end = ys[iy + 1] if iy + 1 < len(ys) else rh
        n = final_end - band_top
        if n > 0:
            sink(y0r + band_top, y0r + final_end, x0r, x1r, band[:n])
            band = band[n:]
            band_top = final_end

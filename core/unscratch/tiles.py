"""Tiled execution of a per-tile function over an image of any size in bounded memory.

Tiles overlap; each output pixel is a weighted sum of the tiles covering it, with weights that
form an exact partition of unity. At an inner tile edge the outer 3/8 of the overlap is discarded
(a network's border pixels lack context) and the middle quarter is a linear ramp. Rows of
tiles are finished one band at a time and handed to a sink, so memory holds about two tile rows
of output, never the whole image in float.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import Cancelled

TileFn = Callable[[np.ndarray], np.ndarray]
Source = Callable[[int, int, int, int], np.ndarray]
Sink = Callable[[int, int, int, int, np.ndarray], None]


def tile_layout(length: int, tile: int, overlap: int, multiple: int = 1) -> list[tuple[int, int]]:
    """(start, size) of the tiles covering [0, length), consecutive tiles overlapping by ≥ overlap.

    As few tiles as `tile` allows, then as small as they can be and evenly spread: a fixed size
    would make the last tile mostly repeat its neighbour (at 3464 px, three 1536-px tiles cover 4608
    px of work; three balanced ones 3996). Every start is a multiple of `multiple`: a U-Net's output
    depends on where its stride-2 grid falls, so tiles starting off that grid would disagree with an
    untiled run (by up to 0.6 in probability, measured). The last tile therefore runs to the end and
    may be up to multiple − 1 px longer than the others.
    """
    if length <= tile:
        return [(0, length)]
    slack = overlap + multiple - 1  # what rounding a start down to the grid may cost in overlap

    # n tiles of this size, spread evenly, overlap by ≥ overlap after rounding
    def size_for(n: int) -> int:
        return -(-((n - 1) * slack + length) // n)

    n = 2
    while size_for(n) > tile and n < length:
        n += 1
    size = min(tile, size_for(n))
    starts = [i * (length - size) // (n - 1) for i in range(n)]
    starts = [g - g % multiple for g in starts]
    return [(g, size) for g in starts[:-1]] + [(starts[-1], length - starts[-1])]


def taper(overlap: int) -> tuple[float, float]:
    """(cut, ramp) in px at an inner tile edge: weight 0 over `cut`, then rising linearly over
    `ramp`."""
    return overlap * 3 / 8, max(overlap / 4.0, 1.0)


def axis_weights(layout: list[tuple[int, int]], length: int, overlap: int) -> list[np.ndarray]:
    """1-D weights per tile that sum to exactly 1 at every position of [0, length).

    Each tile's window is 0 over the outer 3/8 of the overlap at an inner edge, rises linearly over
    the middle quarter, and is 1 beyond; image borders are not tapered. Only pixels with 3/8 of the
    overlap of context count: for the shipped restorer an overlap of 192 px then agrees with an
    untiled run to 2/65535 (measured; a window cut over a quarter of the overlap with a ramp over
    half of it needs 256 px for 4/65535). Dividing by the sum of all windows makes the set an exact
    partition of unity whatever the layout.
    """
    cut, ramp = taper(overlap)
    windows = []
    for s, size in layout:
        d = np.arange(size, dtype=np.float64) + 0.5
        w = np.ones(size)
        if s > 0:
            w = np.minimum(w, np.clip((d - cut) / ramp, 0.0, 1.0))
        if s + size < length:
            w = np.minimum(w, np.clip((size - d - cut) / ramp, 0.0, 1.0))
        windows.append(w)
    total = np.zeros(length)
    for (s, size), w in zip(layout, windows):
        total[s:s + size] += w
    return [(w / total[s:s + size]).astype(np.float32) for (s, size), w in zip(layout, windows)]


def span(length: int, r0: int, r1: int, overlap: int, multiple: int = 1) -> tuple[int, int]:
    """[start, end) the tiles cover on one axis: [r0, r1) grown by `overlap` for context, the start
    on a multiple of `multiple` so every tile's start is too."""
    start = max(0, r0 - overlap)
    return start - start % multiple, min(length, r1 + overlap)


def run_tiled(fn: TileFn, source: Source, sink: Sink, *, shape: tuple[int, int], out_channels: int,
              tile: int, overlap: int, multiple: int = 1,
              roi: tuple[int, int, int, int] | None = None,
              skip: Callable[[int, int, int, int], bool] | None = None,
              progress: Callable[[float], None] | None = None,
              cancel: Callable[[], bool] | None = None,
              layout: tuple[list, list] | None = None) -> None:
    """Run `fn` on overlapping tiles covering `roi` (grown by `overlap` for context) and stream the
    blended result, band by band, to `sink(y0, y1, x0, x1, block)`.

    `layout`: the (rows, columns) tiles, as (start, size) lists over the whole image, to run instead
    of laying them out over the roi; a chunk of a split image runs its share of the whole image's
    tiles.

    `skip(y0, y1, x0, x1)` may declare a tile not worth running; its area then receives zeros, so
    the caller must not use pixels that only skipped tiles cover. Tiles start on multiples of
    `multiple` (see tile_layout). A `fn` with a `release_memory()` method has it called when the run
    ends, so a model's tile buffers are not held while the next model runs.
    """
    try:
        H, W = shape
        if layout is None:
            y0, y1, x0, x1 = roi if roi is not None else (0, H, 0, W)
            y0r, y1r = span(H, y0, y1, overlap, multiple)
            x0r, x1r = span(W, x0, x1, overlap, multiple)
            ys = tile_layout(y1r - y0r, tile, overlap, multiple)
            xs = tile_layout(x1r - x0r, tile, overlap, multiple)
        else:
            (y0r, y1r), (x0r, x1r) = (0, H), (0, W)
            ys, xs = layout
        rh, rw = y1r - y0r, x1r - x0r
        wy, wx = axis_weights(ys, rh, overlap), axis_weights(xs, rw, overlap)
        total = len(ys) * len(xs)
        done = 0
        # one buffer of the tallest tile's rows, reused band after band: growing a band by
        # concatenation held two bands at once (117 MiB each for a 10,000-px-wide RGB scan, at the
        # run's memory peak)
        band = np.empty((max(th for _, th in ys), rw, out_channels), np.float32)
        band_top = 0  # region-relative row of band[0]
        filled = 0    # rows of band in use
        for iy, (ty, th) in enumerate(ys):
            need = ty + th - band_top
            if filled < need:
                band[filled:need] = 0
                filled = need
            for ix, (tx, tw) in enumerate(xs):
                if cancel is not None and cancel():
                    raise Cancelled("cancelled")
                gy, gx = y0r + ty, x0r + tx
                if skip is None or not skip(gy, gy + th, gx, gx + tw):
                    out = fn(source(gy, gy + th, gx, gx + tw))
                    weight = wy[iy][:, None, None] * wx[ix][None, :, None]
                    out = out.reshape(th, tw, out_channels)
                    band[ty - band_top:ty - band_top + th, tx:tx + tw] += out * weight
                done += 1
                if progress is not None:
                    progress(done / total)
            final_end = ys[iy + 1][0] if iy + 1 < len(ys) else rh
            n = final_end - band_top
            if n > 0:
                # sinks copy out what they keep
                sink(y0r + band_top, y0r + final_end, x0r, x1r, band[:n])
                band[:filled - n] = band[n:filled]
                filled -= n
                band_top = final_end
    finally:
        release = getattr(fn, "release_memory", None)
        if release is not None:
            release()

"""One large image restored in chunks on dask (`split_restore`), pixel for pixel equal to the
single-process result: the tiling maths that puts chunk edges where the engine's tiles allow it.

`unscratch batch` uses it on a Dask cluster for images of at least --split-mp megapixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import api, grain
from .arrays import bbox, check_image, colour_planes, region_weight
from .choices import check_choice
from .errors import InputError
from .tiles import span, tile_layout
from .tiles import taper as tile_taper


@dataclass(frozen=True)
class AxisPlan:
    """One axis of a tiled run split into chunks so that each chunk's pixels come out
    bit-identical.

    `layout` is the engine's tile layout over the whole run (the ROI grown by the overlap). Chunk
    edges sit at tile centres, and each chunk runs exactly the tiles that touch it (`window`), so
    its blend weights equal the whole run's on the chunk (the sub-run's outer tapers, which the
    engine omits at an image edge, fall outside the chunk). So each block needs a halo of about
    half a tile, not just the tile overlap: a chunk edge always lies inside some tile, and that
    tile needs all its pixels.
    """
    length: int
    overlap: int
    layout: tuple  # (start, size) of each tile, in image coordinates
    edges: tuple   # 0 = e0 < e1 < ... < en = length
    depth: int

    @property
    def chunks(self) -> tuple:
        return tuple(b - a for a, b in zip(self.edges[:-1], self.edges[1:]))

    def window(self, i: int) -> tuple[int, int, int, tuple] | None:
        """For chunk i: (block start, run start, run end, the run's tiles relative to its start)
        in image coordinates, or None when no tile touches it."""
        c0, c1 = self.edges[i], self.edges[i + 1]
        ks = [k for k, (g, n) in enumerate(self.layout) if g < c1 and g + n > c0]
        block0 = c0 - self.depth if i > 0 else 0
        if not ks:
            return None
        s0, s1 = self.layout[ks[0]][0], sum(self.layout[ks[-1]])
        taper = sum(tile_taper(self.overlap))
        block1 = c1 + self.depth if i + 1 < len(self.edges) - 1 else self.length
        ok = (block0 <= s0 and s1 <= block1 and (ks[0] == 0 or c0 >= s0 + taper)
              and (ks[-1] == len(self.layout) - 1 or c1 <= s1 - taper))
        if not ok:
            raise RuntimeError(f"split plan misaligned at chunk {i} ({c0}:{c1}) of {self}")
        return block0, s0, s1, tuple((self.layout[k][0] - s0, self.layout[k][1]) for k in ks)


def plan_axis(length: int, r0: int, r1: int, tile: int, overlap: int, target: int,
              multiple: int = 1, context: int = 0) -> AxisPlan:
    """Chunk edges at tile centres about `target` px apart, for a run over ROI [r0, r1) grown by
    overlap. `context`: px of the run each chunk edge needs on both sides (the repair's grain);
    with tiles too small to give it, the axis is not split."""
    start, end = span(length, r0, r1, overlap, multiple)
    layout = tuple((start + s, n) for s, n in tile_layout(end - start, tile, overlap, multiple))
    starts = [g for g, _ in layout]
    t = layout[0][1]  # every tile but the last is this size
    half = t // 2
    taper = sum(tile_taper(overlap))  # a chunk edge must fall where its tile has full weight
    target = max(target, t - half)  # every chunk at least as wide as the halo (dask needs that)
    edges = [0]
    if min(half, t - half) >= max(taper, context):
        for m, g in enumerate(starts):
            b = g + half
            if m > 0 and starts[m - 1] + t > b:
                continue
            if m + 1 < len(starts) and starts[m + 1] < b:
                continue
            if b - edges[-1] >= target and length - b >= t - half:
                edges.append(b)
    edges.append(length)
    depth = 0
    for i in range(len(edges) - 1):
        c0, c1 = edges[i], edges[i + 1]
        ks = [k for k, (g, n) in enumerate(layout) if g < c1 and g + n > c0]
        if ks:
            if i > 0:
                depth = max(depth, c0 - starts[ks[0]])
            if i + 2 < len(edges):
                depth = max(depth, sum(layout[ks[-1]]) - c1)
    plan = AxisPlan(length, overlap, layout, tuple(edges), depth)
    if len(edges) > 2 and depth > min(plan.chunks):
        raise RuntimeError(f"split plan has a halo ({depth}) larger than a chunk: {plan}")
    for i in range(len(edges) - 1):
        plan.window(i)  # validate now, not on a worker
    return plan


def _plans(op, shape: tuple[int, int], roi: tuple[int, int, int, int], chunk: int,
           context: int = 0) -> tuple[AxisPlan, AxisPlan]:
    """Row and column plans for running `op` (detector or inpainter) over `roi` of an image of
    `shape`."""
    return tuple(plan_axis(n, r0, r1, op.tile, op.overlap, chunk, _multiple(op), context)
                 for n, r0, r1 in ((shape[0], roi[0], roi[1]), (shape[1], roi[2], roi[3])))


def _multiple(op) -> int:
    """The grid a network's tiles must start on (1 for the classical methods)."""
    return getattr(op, "multiple", 1)


class BlockRun(NamedTuple):
    """A block's share of a split run: the run's rows/columns inside the block, its tiles (relative
    to the run) and where the run starts in the image."""
    y0: int
    y1: int
    x0: int
    x1: int
    layout: tuple[list, list]
    origin: tuple[int, int]


def _block_run(py: AxisPlan, px: AxisPlan, block_id) -> BlockRun | None:
    wy, wx = py.window(block_id[0]), px.window(block_id[1])
    if wy is None or wx is None:
        return None
    (by, sy0, sy1, ys), (bx, sx0, sx1, xs) = wy, wx
    return BlockRun(sy0 - by, sy1 - by, sx0 - bx, sx1 - bx, (list(ys), list(xs)), (sy0, sx0))


def _detect_block(block: np.ndarray, *, py: AxisPlan, px: AxisPlan, method: str,
                  block_id=None) -> np.ndarray:
    """The detector's probability over this block's run of the single-process tiles
    (api.detect_tiles)."""
    out = np.zeros(block.shape[:2], np.float32)
    run = _block_run(py, px, block_id)
    if run is None:
        return out
    api.detect_tiles(block[run.y0:run.y1, run.x0:run.x1], api.get_detector(method),
                     out[run.y0:run.y1, run.x0:run.x1], layout=run.layout)
    return out


def _restore_block(block: np.ndarray, alpha: np.ndarray, *, py: AxisPlan, px: AxisPlan,
                   method: str, n_planes: int, fill: bool = False, block_id=None) -> np.ndarray:
    """`api.repair` over this block's run of the single-process tiles (its share of the plan's
    layout, not tiles laid out over the block's own alpha bounding box, which would differ)."""
    result = block.copy()
    run = _block_run(py, px, block_id)
    if run is None:
        return result
    y0, y1, x0, x1 = run.y0, run.y1, run.x0, run.x1
    a_all = alpha[y0:y1, x0:x1, 0]
    if not (a_all > 0).any():
        return result
    result[y0:y1, x0:x1] = api.repair(block[y0:y1, x0:x1], a_all,
                                      api.get_inpainter(method, fill=fill), layout=run.layout,
                                      grain=True, origin=run.origin)
    return result


def _to_dask(array: np.ndarray, chunks: tuple, scheduler):
    """A dask array of `array`; on a distributed client the data is scattered once, not put in the
    graph."""
    import dask.array as da
    if hasattr(scheduler, "scatter"):
        future = scheduler.scatter(array)
        return da.from_delayed(future, shape=array.shape, dtype=array.dtype).rechunk(chunks)
    return da.from_array(array, chunks=chunks)


def split_restore(image, *, region=None, mode: str = "defects", threshold: float | None = None,
                  method: str = "auto", detect_method: str = "auto", dilate: int | None = None,
                  feather: int | None = None, chunk: int = 4096,
                  scheduler=None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """`api.restore` of one image split into chunks computed by dask (`scheduler`: a distributed
    Client, "threads", "sync", ...): returns (restored, probability or None in fill mode,
    repaired-area mask), pixel for pixel equal to `api.detect` + `api.restore` in one process.

    Two `map_overlap` passes over the tiled engine, each on chunks aligned to its own tile grid (see
    AxisPlan): the detector over the whole image, then (after the mask is thresholded and grown,
    which is cheap and global, to know the repair ROI the single-process tile grid depends on) the
    inpainter. A region is only supported in fill mode (batch's --fill-region).
    """
    import dask
    import dask.array as da
    img = check_image(image)
    check_choice("mode", mode, api.MODES)
    H, W = img.shape[:2]
    cube = img if img.ndim == 3 else img[:, :, None]
    n_planes = colour_planes(img).shape[2]
    probability = None
    if mode == "fill":
        if region is None:
            raise InputError("region: fill mode needs a region (the selection to heal)")
        alpha = region_weight(region, (H, W))
        hole = alpha > 0
    else:
        if region is not None:
            raise InputError("split_restore: a region is only supported in fill mode")
        detector = api.get_detector(detect_method)
        rule = api.repair_rule(mode, detector=detector, threshold=threshold, dilate=dilate,
                               feather=feather)
        chosen = rule.threshold
        if min(H, W) > 1:
            py, px = _plans(detector, (H, W), (0, H, 0, W), chunk)
            arr = _to_dask(cube, (py.chunks, px.chunks, (cube.shape[2],)), scheduler)
            lazy = da.map_overlap(_detect_block, arr, depth={0: py.depth, 1: px.depth, 2: 0},
                                  boundary="none", dtype=np.float32, drop_axis=2,
                                  allow_rechunk=False, meta=np.empty((0, 0), np.float32),
                                  py=py, px=px, method=detect_method)
            (probability,) = dask.compute(lazy, scheduler=scheduler)
        else:
            probability = np.zeros((H, W), np.float32)
        hole = api.detector_marks(probability, chosen, picture=api.sees_picture(detector))
        alpha = api.repair_weight(hole, rule.dilate, rule.feather)
    textured = []  # fill mode: holes more than a few px across are synthesised whole, as in repair
    texture = api.get_inpainter(method, fill=True) if mode == "fill" else None
    if hasattr(texture, "synthesise_large"):
        alpha = texture.synthesise_large(img, alpha, textured.append)
    roi = bbox(alpha > 0)
    if roi is None or min(H, W) == 1:
        out = img.copy()
        for patch in textured:
            patch.apply(out)
        return out, probability, hole
    inpainter = api.get_inpainter(method)
    # chunk edges keep the grain's context
    py, px = _plans(inpainter, (H, W), roi, chunk, context=grain.MARGIN)
    chunks = (py.chunks, px.chunks)
    arr = _to_dask(cube, chunks + ((cube.shape[2],),), scheduler)
    weights = _to_dask(alpha[:, :, None], chunks + ((1,),), scheduler)
    lazy = da.map_overlap(_restore_block, arr, weights, depth={0: py.depth, 1: px.depth, 2: 0},
                          boundary="none", dtype=cube.dtype, allow_rechunk=False,
                          meta=np.empty((0, 0, 0), cube.dtype), py=py, px=px, method=method,
                          n_planes=n_planes, fill=mode == "fill")
    (restored,) = dask.compute(lazy, scheduler=scheduler)
    for patch in textured:
        patch.apply(restored)
    return (restored if img.ndim == 3 else restored[:, :, 0]), probability, hole

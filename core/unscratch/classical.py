"""Classical baselines: a median-difference detector ("Dust & Scratches") and OpenCV inpainting.

They need no model file, so detect/restore work before any network is trained, and they stay as
`method="classical"` for comparison. Both run per tile through the engine like the networks.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


class ClassicalDetector:
    """Probability = |luminance − median(luminance)| scaled so that a 0.25 step saturates.

    Bright specks on a dark surround and dark ones on a bright surround both score; thin lines
    score because the 5x5 median removes anything narrower than 3 px. Wider defects are found on a
    2x-downsampled copy as well.
    """
    name = "classical-median"
    tile, overlap = 1024, 32
    threshold = 0.3
    scale = 0.25

    def __init__(self, threshold: float | None = None):
        if threshold is not None:
            self.threshold = threshold

    @property
    def provenance(self) -> dict:
        return {"name": self.name, "sha256": None, "task": "detect"}

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        luma = np.ascontiguousarray(rgb @ LUMA)
        diff = np.abs(luma - cv2.medianBlur(luma, 5))
        if min(luma.shape) >= 8:
            small = cv2.resize(luma, (luma.shape[1] // 2, luma.shape[0] // 2),
                               interpolation=cv2.INTER_AREA)
            coarse = np.abs(small - cv2.medianBlur(small, 5))
            diff = np.maximum(diff,
                              cv2.resize(coarse, (luma.shape[1], luma.shape[0]),
                                         interpolation=cv2.INTER_LINEAR))
        return np.clip(diff / self.scale, 0.0, 1.0)[:, :, None]


class ClassicalInpainter:
    """OpenCV inpainting, one plane at a time so 16-bit and float data keep their precision.

    Input tile: HxWx(C+1) float32, colour planes then the hole (1 = unknown); output: HxWxC.
    """
    tile, overlap = 768, 64

    def __init__(self, flags: int = cv2.INPAINT_TELEA, radius: float = 3.0,
                 name: str = "classical-telea"):
        self.flags, self.radius, self.name = flags, radius, name

    @property
    def provenance(self) -> dict:
        return {"name": self.name, "sha256": None, "task": "restore"}

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        planes, hole = tile[:, :, :-1], (tile[:, :, -1] > 0).astype(np.uint8)
        if not hole.any():
            return planes
        out = np.empty_like(planes)

        def inpaint(c):  # OpenCV's float path assumes a 0..255 scale
            plane = np.ascontiguousarray(planes[:, :, c] * np.float32(255.0))
            out[:, :, c] = cv2.inpaint(plane, hole, self.radius, self.flags) / np.float32(255.0)

        # cv2.inpaint is single-threaded and releases the GIL: one thread per colour plane, within
        # OpenCV's own thread budget (batch workers lower it with cv2.setNumThreads)
        workers = min(planes.shape[2], max(1, cv2.getNumThreads()))
        if workers == 1:
            for c in range(planes.shape[2]):
                inpaint(c)
        else:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(inpaint, range(planes.shape[2])))
        return np.clip(out, 0.0, 1.0)


OUT_OF_RANGE_TOLERANCE = 0.06  # beyond its intact surroundings' range by more than this,
                               # a hole pixel is damage
EDGE_TOLERANCE = 0.06          # beside such pixels, a difference from the classical fill
                               # that is the defect's edge
EDGE_STEPS = 2                 # px: how far that edge is followed
RANGE_RADIUS = 8               # px: window for the intact range, in pixels of each pyramid level
RANGE_LEVELS = 4               # levels 0-3: windows of radius 8, 16, 32, 64 px,
                               # wider ones only for wide holes
RANGE_MIN_KNOWN = 0.15         # share of a window that must be intact for its range to count


def _pool(x: np.ndarray, pair) -> np.ndarray:
    """2x2 pooling of an HxW[xC] array whose sides are even; `pair`: np.minimum, np.maximum or
    np.add."""
    return pair(pair(x[0::2, 0::2], x[1::2, 0::2]), pair(x[0::2, 1::2], x[1::2, 1::2]))


def beyond_range(rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """How far (float32 HxW, the largest channel's distance; 0 inside) each hole pixel's colour lies
    outside the range of the intact pixels in the square window around it. An opaque scratch or
    speck lies far outside whatever the picture's texture; a defect that lets the picture show
    through stays inside where it is faint.

    The narrowest window with enough intact pixels wins; wider ones come from a min/max pyramid
    (windows on its 2^L grid), so wide holes cost little more than thin ones; a pixel with no intact
    one within the widest window is not judged (0). A pixel's answer depends only on the image
    within 2^RANGE_LEVELS·(RANGE_RADIUS+1) px of it."""
    h, w = hole.shape
    step = 1 << (RANGE_LEVELS - 1)
    ph, pw = -h % step, -w % step
    pad = ((0, ph), (0, pw), (0, 0))
    low = np.pad(np.where(hole[:, :, None], np.float32(np.inf), rgb), pad, constant_values=np.inf)
    high = np.pad(np.where(hole[:, :, None], np.float32(-np.inf), rgb), pad,
                  constant_values=-np.inf)
    known = np.pad((~hole).astype(np.float32), ((0, ph), (0, pw)))
    distance = np.zeros(hole.shape, np.float32)
    pending = hole.copy()  # hole pixels not judged yet
    k = (2 * RANGE_RADIUS + 1,) * 2
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, k)
    for level in range(RANGE_LEVELS):
        if level:
            low, high = _pool(low, np.minimum), _pool(high, np.maximum)
            known = _pool(known, np.add) / 4
        rows, cols = np.nonzero(pending)
        if rows.size == 0:
            break
        r, c = rows >> level, cols >> level
        # the padding counts as unknown
        share = cv2.boxFilter(known, -1, k, borderType=cv2.BORDER_CONSTANT)
        use = share[r, c] >= (RANGE_MIN_KNOWN if level < RANGE_LEVELS - 1 else 1e-6)
        if not use.any():
            continue
        rows, cols, r, c = rows[use], cols[use], r[use], c[use]
        pixel = rgb[rows, cols]
        below = cv2.erode(low, kernel, borderType=cv2.BORDER_CONSTANT,
                          borderValue=np.inf)[r, c] - pixel
        above = pixel - cv2.dilate(high, kernel, borderType=cv2.BORDER_CONSTANT,
                                   borderValue=-np.inf)[r, c]
        distance[rows, cols] = np.maximum(np.maximum(below, above).max(axis=1), 0.0)
        pending[rows, cols] = False
    return distance


def defect_pixels(rgb: np.ndarray, hole: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """Hole pixels (HxW bool) that are damage no picture shows through, so a restorer must not keep
    them: those further than OUT_OF_RANGE_TOLERANCE outside their intact surroundings' range, and
    beside them the defect's soft edge, grown by up to EDGE_STEPS px through pixels that differ from
    `fill` (a classical fill of the hole) by over EDGE_TOLERANCE in the defect's direction (brighter
    or darker). Kept, such an edge left two faint rails along an opaque scratch."""
    core = beyond_range(rgb, hole) > OUT_OF_RANGE_TOLERANCE
    if not core.any():
        return core
    deviation = (rgb - fill).mean(axis=2)
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    grown = core.copy()
    for sign in (1, -1):
        side = core & (sign * deviation > 0)
        edge = hole & (sign * deviation > EDGE_TOLERANCE)
        for _ in range(EDGE_STEPS):
            side |= (cv2.dilate(side.view(np.uint8), cross) > 0) & edge
        grown |= side
    return grown

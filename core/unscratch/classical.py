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
            small = cv2.resize(luma, (luma.shape[1] // 2, luma.shape[0] // 2), interpolation=cv2.INTER_AREA)
            coarse = np.abs(small - cv2.medianBlur(small, 5))
            diff = np.maximum(diff, cv2.resize(coarse, (luma.shape[1], luma.shape[0]), interpolation=cv2.INTER_LINEAR))
        return np.clip(diff / self.scale, 0.0, 1.0)[:, :, None]


class ClassicalInpainter:
    """OpenCV inpainting, one plane at a time so 16-bit and float data keep their precision.

    Input tile: HxWx(C+1) float32, colour planes then the hole (1 = unknown); output: HxWxC.
    """
    tile, overlap = 768, 64

    def __init__(self, flags: int = cv2.INPAINT_TELEA, radius: float = 3.0, name: str = "classical-telea"):
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

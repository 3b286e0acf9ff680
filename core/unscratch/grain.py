"""Film grain for fills: a network trained with L1/SSIM predicts the *expected* picture, which is smooth,
so a repaired scratch on a grainy scan would show as a plastic streak. `match_grain` adds back the
grain the fill lacks, measured from the untouched pixels around it.

Grain is estimated as the high-pass residual of luminance (x − Gaussian(x, 1 px)), clipped at 3 robust
sigmas so that picture edges do not count as grain. Its local variance comes from the known pixels within
15 px (31 px for holes too wide for that, then the whole block); the fill's own residual variance is
subtracted, so a semi-transparent defect the network already restored with its grain gets little or
none. The noise is luminance-only, high-passed the same way, and seeded by the block's position, so a
repair is reproducible.
"""
from __future__ import annotations

import cv2
import numpy as np

RADII = (15, 31)        # px: windows for the local grain estimate, the wider one for wide holes
MIN_KNOWN = 0.2         # share of a window that must be known for its estimate to count
HIGHPASS_SIGMA = 1.0


def _highpass(x: np.ndarray) -> np.ndarray:
    return x - cv2.GaussianBlur(x, (0, 0), HIGHPASS_SIGMA)


def _local_variance(residual: np.ndarray, weight: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean of residual² over a (2r+1)² window, and the window's share of weight."""
    k = (2 * radius + 1,) * 2
    num = cv2.boxFilter(residual * residual * weight, -1, k, normalize=True, borderType=cv2.BORDER_REFLECT)
    den = cv2.boxFilter(weight, -1, k, normalize=True, borderType=cv2.BORDER_REFLECT)
    return num / np.maximum(den, 1e-6), den


def match_grain(fill: np.ndarray, original: np.ndarray, hole: np.ndarray, seed) -> np.ndarray:
    """`fill` (HxWxC float32 in [0, 1]) with grain added inside `hole` to match `original` around it."""
    if not hole.any() or hole.all():
        return fill
    known = (~hole).astype(np.float32)
    r_known = _highpass(original.mean(axis=2, dtype=np.float32))
    sigma = 1.4826 * float(np.median(np.abs(r_known[hole == 0]))) + 1e-6
    np.clip(r_known, -3 * sigma, 3 * sigma, out=r_known)
    variance = np.full(hole.shape, float(np.mean(r_known[hole == 0] ** 2)), np.float32)
    for radius in reversed(RADII):  # the narrowest window with enough known pixels wins
        v, share = _local_variance(r_known, known, radius)
        np.copyto(variance, v, where=share >= MIN_KNOWN)
    r_fill = np.clip(_highpass(fill.mean(axis=2, dtype=np.float32)), -3 * sigma, 3 * sigma)
    v_fill, _ = _local_variance(r_fill, 1.0 - known, RADII[0])
    missing = np.sqrt(np.clip(variance - v_fill, 0.0, None))
    noise = _highpass(np.random.default_rng(seed).standard_normal(hole.shape, dtype=np.float32))
    noise /= noise.std() + 1e-6
    out = fill.copy()
    out[hole] += (missing * noise)[hole][:, None]
    return np.clip(out, 0.0, 1.0, out=out)

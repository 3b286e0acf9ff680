"""Film grain for fills: a network trained with L1/SSIM predicts the *expected* picture, which is
smooth, so a repaired scratch on a grainy scan would show as a plastic streak. `grain` computes the
grain to add inside a hole so that the fill's fine texture matches the untouched pixels around it.

Grain is the high-pass residual of luminance (x − Gaussian(x, 1 px)), clipped at ±CLIP so that
picture edges count little. Its local variance comes from the known pixels within 15 px (31 or 63 px
for holes too wide for that). What already shows through a semi-transparent defect (the residual of
the damaged pixels inside the hole, without the defect's own edges) is subtracted, so such a defect
gets little or no extra grain. The noise is luminance-only, high-passed the same way, and a fixed
function of the absolute pixel position.

Everything at a pixel depends only on the image within MARGIN px of it, so a repair is reproducible
and the same whether an image is processed whole, band by band or split into dask chunks.
"""
from __future__ import annotations

import cv2
import numpy as np

RADII = (15, 31, 63)    # px: windows for the local grain estimate, wider ones only for wide holes
THROUGH_RADIUS = 3      # px: window for the grain that already shows through a pixel of the hole
MIN_KNOWN = 0.2         # share of a window that must be known for its estimate to count
CLIP = 0.08             # residuals beyond this are edges, not grain
HIGHPASS_SIGMA = 1.0
CELL = 64               # noise is drawn in CELL×CELL cells seeded by their grid position
MARGIN = RADII[-1] + 8  # context (px) the result at a pixel depends on


def _highpass(x: np.ndarray) -> np.ndarray:
    return x - cv2.GaussianBlur(x, (0, 0), HIGHPASS_SIGMA, borderType=cv2.BORDER_REFLECT)


def _noise_std() -> float:
    """Standard deviation of high-passed unit white noise (the kernel's norm), to make the grain
    unit."""
    delta = np.zeros((33, 33))
    delta[16, 16] = 1.0
    return float(np.sqrt((_highpass(delta) ** 2).sum()))


_NOISE_STD = _noise_std()


def noise(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """Unit-variance high-passed noise at absolute rows y0:y1, columns x0:x1 (float64)."""
    pad = 8
    cy0, cy1 = (y0 - pad) // CELL, (y1 + pad - 1) // CELL + 1
    cx0, cx1 = (x0 - pad) // CELL, (x1 + pad - 1) // CELL + 1
    field = np.empty(((cy1 - cy0) * CELL, (cx1 - cx0) * CELL))
    for cy in range(cy0, cy1):
        for cx in range(cx0, cx1):
            rng = np.random.default_rng([0x6752, cy & 0xFFFFFFFF, cx & 0xFFFFFFFF])
            ty, tx = (cy - cy0) * CELL, (cx - cx0) * CELL
            field[ty:ty + CELL, tx:tx + CELL] = rng.standard_normal((CELL, CELL))
    oy, ox = y0 - cy0 * CELL, x0 - cx0 * CELL
    window = field[oy - pad:oy + (y1 - y0) + pad, ox - pad:ox + (x1 - x0) + pad]
    return _highpass(window)[pad:-pad, pad:-pad] / _NOISE_STD


def _local_mean(values: np.ndarray, weight: np.ndarray,
                radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean over a (2r+1)² window, and the share of the window that has weight."""
    k = (2 * radius + 1,) * 2
    num = cv2.boxFilter(values * weight, -1, k, normalize=True, borderType=cv2.BORDER_REFLECT)
    den = cv2.boxFilter(weight, -1, k, normalize=True, borderType=cv2.BORDER_REFLECT)
    return num / np.maximum(den, 1e-9), den


def amplitude(luma: np.ndarray, hole: np.ndarray, see_through: bool = True) -> np.ndarray:
    """Standard deviation of grain missing at each pixel of `hole`, from the damaged luminance
    around it. `see_through=False`: the fill did not use the hole's own pixels (Telea, fill mode),
    so all is missing."""
    raw = _highpass(luma.astype(np.float64))
    sq = np.square(np.clip(raw, -CLIP, CLIP))
    known = (~hole).astype(np.float64)
    variance = np.zeros(hole.shape)
    missing = hole.copy()  # hole pixels without an estimate yet
    # the narrowest window with enough known pixels wins; wider ones only where needed
    for radius in RADII:
        v, share = _local_mean(sq, known, radius)
        use = missing & (share >= (MIN_KNOWN if radius != RADII[-1] else 1e-6))
        np.copyto(variance, v, where=use)
        missing &= ~use
        if not missing.any():
            break
    # box filters' rounding leaves -1e-10 where all is flat
    np.clip(variance, 0.0, None, out=variance)
    if not see_through:
        return np.sqrt(variance)
    # grain that already shows through, pixel by pixel (the hole includes a margin of intact picture
    # around the defect); residuals beyond 3 sigma of the surrounding grain are the defect's own
    # edges
    raw *= raw
    inlier = (1.0 - known) * (raw <= 9.0 * variance)
    shows_through, _ = _local_mean(raw * inlier, inlier, THROUGH_RADIUS)
    return np.sqrt(np.clip(variance - shows_through, 0.0, None))


def grain(luma: np.ndarray, hole: np.ndarray, y0: int, x0: int,
          see_through: bool = True) -> np.ndarray:
    """Grain (float64, HxW, zero outside `hole`) to add to a fill whose damaged luminance is `luma`;
    (y0, x0) is the absolute position of luma[0, 0]."""
    h, w = hole.shape
    out = amplitude(luma, hole, see_through) * noise(y0, y0 + h, x0, x0 + w)
    out[~hole] = 0.0
    return out

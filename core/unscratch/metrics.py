"""Image-quality numbers for a restoration: PSNR and SSIM, over the whole image or inside/outside a
mask; and, with no reference, how a fill's border and grain compare with the picture around it
(`seam_ratio`, `grain_ratio`: fill mode's texture synthesis, benchmarks/fill_texture.py).

Used by the napari metrics readout and by anyone scoring a restoration against a clean reference.
numpy and OpenCV only.

Conventions
- Images are HxW (gray) or HxWxC. With C = 4 the alpha plane is ignored (restoration never touches
  it), so an RGBA pair is scored on its RGB planes.
- `data_range` (the distance from black to white) defaults to the reference's dtype: 255 for uint8,
  65535 for uint16, the integer maximum for other unsigned/signed integers, and 1.0 for float (the
  project keeps float images in [0, 1]). All arithmetic is in float64.
- PSNR = 10·log10(data_range² / MSE), MSE averaged over every colour sample of the pixels selected.
  Identical pixels give +inf; an empty selection gives nan.
- SSIM is Wang, Bovik, Sheikh & Simoncelli (2004) with their standard settings: an 11x11 Gaussian
  window of σ = 1.5 (normalised, truncated at 3.5σ, i.e. radius 5), K1 = 0.01, K2 = 0.03, population
  (not sample) covariances. The local statistics are computed with mirror ("reflect", edge sample
  repeated: dcba|abcd) borders, so the map has the image's size. The SSIM of a colour image is the
  mean over its colour planes of each plane's SSIM map. Over the whole image these settings give the
  same map as `skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=...)` (skimage then averages it after cropping a 5-pixel
  border; `ssim` here averages the full map, or the masked part of it).
- Inside/outside a mask: SSIM is computed once on the whole image and its map averaged over the
  mask's pixels (or the others). The windows of pixels near the mask edge also see the pixels across
  it; that is the usual definition of a masked SSIM and keeps it comparable with the unmasked value.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from .errors import InputError

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # int(3.5 * 1.5 + 0.5): 11x11 window
SSIM_K1, SSIM_K2 = 0.01, 0.03

__all__ = ["data_range_for", "psnr", "ssim", "ssim_map", "compare", "seam_ratio", "grain_ratio"]


def data_range_for(dtype) -> float:
    """Black-to-white distance for images of this dtype (float images are in [0, 1])."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        return float(np.iinfo(dtype).max)
    if dtype.kind == "b":
        return 1.0
    if dtype.kind == "f":
        return 1.0
    raise InputError(f"dtype {dtype} is not an image dtype")


def _colour_planes(name: str, image) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or 0 in arr.shape[:2]:
        raise InputError(f"{name}: expected HxW, HxWx1, HxWx3 or HxWx4, got shape {arr.shape}")
    if arr.dtype.kind not in "uifb":
        raise InputError(f"{name}: dtype {arr.dtype} is not numeric")
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return arr


def _pair(reference, image, data_range):
    ref = _colour_planes("reference", reference)
    img = _colour_planes("image", image)
    if ref.shape != img.shape:
        raise InputError(f"image: shape {np.shape(image)} does not match the reference's "
                         f"{np.shape(reference)}")
    if data_range is None:
        data_range = data_range_for(ref.dtype)
    data_range = float(data_range)
    if not data_range > 0:
        raise InputError(f"data_range: {data_range} must be positive")
    ref = ref.astype(np.float64)
    img = img.astype(np.float64)
    if not (np.isfinite(ref).all() and np.isfinite(img).all()):
        raise InputError("reference or image contains NaN or infinite values")
    return ref, img, data_range


def _mask_plane(mask, shape) -> np.ndarray | None:
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[:, :, 0]
    if m.shape != tuple(shape):
        raise InputError(f"mask: shape {m.shape} does not match the image's {tuple(shape)}")
    return m > 0


def _psnr_from(sq_err: np.ndarray, data_range: float, where: np.ndarray | None) -> float:
    """PSNR from per-pixel squared errors summed over colour planes (HxW) and the plane count baked
    in."""
    values = sq_err if where is None else sq_err[where]
    if values.size == 0:
        return float("nan")
    mse = float(values.mean())
    if mse == 0.0:
        return float("inf")
    return 10.0 * math.log10(data_range * data_range / mse)


def psnr(reference, image, mask=None, *, data_range: float | None = None) -> float:
    """PSNR in dB of `image` against `reference` over the pixels where `mask` is true (all when
    None)."""
    ref, img, data_range = _pair(reference, image, data_range)
    where = _mask_plane(mask, ref.shape[:2])
    sq = ((img - ref) ** 2).mean(axis=2)
    return _psnr_from(sq, data_range, where)


def ssim_map(reference, image, *, data_range: float | None = None) -> np.ndarray:
    """Per-pixel SSIM (float64 HxW, mean over colour planes) with the standard Gaussian window."""
    ref, img, data_range = _pair(reference, image, data_range)
    return _ssim_map(ref, img, data_range)


def _ssim_map(ref: np.ndarray, img: np.ndarray, data_range: float) -> np.ndarray:
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    k = 2 * SSIM_RADIUS + 1

    def blur(a):
        return cv2.GaussianBlur(a, (k, k), SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)

    total = np.zeros(ref.shape[:2], np.float64)
    for c in range(ref.shape[2]):
        x = np.ascontiguousarray(ref[:, :, c])
        y = np.ascontiguousarray(img[:, :, c])
        mx, my = blur(x), blur(y)
        vx = blur(x * x) - mx * mx
        vy = blur(y * y) - my * my
        cxy = blur(x * y) - mx * my
        num = (2 * mx * my + c1) * (2 * cxy + c2)
        den = (mx * mx + my * my + c1) * (vx + vy + c2)
        total += num / den
    return total / ref.shape[2]


def ssim(reference, image, mask=None, *, data_range: float | None = None) -> float:
    """Mean SSIM of `image` against `reference` over the pixels where `mask` is true (all when
    None)."""
    smap = ssim_map(reference, image, data_range=data_range)
    where = _mask_plane(mask, smap.shape)
    values = smap if where is None else smap[where]
    return float(values.mean()) if values.size else float("nan")


def compare(reference, image, mask=None, *, data_range: float | None = None) -> dict:
    """PSNR and SSIM over the whole image and, given a mask, inside and outside it.

    Returns {"psnr", "ssim", "pixels"} and, with a mask, also {"psnr_inside", "psnr_outside",
    "ssim_inside", "ssim_outside", "pixels_inside", "pixels_outside"}; values that have no pixels to
    average over are nan, PSNR of identical pixels is inf.
    """
    ref, img, data_range = _pair(reference, image, data_range)
    where = _mask_plane(mask, ref.shape[:2])
    sq = ((img - ref) ** 2).mean(axis=2)
    smap = _ssim_map(ref, img, data_range)
    out = {"psnr": _psnr_from(sq, data_range, None), "ssim": float(smap.mean()),
           "pixels": int(sq.size), "data_range": data_range}
    if where is not None:
        outside = ~where
        n_in = int(where.sum())
        out.update({
            "psnr_inside": _psnr_from(sq, data_range, where),
            "psnr_outside": _psnr_from(sq, data_range, outside),
            "ssim_inside": float(smap[where].mean()) if n_in else float("nan"),
            "ssim_outside": float(smap[outside].mean()) if n_in < sq.size else float("nan"),
            "pixels_inside": n_in,
            "pixels_outside": int(sq.size) - n_in,
        })
    return out


# ---------------------------------------------------------------------- a fill, without reference
def _luma(img: np.ndarray) -> np.ndarray:
    f = img.astype(np.float64)
    if img.dtype.kind == "u":
        f /= np.iinfo(img.dtype).max
    return f[:, :, :3].mean(axis=2) if f.ndim == 3 else f  # alpha is not picture


def _crossing(lum: np.ndarray, region: np.ndarray) -> np.ndarray:
    """|differences| of the 4-neighbour pairs with one pixel in `region` and one outside."""
    return np.concatenate([np.abs(lum[1:] - lum[:-1])[region[1:] != region[:-1]],
                           np.abs(lum[:, 1:] - lum[:, :-1])[region[:, 1:] != region[:, :-1]]])


def _grow(mask: np.ndarray, r: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)
    return cv2.dilate(mask.astype(np.uint8), k) > 0


def seam_ratio(img: np.ndarray, hole: np.ndarray) -> float:
    """Border gradient ratio of a fill: mean |luminance difference| of the 4-neighbour pairs that
    cross the hole's border, over the same for pairs crossing contours 4, 6 and 8 px outside it
    (intact picture). 1: no seam; below 1 a fill smoother than its surroundings, above a step."""
    lum = _luma(img)
    border = _crossing(lum, hole).mean()
    intact = np.concatenate([_crossing(lum, _grow(hole, d)) for d in (4, 6, 8)]).mean()
    return float(border / max(intact, 1e-12))


def grain_ratio(img: np.ndarray, hole: np.ndarray) -> float:
    """Std of the luminance's high-pass (x − Gaussian(x, 1 px), clipped at ±0.08 as unscratch.grain
    does) inside the hole, 2 px in from its border, over the same in the ring 3–24 px outside it."""
    lum = _luma(img)
    hp = np.clip(lum - cv2.GaussianBlur(lum, (0, 0), 1.0), -0.08, 0.08)
    inside = ~_grow(~hole, 2)
    ring = _grow(hole, 24) & ~_grow(hole, 3)
    return float(hp[inside].std() / max(hp[ring].std(), 1e-12))

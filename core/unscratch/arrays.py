"""Image conventions shared by every entry point.

Images are HxW, HxWx1, HxWx3 or HxWx4 numpy arrays of uint8, uint16 or float32 in [0, 1].
Networks and classical methods see float32 colour planes; alpha is split off and never
touched. Conversions here are exact inverses for integer data, so pixels we do not repair
round-trip bit-identically.
"""
from __future__ import annotations

import os

import numpy as np

from .errors import InputError

SUPPORTED_DTYPES = (np.uint8, np.uint16, np.float32)
SUPPORTED_CHANNELS = (1, 3, 4)


def is_lazy(image) -> bool:
    """An array-like that computes or loads blocks on demand (dask, zarr, h5py …), not an
    ndarray."""
    return not isinstance(image, np.ndarray) and all(
        hasattr(image, a) for a in ("shape", "dtype", "ndim", "__getitem__"))


def check_image(image, name: str = "image", *, lazy_ok: bool = False) -> np.ndarray:
    """Return `image` as an ndarray after checking it follows the conventions, or raise InputError.

    With `lazy_ok`, a lazy array-like is returned as it is, checked by shape and dtype only, so
    that a huge dask or zarr image is never read whole; its blocks are checked as they are read
    (`read_block`).
    """
    if image is None:
        raise InputError(f"{name}: no image given")
    _check_array_like(image, name, "an image array")
    arr = image if lazy_ok and is_lazy(image) else np.asarray(image)
    shape, dtype = tuple(int(s) for s in arr.shape), np.dtype(arr.dtype)
    if len(shape) not in (2, 3):
        raise InputError(f"{name}: expected HxW, HxWx1, HxWx3 or HxWx4, got an array of shape "
                         f"{shape} ({len(shape)} dimensions)")
    if len(shape) == 3 and shape[2] not in SUPPORTED_CHANNELS:
        raise InputError(f"{name}: {shape[2]} channels is not supported; expected 1 (gray), "
                         "3 (RGB) or 4 (RGBA)")
    if shape[0] == 0 or shape[1] == 0:
        raise InputError(f"{name}: the image is empty (shape {shape})")
    if dtype == np.float64:
        raise InputError(f"{name}: dtype float64 is not supported; convert to float32 in [0, 1]")
    if dtype.type not in SUPPORTED_DTYPES:
        raise InputError(f"{name}: dtype {dtype} is not supported; expected uint8, uint16 or "
                         "float32 in [0, 1]")
    if isinstance(arr, np.ndarray):
        _check_finite(arr, name)
    return arr


def _check_array_like(value, name: str, expected: str) -> None:
    """Refuse what is no array at all (a path, a number, None) with its type, before numpy would
    turn it into an array of shape ()."""
    if isinstance(value, (np.ndarray, list, tuple)) or is_lazy(value) \
            or hasattr(value, "__array__") or hasattr(value, "__array_interface__"):
        return
    said = f" {value!r}" if isinstance(value, (str, bytes, os.PathLike)) else ""
    hint = "; read the file first (unscratch.io.read)" if said else ""
    raise InputError(f"{name}: expected {expected}, got {type(value).__name__}{said}{hint}")


def _check_finite(block: np.ndarray, name: str, where: str = "") -> None:
    """NaN, infinities and float samples outside 0-1 are refused, with the same words for a file
    (the CLI), an array (the API) and a lazy array's block."""
    if block.dtype != np.float32 or block.size == 0:
        return
    if not np.isfinite(block).all():
        raise InputError(f"{name}: contains NaN or infinite values{where}")
    problem = float_range_problem(float(block.min()), float(block.max()))
    if problem:
        raise InputError(f"{name}: {problem}{where}")


FLOAT_SLACK = 0.01  # float samples within [-0.01, 1.01] are 0-1 data (rounding aside)


def float_range_problem(low: float, high: float) -> str | None:
    """What is wrong with float samples ranging low..high, or None when they are 0-1 data: the
    core reads float as 0-1 (1 = white); a range that reaches far past 1 was meant as 0-255 or
    0-65535, one slightly outside 0-1 (an over- or undershoot, e.g. 0-1.5 or -0.2-0.8) is said as
    such."""
    if low >= -FLOAT_SLACK and high <= 1 + FLOAT_SLACK:
        return None
    if high > 2:
        scale = "0-255" if high <= 255.5 else "0-65535" if high <= 65535.5 else "another range"
        said = f"these look like {scale}; scale them to 0-1"
    else:
        side = " and ".join(s for s, out in (("below 0", low < -FLOAT_SLACK),
                                             ("above 1", high > 1 + FLOAT_SLACK)) if out)
        said = f"these go {side}, out of 0-1; clip or rescale them to 0-1"
    return (f"float samples range {low:g} to {high:g}; unscratch reads float images as 0-1 "
            f"(1 = white) and {said}, or use 8- or 16-bit integers")


def read_block(image, y0: int, y1: int, x0: int, x1: int, name: str = "image",
               all_planes: bool = False) -> np.ndarray:
    """Colour planes (HxWxC, alpha excluded unless `all_planes`) of image[y0:y1, x0:x1] as an
    ndarray: a view for numpy; for a lazy image only this block is computed, and checked as
    check_image would have."""
    if isinstance(image, np.ndarray):
        block = image[y0:y1, x0:x1]
    else:
        block = np.asarray(image[y0:y1, x0:x1])
        _check_finite(block, name, f" (rows {y0}–{y1}, columns {x0}–{x1})")
    return block if all_planes else colour_planes(block)


def max_value(dtype) -> float:
    """The value that means 'white' for this dtype."""
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).max) if dtype.kind == "u" else 1.0


def channels(image: np.ndarray) -> int:
    return 1 if image.ndim == 2 else image.shape[2]


def colour_planes(image: np.ndarray) -> np.ndarray:
    """View of the colour planes as HxWxC (C = 1 or 3), alpha excluded, no copy."""
    if image.ndim == 2:
        return image[:, :, None]
    return image[:, :, :3] if image.shape[2] == 4 else image


def to_float(block: np.ndarray) -> np.ndarray:
    """float32 in [0, 1] from any supported dtype (float input is clipped, not rescaled)."""
    if block.dtype == np.float32:
        return np.clip(block, 0.0, 1.0)
    return block.astype(np.float32) / np.float32(max_value(block.dtype))


def from_float(block: np.ndarray, dtype) -> np.ndarray:
    """Inverse of to_float for a float32 block, rounding to the nearest integer level."""
    dtype = np.dtype(dtype)
    block = np.clip(block, 0.0, 1.0)
    if dtype == np.float32:
        return block.astype(np.float32)
    return np.rint(block * max_value(dtype)).astype(dtype)


def to_rgb_float(block: np.ndarray) -> np.ndarray:
    """HxWx3 float32 from a colour block of 1 or 3 planes (gray is replicated)."""
    f = to_float(block)
    if f.ndim == 2:
        f = f[:, :, None]
    return np.repeat(f, 3, axis=2) if f.shape[2] == 1 else f


def check_plane(plane, shape: tuple[int, int], name: str) -> np.ndarray:
    """A region or mask must be HxW (or HxWx1) matching the image, finite, and
    bool/uint8/uint16/float."""
    _check_array_like(plane, name, "an HxW array")
    arr = np.asarray(plane)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim != 2 or arr.shape != tuple(shape):
        raise InputError(f"{name}: shape {arr.shape} does not match the image's {tuple(shape)}")
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise InputError(f"{name}: contains NaN or infinite values")
        return arr.astype(np.float32, copy=False)
    if arr.dtype in (np.uint8, np.uint16):
        return arr
    raise InputError(f"{name}: dtype {arr.dtype} is not supported; expected bool, uint8, uint16 "
                     "or float in [0, 1]")


def plane_weight(plane: np.ndarray) -> np.ndarray:
    """Soft weight in [0, 1] (float32) from a bool/uint8/uint16/float plane."""
    if plane.dtype == bool:
        return plane.astype(np.float32)
    if plane.dtype.kind == "u":
        return plane.astype(np.float32) / np.float32(np.iinfo(plane.dtype).max)
    return np.clip(plane, 0.0, 1.0).astype(np.float32, copy=False)


def region_weight(region, shape: tuple[int, int], name: str = "region") -> np.ndarray | None:
    """A region (a selection) checked against the image's (H, W) as a soft weight in [0, 1]; None,
    meaning 'everywhere', stays None."""
    if region is None:
        return None
    return plane_weight(check_plane(region, shape, name))


def bbox(plane: np.ndarray) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) of the nonzero pixels (end-exclusive), or None when there are none."""
    rows = np.flatnonzero(plane.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(plane.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1

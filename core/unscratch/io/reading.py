"""Reading image files: `read`, `read_with_info` (pixels and what the file carries beside them) and
`read_plane` (a mask or selection file as one plane)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import InputError
from .metadata import (
    PNG_SIG,
    ImageInfo,
    LossWarning,
    exif_upright,
    jpeg_info,
    jpeg_size,
    png_frames,
    png_info,
    png_size,
)
from .pixels import check_size, decode_quietly, normalise, oriented, suffix_of
from .tiff import TIFF_SUFFIXES, read_tiff


def read(path) -> np.ndarray:
    """Pixels of an image file as uint8, uint16 or float32 (gray HxW, RGB or RGBA), colour order
    RGB."""
    return read_with_info(path)[0]


def read_with_info(path) -> tuple[np.ndarray, ImageInfo]:
    """(pixels as `read` gives them, upright; the file's ImageInfo). What is left unread (a TIFF's
    other pages, an animated PNG's other frames) is said with a LossWarning."""
    path = Path(path)
    suffix = suffix_of(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an image file")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    # tifffile reads the file itself: reading its bytes here too doubled the I/O
    if suffix in TIFF_SUFFIXES:
        image, info = read_tiff(path)
        return normalise(image, path), info
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    size = png_size(data) if data.startswith(PNG_SIG) else jpeg_size(data)
    if size is not None:
        check_size(path, *size)
    image, chatter = decode_quietly(data)
    if image is None:
        why = f": {chatter}" if chatter else ""
        raise InputError(f"{path}: not a readable {suffix[1:].upper()} file (corrupt or "
                         f"truncated{why})")
    info = png_info(data) if suffix == ".png" else jpeg_info(data)
    info.orientation, info.exif = exif_upright(info.exif)
    frames = png_frames(data) if data.startswith(PNG_SIG) else 1
    image = normalise(oriented(image, info.orientation), path)
    if frames > 1:
        warnings.warn(f"{path}: is an animated PNG of {frames} frames; only the first is used",
                      LossWarning, stacklevel=2)
    return image, info


def read_plane(path, shape, what: str, *, orientation: int = 1) -> np.ndarray:
    """A mask or selection file as a `shape` plane. Nonzero means selected, in any colour: a
    gray file's samples, an RGB file's brightest channel (a stroke painted pure green or red counts
    as much as white), an RGBA file's alpha where it varies (strokes on a transparent layer), else
    its brightest colour channel. `orientation`: the image's orientation flag, named when the plane
    has the image's stored, sideways size."""
    plane = read(path)
    if plane.ndim == 3:
        alpha = plane[:, :, 3] if plane.shape[2] == 4 else None
        if alpha is not None and alpha.min() != alpha.max():
            plane = alpha
        else:
            plane = plane[:, :, :3].max(axis=2)
    if plane.shape != tuple(shape):
        size = f"{what} is {plane.shape[1]}x{plane.shape[0]} but the image is {shape[1]}x{shape[0]}"
        if orientation >= 5 and plane.shape == tuple(shape)[::-1]:
            raise InputError(f"{path}: {size} as shown upright: the photo's orientation flag "
                             f"(EXIF orientation {orientation}) turns its stored, sideways pixels, "
                             f"as viewers and editors do; draw the {what} on the upright photo")
        raise InputError(f"{path}: {size}")
    return plane

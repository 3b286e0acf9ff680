"""A JPEG restored from a JPEG, re-encoded block-wise: the source's compressed blocks are kept
wherever the pixels did not change (needs jpeglib; without it the whole image is encoded)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .metadata import (
    JPEG_SUFFIXES,
    ImageInfo,
    exif_upright,
    jpeg_add_info,
    jpeg_info,
    without_app_segments,
)
from .pixels import decode_quietly


def jpeg_blockwise(image: np.ndarray, source: Path, info: ImageInfo) -> bytes | None:
    """A JPEG that keeps `source`'s compressed blocks wherever `image` equals the decoded source and
    re-encodes, with the source's quantisation and chroma sampling, only the MCUs (8-16 px blocks)
    that differ. Re-encoding the whole picture would cost every pixel a JPEG generation; this way
    every pixel more than 2 px (the decoder's chroma upsampling) from a changed MCU decodes exactly
    as the source did.

    None when this cannot be done, and the caller encodes the whole image: no jpeglib (it has no
    wheels for Linux on ARM), a source that is not an upright 8-bit YCbCr or gray JPEG of the same
    size, or an image that is not 8-bit. The plain encoder is always correct; this only saves
    quality."""
    try:
        import jpeglib
    except ImportError:
        return None
    if (image.dtype != np.uint8 or source.suffix.lower() not in JPEG_SUFFIXES
            or not source.is_file()):
        return None
    pixels = image[:, :, :3] if image.ndim == 3 else image  # JPEG has no alpha
    try:
        data = source.read_bytes()
        if exif_upright(jpeg_info(data).exif)[0] != 1:
            return None  # stored sideways: the upright image's blocks are not the source's
        before = decode_quietly(data)[0]
        if before is None or before.shape != pixels.shape:
            return None
        changed = pixels != before if pixels.ndim == 2 else (pixels != before).any(axis=2)
        with tempfile.TemporaryDirectory() as tmp:
            kept = jpeglib.read_dct(str(source))
            if kept.num_components != (1 if pixels.ndim == 2 else 3):
                return None
            if changed.any():
                fresh = jpeglib.from_spatial(pixels if pixels.ndim == 3 else pixels[:, :, None])
                fresh.samp_factor = kept.samp_factor
                fresh.write_spatial(f"{tmp}/fresh.jpg", qt=kept.qt, quant_tbl_no=kept.quant_tbl_no)
                new = jpeglib.read_dct(f"{tmp}/fresh.jpg")
                # (vertical, horizontal) per component
                factors = np.asarray(kept.samp_factor).reshape(-1, 2)
                mcu_h, mcu_w = 8 * factors[:, 0].max(), 8 * factors[:, 1].max()
                rows, cols = -(-changed.shape[0] // mcu_h), -(-changed.shape[1] // mcu_w)
                grid = np.zeros((rows * mcu_h, cols * mcu_w), bool)
                grid[:changed.shape[0], :changed.shape[1]] = changed
                touched = grid.reshape(rows, mcu_h, cols, mcu_w).any(axis=(1, 3))
                for name, (v, h) in zip(("Y", "Cb", "Cr"), factors):
                    keep, fix = getattr(kept, name), getattr(new, name)
                    blocks = np.repeat(np.repeat(touched, v, 0), h, 1)
                    blocks = blocks[:keep.shape[0], :keep.shape[1]]
                    keep[blocks] = fix[blocks]
            kept.write_dct(f"{tmp}/out.jpg")
            merged = Path(f"{tmp}/out.jpg").read_bytes()
    # libjpeg rejects exotic files (arithmetic coding, 12-bit) in many ways
    except Exception:  # noqa: BLE001
        return None
    return jpeg_add_info(without_app_segments(merged), info)

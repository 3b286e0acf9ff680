"""Read and write PNG, JPEG and TIFF at full precision, atomically, keeping ICC and resolution.

OpenCV does the pixel coding for PNG and JPEG; the ICC profile (iCCP / APP2) and resolution
(pHYs / JFIF density) chunks are carried across by hand because OpenCV drops them. TIFF goes
through tifffile, which keeps 16-bit and float samples. Every write goes to a temporary file in
the destination folder and is renamed into place, so an interrupted write leaves nothing behind.
"""
from __future__ import annotations

import os
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import tifffile

from .arrays import check_image
from .errors import InputError

PNG_SIG = b"\x89PNG\r\n\x1a\n"
READABLE = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}


@dataclass
class ImageInfo:
    """What a file says beside its pixels that a faithful copy must keep."""
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    extra: dict = field(default_factory=dict)


def _suffix(path: Path) -> str:
    s = path.suffix.lower()
    if s not in READABLE:
        raise InputError(f"{path}: unsupported file type '{path.suffix}'; use .png, .jpg, .jpeg, .tif or .tiff")
    return s


def read(path) -> np.ndarray:
    """Pixels of an image file as uint8, uint16 or float32 (gray HxW, RGB or RGBA), colour order RGB."""
    return read_with_info(path)[0]


def read_with_info(path) -> tuple[np.ndarray, ImageInfo]:
    path = Path(path)
    suffix = _suffix(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    if suffix in (".tif", ".tiff"):
        image, info = _read_tiff(path)
    else:
        buf = np.frombuffer(data, np.uint8)
        image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
        if image is None:
            raise InputError(f"{path}: not a readable {suffix[1:].upper()} file (corrupt or truncated)")
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
        info = _png_info(data) if suffix == ".png" else _jpeg_info(data)
    return _normalise(image, path), info


def _normalise(image: np.ndarray, path: Path) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 2:  # gray + alpha: widen to RGBA, our conventions have no GA
        image = np.dstack([image[:, :, 0]] * 3 + [image[:, :, 1]])
    if image.dtype in (np.float64, np.float16):
        image = image.astype(np.float32)
    elif image.dtype == np.int16:
        raise InputError(f"{path}: signed 16-bit samples are not supported")
    elif image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.dtype == np.float32:
        finite = np.isfinite(image)
        if not finite.all():
            raise InputError(f"{path}: contains NaN or infinite samples")
    try:
        return check_image(image, str(path))
    except InputError:
        raise


def _read_tiff(path: Path) -> tuple[np.ndarray, ImageInfo]:
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            image = page.asarray()
            info = ImageInfo()
            tags = page.tags
            if "InterColorProfile" in tags:
                info.icc_profile = bytes(tags["InterColorProfile"].value)
            if "XResolution" in tags and "YResolution" in tags:
                def ratio(v):
                    return v[0] / v[1] if isinstance(v, tuple) else float(v)
                unit = tags["ResolutionUnit"].value if "ResolutionUnit" in tags else 2
                scale = 2.54 if int(unit) == 3 else 1.0
                info.dpi = (ratio(tags["XResolution"].value) * scale, ratio(tags["YResolution"].value) * scale)
            if page.photometric == tifffile.PHOTOMETRIC.MINISWHITE:
                image = np.iinfo(image.dtype).max - image if image.dtype.kind == "u" else 1.0 - image
    except InputError:
        raise
    except Exception as exc:  # tifffile raises many types for broken files
        raise InputError(f"{path}: not a readable TIFF file ({exc})") from None
    if image.ndim == 3 and image.shape[0] in (1, 3, 4) and image.shape[2] not in (1, 3, 4):
        image = np.moveaxis(image, 0, -1)  # planar configuration
    if image.ndim != 2 and image.ndim != 3:
        raise InputError(f"{path}: TIFF with shape {image.shape} is not a single 2-D image")
    return image, info


def write(path, image, *, info: ImageInfo | None = None, source=None, overwrite_source: bool = False,
          jpeg_quality: int = 95) -> Path:
    """Write `image` to `path` atomically; refuse to replace `source` unless `overwrite_source`.

    PNG keeps 8/16-bit; float data is written to PNG as 16-bit. JPEG is 8-bit only (wider data is
    rounded). TIFF keeps uint8, uint16 and float32.
    """
    path = Path(path)
    suffix = _suffix(path)
    image = check_image(image, "image to write")
    if source is not None and not overwrite_source and _same_file(path, Path(source)):
        raise InputError(f"{path}: refusing to overwrite the input image; choose another output path")
    if not path.parent.is_dir():
        raise InputError(f"{path}: output folder {path.parent} does not exist")
    info = info or ImageInfo()
    if suffix in (".tif", ".tiff"):
        write_atomically(path, lambda tmp: _write_tiff(tmp, image, info))
        return path
    data = _encode(image, suffix, info, jpeg_quality)
    write_atomically(path, lambda tmp: tmp.write_bytes(data))
    return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def write_atomically(path: Path, write_tmp) -> None:
    """`write_tmp(tmp)` writes a temporary file beside `path`, which then replaces `path` in one step: a
    crash leaves the old file or the new one, never half of one."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write_tmp(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _encode(image: np.ndarray, suffix: str, info: ImageInfo, jpeg_quality: int) -> bytes:
    if suffix == ".png":
        if image.dtype == np.float32:
            image = np.rint(np.clip(image, 0, 1) * 65535).astype(np.uint16)
        ok, buf = cv2.imencode(".png", _to_bgr(image))
        data = _png_add_info(buf.tobytes(), info) if ok else None
    else:
        if image.dtype != np.uint8:
            image = np.rint(np.clip(image.astype(np.float32) / (65535.0 if image.dtype == np.uint16 else 1.0), 0, 1) * 255).astype(np.uint8)
        if image.ndim == 3 and image.shape[2] == 4:
            image = image[:, :, :3]  # JPEG has no alpha
        ok, buf = cv2.imencode(".jpg", _to_bgr(image), [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        data = _jpeg_add_info(buf.tobytes(), info) if ok else None
    if data is None:
        raise InputError(f"cannot encode an image of shape {image.shape} and dtype {image.dtype} as {suffix}")
    return data


def _to_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    return image


def _write_tiff(tmp: Path, image: np.ndarray, info: ImageInfo) -> None:
    extratags = []
    if info.icc_profile:
        extratags.append((34675, 7, len(info.icc_profile), info.icc_profile, True))
    kwargs = {}
    if info.dpi:
        kwargs = dict(resolution=(float(info.dpi[0]), float(info.dpi[1])), resolutionunit="INCH")
    photometric = "minisblack" if image.ndim == 2 or image.shape[2] == 1 else "rgb"
    extrasamples = ("unassalpha",) if image.ndim == 3 and image.shape[2] == 4 else None
    tifffile.imwrite(tmp, image, photometric=photometric, extrasamples=extrasamples, extratags=extratags,
                     compression="zlib", metadata=None, **kwargs)


# --- PNG chunks --------------------------------------------------------------------------------
def _png_chunks(data: bytes):
    pos = 8
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        yield ctype, data[pos + 8:pos + 8 + length], pos, pos + 12 + length
        pos += 12 + length


def _png_info(data: bytes) -> ImageInfo:
    info = ImageInfo()
    if not data.startswith(PNG_SIG):
        return info
    for ctype, body, _, _ in _png_chunks(data):
        if ctype == b"iCCP":
            try:
                name_end = body.index(b"\0")
                info.icc_profile = zlib.decompress(body[name_end + 2:])
            except (ValueError, zlib.error):
                pass
        elif ctype == b"pHYs" and len(body) == 9:
            px, py, unit = struct.unpack(">IIB", body)
            if unit == 1:
                info.dpi = (px * 0.0254, py * 0.0254)
    return info


def _png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)


def _png_add_info(data: bytes, info: ImageInfo) -> bytes:
    extra = b""
    if info.icc_profile:
        extra += _png_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(info.icc_profile))
    if info.dpi:
        extra += _png_chunk(b"pHYs", struct.pack(">IIB", round(info.dpi[0] / 0.0254), round(info.dpi[1] / 0.0254), 1))
    if not extra:
        return data
    ihdr_end = 8 + 12 + 13
    return data[:ihdr_end] + extra + data[ihdr_end:]


# --- JPEG segments -----------------------------------------------------------------------------
def _jpeg_segments(data: bytes):
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: no more header segments
            return
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        yield marker, data[pos + 4:pos + 2 + length], pos, pos + 2 + length
        pos += 2 + length


def _jpeg_info(data: bytes) -> ImageInfo:
    info = ImageInfo()
    icc_parts = {}
    for marker, body, _, _ in _jpeg_segments(data):
        if marker == 0xE2 and body.startswith(b"ICC_PROFILE\0"):
            icc_parts[body[12]] = body[14:]
        elif marker == 0xE0 and body.startswith(b"JFIF\0") and len(body) >= 12:
            unit, xd, yd = struct.unpack(">BHH", body[7:12])
            if unit in (1, 2) and xd and yd:
                scale = 2.54 if unit == 2 else 1.0
                info.dpi = (xd * scale, yd * scale)
    if icc_parts:
        info.icc_profile = b"".join(icc_parts[k] for k in sorted(icc_parts))
    return info


def _jpeg_add_info(data: bytes, info: ImageInfo) -> bytes:
    segments = list(_jpeg_segments(data))
    out_head = bytearray(data[:2])
    rest_start = 2
    if segments and segments[0][0] == 0xE0:  # keep JFIF first, with our density
        _, body, start, end = segments[0]
        body = bytearray(body)
        if info.dpi and body.startswith(b"JFIF\0") and len(body) >= 12:
            body[7:12] = struct.pack(">BHH", 1, round(info.dpi[0]), round(info.dpi[1]))
        out_head += b"\xff\xe0" + struct.pack(">H", len(body) + 2) + body
        rest_start = end
    if info.icc_profile:
        chunk = 65519
        parts = [info.icc_profile[i:i + chunk] for i in range(0, len(info.icc_profile), chunk)]
        for i, part in enumerate(parts):
            body = b"ICC_PROFILE\0" + bytes([i + 1, len(parts)]) + part
            out_head += b"\xff\xe2" + struct.pack(">H", len(body) + 2) + body
    return bytes(out_head) + data[rest_start:]

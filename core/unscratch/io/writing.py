"""Writing image files: `write` (atomic, keeping the metadata, saying what a format cannot hold)
and `check_output` (an output path refused before any work)."""
from __future__ import annotations

import dataclasses
import errno
import os
import re
import warnings
from pathlib import Path

import cv2
import numpy as np

from ..arrays import check_image
from ..choices import check_choice
from ..errors import InputError
from .atomic import Outputs, check_replaceable, destination, stage, write_atomically
from .jpeg import jpeg_blockwise
from .metadata import (
    EXIF_TEXT_TAGS,
    JPEG_SUFFIXES,
    ImageInfo,
    LossWarning,
    exif_from_text_tags,
    exif_text_tags,
    jpeg_add_info,
    native_of,
    png_add_info,
)
from .pixels import READABLE
from .tiff import DEFAULT_COMPRESSION, TIFF_COMPRESSIONS, TIFF_SUFFIXES, write_tiff


def write(path, image, *, info: ImageInfo | None = None, source=None,
          overwrite_source: bool = False, jpeg_quality: int = 95, compression: str | None = None,
          outputs: Outputs | None = None) -> Path:
    """Write `image` to `path` atomically; refuse to replace `source` unless `overwrite_source`.

    PNG keeps 8/16-bit; float data is written to PNG as 16-bit. JPEG is 8-bit only (wider data is
    rounded). TIFF keeps uint8, uint16 and float32, compressed losslessly with `compression` (one of
    TIFF_COMPRESSIONS; deflate by default). A JPEG written from a JPEG `source` re-encodes only the
    blocks whose pixels differ from it (see `jpeg_blockwise`); `jpeg_quality` applies otherwise.
    What the format cannot hold is said with a LossWarning. A failed write (disk full, no
    permission) raises InputError and leaves nothing behind. With `outputs` (an `Outputs` block)
    the file is only staged, and put in place with the block's other outputs when it ends.
    """
    path = Path(path)
    check_output(path, reads=[source] if source is not None and not overwrite_source else (),
                 compression=compression)
    image = check_image(image, "image to write")
    suffix = path.suffix.lower()
    info = _across_formats(info or ImageInfo(), suffix)
    _warn_losses(path, image, info, source)
    if info.infrared and suffix not in TIFF_SUFFIXES and image.ndim == 3 and image.shape[2] == 4:
        # PNG would show an infrared plane as alpha, and JPEG has no room for it
        image = image[:, :, :3]
    try:
        if suffix in TIFF_SUFFIXES:
            chosen = compression or DEFAULT_COMPRESSION

            def write_tmp(tmp):
                write_tiff(tmp, image, info, chosen)
        else:
            blockwise = suffix in JPEG_SUFFIXES and source is not None
            data = jpeg_blockwise(image, Path(source), info) if blockwise else None
            if data is None:
                data = encode(image, suffix, info, jpeg_quality)

            def write_tmp(tmp):
                tmp.write_bytes(data)
        if outputs is None:
            write_atomically(path, write_tmp)
        else:
            outputs.add(stage(path, write_tmp))
    except OSError as exc:
        raise InputError(f"{path}: cannot be written ({why_not_written(exc)}); nothing was "
                         "written") from None
    return path


def why_not_written(exc: OSError) -> str:
    """A failed write in words: a full disk (ENOSPC, or numpy's short write "N requested and M
    written", which carries no errno) is said as such."""
    if exc.errno == errno.ENOSPC or re.search(r"\d+ requested and \d+ written", str(exc)):
        return "the disk is full"
    if exc.errno == getattr(errno, "EDQUOT", None):
        return "the disk quota is exceeded"
    return exc.strerror or str(exc)


def check_output(path, *, reads=(), compression: str | None = None, name: str = "") -> Path:
    """Refuse an output path before any work: an unknown extension, a folder, a missing or
    unwritable folder, a read-only file of another user, or a file the command reads (`reads`:
    paths; symlinks and hard links count as the same file). `name` (e.g. "--probability") is said
    in the message. A symlink is checked where it points: writing replaces its target."""
    path = Path(path)
    what = f"{name} {path}" if name else str(path)
    if path.is_dir():
        raise InputError(f"{what}: is a folder; name the output file")
    if path.suffix.lower() not in READABLE:
        raise InputError(f"{what}: unsupported output type '{path.suffix}'; "
                         "use .png, .jpg, .jpeg, .tif or .tiff")
    if compression is not None:
        check_choice("--compression", compression, TIFF_COMPRESSIONS)
    folder = destination(path).parent
    if not folder.is_dir():
        raise InputError(f"{what}: output folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{what}: cannot write to the output folder {folder} (permission denied)")
    reads = [Path(r) for r in reads if r is not None]
    for read in reads:
        if same_file(path, read):
            which = "the input" if same_file(read, reads[0]) else f"{read}, an input"
            raise InputError(f"{what}: refusing to overwrite {which} this command reads; "
                             "choose another output path")
    try:
        check_replaceable(path)
    except InputError as exc:
        raise InputError(f"{name} {exc}" if name else str(exc)) from None
    return path


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same inode when both exist (symlinks, hard links), else
    the same resolved path."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _across_formats(info: ImageInfo, suffix: str) -> ImageInfo:
    """`info` for a file of another format than its own where one can carry what the other held:
    a TIFF's text tags (description, make, model, ...) become EXIF in a JPEG or PNG."""
    if suffix in TIFF_SUFFIXES or info.exif or not native_of(info, ".tif"):
        return info
    text = {code: value for code, kind, _, value, _ in native_of(info, ".tif")
            if kind == 2 and code in EXIF_TEXT_TAGS}
    return dataclasses.replace(info, exif=exif_from_text_tags(text))


# the format's own metadata that no other format holds, in words (see ImageInfo.native)
_NATIVE_WORDS = {".png": "PNG text chunks", ".jpg": "JPEG IPTC data and comments",
                 ".tif": "TIFF IPTC and host-computer tags"}


def _native_lost(info: ImageInfo, suffix: str) -> str | None:
    """What of the source format's own metadata a file of `suffix` cannot hold, in words."""
    if not info.native:
        return None
    kind, entries = info.native
    same = {".jpeg": ".jpg", ".tiff": ".tif"}.get(suffix, suffix)
    if kind == same:
        return None
    if kind == ".png":
        entries = [e for e in entries if e[0] in (b"tEXt", b"zTXt", b"iTXt")]
    elif kind == ".tif":
        entries = [e for e in entries if not (e[1] == 2 and e[0] in EXIF_TEXT_TAGS)]
    return _NATIVE_WORDS[kind] if entries else None


def _warn_losses(path: Path, image: np.ndarray, info: ImageInfo, source) -> None:
    """Say what writing `image` to `path` loses (a LossWarning per write, one line)."""
    suffix = path.suffix.lower()
    lost = []
    if suffix in JPEG_SUFFIXES:
        if image.dtype != np.uint8:
            depth = "16-bit" if image.dtype == np.uint16 else "float"
            lost.append(f"its {depth} samples are rounded to 8 bits")
        if image.ndim == 3 and image.shape[2] == 4 and not info.infrared:
            lost.append("its alpha channel is dropped")
    elif suffix == ".png" and image.dtype == np.float32:
        lost.append("its float samples are stored as 16-bit integers")
    if info.infrared and suffix not in TIFF_SUFFIXES and image.ndim == 3 and image.shape[2] == 4:
        lost.append("its infrared plane is dropped")
    if lost:
        keep = ".tif" if suffix == ".png" else ".tif or .png"
        warnings.warn(f"{path}: {suffix[1:].upper()} cannot hold this image: {' and '.join(lost)}; "
                      f"write {keep} to keep it", LossWarning, stacklevel=3)
    if info.cmyk:
        whole = " and, as JPEG, re-encoded whole (every pixel takes a JPEG generation)" \
            if suffix in JPEG_SUFFIXES else ""
        warnings.warn(f"{path}: {source or 'the input'} is a CMYK JPEG; it is written as RGB "
                      f"without its CMYK ICC profile{whole}", LossWarning, stacklevel=3)
    native = _native_lost(info, suffix)
    if native:
        kind = {".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}.get(suffix, "PNG")
        warnings.warn(f"{path}: {kind} cannot hold the source's {native}; write "
                      f"{info.native[0]} to keep them", LossWarning, stacklevel=3)
    if suffix in TIFF_SUFFIXES and info.exif and not native_of(info, ".tif"):
        subs = exif_text_tags(info.exif)[1]
        if subs:
            warnings.warn(f"{path}: TIFF keeps the EXIF description, make, model, date, artist "
                          f"and copyright as its own tags, but not the EXIF {' and '.join(subs)} "
                          "data; write .jpg or .png to keep them", LossWarning, stacklevel=3)


def encode(image: np.ndarray, suffix: str, info: ImageInfo, jpeg_quality: int = 95) -> bytes:
    """`image` as PNG or JPEG bytes carrying what `info` holds."""
    if suffix == ".png":
        if image.dtype == np.float32:
            image = np.rint(np.clip(image, 0, 1) * 65535).astype(np.uint16)
        ok, buf = cv2.imencode(".png", _to_bgr(image))
        data = png_add_info(buf.tobytes(), info) if ok else None
    else:
        if image.dtype != np.uint8:
            top = 65535.0 if image.dtype == np.uint16 else 1.0
            image = np.rint(np.clip(image.astype(np.float32) / top, 0, 1) * 255).astype(np.uint8)
        if image.ndim == 3 and image.shape[2] == 4:
            image = image[:, :, :3]  # JPEG has no alpha
        ok, buf = cv2.imencode(".jpg", _to_bgr(image),
                               [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        data = jpeg_add_info(buf.tobytes(), info) if ok else None
    if data is None:
        raise InputError(f"cannot encode an image of shape {image.shape} and dtype {image.dtype} "
                         f"as {suffix}")
    return data


def _to_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    return image

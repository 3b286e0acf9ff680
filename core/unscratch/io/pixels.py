"""Pixels as decoded, before they are handed out: the size guard (a file's header is checked before
any pixel is decoded), OpenCV's PNG / JPEG decoding with its complaints captured, the orientation
flag applied, and the layout and dtype brought to the core's conventions (arrays.check_image)."""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from pathlib import Path

import cv2
import numpy as np

from ..arrays import check_image
from ..errors import InputError

READABLE = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
# default pixel limit: above any film scan we can hold in memory, below OpenCV's 1074
MAX_MEGAPIXELS = 1000


def max_pixels() -> int:
    """The most pixels a file may declare: UNSCRATCH_MAX_MEGAPIXELS (in MP) or MAX_MEGAPIXELS."""
    try:
        return int(float(os.environ.get("UNSCRATCH_MAX_MEGAPIXELS") or MAX_MEGAPIXELS) * 1e6)
    except ValueError:
        return MAX_MEGAPIXELS * 1_000_000


def check_size(path: Path, width: int, height: int) -> None:
    """Refuse a declared size before decoding: an empty image, or a decompression bomb."""
    if width <= 0 or height <= 0:
        raise InputError(f"{path}: the file declares an empty {width}x{height} image")
    limit = max_pixels()
    if width * height > limit:
        raise InputError(f"{path}: declares {width}x{height} pixels ({width * height / 1e6:.0f} "
                         f"MP), over the {limit / 1e6:.0f} MP limit (set UNSCRATCH_MAX_MEGAPIXELS "
                         "to raise it)")


def suffix_of(path: Path) -> str:
    """The file's lower-case suffix, or InputError when it is not a type unscratch reads."""
    s = path.suffix.lower()
    if s not in READABLE:
        raise InputError(f"{path}: unsupported file type '{path.suffix}'; use .png, .jpg, .jpeg, "
                         ".tif or .tiff")
    return s


_stderr_lock = threading.Lock()


@contextlib.contextmanager
def stderr_captured():
    """Capture what C libraries print to file descriptor 2 (libpng's and libjpeg's complaints) while
    the block runs; yields a list that then holds the text. Our one-line error says what is wrong
    instead."""
    out: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    # no real stderr (embedded hosts): nothing to capture
    except (OSError, ValueError, AttributeError):
        yield out
        return
    with _stderr_lock, tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield out
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            out.append(sink.read(4096).decode("utf-8", "replace"))


def decode_quietly(data: bytes) -> tuple[np.ndarray | None, str]:
    """`decode`, with the decoder's complaints captured: (image or None, the first complaint)."""
    with stderr_captured() as chatter:
        image = decode(data)
    lines = [_OPENCV_LOG.sub("", line).strip() for text in chatter for line in text.splitlines()]
    lines = [line for line in lines if line]
    return image, lines[0] if lines else ""


# OpenCV's log prefix, e.g. "[ WARN:0@0.1] global grfmt_png.cpp:792 readFromStreamOrBuffer "
_OPENCV_LOG = re.compile(r"^\[\s*\w+:[^\]]*\]\s+global\s+\S+:\d+\s+\S+\s+")


def decode(data: bytes) -> np.ndarray | None:
    """PNG or JPEG bytes as stored (no orientation applied), colour order RGB(A); None if
    undecodable."""
    buf = np.frombuffer(data, np.uint8)
    try:
        image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    # e.g. over OpenCV's own pixel limit when UNSCRATCH_MAX_MEGAPIXELS was raised past it
    except cv2.error:
        return None
    if image is not None and image.ndim == 3:
        image = cv2.cvtColor(image,
                             cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return image


# EXIF / TIFF orientation -> (transpose, flip left-right, flip top-bottom) that shows the stored
# pixels upright
ORIENTATIONS = {2: (False, True, False), 3: (False, True, True), 4: (False, False, True),
                5: (True, False, False), 6: (True, True, False), 7: (True, True, True),
                8: (True, False, True)}


def oriented(image: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels turned as the orientation flag asks (1 or unknown: as they are)."""
    transpose, flip_lr, flip_ud = ORIENTATIONS.get(orientation, (False, False, False))
    if transpose:
        image = np.swapaxes(image, 0, 1)
    if flip_lr:
        image = image[:, ::-1]
    if flip_ud:
        image = image[::-1]
    return np.ascontiguousarray(image)


def normalise(image: np.ndarray, path: Path) -> np.ndarray:
    """A decoded image in the core's conventions (gray, RGB or RGBA; uint8, uint16 or float32 in
    0-1), or InputError naming the file. Float samples outside 0-1 are refused by check_image."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    # gray + alpha: widen to RGBA, our conventions have no GA
    if image.ndim == 3 and image.shape[2] == 2:
        image = np.dstack([image[:, :, 0]] * 3 + [image[:, :, 1]])
    if image.dtype in (np.float64, np.float16):
        image = image.astype(np.float32)
    elif image.dtype == np.int16:
        raise InputError(f"{path}: signed 16-bit samples are not supported")
    elif image.dtype == bool:
        image = image.astype(np.uint8) * 255
    # layout, dtype, NaN, infinities and the float range: the core's rules
    return check_image(image, str(path))

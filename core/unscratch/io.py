"""Read and write PNG, JPEG and TIFF at full precision, atomically, keeping the file's metadata.

OpenCV does the pixel coding for PNG and JPEG; the ICC profile (iCCP / APP2), resolution (pHYs /
JFIF density), EXIF (eXIf / APP1), XMP (iTXt / APP1) and the format's own text (PNG text chunks,
JPEG IPTC and comments) are carried across by hand (metadata.py) because OpenCV drops them. TIFF
goes through tifffile, which keeps 16-bit and float samples; its ICC, resolution, XMP, IPTC and text
tags are carried too (its EXIF sub-IFD is not). A file's orientation flag (EXIF or TIFF Orientation)
is applied on reading, as editors and viewers do, so masks and selections drawn on what the user
sees line up; outputs are written upright with the flag reset. Every write goes to a temporary file
in the destination folder and is renamed into place, so an interrupted write leaves nothing behind;
a temporary left by a killed run is removed by the next write of the same file. Outputs get the mode
the umask allows (a replaced file keeps its own).

A file's header is read before its pixels, and one declaring more than `max_pixels()` (1000 MP
unless UNSCRATCH_MAX_MEGAPIXELS says otherwise) is refused, so a decompression bomb never reaches a
decoder. Writes that lose something (16-bit or alpha into JPEG, float into PNG, a CMYK JPEG's
colours) say so with a `LossWarning`.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import cv2
import numpy as np
import tifffile

from .arrays import check_image
from .errors import InputError
from .metadata import (JPEG_SUFFIXES, PNG_SIG, ImageInfo, _exif_upright, _jpeg_add_info,
                       _jpeg_info, _jpeg_size, _native, _png_add_info, _png_info, _png_size,
                       _without_app_segments)
# io's names from before metadata.py (the tests read them here)
from .metadata import PNG_XMP, _jpeg_segments, _png_chunk  # noqa: F401

READABLE = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
# default pixel limit: above any film scan we can hold in memory, below OpenCV's 1074
MAX_MEGAPIXELS = 1000
# TIFF compressions a user may choose for output (all lossless) -> tifffile's name; "deflate" is the
# default
TIFF_COMPRESSIONS = {"none": None, "lzw": "lzw", "deflate": "zlib", "zstd": "zstd"}
DEFAULT_COMPRESSION = "deflate"


class LossWarning(UserWarning):
    """A write kept less than the image holds (bit depth, alpha, colour model); the message says
    what."""


def max_pixels() -> int:
    """The most pixels a file may declare: UNSCRATCH_MAX_MEGAPIXELS (in MP) or MAX_MEGAPIXELS."""
    try:
        return int(float(os.environ.get("UNSCRATCH_MAX_MEGAPIXELS") or MAX_MEGAPIXELS) * 1e6)
    except ValueError:
        return MAX_MEGAPIXELS * 1_000_000


def _check_size(path: Path, width: int, height: int) -> None:
    """Refuse a declared size before decoding: an empty image, or a decompression bomb."""
    if width <= 0 or height <= 0:
        raise InputError(f"{path}: the file declares an empty {width}x{height} image")
    limit = max_pixels()
    if width * height > limit:
        raise InputError(f"{path}: declares {width}x{height} pixels ({width * height / 1e6:.0f} "
                         f"MP), over the {limit / 1e6:.0f} MP limit (set UNSCRATCH_MAX_MEGAPIXELS "
                         "to raise it)")


def _suffix(path: Path) -> str:
    s = path.suffix.lower()
    if s not in READABLE:
        raise InputError(f"{path}: unsupported file type '{path.suffix}'; use .png, .jpg, .jpeg, "
                         ".tif or .tiff")
    return s


def read(path) -> np.ndarray:
    """Pixels of an image file as uint8, uint16 or float32 (gray HxW, RGB or RGBA), colour order
    RGB."""
    return read_with_info(path)[0]


def read_plane(path, shape, what: str) -> np.ndarray:
    """A mask or selection file as a `shape` plane: an RGBA file's alpha, else its first channel."""
    plane = read(path)
    if plane.ndim == 3:
        plane = plane[:, :, 3] if plane.shape[2] == 4 else plane[:, :, 0]
    if plane.shape != tuple(shape):
        raise InputError(f"{path}: {what} is {plane.shape[1]}x{plane.shape[0]} but the image is "
                         f"{shape[1]}x{shape[0]}")
    return plane


def read_with_info(path) -> tuple[np.ndarray, ImageInfo]:
    path = Path(path)
    suffix = _suffix(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an image file")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    # tifffile reads the file itself: reading its bytes here too doubled the I/O
    if suffix in (".tif", ".tiff"):
        image, info = _read_tiff(path)
        return _normalise(image, path), info
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    size = _png_size(data) if data.startswith(PNG_SIG) else _jpeg_size(data)
    if size is not None:
        _check_size(path, *size)
    image, chatter = _decode_quietly(data)
    if image is None:
        why = f": {chatter}" if chatter else ""
        raise InputError(f"{path}: not a readable {suffix[1:].upper()} file (corrupt or "
                         f"truncated{why})")
    info = _png_info(data) if suffix == ".png" else _jpeg_info(data)
    orientation, info.exif = _exif_upright(info.exif)
    return _normalise(_oriented(image, orientation), path), info


_stderr_lock = threading.Lock()


@contextlib.contextmanager
def _stderr_captured():
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


def _decode_quietly(data: bytes) -> tuple[np.ndarray | None, str]:
    """`_decode`, with the decoder's complaints captured: (image or None, the first complaint)."""
    with _stderr_captured() as chatter:
        image = _decode(data)
    lines = [_OPENCV_LOG.sub("", line).strip() for text in chatter for line in text.splitlines()]
    lines = [line for line in lines if line]
    return image, lines[0] if lines else ""


# OpenCV's log prefix, e.g. "[ WARN:0@0.1] global grfmt_png.cpp:792 readFromStreamOrBuffer "
_OPENCV_LOG = re.compile(r"^\[\s*\w+:[^\]]*\]\s+global\s+\S+:\d+\s+\S+\s+")


def _decode(data: bytes) -> np.ndarray | None:
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
_ORIENTATIONS = {2: (False, True, False), 3: (False, True, True), 4: (False, False, True),
                 5: (True, False, False), 6: (True, True, False), 7: (True, True, True),
                 8: (True, False, True)}


def _oriented(image: np.ndarray, orientation: int) -> np.ndarray:
    transpose, flip_lr, flip_ud = _ORIENTATIONS.get(orientation, (False, False, False))
    if transpose:
        image = np.swapaxes(image, 0, 1)
    if flip_lr:
        image = image[:, ::-1]
    if flip_ud:
        image = image[::-1]
    return np.ascontiguousarray(image)


def _normalise(image: np.ndarray, path: Path) -> np.ndarray:
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
    image = check_image(image, str(path))  # layout, dtype, NaN and infinities: the core's rules
    if image.dtype == np.float32:
        low, high = float(image.min()), float(image.max())
        if high > FLOAT_SLACK or low < 1 - FLOAT_SLACK:
            scale = "0-255" if high <= 255.5 else "0-65535" if high <= 65535.5 else "another range"
            raise InputError(f"{path}: float samples range {low:g} to {high:g}; unscratch reads "
                             f"float images as 0-1 (1 = white) and these look like {scale}; scale "
                             "them to 0-1 or save as 8- or 16-bit integers")
    return image


FLOAT_SLACK = 1.01  # float samples outside [-0.01, 1.01] are not 0-1 data (rounding aside)


def _read_tiff(path: Path) -> tuple[np.ndarray, ImageInfo]:
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            _check_size(path, int(page.imagewidth), int(page.imagelength))
            image = _tiff_pixels(page, path)
            info = ImageInfo()
            tags = page.tags
            if "InterColorProfile" in tags:
                info.icc_profile = bytes(tags["InterColorProfile"].value)
            if "XResolution" in tags and "YResolution" in tags:
                def ratio(v):
                    return v[0] / v[1] if isinstance(v, tuple) else float(v)
                unit = tags["ResolutionUnit"].value if "ResolutionUnit" in tags else 2
                scale = 2.54 if int(unit) == 3 else 1.0
                info.dpi = (ratio(tags["XResolution"].value) * scale,
                            ratio(tags["YResolution"].value) * scale)
            P = tifffile.PHOTOMETRIC
            # indexed colour: the colours it means
            if page.photometric == P.PALETTE and page.colormap is not None:
                image = np.moveaxis(page.colormap[:, image], 0, -1)
                if not (image % 257).any():
                    image = (image // 257).astype(np.uint8)
            elif page.photometric not in (P.MINISBLACK, P.MINISWHITE, P.RGB, P.YCBCR):
                raise InputError(f"{path}: {page.photometric.name} TIFF is not supported; save it "
                                 "as RGB or gray (keeping its ICC profile) first")
            if page.photometric == P.MINISWHITE:
                top = np.iinfo(image.dtype).max if image.dtype.kind == "u" else 1.0
                image = top - image
            if "XMP" in tags:
                info.xmp = bytes(tags["XMP"].value)
            native = [(code, TIFF_CARRIED[code], *_tag_bytes(tif, tags[code]),
                       True) for code in TIFF_CARRIED if code in tags]
            info.native = (".tif", native) if native else None
            orientation = int(tags["Orientation"].value) if "Orientation" in tags else 1
            extra = tuple(int(e) for e in (page.extrasamples or ()))
            colour = {2: (P.MINISBLACK, P.MINISWHITE), 4: (P.RGB,)}
            info.infrared = (page.photometric in colour.get(page.samplesperpixel, ())
                             and extra[-1:] in ((), (0,)))
    except InputError:
        raise
    except PermissionError:
        raise InputError(f"{path}: cannot be read (permission denied)") from None
    except Exception as exc:  # tifffile raises many types for broken files
        raise InputError(f"{path}: not a readable TIFF file ({exc})") from None
    if image.ndim == 3 and image.shape[0] in (1, 3, 4) and image.shape[2] not in (1, 3, 4):
        image = np.moveaxis(image, 0, -1)  # planar configuration
    if image.ndim != 2 and image.ndim != 3:
        raise InputError(f"{path}: TIFF with shape {image.shape} is not a single 2-D image")
    return _oriented(image, orientation), info


def _tiff_pixels(page, path: Path) -> np.ndarray:
    """The page's pixels; a compression whose codec is missing is named (imagecodecs reads them
    all)."""
    try:
        return page.asarray()
    except ValueError as exc:
        if "imagecodecs" in str(exc):
            name = getattr(page.compression, "name", str(page.compression))
            raise InputError(f"{path}: {name} compressed TIFF needs the imagecodecs package "
                             "(pip install imagecodecs)") from None
        raise


# TIFF tags carried from a TIFF to a TIFF copy -> the type they are written as (2 text, 7 bytes):
# description, make, model, date, artist, host computer, copyright, IPTC
TIFF_CARRIED = {270: 2, 271: 2, 272: 2, 306: 2, 315: 2, 316: 2, 33432: 2, 33723: 7}


def _tag_bytes(tif, tag) -> tuple[int, bytes]:
    """(count, bytes) of a tag's value as stored: tifffile decodes text (guessing its encoding) and
    numbers."""
    tif.filehandle.seek(tag.valueoffset)
    raw = tif.filehandle.read(tag.valuebytecount)
    return (0, raw.rstrip(b"\0")) if tag.dtype == 2 else (len(raw), raw)


def write(path, image, *, info: ImageInfo | None = None, source=None,
          overwrite_source: bool = False,
          jpeg_quality: int = 95, compression: str | None = None) -> Path:
    """Write `image` to `path` atomically; refuse to replace `source` unless `overwrite_source`.

    PNG keeps 8/16-bit; float data is written to PNG as 16-bit. JPEG is 8-bit only (wider data is
    rounded). TIFF keeps uint8, uint16 and float32, compressed losslessly with `compression` (one of
    TIFF_COMPRESSIONS; deflate by default). A JPEG written from a JPEG `source` re-encodes only the
    blocks whose pixels differ from it (see `_jpeg_blockwise`); `jpeg_quality` applies otherwise.
    What the format cannot hold is said with a LossWarning. A failed write (disk full, no
    permission) raises InputError and leaves nothing behind.
    """
    path = Path(path)
    check_output(path, reads=[source] if source is not None and not overwrite_source else (),
                 compression=compression)
    image = check_image(image, "image to write")
    suffix = path.suffix.lower()
    info = info or ImageInfo()
    _warn_losses(path, image, info, source)
    if info.infrared and suffix not in (".tif",
                                        ".tiff") and image.ndim == 3 and image.shape[2] == 4:
        # PNG would show an infrared plane as alpha, and JPEG has no room for it
        image = image[:, :, :3]
    try:
        if suffix in (".tif", ".tiff"):
            chosen = compression or DEFAULT_COMPRESSION
            write_atomically(path, lambda tmp: _write_tiff(tmp, image, info, chosen))
            return path
        blockwise = suffix in JPEG_SUFFIXES and source is not None
        data = _jpeg_blockwise(image, Path(source), info) if blockwise else None
        if data is None:
            data = _encode(image, suffix, info, jpeg_quality)
        write_atomically(path, lambda tmp: tmp.write_bytes(data))
    except OSError as exc:
        reason = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise InputError(f"{path}: cannot be written ({reason}); nothing was written") from None
    return path


def check_output(path, *, reads=(), compression: str | None = None, name: str = "") -> Path:
    """Refuse an output path before any work: an unknown extension, a folder, a missing or
    unwritable folder, or a file the command reads (`reads`: paths; symlinks and hard links count as
    the same file). `name` (e.g. "--probability") is said in the message."""
    path = Path(path)
    what = f"{name} {path}" if name else str(path)
    if path.is_dir():
        raise InputError(f"{what}: is a folder; name the output file")
    if path.suffix.lower() not in READABLE:
        raise InputError(f"{what}: unsupported output type '{path.suffix}'; "
                         "use .png, .jpg, .jpeg, .tif or .tiff")
    if compression is not None and compression not in TIFF_COMPRESSIONS:
        raise InputError(f"--compression {compression}: not one of {', '.join(TIFF_COMPRESSIONS)}")
    folder = path.parent
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
    if info.infrared and suffix not in (".tif",
                                        ".tiff") and image.ndim == 3 and image.shape[2] == 4:
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


def _part_pattern(name: str) -> re.Pattern:
    """Names of `write_atomically`'s temporaries for a file called `name` (mkstemp's 8 random
    chars)."""
    return re.compile(rf"^\.{re.escape(name)}\.[a-z0-9_]{{8}}\.part$")


def remove_stale_temporaries(path: Path) -> int:
    """Delete the temporaries a killed write of `path` left beside it; one still being written is
    held locked by its writer and is left alone. Returns how many were removed."""
    pattern = _part_pattern(path.name)
    removed = 0
    try:
        names = [n for n in os.listdir(path.parent) if pattern.match(n)]
    except OSError:
        return 0
    for name in names:
        tmp = path.parent / name
        try:
            with open(tmp, "rb") as fh:
                if not _try_lock(fh.fileno()):
                    continue  # a live writer holds it
            tmp.unlink()
            removed += 1
        except OSError:
            continue
    return removed


def _try_lock(fd: int) -> bool:
    """An exclusive advisory lock on `fd` without waiting; True where the platform has none."""
    try:
        import fcntl
    except ImportError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _umask() -> int:
    """The process umask, read without changing it where /proc allows (changing it races other
    threads)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomically(path: Path, write_tmp) -> None:
    """`write_tmp(tmp)` writes a temporary file beside `path`, which then replaces `path` in one
    step: a crash leaves the old file or the new one, never half of one. The temporary is locked
    while it is written, so a later write can tell a killed run's leftover from a live one and
    remove it. The new file gets the replaced file's mode, else what the umask allows (mkstemp's own
    is 0600)."""
    path = Path(path)
    remove_stale_temporaries(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = 0o666 & ~_umask()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        _try_lock(fd)
        write_tmp(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


def _encode(image: np.ndarray, suffix: str, info: ImageInfo, jpeg_quality: int) -> bytes:
    if suffix == ".png":
        if image.dtype == np.float32:
            image = np.rint(np.clip(image, 0, 1) * 65535).astype(np.uint16)
        ok, buf = cv2.imencode(".png", _to_bgr(image))
        data = _png_add_info(buf.tobytes(), info) if ok else None
    else:
        if image.dtype != np.uint8:
            top = 65535.0 if image.dtype == np.uint16 else 1.0
            image = np.rint(np.clip(image.astype(np.float32) / top, 0, 1) * 255).astype(np.uint8)
        if image.ndim == 3 and image.shape[2] == 4:
            image = image[:, :, :3]  # JPEG has no alpha
        ok, buf = cv2.imencode(".jpg", _to_bgr(image),
                               [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        data = _jpeg_add_info(buf.tobytes(), info) if ok else None
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


def _write_tiff(tmp: Path, image: np.ndarray, info: ImageInfo,
                compression: str = DEFAULT_COMPRESSION) -> None:
    extratags = []
    if info.icc_profile:
        extratags.append((34675, 7, len(info.icc_profile), info.icc_profile, True))
    if info.xmp:
        extratags.append((700, 1, len(info.xmp), info.xmp, True))
    extratags += _native(info, ".tif")
    kwargs = {}
    if info.dpi:
        kwargs = dict(resolution=(float(info.dpi[0]), float(info.dpi[1])), resolutionunit="INCH")
    photometric = "minisblack" if image.ndim == 2 or image.shape[2] == 1 else "rgb"
    extrasamples = None
    if image.ndim == 3 and image.shape[2] == 4:
        extrasamples = ("unspecified",) if info.infrared else ("unassalpha",)
    tifffile.imwrite(tmp, image, photometric=photometric, extrasamples=extrasamples,
                     extratags=extratags,
                     compression=TIFF_COMPRESSIONS[compression], metadata=None,
                     software="unscratch", **kwargs)


def _jpeg_blockwise(image: np.ndarray, source: Path, info: ImageInfo) -> bytes | None:
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
        if _exif_upright(_jpeg_info(data).exif)[0] != 1:
            return None  # stored sideways: the upright image's blocks are not the source's
        before = _decode_quietly(data)[0]
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
    return _jpeg_add_info(_without_app_segments(merged), info)



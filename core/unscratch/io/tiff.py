"""TIFF through tifffile, which keeps 16-bit and float samples: the first page's pixels (other
pages are said, not read), its ICC, resolution, XMP, IPTC and text tags; written back with a
lossless compression. EXIF from a JPEG or PNG is written as the TIFF's own description, make, model,
date, artist and copyright tags (its camera-settings and GPS sub-IFDs are not: write.py says so)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import tifffile

from ..errors import InputError
from .metadata import ImageInfo, LossWarning, exif_text_tags, native_of
from .pixels import check_size, oriented

# TIFF compressions a user may choose for output (all lossless) -> tifffile's name; "deflate" is the
# default
TIFF_COMPRESSIONS = {"none": None, "lzw": "lzw", "deflate": "zlib", "zstd": "zstd"}
DEFAULT_COMPRESSION = "deflate"
TIFF_SUFFIXES = (".tif", ".tiff")

# TIFF tags carried from a TIFF to a TIFF copy -> the type they are written as (2 text, 7 bytes):
# description, make, model, date, artist, host computer, copyright, IPTC
TIFF_CARRIED = {270: 2, 271: 2, 272: 2, 306: 2, 315: 2, 316: 2, 33432: 2, 33723: 7}


def read_tiff(path: Path) -> tuple[np.ndarray, ImageInfo]:
    """The first page of a TIFF, upright, and what it carries; a multi-page file is said with a
    LossWarning (reduced-resolution pages, i.e. previews, are not counted)."""
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            check_size(path, int(page.imagewidth), int(page.imagelength))
            image = _pixels(page, path)
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
            info.orientation = int(tags["Orientation"].value) if "Orientation" in tags else 1
            extra = tuple(int(e) for e in (page.extrasamples or ()))
            colour = {2: (P.MINISBLACK, P.MINISWHITE), 4: (P.RGB,)}
            info.infrared = (page.photometric in colour.get(page.samplesperpixel, ())
                             and extra[-1:] in ((), (0,)))
            pages = 1 + sum(not getattr(p, "is_reduced", False) for p in tif.pages[1:])
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
    if pages > 1:
        warnings.warn(f"{path}: has {pages} pages; only the first is used (save the others as "
                      "files of their own to repair them)", LossWarning, stacklevel=4)
    return oriented(image, info.orientation), info


def _pixels(page, path: Path) -> np.ndarray:
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


def _tag_bytes(tif, tag) -> tuple[int, bytes]:
    """(count, bytes) of a tag's value as stored: tifffile decodes text (guessing its encoding) and
    numbers."""
    tif.filehandle.seek(tag.valueoffset)
    raw = tif.filehandle.read(tag.valuebytecount)
    return (0, raw.rstrip(b"\0")) if tag.dtype == 2 else (len(raw), raw)


def write_tiff(tmp: Path, image: np.ndarray, info: ImageInfo,
               compression: str = DEFAULT_COMPRESSION) -> None:
    """`image` as a TIFF at `tmp` with what `info` carries (see the module's docstring)."""
    extratags = []
    if info.icc_profile:
        extratags.append((34675, 7, len(info.icc_profile), info.icc_profile, True))
    if info.xmp:
        extratags.append((700, 1, len(info.xmp), info.xmp, True))
    native = native_of(info, ".tif")
    extratags += native
    if not native:  # a JPEG's or PNG's EXIF: its text tags as the TIFF's own
        extratags += [(code, 2, 0, value, True)
                      for code, value in sorted(exif_text_tags(info.exif)[0].items())]
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

"""What an image file carries beside its pixels, at the byte level: `ImageInfo` (ICC profile,
resolution, EXIF, XMP, the format's own text), read from and written into PNG chunks and JPEG
segments, the sizes headers declare (checked before any pixel is decoded), EXIF orientation, the
frames of an animated PNG, and the camera tags of EXIF that a TIFF holds as its own tags. The rest
of the io package decodes and encodes the pixels and calls these to carry the rest across.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

PNG_SIG = b"\x89PNG\r\n\x1a\n"


class LossWarning(UserWarning):
    """Reading or writing kept less than the file or image holds (pages, frames, bit depth, alpha,
    colour model, metadata); the message says what."""


@dataclass
class ImageInfo:
    """What a file says beside its pixels that a faithful copy must keep."""
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    exif: bytes | None = None      # TIFF-structured EXIF (JPEG APP1 / PNG eXIf body),
                                   # orientation reset to 1
    xmp: bytes | None = None       # XMP packet
    # metadata only a file of the same format can hold: (".png", [(chunk type, body)]),
    # (".jpg", [(marker, body)]) or (".tif", [tifffile extratag tuples])
    native: tuple[str, list] | None = None
    # a TIFF's fourth plane is an extra sample of unspecified meaning (ExtraSamples 0 or absent),
    # not alpha: what film scanners write as infrared (VueScan "64 bit RGBI", SilverFast HDRi); see
    # unscratch.infrared
    infrared: bool = False
    # a CMYK (or YCCK) JPEG: the decoder gave RGB pixels, and its CMYK ICC profile was left out
    cmyk: bool = False
    # the file's orientation flag (EXIF / TIFF Orientation, 1-8) that reading applied to the pixels
    orientation: int = 1


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR, or None when the header is not there."""
    if len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)


def jpeg_frame(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, components) from a JPEG's start-of-frame segment, or None."""
    if not data.startswith(b"\xff\xd8"):
        return None
    for marker, body, _, _ in jpeg_segments(data):
        if marker in _SOF and len(body) >= 6:
            height, width = struct.unpack(">HH", body[1:5])
            return width, height, body[5]
    return None


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    frame = jpeg_frame(data)
    return frame[:2] if frame else None


def png_frames(data: bytes) -> int:
    """How many frames an animated PNG (APNG) declares in its acTL chunk; 1 for a still PNG."""
    for ctype, body, _, _ in png_chunks(data):
        if ctype == b"acTL" and len(body) >= 4:
            return max(1, struct.unpack(">I", body[:4])[0])
        if ctype == b"IDAT":
            break
    return 1


# EXIF IFD0 text tags a TIFF holds as its own: description, make, model, date, artist, copyright
EXIF_TEXT_TAGS = (270, 271, 272, 306, 315, 33432)
EXIF_SUB_IFDS = {0x8769: "camera settings", 0x8825: "GPS"}  # pointers to further IFDs


def exif_text_tags(exif: bytes | None) -> tuple[dict[int, bytes], list[str]]:
    """(IFD0's text tags of EXIF_TEXT_TAGS as {code: bytes without the final NUL}, the names of the
    sub-IFDs it points to: what a TIFF written from a JPEG or PNG can and cannot carry)."""
    if not exif or exif[:4] not in (b"II*\0", b"MM\0*"):
        return {}, []
    order = "<" if exif[:2] == b"II" else ">"
    tags, subs = {}, []
    try:
        ifd = struct.unpack(order + "I", exif[4:8])[0]
        count = struct.unpack(order + "H", exif[ifd:ifd + 2])[0]
        for k in range(count):
            entry = ifd + 2 + 12 * k
            tag, kind, n = struct.unpack(order + "HHI", exif[entry:entry + 8])
            if tag in EXIF_SUB_IFDS:
                subs.append(EXIF_SUB_IFDS[tag])
            elif tag in EXIF_TEXT_TAGS and kind == 2 and n:
                start = entry + 8
                if n > 4:
                    start = struct.unpack(order + "I", exif[entry + 8:entry + 12])[0]
                value = exif[start:start + n].rstrip(b"\0")
                if value:
                    tags[tag] = value
    except struct.error:  # truncated EXIF: carry what was read
        pass
    return tags, subs


def exif_from_text_tags(tags: dict[int, bytes]) -> bytes | None:
    """A little-endian EXIF (TIFF structure, IFD0 only) holding text tags {code: bytes}: how a
    TIFF's description, make, model, date, artist and copyright reach a JPEG or PNG copy."""
    if not tags:
        return None
    items = sorted(tags.items())
    data_at = 8 + 2 + 12 * len(items) + 4
    ifd, data = struct.pack("<H", len(items)), b""
    for code, value in items:
        value = bytes(value) + b"\0"
        if len(value) <= 4:
            ifd += struct.pack("<HHI", code, 2, len(value)) + value.ljust(4, b"\0")
        else:
            ifd += struct.pack("<HHII", code, 2, len(value), data_at + len(data))
            data += value + b"\0" * (len(value) % 2)  # values start on a word boundary
    return b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + data


def exif_upright(exif: bytes | None) -> tuple[int, bytes | None]:
    """(the orientation EXIF asks for, the EXIF with its orientation set to 1 and its thumbnail
    dropped).

    The pixels are turned upright on reading, so a copy of the EXIF that still asked for a turn
    would turn them twice; its thumbnail shows the damaged picture, so IFD0's link to it is cut."""
    if not exif or exif[:4] not in (b"II*\0", b"MM\0*"):
        return 1, exif
    order = "<" if exif[:2] == b"II" else ">"
    out = bytearray(exif)
    orientation = 1
    try:
        ifd = struct.unpack(order + "I", exif[4:8])[0]
        count = struct.unpack(order + "H", exif[ifd:ifd + 2])[0]
        for k in range(count):
            entry = ifd + 2 + 12 * k
            tag, kind = struct.unpack(order + "HH", exif[entry:entry + 4])
            if tag == 0x0112 and kind == 3:
                orientation = struct.unpack(order + "H", exif[entry + 8:entry + 10])[0]
                out[entry + 8:entry + 10] = struct.pack(order + "H", 1)
        end = ifd + 2 + 12 * count
        if end + 4 <= len(out):
            out[end:end + 4] = b"\0\0\0\0"
    except struct.error:  # truncated EXIF: keep it as it is, pixels as stored
        return 1, exif
    return orientation, bytes(out)


def native_of(info: ImageInfo, suffix: str) -> list:
    """The format's own metadata of `info`, if it came from a file of the same format."""
    same = {".jpeg": ".jpg", ".tiff": ".tif"}.get(suffix, suffix)
    return list(info.native[1]) if info.native and info.native[0] == same else []


def png_chunks(data: bytes):
    pos = 8
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        yield ctype, data[pos + 8:pos + 8 + length], pos, pos + 12 + length
        pos += 12 + length


PNG_XMP = b"XML:com.adobe.xmp\0"


# text, and colour without an ICC profile
PNG_CARRIED = {b"tEXt", b"zTXt", b"iTXt", b"gAMA", b"cHRM", b"sRGB"}


def png_info(data: bytes) -> ImageInfo:
    info = ImageInfo()
    if not data.startswith(PNG_SIG):
        return info
    native = []
    for ctype, body, _, _ in png_chunks(data):
        if ctype == b"eXIf":
            info.exif = body
        elif ctype == b"iTXt" and body.startswith(PNG_XMP):
            info.xmp = itxt_text(body)
        elif ctype in PNG_CARRIED:
            native.append((ctype, body))
        elif ctype == b"iCCP":
            try:
                name_end = body.index(b"\0")
                info.icc_profile = zlib.decompress(body[name_end + 2:])
            except (ValueError, zlib.error):
                pass
        elif ctype == b"pHYs" and len(body) == 9:
            px, py, unit = struct.unpack(">IIB", body)
            if unit == 1:
                info.dpi = (px * 0.0254, py * 0.0254)
    info.native = (".png", native) if native else None
    return info


def itxt_text(body: bytes) -> bytes | None:
    """The text of an iTXt chunk: keyword, compression flag and method, language, translated
    keyword, text. None if the chunk is malformed: the picture is still read, without its XMP."""
    try:
        keyword_end = body.index(b"\0")
        compressed = body[keyword_end + 1]
        language_end = body.index(b"\0", keyword_end + 3)
        text = body[body.index(b"\0", language_end + 1) + 1:]
        return zlib.decompress(text) if compressed else text
    except (ValueError, IndexError, zlib.error):
        return None


def png_chunk(ctype: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(ctype + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", crc)


def png_add_info(data: bytes, info: ImageInfo) -> bytes:
    extra = b""
    if info.icc_profile:
        extra += png_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(info.icc_profile))
    if info.dpi:
        extra += png_chunk(b"pHYs", struct.pack(">IIB", round(info.dpi[0] / 0.0254),
                                                 round(info.dpi[1] / 0.0254), 1))
    if info.exif:
        extra += png_chunk(b"eXIf", info.exif)
    if info.xmp:
        extra += png_chunk(b"iTXt", PNG_XMP + b"\0\0\0\0" + info.xmp)
    for ctype, body in native_of(info, ".png"):
        # a PNG holds an ICC profile or sRGB, not both
        if not (ctype == b"sRGB" and info.icc_profile):
            extra += png_chunk(ctype, body)
    if not extra:
        return data
    ihdr_end = 8 + 12 + 13
    return data[:ihdr_end] + extra + data[ihdr_end:]


def jpeg_segments(data: bytes):
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: no more header segments
            return
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        yield marker, data[pos + 4:pos + 2 + length], pos, pos + 2 + length
        pos += 2 + length


JPEG_SUFFIXES = (".jpg", ".jpeg")


JPEG_EXIF = b"Exif\0\0"


JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\0"


JPEG_CARRIED = {0xED, 0xFE}  # APP13 (IPTC in Photoshop resources) and comments


JPEG_SEGMENT_MAX = 65533     # body bytes


def jpeg_info(data: bytes) -> ImageInfo:
    info = ImageInfo()
    icc_parts = {}
    native = []
    for marker, body, _, _ in jpeg_segments(data):
        if marker == 0xE1 and body.startswith(JPEG_EXIF) and info.exif is None:
            info.exif = body[len(JPEG_EXIF):]
        elif marker == 0xE1 and body.startswith(JPEG_XMP) and info.xmp is None:
            info.xmp = body[len(JPEG_XMP):]
        elif marker in JPEG_CARRIED:
            native.append((marker, body))
        elif marker == 0xE2 and body.startswith(b"ICC_PROFILE\0"):
            icc_parts[body[12]] = body[14:]
        elif marker == 0xE0 and body.startswith(b"JFIF\0") and len(body) >= 12:
            unit, xd, yd = struct.unpack(">BHH", body[7:12])
            if unit in (1, 2) and xd and yd:
                scale = 2.54 if unit == 2 else 1.0
                info.dpi = (xd * scale, yd * scale)
    if icc_parts:
        info.icc_profile = b"".join(icc_parts[k] for k in sorted(icc_parts))
    frame = jpeg_frame(data)
    if (frame and frame[2] == 4) or (info.icc_profile or b"")[16:20] == b"CMYK":
        info.cmyk = True  # the decoder hands over RGB: a CMYK profile would mislabel those pixels
        info.icc_profile = None
    info.native = (".jpg", native) if native else None
    return info


def jpeg_segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def jpeg_add_info(data: bytes, info: ImageInfo) -> bytes:
    segments = list(jpeg_segments(data))
    out_head = bytearray(data[:2])
    rest_start = 2
    if segments and segments[0][0] == 0xE0:  # keep JFIF first, with our density
        _, body, start, end = segments[0]
        body = bytearray(body)
        if info.dpi and body.startswith(b"JFIF\0") and len(body) >= 12:
            body[7:12] = struct.pack(">BHH", 1, round(info.dpi[0]), round(info.dpi[1]))
        out_head += jpeg_segment(0xE0, body)
        rest_start = end
    for prefix, payload in ((JPEG_EXIF, info.exif), (JPEG_XMP, info.xmp)):
        # larger ones need a PNG or TIFF
        if payload and len(prefix) + len(payload) <= JPEG_SEGMENT_MAX:
            out_head += jpeg_segment(0xE1, prefix + payload)
    if info.icc_profile:
        chunk = 65519
        parts = [info.icc_profile[i:i + chunk] for i in range(0, len(info.icc_profile), chunk)]
        for i, part in enumerate(parts):
            out_head += jpeg_segment(0xE2, b"ICC_PROFILE\0" + bytes([i + 1, len(parts)]) + part)
    for marker, body in native_of(info, ".jpg"):
        out_head += jpeg_segment(marker, body)
    return bytes(out_head) + data[rest_start:]


def without_app_segments(data: bytes) -> bytes:
    """The JPEG with its first APP0 (JFIF) but no other application segment or comment: jpeglib
    copies the source's markers after its own JFIF, and `jpeg_add_info` writes the metadata that
    belongs."""
    out, seen_app0, end = bytearray(data[:2]), False, 2
    for marker, body, start, end in jpeg_segments(data):
        if marker == 0xE0 and not seen_app0:
            seen_app0 = True
        elif 0xE0 <= marker <= 0xEF or marker == 0xFE:
            continue
        out += data[start:end]
    return bytes(out) + data[end:]

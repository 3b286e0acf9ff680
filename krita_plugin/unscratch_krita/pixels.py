"""Krita pixel bytes <-> the worker protocol's arrays. Standard library only (no numpy, no Qt).

`Node.pixelData(x, y, w, h)` returns the layer's native pixel bytes:

  model  depth  bytes per channel  channel order      worker array (dtype)
  RGBA   U8     1                  B G R A            HxWx4 R G B A (uint8)
  RGBA   U16    2                  B G R A            HxWx4 R G B A (uint16)
  RGBA   F16    2 (half float)     R G B A            HxWx4 R G B A (float32)
  RGBA   F32    4                  R G B A            HxWx4 R G B A (float32)
  GRAYA  any    as above           Y A                HxWx2 Y A (the worker repairs Y only)

(Checked in Krita 5.1.5: integer RGBA is stored BGRA, floating-point RGBA is stored RGBA.)
Reordering is done with extended-slice copies of bytearrays, which run at memcpy-like speed, so a
12-megapixel layer converts in well under a second without numpy. Half floats are widened to
float32 exactly and narrowed back exactly for values that were halves to begin with, so pixels the
worker leaves alone come back bit-identical at every depth.
"""

from __future__ import annotations

import struct
from array import array

SUPPORTED_MODELS = ("RGBA", "GRAYA")
SUPPORTED_DEPTHS = ("U8", "U16", "F16", "F32")
ITEMSIZE = {"U8": 1, "U16": 2, "F16": 2, "F32": 4}
WORKER_DTYPE = {"U8": "uint8", "U16": "uint16", "F16": "float32", "F32": "float32"}
# native channel order, named by the worker's channel index (R=0, G=1, B=2, A=3; gray: Y=0, A=1)
NATIVE_ORDER = {
    ("RGBA", "U8"): (2, 1, 0, 3),
    ("RGBA", "U16"): (2, 1, 0, 3),
    ("RGBA", "F16"): (0, 1, 2, 3),
    ("RGBA", "F32"): (0, 1, 2, 3),
}
_ROWS = 64  # rows per chunk when widening/narrowing half floats


class UnsupportedLayer(ValueError):
    """The layer's colour model or depth cannot be processed; the message says what to do."""


MODEL_NAMES = {
    "CMYKA": "CMYK",
    "LABA": "L*a*b*",
    "XYZA": "XYZ",
    "YCbCrA": "YCbCr",
    "A": "alpha-only (a mask)",
}


class Format:
    """How one Krita colour space lays out its pixels, and how the worker sees them."""

    def __init__(self, model: str, depth: str):
        if model not in SUPPORTED_MODELS:
            name = MODEL_NAMES.get(model, model or "unknown")
            raise UnsupportedLayer(
                f"the layer's colour model is {name} ({model}/{depth}); unscratch works on RGB and "
                "grayscale layers. Convert it with Image > Convert Image Color Space (RGB/Alpha or "
                "Grayscale/Alpha), or Layer > Convert > Convert Layer Color Space."
            )
        if depth not in SUPPORTED_DEPTHS:
            raise UnsupportedLayer(
                f"the layer's colour depth {depth} is not supported; use 8-bit, 16-bit integer, "
                f"16-bit float or 32-bit float"
            )
        self.model, self.depth = model, depth
        self.itemsize = ITEMSIZE[depth]
        self.channels = 4 if model == "RGBA" else 2
        self.pixel_size = self.itemsize * self.channels
        self.dtype = WORKER_DTYPE[depth]
        self.worker_itemsize = 4 if depth in ("F16", "F32") else self.itemsize

    def __repr__(self) -> str:
        return f"Format({self.model}/{self.depth})"

    def expect(self, data: bytes, w: int, h: int) -> None:
        if len(data) != w * h * self.pixel_size:
            raise ValueError(
                f"{self!r}: got {len(data)} bytes for {w}x{h} pixels, expected "
                f"{w * h * self.pixel_size}"
            )

    # ---------------------------------------------------------------- to the worker
    def to_worker(self, data: bytes, w: int, h: int) -> tuple[bytes, tuple, str]:
        """Krita's native bytes -> (bytes, shape, dtype) for protocol.run_job."""
        self.expect(data, w, h)
        data = bytes(data)
        if self.model == "RGBA":
            raw = _permute(
                data, self.itemsize, NATIVE_ORDER[(self.model, self.depth)], to_native=False
            )
            shape = (h, w, 4)
        else:
            raw, shape = data, (h, w, 2)
        if self.depth == "F16":
            raw = half_to_float(raw)
        return raw, shape, self.dtype

    # ---------------------------------------------------------------- back from the worker
    def from_worker(self, restored: bytes, original: bytes, w: int, h: int) -> bytes:
        """The worker's restored array (same layout as to_worker made) -> Krita's native bytes.

        Alpha is taken from `original` (the core never changes it)."""
        self.expect(original, w, h)
        if len(restored) != w * h * self.channels * self.worker_itemsize:
            raise ValueError(
                f"{self!r}: the worker returned {len(restored)} bytes for {w}x{h} pixels"
            )
        if self.depth == "F16":
            restored = float_to_half(restored)
        out = bytearray(
            restored
            if self.model == "GRAYA"
            else _permute(
                bytes(restored),
                self.itemsize,
                NATIVE_ORDER[(self.model, self.depth)],
                to_native=True,
            )
        )
        _copy_channel(
            out, original, self.itemsize, self.channels, self.channels - 1
        )  # alpha: exactly the original's
        return bytes(out)

    # ---------------------------------------------------------------- layers we create
    def patch(self, restored_native: bytes, original: bytes) -> tuple[bytes, int]:
        """A layer holding only the changed pixels: the restored pixel where any of its bytes
        differs from the original, fully transparent (all zero) elsewhere. Returns (native bytes,
        changed count).

        Done with big-integer XOR/AND and strided slices (C speed), not a Python loop per pixel."""
        if len(restored_native) != len(original):
            raise ValueError("restored and original layers differ in size")
        if restored_native == original:
            return bytes(len(original)), 0
        size, n = self.pixel_size, len(original) // self.pixel_size
        diff = (
            int.from_bytes(restored_native, "little") ^ int.from_bytes(original, "little")
        ).to_bytes(len(original), "little")
        diff = diff.translate(_NONZERO_TO_ONE)
        count = 0
        for k in range(size):  # per pixel: how many of its bytes differ (<= 16, so no carries)
            count += int.from_bytes(diff[k::size], "little")
        flags = count.to_bytes(n, "little").translate(_NONZERO_TO_FF)
        changed = n - flags.count(0)
        out = (int.from_bytes(restored_native, "little") & _spread(flags, size)).to_bytes(
            len(original), "little"
        )
        return out, changed

    def overlay(self, mask: bytes, w: int, h: int, rgb=(255, 0, 0)) -> bytes:
        """Native bytes of a layer that is `rgb` (gray layers: white), opaque where `mask` (1 byte
        per pixel) is nonzero and fully transparent elsewhere: the visible result of Detect."""
        if len(mask) != w * h:
            raise ValueError("mask size does not match the layer")
        mask = bytes(mask)
        if self.model == "RGBA":
            values = (rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0, 1.0)
            order = NATIVE_ORDER[(self.model, self.depth)]
            pixel = b"".join(self._encode(values[order[i]]) for i in range(4))  # native position i
        else:
            pixel = self._encode(1.0) + self._encode(1.0)
        size = self.pixel_size
        out = bytearray(w * h * size)
        for k in range(size):
            out[k::size] = mask.translate(bytes([0]) + bytes([pixel[k]]) * 255)
        return bytes(out)

    def remark(self, native: bytes, old: bytes, new: bytes, w: int, h: int) -> bytes:
        """A marks layer's native bytes with its marks changed from `old` to `new` (0/255 per
        pixel): pixels that gain a mark become the overlay's red, pixels that lose one become
        transparent, every other pixel (the user's own strokes included) stays as it was."""
        self.expect(native, w, h)
        n = w * h
        flip = (int.from_bytes(old, "little") ^ int.from_bytes(new, "little")).to_bytes(n, "little")
        keep = _spread(flip, self.pixel_size)
        full = (1 << (8 * len(native))) - 1
        red = int.from_bytes(self.overlay(new, w, h), "little")
        out = (int.from_bytes(native, "little") & (keep ^ full)) | (red & keep)
        return out.to_bytes(len(native), "little")

    def _encode(self, value: float) -> bytes:
        if self.depth == "U8":
            return bytes([int(round(value * 255))])
        if self.depth == "U16":
            return struct.pack("<H", int(round(value * 65535)))
        if self.depth == "F16":
            return struct.pack("<e", value)
        return struct.pack("<f", value)

    def alpha_mask(self, data: bytes, w: int, h: int) -> bytes:
        """1 byte per pixel, 255 where the pixel's alpha is at least half (a mark the user sees),
        else 0.
        Read from the alpha's most significant byte, which decides it at every depth: u8 >= 128,
        u16 >= 32768, and for non-negative IEEE floats bits >= those of 0.5 (high byte 0x38-0x7F for
        half, 0x3F-0x7F for float32; 0x80 and up are negative)."""
        self.expect(data, w, h)
        high = (self.channels - 1) * self.itemsize + self.itemsize - 1
        return bytes(data)[high :: self.pixel_size].translate(_ALPHA_HALF[self.depth])


_ALPHA_HALF = {
    depth: bytes(255 if lo <= b < hi else 0 for b in range(256))
    for depth, (lo, hi) in {
        "U8": (128, 256),
        "U16": (128, 256),
        "F16": (0x38, 0x80),
        "F32": (0x3F, 0x80),
    }.items()
}
_NONZERO_TO_ONE = bytes([0]) + bytes([1]) * 255
_NONZERO_TO_FF = bytes([0]) + bytes([255]) * 255


def _spread(flags: bytes, size: int) -> int:
    """Per-pixel flags (0/255, one byte a pixel) as a big integer covering each pixel's `size`
    bytes."""
    keep = bytearray(len(flags) * size)
    for k in range(size):
        keep[k::size] = flags
    return int.from_bytes(keep, "little")


def apply_patch(base: bytes, patch: bytes, size: int) -> bytes:
    """`base` with each pixel that is not all zero in `patch` (a result layer: the repaired
    pixels, transparent elsewhere) replaced by the patch's pixel: what the user sees of a photo
    under one of our result layers. `size`: bytes per pixel."""
    if len(base) != len(patch):
        raise ValueError("a result layer and its photo differ in size")
    nonzero = patch.translate(_NONZERO_TO_ONE)
    count = 0
    for k in range(size):  # per pixel: how many of its bytes are nonzero (<= 16, no carries)
        count += int.from_bytes(nonzero[k::size], "little")
    n = len(patch) // size
    flags = count.to_bytes(n, "little").translate(_NONZERO_TO_FF)
    if not flags.strip(b"\x00"):
        return base
    keep = _spread(flags, size)
    full = (1 << (8 * len(base))) - 1
    out = (int.from_bytes(base, "little") & (keep ^ full)) | (
        int.from_bytes(patch, "little") & keep
    )
    return out.to_bytes(len(base), "little")


def _permute(data: bytes, size: int, order: tuple, to_native: bool) -> bytes:
    """Reorder 4-channel pixels. order[i] = worker channel stored at native position i."""
    if order == (0, 1, 2, 3):
        return data
    stride = 4 * size
    out = bytearray(len(data))
    for native_pos, worker_pos in enumerate(order):
        src, dst = (worker_pos, native_pos) if to_native else (native_pos, worker_pos)
        for k in range(size):
            out[dst * size + k :: stride] = data[src * size + k :: stride]
    return bytes(out)


def _copy_channel(out: bytearray, src: bytes, size: int, channels: int, index: int) -> None:
    stride = size * channels
    for k in range(size):
        out[index * size + k :: stride] = src[index * size + k :: stride]


def half_to_float(data: bytes) -> bytes:
    """Little-endian IEEE half floats -> little-endian float32, exactly."""
    n = len(data) // 2
    out = array("f")
    chunk = 4096 * _ROWS
    for start in range(0, n, chunk):
        count = min(chunk, n - start)
        out.extend(struct.unpack_from(f"<{count}e", data, start * 2))
    if out.itemsize != 4:  # pragma: no cover - every supported platform has 4-byte C floats
        raise RuntimeError("float is not 32-bit on this platform")
    if struct.pack("=H", 1) != struct.pack("<H", 1):  # pragma: no cover - big-endian hosts
        out.byteswap()
    return out.tobytes()


def float_to_half(data: bytes) -> bytes:
    """Little-endian float32 -> little-endian half floats (round to nearest; exact for halves)."""
    n = len(data) // 4
    parts = []
    chunk = 4096 * _ROWS
    for start in range(0, n, chunk):
        count = min(chunk, n - start)
        values = struct.unpack_from(f"<{count}f", data, start * 4)
        try:
            parts.append(struct.pack(f"<{count}e", *values))
        except OverflowError:  # values beyond the half range: clamp like a cast would saturate
            parts.append(
                struct.pack(f"<{count}e", *(max(-65504.0, min(65504.0, v)) for v in values))
            )
    return b"".join(parts)


def selection_region(data: bytes, w: int, h: int) -> tuple[bytes, tuple, str] | None:
    """A Krita selection's pixelData (1 byte per pixel, 0..255) as the worker's soft `region`,
    or None when nothing is selected (an empty selection)."""
    if len(data) != w * h:
        raise ValueError(f"selection: got {len(data)} bytes for {w}x{h} pixels")
    data = bytes(data)
    if not data.strip(b"\x00"):
        return None
    return data, (h, w), "uint8"

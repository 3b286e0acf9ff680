"""What the editor plug-ins (GIMP, Krita) share above the wire format. Standard library only;
`unscratch install` copies this file beside each plug-in, like protocol.py (which keeps the wire
format and the worker runner).

API (every name below is public; nothing else is):
  * ACTIONS: the action names every host shows: "Detect scratches", "Restore selection", "Fill
    selection" (keys "detect", "restore", "fill").
  * job_params(threshold=None, method=None) -> dict: a job's params. "The detector's default" has
    one encoding: None, sent as an absent key. A host whose control cannot hold None (GIMP's double
    argument) pairs it with an explicit on/off control; it never sends 0, "auto", or a value that
    happens to equal the default.
  * marks_name(photo), result_name(photo, op, taken=()), photo_of(name), is_result(name): layer
    names: "Photo (scratches)" holds the marks, "Photo (restored)" / "Photo (filled)" a result
    ("Photo (restored 2)" when the name is taken); photo_of maps any of them back to "Photo".
  * hide_marks(visible) -> bool: the marks-hiding rule: a repair that used a visible marks layer
    hides it so its result shows (in the same undo step, so undo shows it again).
  * summary(op, info, seconds, marks=None, source=None, missing=None, remade="", fill_hint=None,
    whole="the whole layer") -> str: what a job did, in words: "Repaired N pixels using marks
    from layer 'X' inside the selection in T s." (names exactly as the user sees them), or why
    nothing changed and what to do (the CLI's too). remade(threshold, gained, lost, inside) ->
    str: the sentence on marks re-made at another sensitivity.
  * Stored detection (re-threshold without the detector): encode_detection(probability, mask,
    threshold) -> bytes to keep with the marks layer (a GIMP parasite, a Krita annotation);
    decode_detection(bytes) -> Detection or None; merge_detection(...): a new detection inside a
    selection over an existing marks layer; remark(detection, current, region, threshold) ->
    (marks, next detection, gained, lost): the marks at another sensitivity inside the region,
    keeping the user's erasures and painted marks (the rule itself: remark_planes, on ints or
    numpy arrays; napari uses it too); store(detection) -> bytes again. Helpers:
    binary(alpha) (a mark is at least half opaque), region_mask(float32 selection, n),
    threshold_marks(probability, t). Masks are bytes of 0/255, one per pixel; probabilities
    float32 bytes (the worker's); all of it big-integer arithmetic, no numpy.
"""
from __future__ import annotations

import json
import struct
import zlib

ACTIONS = {"detect": "Detect scratches", "restore": "Restore selection", "fill": "Fill selection"}
_SUFFIX = {"detect": "scratches", "restore": "restored", "fill": "filled"}


def job_params(threshold: float | None = None, method: str | None = None) -> dict:
    """{"threshold": t} for an explicit sensitivity; no key for the detector's default (None);
    {"method": m} likewise."""
    params = {}
    if threshold is not None:
        params["threshold"] = float(threshold)
    if method is not None:
        params["method"] = method
    return params


# --------------------------------------------------------------------------------------------------
# Layer names
def marks_name(photo: str) -> str:
    return f"{photo} ({_SUFFIX['detect']})"


def result_name(photo: str, op: str, taken=()) -> str:
    """'Photo (restored)', or 'Photo (restored 2)', ... when that name is in `taken`."""
    base, n = f"{photo} ({_SUFFIX[op]}", 1
    name = base + ")"
    while name in set(taken):
        n += 1
        name = f"{base} {n})"
    return name


def _split(name: str):
    """(photo, op) for a name this kit made, else (None, None)."""
    if not name.endswith(")") or " (" not in name:
        return None, None
    photo, _, tag = name[:-1].rpartition(" (")
    word, _, num = tag.partition(" ")
    if num and not num.isdigit():
        return None, None
    for op, suffix in _SUFFIX.items():
        if word == suffix and (op != "detect" or not num):
            return photo, op
    return None, None


def photo_of(name: str) -> str | None:
    """The photo's layer name a marks or result layer was made for; None for any other name."""
    return _split(name)[0]


def is_result(name: str) -> bool:
    return _split(name)[1] in ("restore", "fill")


def hide_marks(visible: bool) -> bool:
    """Whether a repair that used a marks layer hides it: when it is showing (its red would cover
    the result)."""
    return bool(visible)


# --------------------------------------------------------------------------------------------------
# Summaries
def summary(op: str, info: dict, seconds: float | None, *, marks: str | None = None,
            source: str | None = None, missing: str | None = None, remade: str = "",
            fill_hint: str | None = None, whole: str = "the whole layer") -> str:
    """What a detect/restore/fill job did, from its result info (RepairRule.as_dict() and
    `repaired_pixels`, or detect's `defect_pixels`), for a host's message. `marks`: the marks
    layer used (its name as shown); `source`: the marks in other words (the CLI's "--mask m.png")
    instead; `missing`: the marks layer's name when there is none (the detector was used
    instead); `remade`: a sentence on re-made marks (see remade); `fill_hint`: the host's fill
    command; `whole`: what the image is called; `seconds` None: no time said."""
    n = int(info.get("repaired_pixels", info.get("defect_pixels", 0)))
    inside = " inside the selection" if info.get("selection") else ""
    where = inside or f" on {whole}"
    t = info.get("threshold")
    at = f" at sensitivity {t:.2f}" if t is not None else ""
    fill_hint = fill_hint or ACTIONS["fill"]
    extra = f" {remade}" if remade else ""
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    if op == "detect":
        if not n:
            return (f"No scratches, dust or hairs found{where}{at}{took}. If you see "
                    f"some, lower the sensitivity, or select them and use {fill_hint}.")
        return (f"Marked {n} pixels{where}{at}{took}, in the layer '{marks}'. Erase "
                f"false marks or paint missed ones on it; {ACTIONS['restore']} repairs what it "
                "shows.")
    if op == "fill" or info.get("rule") == "fill":
        if not n:
            return "Nothing changed: the selection already matches its surroundings."
        return f"Healed {n} pixels{inside} from their surroundings{took}."
    if source is not None:
        if not n:
            return (f"Nothing repaired: {source} marks no pixel{inside}. Fix: mark the defects in "
                    f"it, or use {fill_hint}.")
        return f"Repaired {n} pixels using marks from {source}{inside}{took}."
    if marks is not None:
        if not n:
            return (f"Nothing repaired: the layer '{marks}' marks no pixel{inside}.{extra} Fix: "
                    "paint the defects on it (or delete it to let the detector find them), or "
                    f"use {fill_hint}.")
        return f"Repaired {n} pixels using marks from layer '{marks}'{inside}{took}.{extra}"
    none = f" (there is no layer '{missing}')" if missing else ""
    if not n:
        return (f"Nothing repaired: no defect found{where}{at}{none}. Fix: lower the "
                f"sensitivity, or use {fill_hint} to heal the whole selection.")
    grown = f", grown by {info['dilate']} px" if info.get("dilate") else ""
    took = f",{took}" if took else ""
    return f"Repaired {n} pixels: the defects the detector found{where}{at}{grown}{none}{took}."


def remade(threshold: float, gained: int, lost: int, inside: bool = False) -> str:
    """The sentence every host says when it re-made the marks at another sensitivity (remark)."""
    where = " inside the selection" if inside else ""
    return (f"The marks were re-made{where} at sensitivity {threshold:.2f} from the stored "
            f"detection (the detector was not re-run), keeping your erasures and painted marks "
            f"({gained} pixels added, {lost} removed).")


# --------------------------------------------------------------------------------------------------
# Masks as bytes of 0/255, combined as big integers (fast without numpy)
def _int(mask: bytes) -> int:
    return int.from_bytes(mask, "little")


def _bytes(value: int, n: int) -> bytes:
    return value.to_bytes(n, "little")


def _full(n: int) -> int:
    return _int(b"\xff" * n)


def binary(mask: bytes, at: int = 128) -> bytes:
    """0/255 per byte: 255 where the uint8 value is at least `at` (a mark at least half opaque)."""
    return mask.translate(bytes(255 if i >= at else 0 for i in range(256)))


def region_mask(region: bytes | None, n: int) -> bytes:
    """A float32 selection plane (bytes) as 0/255 where it is above 0; all 255 when None."""
    if region is None:
        return b"\xff" * n
    nz = region.translate(bytes([0] + [255] * 255))
    return _bytes(_int(nz[0::4]) | _int(nz[1::4]) | _int(nz[2::4]) | _int(nz[3::4]), n)


class Detection:
    """A stored detection: `probability` (float32 bytes; below FLOOR stored as 0, so it packs
    small), `detected` (0/255: the marks the detector last put in the layer, before the user's
    edits), `erased` (0/255: the pixels the user decided, kept across re-thresholds: detector
    marks erased, and marks painted where the detector had none; the layer says which) and the
    `threshold` they were made at (None: the detector's default rule)."""

    def __init__(self, probability: bytes, detected: bytes, erased: bytes, threshold):
        self.probability, self.detected = probability, detected
        self.erased, self.threshold = erased, threshold


FLOOR = 0.05    # the lowest sensitivity a stored detection can be re-thresholded at


def _at_least(probability: int, n: int, threshold: float) -> int:
    """Lanes (32-bit, one per pixel) of the float32 `probability` at or above `threshold` (> 0 for
    0), as the top bit of each lane: non-negative floats order as their bit patterns, so one
    subtraction compares every pixel (no lane borrows from the next)."""
    top = _int(b"\0\0\0\x80" * n)
    t = struct.pack("<f", threshold) if threshold > 0 else b"\1\0\0\0"
    return ((probability | top) - _int(t * n)) & top


def threshold_marks(probability: bytes, threshold: float) -> bytes:
    """0/255 where the float32 probability is at or above `threshold` (as numpy compares a float32
    array with a Python float)."""
    n = len(probability) // 4
    lanes = _bytes(_at_least(_int(probability), n, threshold), 4 * n)
    return lanes[3::4].translate(bytes([0] * 128 + [255] * 128))


def _floored(probability: bytes) -> int:
    """The float32 probability as lanes, 0 below FLOOR (and no sign bit: -0.0 is 0)."""
    n = len(probability) // 4
    x = _int(probability) & _int(b"\xff\xff\xff\x7f" * n)
    return x & ((_at_least(x, n, FLOOR) >> 31) * 0xFFFFFFFF)


def _lanes(mask: bytes) -> int:
    """0/255 per pixel -> 32-bit lanes of all ones or zeros."""
    buf = bytearray(4 * len(mask))
    for i in range(4):
        buf[i::4] = mask
    return _int(buf)


def encode_detection(probability: bytes, mask: bytes, threshold, erased: bytes | None = None,
                     floored: bool = False) -> bytes:
    """Bytes to store with the marks layer: the probability (float32 bytes) and the marks the
    detector made (0/255 or a uint8 mask)."""
    n = len(probability) // 4
    if not floored:
        probability = _bytes(_floored(probability), 4 * n)
    header = json.dumps({"version": 1, "pixels": n, "threshold": threshold}).encode()
    body = probability + binary(mask) + (erased if erased is not None else bytes(n))
    return len(header).to_bytes(4, "little") + header + zlib.compress(body, 1)


def decode_detection(data: bytes) -> Detection | None:
    """The stored detection, or None when the bytes are not one (another version, damaged)."""
    try:
        size = int.from_bytes(data[:4], "little")
        header = json.loads(data[4:4 + size])
        body = zlib.decompress(data[4 + size:])
        n = int(header["pixels"])
        if header.get("version") != 1 or len(body) != 6 * n:
            return None
        return Detection(body[:4 * n], body[4 * n:5 * n], body[5 * n:], header.get("threshold"))
    except (ValueError, KeyError, TypeError, zlib.error):
        return None


ERASED_REACH = 3    # px: a mark the user erased also keeps new marks this close to it away


def _grow(mask: int, n: int, width: int, px: int) -> int:
    """A 0/255-per-pixel mask (as an int) grown by `px` pixels (a square), rows `width` long."""
    full, step = _full(n), 8 * width
    not_first = _int((b"\0" + b"\xff" * (width - 1)) * (n // width))   # no wrap into column 0
    not_last = _int((b"\xff" * (width - 1) + b"\0") * (n // width))
    for _ in range(px):
        mask |= ((mask << 8) & not_first) | ((mask >> 8) & not_last)
        mask = (mask | (mask << step) | (mask >> step)) & full
    return mask


def remark_planes(fresh, current, detected, erased, region=None, grow=None):
    """The re-threshold rule, written once for every host: Python ints (0/255 bytes as big
    integers: GIMP, Krita) or numpy bool arrays (napari) alike, as it uses only &, | and ~ (never
    a bare ~, which an int has infinitely many ones of). `fresh`: the detector's marks at the new
    threshold; `current`: the layer now; `detected`, `erased`: the stored detection's; `region`:
    where to re-mark (None: everywhere); `grow(erased)`: the keep-out around erased marks (None:
    the erased pixels only).

    The user's edits win at every threshold: a pixel the user decided (erased from the detector's
    marks, or painted where the detector had none; `erased` keeps them all) stays as the layer
    shows it, and new marks in the keep-out around the erased ones are not added; every other
    pixel is the detector's at `threshold`. Outside the region the marks are `current` unchanged.
    Returns (marks, detected, erased) to store next: `detected` is what the detector itself put in
    the layer (not the keep-out, not the user's pixels), so the keep-out does not creep."""
    decided = erased | (detected & ~current) | (current & ~detected)
    gone = decided & ~current
    keep_out = grow(gone) if grow is not None else gone
    own = fresh & ~keep_out & ~decided
    marks = own | (decided & current)
    if region is None:
        return marks, own, decided
    return ((marks & region) | (current & ~region), (own & region) | (detected & ~region),
            decided)


def remark(det: Detection, current: bytes, region: bytes, threshold: float, width: int = 0):
    """remark_planes on a stored Detection: the marks at `threshold` inside `region` (0/255),
    keeping the user's edits, with new marks kept ERASED_REACH px away from erased ones (`width`:
    the layer's row length; 0 = erased pixels only). Returns (marks, the Detection to store next,
    marked pixels gained, lost)."""
    n = len(current)
    fresh = _int(threshold_marks(det.probability, float(threshold)))
    cur = _int(binary(current))
    grow = (lambda m: _grow(m, n, width, ERASED_REACH)) if width else None
    marks, detected, erased = remark_planes(fresh, cur, _int(det.detected), _int(det.erased),
                                            _int(region), grow)
    gained = (marks & ~cur).bit_count() // 8
    lost = (cur & ~marks).bit_count() // 8
    nxt = Detection(det.probability, _bytes(detected, n), _bytes(erased, n), threshold)
    return _bytes(marks, n), nxt, gained, lost


def merge_detection(prev: Detection | None, current: bytes, probability: bytes, mask: bytes,
                    region: bytes, threshold) -> tuple[bytes, bytes]:
    """A new detection (float32 probability, uint8 mask) inside `region` (0/255) over an existing
    marks layer whose alpha is `current`: (the layer's marks, 0/255; the bytes to store). Outside
    the region the layer's marks and the stored detection `prev` (None: none) are kept."""
    n = len(current)
    full, reg = _full(n), _int(region)
    out = full & ~reg
    new, cur = _int(binary(mask)), _int(binary(current))
    marks = (new & reg) | (cur & out)
    lanes = _lanes(region)
    old_p = _int(prev.probability) if prev is not None else 0
    old_d = _int(prev.detected) if prev is not None else cur
    old_e = _int(prev.erased) if prev is not None else 0
    prob = (_floored(probability) & lanes) | (old_p & ~lanes & _full(4 * n))
    stored = encode_detection(_bytes(prob, 4 * n), _bytes((new & reg) | (old_d & out), n),
                              threshold, _bytes(old_e & out, n), floored=True)
    return _bytes(marks, n), stored


def store(det: Detection) -> bytes:
    """encode_detection for a Detection remark returned."""
    return encode_detection(det.probability, det.detected, det.threshold, det.erased, floored=True)

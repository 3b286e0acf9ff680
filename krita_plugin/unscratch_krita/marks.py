"""The marks layer is the one source of truth for what Restore repairs; this module keeps what
Detect found beside it so that the sensitivity can change while it exists.

Detect stores its probability with the marks layer it made (hostkit's stored detection, kept
compressed in memory for this Krita session, keyed by the layer's unique id; the last KEEP). When
the sensitivity in use differs from the one the marks were made at (the docker's control, live; or
at Restore from a menu), the marks are made again from the stored probability, keeping the user's
erasures and painted marks (hostkit.remark), and written into the layer. A marks layer without a
stored detection (painted by hand, or from an earlier session) is used as it is; `describe` says
which."""

from __future__ import annotations

from .kit import hostkit, log
from .layers import read_marks

KEEP = 8  # detections kept (a 12-megapixel one is a few MB compressed, 72 MB decoded)
# layer uniqueId -> {"data": hostkit's bytes, "threshold": made at (None: the detector's own),
# "size": (w, h), "default": the detector's own threshold}
_stored: dict = {}


def _key(layer) -> str:
    uid = layer.uniqueId()
    return uid.toString() if hasattr(uid, "toString") else str(uid)


def remember(layer, probability: bytes, mask: bytes, threshold, default, w: int, h: int) -> None:
    """Keep Detect's probability (float32 bytes) and marks (0/255) with its new layer. `threshold`
    is the one asked for (None: the detector's own, `default`)."""
    data = hostkit.encode_detection(probability, mask, threshold)
    _stored[_key(layer)] = {
        "data": data,
        "threshold": threshold,
        "size": (w, h),
        "default": default,
    }
    while len(_stored) > KEEP:
        del _stored[next(iter(_stored))]


def stored(doc, layer):
    """The stored detection of a marks layer, or None (none kept, or the image was resized)."""
    entry = _stored.get(_key(layer))
    if entry is None or entry["size"] != (doc.width(), doc.height()):
        return None
    return entry


def made_at(entry) -> float | None:
    return entry["default"] if entry["threshold"] is None else entry["threshold"]


def follow(doc, layer, threshold: float | None) -> tuple[bytes | None, str]:
    """Make the marks in `layer` again at `threshold` (None: the detector's own) when they were
    made at another one, keeping the user's edits. Returns the marks now in the layer (0/255 a
    pixel, as layers.marks_of reads them) and a sentence for the message; (None, '') when nothing
    was done."""
    entry = stored(doc, layer)
    if entry is None:
        return None, ""
    target = entry["default"] if threshold is None else threshold
    if target is None or made_at(entry) is not None and abs(made_at(entry) - target) < 1e-9:
        return None, ""
    det = hostkit.decode_detection(entry["data"])
    if det is None:
        return None, ""
    w, h = doc.width(), doc.height()
    fmt, native, current = read_marks(doc, layer)   # once: the marks and what is rewritten
    new, det, gained, lost = hostkit.remark(det, current, b"\xff" * (w * h), target, width=w)
    entry["data"], entry["threshold"] = hostkit.store(det), target
    if new != current:
        layer.setPixelData(fmt.remark(native, current, new, w, h), 0, 0, w, h)
        doc.refreshProjection()
    log(f"marks in '{layer.name()}' made again at sensitivity {target:.2f}: +{gained} -{lost}")
    return new, hostkit.remade(target, gained, lost)


def describe(doc, layer, threshold: float | None) -> str:
    """What Restore will use, in words, for the docker."""
    if layer is None:
        return ""
    entry = stored(doc, layer)
    if entry is None:
        return (
            f"Restore repairs the marks in '{layer.name()}' as they are: it holds no detection "
            "of this session, so the sensitivity does not change it (run Detect again, or "
            "delete the layer to let the detector choose)."
        )
    target = entry["default"] if threshold is None else threshold
    at = f" at sensitivity {target:.2f}" if target is not None else ""
    return (
        f"Restore repairs the marks in '{layer.name()}'{at}, with your erasures and painted "
        "marks kept."
    )

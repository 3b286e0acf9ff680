"""The marks layer is the one source of truth for what Restore repairs; this module keeps what
Detect found beside it so that the sensitivity can change while it exists.

Detect stores its probability with the marks layer it made (hostkit's stored detection, kept in
memory for this Krita session, keyed by the layer's unique id). When the sensitivity in use differs
from the one the marks were made at (the docker's control, live; or at Restore from a menu), the
marks are made again from the stored probability, keeping the user's erasures and painted marks
(hostkit.remark), and written into the layer. A marks layer without a stored detection (painted by
hand, or from an earlier session) is used as it is; `describe` says which."""

from __future__ import annotations

from . import pixels
from .kit import hostkit, log
from .layers import marks_of

_stored: dict = {}  # layer uniqueId -> {"det": hostkit.Detection, "size": (w, h), "default": t}


def _key(layer) -> str:
    uid = layer.uniqueId()
    return uid.toString() if hasattr(uid, "toString") else str(uid)


def remember(layer, probability: bytes, mask: bytes, threshold, default, w: int, h: int) -> None:
    """Keep Detect's probability (float32 bytes) and marks (0/255) with its new layer. `threshold`
    is the one asked for (None: the detector's own, `default`)."""
    data = hostkit.encode_detection(probability, mask, threshold)
    det = hostkit.decode_detection(data)
    if det is not None:
        _stored[_key(layer)] = {"det": det, "size": (w, h), "default": default}


def stored(doc, layer):
    """The stored detection of a marks layer, or None (none kept, or the image was resized)."""
    entry = _stored.get(_key(layer))
    if entry is None or entry["size"] != (doc.width(), doc.height()):
        return None
    return entry


def made_at(entry) -> float | None:
    det = entry["det"]
    return entry["default"] if det.threshold is None else det.threshold


def follow(doc, layer, threshold: float | None) -> str:
    """Make the marks in `layer` again at `threshold` (None: the detector's own) when they were
    made at another one, keeping the user's edits. Returns a sentence for the message ('' when
    nothing was done)."""
    entry = stored(doc, layer)
    if entry is None:
        return ""
    target = entry["default"] if threshold is None else threshold
    if target is None or made_at(entry) is not None and abs(made_at(entry) - target) < 1e-9:
        return ""
    w, h = doc.width(), doc.height()
    current = marks_of(doc, layer)
    new, det, gained, lost = hostkit.remark(
        entry["det"], current, b"\xff" * (w * h), target, width=w
    )
    entry["det"] = det
    if new != current:
        fmt = pixels.Format(layer.colorModel(), layer.colorDepth())
        native = bytes(layer.pixelData(0, 0, w, h))
        layer.setPixelData(fmt.remark(native, current, new, w, h), 0, 0, w, h)
        doc.refreshProjection()
    log(f"marks in '{layer.name()}' made again at sensitivity {target:.2f}: +{gained} -{lost}")
    return (
        f"The marks were made again at sensitivity {target:.2f}, keeping your edits "
        f"({gained} pixels added, {lost} removed)."
    )


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

"""The marks: the Labels layer "Detect scratches" makes is the one source of truth for what
"Restore selection" repairs.

Restore reads the marks from the layer as the user sees it, after any brush or eraser edits; a
deleted marks layer means "no marks" (Restore then detects). Beside the layer this module keeps
what re-thresholding needs without running the detector again: per processed slice, the
probability, the marks the detector last wrote, the pixels the user decided (erased from them, or
painted), and where the detector looked. The rule is `unscratch.hostkit.remark_planes`, the one
GIMP and Krita use:
`Marks.remark(threshold)` rewrites the layer at another sensitivity keeping the user's edits (an
erased detector mark stays erased and keeps new marks ERASED_REACH px away, a painted mark stays,
and where the detector did not look the layer is left as it is; a mark painted back over an
erased one is the user's again), and
`Marks.add` puts a new detection where the detector looked, keeping the layer elsewhere.

Widgets that show a sensitivity for a marks layer subscribe (`subscribe`) and are told when it is
re-thresholded, so every slider shows the value the layer was made at.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import cv2
import numpy as np

from unscratch.api import detector_marks
from unscratch.hostkit import ERASED_REACH, remade, remark_planes

from ._layers import unwrap


@dataclass
class _Plane:
    """One slice's stored detection."""
    probability: np.ndarray   # float32 (H, W); 0 where the detector has not looked
    detected: np.ndarray      # bool: the marks the detector last wrote into the layer
    erased: np.ndarray        # bool: pixels the user decided (erased or painted; kept across
    #                           re-thresholds; the layer says which), as hostkit.Detection.erased
    area: np.ndarray | None   # bool: where the detector looked; None: the whole plane
    picture: bool = True      # the detector sees the picture (Detection.picture): its marks
    #                           leave slanted picture lines at every threshold


def _near_erased(erased: np.ndarray) -> np.ndarray:
    """The keep-out around erased marks: ERASED_REACH px, a square (as hostkit grows it)."""
    side = 2 * ERASED_REACH + 1
    return cv2.dilate(erased.astype(np.uint8), np.ones((side, side), np.uint8)) > 0


class Marks:
    """A marks layer of one image and what re-thresholding it needs."""

    def __init__(self, image, labels, probability, leading: tuple, threshold: float):
        self.image = weakref.ref(unwrap(image))
        self.labels = weakref.ref(unwrap(labels))
        self.probability = weakref.ref(unwrap(probability))
        self.leading = tuple(leading)
        self.threshold = float(threshold)
        self.planes: dict[tuple, _Plane] = {}

    # --- reading the layer -------------------------------------------------------------------
    def current(self, idx: tuple) -> np.ndarray:
        """The marks of slice `idx` as the layer shows them now (bool)."""
        data = self.labels().data
        return np.asarray(data[idx] if idx else data) > 0

    def _write(self, idx: tuple, marks: np.ndarray) -> None:
        data = self.labels().data
        if idx:
            data[idx] = marks
        else:
            data[...] = marks

    def counts(self) -> dict:
        """Marked pixels now in the slices the detector processed, and the user's edits there:
        detector marks erased, marks painted beyond them."""
        marked = erased = painted = 0
        for idx, p in self.planes.items():
            cur = self.current(idx)
            marked += int(np.count_nonzero(cur))
            erased += int(np.count_nonzero((p.erased | p.detected) & ~cur))
            painted += int(np.count_nonzero(cur & ~p.detected))
        return {"marked": marked, "erased": erased, "painted": painted}

    # --- changing it -------------------------------------------------------------------------
    def _remark_plane(self, idx: tuple, p: _Plane, threshold: float) -> tuple[int, int]:
        cur = self.current(idx)
        fresh = detector_marks(p.probability, threshold, p.area, p.picture)
        marks, p.detected, p.erased = remark_planes(fresh, cur, p.detected, p.erased, p.area,
                                                    _near_erased)
        self._write(idx, marks)
        return int(np.count_nonzero(marks & ~cur)), int(np.count_nonzero(cur & ~marks))

    def remark(self, threshold: float) -> tuple[int, int]:
        """Re-threshold every stored slice at `threshold` into the layer, keeping the user's
        edits; returns (marks gained, marks lost)."""
        gained = lost = 0
        for idx, p in self.planes.items():
            g, lo = self._remark_plane(idx, p, threshold)
            gained, lost = gained + g, lost + lo
        self.threshold = float(threshold)
        self.labels().refresh()
        self._stamp()
        return gained, lost

    def _stamp(self) -> None:
        """The layers' provenance says the threshold they now show."""
        for layer in (self.labels(), self.probability()):
            if layer is None or "unscratch" not in layer.metadata:
                continue
            info = dict(layer.metadata["unscratch"])
            info["threshold"] = self.threshold
            info["parameters"] = dict(info.get("parameters", {}), threshold=self.threshold)
            layer.metadata = dict(layer.metadata, unscratch=info)

    def add(self, idx: tuple, probability: np.ndarray, area: np.ndarray | None,
            threshold: float, picture: bool = True) -> None:
        """A new detection of slice `idx` inside `area` (None: everywhere), as
        `hostkit.merge_detection` does for GIMP and Krita: where it looked, the marks are the new
        detection's at `threshold` (earlier edits there are replaced); elsewhere the layer and the
        stored detection are kept. Call remark afterwards to bring every slice to one threshold."""
        probability = np.asarray(probability, np.float32)
        shape = probability.shape
        fresh = detector_marks(probability, threshold, area, picture)
        old = self.planes.get(idx)
        if area is None:
            self.planes[idx] = _Plane(probability, fresh, np.zeros(shape, bool), None, picture)
            self._write(idx, fresh)
            return
        area = np.asarray(area, bool)
        cur = self.current(idx)
        if old is None:  # marks already on this slice (painted by hand) are the user's
            old = _Plane(np.zeros(shape, np.float32), np.zeros(shape, bool),
                         np.zeros(shape, bool), np.zeros(shape, bool))
        self.planes[idx] = _Plane(np.where(area, probability, old.probability),
                                  np.where(area, fresh, old.detected), old.erased & ~area,
                                  None if old.area is None else (old.area | area), picture)
        self._write(idx, np.where(area, fresh, cur))

    def probability_plane(self, idx: tuple) -> np.ndarray:
        return self.planes[idx].probability


def remade_text(marks: Marks, gained: int, lost: int) -> str:
    """What a re-threshold did, for a widget's status: hostkit's sentence (every host says it),
    then what the layer now marks."""
    c = marks.counts()
    edits = (f" ({c['erased']} erased and {c['painted']} painted by you)"
             if c["erased"] or c["painted"] else "")
    return (f"{remade(marks.threshold, gained, lost)} '{marks.labels().name}' marks "
            f"{c['marked']} pixels{edits}.")


# --- registry ------------------------------------------------------------------------------------
_marks: dict[int, Marks] = {}
_listeners: weakref.WeakSet = weakref.WeakSet()


def _viewer_has(viewer, layer) -> bool:
    return viewer is not None and any(unwrap(x) is layer for x in viewer.layers)


def of_labels(labels, viewer=None) -> Marks | None:
    """The stored detection behind a marks layer still in the viewer, else None (a layer painted
    by hand, or one whose data was replaced by another shape)."""
    if labels is None:
        return None
    labels = unwrap(labels)
    m = _marks.get(id(labels))
    if m is None or m.labels() is not labels or m.image() is None:
        return None
    if viewer is not None and not _viewer_has(viewer, labels):
        return None
    shape = tuple(labels.data.shape)
    for idx, p in m.planes.items():
        if shape != tuple(m.leading) + tuple(p.probability.shape):
            return None
    return m


def of_image(image, viewer) -> Marks | None:
    """The marks layer Detect scratches made for `image`, if it is still in the viewer."""
    image = unwrap(image)
    for m in list(_marks.values()):
        if m.image() is image and m.labels() is not None:
            found = of_labels(m.labels(), viewer)
            if found is not None:
                return found
    return None


def register(marks: Marks) -> None:
    for key in [k for k, m in _marks.items() if m.labels() is None]:
        del _marks[key]
    _marks[id(marks.labels())] = marks


def subscribe(widget) -> None:
    """`widget.marks_rethresholded(marks)` is called whenever a marks layer is re-thresholded,
    until the widget is closed."""
    _listeners.add(widget)
    widget.native.destroyed.connect(lambda *_: _listeners.discard(widget))


def rethreshold(marks: Marks, threshold: float, source=None) -> tuple[int, int]:
    """Marks.remark, then tell every subscribed widget but `source`."""
    result = marks.remark(threshold)
    for widget in list(_listeners):
        if widget is source:
            continue
        try:
            widget.marks_rethresholded(marks)
        except RuntimeError:  # its Qt widgets are gone (the viewer was closed)
            _listeners.discard(widget)
    return result

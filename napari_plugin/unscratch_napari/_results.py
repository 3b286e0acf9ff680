"""Repairs that add up: one result layer per image, what the user sees, and its undo history.

The first "Restore selection" of an image adds its result layer (and a hidden difference layer);
every later one works on that result (the photo with the earlier repairs applied), writes its
repair into the same layer and never discards an earlier one. Each repair is one step of the
image's history; `undo` takes the last one back (the first one's undo removes the layers it
added), and shows again the marks layer the repair hid.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from ._layers import unwrap


@dataclass
class _Step:
    created: bool                   # this repair added the layers (its undo removes them)
    restored: object = None         # what to put back: {slice: plane} or the previous data
    difference: object = None
    metadata: tuple = ()            # (restored's, difference's) metadata before the repair
    contrast: tuple | None = None   # difference's contrast limits before the repair
    shown: list = field(default_factory=list)  # weakrefs of marks layers the repair hid


class Chain:
    """An image's result layers and the repairs applied to them, oldest first."""

    def __init__(self, image, restored, difference):
        self.image = weakref.ref(unwrap(image))
        self.restored = weakref.ref(unwrap(restored))
        self.difference = weakref.ref(unwrap(difference))
        self.steps: list[_Step] = []


_chains: dict[int, Chain] = {}


def _in(viewer, layer) -> bool:
    return layer is not None and viewer is not None and any(unwrap(x) is layer
                                                            for x in viewer.layers)


def chain_of(layer, viewer) -> Chain | None:
    """The chain of an image, or of its result layer, whose layers are all still in the viewer."""
    layer = unwrap(layer)
    for key, c in list(_chains.items()):
        image, restored, diff = c.image(), c.restored(), c.difference()
        if not (_in(viewer, image) and _in(viewer, restored) and _in(viewer, diff)):
            if image is None or not _in(viewer, restored):
                del _chains[key]
            continue
        if layer is image or layer is restored:
            if tuple(restored.data.shape) != tuple(image.data.shape):
                continue
            return c
    return None


def shown(image, viewer):
    """What the user sees of `image`: its result layer when repairs were made, else the image."""
    c = chain_of(image, viewer)
    return c.restored() if c is not None else unwrap(image)


def start(image, restored, difference, hidden=()) -> Chain:
    c = Chain(image, restored, difference)
    c.steps.append(_Step(True, shown=[weakref.ref(unwrap(x)) for x in hidden]))
    _chains[id(unwrap(image))] = c
    return c


def _snapshot(data, indices):
    """What to keep to put `data` back after `indices` are written: numpy stacks are written in
    place (copies of those slices); anything else is replaced (the old object itself)."""
    if isinstance(data, np.ndarray) and indices != [()]:
        return {idx: np.array(data[idx]) for idx in indices}
    return data


def record(c: Chain, indices, hidden=()) -> None:
    """Call before writing a repair of `indices` into the chain's layers."""
    out, diff = c.restored(), c.difference()
    c.steps.append(_Step(False, _snapshot(out.data, list(indices)),
                         _snapshot(diff.data, list(indices)),
                         (dict(out.metadata), dict(diff.metadata)),
                         tuple(diff.contrast_limits),
                         [weakref.ref(unwrap(x)) for x in hidden]))


def _put_back(layer, saved) -> None:
    if isinstance(saved, dict):
        for idx, plane in saved.items():
            layer.data[idx] = plane
        layer.refresh()
    else:
        layer.data = saved


def undo(c: Chain, viewer) -> str:
    """Take the last repair back; returns what was done, in words."""
    step = c.steps.pop()
    out, diff = c.restored(), c.difference()
    for ref in step.shown:
        marks = ref()
        if marks is not None and _in(viewer, marks):
            marks.visible = True
    if step.created:
        name = out.name
        for layer in (diff, out):
            if _in(viewer, layer):
                viewer.layers.remove(layer)
        _chains.pop(id(c.image()), None)
        return f"undid the first repair: removed '{name}' and its difference layer"
    _put_back(out, step.restored)
    _put_back(diff, step.difference)
    out.metadata, diff.metadata = step.metadata
    if step.contrast is not None:
        diff.contrast_limits = step.contrast
    left = len(c.steps)
    return (f"undid the last repair: '{out.name}' is back to {left} "
            f"repair{'s' if left != 1 else ''}")

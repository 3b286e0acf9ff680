"""The document as the plug-in sees it, through the libkis API (Document, Node, Selection): which
layer is the photo, its stack of our layers (marks and results, named by hostkit), what the user
sees of the photo (the photo with the visible results applied), and where a new layer goes (on
top of that stack, so it is never hidden by an older result)."""

from __future__ import annotations

from . import pixels
from .kit import UnscratchError, hostkit


def is_ours(node) -> bool:
    return hostkit.photo_of(node.name() or "") is not None


def _walk(parent, into_groups=True):
    for child in parent.childNodes():  # bottom first
        yield child
        if into_groups and child.type() == "grouplayer":
            yield from _walk(child)


def same(a, b) -> bool:
    """Whether two libkis wrappers are the same node (each call makes a new wrapper)."""
    if a is None or b is None:
        return False
    try:
        return a.uniqueId() == b.uniqueId()
    except AttributeError:
        return a == b


def _photo_below(node):
    """The photo an active marks or result layer was made for: the paint layer of that name
    below it among its siblings."""
    parent = node.parentNode()
    if parent is None:
        return None
    photo = hostkit.photo_of(node.name() or "")
    siblings = list(parent.childNodes())  # bottom first
    index = next((i for i, n in enumerate(siblings) if same(n, node)), len(siblings))
    for n in reversed(siblings[:index]):
        if n.type() == "paintlayer" and n.name() == photo:
            return n
    for n in reversed(siblings[:index]):
        if n.type() == "paintlayer" and not is_ours(n):
            return n
    return None


def find_paint_layer(doc):
    """The photo to work on: the active paint layer; a mask's layer when a mask is active; the
    photo of an active marks or result layer; else (the global selection mask or nothing active:
    scripts, kritarunner) the topmost visible paint layer that is not one of ours."""
    node = doc.activeNode()
    if node is not None:
        if node.type() == "paintlayer" and is_ours(node):
            photo = _photo_below(node)
            if photo is not None:
                return photo
        if node.type() == "paintlayer":
            return node
        parent = node.parentNode()
        if parent is not None and parent.type() == "paintlayer":
            return parent
        if node.type() not in ("selectionmask", ""):
            raise UnscratchError(
                f"the active layer '{node.name()}' is a {node.type() or 'layer of unknown type'}, "
                "not a paint layer. Select the paint layer to repair in the Layers docker (or "
                "rasterize it first)."
            )
    candidates = []

    def walk(parent):
        for child in reversed(list(parent.childNodes())):  # top of the stack first
            if child.type() == "paintlayer" and child.visible():
                candidates.append(child)
            elif child.type() == "grouplayer" and child.visible():
                walk(child)

    walk(doc.rootNode())
    for child in candidates:
        if not is_ours(child):
            return child
    if candidates:
        return candidates[0]
    raise UnscratchError("the image has no visible paint layer to work on")


def stack(node) -> list:
    """Our layers made for `node`, bottom first: the siblings right above it whose names hostkit
    made from its name (the run stops at any other layer the user put there)."""
    parent = node.parentNode()
    if parent is None:
        return []
    siblings = list(parent.childNodes())
    index = next((i for i, n in enumerate(siblings) if same(n, node)), None)
    if index is None:
        return []
    out = []
    for n in siblings[index + 1 :]:
        if n.type() != "paintlayer" or hostkit.photo_of(n.name() or "") != node.name():
            break
        out.append(n)
    return out


def marks_layer(doc, node):
    """The marks layer of `node` ("NAME (scratches)"), or None: the topmost of that name in its
    stack (the one the user sees), else the topmost anywhere in the image."""
    name = hostkit.marks_name(node.name())
    mine = [n for n in stack(node) if n.name() == name]
    if mine:
        return mine[-1]
    found = [n for n in _walk(doc.rootNode()) if n.type() == "paintlayer" and n.name() == name]
    return found[-1] if found else None


def read_layer(doc, node):
    """(pixels.Format, native bytes, width, height) of `node` over the whole canvas."""
    fmt = pixels.Format(node.colorModel(), node.colorDepth())
    w, h = doc.width(), doc.height()
    data = bytes(node.pixelData(0, 0, w, h))
    fmt.expect(data, w, h)
    return fmt, data, w, h


def as_seen(doc, node, fmt, data: bytes, w: int, h: int) -> tuple[bytes, list]:
    """The photo as the user sees it: `data` with the visible results in its stack applied in
    order (a result layer holds the repaired pixels, transparent elsewhere). Returns the bytes
    and the names of the results applied."""
    applied = []
    for layer in stack(node):
        if not hostkit.is_result(layer.name()) or not layer.visible():
            continue
        if (layer.colorModel(), layer.colorDepth()) != (fmt.model, fmt.depth):
            continue
        data = pixels.apply_patch(data, bytes(layer.pixelData(0, 0, w, h)), fmt.pixel_size)
        applied.append(layer.name())
    return data, applied


def read_region(doc, w: int, h: int):
    """The document selection as a soft uint8 mask for the worker, or None when nothing is
    selected."""
    sel = doc.selection()
    if sel is None:
        return None
    return pixels.selection_region(bytes(sel.pixelData(0, 0, w, h)), w, h)


def read_marks(doc, layer):
    """A marks layer read once: (its pixel format, its native pixels, the marks as the user left
    them: 255 where a mark is at least half opaque, else 0)."""
    fmt = pixels.Format(layer.colorModel(), layer.colorDepth())
    w, h = doc.width(), doc.height()
    native = bytes(layer.pixelData(0, 0, w, h))
    return fmt, native, fmt.alpha_mask(native, w, h)


def marks_of(doc, layer) -> bytes:
    """A marks layer as the user left it: 255 where a mark is at least half opaque, else 0."""
    return read_marks(doc, layer)[2]


def taken_names(node) -> list:
    parent = node.parentNode()
    return [n.name() for n in parent.childNodes()] if parent is not None else []


def add_on_top(doc, node, name: str, data: bytes, w: int, h: int):
    """A new paint layer holding `data`, inserted on top of `node`'s stack (above its earlier
    results and marks) in a single undo step; `node` stays the active layer."""
    layer = doc.createNode(name, "paintlayer")
    if layer is None:
        raise UnscratchError("Krita could not create a new paint layer")
    if (layer.colorModel(), layer.colorDepth()) != (node.colorModel(), node.colorDepth()):
        # a layer whose colour space differs from the image's: give ours the same one
        layer.setColorSpace(node.colorModel(), node.colorDepth(), node.colorProfile())
    layer.setPixelData(data, 0, 0, w, h)  # before insertion: no undo step of its own
    parent = node.parentNode() or doc.rootNode()
    above = (stack(node) or [node])[-1]
    if not parent.addChildNode(layer, above):  # one undoable "add layer" command
        raise UnscratchError("Krita refused to add the new layer")
    doc.refreshProjection()
    show_in_layers_docker(doc, layer, node)
    keep_active(doc, node)
    return layer


def show_in_layers_docker(doc, layer, photo) -> None:
    """Krita 5.1's Layers docker does not list a layer added through the scripting API until some
    layer property changes; when it catches up (at the user's next edit) it also makes that layer
    the active one. A visibility round trip on the new layer (not undoable, no visible change)
    brings it in now, so the photo can stay active."""
    try:
        from PyQt5.QtWidgets import QApplication
    except Exception:  # no Qt (tests without Qt)
        QApplication = None
    for node in (layer, photo):
        if QApplication is not None:
            doc.waitForDone()
            QApplication.processEvents()
        visible = node.visible()
        node.setVisible(not visible)
        node.setVisible(visible)
    doc.refreshProjection()


def keep_active(doc, node) -> None:
    """Leave the photo active (not our new layer): now, and once more after Krita's own handling
    of the insertion, which can activate the new layer later from the event loop."""
    try:
        doc.setActiveNode(node)
    except Exception:
        return
    try:
        from PyQt5.QtCore import QTimer

        QTimer.singleShot(0, lambda: _activate(doc, node))
    except Exception:  # no Qt event loop (tests without Qt)
        pass


def _activate(doc, node) -> None:
    try:
        doc.setActiveNode(node)
    except Exception:
        pass


def set_selection(doc, mask: bytes, w: int, h: int) -> None:
    from krita import Selection

    sel = Selection()
    sel.select(0, 0, w, h, 0)
    sel.setPixelData(mask, 0, 0, w, h)
    doc.setSelection(sel)

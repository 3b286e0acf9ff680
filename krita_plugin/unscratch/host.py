"""What the actions and the docker do, written against the libkis API (Document, Node, Selection) so
that it runs the same in Krita and with a fake `krita` module in the unit tests.

Every operation: find the paint layer, read its native pixels and the selection (a soft mask),
send them to the unscratch worker (a separate process: a crash or hang there never takes Krita
down), and add the result as a new paint layer directly above the source layer. The new layer is
filled before it is inserted, so inserting it is a single undo step and the source layer is never
touched.
"""
from __future__ import annotations

import os
import sys
import time
import traceback

from . import pixels

PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))
MODES = {"defects": "restore", "fill": "fill"}
DETECT_OUTPUTS = ("layer", "selection")
SUFFIX = {"detect": "defects", "restore": "restored", "fill": "healed"}
TITLES = {"detect": "Detect scratches", "restore": "Restore selection", "fill": "Fill selection"}


try:  # the copy of unscratch/protocol.py that `unscratch install krita` put beside us
    from . import protocol  # type: ignore[attr-defined]
except ImportError:  # this package run from the source tree (the unit tests): the core's own
    try:
        # in Krita, "unscratch" is this package: no core to fall back on
        from unscratch import protocol
    except ImportError:
        raise ImportError("the unscratch plug-in is incomplete (protocol.py is missing); "
                          "reinstall it with: python -m unscratch install krita") from None


class UnscratchError(RuntimeError):
    """A problem the user can act on; the message names it."""


def log(*args) -> None:
    print("[unscratch]", *args, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------- settings
class Settings:
    """The docker's controls, kept in Krita's settings (kritarc, group [unscratch])."""

    GROUP = "unscratch"

    def __init__(self, threshold=None, mode="defects", method="auto", detect_output="layer"):
        self.threshold = threshold          # None: the model's own threshold
        # defects | fill  (what the docker's Restore button does)
        self.mode = mode
        self.method = method                # auto | model | classical
        self.detect_output = detect_output  # layer | selection

    @classmethod
    def load(cls, app) -> "Settings":
        s = cls()
        if app is None:
            return s
        read = lambda key, default: (app.readSetting(cls.GROUP, key,
                                                     default) or default)  # noqa: E731
        t = read("threshold", "auto")
        try:
            s.threshold = None if t == "auto" else min(1.0, max(0.0, float(t)))
        except ValueError:
            s.threshold = None
        s.mode = read("mode", "defects") if read("mode", "defects") in MODES else "defects"
        s.method = read("method", "auto") if read("method", "auto") in protocol.METHODS else "auto"
        out = read("detect_output", "layer")
        s.detect_output = out if out in DETECT_OUTPUTS else "layer"
        return s

    def save(self, app) -> None:
        if app is None:
            return
        app.writeSetting(self.GROUP, "threshold",
                         "auto" if self.threshold is None else f"{self.threshold:.3f}")
        app.writeSetting(self.GROUP, "mode", self.mode)
        app.writeSetting(self.GROUP, "method", self.method)
        app.writeSetting(self.GROUP, "detect_output", self.detect_output)

    def params(self) -> dict:
        return protocol.job_params(self.threshold, method=self.method)


# ------------------------------------------------------------------------------------- user
# interface
class NullUI:
    """No dialogs (Krita in batch mode, scripts, tests): progress is ignored, errors are logged."""

    def __init__(self, cancel=None):
        self._cancel = cancel

    def progress(self, title: str, label: str):
        return _NullProgress(self._cancel)

    def error(self, title: str, text: str, details: str | None = None) -> None:
        log(f"{title}: {text}")
        if details:
            log(details)

    def info(self, title: str, text: str) -> None:
        log(f"{title}: {text}")


class _NullProgress:
    def __init__(self, cancel):
        self._cancel = cancel
        self.value = 0.0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, fraction: float) -> None:
        self.value = fraction

    def cancelled(self) -> bool:
        return bool(self._cancel and self._cancel())


# ------------------------------------------------------------------------------------- results
class Result:
    def __init__(self, op: str):
        self.op = op
        self.ok = False
        self.cancelled = False
        self.error: str | None = None
        self.layer = None          # the new Node, if any
        self.layer_name: str | None = None
        self.source_name: str | None = None
        self.changed_pixels = 0
        self.defect_pixels: int | None = None
        # the detector's threshold in use (None: a mask was given)
        self.threshold: float | None = None
        self.rule: str | None = None        # which pixels were repaired (protocol.repair_summary)
        self.mask_layer: str | None = None  # Detect's layer whose marks were repaired
        self.message: str | None = None     # what happened, in words
        self.seconds = 0.0

    def as_dict(self) -> dict:
        return {"op": self.op, "ok": self.ok, "cancelled": self.cancelled, "error": self.error,
                "layer": self.layer_name, "source": self.source_name,
                "changed_pixels": self.changed_pixels,
                "defect_pixels": self.defect_pixels, "threshold": self.threshold, "rule": self.rule,
                "mask_layer": self.mask_layer, "message": self.message,
                "seconds": round(self.seconds, 3)}

    def summary(self) -> str:
        if self.cancelled:
            return f"{TITLES[self.op]}: cancelled, nothing was changed"
        if not self.ok:
            return f"{TITLES[self.op]} failed: {self.error}"
        if self.op == "detect":
            where = f"layer '{self.layer_name}'" if self.layer_name else "the selection"
            at = f" at threshold {self.threshold:.2f}" if self.threshold is not None else ""
            return f"Found {self.defect_pixels} defect pixels{at} ({where})"
        return f"{TITLES[self.op]}: {self.message}" if self.message else f"{TITLES[self.op]}: done"


last_result: Result | None = None  # for scripts: what the last action did
_busy = False


# ------------------------------------------------------------------------------------- document
# access
def is_ours(node) -> bool:
    name = node.name() or ""
    return any(name.endswith(f"({s})") for s in SUFFIX.values())


def find_paint_layer(doc):
    """The active paint layer. When the active node is a mask, its paint layer; when it is the
    global selection mask or nothing (scripts, kritarunner), the topmost visible paint layer that
    is not one of our own results."""
    node = doc.activeNode()
    if node is not None:
        if node.type() == "paintlayer" and is_ours(node):
            # e.g. Detect's layer just above the source: work on the layer it was made from
            below = _first_below(node)
            if below is not None:
                return below
        if node.type() == "paintlayer":
            return node
        parent = node.parentNode()
        if parent is not None and parent.type() == "paintlayer":
            return parent
        if node.type() not in ("selectionmask", ""):
            raise UnscratchError(
                f"the active layer '{node.name()}' is a {node.type() or 'layer of unknown type'}, "
                "not a paint layer. Select the paint layer to repair in the Layers docker (or "
                "rasterize it first).")
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


def _first_below(node):
    parent = node.parentNode()
    if parent is None:
        return None
    siblings = list(parent.childNodes())  # bottom first
    index = next((i for i, n in enumerate(siblings) if n == node), None)
    if index is None:
        names = [n.name() for n in siblings]
        index = names.index(node.name()) if node.name() in names else None
    if index is None:
        return None
    for n in reversed(siblings[:index]):
        if n.type() == "paintlayer" and not is_ours(n):
            return n
    return None


def read_layer(doc, node):
    """(pixels.Format, native bytes, width, height) of `node` over the whole canvas."""
    fmt = pixels.Format(node.colorModel(), node.colorDepth())
    w, h = doc.width(), doc.height()
    data = bytes(node.pixelData(0, 0, w, h))
    fmt.expect(data, w, h)
    return fmt, data, w, h


def read_region(doc, w: int, h: int):
    """The document selection as a soft uint8 mask for the worker, or None when nothing is
    selected."""
    sel = doc.selection()
    if sel is None:
        return None
    return pixels.selection_region(bytes(sel.pixelData(0, 0, w, h)), w, h)


def add_layer_above(doc, node, name: str, data: bytes, w: int, h: int):
    """A new paint layer holding `data`, inserted directly above `node` in a single undo step."""
    layer = doc.createNode(name, "paintlayer")
    if layer is None:
        raise UnscratchError("Krita could not create a new paint layer")
    if (layer.colorModel(), layer.colorDepth()) != (node.colorModel(), node.colorDepth()):
        # a layer whose colour space differs from the image's: give ours the same one
        layer.setColorSpace(node.colorModel(), node.colorDepth(), node.colorProfile())
    layer.setPixelData(data, 0, 0, w, h)  # before insertion: no undo step of its own
    parent = node.parentNode() or doc.rootNode()
    if not parent.addChildNode(layer, node):  # one undoable "add layer" command
        raise UnscratchError("Krita refused to add the new layer")
    doc.refreshProjection()
    try:
        doc.setActiveNode(node)  # keep working on the source, not on our result
    except Exception:
        pass
    return layer


def defects_layer(doc, node):
    """The layer Detect scratches made for `node` ("NAME (defects)"), or None. Of several, the
    lowest: Detect inserts its layer just above the source, so that is the newest."""
    name = f"{node.name()} ({SUFFIX['detect']})"
    found = []

    def walk(parent):
        for child in parent.childNodes():  # bottom first
            if child.type() == "paintlayer" and child.name() == name:
                found.append(child)
            elif child.type() == "grouplayer":
                walk(child)

    walk(doc.rootNode())
    return found[0] if found else None


def marks_of(doc, layer) -> bytes:
    """Detect's layer as the user left it: 255 where a mark is at least half opaque, else 0."""
    fmt = pixels.Format(layer.colorModel(), layer.colorDepth())
    w, h = doc.width(), doc.height()
    return fmt.alpha_mask(bytes(layer.pixelData(0, 0, w, h)), w, h)


# the detector's own thresholds, once a worker reported them (docker display)
known_thresholds: dict = {}


def detector_thresholds(python: str | None = None) -> dict:
    """{"threshold", "auto_threshold"} of the detector in use, asked of the worker once (about a
    second)."""
    if "auto_threshold" not in known_thresholds:
        info, _ = protocol.run_job(python or protocol.worker_python(PLUGIN_DIR), "describe", {})
        facts = info.get("info", {})
        known_thresholds.update(threshold=facts.get("threshold"),
                                auto_threshold=facts.get("auto_threshold"))
    return dict(known_thresholds)


def set_selection(doc, mask: bytes, w: int, h: int) -> None:
    from krita import Selection
    sel = Selection()
    sel.select(0, 0, w, h, 0)
    sel.setPixelData(mask, 0, 0, w, h)
    doc.setSelection(sel)


# ------------------------------------------------------------------------------------- operations
def run(op: str, doc, *, node=None, settings: Settings | None = None, ui=None,
        python: str | None = None) -> Result:
    """Run Detect ('detect'), Restore ('restore', defects inside the selection) or Fill ('fill',
    heal the whole selection) on `doc`. Errors are reported through `ui` and recorded in the
    Result."""
    global last_result, _busy
    if op not in protocol.IMAGE_OPS:
        raise ValueError(op)
    settings = settings or Settings()
    ui = ui or NullUI()
    result = Result(op)
    last_result = result
    start = time.monotonic()
    if _busy:
        result.error = "unscratch is already working on another job; wait for it or cancel it"
        ui.error("Unscratch", result.error)
        return result
    _busy = True
    try:
        _run(op, doc, node, settings, ui, python, result)
        result.ok = True
    except protocol.WorkerCancelled:
        result.cancelled = True
        log(f"{op}: cancelled")
    except (UnscratchError, pixels.UnsupportedLayer, protocol.WorkerError) as exc:
        result.error = str(exc)
        ui.error(f"Unscratch: {TITLES[op]}", f"{TITLES[op]} failed: {exc}")
    except Exception as exc:  # never let an exception escape into Krita
        result.error = f"internal error: {exc}"
        ui.error(f"Unscratch: {TITLES[op]}", f"{TITLES[op]} failed with an internal error: {exc}",
                 traceback.format_exc())
    finally:
        _busy = False
        result.seconds = time.monotonic() - start
    log(result.summary(), f"({result.seconds:.2f} s)")
    if result.ok and result.op != "detect" and not result.layer_name:
        ui.info(f"Unscratch: {TITLES[op]}",
                f"Nothing was repaired, so no layer was added. {result.message}")
    return result


def _run(op, doc, node, settings, ui, python, result):
    if doc is None:
        raise UnscratchError("no image is open; open an image and select the paint layer to work "
                             "on")
    python = python or protocol.worker_python(PLUGIN_DIR)
    node = node or find_paint_layer(doc)
    result.source_name = node.name()
    fmt, original, w, h = read_layer(doc, node)
    region = read_region(doc, w, h)
    if op == "fill" and region is None:
        raise UnscratchError("Fill selection needs a selection: select the area to heal first "
                             "(Restore selection without a selection repairs the whole layer)")
    sent = fmt.to_worker(original, w, h)
    arrays = {"image": sent}
    if region is not None:
        arrays["region"] = region
    marks = defects_layer(doc, node) if op == "restore" else None
    # the mask the user sees (and may have edited) is the mask that is repaired
    if marks is not None:
        arrays["mask"] = (marks_of(doc, marks), (h, w), "uint8")
        result.mask_layer = marks.name()
    label = {"detect": "Looking for scratches, dust and hairs…", "restore": "Repairing defects…",
             "fill": "Healing the selection…"}[op]
    with ui.progress(f"Unscratch: {TITLES[op]}", label) as bar:
        info, outputs = protocol.run_job(python, op, arrays, settings.params(), progress=bar.update,
                                         cancel=bar.cancelled)
    facts = info.get("info", {})
    result.threshold, result.rule = facts.get("threshold"), facts.get("rule")
    if result.threshold is not None and settings.threshold is None:
        known_thresholds.update({k: facts[k] for k in ("threshold",
                                                       "auto_threshold") if k in facts})
    if op == "detect":
        mask = protocol.output(outputs, "mask", (h, w), "uint8", host="krita")
        found = info.get("info", {}).get("defect_pixels", len(mask) - bytes(mask).count(0))
        result.defect_pixels = int(found)
        if settings.detect_output == "selection":
            set_selection(doc, mask, w, h)
        else:
            name = f"{node.name()} ({SUFFIX[op]})"
            result.layer = add_layer_above(doc, node, name, fmt.overlay(mask, w, h), w, h)
            result.layer_name = name
        return
    restored = protocol.output(outputs, "restored", sent[1], sent[2], host="krita")
    native = fmt.from_worker(restored, original, w, h)
    patch, changed = fmt.patch(native, original)
    result.changed_pixels = changed
    source = f"the layer '{marks.name()}'" if marks is not None else None
    result.message = protocol.repair_summary(dict(facts, repaired_pixels=changed), source=source,
                                             fill_hint="Fill selection")
    if changed == 0:
        return
    name = f"{node.name()} ({SUFFIX[op]})"
    result.layer = add_layer_above(doc, node, name, patch, w, h)
    result.layer_name = name
    if marks is not None and marks.visible():  # its red marks would cover the result
        marks.setVisible(False)
        doc.refreshProjection()
        result.message += f" '{marks.name()}' was hidden to show the result."


def run_action(op: str, settings: Settings | None = None) -> Result:
    """What a menu action, a shortcut or a docker button does: act on the active document with the
    docker's settings; dialogs unless Krita is in batch mode."""
    from krita import Krita
    app = Krita.instance()
    if settings is None:
        settings = Settings.load(app)
    if app.batchmode():
        ui = NullUI()
    else:
        from .ui import QtUI
        ui = QtUI()
    return run(op, app.activeDocument(), settings=settings, ui=ui)

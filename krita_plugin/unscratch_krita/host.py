"""What the actions and the docker do, written against the libkis API (Document, Node, Selection)
so that it runs the same in Krita and with a fake `krita` module in the unit tests.

Every operation: find the photo (layers.py), read what the user sees of it (the photo with the
visible earlier results applied) and the selection (a soft mask), send them to the unscratch
worker (a separate process: a crash or hang there never takes Krita down), and add the result as
a new paint layer on top of the photo's stack, in one undo step; the photo is never written.
Restore repairs the marks layer when there is one (marks.py keeps it in step with the
sensitivity), else what the detector finds; the message says which, how many pixels, how long.
"""

from __future__ import annotations

import time
import traceback

from . import layers, marks, pixels, undo
from .kit import TITLES, UnscratchError, hostkit, known_thresholds, log, protocol, worker_python
from .settings import Settings

LABELS = {
    "detect": "Looking for scratches, dust and hairs…",
    "restore": "Repairing defects…",
    "fill": "Healing the selection…",
}


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


class Result:
    def __init__(self, op: str):
        self.op = op
        self.ok = False
        self.cancelled = False
        self.error: str | None = None
        self.layer = None  # the new Node, if any
        self.layer_name: str | None = None
        self.source_name: str | None = None
        self.changed_pixels = 0
        self.defect_pixels: int | None = None
        self.threshold: float | None = None  # the detector's threshold in use (None: marks given)
        self.rule: str | None = None  # which pixels were repaired (the worker's rule)
        self.mask_layer: str | None = None  # the marks layer whose marks were repaired
        self.mask_pixels: int | None = None
        self.seen: list = []  # earlier results the job saw applied to the photo
        self.hidden: str | None = None  # the marks layer hidden to show the result
        self.remade = ""  # how the marks were made again (sensitivity)
        self.message: str | None = None  # what happened, in words
        self.seconds = 0.0
        self.facts: dict = {}

    def as_dict(self) -> dict:
        return {
            "op": self.op,
            "ok": self.ok,
            "cancelled": self.cancelled,
            "error": self.error,
            "layer": self.layer_name,
            "source": self.source_name,
            "changed_pixels": self.changed_pixels,
            "defect_pixels": self.defect_pixels,
            "threshold": self.threshold,
            "rule": self.rule,
            "mask_layer": self.mask_layer,
            "mask_pixels": self.mask_pixels,
            "seen": list(self.seen),
            "hidden": self.hidden,
            "remade": self.remade,
            "message": self.message,
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        if self.cancelled:
            return f"{TITLES[self.op]}: cancelled, nothing was changed"
        if not self.ok:
            return f"{TITLES[self.op]} failed: {self.error}"
        return f"{TITLES[self.op]}: {self.message}" if self.message else f"{TITLES[self.op]}: done"


last_result: Result | None = None  # for scripts: what the last action did
listeners: list = []  # callables(Result) told after every run (the docker's status)
_busy = False


def run(
    op: str, doc, *, node=None, settings: Settings | None = None, ui=None, python: str | None = None
) -> Result:
    """Run Detect ('detect'), Restore ('restore', defects inside the selection) or Fill ('fill',
    heal the whole selection) on `doc`. Errors are reported through `ui` and recorded in the
    Result; listeners hear about every run."""
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
    except (UnscratchError, pixels.UnsupportedLayer, protocol.WorkerError) as exc:
        result.error = str(exc)
        ui.error(f"Unscratch: {TITLES[op]}", f"{TITLES[op]} failed: {exc}")
    except Exception as exc:  # never let an exception escape into Krita
        result.error = f"internal error: {exc}"
        ui.error(
            f"Unscratch: {TITLES[op]}",
            f"{TITLES[op]} failed with an internal error: {exc}",
            traceback.format_exc(),
        )
    finally:
        _busy = False
        result.seconds = time.monotonic() - start
    if result.ok:
        result.message = _message(result)
    log(result.summary())
    if result.ok and op != "detect" and not result.layer_name:
        ui.info(
            f"Unscratch: {TITLES[op]}",
            f"{result.message} No layer was added.",
        )
    for listener in list(listeners):
        try:
            listener(result)
        except Exception as exc:  # a closed docker
            log(f"could not show the result: {exc}")
    return result


def _message(result: Result) -> str:
    info = dict(result.facts)
    if result.op == "detect":
        if result.layer_name is None:  # Detect to the selection
            at = f" at sensitivity {result.threshold:.2f}" if result.threshold is not None else ""
            return (
                f"Selected {result.defect_pixels} defect pixels{at} in "
                f"{result.seconds:.1f} s. Edit the selection, then use "
                f"{TITLES['fill']}."
            )
        return hostkit.summary("detect", info, result.seconds, marks=result.layer_name)
    info["repaired_pixels"] = result.changed_pixels
    missing = None if result.mask_layer else hostkit.marks_name(result.source_name)
    text = hostkit.summary(
        result.op,
        info,
        result.seconds,
        marks=result.mask_layer,
        missing=missing if result.op == "restore" else None,
        remade=result.remade,
        fill_hint=TITLES["fill"],
    )
    if result.seen:
        text += f" It worked on the photo as you see it, with {_names(result.seen)} applied."
    if result.hidden:
        text += f" '{result.hidden}' was hidden to show the result (Undo shows it again)."
    return text


def _names(names: list) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _run(op, doc, node, settings, ui, python, result):
    if doc is None:
        raise UnscratchError(
            "no image is open; open an image and select the paint layer to work on"
        )
    python = worker_python(python)
    node = node or layers.find_paint_layer(doc)
    result.source_name = node.name()
    fmt, original, w, h = layers.read_layer(doc, node)
    seen, result.seen = layers.as_seen(doc, node, fmt, original, w, h)
    region = layers.read_region(doc, w, h)
    if op == "fill" and region is None:
        raise UnscratchError(
            f"{TITLES['fill']} needs a selection: select the area to heal first "
            f"({TITLES['restore']} without a selection repairs the whole layer)"
        )
    sent = fmt.to_worker(seen, w, h)
    arrays = {"image": sent}
    if region is not None:
        arrays["region"] = region
    used = layers.marks_layer(doc, node) if op == "restore" else None
    if used is not None:  # the marks the user sees and edits are what is repaired
        mask, result.remade = marks.follow(doc, used, settings.threshold)  # the layer read once
        if mask is None:
            mask = layers.marks_of(doc, used)
        arrays["mask"] = (mask, (h, w), "uint8")
        result.mask_layer = used.name()
    with ui.progress(f"Unscratch: {TITLES[op]}", LABELS[op]) as bar:
        info, outputs = protocol.run_job(
            python, op, arrays, settings.params(), progress=bar.update, cancel=bar.cancelled
        )
    facts = result.facts = dict(info.get("info", {}))
    facts.setdefault("selection", region is not None)
    result.threshold, result.rule = facts.get("threshold"), facts.get("rule")
    result.mask_pixels = facts.get("mask_pixels")
    if result.threshold is not None and settings.threshold is None:
        known_thresholds["threshold"] = result.threshold   # the detector's own: the docker shows it
    if op == "detect":
        _detect_done(doc, node, fmt, settings, outputs, facts, result, w, h)
        return
    restored = protocol.output(outputs, "restored", sent[1], sent[2], host="krita")
    native = fmt.from_worker(restored, seen, w, h)
    patch, result.changed_pixels = fmt.patch(native, seen)
    if result.changed_pixels == 0:
        return
    name = hostkit.result_name(node.name(), op, layers.taken_names(node))
    result.layer = layers.add_on_top(doc, node, name, patch, w, h)
    result.layer_name = name
    if used is not None and hostkit.hide_marks(used.visible()):
        used.setVisible(False)  # its red would cover the result
        doc.refreshProjection()
        result.hidden = used.name()
        undo.hid(doc, result.layer, used)


def _detect_done(doc, node, fmt, settings, outputs, facts, result, w, h):
    mask = protocol.output(outputs, "mask", (h, w), "uint8", host="krita")
    result.defect_pixels = int(facts.get("defect_pixels", len(mask) - bytes(mask).count(0)))
    if settings.detect_output == "selection":
        layers.set_selection(doc, mask, w, h)
        return
    name = hostkit.marks_name(node.name())
    result.layer = layers.add_on_top(doc, node, name, fmt.overlay(mask, w, h), w, h)
    result.layer_name = name
    if "probability" in outputs:
        probability = protocol.output(outputs, "probability", (h, w), "float32", host="krita")
        marks.remember(
            result.layer, probability, mask, settings.threshold, facts.get("threshold"), w, h
        )


def run_action(op: str, settings: Settings | None = None) -> Result:
    """What a menu action, a shortcut or a docker button does: act on the active document with the
    docker's settings; dialogs unless Krita is in batch mode; then say what happened on the canvas
    and in the status bar (and the docker, a listener)."""
    from krita import Krita

    app = Krita.instance()
    if settings is None:
        settings = Settings.load(app)
    if app.batchmode():
        ui = NullUI()
    else:
        from .ui import QtUI

        ui = QtUI()
    result = run(op, app.activeDocument(), settings=settings, ui=ui)
    try:
        from .ui import announce

        announce(result.summary())
    except Exception as exc:  # no window (kritarunner)
        log(f"could not show the message: {exc}")
    return result

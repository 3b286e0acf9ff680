"""Undo that also restores what a repair hid.

A repair adds its result layer in one undo step (Krita's own "Add Layer": Krita 5's scripting API
can neither name an undo step nor group commands), and hides the marks layer it used so the result
shows; hiding a layer is not an undoable command in that API. So the plug-in watches: after Undo
(or Redo), from the Edit menu, a shortcut or the History docker, a marks layer whose repair is gone
is shown again, and hidden again when Redo brings the repair back."""

from __future__ import annotations

from .kit import log

_pending: list = []  # [{"doc", "result", "marks", "shown": bool}] for repairs that hid marks
_timer = None
_hooked = False


def _ids(doc) -> set:
    out = set()

    def walk(parent):
        for child in parent.childNodes():
            out.add(
                child.uniqueId().toString()
                if hasattr(child.uniqueId(), "toString")
                else str(child.uniqueId())
            )
            walk(child)

    walk(doc.rootNode())
    return out


def _uid(node) -> str:
    uid = node.uniqueId()
    return uid.toString() if hasattr(uid, "toString") else str(uid)


def hid(doc, result, marks) -> None:
    """Record that the repair which added `result` hid `marks`."""
    _pending.append(
        {
            "doc": doc,
            "result": _uid(result),
            "marks": marks,
            "marks_id": _uid(marks),
            "shown": False,
        }
    )
    _watch()


listeners: list = []  # callables(text) told when marks were shown or hidden again (docker)


def check() -> int:
    """Show the marks of repairs that were undone, hide them again for repairs redone. Returns
    how many layers changed."""
    changed, said = 0, []
    for entry in list(_pending):
        try:
            ids = _ids(entry["doc"])
        except Exception:  # the document was closed
            _pending.remove(entry)
            continue
        if entry["marks_id"] not in ids:
            continue  # the marks layer was deleted (or its own addition undone): nothing to show
        present = entry["result"] in ids
        marks = entry["marks"]
        if not present and not entry["shown"] and not marks.visible():
            marks.setVisible(True)
            entry["shown"] = True
            said.append(f"Undone: the repair is gone and '{marks.name()}' shows again.")
        elif present and entry["shown"] and marks.visible():
            marks.setVisible(False)
            entry["shown"] = False
            said.append(f"Redone: the repair is back and '{marks.name()}' is hidden again.")
        else:
            continue
        changed += 1
        entry["doc"].refreshProjection()
    if said:
        text = " ".join(said)
        log(text)
        _tell(text)
    return changed


def _tell(text: str) -> None:
    for listener in list(listeners):
        try:
            listener(text)
        except Exception as exc:
            log(f"could not show the undo: {exc}")
    try:
        from .ui import announce

        announce(text)
    except Exception:  # no window, no Qt (tests)
        pass


def _later() -> None:
    try:
        from PyQt5.QtCore import QTimer

        QTimer.singleShot(50, check)
    except Exception:
        check()


def _watch() -> None:
    """Check after Edit > Undo / Redo (their actions also carry the shortcuts), and every second
    for the History docker, while a repair that hid marks is recorded."""
    global _timer, _hooked
    try:
        from krita import Krita
        from PyQt5.QtCore import QTimer
    except Exception:
        return
    if not _hooked:
        app = Krita.instance()
        for name in ("edit_undo", "edit_redo"):
            action = app.action(name) if hasattr(app, "action") else None
            if action is not None:
                action.triggered.connect(lambda *a: _later())
                _hooked = True
    if _timer is None:
        _timer = QTimer()
        _timer.setInterval(1000)
        _timer.timeout.connect(check)
    if not _timer.isActive():
        _timer.start()

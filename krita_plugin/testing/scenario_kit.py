"""What the Krita scenarios (gui_scenario.py, gui_marks_scenario.py, screenshot_scenario.py) share:
a step recorder, raw pixel dumps, the closing result.json, and the Tools > Scripts menu opened as
a user finds it. Test only; each scenario imports it from beside itself (the driver runs scenarios
with runpy, not as a package).
"""

import json
import os
import time
import traceback

from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QMenuBar


def stepper(result):
    """A decorator factory: `@step(name)` runs the function at once and records what it returns
    (with its wall time) in result["steps"][name], or its traceback in result["errors"]."""

    def step(name):
        def wrap(fn):
            try:
                t0 = time.monotonic()
                out = fn()
                out["wall"] = round(time.monotonic() - t0, 3)
                result["steps"][name] = out
            except BaseException:
                result["errors"].append(f"{name}: {traceback.format_exc()}")
            return fn

        return wrap

    return step


def finish(app, out_dir, result):
    """Write result to out_dir/result.json and mark every document unmodified, so Krita quits
    without asking to save; returns the scenario's exit status, 0."""
    with open(os.path.join(out_dir, "result.json"), "w") as fh:
        json.dump(result, fh, indent=1)
    for d in app.documents():
        d.setModified(False)
    return 0


def dump(out_dir, name, node_or_doc, doc, projection=False):
    """The node's (or with `projection`, the document's) pixels in out_dir/name.bin, described."""
    w, h = doc.width(), doc.height()
    data = bytes(
        node_or_doc.projectionPixelData(0, 0, w, h)
        if projection
        else node_or_doc.pixelData(0, 0, w, h)
    )
    with open(os.path.join(out_dir, name + ".bin"), "wb") as fh:
        fh.write(data)
    return {
        "file": name + ".bin",
        "w": w,
        "h": h,
        "bytes": len(data),
        "model": node_or_doc.colorModel(),
        "depth": node_or_doc.colorDepth(),
    }


def _tools(qwin):
    bar = qwin.findChild(QMenuBar)
    return bar, [a for a in bar.actions() if a.objectName().lower() == "tools"][0]


def open_scripts_menu(qwin, then, delay_ms=300):
    """After `delay_ms`, open Tools > Scripts with Detect scratches highlighted, as a user finds
    the actions, then call `then()` once it shows (the caller runs the event loop)."""

    def open_menu():
        bar, tools = _tools(qwin)
        bar.setActiveAction(tools)
        QTimer.singleShot(600, open_scripts)

    def open_scripts():
        menu = _tools(qwin)[1].menu()
        scripts = [a for a in menu.actions() if a.objectName().lower() == "scripts"][0]
        menu.setActiveAction(scripts)
        scripts.menu().popup(menu.mapToGlobal(menu.actionGeometry(scripts).topRight()))
        for action in scripts.menu().actions():
            if action.objectName() == "unscratch_detect":
                scripts.menu().setActiveAction(action)
        QTimer.singleShot(800, then)

    QTimer.singleShot(delay_ms, open_menu)


def close_scripts_menu(qwin):
    bar, tools = _tools(qwin)
    tools.menu().hideTearOffMenu()
    tools.menu().close()
    bar.setActiveAction(None)

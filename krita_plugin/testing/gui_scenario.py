"""Scenario for real Krita with its main window (xvfb-run krita, loaded by the test driver plug-in).

Goes through the user-facing path: the installed plug-in's actions, triggered by name on the active
document, its active layer and its selection. Writes $UNSCRATCH_KRITA_OUT/result.json (facts, no
verdicts) and raw pixel dumps (*.bin, described in result.json); tests/test_krita_host.py judges
them.

Inputs (environment): UNSCRATCH_KRITA_IN8, UNSCRATCH_KRITA_IN16 (PNG files), UNSCRATCH_KRITA_RECT,
UNSCRATCH_KRITA_RECT2 (x,y,w,h), UNSCRATCH_KRITA_HANG / UNSCRATCH_KRITA_CRASH (fake worker
interpreters: one never answers, one dies like a segfaulting inference).
"""

import os
import sys
import time

from krita import InfoObject, Krita, Selection
from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QApplication, QMenuBar, QMessageBox, QProgressDialog

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # scenario_kit beside it
import scenario_kit  # noqa: E402

ACTIONS = ("unscratch_detect", "unscratch_restore_selection", "unscratch_fill_selection")
OUT = os.environ.get("UNSCRATCH_KRITA_OUT", ".")
app = Krita.instance()
result = {"steps": {}, "errors": []}


def rect(var):
    return [int(v) for v in os.environ[var].split(",")]


def dump(name, node_or_doc, doc, projection=False):
    return scenario_kit.dump(OUT, name, node_or_doc, doc, projection)


def layers(doc):
    return [(n.name(), n.type(), n.colorModel(), n.colorDepth()) for n in doc.topLevelNodes()]


def open_doc(path):
    doc = app.openDocument(path)
    if doc is None:
        raise RuntimeError("cannot open " + path)
    doc.setBatchmode(True)
    app.activeWindow().addView(doc)  # the active document, as for a user
    doc.waitForDone()
    return doc


def select(doc, r, value=255):
    s = Selection()
    s.select(r[0], r[1], r[2], r[3], value)
    doc.setSelection(s)


def background(doc):
    return [n for n in doc.topLevelNodes() if n.type() == "paintlayer"][0]


def plugin():
    return sys.modules["unscratch_krita.host"]


def trigger(name):
    t0 = time.monotonic()
    app.action(name).trigger()
    return {"seconds": round(time.monotonic() - t0, 3), "last": plugin().last_result.as_dict()}


step = scenario_kit.stepper(result)


def menu_texts():
    qwin = app.activeWindow().qwindow()
    bar = qwin.findChild(QMenuBar)
    for top in bar.actions():
        if top.objectName().lower() == "tools" or top.text().replace("&", "") == "Tools":
            for a in top.menu().actions():
                if a.objectName().lower() == "scripts" or a.text().replace("&", "") == "Scripts":
                    return [(b.objectName(), b.text().replace("&", "")) for b in a.menu().actions()]
    return []


def main():
    app.setBatchmode(True)
    result["krita"] = app.version()
    result["python"] = sys.version.split()[0]
    rect1, rect2 = rect("UNSCRATCH_KRITA_RECT"), rect("UNSCRATCH_KRITA_RECT2")

    @step("registration")
    def _():
        dockers = [d.objectName() for d in app.dockers()]
        return {
            "actions": {a: app.action(a) is not None for a in ACTIONS},
            "texts": {a: app.action(a).text().replace("&", "") for a in ACTIONS if app.action(a)},
            "menu": menu_texts(),
            "dockers": [d for d in dockers if "unscratch" in d],
            "plugin_module": getattr(sys.modules.get("unscratch_krita"), "__file__", None),
        }

    @step("docker_threshold")
    def _():
        # Automatic: the greyed box shows the detector's own threshold (asked of the worker in
        # the background)
        from PyQt5.QtWidgets import QCheckBox, QDoubleSpinBox, QLabel

        dock = [d for d in app.dockers() if d.objectName() == "unscratch_docker"][0]
        rule = dock.findChild(QLabel, "unscratch_rule")
        deadline = time.monotonic() + 60
        while not rule.text() and time.monotonic() < deadline:
            QApplication.processEvents()
            time.sleep(0.05)
        box = dock.findChild(QDoubleSpinBox, "unscratch_threshold")
        auto = dock.findChild(QCheckBox, "unscratch_auto_threshold").isChecked()
        return {
            "auto": auto,
            "value": box.value(),
            "enabled": box.isEnabled(),
            "rule": rule.text(),
            "known": dict(plugin().known_thresholds),
        }

    doc8 = open_doc(os.environ["UNSCRATCH_KRITA_IN8"])
    select(doc8, rect1)
    doc8.setActiveNode(background(doc8))

    @step("u8_detect")
    def _():
        before = layers(doc8)
        r = trigger("unscratch_detect")
        new = [n for n in doc8.topLevelNodes() if n.name() == r["last"]["layer"]]
        r.update(
            before=before, after=layers(doc8), active=doc8.activeNode() and doc8.activeNode().name()
        )
        if new:
            r["dump"] = dump("u8_detect_layer", new[0], doc8)
        return r

    @step("u8_restore")
    def _():
        before = layers(doc8)
        src = dump("u8_source", background(doc8), doc8)
        r = trigger("unscratch_restore_selection")
        new = [n for n in doc8.topLevelNodes() if n.name() == r["last"]["layer"]]
        r.update(before=before, after=layers(doc8), source=src)
        if new:
            r["dump"] = dump("u8_restore_layer", new[0], doc8)
            # the image as it looks: only the source and our restored layer visible
            for n in doc8.topLevelNodes():
                n.setVisible(n.name() in (new[0].name(), background(doc8).name()))
            doc8.refreshProjection()
            doc8.waitForDone()
            r["merged_ok"] = doc8.exportImage(os.path.join(OUT, "u8_merged.png"), InfoObject())
            r["source_after"] = dump("u8_source_after", background(doc8), doc8)
            for n in doc8.topLevelNodes():
                n.setVisible(True)
        return r

    @step("u8_undo")
    def _():
        n0 = len(doc8.topLevelNodes())
        app.action("edit_undo").trigger()
        doc8.waitForDone()
        n1 = len(doc8.topLevelNodes())
        after_undo = layers(doc8)
        app.action("edit_redo").trigger()
        doc8.waitForDone()
        return {
            "before": n0,
            "after_undo": n1,
            "after_redo": len(doc8.topLevelNodes()),
            "undo_layers": after_undo,
        }

    @step("u8_fill")
    def _():
        select(doc8, rect2)
        doc8.setActiveNode(background(doc8))
        r = trigger("unscratch_fill_selection")
        new = [n for n in doc8.topLevelNodes() if n.name() == r["last"]["layer"]]
        r["after"] = layers(doc8)
        if new:
            r["dump"] = dump("u8_fill_layer", new[0], doc8)
        return r

    @step("u8_docker")
    def _():
        # the docker's controls drive the actions: switch mode to fill and press its Restore button
        qwin = app.activeWindow().qwindow()
        from PyQt5.QtWidgets import QComboBox, QPushButton

        dock = [d for d in app.dockers() if d.objectName() == "unscratch_docker"][0]
        mode = dock.findChild(QComboBox, "unscratch_mode")
        mode.setCurrentIndex(mode.findData("fill"))
        select(doc8, rect1)  # not u8_fill's selection: healed already, as the user now sees it
        doc8.setActiveNode(background(doc8))
        before = len(doc8.topLevelNodes())
        dock.findChild(QPushButton, "unscratch_restore_button").click()
        last = plugin().last_result.as_dict()
        setting = app.readSetting("unscratch", "mode", "?")
        mode.setCurrentIndex(mode.findData("defects"))
        return {
            "op": last["op"],
            "ok": last["ok"],
            "layers_added": len(doc8.topLevelNodes()) - before,
            "setting": setting,
            "visible": dock.isVisible(),
            "window": qwin.objectName(),
        }

    @step("u8_no_selection")
    def _():
        app.action("deselect").trigger()
        doc8.waitForDone()
        for (
            n
        ) in doc8.topLevelNodes():  # without Detect's layer the detector runs on the whole layer
            if n.name().endswith("(scratches)"):
                n.remove()
        doc8.setActiveNode(background(doc8))
        r = trigger("unscratch_restore_selection")
        r["selection"] = doc8.selection() is not None
        r["after"] = layers(doc8)
        new = [n for n in doc8.topLevelNodes() if n.name() == r["last"]["layer"]]
        if new:
            r["dump"] = dump(
                "u8_whole_layer", new[0], doc8
            )  # the lowest of that name: right above the source
        return r

    @step("u8_fill_without_selection")
    def _():
        before = len(doc8.topLevelNodes())
        r = trigger("unscratch_fill_selection")
        r["layers_added"] = len(doc8.topLevelNodes()) - before
        return r

    doc16 = open_doc(os.environ["UNSCRATCH_KRITA_IN16"])
    select(doc16, rect1)
    doc16.setActiveNode(background(doc16))

    @step("u16_restore")
    def _():
        r = {"doc_depth": doc16.colorDepth(), "doc_model": doc16.colorModel()}
        r["source"] = dump("u16_source", background(doc16), doc16)
        # Krita's PNG export itself moves some 16-bit values by a few levels (colour management),
        # so the export after our action is compared with an export made before it
        r["before_ok"] = doc16.exportImage(os.path.join(OUT, "u16_before.png"), InfoObject())
        r.update(trigger("unscratch_restore_selection"))
        new = [n for n in doc16.topLevelNodes() if n.name() == r["last"]["layer"]]
        r["after"] = layers(doc16)
        if new:
            r["dump"] = dump("u16_restore_layer", new[0], doc16)
            for n in doc16.topLevelNodes():
                n.setVisible(n.name() in (new[0].name(), background(doc16).name()))
            doc16.refreshProjection()
            doc16.waitForDone()
            r["merged_ok"] = doc16.exportImage(os.path.join(OUT, "u16_merged.png"), InfoObject())
            r["projection"] = dump("u16_projection", doc16, doc16)
        return r

    # ---- interactive mode: the progress dialog's Cancel, and the error message box
    @step("cancel_hung_worker")
    def _():
        app.setBatchmode(False)
        os.environ["UNSCRATCH_PYTHON"] = os.environ["UNSCRATCH_KRITA_HANG"]
        seen = {}

        def press_cancel():
            dialogs = [
                w
                for w in QApplication.topLevelWidgets()
                if isinstance(w, QProgressDialog)
                and w.objectName() == "unscratch_progress"
                and w.isVisible()
            ]
            seen["dialog"] = bool(dialogs)
            if dialogs:
                seen["title"] = dialogs[0].windowTitle()
                seen["label"] = dialogs[0].labelText()
                dialogs[0].cancel()
            else:
                QTimer.singleShot(200, press_cancel)

        before = len(doc16.topLevelNodes())
        QTimer.singleShot(1500, press_cancel)
        r = trigger("unscratch_restore_selection")
        r.update(seen, layers_added=len(doc16.topLevelNodes()) - before)
        return r

    @step("crashing_worker_message")
    def _():
        os.environ["UNSCRATCH_PYTHON"] = os.environ["UNSCRATCH_KRITA_CRASH"]
        seen = {}

        def read_box():
            boxes = [
                w
                for w in QApplication.topLevelWidgets()
                if isinstance(w, QMessageBox)
                and w.objectName() == "unscratch_error"
                and w.isVisible()
            ]
            if boxes:
                seen["text"] = boxes[0].text()
                seen["title"] = boxes[0].windowTitle()
                boxes[0].accept()
            else:
                QTimer.singleShot(200, read_box)

        before = len(doc16.topLevelNodes())
        QTimer.singleShot(300, read_box)
        r = trigger("unscratch_restore_selection")
        r.update(seen, layers_added=len(doc16.topLevelNodes()) - before)
        del os.environ["UNSCRATCH_PYTHON"]
        app.setBatchmode(True)
        return r

    @step("alive_after_failures")
    def _():
        # Krita survived both; the real worker works again
        before = len(doc16.topLevelNodes())
        doc16.setActiveNode(background(doc16))
        r = trigger("unscratch_detect")
        r["layers_added"] = len(doc16.topLevelNodes()) - before
        return r

    return scenario_kit.finish(app, OUT, result)

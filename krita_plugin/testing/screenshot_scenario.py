"""Scenario for the test driver: a screenshot of the plug-in in Krita (menu, docker, result layer).

Run by krita_plugin/testing/screenshot.sh; writes $UNSCRATCH_KRITA_SCREENSHOT.
"""

import os
import sys

from krita import Krita, Selection
from PyQt5.QtCore import QEventLoop
from PyQt5.QtWidgets import QApplication, QDockWidget

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # scenario_kit beside it
import scenario_kit  # noqa: E402

app = Krita.instance()


def main():
    app.setBatchmode(
        os.environ.get("UNSCRATCH_KRITA_BATCH", "0") == "1"
    )  # interactive, as for a user
    doc = app.openDocument(os.environ["UNSCRATCH_KRITA_IN"])
    window = app.activeWindow()
    window.addView(doc)
    doc.waitForDone()
    qwin = window.qwindow()
    qwin.setGeometry(0, 0, 1280, 860)
    qwin.move(0, 0)
    for dock in qwin.findChildren(QDockWidget):
        if dock.objectName() == "unscratch_docker":
            dock.show()
            dock.raise_()
    s = Selection()
    x, y, w, h = [
        int(v) for v in os.environ.get("UNSCRATCH_KRITA_RECT", "40,150,260,120").split(",")
    ]
    s.select(x, y, w, h, 255)
    doc.setSelection(s)
    app.action(os.environ.get("UNSCRATCH_KRITA_ACTION", "unscratch_detect")).trigger()
    for view in window.views():
        view.canvas().setZoomLevel(float(os.environ.get("UNSCRATCH_KRITA_ZOOM", "1.0")))
    loop = QEventLoop()

    def grab():
        QApplication.primaryScreen().grabWindow(0, 0, 0, 1280, 860).save(
            os.environ["UNSCRATCH_KRITA_SCREENSHOT"]
        )
        loop.quit()

    scenario_kit.open_scripts_menu(qwin, grab, delay_ms=1500)
    loop.exec_()
    for d in app.documents():
        d.setModified(False)
    return 0

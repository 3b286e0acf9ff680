"""Dialogs: a progress dialog with Cancel while the worker runs, and message boxes for errors.

The worker runs in its own process; while waiting for it, protocol.run_job polls our `cancelled()`
every 50 ms, which also pumps Qt's event loop, so Krita stays responsive and Cancel is immediate
(the worker is killed and nothing is changed).
"""

from __future__ import annotations

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QApplication, QMessageBox, QProgressDialog

STEPS = 1000


def main_window():
    try:
        from krita import Krita

        window = Krita.instance().activeWindow()
        return window.qwindow() if window is not None else None
    except Exception:  # no window (kritarunner, tests)
        return None


def announce(text: str, seconds: int = 8) -> None:
    """Say what happened where the user looks: a message on the canvas and in the status bar."""
    from krita import Krita

    window = Krita.instance().activeWindow()
    if window is None:
        return
    qwindow = window.qwindow()
    if qwindow is not None:
        qwindow.statusBar().showMessage(text, seconds * 1000)
    view = window.activeView()
    if view is not None:
        from PyQt5.QtGui import QIcon

        view.showFloatingMessage(text, QIcon(), seconds * 1000, 1)


class QtUI:
    def __init__(self, parent=None):
        self.parent = parent if parent is not None else main_window()

    def progress(self, title: str, label: str) -> Progress:
        return Progress(self.parent, title, label)

    def error(self, title: str, text: str, details: str | None = None) -> None:
        box = QMessageBox(QMessageBox.Warning, title, text, QMessageBox.Ok, self.parent)
        box.setObjectName("unscratch_error")
        if details:
            box.setDetailedText(details)
        box.exec_()

    def info(self, title: str, text: str) -> None:
        box = QMessageBox(QMessageBox.Information, title, text, QMessageBox.Ok, self.parent)
        box.setObjectName("unscratch_info")
        box.exec_()


class Progress:
    def __init__(self, parent, title: str, label: str):
        self.dialog = QProgressDialog(label, "Cancel", 0, STEPS, parent)
        self.dialog.setObjectName("unscratch_progress")
        self.dialog.setWindowTitle(title)
        self.dialog.setWindowModality(Qt.WindowModal)
        self.dialog.setMinimumDuration(0)
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)

    def __enter__(self) -> Progress:
        self.dialog.setValue(0)
        self.dialog.show()
        QApplication.processEvents()
        return self

    def __exit__(self, *exc) -> bool:
        self.dialog.hide()
        self.dialog.deleteLater()
        QApplication.processEvents()
        return False

    def update(self, fraction: float) -> None:
        self.dialog.setValue(int(round(max(0.0, min(1.0, fraction)) * STEPS)))
        QApplication.processEvents()

    def cancelled(self) -> bool:
        QApplication.processEvents()
        return self.dialog.wasCanceled()

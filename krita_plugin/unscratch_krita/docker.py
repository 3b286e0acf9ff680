"""The Unscratch docker (Settings > Dockers > Unscratch): sensitivity, mode, method and where Detect
puts its result; the actions read the same settings, so menu entries and shortcuts behave like the
buttons, and the docker's status line says what the last run did, from wherever it was started.

With "Automatic" the sensitivity box shows, greyed, the detector's own threshold: the value in use.
The worker is asked for it once, in a background thread (about a second), so the docker never
blocks Krita. Changing the sensitivity while the photo has a marks layer from Detect makes its
marks again at once (keeping the user's edits); the line under the box says what Restore will
repair."""

from __future__ import annotations

import threading

from krita import DockWidget, Krita
from PyQt5.QtCore import QObject, QTimer, pyqtSignal
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from . import host, layers, marks, undo
from .kit import TITLES, detector_thresholds, known_thresholds, log
from .settings import MODES, Settings

DOCKER_ID = "unscratch_docker"
MODE_ITEMS = (("defects", "Repair defects in the selection"), ("fill", "Heal the whole selection"))
METHOD_ITEMS = (
    ("auto", "Automatic"),
    ("model", "Trained model"),
    ("classical", "Classical (no model)"),
)
OUTPUT_ITEMS = (("layer", "New layer"), ("selection", "Selection"))


class _Relay(QObject):
    """Carries the detector's thresholds from the thread that asked the worker to the docker."""

    thresholds = pyqtSignal(object)


class UnscratchDocker(DockWidget):
    def __init__(self):
        super().__init__()
        self.setWindowTitle("Unscratch")
        self.setObjectName(DOCKER_ID)
        root = QWidget(self)
        form = QFormLayout()

        self.auto_threshold = QCheckBox("Automatic")
        self.auto_threshold.setObjectName("unscratch_auto_threshold")
        self.auto_threshold.setToolTip("Use the threshold the detector was calibrated with")
        self.threshold = QDoubleSpinBox()
        self.threshold.setObjectName("unscratch_threshold")
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setDecimals(2)
        self.threshold.setToolTip(
            "Sensitivity: lower finds fainter defects (and more false ones); higher finds only "
            "clear ones. Changing it re-makes the marks of Detect's layer (your edits kept)."
        )
        row = QHBoxLayout()
        row.addWidget(self.threshold)
        row.addWidget(self.auto_threshold)
        form.addRow("Sensitivity (threshold)", row)
        self.rule = QLabel("")
        self.rule.setObjectName("unscratch_rule")
        self.rule.setWordWrap(True)
        form.addRow(self.rule)

        self.mode = self._combo("unscratch_mode", MODE_ITEMS, "What the Restore button does")
        form.addRow("Mode", self.mode)
        self.method = self._combo(
            "unscratch_method", METHOD_ITEMS, "Trained model, or the classical fallback"
        )
        form.addRow("Method", self.method)
        self.output = self._combo(
            "unscratch_detect_output",
            OUTPUT_ITEMS,
            "Detect shows the defects as a new layer, or selects them",
        )
        form.addRow("Detect to", self.output)

        buttons = QHBoxLayout()
        self.detect_button = QPushButton(TITLES["detect"])
        self.detect_button.setObjectName("unscratch_detect_button")
        self.restore_button = QPushButton(TITLES["restore"])
        self.restore_button.setObjectName("unscratch_restore_button")
        buttons.addWidget(self.detect_button)
        buttons.addWidget(self.restore_button)
        self.status = QLabel("")
        self.status.setObjectName("unscratch_status")
        self.status.setWordWrap(True)

        layout = QVBoxLayout(root)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.setWidget(root)

        self._found: dict = {}
        self._relay = _Relay()
        self._relay.thresholds.connect(self._show_thresholds)
        self._follow = QTimer(self)  # re-make the marks once the sensitivity stops changing
        self._follow.setSingleShot(True)
        self._follow.setInterval(300)
        self._follow.timeout.connect(self.follow_marks)
        self._tick = QTimer(self)  # the rule line follows the layers (a marks layer deleted...)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self.show_rule)
        self._tick.start()
        self.load(Settings.load(Krita.instance()))
        self.fetch_thresholds()
        for signal in (
            self.auto_threshold.toggled,
            self.threshold.valueChanged,
            self.mode.currentIndexChanged,
            self.method.currentIndexChanged,
            self.output.currentIndexChanged,
        ):
            signal.connect(self._changed)
        self.auto_threshold.toggled.connect(lambda *a: self._follow.start())
        self.threshold.valueChanged.connect(lambda *a: self._follow.start())
        self.detect_button.clicked.connect(lambda: self.run("detect"))
        self.restore_button.clicked.connect(lambda: self.run(MODES[self.settings().mode]))
        host.listeners.append(self._heard)
        undo.listeners.append(self._heard_undo)
        self.destroyed.connect(lambda *a: self._forget())

    @staticmethod
    def _combo(name, items, tip):
        box = QComboBox()
        box.setObjectName(name)
        box.setToolTip(tip)
        for key, text in items:
            box.addItem(text, key)
        return box

    def _forget(self) -> None:
        if self._heard in host.listeners:
            host.listeners.remove(self._heard)
        if self._heard_undo in undo.listeners:
            undo.listeners.remove(self._heard_undo)

    def _heard_undo(self, text: str) -> None:
        try:
            self.status.setText(text)
            self.show_rule()
        except RuntimeError:
            self._forget()

    def _heard(self, result) -> None:
        """Any run (menu, shortcut, script, our buttons): its summary in the status line."""
        try:
            self.status.setText(result.summary())
            self.show_rule()
        except RuntimeError:  # the docker's widgets were deleted
            self._forget()

    def fetch_thresholds(self) -> threading.Thread | None:
        """Ask the worker for the detector's thresholds in the background; the docker shows them
        when they arrive (at once when already known)."""
        if "threshold" in known_thresholds:
            self._show_thresholds(dict(known_thresholds))
            return None
        relay = self._relay

        def ask():
            try:
                found = detector_thresholds()
            except Exception as exc:  # no worker yet: the first run reports it instead
                log(f"could not ask the worker for the detector's threshold: {exc}")
                return
            try:
                relay.thresholds.emit(found)
            except RuntimeError:  # the docker was closed meanwhile
                pass

        thread = threading.Thread(target=ask, name="unscratch-thresholds", daemon=True)
        thread.start()
        return thread

    def _show_thresholds(self, found: dict) -> None:
        """The detector's own threshold in the greyed box while Automatic is on, and the rules."""
        if found.get("threshold") is None:
            return
        self._found = dict(found)
        if self.auto_threshold.isChecked():
            self.threshold.blockSignals(True)
            self.threshold.setValue(float(found["threshold"]))
            self.threshold.blockSignals(False)
        self.show_rule()

    def _marks(self):
        """(document, marks layer) of the active document's photo, or (document, None)."""
        doc = Krita.instance().activeDocument()
        if doc is None:
            return None, None
        try:
            return doc, layers.marks_layer(doc, layers.find_paint_layer(doc))
        except Exception:
            return doc, None

    def show_rule(self) -> None:
        """What Restore will repair, in words: the marks layer's marks (at which sensitivity) when
        the photo has one, else the detector's rules."""
        t = self._found.get("threshold")
        auto = self.auto_threshold.isChecked()
        doc, layer = self._marks()
        if layer is not None:
            text = marks.describe(doc, layer, self.settings().threshold)
        elif t is None and auto:
            text = ""
        else:
            used = f"{t:.2f} (the detector's own)" if auto else f"{self.threshold.value():.2f}"
            text = (
                f"{TITLES['restore']} repairs every defect at or above {used} inside the "
                f"selection (with none, on the whole layer). After {TITLES['detect']}, exactly "
                "what its marks layer shows."
            )
        if self.rule.text() != text:
            self.rule.setText(text)

    def follow_marks(self) -> str:
        """Make the active photo's marks again at the sensitivity now shown (keeping edits)."""
        doc, layer = self._marks()
        if layer is None:
            return ""
        try:
            said = marks.follow(doc, layer, self.settings().threshold)[1]
        except Exception as exc:
            said = f"Could not make the marks again: {exc}"
            log(said)
        if said:
            self.status.setText(said)
        self.show_rule()
        return said

    def load(self, s: Settings) -> None:
        self.auto_threshold.setChecked(s.threshold is None)
        known = known_thresholds.get("threshold")
        shown = s.threshold if s.threshold is not None else known if known is not None else 0.5
        self.threshold.setValue(shown)
        self.threshold.setEnabled(s.threshold is not None)
        for box, value in (
            (self.mode, s.mode),
            (self.method, s.method),
            (self.output, s.detect_output),
        ):
            box.setCurrentIndex(max(0, box.findData(value)))
        self._label_restore()

    def settings(self) -> Settings:
        threshold = None if self.auto_threshold.isChecked() else float(self.threshold.value())
        return Settings(
            threshold=threshold,
            mode=self.mode.currentData(),
            method=self.method.currentData(),
            detect_output=self.output.currentData(),
        )

    def _label_restore(self) -> None:
        self.restore_button.setText(TITLES[MODES.get(self.mode.currentData(), "restore")])

    def _changed(self, *args) -> None:
        self.threshold.setEnabled(not self.auto_threshold.isChecked())
        if self.auto_threshold.isChecked() and self._found.get("threshold") is not None:
            self.threshold.blockSignals(True)  # the greyed box shows the value in use
            self.threshold.setValue(float(self._found["threshold"]))
            self.threshold.blockSignals(False)
        self._label_restore()
        self.settings().save(Krita.instance())
        self.show_rule()

    def run(self, op: str):
        s = self.settings()
        s.save(Krita.instance())
        self.status.setText("Working…")
        return host.run_action(op, s)  # the status line hears the result (a listener)

    def canvasChanged(self, canvas):
        self.show_rule()

"""The Unscratch docker (Settings > Dockers > Unscratch): threshold, mode, method and where Detect
puts its result; the actions read the same settings, so shortcuts behave like the buttons.

With "Automatic" the threshold box shows, greyed, the detector's own threshold: the value in use. The
worker is asked for it once, in a background thread (about a second), so the docker never blocks Krita."""
from __future__ import annotations

import threading

from krita import DockWidget, Krita
from PyQt5.QtCore import QObject, pyqtSignal
from PyQt5.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel,
                             QPushButton, QVBoxLayout, QWidget)

from . import host

DOCKER_ID = "unscratch_docker"
MODE_ITEMS = (("defects", "Repair defects in the selection"), ("fill", "Heal the whole selection"))
METHOD_ITEMS = (("auto", "Automatic"), ("model", "Trained model"), ("classical", "Classical (no model)"))
OUTPUT_ITEMS = (("layer", "New layer"), ("selection", "Selection"))


class _Relay(QObject):
    """Carries the detector's thresholds from the thread that asked the worker to the docker (queued)."""
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
        self.threshold.setToolTip("Sensitivity: lower finds fainter defects (and more false ones); higher "
                                  "finds only clear ones. Inside a selection every pixel at or above it is "
                                  "repaired.")
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
        self.method = self._combo("unscratch_method", METHOD_ITEMS, "Trained model, or the classical fallback")
        form.addRow("Method", self.method)
        self.output = self._combo("unscratch_detect_output", OUTPUT_ITEMS,
                                  "Detect shows the defects as a new layer, or selects them")
        form.addRow("Detect to", self.output)

        buttons = QHBoxLayout()
        self.detect_button = QPushButton("Detect")
        self.detect_button.setObjectName("unscratch_detect_button")
        self.restore_button = QPushButton("Restore")
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

        self._relay = _Relay()
        self._relay.thresholds.connect(self._show_thresholds)
        self.load(host.Settings.load(Krita.instance()))
        self.fetch_thresholds()
        for signal in (self.auto_threshold.toggled, self.threshold.valueChanged, self.mode.currentIndexChanged,
                       self.method.currentIndexChanged, self.output.currentIndexChanged):
            signal.connect(self._changed)
        self.detect_button.clicked.connect(lambda: self.run("detect"))
        self.restore_button.clicked.connect(lambda: self.run(host.MODES[self.settings().mode]))

    @staticmethod
    def _combo(name, items, tip):
        box = QComboBox()
        box.setObjectName(name)
        box.setToolTip(tip)
        for key, text in items:
            box.addItem(text, key)
        return box

    def fetch_thresholds(self) -> threading.Thread | None:
        """Ask the worker for the detector's thresholds in the background; the docker shows them when they
        arrive (at once when already known)."""
        if "auto_threshold" in host.known_thresholds:
            self._show_thresholds(dict(host.known_thresholds))
            return None
        relay = self._relay

        def ask():
            try:
                found = host.detector_thresholds()
            except Exception as exc:  # no worker yet: the first run reports it instead
                host.log(f"could not ask the worker for the detector's threshold: {exc}")
                return
            try:
                relay.thresholds.emit(found)
            except RuntimeError:  # the docker was closed meanwhile
                pass

        thread = threading.Thread(target=ask, name="unscratch-thresholds", daemon=True)
        thread.start()
        return thread

    def _show_thresholds(self, found: dict) -> None:
        """Show the detector's own threshold in the greyed box while Automatic is on, and the rules."""
        t, high = found.get("threshold"), found.get("auto_threshold")
        if t is None:
            return
        if self.auto_threshold.isChecked():
            self.threshold.blockSignals(True)
            self.threshold.setValue(float(t))
            self.threshold.blockSignals(False)
        used = f"{t:.2f} (the detector's own)" if self.auto_threshold.isChecked() else \
            f"{self.threshold.value():.2f}"
        cautious = "every defect at or above it"
        if self.auto_threshold.isChecked():
            cautious = "only defects it is sure of" + (f" (reaching {high:.3f})" if high else "")
        self.rule.setText(f"Restore with a selection repairs every defect at or above {used} inside it; "
                          f"with no selection, {cautious}. With a '(defects)' layer from Detect, exactly what "
                          "it shows.")

    def load(self, s: "host.Settings") -> None:
        self.auto_threshold.setChecked(s.threshold is None)
        known = host.known_thresholds.get("threshold")
        shown = s.threshold if s.threshold is not None else known if known is not None else 0.5
        self.threshold.setValue(shown)
        self.threshold.setEnabled(s.threshold is not None)
        for box, value in ((self.mode, s.mode), (self.method, s.method), (self.output, s.detect_output)):
            index = box.findData(value)
            box.setCurrentIndex(max(0, index))

    def settings(self) -> "host.Settings":
        return host.Settings(threshold=None if self.auto_threshold.isChecked() else float(self.threshold.value()),
                             mode=self.mode.currentData(), method=self.method.currentData(),
                             detect_output=self.output.currentData())

    def _changed(self, *args) -> None:
        self.threshold.setEnabled(not self.auto_threshold.isChecked())
        self.settings().save(Krita.instance())
        if host.known_thresholds.get("threshold") is not None:
            self._show_thresholds(dict(host.known_thresholds))

    def run(self, op: str) -> "host.Result":
        s = self.settings()
        s.save(Krita.instance())
        self.status.setText("Working…")
        result = host.run_action(op, s)
        self.status.setText(result.summary())
        if host.known_thresholds.get("threshold") is not None:
            self._show_thresholds(dict(host.known_thresholds))
        return result

    def canvasChanged(self, canvas):
        pass

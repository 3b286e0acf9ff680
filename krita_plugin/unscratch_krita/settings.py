"""The docker's controls, kept in Krita's settings (kritarc, group [unscratch]); the actions read
the same, so a menu entry or a shortcut does what the docker's buttons do."""

from __future__ import annotations

from .kit import hostkit, protocol

MODES = {"defects": "restore", "fill": "fill"}  # what the docker's Restore button runs
DETECT_OUTPUTS = ("layer", "selection")


class Settings:
    GROUP = "unscratch"

    def __init__(self, threshold=None, mode="defects", method="auto", detect_output="layer"):
        self.threshold = threshold  # None: the detector's own
        self.mode = mode  # defects | fill
        self.method = method  # auto | model | classical
        self.detect_output = detect_output  # layer | selection

    @classmethod
    def load(cls, app) -> Settings:
        s = cls()
        if app is None:
            return s

        def read(key, default):
            return app.readSetting(cls.GROUP, key, default) or default

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
        app.writeSetting(
            self.GROUP, "threshold", "auto" if self.threshold is None else f"{self.threshold:.3f}"
        )
        app.writeSetting(self.GROUP, "mode", self.mode)
        app.writeSetting(self.GROUP, "method", self.method)
        app.writeSetting(self.GROUP, "detect_output", self.detect_output)

    def params(self) -> dict:
        return hostkit.job_params(self.threshold, self.method)

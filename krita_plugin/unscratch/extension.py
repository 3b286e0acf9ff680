"""The three actions (menu Tools > Scripts, shortcut-capable) and their registration.

Action names are stable, scripts call them:  Krita.instance().action("unscratch_restore_selection").trigger()
"""
from __future__ import annotations

from krita import Extension

from . import host

ACTIONS = (
    ("unscratch_detect", "Detect scratches", "detect",
     "Find scratches, dust and hairs in the active layer (inside the selection, if any) and show them as a new layer"),
    ("unscratch_restore_selection", "Restore selection", "restore",
     "Repair the scratches, dust and hairs inside the selection (no selection: the whole layer) into a new layer"),
    ("unscratch_fill_selection", "Fill selection", "fill",
     "Heal the whole selection from its surroundings into a new layer"),
)
MENU = "tools/scripts"


class UnscratchExtension(Extension):
    def __init__(self, parent):
        super().__init__(parent)

    def setup(self):
        pass

    def createActions(self, window):
        for name, text, op, tip in ACTIONS:
            action = window.createAction(name, text, MENU)
            action.setToolTip(tip)
            action.setStatusTip(tip)
            action.triggered.connect(lambda checked=False, op=op: host.run_action(op))

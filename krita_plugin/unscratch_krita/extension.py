"""The three actions (menu Tools > Scripts, shortcut-capable) and their registration; their texts
are hostkit's action names, the same in every host.

Action names are stable, scripts call them:
    Krita.instance().action("unscratch_restore_selection").trigger()
"""

from __future__ import annotations

from krita import Extension

from . import host
from .kit import TITLES

ACTIONS = (
    (
        "unscratch_detect",
        "detect",
        "Find scratches, dust and hairs in the active layer (inside the selection, if any) and "
        "mark them in red on a new layer, to edit before Restore",
    ),
    (
        "unscratch_restore_selection",
        "restore",
        "Repair the marks (or, with none, what the detector finds) inside the selection (no "
        "selection: the whole layer) into a new layer",
    ),
    (
        "unscratch_fill_selection",
        "fill",
        "Heal the whole selection from its surroundings into a new layer",
    ),
)
MENU = "tools/scripts"


class UnscratchExtension(Extension):
    def __init__(self, parent):
        super().__init__(parent)

    def setup(self):
        pass

    def createActions(self, window):
        for name, op, tip in ACTIONS:
            action = window.createAction(name, TITLES[op], MENU)
            action.setToolTip(tip)
            action.setStatusTip(tip)
            action.triggered.connect(lambda checked=False, op=op: host.run_action(op))

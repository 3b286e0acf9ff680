"""Test only (never installed by `unscratch install`): once Krita's main window exists, run the
scenario script named by $UNSCRATCH_KRITA_DRIVER (its main() returns the exit code) and leave Krita
with os._exit(code): the one reliable way to quit a GUI Krita with a meaningful code.
"""

import os
import runpy
import sys
import traceback

from krita import Extension, Krita
from PyQt5.QtCore import QTimer


class UnscratchTestDriver(Extension):
    started = False

    def setup(self):
        pass

    def createActions(self, window):
        script = os.environ.get("UNSCRATCH_KRITA_DRIVER")
        if script and not UnscratchTestDriver.started:
            UnscratchTestDriver.started = True
            delay = int(os.environ.get("UNSCRATCH_KRITA_DRIVER_DELAY_MS", "200"))
            QTimer.singleShot(delay, lambda: self.go(script))

    def go(self, script):
        code = 3
        try:
            code = int(runpy.run_path(script, run_name="unscratch_scenario")["main"]() or 0)
        except BaseException:
            traceback.print_exc()
        finally:
            print(f"[unscratch-testdriver] exit {code}", file=sys.stderr, flush=True)
            sys.stdout.flush()
            os._exit(code)


Krita.instance().addExtension(UnscratchTestDriver(Krita.instance()))

# Runs inside GIMP 3's GUI (python-fu-eval) for undo_gui.sh: open the image (UNSCRATCH_UNDO_IMAGE)
# in a display, Detect scratches, erase some marks, select, run Restore selection INTERACTIVE (its
# dialog appears; undo_gui.sh presses OK; it hides the marks layer), signal "ready", wait for
# undo_gui.sh's Ctrl+Z to take effect, record the layers, the marks layer's visibility and the
# pixels. At each step it asks for a screenshot (shot() below; the test takes them from outside).
import json
import os
import sys
import time
import traceback

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

_D = os.environ["UNSCRATCH_CHECKS_DIR"]
_SPEC = json.loads(os.environ["UNSCRATCH_CHECKS_SPEC"])
# protocol.py (for write_npy; GIMP's Python has no numpy): the copy installed beside the plug-in
sys.path.insert(0, os.path.join(os.environ["GIMP3_DIRECTORY"], "plug-ins", "unscratch_gimp"))
import protocol as _protocol  # noqa: E402

_out = {"ok": False}


def shot(name, wait=20.0):
    """Ask for a screenshot of the screen as it is now (the test grabs the Xvfb display and
    answers NAME.done); go on after `wait` s when nobody answers."""
    Gimp.displays_flush()
    time.sleep(0.8)                      # let GIMP's window repaint
    req = os.path.join(_D, f"shot.{name}")
    open(req, "w").close()
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and not os.path.exists(req + ".done"):
        time.sleep(0.1)


def _names(image):
    return [lyr.get_name() for lyr in image.get_layers()]


def _pdb(name, image, drawables, mode=Gimp.RunMode.NONINTERACTIVE):
    proc = Gimp.get_pdb().lookup_procedure(name)
    cfg = proc.create_config()
    cfg.set_property("run-mode", mode)
    cfg.set_property("image", image)
    cfg.set_core_object_array("drawables", drawables)
    return proc, cfg


try:
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE,
                           Gio.File.new_for_path(os.path.join(_D, _SPEC["image"])))
    display = Gimp.Display.new(image)
    Gimp.displays_flush()
    open(os.path.join(_D, "display_ready"), "w").close()
    deadline = time.monotonic() + 60       # undo_gui.sh zooms in and shows the menu
    while time.monotonic() < deadline and not os.path.exists(os.path.join(_D, "menu_done")):
        time.sleep(0.2)
    layer = image.get_layers()[0]
    proc, cfg = _pdb("plug-in-unscratch-detect", image, [layer])
    marks = proc.run(cfg).index(1)
    _out["layers_after_detect"] = _names(image)
    shot("2-detect")
    x, y, w, h = _SPEC["erase"]           # the user erases false marks
    image.select_rectangle(Gimp.ChannelOps.REPLACE, x, y, w, h)
    marks.edit_clear()
    x, y, w, h = _SPEC["sel"]
    image.select_rectangle(Gimp.ChannelOps.REPLACE, x, y, w, h)
    shot("3-edit")
    proc, cfg = _pdb("plug-in-unscratch-restore-selection", image, [layer],
                     Gimp.RunMode.INTERACTIVE)
    open(os.path.join(_D, "dialog_expected"), "w").close()
    res = proc.run(cfg)
    _out["status"] = res.index(0).value_nick
    _out["layers_after_run"] = _names(image)
    _out["marks_visible_after_run"] = marks.get_visible()
    shot("5-restored")
    open(os.path.join(_D, "undo_ready"), "w").close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(image.get_layers()) == len(_out["layers_after_run"]):
        time.sleep(0.2)
    time.sleep(0.5)   # had the undo gone further than one step, it would show now
    _out["layers_after_undo"] = _names(image)
    _out["marks_visible_after_undo"] = marks.get_visible()
    shot("6-undo")
    layer = image.get_layers()[-1]
    data = layer.get_buffer().get(Gegl.Rectangle.new(0, 0, layer.get_width(), layer.get_height()),
                                  1.0, "R'G'B' u8", Gegl.AbyssPolicy.NONE)
    _protocol.write_npy(os.path.join(_D, "undo_after.npy"), data,
                        (layer.get_height(), layer.get_width(), 3), "uint8")
    _out["selection_kept"] = not Gimp.Selection.is_empty(image)
    _out["ok"] = True
    image.clean_all()
    display.delete()
except Exception as exc:
    _out["error"] = "".join(traceback.format_exception(exc))[-3000:]
with open(os.path.join(_D, "undo.json"), "w") as fh:
    json.dump(_out, fh)
print("UNDO-GUI-DONE", _out)

# Runs inside GIMP 3's GUI (python-fu-eval) for undo_gui.sh: open in8.png in a display, Detect
# scratches, select, run Restore selection INTERACTIVE (its dialog appears; undo_gui.sh presses OK;
# it hides the marks layer), signal "ready", wait for undo_gui.sh's Ctrl+Z to take effect, record
# the layers, the marks layer's visibility and the pixels.
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
# protocol.py (for write_npy; GIMP's Python has no numpy) as the plug-in imports it: the copy
# installed beside it
sys.path.insert(0, os.path.join(os.environ["GIMP3_DIRECTORY"], "plug-ins", "unscratch_gimp"))
import protocol as _protocol  # noqa: E402

_out = {"ok": False}
try:
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE,
                           Gio.File.new_for_path(os.path.join(_D, "in8.png")))
    display = Gimp.Display.new(image)
    Gimp.displays_flush()
    layer = image.get_layers()[0]
    detect = Gimp.get_pdb().lookup_procedure("plug-in-unscratch-detect")
    cfg = detect.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    cfg.set_property("image", image)
    cfg.set_core_object_array("drawables", [layer])
    marks = detect.run(cfg).index(1)
    _out["layers_after_detect"] = [lyr.get_name() for lyr in image.get_layers()]
    x, y, w, h = _SPEC["sel"]
    image.select_rectangle(Gimp.ChannelOps.REPLACE, x, y, w, h)
    proc = Gimp.get_pdb().lookup_procedure("plug-in-unscratch-restore-selection")
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
    cfg.set_property("image", image)
    cfg.set_core_object_array("drawables", [layer])
    open(os.path.join(_D, "dialog_expected"), "w").close()
    res = proc.run(cfg)
    _out["status"] = res.index(0).value_nick
    _out["layers_after_run"] = [lyr.get_name() for lyr in image.get_layers()]
    _out["marks_visible_after_run"] = marks.get_visible()
    Gimp.displays_flush()
    open(os.path.join(_D, "undo_ready"), "w").close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(image.get_layers()) == len(_out["layers_after_run"]):
        time.sleep(0.2)
    time.sleep(0.5)   # had the undo gone further than one step, it would show now
    _out["layers_after_undo"] = [lyr.get_name() for lyr in image.get_layers()]
    _out["marks_visible_after_undo"] = marks.get_visible()
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

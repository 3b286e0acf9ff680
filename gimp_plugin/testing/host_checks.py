# Runs inside real GIMP 3 (python-fu-eval batch interpreter); driven by tests/test_gimp_host.py:
# gimp-console-3.0 -i --batch-interpreter=python-fu-eval -b
# "exec(open('.../host_checks.py').read())" --quit Environment: UNSCRATCH_CHECKS_DIR (inputs in,
# results out: results.json + .npy dumps + exported PNGs), UNSCRATCH_CHECKS_SPEC (JSON: rects and
# the like), GIMP3_DIRECTORY (with the plug-in installed). Every scenario runs even when another
# fails; failures are recorded in results.json, never raised as SystemExit.
import json
import os
import sys
import time
import traceback

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
gi.require_version("Babl", "0.1")
from gi.repository import Babl, Gegl, Gimp, Gio  # noqa: E402

_D = os.environ["UNSCRATCH_CHECKS_DIR"]
_SPEC = json.loads(os.environ["UNSCRATCH_CHECKS_SPEC"])
# protocol.py (for write_npy; GIMP's Python has no numpy) as the plug-in imports it: the copy
# installed beside it
_PLUGIN_DIR = os.path.join(os.environ["GIMP3_DIRECTORY"], "plug-ins", "unscratch")
sys.path.insert(0, _PLUGIN_DIR)
import protocol as _protocol  # noqa: E402
_RESULTS = {}


def _load(name):
    return Gimp.file_load(Gimp.RunMode.NONINTERACTIVE,
                          Gio.File.new_for_path(os.path.join(_D, name)))


def _save(image, name):
    Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, image,
                   Gio.File.new_for_path(os.path.join(_D, name)), None)


def _dump(drawable, name, fmt, channels, dtype, rect=None):
    """Write the drawable's pixels in the babl format `fmt` to NAME.npy (host tests read it with
    numpy)."""
    x, y, w, h = rect or (0, 0, drawable.get_width(), drawable.get_height())
    data = drawable.get_buffer().get(Gegl.Rectangle.new(x, y, w, h), 1.0, fmt,
                                     Gegl.AbyssPolicy.NONE)
    _protocol.write_npy(os.path.join(_D, name + ".npy"), data, (h, w, channels), dtype)


def _call(name, image, drawables, **args):
    proc = Gimp.get_pdb().lookup_procedure(name)
    if proc is None:
        raise RuntimeError("procedure not found: " + name)
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    cfg.set_property("image", image)
    cfg.set_core_object_array("drawables", drawables)
    for key, value in args.items():
        cfg.set_property(key, value)
    t0 = time.monotonic()
    res = proc.run(cfg)
    status = res.index(0)
    values = [res.index(i) for i in range(1, res.length())]
    return status.value_nick, values, round(time.monotonic() - t0, 2)


def _names(items):
    return [i.get_name() for i in items]


def _info(image, layer, new):
    parent = new.get_parent()
    return {
        "precision": image.get_precision().value_nick,
        "layers": _names(image.get_layers()),
        "new_is_layer": isinstance(new, Gimp.Layer),
        "new_name": new.get_name(),
        "new_offsets": list(new.get_offsets()[1:]),
        "orig_offsets": list(layer.get_offsets()[1:]),
        "new_parent": parent.get_name() if parent else None,
        "orig_parent": layer.get_parent().get_name() if layer.get_parent() else None,
        "new_position": image.get_item_position(new),
        "orig_position": image.get_item_position(layer),
        "new_format": Babl.get_name(new.get_format()),
        "orig_format": Babl.get_name(layer.get_format()),
    }


def scenario(func):
    key = func.__name__
    try:
        out = func()
        _RESULTS[key] = dict(out or {}, ok=True)
    except Exception as exc:  # recorded, the other scenarios still run
        _RESULTS[key] = {"ok": False, "error": "".join(traceback.format_exception(exc))[-3000:]}
    return func


def _rect(image, key):
    x, y, w, h = _SPEC[key]
    image.select_rectangle(Gimp.ChannelOps.REPLACE, x, y, w, h)


@scenario
def registration():
    out = {}
    pdb = Gimp.get_pdb()
    for name in ("plug-in-unscratch-detect", "plug-in-unscratch-restore-selection",
                 "plug-in-unscratch-fill-selection"):
        proc = pdb.lookup_procedure(name)
        out[name] = None if proc is None else {
            "menu_paths": list(proc.get_menu_paths()), "label": proc.get_menu_label(),
            "image_types": proc.get_image_types(),
            "is_image_procedure": isinstance(proc, Gimp.ImageProcedure)
            or [a.name for a in proc.get_arguments()][:3] == ["run-mode", "image", "drawables"],
            "arguments": [a.name for a in proc.get_arguments()],
            "return_values": [a.name for a in proc.get_return_values()]}
    return out


@scenario
def restore8():
    image = _load("in8.png")
    layer = image.get_layers()[0]
    _dump(layer, "restore8_before", "R'G'B' u8", 3, "uint8")
    _rect(image, "sel")
    status, values, secs = _call("plug-in-unscratch-restore-selection", image, [layer])
    new = values[0]
    _dump(layer, "restore8_orig_after", "R'G'B' u8", 3, "uint8")
    _dump(new, "restore8_new", "R'G'B' u8", 3, "uint8")
    info = _info(image, layer, new)
    Gimp.Selection.none(image)
    _save(image, "restore8_export.png")
    image.delete()
    return dict(info, status=status, secs=secs)


@scenario
def fill8():
    image = _load("in8.png")
    layer = image.get_layers()[0]
    _rect(image, "tight")
    status, values, secs = _call("plug-in-unscratch-fill-selection", image, [layer])
    new = values[0]
    _dump(new, "fill8_new", "R'G'B' u8", 3, "uint8")
    info = _info(image, layer, new)
    image.delete()
    return dict(info, status=status, secs=secs)


@scenario
def detect8():
    image = _load("in8.png")
    layer = image.get_layers()[0]
    status, values, secs = _call("plug-in-unscratch-detect", image, [layer])
    new, channel = values[0], values[1]
    _dump(new, "detect8_layer", "R'G'B'A u8", 4, "uint8")
    _dump(channel, "detect8_channel", "Y u8", 1, "uint8")
    info = _info(image, layer, new)
    # the channel loads as a selection
    image.select_item(Gimp.ChannelOps.REPLACE, channel)
    non_empty = Gimp.Selection.bounds(image)[1]
    status2, values2, _ = _call("plug-in-unscratch-detect", image, [layer],
                                **{"add-channel": False})
    image.delete()
    return dict(info, status=status, secs=secs, channel=channel.get_name(),
                channels=len(_names([channel])),
                selection_from_channel=bool(non_empty), status_no_channel=status2,
                no_channel_value=values2[1] is None)


@scenario
def restore16():
    image = _load("in16.png")
    layer = image.get_layers()[0]
    _dump(layer, "restore16_before", "R'G'B' u16", 3, "uint16")
    _rect(image, "sel")
    status, values, secs = _call("plug-in-unscratch-restore-selection", image, [layer])
    new = values[0]
    _dump(new, "restore16_new", "R'G'B' u16", 3, "uint16")
    info = _info(image, layer, new)
    layer.set_visible(False)
    Gimp.Selection.none(image)
    _save(image, "restore16_export.png")
    image.delete()
    return dict(info, status=status, secs=secs)


@scenario
def restore_float():
    image = _load("in16.png")
    image.convert_precision(Gimp.Precision.FLOAT_NON_LINEAR)
    layer = image.get_layers()[0]
    _dump(layer, "float_before", "R'G'B' float", 3, "float32")
    _rect(image, "sel")
    status, values, secs = _call("plug-in-unscratch-restore-selection", image, [layer])
    new = values[0]
    _dump(new, "float_new", "R'G'B' float", 3, "float32")
    info = _info(image, layer, new)
    image.delete()
    return dict(info, status=status, secs=secs)


@scenario
def restore_half_profiled():
    """16-bit float (half) pixels, in an image with its own colour profile (a babl space other than
    sRGB)."""
    image = _load("in16.png")
    image.convert_precision(Gimp.Precision.HALF_LINEAR)
    image.set_color_profile(Gimp.ColorProfile.new_rgb_adobe())
    layer = image.get_layers()[0]
    native = Babl.get_name(layer.get_format())
    fmt = Babl.get_name(Babl.format_with_space("RGB float",
                                               Babl.format_get_space(layer.get_format())))
    _dump(layer, "half_before", fmt, 3, "float32")
    _rect(image, "sel")
    status, values, secs = _call("plug-in-unscratch-restore-selection", image, [layer])
    new = values[0]
    _dump(new, "half_new", fmt, 3, "float32")
    info = _info(image, layer, new)
    image.delete()
    return dict(info, status=status, secs=secs, native=native)


@scenario
def soft_gray_alpha():
    """Gray + alpha layer (no core layout: the plug-in splits alpha off), feathered selection."""
    image = _load("in8.png")
    image.convert_grayscale()
    layer = image.get_layers()[0]
    layer.add_alpha()
    _dump(layer, "graya_before", "Y'A u8", 2, "uint8")
    _rect(image, "sel")
    Gimp.Selection.feather(image, 8.0)
    _dump(image.get_selection(), "graya_selection", "Y float", 1, "float32")
    status, values, secs = _call("plug-in-unscratch-restore-selection", image, [layer])
    new = values[0]
    _dump(new, "graya_new", "Y'A u8", 2, "uint8")
    info = _info(image, layer, new)
    image.delete()
    return dict(info, status=status, secs=secs)


@scenario
def offsets_group():
    """A layer inside a group, offset on a larger canvas, with another layer under it in the
    group."""
    W, H = _SPEC["canvas"]
    ox, oy = _SPEC["offsets"]
    image = Gimp.Image.new(W, H, Gimp.ImageBaseType.RGB)
    group = Gimp.GroupLayer.new(image, "group")
    image.insert_layer(group, None, 0)
    below = Gimp.Layer.new(image, "below", W, H, Gimp.ImageType.RGB_IMAGE, 100.0,
                           Gimp.LayerMode.NORMAL)
    image.insert_layer(below, group, 0)
    layer = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, image,
                                 Gio.File.new_for_path(os.path.join(_D, "in8.png")))
    image.insert_layer(layer, group, 0)
    layer.set_offsets(ox, oy)
    x, y, w, h = _SPEC["sel"]
    image.select_rectangle(Gimp.ChannelOps.REPLACE, x + ox, y + oy, w, h)
    status, values, secs = _call("plug-in-unscratch-restore-selection", image, [layer])
    new = values[0]
    _dump(new, "offsets_new", "R'G'B' u8", 3, "uint8")
    info = _info(image, layer, new)
    info["group_children"] = _names(group.get_children())
    image.delete()
    return dict(info, status=status, secs=secs)


@scenario
def photo_selection():
    """A damaged photo with a rectangle selected, nothing detected beforehand: Restore selection."""
    image = _load("photo.png")
    layer = image.get_layers()[0]
    _dump(layer, "photo_before", "R'G'B' u8", 3, "uint8")
    _rect(image, "photo_rect")
    status, values, secs = _call("plug-in-unscratch-restore-selection", image, [layer])
    new, repaired = values[0], values[1]
    _dump(new, "photo_new", "R'G'B' u8", 3, "uint8")
    info = _info(image, layer, new)
    image.delete()
    return dict(info, status=status, secs=secs, repaired=repaired)


@scenario
def detect_edit_restore():
    """Detect, erase the left half of its marks in its layer, Restore with whatever Detect left
    active; then erase every mark and Restore again with Detect's channel active: nothing to repair,
    no layer."""
    image = _load("photo.png")
    layer = image.get_layers()[0]
    status, values, _ = _call("plug-in-unscratch-detect", image, [layer])
    marks, channel = values[0], values[1]
    active = list(image.get_selected_drawables())
    _dump(marks, "edit_marks_detected", "R'G'B'A u8", 4, "uint8")
    image.select_rectangle(Gimp.ChannelOps.REPLACE, 0, 0, layer.get_width() // 2,
                           layer.get_height())
    marks.edit_clear()                    # the user erases false marks
    Gimp.Selection.none(image)
    _dump(marks, "edit_marks", "R'G'B'A u8", 4, "uint8")
    _dump(layer, "edit_before", "R'G'B' u8", 3, "uint8")
    status_restore, values, secs = _call("plug-in-unscratch-restore-selection", image, active)
    new, repaired = values[0], values[1]
    _dump(new, "edit_new", "R'G'B' u8", 3, "uint8")
    out = dict(status=status, status_restore=status_restore, secs=secs, repaired=repaired,
               active_after_detect=_names(active), new_name=new.get_name(),
               marks_visible=marks.get_visible(), layers=_names(image.get_layers()))
    Gimp.Selection.all(image)
    marks.edit_clear()                    # every mark erased
    Gimp.Selection.none(image)
    before = _names(image.get_layers())
    status_none, values, _ = _call("plug-in-unscratch-restore-selection", image, [channel])
    out.update(status_none=status_none, none_layer=values[0] is None, none_repaired=values[1],
               none_layers_added=len(image.get_layers()) - len(before))
    image.delete()
    return out


@scenario
def errors():
    out = {}
    image = _load("in8.png")
    layer = image.get_layers()[0]
    n_layers = len(image.get_layers())
    # fill with nothing selected
    Gimp.Selection.none(image)
    out["fill_no_selection"] = _call("plug-in-unscratch-fill-selection", image, [layer])[:2]
    # the selection misses the layer
    layer.resize(20, 20, 0, 0)
    image.select_rectangle(Gimp.ChannelOps.REPLACE, 40, 40, 10, 10)
    out["selection_misses_layer"] = _call("plug-in-unscratch-restore-selection", image, [layer])[:2]
    Gimp.Selection.none(image)
    # a layer group is not a paint layer
    group = Gimp.GroupLayer.new(image, "grp")
    image.insert_layer(group, None, 0)
    out["group"] = _call("plug-in-unscratch-restore-selection", image, [group])[:2]
    # two layers at once
    out["two_layers"] = _call("plug-in-unscratch-restore-selection", image, [layer, group])[:2]
    # the recorded interpreter is missing
    cfg = os.path.join(_PLUGIN_DIR, "unscratch_config.json")
    os.rename(cfg, cfg + ".away")
    try:
        out["no_interpreter"] = _call("plug-in-unscratch-restore-selection", image, [layer])[:2]
    finally:
        os.rename(cfg + ".away", cfg)
    out["layers_added"] = len(image.get_layers()) - n_layers - 1   # minus the group we added
    image.delete()
    return {k: [v[0],
                [str(x) for x in v[1]]] if isinstance(v, tuple) else v for k, v in out.items()}


with open(os.path.join(_D, "results.json"), "w") as _fh:
    json.dump(_RESULTS, _fh, indent=1)
print("HOST-CHECKS-DONE", {k: v.get("ok") for k, v in _RESULTS.items()})

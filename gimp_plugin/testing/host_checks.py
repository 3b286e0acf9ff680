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
# protocol.py (for write_npy; GIMP's Python has no numpy): the copy installed beside the plug-in
_PLUGIN_DIR = os.path.join(os.environ["GIMP3_DIRECTORY"], "plug-ins", "unscratch_gimp")
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


RESTORE, FILL, DETECT = ("plug-in-unscratch-restore-selection", "plug-in-unscratch-fill-selection",
                         "plug-in-unscratch-detect")
U8, U16 = ("R'G'B' u8", 3, "uint8"), ("R'G'B' u16", 3, "uint16")
RGBA8 = ("R'G'B'A u8", 4, "uint8")


def _run(image, layer, prefix, fmt=U8, proc=RESTORE, drawables=None, before=True, **args):
    """Dump the layer as PREFIX_before, run the procedure, dump its new layer as PREFIX_new; the
    facts the tests check (status, time, layers, the new layer's place and format)."""
    if before:
        _dump(layer, prefix + "_before", *fmt)
    status, values, secs = _call(proc, image, drawables or [layer], **args)
    new = values[0] if values else None
    out = {"status": status, "secs": secs, "layers": _names(image.get_layers()),
           "repaired": values[1] if len(values) > 1 else None, "new": new is not None}
    if new is not None:
        _dump(new, prefix + "_new", *fmt)
        out.update(_info(image, layer, new))
    return out


def _opened(name, rect=None):
    image = _load(name)
    if rect:
        _rect(image, rect)
    return image, image.get_layers()[0]


@scenario
def restore8():
    image, layer = _opened("in8.png", "sel")
    out = _run(image, layer, "restore8")
    _dump(layer, "restore8_orig_after", *U8)
    Gimp.Selection.none(image)
    _save(image, "restore8_export.png")
    image.delete()
    return out


@scenario
def fill8():
    image, layer = _opened("in8.png", "tight")
    out = _run(image, layer, "fill8", proc=FILL)
    image.delete()
    return out


@scenario
def detect8():
    image, layer = _opened("in8.png")
    status, values, secs = _call(DETECT, image, [layer])
    marks = values[0]
    _dump(marks, "detect8_layer", *RGBA8)
    out = dict(_info(image, layer, marks), status=status, secs=secs,
               channels=_names(image.get_channels()), parasites=list(marks.get_parasite_list()))
    image.delete()
    return out


@scenario
def restore16():
    image, layer = _opened("in16.png", "sel")
    out = _run(image, layer, "restore16", U16)
    layer.set_visible(False)
    Gimp.Selection.none(image)
    _save(image, "restore16_export.png")
    image.delete()
    return out


@scenario
def restore_float():
    image, layer = _opened("in16.png")
    image.convert_precision(Gimp.Precision.FLOAT_NON_LINEAR)
    layer = image.get_layers()[0]
    _rect(image, "sel")
    out = _run(image, layer, "float", ("R'G'B' float", 3, "float32"))
    image.delete()
    return out


@scenario
def restore_half_profiled():
    """16-bit float (half) pixels, in an image with its own colour profile (a babl space other than
    sRGB)."""
    image, layer = _opened("in16.png")
    image.convert_precision(Gimp.Precision.HALF_LINEAR)
    image.set_color_profile(Gimp.ColorProfile.new_rgb_adobe())
    layer = image.get_layers()[0]
    native = Babl.get_name(layer.get_format())
    fmt = Babl.get_name(Babl.format_with_space("RGB float",
                                               Babl.format_get_space(layer.get_format())))
    _rect(image, "sel")
    out = _run(image, layer, "half", (fmt, 3, "float32"))
    image.delete()
    return dict(out, native=native)


@scenario
def soft_gray_alpha():
    """Gray + alpha layer (no core layout: the plug-in splits alpha off), feathered selection."""
    image, layer = _opened("in8.png")
    image.convert_grayscale()
    layer = image.get_layers()[0]
    layer.add_alpha()
    _rect(image, "sel")
    Gimp.Selection.feather(image, 8.0)
    _dump(image.get_selection(), "graya_selection", "Y float", 1, "float32")
    out = _run(image, layer, "graya", ("Y'A u8", 2, "uint8"))
    image.delete()
    return out


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
    out = _run(image, layer, "offsets")
    out["group_children"] = _names(group.get_children())
    image.delete()
    return out


@scenario
def photo_selection():
    """A damaged photo with a rectangle selected, nothing detected beforehand: Restore selection."""
    image, layer = _opened("photo.png", "photo_rect")
    out = _run(image, layer, "photo")
    image.delete()
    return out


def _erase(image, drawable, x, y, w, h):
    image.select_rectangle(Gimp.ChannelOps.REPLACE, x, y, w, h)
    drawable.edit_clear()
    Gimp.Selection.none(image)


@scenario
def detect_edit_restore():
    """Detect, erase the left half of its marks in its layer, Restore with whatever Detect left
    active; then erase every mark and Restore again with the marks layer active: nothing to repair,
    no layer."""
    image, layer = _opened("photo.png")
    status, values, _ = _call(DETECT, image, [layer])
    marks = values[0]
    active = list(image.get_selected_drawables())
    _dump(marks, "edit_marks_detected", *RGBA8)
    _erase(image, marks, 0, 0, layer.get_width() // 2, layer.get_height())   # false marks
    _dump(marks, "edit_marks", *RGBA8)
    out = _run(image, layer, "edit", drawables=active)
    out.update(detect_status=status, active_after_detect=_names(active),
               marks_visible=marks.get_visible())
    _erase(image, marks, 0, 0, layer.get_width(), layer.get_height())         # every mark
    before = _names(image.get_layers())
    status_none, values, _ = _call(RESTORE, image, [marks])
    out.update(status_none=status_none, none_layer=values[0] is None, none_repaired=values[1],
               none_layers_added=len(image.get_layers()) - len(before))
    image.delete()
    return out


@scenario
def picture_line():
    """A clean photo with a long straight slanted line (a rope): Detect, then Restore selection
    with its marks as they are; and in a second copy Restore selection with no marks (the
    detector's own rule)."""
    image, layer = _opened("line.png")
    status, values, _ = _call(DETECT, image, [layer])
    _dump(values[0], "line_marks", *RGBA8)
    out = _run(image, layer, "line")
    out["detect_status"] = status
    image.delete()
    image, layer = _opened("line.png")
    out["status_unmarked"] = _run(image, layer, "line_unmarked", before=False)["status"]
    image.delete()
    return out


@scenario
def marks_deleted():
    """Detect, delete the marks layer, Restore inside a rectangle: no marks left anywhere, so the
    detector inside the selection, and the message names the missing layer."""
    image, layer = _opened("photo.png")
    marks = _call(DETECT, image, [layer])[1][0]
    image.remove_layer(marks)
    _rect(image, "photo_rect")
    out = _run(image, layer, "deleted")
    out["channels"] = _names(image.get_channels())
    image.delete()
    return out


@scenario
def sensitivity_remakes_marks():
    """Detect; erase the marks' left part, paint a stroke; Restore inside a rectangle with my own
    sensitivity 0.3: the marks are re-made there, the edits kept; the marks layer changes in the
    same undo step."""
    image, layer = _opened("photo.png")
    marks = _call(DETECT, image, [layer])[1][0]
    _dump(marks, "sens_detected", *RGBA8)
    w, h = layer.get_width(), layer.get_height()
    _erase(image, marks, 0, 0, w // 3, h)
    x, y, sw, sh = _SPEC["stroke"]
    image.select_rectangle(Gimp.ChannelOps.REPLACE, x, y, sw, sh)
    Gimp.context_set_foreground(Gegl.Color.new("blue"))
    marks.edit_fill(Gimp.FillType.FOREGROUND)
    Gimp.Selection.none(image)
    _dump(marks, "sens_edited", *RGBA8)
    parasite = marks.get_parasite("unscratch-detection")
    with open(os.path.join(_D, "sens_parasite.bin"), "wb") as fh:
        fh.write(bytes(b & 255 for b in parasite.get_data()))
    _rect(image, "sens_rect")
    out = _run(image, layer, "sens", **{"own-sensitivity": True, "threshold": 0.3})
    _dump(marks, "sens_after", *RGBA8)
    image.delete()
    return out


@scenario
def painted_mark():
    """Detect, erase every mark, paint one stroke (5 px wide) over a line the detector did not
    mark: Restore repairs the stroke as painted."""
    image, layer = _opened("photo.png")
    marks = _call(DETECT, image, [layer])[1][0]
    _erase(image, marks, 0, 0, layer.get_width(), layer.get_height())
    x, y, sw, sh = _SPEC["stroke"]
    image.select_rectangle(Gimp.ChannelOps.REPLACE, x, y, sw, sh)
    Gimp.context_set_foreground(Gegl.Color.new("green"))
    marks.edit_fill(Gimp.FillType.FOREGROUND)
    Gimp.Selection.none(image)
    _dump(marks, "paint_marks", *RGBA8)
    out = _run(image, layer, "paint")
    image.delete()
    return out


@scenario
def two_restores():
    """Restore in one rectangle, then in another: the second works on the first's result and goes on
    top."""
    image, layer = _opened("photo.png", "photo_rect")
    first = _run(image, layer, "two_a")
    top = image.get_layers()[0]
    _rect(image, "second_rect")
    second = _run(image, layer, "two_b", before=False)
    _dump(top, "two_b_before", *U8)
    image.delete()
    return dict(second, first_status=first["status"])


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

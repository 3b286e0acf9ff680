#!/usr/bin/env python3
"""unscratch for GIMP 3: Filters › Enhance › Scratches › Detect scratches…, Restore selection…, Fill
selection….

GIMP's own Python needs nothing beyond the standard library here: the pixels go, at the layer's own
precision, as .npy files in a private temporary folder to unscratch's Python (`python -m
unscratch.worker`, recorded by `unscratch install gimp` in unscratch_config.json beside this file),
which does the work.

PDB names (stable, for scripts): plug-in-unscratch-detect, plug-in-unscratch-restore-selection,
plug-in-unscratch-fill-selection — standard run-mode, image and drawables arguments; each returns
the new layer (restore and fill: none when nothing changed, and how many pixels were repaired).
"""
import importlib.util
import os
import sys

PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))


def _load(module_name, *paths):
    """Import a file of this plug-in by path, without putting this folder on sys.path (this file is
    named unscratch.py: on sys.path it would shadow the core package of the same name in a test
    run)."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    for path in paths:
        if os.path.exists(path):
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[module_name]
                raise
            return module
    raise ImportError(f"{os.path.basename(paths[0])} is missing from {PLUGIN_DIR}; reinstall with: "
                      "python -m unscratch install gimp")


_load("gimpfu_shim", os.path.join(PLUGIN_DIR, "gimpfu_shim.py"))
from gimpfu_shim import (PF_CHANNEL, PF_DRAWABLE, PF_IMAGE, PF_INT32, PF_LAYER,
                         PF_SLIDER,  # noqa: E402
                         PF_TOGGLE, PluginError, all_layers, check_paint_layer, find_channel,
                         find_layer, gimp,
                         is_visible, item_kind, item_name, main, new_channel, new_layer_like,
                         new_mask_layer,
                         read_mask, read_pixels, read_selection, register, set_active_layer,
                         set_visible, undo_group)

MENU = "<Image>/Filters/Enhance/Scratches"
AUTHOR, COPYRIGHT, DATE = "unscratch developers", "MIT License", "2025"
IMAGE_TYPES = "RGB*, GRAY*"
FIX_INSTALL = "python -m unscratch install gimp"
DETECT_PREFIX = "Scratches in "          # Detect's layer and channel: "Scratches in <layer name>"
_HALF = bytes(128) + bytes([255]) * 128  # a mask byte at 50 % or more is marked


# protocol.py is copied beside this file by the installer; in a source checkout it is core's own
# copy
protocol = _load("unscratch_protocol", os.path.join(PLUGIN_DIR, "protocol.py"),
                 os.path.join(PLUGIN_DIR, os.pardir, os.pardir, "core", "unscratch", "protocol.py"))


# --------------------------------------------------------------------------------------------------
# Pure-Python helpers (no numpy in GIMP's Python)
def worker_image(px):
    """The layer as the worker takes it: (bytes, shape, dtype); gray is HxW, gray+alpha HxWx2 (the
    worker repairs the gray plane and leaves alpha alone, as it does for RGBA)."""
    shape = (px.height, px.width) if px.channels == 1 else (px.height, px.width, px.channels)
    return px.data, shape, px.dtype


def source_layer(image, drawable):
    """The layer to work on: the active one, or, when Detect's channel or layer is active (Detect
    leaves its channel selected), the layer Detect was run on; when another channel is active, the
    image's only photo layer, if it has just one."""
    name, kind = item_name(drawable), item_kind(drawable)
    if kind in ("channel", "layer") and name.startswith(DETECT_PREFIX):
        source = find_layer(image, name[len(DETECT_PREFIX):], exclude=drawable)
        if source is not None:
            return source
    if kind == "channel":
        photos = [l for l in all_layers(image)
                  if item_kind(l) == "layer" and not _ours(item_name(l))]
        if len(photos) == 1:
            return photos[0]
    check_paint_layer(drawable)
    return drawable


def _ours(name):
    """A layer this plug-in made (Detect's marks, a restored or filled copy), not a photo."""
    return name.startswith(DETECT_PREFIX) or name.endswith((" (restored)", " (filled)"))


def detect_mask(image, layer):
    """(item, uint8 mask bytes) from what Detect scratches made for `layer`, as the user may have
    edited it: its layer's opaque pixels or, when that layer is gone, its channel; (None, None) when
    there is neither."""
    name = DETECT_PREFIX + item_name(layer)
    item = find_layer(image, name, exclude=layer) or find_channel(image, name)
    if item is None:
        return None, None
    return item, read_mask(image, item, layer).translate(_HALF)


def _selection(image, drawable, required, what):
    """The selection over the layer (float32 bytes) or None for 'whole layer'; PluginError when it
    misses it."""
    region = read_selection(image, drawable)
    if region is None:
        if required:
            raise PluginError(f"{what} needs a selection: nothing is selected. Fix: select the "
                              "damaged area (e.g. with the Free Select or Rectangle Select tool) "
                              "and run it again.")
        return None
    if region.count(0) == len(region):
        raise PluginError("The selection does not cover any pixel of the layer "
                          f"'{item_name(drawable)}'. Fix: select an area on this layer (or choose "
                          "the layer under the selection), or Select › None to work on the whole "
                          "layer.")
    return region


def _worker_python():
    try:
        return protocol.worker_python(PLUGIN_DIR)
    except protocol.WorkerError as exc:
        raise PluginError(str(exc).replace("<gimp|krita>",
                                           "gimp") + " Then restart GIMP.") from None


def _run(op, arrays, params, label):
    python = _worker_python()
    gimp.progress_init(label)
    try:
        return protocol.run_job(python, op, arrays, params, progress=gimp.progress_update)
    except protocol.WorkerCancelled:
        raise PluginError("Cancelled; the image was not changed.") from None
    except protocol.WorkerError as exc:
        raise PluginError(f"unscratch could not finish ({op}): {exc}") from None
    except OSError as exc:
        raise PluginError(f"unscratch's Python ({python}) could not be started: {exc}. "
                          f"Fix: run  {FIX_INSTALL}  with the Python that has unscratch installed, "
                          "then restart GIMP.") from None
    finally:
        gimp.progress_end()


_described: dict = {}   # the detector's thresholds, once the worker described them in this run


def in_use():
    """What the dialogs show (asked of the worker, about a second): the detector's own threshold,
    the value used when the threshold is left at 0."""
    if "threshold" not in _described:
        _described.update(protocol.run_job(_worker_python(), "describe", {})[0].get("info", {}))
    return {"threshold": round(float(_described["threshold"]), 2)}


def _params(threshold):
    """0, or the detector's own value as the dialog showed it: the detector's rules (for Restore on
    a whole layer, only the defects it is sure of); any other value is the threshold."""
    return protocol.job_params(threshold if threshold and threshold > 0 else None,
                               detector_threshold=_described.get("threshold"))


def _output(outputs, name, shape, dtype):
    try:
        return protocol.output(outputs, name, shape, dtype, host="gimp")
    except protocol.WorkerError as exc:
        raise PluginError(str(exc)) from None


# --------------------------------------------------------------------------------------------------
# The three procedures
def detect_scratches(image, drawable, threshold=0.0, add_channel=True):
    """New layer showing the defects (red, opaque on defects) and, optionally, a channel holding the
    defect mask."""
    drawable = source_layer(image, drawable)
    region = _selection(image, drawable, False, "Detect scratches")
    px = read_pixels(drawable)
    arrays = {"image": worker_image(px)}
    if region is not None:
        arrays["region"] = (region, (px.height, px.width), "float32")
    result, outputs = _run("detect", arrays, _params(threshold), "Detecting scratches…")
    mask = _output(outputs, "mask", (px.height, px.width), "uint8")
    name = item_name(drawable)
    with undo_group(image):
        layer = new_mask_layer(image, drawable, f"Scratches in {name}", mask)
        channel = new_channel(image, drawable, f"Scratches in {name}",
                              mask) if add_channel else None
        # the next command works on the photo, not on our channel
        set_active_layer(image, drawable)
    gimp.displays_flush()
    info = result.get("info", {})
    found = len(mask) - mask.count(0)
    at = f" at threshold {info['threshold']:.2f}" if "threshold" in info else ""
    if found == 0:
        gimp.message(f"No scratches, dust or hairs were found in '{name}'"
                     + (" inside the selection" if region is not None else "") + at
                     + ". If you can see some, run Detect scratches… again with a lower "
                       "threshold, or select them and use Fill selection….")
    else:
        gimp.message(f"Detect scratches marked {found} pixels in '{name}'{at}, shown in red in the "
                     f"layer '{DETECT_PREFIX}{name}'. Erase false marks or paint missed ones on "
                     "it; Restore selection… then repairs exactly what that layer shows (inside "
                     "the selection, if any).")
    return layer, channel


def _repair(image, drawable, op, threshold, label, suffix, what):
    drawable = source_layer(image, drawable)
    region = _selection(image, drawable, op == "fill", what)
    px = read_pixels(drawable)
    sent = worker_image(px)
    arrays = {"image": sent}
    if region is not None:
        arrays["region"] = (region, (px.height, px.width), "float32")
    marks = None
    if op == "restore":
        marks, mask = detect_mask(image, drawable)
        if marks is not None:
            arrays["mask"] = (mask, (px.height, px.width), "uint8")
    result, outputs = _run(op, arrays, _params(threshold) if op == "restore" else {}, label)
    data = _output(outputs, "restored", sent[1], px.dtype)
    info = result.get("info", {})
    source = f"the layer '{item_name(marks)}'" if marks is not None else None
    if data == px.data:     # nothing changed: say so, and add no layer identical to the original
        gimp.message(f"{what}: nothing was repaired in '{item_name(drawable)}'. "
                     + protocol.repair_summary(info, source=source, fill_hint="Fill selection…"))
        return None, 0
    with undo_group(image):
        layer = new_layer_like(image, drawable, f"{item_name(drawable)} {suffix}", px.replace(data))
        hidden = marks is not None and item_kind(marks) == "layer" and is_visible(marks)
        if hidden:          # its red marks would cover the result
            set_visible(marks, False)
        set_active_layer(image, drawable)
    gimp.displays_flush()
    gimp.message(f"{what}: " + protocol.repair_summary(info, source=source,
                                                       fill_hint="Fill selection…")
                 + f" The result is the layer '{item_name(layer)}'"
                 + (f"; '{item_name(marks)}' was hidden to show it." if hidden else "."))
    return layer, int(info.get("repaired_pixels", 0))


def restore_selection(image, drawable, threshold=0.0):
    """Repair the defects inside the selection (the whole layer when nothing is selected): those
    Detect's layer (or channel) marks, as the user edited it, when the image has one; else those the
    detector finds, at its threshold inside a selection, only the ones it is sure of on a whole
    layer."""
    return _repair(image, drawable, "restore", threshold, "Restoring scratches…", "(restored)",
                   "Restore selection")


def fill_selection(image, drawable):
    """Heal the whole selection from its surroundings (for a defect the detector missed)."""
    return _repair(image, drawable, "fill", 0.0, "Filling the selection…", "(filled)",
                   "Fill selection")


_IN = [(PF_IMAGE, "image", "Input image", None), (PF_DRAWABLE, "drawable", "Input layer", None)]
_THRESHOLD = (PF_SLIDER, "threshold",
              "Sensitivity: threshold (starts at the detector's own; 0 = the same)",
              0.0, (0.0, 1.0, 0.01))

register(
    "plug-in-unscratch-detect",
    "Find scratches, dust and hairs; show them as a new layer",
    "Runs unscratch's detector on the active layer (inside the selection, if any) and adds a "
    "layer that shows the defects in red, plus a channel with the same mask: Channels › Channel "
    "to Selection selects them, ready for Fill selection. Nothing else changes.",
    AUTHOR, COPYRIGHT, DATE, "Detect scratches…", IMAGE_TYPES,
    _IN + [_THRESHOLD,
           (PF_TOGGLE, "add_channel", "Also add a channel (load it as a selection)", True)],
    [(PF_LAYER, "new-layer", "The layer showing the defects"),
     (PF_CHANNEL, "new-channel",
      "The channel holding the defect mask (none when add-channel is off)")],
    detect_scratches, menu=MENU, dialog_defaults=in_use)

register(
    "plug-in-unscratch-restore-selection",
    "Repair the scratches, dust and hairs inside the selection, as a new layer",
    "Repairs the defects inside the selection (the whole layer when nothing is selected), at the "
    "layer's own precision. When the image has the layer (or channel) 'Scratches in <layer>' that "
    "Detect scratches made, exactly what it marks is repaired, as you edited it; otherwise the "
    "detector runs first: inside a selection it repairs every pixel at or above the threshold, on "
    "a whole layer only the defects it is sure of. The result is a new layer above the original; "
    "pixels outside the selection are the original's exactly; no layer is added when nothing "
    "changes. A soft selection blends the repair. One step in Edit › Undo.",
    AUTHOR, COPYRIGHT, DATE, "Restore selection…", IMAGE_TYPES,
    _IN + [_THRESHOLD],
    [(PF_LAYER, "new-layer", "The restored layer (none when nothing needed repair)"),
     (PF_INT32, "repaired-pixels", "How many pixels differ from the original")],
    restore_selection, menu=MENU, dialog_defaults=in_use)

register(
    "plug-in-unscratch-fill-selection",
    "Heal the whole selection from its surroundings, as a new layer",
    "Treats everything selected as damage and fills it from the pixels around it, at the layer's "
    "own precision. Select a scratch the detector missed (or load the channel from Detect "
    "scratches) and run this. The result is a new layer above the original; one step in Edit › "
    "Undo.",
    AUTHOR, COPYRIGHT, DATE, "Fill selection…", IMAGE_TYPES,
    _IN,
    [(PF_LAYER, "new-layer", "The filled layer (none when nothing changed)"),
     (PF_INT32, "repaired-pixels", "How many pixels differ from the original")],
    fill_selection, menu=MENU)

main()

#!/usr/bin/env python3
"""unscratch for GIMP 3: Filters › Enhance › Scratches › Detect scratches…, Restore selection…, Fill
selection….

GIMP's own Python needs nothing beyond the standard library here: the pixels go, at the layer's own
precision, as .npy files in a private temporary folder to unscratch's Python (`python -m
unscratch.worker`, recorded by `unscratch install gimp` in unscratch_config.json beside this file),
which does the work. protocol.py (the wire format) and hostkit.py (names, parameters, messages,
stored detections) are copied beside this file by the installer; GIMP runs it with this folder on
sys.path.

The marks are the user's: Detect scratches puts them in the layer "<photo> (scratches)" and keeps
the detector's probability with that layer (a parasite); Restore selection repairs what that layer
shows, as the user edited it; with "Use my own sensitivity" on, it first re-makes the marks inside
the selection at that sensitivity from the stored probability, keeping the user's erasures and
painted marks. No layer left: the detector runs. Each run works on what the user sees (the photo
with its earlier results) and puts its result on top, as one undo step.

PDB names (stable, for scripts): plug-in-unscratch-detect, plug-in-unscratch-restore-selection,
plug-in-unscratch-fill-selection: standard run-mode, image and drawables arguments; each returns
the new layer (restore and fill: none when nothing changed, and how many pixels were repaired).
"""
import os
import time

import hostkit
import protocol
from gimpfu_shim import (
    PF_DRAWABLE,
    PF_IMAGE,
    PF_INT32,
    PF_LAYER,
    PF_SLIDER,
    PF_TOGGLE,
    PluginError,
    all_layers,
    check_paint_layer,
    find_layer,
    get_parasite,
    gimp,
    is_visible,
    item_kind,
    item_name,
    main,
    new_layer_like,
    new_mask_layer,
    read_mask,
    read_pixels,
    read_selection,
    register,
    set_active_layer,
    set_parasite,
    set_visible,
    siblings,
    undo_group,
    write_mask,
)

PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))
MENU = "<Image>/Filters/Enhance/Scratches"
AUTHOR, COPYRIGHT, DATE = "unscratch developers", "MIT License", "2025"
IMAGE_TYPES = "RGB*, GRAY*"
FIX_INSTALL = "python -m unscratch install gimp"
PARASITE = "unscratch-detection"     # the stored detection, on the marks layer (hostkit)
DETECT, RESTORE, FILL = (hostkit.ACTIONS[k] for k in ("detect", "restore", "fill"))


# --------------------------------------------------------------------------------------------------
# Which layers: the photo, what the user sees of it, its marks
def worker_image(px):
    """The layer as the worker takes it: (bytes, shape, dtype); gray is HxW, gray+alpha HxWx2 (the
    worker repairs the gray plane and leaves alpha alone, as it does for RGBA)."""
    shape = (px.height, px.width) if px.channels == 1 else (px.height, px.width, px.channels)
    return px.data, shape, px.dtype


def source_layer(image, drawable):
    """The photo to work on: the active layer; when the active layer is one this plug-in made (marks
    or a result), the photo it was made for; when a channel is active, the image's only photo
    layer, if it has just one."""
    name, kind = item_name(drawable), item_kind(drawable)
    photo = hostkit.photo_of(name) if kind == "layer" else None
    if photo is not None:
        source = find_layer(image, photo, exclude=drawable)
        if source is not None and hostkit.photo_of(item_name(source)) is None:
            return source
    if kind == "channel":
        photos = [lyr for lyr in all_layers(image)
                  if item_kind(lyr) == "layer" and hostkit.photo_of(item_name(lyr)) is None]
        if len(photos) == 1:
            return photos[0]
    check_paint_layer(drawable)
    return drawable


def stack(image, photo):
    """(what the user sees of the photo, the layer new results go above): the topmost visible result
    made from it (a full copy with the earlier repairs) or the photo itself, and the topmost of its
    results or the photo."""
    name = item_name(photo)
    layers = siblings(image, photo)
    above = layers[:layers.index(photo)]
    results = [lyr for lyr in above if hostkit.is_result(item_name(lyr))
               and hostkit.photo_of(item_name(lyr)) == name]
    visible = [lyr for lyr in results if is_visible(lyr)]
    return (visible[0] if visible else photo), (results[0] if results else photo)


def marks_layer(image, photo):
    """The marks layer of the photo, or None."""
    return find_layer(image, hostkit.marks_name(item_name(photo)), exclude=photo)


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


# --------------------------------------------------------------------------------------------------
# The worker
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


def in_use():
    """What the dialogs show on the (greyed out) sensitivity: the detector's own threshold (asked of
    the worker once, about a second)."""
    return {"threshold": round(float(protocol.described(_worker_python())["threshold"]), 2)}


def _output(outputs, name, shape, dtype):
    try:
        return protocol.output(outputs, name, shape, dtype, host="gimp")
    except protocol.WorkerError as exc:
        raise PluginError(str(exc)) from None


def _inputs(view, region):
    px = read_pixels(view)
    arrays = {"image": worker_image(px)}
    if region is not None:
        arrays["region"] = (region, (px.height, px.width), "float32")
    return px, arrays


# --------------------------------------------------------------------------------------------------
# The three procedures
def detect_scratches(image, drawable, own_sensitivity=False, threshold=0.5):
    """Mark the defects in the layer '<photo> (scratches)' (red, opaque on defects), made or
    updated inside the selection; the detector's probability is kept with it for Restore's
    sensitivity."""
    t0 = time.monotonic()
    photo = source_layer(image, drawable)
    region = _selection(image, photo, False, DETECT)
    view, top = stack(image, photo)
    px, arrays = _inputs(view, region)
    result, outputs = _run("detect", arrays,
                           hostkit.job_params(threshold if own_sensitivity else None),
                           "Detecting scratches…")
    n = px.width * px.height
    mask = _output(outputs, "mask", (px.height, px.width), "uint8")
    probability = _output(outputs, "probability", (px.height, px.width), "float32")
    name = hostkit.marks_name(item_name(photo))
    info = dict(result.get("info", {}), selection=region is not None)
    old = marks_layer(image, photo)
    with undo_group(image):
        if old is None:
            marks = new_mask_layer(image, photo, name, mask, above=top)
            stored = hostkit.encode_detection(probability, mask, info.get("threshold"))
        else:     # inside the selection the new marks; outside, the layer as it was
            marks = old
            prev = hostkit.decode_detection(get_parasite(old, PARASITE) or b"")
            if prev is not None and len(prev.detected) != n:
                prev = None
            current, stored = hostkit.merge_detection(
                prev, read_mask(image, old, photo), probability, mask,
                hostkit.region_mask(region, n), info.get("threshold"))
            write_mask(image, old, current)
            set_visible(old, True)
        set_parasite(marks, PARASITE, stored)
        set_active_layer(image, photo)    # the next command works on the photo
    gimp.displays_flush()
    info["defect_pixels"] = mask.count(255)
    gimp.message(f"{DETECT}: " + hostkit.summary("detect", info, time.monotonic() - t0,
                                                 marks=item_name(marks)))
    return marks


def _remake(image, marks, current, region, threshold, n, width):
    """Re-make the marks at the sensitivity from the stored detection: (marks bytes, the Detection
    to store, the sentence for the message); the stored detection None when there is none."""
    det = hostkit.decode_detection(get_parasite(marks, PARASITE) or b"")
    if det is None or len(det.detected) != n:
        return current, None, (f"Your sensitivity {threshold:.2f} was not used: the layer "
                               f"'{item_name(marks)}' holds no detection to re-threshold, so its "
                               "marks were used as they are.")
    new, nxt, gained, lost = hostkit.remark(det, current, hostkit.region_mask(region, n),
                                            threshold, width)
    return new, nxt, hostkit.remade(threshold, gained, lost, inside=region is not None)


def _repair(image, drawable, op, own_sensitivity, threshold):
    t0 = time.monotonic()
    what = hostkit.ACTIONS[op]
    photo = source_layer(image, drawable)
    region = _selection(image, photo, op == "fill", what)
    view, top = stack(image, photo)
    px, arrays = _inputs(view, region)
    n = px.width * px.height
    marks = marks_layer(image, photo) if op == "restore" else None
    params, remade, store = {}, "", None
    if marks is not None:
        current = hostkit.binary(read_mask(image, marks, photo))
        if own_sensitivity:
            current, store, remade = _remake(image, marks, current, region, threshold, n,
                                             px.width)
        arrays["mask"] = (current, (px.height, px.width), "uint8")
    elif op == "restore":
        params = hostkit.job_params(threshold if own_sensitivity else None)
    result, outputs = _run(op, arrays, params, f"{what}…")
    data = _output(outputs, "restored", arrays["image"][1], px.dtype)
    info = dict(result.get("info", {}), selection=region is not None)
    missing = hostkit.marks_name(item_name(photo)) if op == "restore" and marks is None else None
    layer = None
    if data != px.data or store is not None:
        with undo_group(image):
            if store is not None:
                write_mask(image, marks, current)
                set_parasite(marks, PARASITE, hostkit.store(store))
            if data != px.data:
                taken = [item_name(lyr) for lyr in all_layers(image)]
                layer = new_layer_like(image, photo,
                                       hostkit.result_name(item_name(photo), op, taken),
                                       px.replace(data), above=top)
                if marks is not None and hostkit.hide_marks(is_visible(marks)):
                    set_visible(marks, False)        # its red marks would cover the result
            set_active_layer(image, photo)
        gimp.displays_flush()
    text = hostkit.summary(op, info, time.monotonic() - t0,
                           marks=item_name(marks) if marks is not None else None,
                           missing=missing, remade=remade)
    if layer is not None:
        text += f" The result is the layer '{item_name(layer)}'"
        if marks is not None and not is_visible(marks):
            text += f"; the layer '{item_name(marks)}' is hidden to show it"
        text += "."
    gimp.message(f"{what}: {text}")
    return layer, int(info.get("repaired_pixels", 0)) if layer is not None else 0


def restore_selection(image, drawable, own_sensitivity=False, threshold=0.5):
    """Repair the defects inside the selection (the whole layer when nothing is selected): what
    the layer '<photo> (scratches)' marks, as the user edited it (re-made at the sensitivity first
    when own_sensitivity is on); without that layer, what the detector finds."""
    return _repair(image, drawable, "restore", own_sensitivity, threshold)


def fill_selection(image, drawable):
    """Heal the whole selection from its surroundings (for a defect the detector missed)."""
    return _repair(image, drawable, "fill", False, 0.0)


_IN = [(PF_IMAGE, "image", "Input image", None), (PF_DRAWABLE, "drawable", "Input layer", None)]
_SENSITIVITY = [
    (PF_TOGGLE, "own_sensitivity",
     "Use my own sensitivity (off: the detector's own rule)", False),
    (PF_SLIDER, "threshold", "Sensitivity (threshold: lower marks more)", 0.5, (0.0, 1.0, 0.01))]
_ENABLES = {"threshold": "own_sensitivity"}

register(
    "plug-in-unscratch-detect",
    "Find scratches, dust and hairs; mark them in a layer you can edit",
    "Runs unscratch's detector on what you see of the layer (the photo with its earlier results; "
    "inside the selection, if any) and marks the defects in red in the layer '<layer> "
    "(scratches)', made on top of the photo or updated inside the selection. Erase false marks "
    "and paint missed ones on it; Restore selection repairs what it shows. Layer › Transparency › "
    "Alpha to Selection selects the marks. Sensitivity: off, the detector's own rule; on, every "
    "pixel at or above the threshold.",
    AUTHOR, COPYRIGHT, DATE, f"{DETECT}…", IMAGE_TYPES,
    _IN + _SENSITIVITY,
    [(PF_LAYER, "new-layer", "The layer holding the marks")],
    detect_scratches, menu=MENU, dialog_defaults=in_use, enables=_ENABLES)

register(
    "plug-in-unscratch-restore-selection",
    "Repair the scratches, dust and hairs inside the selection, as a new layer on top",
    "Repairs the defects inside the selection (the whole layer when nothing is selected) of what "
    "you see of the layer: the photo with its earlier results. When the layer '<layer> "
    "(scratches)' from Detect scratches exists, exactly what it marks, as you edited it; with 'Use "
    "my own sensitivity' on, its marks inside the selection are first re-made at that sensitivity "
    "from the stored detection, keeping your erasures and painted marks. Without that layer the "
    "detector finds the defects (its own rule, or every pixel at or above your sensitivity). The "
    "result is a new layer on top of the photo's earlier results, at the layer's own precision; "
    "pixels outside the selection are unchanged; no layer is added when nothing changes. A soft "
    "selection blends the repair. One step in Edit › Undo, which also shows the marks again.",
    AUTHOR, COPYRIGHT, DATE, f"{RESTORE}…", IMAGE_TYPES,
    _IN + _SENSITIVITY,
    [(PF_LAYER, "new-layer", "The restored layer (none when nothing needed repair)"),
     (PF_INT32, "repaired-pixels", "How many pixels differ from what was seen")],
    restore_selection, menu=MENU, dialog_defaults=in_use, enables=_ENABLES)

register(
    "plug-in-unscratch-fill-selection",
    "Heal the whole selection from its surroundings, as a new layer on top",
    "Treats everything selected as damage and fills it from the pixels around it, at the layer's "
    "own precision. Select a scratch the detector missed (or its marks: Layer › Transparency › "
    "Alpha to Selection on the marks layer) and run this. The result is a new layer on top of the "
    "photo's earlier results; one step in Edit › Undo.",
    AUTHOR, COPYRIGHT, DATE, f"{FILL}…", IMAGE_TYPES,
    _IN,
    [(PF_LAYER, "new-layer", "The filled layer (none when nothing changed)"),
     (PF_INT32, "repaired-pixels", "How many pixels differ from what was seen")],
    fill_selection, menu=MENU)

main()

"""A small gimpfu-compatible layer over GIMP 3's GObject-introspection API.

GIMP 2's `gimpfu` is gone in GIMP 3. Plug-ins written against this module keep gimpfu's shape:

    from gimpfu_shim import *
    def my_filter(image, drawable, radius):
        gimp.progress_init("Working…")
        ...
        return new_layer
    register("plug-in-my-filter", "blurb", "help", "author", "copyright", "2025", "My filter…",
             "RGB*, GRAY*",
             [(PF_IMAGE, "image", "Input image", None),
              (PF_DRAWABLE, "drawable", "Input drawable", None),
              (PF_SLIDER, "radius", "Radius", 2.0, (0.0, 10.0, 0.5))],
             [(PF_LAYER, "new-layer", "The new layer")],
             my_filter, menu="<Image>/Filters/Enhance")
    main()

What it maps, on GIMP 3 (gimpfu_gimp.GimpBackend):
  * register() + main() -> a Gimp.PlugIn whose procedures are Gimp.ImageProcedure (standard
    run-mode, image and drawables arguments) when the first two parameters are PF_IMAGE and
    PF_DRAWABLE, else Gimp.Procedure; the other PF_* parameters become procedure arguments
    (scripts call them through the PDB and GIMP remembers the last values), PF_* results become
    return values; INTERACTIVE runs show GimpUi.ProcedureDialog.
  * gimp.progress_init/update/end, gimp.message, gimp.displays_flush; pdb.<any_procedure>(...) runs
    a PDB procedure by name with positional arguments (pdb.gimp_image_undo_group_start(image)).
  * Exceptions raised by the plug-in function become the procedure's EXECUTION_ERROR with the
    exception's text, which GIMP shows as an error message (PluginError is for messages written for
    the user: the problem and the fix).
  * gimpfu's pixel regions were 8-bit only; instead the shim adds full-precision pixel I/O as bytes
    (no numpy needed): read_pixels, read_selection, new_layer_like, new_mask_layer, write_mask, and
    item parasites (get_parasite, set_parasite).

Modules: gimpfu_types.py (parameter types, Pixels, PluginError, procedure specs) <- gimpfu_gimp.py
(the GIMP 3 backend) <- this file. The backend is GIMP 3's when its typelibs load, else one that
only registers (main() does nothing). The unit tests replace the module's `_backend` with their
own fake (tests/gimpfu_fake.py, never installed).
"""
from __future__ import annotations

from gimpfu_types import (
    PF_BOOL,
    PF_CHANNEL,
    PF_DRAWABLE,
    PF_FLOAT,
    PF_IMAGE,
    PF_INT,
    PF_INT32,
    PF_LAYER,
    PF_OPTION,
    PF_SLIDER,
    PF_TOGGLE,
    RUN_INTERACTIVE,
    RUN_NONINTERACTIVE,
    Pixels,
    PluginError,
    ProcedureSpec,
    _arg_name,
)

__all__ = [
    "register", "main", "gimp", "pdb", "PluginError", "Pixels", "undo_group",
    "read_pixels", "read_selection", "new_layer_like", "new_mask_layer", "write_mask",
    "check_paint_layer", "item_name", "item_kind", "all_layers", "siblings", "find_layer",
    "read_mask", "set_active_layer", "set_visible", "is_visible", "get_parasite", "set_parasite",
    "PF_INT32", "PF_INT", "PF_FLOAT", "PF_TOGGLE", "PF_BOOL", "PF_SLIDER", "PF_OPTION", "PF_IMAGE",
    "PF_DRAWABLE", "PF_LAYER", "PF_CHANNEL", "RUN_INTERACTIVE", "RUN_NONINTERACTIVE",
]

_registry: dict[str, ProcedureSpec] = {}


def register(proc_name, blurb, help, author, copyright, date, label, imagetypes, params, results,
             function, menu=None, domain=None, on_query=None, on_run=None, dialog_defaults=None,
             enables=None):
    """gimpfu.register: declare a procedure. `function(image, drawable, *params)` for image
    procedures.

    Ours, not gimpfu's: `dialog_defaults`, a callable giving {parameter: value} to show in the
    INTERACTIVE dialog for parameters still at their registered default (see
    ProcedureSpec.dialog_values); `enables`, {parameter: toggle}: the dialog greys the parameter's
    control out while the PF_TOGGLE parameter `toggle` is off (it is not used then)."""
    if not (proc_name.startswith(("python-", "plug-in-", "extension-",
                                  "file-")) or "-fu-" in proc_name):
        proc_name = "python-fu-" + proc_name
    proc_name = proc_name.replace("_", "-")
    _registry[proc_name] = ProcedureSpec(proc_name, blurb, help, author, copyright, date, label,
                                         imagetypes, params, results, function, menu)
    _registry[proc_name].dialog_defaults = dialog_defaults
    _registry[proc_name].enables = {_arg_name(k): _arg_name(v) for k, v in (enables or {}).items()}
    return proc_name


def procedures() -> dict:
    return dict(_registry)


def main():
    """gimpfu.main: hand the registered procedures to GIMP (a no-op without GIMP)."""
    return _backend.main(_registry)


# --------------------------------------------------------------------------------------------------
# The gimpfu-style namespaces `gimp` and `pdb`, and the pixel helpers; all delegate to the active
# backend
class _GimpNamespace:
    def progress_init(self, message=""):
        _backend.progress_init(message)

    def progress_update(self, fraction):
        _backend.progress_update(fraction)

    def progress_end(self):
        _backend.progress_end()

    def message(self, text):
        _backend.message(str(text))

    def displays_flush(self):
        _backend.displays_flush()


class _PDBNamespace:
    """pdb.gimp_image_undo_group_start(image) etc.: any procedure by name, arguments in order."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)

        def call(*args, **kwargs):
            return _backend.pdb_call(name.replace("_", "-"), args, kwargs)
        call.__name__ = name
        return call


gimp = _GimpNamespace()
pdb = _PDBNamespace()


def read_pixels(drawable) -> Pixels:
    """The drawable's pixels at its own precision (u8, u16 and float exactly; half, u32, double as
    float32)."""
    return _backend.read_pixels(drawable)


def read_selection(image, drawable):
    """The selection over the drawable as float32 bytes (height x width, 0..1, soft edges kept), or
    None when nothing is selected."""
    return _backend.read_selection(image, drawable)


def new_layer_like(image, drawable, name, pixels: Pixels, above=None):
    """A new layer with `pixels` (as read_pixels gave them), same size, type, precision and offsets
    as `drawable`, inserted just above `above` (default: `drawable`) in its group."""
    return _backend.new_layer_like(image, drawable, name, pixels, above or drawable)


def new_mask_layer(image, drawable, name, mask: bytes, rgb=(255, 0, 0), above=None):
    """A new layer (same size and offsets as `drawable`) in colour `rgb`, opaque where the uint8
    mask is 255, inserted just above `above` (default: `drawable`)."""
    return _backend.new_mask_layer(image, drawable, name, bytes(mask), rgb, above or drawable)


def write_mask(image, layer, mask: bytes, rgb=(255, 0, 0)) -> None:
    """Replace the pixels of a layer new_mask_layer made with the uint8 mask (one undo step, or part
    of the open undo group)."""
    _backend.write_mask(image, layer, bytes(mask), rgb)


def get_parasite(item, name) -> bytes | None:
    """The bytes attached to the item under `name` (GIMP's parasites), or None."""
    return _backend.get_parasite(item, name)


def set_parasite(item, name, data: bytes) -> None:
    """Attach bytes to the item: saved with it in XCF, copied with it, undone with Edit › Undo."""
    _backend.set_parasite(item, name, bytes(data))


def check_paint_layer(drawable) -> None:
    """PluginError unless the drawable is an ordinary layer whose pixels can be read and
    repaired."""
    _backend.check_paint_layer(drawable)


def item_name(item) -> str:
    return _backend.item_name(item)


def item_kind(item) -> str:
    """"layer", "group", "channel", "layer-mask" (or "other"): what the user has active."""
    return _backend.item_kind(item)


def all_layers(image) -> list:
    """Every layer of the image, groups and their children included, top first."""
    return _backend.all_layers(image)


def siblings(image, item) -> list:
    """The layers in the same group as `item` (the image's top level when it has no group), top
    first."""
    return _backend.siblings(image, item)


def find_layer(image, name, exclude=None):
    """The layer (groups searched too) called `name`, other than `exclude`; of several, the highest
    in the stack."""
    found = [lyr for lyr in _backend.all_layers(image)
             if _backend.item_name(lyr) == name and lyr != exclude
             and _backend.item_kind(lyr) == "layer"]
    return found[0] if found else None


def read_mask(image, item, drawable) -> bytes:
    """A layer's alpha (uint8) over the drawable's area, as the image lines them up (offsets kept;
    0 where the layer does not reach)."""
    return _backend.read_mask(image, item, drawable)


def set_active_layer(image, layer) -> None:
    """Make `layer` the selected (active) layer, as a click in the Layers dialog would."""
    _backend.set_active_layer(image, layer)


def set_visible(item, visible: bool) -> None:
    _backend.set_visible(item, visible)


def is_visible(item) -> bool:
    return _backend.is_visible(item)


class undo_group:
    """`with undo_group(image):` — everything inside is one step in Edit › Undo."""

    def __init__(self, image):
        self.image = image

    def __enter__(self):
        _backend.undo_group_start(self.image)
        return self

    def __exit__(self, *exc):
        _backend.undo_group_end(self.image)
        return False


# --------------------------------------------------------------------------------------------------
class _NoGimp:
    """The backend where GIMP 3's typelibs do not load (a plain Python; the unit tests, before they
    swap in their fake): register() works and main() does nothing; anything else says that it needs
    GIMP."""

    name = "none"

    def main(self, registry):
        return None

    def __getattr__(self, name):
        raise RuntimeError(f"{name}: this needs GIMP 3 (the gimpfu shim found no GIMP typelibs)")


def _load_backend():
    try:
        import gi
        gi.require_version("Gimp", "3.0")
        gi.require_version("Gegl", "0.4")
        gi.require_version("Babl", "0.1")
        from gi.repository import Babl, Gegl, Gimp, GLib, GObject
    except (ImportError, ValueError):
        return _NoGimp()
    # beside this file: GIMP runs the plug-in with its folder on sys.path
    from gimpfu_gimp import GimpBackend
    return GimpBackend(Gimp, Gegl, GObject, GLib, Babl)


_backend = _load_backend()


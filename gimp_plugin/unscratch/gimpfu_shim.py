"""A small gimpfu-compatible layer over GIMP 3's GObject-introspection API.

GIMP 2's `gimpfu` is gone in GIMP 3. Plug-ins written against this module keep gimpfu's shape:

    from gimpfu_shim import *
    def my_filter(image, drawable, radius):
        gimp.progress_init("Working…")
        ...
        return new_layer
    register("plug-in-my-filter", "blurb", "help", "author", "copyright", "2025", "My filter…",
    "RGB*, GRAY*",
             [(PF_IMAGE, "image", "Input image", None), (PF_DRAWABLE, "drawable", "Input drawable",
             None),
              (PF_SLIDER, "radius", "Radius", 2.0, (0.0, 10.0, 0.5))],
             [(PF_LAYER, "new-layer", "The new layer")],
             my_filter, menu="<Image>/Filters/Enhance")
    main()

What it maps, on GIMP 3 (`GimpBackend`):
  * register() + main()  -> a Gimp.PlugIn whose procedures are Gimp.ImageProcedure (standard
  run-mode, image and
    drawables arguments) when the first two parameters are PF_IMAGE and PF_DRAWABLE, else
    Gimp.Procedure; the other PF_* parameters become procedure arguments (so scripts can call them
    through the PDB and GIMP remembers the last values), PF_* results become return values;
    INTERACTIVE runs show GimpUi.ProcedureDialog.
  * gimp.progress_init/update/end, gimp.message, gimp.displays_flush; pdb.<any_procedure>(...) runs
  a PDB procedure
    by name with positional arguments (pdb.gimp_image_undo_group_start(image), ...).
  * Exceptions raised by the plug-in function become the procedure's EXECUTION_ERROR with the
  exception's text, which
    GIMP shows as an error message (PluginError is for messages written for the user: the problem
    and the fix).
  * gimpfu's pixel regions were 8-bit only; instead the shim adds full-precision pixel I/O as bytes
  (no numpy needed):
    read_pixels(drawable), read_selection(image, drawable), new_layer_like(...),
    new_mask_layer(...), new_channel(...).

The backend is chosen when this module is imported: GIMP 3's typelibs if they load (and
UNSCRATCH_GIMPFU_BACKEND is not "fake"), else one that only registers (main() does nothing). The
unit tests swap in a pure-Python fake (tests/gimpfu_fake.py, never installed) with use_backend().
"""
from __future__ import annotations

import os
import traceback

__all__ = [
    "register", "main", "gimp", "pdb", "PluginError", "Pixels",
    "read_pixels", "read_selection", "new_layer_like", "new_mask_layer", "new_channel",
           "check_paint_layer",
    "item_name", "undo_group", "backend", "use_backend",
    "item_kind", "find_layer", "find_channel", "read_mask", "set_active_layer", "set_visible",
           "is_visible",
    "all_layers",
    "PF_INT32", "PF_INT", "PF_FLOAT", "PF_TOGGLE", "PF_BOOL", "PF_SLIDER", "PF_OPTION", "PF_IMAGE",
           "PF_DRAWABLE",
    "PF_LAYER", "PF_CHANNEL", "RUN_INTERACTIVE", "RUN_NONINTERACTIVE",
]

# --------------------------------------------------------------------------------------------------
# gimpfu's parameter types (the names and meanings of GIMP 2's gimpfu; the values are ours). Only
# those the plug-in and its tests use: gimpfu's others (PF_INT8/16, PF_STRING, PF_RADIO, PF_SPINNER,
# ...) are left out.
PF_INT32 = "int32"
PF_INT = PF_INT32
PF_FLOAT = "float"
PF_TOGGLE = "toggle"
PF_BOOL = PF_TOGGLE
PF_SLIDER = "slider"          # float with (min, max, step)
PF_OPTION = "option"          # int index into a list of labels
PF_IMAGE = "image"
PF_DRAWABLE = "drawable"
PF_LAYER = "layer"
PF_CHANNEL = "channel"
RUN_INTERACTIVE, RUN_NONINTERACTIVE = "interactive", "noninteractive"

INT32_RANGE = (-2**31, 2**31 - 1)
DTYPE_SIZE = {"uint8": 1, "uint16": 2, "float32": 4}
DTYPE_CODE = {"uint8": "B", "uint16": "H", "float32": "f"}


class PluginError(Exception):
    """An error written for the user: say what is wrong and how to fix it. Shown by GIMP as an error
    message."""


class Pixels:
    """A drawable's pixels as raw C-order bytes: height x width x channels of dtype (uint8, uint16,
    float32).

    `gray`: one colour plane (Y) instead of three; `has_alpha`: the last channel is alpha; `format`:
    the babl format name they were read with (None = the drawable's own format, byte for byte)."""

    __slots__ = ("data", "width", "height", "channels", "dtype", "gray", "has_alpha", "format")

    def __init__(self, data, width, height, channels, dtype, gray=False, has_alpha=False,
                 format=None):
        self.data, self.width, self.height = bytes(data), int(width), int(height)
        self.channels, self.dtype, self.gray = int(channels), dtype, bool(gray)
        self.has_alpha, self.format = bool(has_alpha), format
        expected = self.width * self.height * self.channels * DTYPE_SIZE[dtype]
        if len(self.data) != expected:
            raise ValueError(f"{len(self.data)} bytes do not hold {height}x{width}x{channels} "
                             f"{dtype}")

    @property
    def shape(self):
        return (self.height, self.width, self.channels)

    def replace(self, data) -> "Pixels":
        return Pixels(data, self.width, self.height, self.channels, self.dtype, self.gray,
                      self.has_alpha, self.format)


# --------------------------------------------------------------------------------------------------
# register(): gimpfu's signature
class ProcedureSpec:
    def __init__(self, name, blurb, help, author, copyright, date, label, imagetypes, params,
                 results, function, menu):
        self.name, self.blurb, self.help = name, blurb, help
        self.author, self.copyright, self.date = author, copyright, date
        self.imagetypes, self.function = imagetypes, function
        # gimpfu also took "<Image>/Path/Label"
        if menu is None and label and label.startswith("<"):
            menu, _, label = label.rpartition("/")
        self.label, self.menu = label, menu
        params, results = list(params), list(results)
        self.image_proc = (len(params) >= 2 and params[0][0] == PF_IMAGE
                           and params[1][0] in (PF_DRAWABLE, PF_LAYER))
        self.params = [_Param(*p) for p in (params[2:] if self.image_proc else params)]
        self.results = [(r[0], _arg_name(r[1]), r[2] if len(r) > 2 else r[1]) for r in results]
        self.dialog_defaults = None

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def dialog_values(self, current: dict) -> dict:
        """What the INTERACTIVE dialog starts from: `current`, with each parameter still at its
        registered default replaced by what spec.dialog_defaults() says is in use (e.g. the model's
        own threshold behind a 0 that means "automatic"). Nothing is replaced when that call
        fails."""
        if self.dialog_defaults is None:
            return dict(current)
        try:
            shown = dict(self.dialog_defaults())
        except Exception:  # the dialog still opens, with the registered defaults
            traceback.print_exc()
            return dict(current)
        defaults = self.defaults()
        return {k: shown[k] if k in shown and v == defaults.get(k) else v
                for k, v in current.items()}


class _Param:
    def __init__(self, ptype, name, desc, default=None, extra=None):
        self.type, self.name, self.desc = ptype, _arg_name(name), desc
        self.default, self.extra = default, extra
        self.pyname = name
        if ptype == PF_OPTION:
            self.choices = [(_nick(label, i), i, label) for i, label in enumerate(extra or ())]
        else:
            self.choices = None

    def nick_for(self, value):
        for nick, val, _ in self.choices:
            if val == value:
                return nick
        return self.choices[0][0]

    def value_for(self, nick):
        for n, val, _ in self.choices:
            if n == nick:
                return val
        raise PluginError(f"{self.name}: {nick!r} is not one of "
                          f"{', '.join(n for n, _, _ in self.choices)}")


def _arg_name(name: str) -> str:
    return name.replace("_", "-").lower()


def _nick(label: str, index: int) -> str:
    nick = "".join(c if c.isalnum() else "-" for c in str(label).lower()).strip("-")
    while "--" in nick:
        nick = nick.replace("--", "-")
    return nick or f"option-{index}"


_registry: dict[str, ProcedureSpec] = {}


def register(proc_name, blurb, help, author, copyright, date, label, imagetypes, params, results,
             function, menu=None, domain=None, on_query=None, on_run=None, dialog_defaults=None):
    """gimpfu.register: declare a procedure. `function(image, drawable, *params)` for image
    procedures.

    `dialog_defaults` (ours, not gimpfu's): a callable giving {parameter: value} to show in the
    INTERACTIVE dialog for parameters still at their registered default (see
    ProcedureSpec.dialog_values)."""
    if not (proc_name.startswith(("python-", "plug-in-", "extension-",
                                  "file-")) or "-fu-" in proc_name):
        proc_name = "python-fu-" + proc_name
    proc_name = proc_name.replace("_", "-")
    _registry[proc_name] = ProcedureSpec(proc_name, blurb, help, author, copyright, date, label,
                                         imagetypes, params, results, function, menu)
    _registry[proc_name].dialog_defaults = dialog_defaults
    return proc_name


def procedures() -> dict:
    return dict(_registry)


def main():
    """gimpfu.main: hand the registered procedures to GIMP (a no-op on the fake backend)."""
    return _backend.main(_registry)


# --------------------------------------------------------------------------------------------------
# Shared logic: call a plug-in function with arguments, turn errors into messages
def call_function(spec: ProcedureSpec, image, drawables, values: dict):
    """Run spec.function like gimpfu did: (image, drawable, *params) for image procedures. Returns
    its results."""
    args = [values[p.name] for p in spec.params]
    if spec.image_proc:
        drawables = list(drawables or [])
        if len(drawables) != 1:
            raise PluginError(
                f"{len(drawables)} layers are selected; {spec.label.rstrip('….')} works on one "
                "layer at a time. Fix: select a single layer in the Layers dialog and run it again."
                if drawables else
                "No layer is selected. Fix: select the layer to work on in the Layers dialog and "
                "run it again.")
        args = [image, drawables[0]] + args
    result = spec.function(*args)
    if not spec.results:
        return ()
    if len(spec.results) == 1:
        return (result,)
    return tuple(result)


def error_text(exc: BaseException) -> str:
    if isinstance(exc, PluginError):
        return str(exc)
    return (f"Internal error in the plug-in: {type(exc).__name__}: {exc}. "
            "Please report it with GIMP's error console output.")


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


def new_layer_like(image, drawable, name, pixels: Pixels):
    """A new layer with `pixels` (as read_pixels gave them), same size, type, precision and offsets
    as `drawable`, inserted just above it in the same group."""
    return _backend.new_layer_like(image, drawable, name, pixels)


def new_mask_layer(image, drawable, name, mask: bytes, rgb=(255, 0, 0)):
    """A new layer above `drawable` (same size and offsets) in colour `rgb`, opaque where the uint8
    mask is 255."""
    return _backend.new_mask_layer(image, drawable, name, bytes(mask), rgb)


def new_channel(image, drawable, name, mask: bytes):
    """A new image channel holding the uint8 mask (drawable-sized, placed at its offsets); load it
    as a selection with Channels › Channel to Selection."""
    return _backend.new_channel(image, drawable, name, bytes(mask))


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


def find_layer(image, name, exclude=None):
    """The layer (groups searched too) called `name`, other than `exclude`; of several, the lowest
    in the stack (a layer inserted just above its source, like Detect's, is the newest of its name
    there)."""
    found = [l for l in _backend.all_layers(image) if _backend.item_name(l) == name and l != exclude
             and _backend.item_kind(l) == "layer"]
    return found[-1] if found else None


def find_channel(image, name):
    """The image channel called `name` (the newest, as new channels go on top)."""
    found = [c for c in _backend.channels(image) if _backend.item_name(c) == name]
    return found[0] if found else None


def read_mask(image, item, drawable) -> bytes:
    """A layer's alpha or a channel's values (uint8) over the drawable's area, as the image lines
    them up (offsets kept; 0 where the item does not reach)."""
    return _backend.read_mask(image, item, drawable)


def set_active_layer(image, layer) -> None:
    """Make `layer` the selected (active) layer, as a click in the Layers dialog would."""
    _backend.set_active_layer(image, layer)


def set_visible(item, visible: bool) -> None:
    _backend.set_visible(item, visible)


def is_visible(item) -> bool:
    return _backend.is_visible(item)


def mask_layer_bytes(mask: bytes, rgb, gray: bool) -> bytes:
    """Y'A u8 (gray images: the brightest of `rgb`) or R'G'B'A u8 pixels in colour `rgb`, with the
    uint8 mask as alpha: what new_mask_layer fills its layer with."""
    n = len(mask)
    if gray:
        data = bytearray(2 * n)
        data[0::2] = bytes([max(rgb)]) * n
        data[1::2] = mask
    else:
        data = bytearray(4 * n)
        for c in range(3):
            data[c::4] = bytes([rgb[c]]) * n
        data[3::4] = mask
    return bytes(data)


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


class _Progress:
    """Throttle: at most ~50 updates to GIMP, each a PDB round trip."""

    def __init__(self):
        self.last = -1.0

    def reset(self):
        self.last = -1.0

    def due(self, fraction):
        fraction = min(1.0, max(0.0, float(fraction)))
        if fraction >= 1.0 or fraction - self.last >= 0.02:
            self.last = fraction
            return fraction
        return None


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
    if os.environ.get("UNSCRATCH_GIMPFU_BACKEND", "").lower() == "fake":
        return _NoGimp()
    try:
        import gi
        gi.require_version("Gimp", "3.0")
        gi.require_version("Gegl", "0.4")
        gi.require_version("Babl", "0.1")
        from gi.repository import Babl, Gegl, GLib, GObject, Gimp
    except (ImportError, ValueError):
        return _NoGimp()
    # beside this file: GIMP runs the plug-in with its folder on sys.path
    from gimpfu_gimp import GimpBackend
    return GimpBackend(Gimp, Gegl, GObject, GLib, Babl)


_backend = _load_backend()


def backend():
    return _backend


def use_backend(new):
    """Switch backends (tests); returns the previous one."""
    global _backend
    old, _backend = _backend, new
    return old

"""A small gimpfu-compatible layer over GIMP 3's GObject-introspection API.

GIMP 2's `gimpfu` is gone in GIMP 3. Plug-ins written against this module keep gimpfu's shape:

    from gimpfu_shim import *
    def my_filter(image, drawable, radius):
        gimp.progress_init("Working…")
        ...
        return new_layer
    register("plug-in-my-filter", "blurb", "help", "author", "copyright", "2025", "My filter…", "RGB*, GRAY*",
             [(PF_IMAGE, "image", "Input image", None), (PF_DRAWABLE, "drawable", "Input drawable", None),
              (PF_SLIDER, "radius", "Radius", 2.0, (0.0, 10.0, 0.5))],
             [(PF_LAYER, "new-layer", "The new layer")],
             my_filter, menu="<Image>/Filters/Enhance")
    main()

What it maps, on GIMP 3 (`GimpBackend`):
  * register() + main()  -> a Gimp.PlugIn whose procedures are Gimp.ImageProcedure (standard run-mode, image and
    drawables arguments) when the first two parameters are PF_IMAGE and PF_DRAWABLE, else Gimp.Procedure; the other
    PF_* parameters become procedure arguments (so scripts can call them through the PDB and GIMP remembers the
    last values), PF_* results become return values; INTERACTIVE runs show GimpUi.ProcedureDialog.
  * gimp.progress_init/update/end, gimp.message, gimp.displays_flush; pdb.<any_procedure>(...) runs a PDB procedure
    by name with positional arguments (pdb.gimp_image_undo_group_start(image), ...).
  * Exceptions raised by the plug-in function become the procedure's EXECUTION_ERROR with the exception's text, which
    GIMP shows as an error message (PluginError is for messages written for the user: the problem and the fix).
  * gimpfu's pixel regions were 8-bit only; instead the shim adds full-precision pixel I/O as bytes (no numpy needed):
    read_pixels(drawable), read_selection(image, drawable), new_layer_like(...), new_mask_layer(...), new_channel(...).

`FakeBackend` implements the same surface in pure Python (images are bytes in memory) so a plug-in's logic is
unit-tested without GIMP. The backend is chosen when this module is imported: GIMP 3's typelibs if they load (and
UNSCRATCH_GIMPFU_BACKEND is not "fake"), else the fake one.
"""
from __future__ import annotations

import os
import sys
import traceback

__all__ = [
    "register", "main", "gimp", "pdb", "PluginError", "Pixels",
    "read_pixels", "read_selection", "new_layer_like", "new_mask_layer", "new_channel", "check_paint_layer",
    "item_name", "undo_group", "backend", "use_backend", "FakeBackend",
    "item_kind", "find_layer", "find_channel", "read_mask", "set_active_layer", "set_visible", "is_visible",
    "all_layers",
    "PF_INT8", "PF_INT16", "PF_INT32", "PF_INT", "PF_FLOAT", "PF_STRING", "PF_VALUE", "PF_TOGGLE", "PF_BOOL",
    "PF_SLIDER", "PF_SPINNER", "PF_ADJUSTMENT", "PF_OPTION", "PF_RADIO", "PF_IMAGE", "PF_DRAWABLE", "PF_LAYER",
    "PF_CHANNEL", "RUN_INTERACTIVE", "RUN_NONINTERACTIVE", "RUN_WITH_LAST_VALS",
]

# ---------------------------------------------------------------------------------------------------------------
# gimpfu's parameter types (the names and meanings of GIMP 2's gimpfu; the numbers are ours)
PF_INT8, PF_INT16, PF_INT32 = "int8", "int16", "int32"
PF_INT = PF_INT32
PF_FLOAT = "float"
PF_STRING = "string"
PF_VALUE = PF_STRING
PF_TOGGLE = "toggle"
PF_BOOL = PF_TOGGLE
PF_SLIDER = "slider"          # float with (min, max, step)
PF_SPINNER = "spinner"        # int with (min, max, step)
PF_ADJUSTMENT = PF_SPINNER
PF_OPTION = "option"          # int index into a list of labels
PF_RADIO = "radio"            # value chosen from ((label, value), ...)
PF_IMAGE = "image"
PF_DRAWABLE = "drawable"
PF_LAYER = "layer"
PF_CHANNEL = "channel"
RUN_INTERACTIVE, RUN_NONINTERACTIVE, RUN_WITH_LAST_VALS = "interactive", "noninteractive", "with-last-vals"

INT_TYPES = (PF_INT8, PF_INT16, PF_INT32, PF_SPINNER)
INT_RANGES = {PF_INT8: (0, 255), PF_INT16: (-32768, 32767), PF_INT32: (-2**31, 2**31 - 1)}
DTYPE_SIZE = {"uint8": 1, "uint16": 2, "float32": 4}
DTYPE_CODE = {"uint8": "B", "uint16": "H", "float32": "f"}


class PluginError(Exception):
    """An error written for the user: say what is wrong and how to fix it. Shown by GIMP as an error message."""


class Pixels:
    """A drawable's pixels as raw C-order bytes: height x width x channels of dtype (uint8, uint16, float32).

    `gray`: one colour plane (Y) instead of three; `has_alpha`: the last channel is alpha; `format`: the babl
    format name they were read with (None = the drawable's own format, byte for byte)."""

    __slots__ = ("data", "width", "height", "channels", "dtype", "gray", "has_alpha", "format")

    def __init__(self, data, width, height, channels, dtype, gray=False, has_alpha=False, format=None):
        self.data, self.width, self.height, self.channels = bytes(data), int(width), int(height), int(channels)
        self.dtype, self.gray, self.has_alpha, self.format = dtype, bool(gray), bool(has_alpha), format
        expected = self.width * self.height * self.channels * DTYPE_SIZE[dtype]
        if len(self.data) != expected:
            raise ValueError(f"{len(self.data)} bytes do not hold {height}x{width}x{channels} {dtype}")

    @property
    def shape(self):
        return (self.height, self.width, self.channels)

    def replace(self, data) -> "Pixels":
        return Pixels(data, self.width, self.height, self.channels, self.dtype, self.gray, self.has_alpha,
                      self.format)


# ---------------------------------------------------------------------------------------------------------------
# register(): gimpfu's signature
class ProcedureSpec:
    def __init__(self, name, blurb, help, author, copyright, date, label, imagetypes, params, results, function,
                 menu):
        self.name, self.blurb, self.help = name, blurb, help
        self.author, self.copyright, self.date = author, copyright, date
        self.imagetypes, self.function = imagetypes, function
        if menu is None and label and label.startswith("<"):   # gimpfu also took "<Image>/Path/Label"
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
        """What the INTERACTIVE dialog starts from: `current`, with each parameter still at its registered
        default replaced by what spec.dialog_defaults() says is in use (e.g. the model's own threshold behind
        a 0 that means "automatic"). Nothing is replaced when that call fails."""
        if self.dialog_defaults is None:
            return dict(current)
        try:
            shown = dict(self.dialog_defaults())
        except Exception:  # the dialog still opens, with the registered defaults
            traceback.print_exc()
            return dict(current)
        defaults = self.defaults()
        return {k: shown[k] if k in shown and v == defaults.get(k) else v for k, v in current.items()}


class _Param:
    def __init__(self, ptype, name, desc, default=None, extra=None):
        self.type, self.name, self.desc, self.default, self.extra = ptype, _arg_name(name), desc, default, extra
        self.pyname = name
        if ptype == PF_OPTION:
            self.choices = [(_nick(label, i), i, label) for i, label in enumerate(extra or ())]
        elif ptype == PF_RADIO:
            self.choices = [(_nick(label, i), value, label) for i, (label, value) in enumerate(extra or ())]
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
        raise PluginError(f"{self.name}: {nick!r} is not one of {', '.join(n for n, _, _ in self.choices)}")

    def check(self, value):
        """Validate and coerce a value given by a caller (fake backend; GIMP validates its own arguments)."""
        if self.type in (PF_SLIDER, PF_FLOAT):
            value = float(value)
        elif self.type in INT_TYPES:
            value = int(value)
        elif self.type == PF_TOGGLE:
            value = bool(value)
        elif self.type == PF_STRING:
            value = str(value)
        elif self.choices is not None:
            if value not in [v for _, v, _ in self.choices]:
                raise PluginError(f"{self.name}: {value!r} is not one of {[v for _, v, _ in self.choices]}")
        if self.type in (PF_SLIDER, PF_SPINNER) and self.extra:
            lo, hi = self.extra[0], self.extra[1]
            if not lo <= value <= hi:
                raise PluginError(f"{self.name}: {value} is outside [{lo}, {hi}]")
        return value


def _arg_name(name: str) -> str:
    return name.replace("_", "-").lower()


def _nick(label: str, index: int) -> str:
    nick = "".join(c if c.isalnum() else "-" for c in str(label).lower()).strip("-")
    while "--" in nick:
        nick = nick.replace("--", "-")
    return nick or f"option-{index}"


_registry: dict[str, ProcedureSpec] = {}


def register(proc_name, blurb, help, author, copyright, date, label, imagetypes, params, results, function,
             menu=None, domain=None, on_query=None, on_run=None, dialog_defaults=None):
    """gimpfu.register: declare a procedure. `function(image, drawable, *params)` for image procedures.

    `dialog_defaults` (ours, not gimpfu's): a callable giving {parameter: value} to show in the INTERACTIVE
    dialog for parameters still at their registered default (see ProcedureSpec.dialog_values)."""
    if not (proc_name.startswith(("python-", "plug-in-", "extension-", "file-")) or "-fu-" in proc_name):
        proc_name = "python-fu-" + proc_name
    proc_name = proc_name.replace("_", "-")
    _registry[proc_name] = ProcedureSpec(proc_name, blurb, help, author, copyright, date, label, imagetypes,
                                         params, results, function, menu)
    _registry[proc_name].dialog_defaults = dialog_defaults
    return proc_name


def procedures() -> dict:
    return dict(_registry)


def main():
    """gimpfu.main: hand the registered procedures to GIMP (a no-op on the fake backend)."""
    return _backend.main(_registry)


# ---------------------------------------------------------------------------------------------------------------
# Shared logic: call a plug-in function with arguments, turn errors into messages
def call_function(spec: ProcedureSpec, image, drawables, values: dict):
    """Run spec.function like gimpfu did: (image, drawable, *params) for image procedures. Returns its results."""
    args = [values[p.name] for p in spec.params]
    if spec.image_proc:
        drawables = list(drawables or [])
        if len(drawables) != 1:
            raise PluginError(
                f"{len(drawables)} layers are selected; {spec.label.rstrip('….')} works on one layer at a time. "
                "Fix: select a single layer in the Layers dialog and run it again."
                if drawables else
                "No layer is selected. Fix: select the layer to work on in the Layers dialog and run it again.")
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


# ---------------------------------------------------------------------------------------------------------------
# The gimpfu-style namespaces `gimp` and `pdb`, and the pixel helpers; all delegate to the active backend
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

    def image_list(self):
        return _backend.image_list()


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
    """The drawable's pixels at its own precision (u8, u16 and float exactly; half, u32, double as float32)."""
    return _backend.read_pixels(drawable)


def read_selection(image, drawable):
    """The selection over the drawable as float32 bytes (height x width, 0..1, soft edges kept), or None when
    nothing is selected."""
    return _backend.read_selection(image, drawable)


def new_layer_like(image, drawable, name, pixels: Pixels):
    """A new layer with `pixels` (as read_pixels gave them), same size, type, precision and offsets as `drawable`,
    inserted just above it in the same group."""
    return _backend.new_layer_like(image, drawable, name, pixels)


def new_mask_layer(image, drawable, name, mask: bytes, rgb=(255, 0, 0)):
    """A new layer above `drawable` (same size and offsets) in colour `rgb`, opaque where the uint8 mask is 255."""
    return _backend.new_mask_layer(image, drawable, name, bytes(mask), rgb)


def new_channel(image, drawable, name, mask: bytes):
    """A new image channel holding the uint8 mask (drawable-sized, placed at its offsets); load it as a selection
    with Channels › Channel to Selection."""
    return _backend.new_channel(image, drawable, name, bytes(mask))


def check_paint_layer(drawable) -> None:
    """PluginError unless the drawable is an ordinary layer whose pixels can be read and repaired."""
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
    """The layer (groups searched too) called `name`, other than `exclude`; of several, the lowest in the
    stack (a layer inserted just above its source, like Detect's, is the newest of its name there)."""
    found = [l for l in _backend.all_layers(image) if _backend.item_name(l) == name and l != exclude
             and _backend.item_kind(l) == "layer"]
    return found[-1] if found else None


def find_channel(image, name):
    """The image channel called `name` (the newest, as new channels go on top)."""
    found = [c for c in _backend.channels(image) if _backend.item_name(c) == name]
    return found[0] if found else None


def read_mask(image, item, drawable) -> bytes:
    """A layer's alpha or a channel's values (uint8) over the drawable's area, as the image lines them up
    (offsets kept; 0 where the item does not reach)."""
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


# ---------------------------------------------------------------------------------------------------------------
# Fake backend: pure Python, for unit tests
class FakeItem:
    _next_id = 1

    def __init__(self, name):
        self.name = name
        self.id = FakeItem._next_id
        FakeItem._next_id += 1
        self.parent = None
        self.image = None


class FakeLayer(FakeItem):
    """A layer: `pixels` is a Pixels (the layer's own format). Groups have children and no pixels."""

    def __init__(self, name, pixels: Pixels | None = None, offsets=(0, 0), group=False):
        super().__init__(name)
        self.pixels, self.offsets, self.is_group = pixels, tuple(offsets), group
        self.children = [] if group else None
        self.kind = "layer"

    @property
    def width(self):
        return self.pixels.width if self.pixels else 0

    @property
    def height(self):
        return self.pixels.height if self.pixels else 0


class FakeChannel(FakeItem):
    def __init__(self, name, width, height, data: bytes):
        super().__init__(name)
        self.width, self.height, self.data = width, height, bytes(data)
        self.kind = "channel"


class FakeLayerMask(FakeItem):
    def __init__(self, layer):
        super().__init__(layer.name + " mask")
        self.layer = layer
        self.kind = "layer-mask"


class FakeImage:
    """An image: `layers` top first (groups nest), `selection` float32 bytes image-sized or None, an undo stack."""

    def __init__(self, width, height, base="rgb", dtype="uint8", indexed=False):
        self.width, self.height, self.base, self.dtype, self.indexed = width, height, base, dtype, indexed
        self.layers, self.channels = [], []
        self.selection = None
        self.active = None              # the selected layer (set_active_layer)
        self.undo_stack, self._group_depth, self._open_group = [], 0, None

    # structure
    def siblings(self, item):
        return item.parent.children if item.parent is not None else self.layers

    def insert_layer(self, layer, parent=None, position=0):
        layer.parent, layer.image = parent, self
        (parent.children if parent is not None else self.layers).insert(position, layer)
        self._record(("remove-layer", layer))

    def insert_channel(self, channel):
        channel.image = self
        self.channels.insert(0, channel)
        self._record(("remove-channel", channel))

    def all_layers(self):
        out = []

        def walk(items):
            for it in items:
                out.append(it)
                if it.is_group:
                    walk(it.children)
        walk(self.layers)
        return out

    # selection (image coordinates, float 0..1)
    def select_rectangle(self, x, y, w, h, value=1.0):
        import array
        sel = array.array("f", self.selection or bytes(4 * self.width * self.height))
        for yy in range(max(0, y), min(self.height, y + h)):
            for xx in range(max(0, x), min(self.width, x + w)):
                sel[yy * self.width + xx] = value
        self.selection = sel.tobytes()

    def select_none(self):
        self.selection = None

    # undo
    def _record(self, step):
        if self._open_group is not None:
            self._open_group.append(step)
        else:
            self.undo_stack.append([step])

    def undo_group_start(self):
        if self._group_depth == 0:
            self._open_group = []
        self._group_depth += 1

    def undo_group_end(self):
        if self._group_depth == 0:
            raise RuntimeError("undo_group_end without undo_group_start")
        self._group_depth -= 1
        if self._group_depth == 0:
            if self._open_group:
                self.undo_stack.append(self._open_group)
            self._open_group = None

    def undo(self):
        """Edit › Undo: revert the last undo step (a whole group)."""
        if not self.undo_stack:
            return False
        for kind, item, *extra in reversed(self.undo_stack.pop()):
            if kind == "remove-layer":
                self.siblings(item).remove(item)
            elif kind == "remove-channel":
                self.channels.remove(item)
            elif kind == "visible":
                item.visible = extra[0]
        return True



def _overlap_spans(image, drawable):
    """Per row where the (offset) layer overlaps the image: (slice into the layer's pixels, slice into the
    image's), both as flat row-major indices."""
    ox, oy = drawable.offsets
    x0, x1 = max(0, -ox), min(drawable.width, image.width - ox)
    if x0 >= x1:
        return
    for y in range(max(0, -oy), min(drawable.height, image.height - oy)):
        iy = y + oy
        yield (slice(y * drawable.width + x0, y * drawable.width + x1),
               slice(iy * image.width + ox + x0, iy * image.width + ox + x1))

class FakeBackend:
    """Records what a plug-in asked GIMP to do: messages, progress, PDB calls."""

    name = "fake"

    def __init__(self):
        self.messages, self.progress, self.pdb_calls, self.flushes = [], [], [], 0
        self.dialogs = []       # (procedure, the values its INTERACTIVE dialog showed)
        self.images = []
        self._throttle = _Progress()

    # registration / running
    def main(self, registry):
        return None

    def run_procedure(self, name, image=None, drawables=None, run_mode=RUN_NONINTERACTIVE, **params):
        """Like calling the procedure through the PDB: ('success', values...) or ('execution-error', message)."""
        spec = _registry.get(name)
        if spec is None:
            return ("calling-error", f"procedure {name!r} not found")
        values = spec.defaults()
        for key, value in params.items():
            key = _arg_name(key)
            param = next((p for p in spec.params if p.name == key), None)
            if param is None:
                return ("calling-error", f"{name} has no argument {key!r}")
            try:
                values[key] = param.check(value)
            except (PluginError, TypeError, ValueError) as exc:
                return ("calling-error", str(exc))
        if spec.image_proc and image is not None and self._imagetype_refused(spec, image):
            return ("calling-error", f"{name} does not work on this image type ({spec.imagetypes})")
        if run_mode == RUN_INTERACTIVE:  # the dialog, accepted as shown
            values = spec.dialog_values(values)
            self.dialogs.append((name, dict(values)))
        try:
            results = call_function(spec, image, drawables, values)
        except Exception as exc:  # what GIMP would show
            if not isinstance(exc, PluginError):
                traceback.print_exc()
            if image is not None:
                while image._group_depth:
                    image.undo_group_end()
            return ("execution-error", error_text(exc))
        return ("success",) + tuple(results)

    @staticmethod
    def _imagetype_refused(spec, image):
        types = spec.imagetypes.replace(" ", "").split(",") if spec.imagetypes else []
        if image.indexed:
            return not any(t.startswith("INDEXED") or t == "*" for t in types)
        base = "RGB" if image.base == "rgb" else "GRAY"
        return not any(t.startswith(base) or t == "*" for t in types)

    # gimp.*
    def progress_init(self, message):
        self._throttle.reset()
        self.progress.append(("init", message))

    def progress_update(self, fraction):
        f = self._throttle.due(fraction)
        if f is not None:
            self.progress.append(("update", f))

    def progress_end(self):
        self.progress.append(("end", None))

    def message(self, text):
        self.messages.append(text)

    def displays_flush(self):
        self.flushes += 1

    def image_list(self):
        return list(self.images)

    def pdb_call(self, name, args, kwargs):
        self.pdb_calls.append((name, args))
        if name == "gimp-image-undo-group-start":
            args[0].undo_group_start()
        elif name == "gimp-image-undo-group-end":
            args[0].undo_group_end()
        elif name == "gimp-message":
            self.message(args[0])
        elif name == "gimp-displays-flush":
            self.displays_flush()
        else:
            raise AttributeError(f"the fake backend has no PDB procedure {name!r}")

    def undo_group_start(self, image):
        image.undo_group_start()

    def undo_group_end(self, image):
        image.undo_group_end()

    # items and pixels
    def item_name(self, item):
        return item.name

    def item_kind(self, item):
        kind = getattr(item, "kind", "other")
        return "group" if kind == "layer" and item.is_group else kind

    def all_layers(self, image):
        return image.all_layers()

    def channels(self, image):
        return list(image.channels)

    def read_mask(self, image, item, drawable):
        out = bytearray(drawable.width * drawable.height)
        if item.kind == "channel":
            for layer_span, image_span in _overlap_spans(image, drawable):
                out[layer_span] = item.data[image_span]
            return bytes(out)
        px = item.pixels
        n = px.width * px.height
        alpha = px.data[px.channels - 1::px.channels] if px.has_alpha else bytes([255]) * n
        dx, dy = drawable.offsets[0] - item.offsets[0], drawable.offsets[1] - item.offsets[1]
        x0, x1 = max(0, -dx), min(drawable.width, px.width - dx)
        for y in range(max(0, -dy), min(drawable.height, px.height - dy)):
            if x0 < x1:
                out[y * drawable.width + x0:y * drawable.width + x1] = \
                    alpha[(y + dy) * px.width + x0 + dx:(y + dy) * px.width + x1 + dx]
        return bytes(out)

    def set_active_layer(self, image, layer):
        image.active = layer

    def set_visible(self, item, visible):
        image = getattr(item, "image", None)
        if image is not None and getattr(item, "visible", True) != bool(visible):
            image._record(("visible", item, getattr(item, "visible", True)))
        item.visible = bool(visible)

    def is_visible(self, item):
        return getattr(item, "visible", True)

    def check_paint_layer(self, drawable):
        kind = getattr(drawable, "kind", None)
        if kind == "layer-mask":
            raise PluginError(f"The layer mask of '{drawable.layer.name}' is selected, not the layer. "
                              "Fix: click the layer's thumbnail (left of the mask) and run it again.")
        if kind == "channel":
            raise PluginError(f"The channel '{drawable.name}' is selected. Fix: select a layer in the Layers dialog.")
        if kind == "layer" and drawable.is_group:
            raise PluginError(f"'{drawable.name}' is a layer group. Fix: select one of the layers inside it.")
        if drawable.image is not None and drawable.image.indexed:
            raise PluginError("The image is in indexed colour. Fix: Image › Mode › RGB, then run it again.")

    def read_pixels(self, drawable):
        return drawable.pixels

    def read_selection(self, image, drawable):
        if image.selection is None:
            return None
        import array
        sel = array.array("f", image.selection)
        out = array.array("f", bytes(4 * drawable.width * drawable.height))
        for layer_span, image_span in _overlap_spans(image, drawable):
            out[layer_span] = sel[image_span]
        return out.tobytes()

    def _insert_above(self, image, drawable, layer):
        siblings = image.siblings(drawable)
        image.insert_layer(layer, drawable.parent, siblings.index(drawable))

    def new_layer_like(self, image, drawable, name, pixels):
        own = drawable.pixels
        if (pixels.width, pixels.height, pixels.channels, pixels.dtype) != \
                (own.width, own.height, own.channels, own.dtype):
            raise ValueError(f"pixels {pixels.shape} {pixels.dtype} do not fit layer {own.shape} {own.dtype}")
        layer = FakeLayer(name, pixels, drawable.offsets)
        self._insert_above(image, drawable, layer)
        return layer

    def new_mask_layer(self, image, drawable, name, mask, rgb):
        gray = image.base == "gray"
        n = drawable.width * drawable.height
        if gray:
            data = bytearray(2 * n)
            data[0::2] = bytes([max(rgb)]) * n
            data[1::2] = mask
        else:
            data = bytearray(4 * n)
            for c in range(3):
                data[c::4] = bytes([rgb[c]]) * n
            data[3::4] = mask
        layer = FakeLayer(name, Pixels(data, drawable.width, drawable.height, 2 if gray else 4, "uint8", gray, True),
                          drawable.offsets)
        self._insert_above(image, drawable, layer)
        return layer

    def new_channel(self, image, drawable, name, mask):
        data = bytearray(image.width * image.height)
        for layer_span, image_span in _overlap_spans(image, drawable):
            data[image_span] = mask[layer_span]
        channel = FakeChannel(name, image.width, image.height, data)
        image.insert_channel(channel)
        return channel


# ---------------------------------------------------------------------------------------------------------------
# GIMP 3 backend
class GimpBackend:
    name = "gimp"

    def __init__(self, Gimp, Gegl, GObject, GLib, Babl):
        self.Gimp, self.Gegl, self.GObject, self.GLib, self.Babl = Gimp, Gegl, GObject, GLib, Babl
        self._throttle = _Progress()
        self._ui_ready = False
        self._open = 0          # undo groups this plug-in opened and has not closed yet

    # -- registration ------------------------------------------------------------------------------------------
    def main(self, registry):
        Gimp, backend = self.Gimp, self

        class ShimPlugIn(Gimp.PlugIn):
            __gtype_name__ = "UnscratchGimpfuShimPlugIn"

            def do_set_i18n(self, name):
                return False

            def do_query_procedures(self):
                return list(registry)

            def do_create_procedure(self, name):
                return backend.create_procedure(self, registry[name])

        return Gimp.main(ShimPlugIn.__gtype__, sys.argv)

    def create_procedure(self, plugin, spec):
        Gimp, GObject = self.Gimp, self.GObject
        flags = GObject.ParamFlags.READWRITE
        if spec.image_proc:
            proc = Gimp.ImageProcedure.new(plugin, spec.name, Gimp.PDBProcType.PLUGIN, self._run_image, spec)
            proc.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        else:
            proc = Gimp.Procedure.new(plugin, spec.name, Gimp.PDBProcType.PLUGIN, self._run_plain, spec)
            proc.add_enum_argument("run-mode", "Run mode", "The run mode", Gimp.RunMode,
                                   Gimp.RunMode.NONINTERACTIVE, flags)
        if spec.imagetypes:
            proc.set_image_types(spec.imagetypes)
        if spec.label:
            proc.set_menu_label(spec.label)
        if spec.menu:
            proc.add_menu_path(spec.menu)
        proc.set_documentation(spec.blurb, spec.help, spec.name)
        proc.set_attribution(spec.author, spec.copyright, spec.date)
        for p in spec.params:
            self._add_argument(proc, p, flags)
        for rtype, rname, rdesc in spec.results:
            if rtype == PF_LAYER:
                proc.add_layer_return_value(rname, rname, rdesc, True, flags)
            elif rtype == PF_CHANNEL:
                proc.add_channel_return_value(rname, rname, rdesc, True, flags)
            elif rtype == PF_DRAWABLE:
                proc.add_drawable_return_value(rname, rname, rdesc, True, flags)
            elif rtype == PF_IMAGE:
                proc.add_image_return_value(rname, rname, rdesc, True, flags)
            elif rtype in (PF_FLOAT, PF_SLIDER):
                proc.add_double_return_value(rname, rname, rdesc, -1e308, 1e308, 0.0, flags)
            elif rtype in INT_TYPES:
                proc.add_int_return_value(rname, rname, rdesc, -2**31, 2**31 - 1, 0, flags)
            elif rtype == PF_TOGGLE:
                proc.add_boolean_return_value(rname, rname, rdesc, False, flags)
            else:
                proc.add_string_return_value(rname, rname, rdesc, "", flags)
        return proc

    def _add_argument(self, proc, p, flags):
        Gimp = self.Gimp
        label = p.desc if "_" in p.desc else "_" + p.desc      # GIMP's dialogs want a mnemonic
        if p.type in (PF_SLIDER, PF_FLOAT):
            lo, hi = (p.extra[0], p.extra[1]) if p.extra else (-1e308, 1e308)
            proc.add_double_argument(p.name, label, p.desc, lo, hi, float(p.default or 0.0), flags)
        elif p.type in INT_TYPES:
            lo, hi = (p.extra[0], p.extra[1]) if (p.type == PF_SPINNER and p.extra) else INT_RANGES.get(
                p.type, INT_RANGES[PF_INT32])
            proc.add_int_argument(p.name, label, p.desc, int(lo), int(hi), int(p.default or 0), flags)
        elif p.type == PF_TOGGLE:
            proc.add_boolean_argument(p.name, label, p.desc, bool(p.default), flags)
        elif p.choices is not None:
            choice = Gimp.Choice.new()
            for i, (nick, _, text) in enumerate(p.choices):
                choice.add(nick, i, text, "")
            proc.add_choice_argument(p.name, label, p.desc, choice, p.nick_for(p.default), flags)
        elif p.type in (PF_STRING,):
            proc.add_string_argument(p.name, label, p.desc, str(p.default or ""), flags)
        else:
            raise ValueError(f"{p.name}: parameter type {p.type!r} is not supported by the shim")

    def _values(self, spec, config):
        values = {}
        for p in spec.params:
            v = config.get_property(p.name)
            values[p.name] = p.value_for(v) if p.choices is not None else v
        return values

    def _interactive(self, procedure, config, spec):
        """Show GIMP's own dialog for the procedure's arguments; False when cancelled."""
        if not spec.params:
            return True
        gi = sys.modules["gi"]
        gi.require_version("GimpUi", "3.0")
        from gi.repository import GimpUi
        if not self._ui_ready:
            GimpUi.init(spec.name)
            self._ui_ready = True
        current = self._values(spec, config)
        shown = spec.dialog_values(current)
        for p in spec.params:
            if shown[p.name] != current[p.name] and p.choices is None:
                config.set_property(p.name, shown[p.name])
        dialog = GimpUi.ProcedureDialog.new(procedure, config, spec.label.rstrip("…").rstrip("."))
        dialog.fill(None)
        ok = dialog.run()
        dialog.destroy()
        return ok

    def _run_image(self, procedure, run_mode, image, drawables, config, spec):
        return self._run(procedure, run_mode, image, drawables, config, spec)

    def _run_plain(self, procedure, config, spec):
        return self._run(procedure, config.get_property("run-mode"), None, None, config, spec)

    def _run(self, procedure, run_mode, image, drawables, config, spec):
        Gimp, GLib, GObject = self.Gimp, self.GLib, self.GObject
        try:
            if run_mode == Gimp.RunMode.INTERACTIVE and not self._interactive(procedure, config, spec):
                return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, None)
            results = call_function(spec, image, drawables, self._values(spec, config))
        except Exception as exc:
            if not isinstance(exc, PluginError):
                traceback.print_exc()
            return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(error_text(exc)))
        finally:
            if image is not None:
                self._close_undo_groups(image)
        values = [GObject.Value(Gimp.PDBStatusType, Gimp.PDBStatusType.SUCCESS)]
        for (rtype, _, _), value in zip(spec.results, results):
            values.append(GObject.Value(self._gtype_of(rtype), value))
        return Gimp.ValueArray.new_from_values(values)

    def _gtype_of(self, rtype):
        Gimp, GObject = self.Gimp, self.GObject
        return {PF_LAYER: Gimp.Layer, PF_CHANNEL: Gimp.Channel, PF_DRAWABLE: Gimp.Drawable, PF_IMAGE: Gimp.Image,
                PF_FLOAT: GObject.TYPE_DOUBLE, PF_SLIDER: GObject.TYPE_DOUBLE, PF_TOGGLE: GObject.TYPE_BOOLEAN,
                PF_INT8: GObject.TYPE_INT, PF_INT16: GObject.TYPE_INT, PF_INT32: GObject.TYPE_INT,
                PF_SPINNER: GObject.TYPE_INT}.get(rtype, GObject.TYPE_STRING)

    # -- gimp.* ------------------------------------------------------------------------------------------------
    def progress_init(self, message):
        self._throttle.reset()
        self.Gimp.progress_init(message)

    def progress_update(self, fraction):
        f = self._throttle.due(fraction)
        if f is not None:
            self.Gimp.progress_update(f)

    def progress_end(self):
        self.Gimp.progress_end()

    def message(self, text):
        self.Gimp.message(text)

    def displays_flush(self):
        self.Gimp.displays_flush()

    def image_list(self):
        return list(self.Gimp.get_images())

    def pdb_call(self, name, args, kwargs):
        proc = self.Gimp.get_pdb().lookup_procedure(name)
        if proc is None:
            raise AttributeError(f"no PDB procedure {name!r}")
        config = proc.create_config()
        specs = proc.get_arguments()
        for spec, value in zip(specs, args):
            self._set_config(config, spec, value)
        for key, value in kwargs.items():
            spec = next(s for s in specs if s.name == _arg_name(key))
            self._set_config(config, spec, value)
        result = proc.run(config)
        status = result.index(0)
        if status != self.Gimp.PDBStatusType.SUCCESS:
            message = result.index(1) if result.length() > 1 else ""
            raise PluginError(f"{name} failed: {message or status.value_nick}")
        values = [result.index(i) for i in range(1, result.length())]
        return None if not values else values[0] if len(values) == 1 else tuple(values)

    def _set_config(self, config, spec, value):
        if isinstance(value, (list, tuple)) and value and hasattr(value[0], "get_id"):
            config.set_core_object_array(spec.name, list(value))
        else:
            config.set_property(spec.name, value)

    def undo_group_start(self, image):
        image.undo_group_start()
        self._open += 1

    def undo_group_end(self, image):
        if self._open:
            self._open -= 1
            image.undo_group_end()

    def _close_undo_groups(self, image):
        while self._open:
            self.undo_group_end(image)

    # -- items and pixels --------------------------------------------------------------------------------------
    def item_name(self, item):
        return item.get_name()

    def item_kind(self, item):
        Gimp = self.Gimp
        if isinstance(item, Gimp.LayerMask):
            return "layer-mask"
        if isinstance(item, Gimp.Channel):
            return "channel"
        if isinstance(item, Gimp.Layer):
            return "group" if item.is_group() else "layer"
        return "other"

    def all_layers(self, image):
        out = []

        def walk(items):
            for item in items:
                out.append(item)
                if item.is_group():
                    walk(item.get_children())
        walk(image.get_layers())
        return out

    def channels(self, image):
        return list(image.get_channels())

    def read_mask(self, image, item, drawable):
        Gegl = self.Gegl
        w, h = drawable.get_width(), drawable.get_height()
        _, ox, oy = drawable.get_offsets()
        if self.item_kind(item) == "channel":
            return item.get_buffer().get(Gegl.Rectangle.new(ox, oy, w, h), 1.0, "Y u8", Gegl.AbyssPolicy.NONE)
        _, ix, iy = item.get_offsets()
        rgba = item.get_buffer().get(Gegl.Rectangle.new(ox - ix, oy - iy, w, h), 1.0, "R'G'B'A u8",
                                     Gegl.AbyssPolicy.NONE)
        return bytes(rgba[3::4])

    def set_active_layer(self, image, layer):
        image.set_selected_layers([layer])

    def set_visible(self, item, visible):
        item.set_visible(bool(visible))

    def is_visible(self, item):
        return bool(item.get_visible())

    def check_paint_layer(self, drawable):
        Gimp = self.Gimp
        if isinstance(drawable, Gimp.LayerMask):
            layer = Gimp.Layer.from_mask(drawable) if hasattr(Gimp.Layer, "from_mask") else None
            owner = f" of '{layer.get_name()}'" if layer is not None else ""
            raise PluginError(f"The layer mask{owner} is selected, not the layer. "
                              "Fix: click the layer's thumbnail (left of the mask) and run it again.")
        if isinstance(drawable, Gimp.Channel):
            raise PluginError(f"The channel '{drawable.get_name()}' is selected. "
                              "Fix: select a layer in the Layers dialog.")
        if drawable.is_group():
            raise PluginError(f"'{drawable.get_name()}' is a layer group. Fix: select one of the layers inside it.")
        if drawable.is_indexed():
            raise PluginError("The image is in indexed colour. Fix: Image › Mode › RGB, then run it again.")

    def _layout(self, drawable):
        """(dtype, channels, gray, has_alpha, babl format name) to read and write the drawable with.

        The name is the drawable's own babl format (its precision, TRC and colour space, e.g. "R'G'B'A u16" or
        "R'G'B'A u16-<space>" for an image with its own profile), so u8, u16 and float pixels travel byte for
        byte. Half, u32 and double go as float32 in the same TRC and space (babl converts)."""
        Babl = self.Babl
        fmt = drawable.get_format()
        model, _, ctype = Babl.format_get_encoding(fmt).rpartition(" ")
        gray = drawable.is_gray()
        alpha = bool(Babl.format_has_alpha(fmt))
        channels = Babl.format_get_n_components(fmt)
        if channels != (1 if gray else 3) + (1 if alpha else 0):
            raise PluginError(f"The layer '{drawable.get_name()}' has an unexpected pixel format "
                              f"({Babl.get_name(fmt)}). Fix: Image › Mode › RGB, then run it again.")
        dtype = {"u8": "uint8", "u16": "uint16", "float": "float32"}.get(ctype)
        if dtype is not None:
            return dtype, channels, gray, alpha, Babl.get_name(fmt)
        as_float = Babl.format_with_space(model + " float", Babl.format_get_space(fmt))
        return "float32", channels, gray, alpha, Babl.get_name(as_float)

    def read_pixels(self, drawable):
        Gegl = self.Gegl
        dtype, channels, gray, alpha, fmt = self._layout(drawable)
        w, h = drawable.get_width(), drawable.get_height()
        data = drawable.get_buffer().get(Gegl.Rectangle.new(0, 0, w, h), 1.0, fmt, Gegl.AbyssPolicy.NONE)
        return Pixels(data, w, h, channels, dtype, gray, alpha, fmt)

    def read_selection(self, image, drawable):
        Gimp, Gegl = self.Gimp, self.Gegl
        if Gimp.Selection.is_empty(image):
            return None
        w, h = drawable.get_width(), drawable.get_height()
        _, ox, oy = drawable.get_offsets()
        return image.get_selection().get_buffer().get(Gegl.Rectangle.new(ox, oy, w, h), 1.0, "Y float",
                                                      Gegl.AbyssPolicy.NONE)

    def _insert_above(self, image, drawable, layer, fmt, data):
        """Fill the new layer, then put it just above `drawable` (same group, same offsets); nothing is left
        behind when that fails."""
        try:
            self._write(layer, 0, 0, layer.get_width(), layer.get_height(), fmt, data)
        except Exception:
            layer.delete()
            raise
        image.insert_layer(layer, drawable.get_parent(), image.get_item_position(drawable))
        _, ox, oy = drawable.get_offsets()
        layer.set_offsets(ox, oy)
        layer.update(0, 0, layer.get_width(), layer.get_height())

    def _write(self, drawable, x, y, w, h, fmt, data):
        Gegl = self.Gegl
        buf = drawable.get_buffer()
        buf.set(Gegl.Rectangle.new(x, y, w, h), fmt, data)
        buf.flush()

    def new_layer_like(self, image, drawable, name, pixels):
        Gimp = self.Gimp
        w, h = drawable.get_width(), drawable.get_height()
        if (pixels.width, pixels.height) != (w, h):
            raise ValueError(f"pixels {pixels.shape} do not fit layer {h}x{w}")
        layer = Gimp.Layer.new(image, name, w, h, drawable.type(), 100.0, Gimp.LayerMode.NORMAL)
        self._insert_above(image, drawable, layer, pixels.format, pixels.data)
        return layer

    def new_mask_layer(self, image, drawable, name, mask, rgb):
        Gimp = self.Gimp
        w, h = drawable.get_width(), drawable.get_height()
        n = w * h
        gray = image.get_base_type() == Gimp.ImageBaseType.GRAY
        if gray:
            data = bytearray(2 * n)
            data[0::2] = bytes([max(rgb)]) * n
            data[1::2] = mask
            ltype, fmt = Gimp.ImageType.GRAYA_IMAGE, "Y'A u8"
        else:
            data = bytearray(4 * n)
            for c in range(3):
                data[c::4] = bytes([rgb[c]]) * n
            data[3::4] = mask
            ltype, fmt = Gimp.ImageType.RGBA_IMAGE, "R'G'B'A u8"
        layer = Gimp.Layer.new(image, name, w, h, ltype, 100.0, Gimp.LayerMode.NORMAL)
        self._insert_above(image, drawable, layer, fmt, bytes(data))
        return layer

    def new_channel(self, image, drawable, name, mask):
        Gimp, Gegl = self.Gimp, self.Gegl
        W, H = image.get_width(), image.get_height()
        w, h = drawable.get_width(), drawable.get_height()
        _, ox, oy = drawable.get_offsets()
        channel = Gimp.Channel.new(image, name, W, H, 50.0, Gegl.Color.new("red"))
        x0, y0, x1, y1 = max(0, ox), max(0, oy), min(W, ox + w), min(H, oy + h)
        if x0 < x1 and y0 < y1:
            rows = [mask[(y - oy) * w + (x0 - ox):(y - oy) * w + (x1 - ox)] for y in range(y0, y1)]
            try:
                self._write(channel, x0, y0, x1 - x0, y1 - y0, "Y u8", b"".join(rows))
            except Exception:
                channel.delete()
                raise
        image.insert_channel(channel, None, 0)
        channel.set_visible(False)
        return channel


# ---------------------------------------------------------------------------------------------------------------
def _load_backend():
    if os.environ.get("UNSCRATCH_GIMPFU_BACKEND", "").lower() == "fake":
        return FakeBackend()
    try:
        import gi
        gi.require_version("Gimp", "3.0")
        gi.require_version("Gegl", "0.4")
        gi.require_version("Babl", "0.1")
        from gi.repository import Babl, Gegl, GLib, GObject, Gimp
    except (ImportError, ValueError):
        return FakeBackend()
    return GimpBackend(Gimp, Gegl, GObject, GLib, Babl)


_backend = _load_backend()


def backend():
    return _backend


def use_backend(new):
    """Switch backends (tests); returns the previous one."""
    global _backend
    old, _backend = _backend, new
    return old

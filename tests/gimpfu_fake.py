"""A pure-Python stand-in for GIMP behind the gimpfu shim (images are bytes in memory), so the GIMP
plug-in's logic is unit-tested without GIMP. Test code only: `unscratch install gimp` never copies
it.

    import gimpfu_shim as shim          # the installed copy's folder on sys.path
    monkeypatch.setattr(shim, "_backend", FakeBackend())
"""
from __future__ import annotations

import traceback

from gimpfu_shim import _registry
from gimpfu_types import (
    PF_FLOAT,
    PF_INT32,
    PF_SLIDER,
    PF_TOGGLE,
    RUN_INTERACTIVE,
    RUN_NONINTERACTIVE,
    Pixels,
    PluginError,
    _arg_name,
    _Progress,
    call_function,
    error_text,
    mask_layer_bytes,
)


def check_argument(param, value):
    """Validate and coerce a value a caller gives a procedure argument, as GIMP does for its own."""
    if param.type in (PF_SLIDER, PF_FLOAT):
        value = float(value)
    elif param.type == PF_INT32:
        value = int(value)
    elif param.type == PF_TOGGLE:
        value = bool(value)
    elif param.choices is not None:
        if value not in [v for _, v, _ in param.choices]:
            raise PluginError(f"{param.name}: {value!r} is not one of "
                              f"{[v for _, v, _ in param.choices]}")
    if param.type == PF_SLIDER and param.extra:
        lo, hi = param.extra[0], param.extra[1]
        if not lo <= value <= hi:
            raise PluginError(f"{param.name}: {value} is outside [{lo}, {hi}]")
    return value


class FakeItem:
    _next_id = 1

    def __init__(self, name):
        self.name = name
        self.id = FakeItem._next_id
        FakeItem._next_id += 1
        self.parent = None
        self.image = None
        self.parasites = {}


class FakeLayer(FakeItem):
    """A layer: `pixels` is a Pixels (the layer's own format). Groups have children and no
    pixels."""

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
    """An image: `layers` top first (groups nest), `selection` float32 bytes image-sized or None, an
    undo stack."""

    def __init__(self, width, height, base="rgb", dtype="uint8", indexed=False):
        self.width, self.height, self.base = width, height, base
        self.dtype, self.indexed = dtype, indexed
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
            elif kind == "pixels":
                item.pixels = extra[0]
            elif kind == "parasite":
                if extra[1] is None:
                    item.parasites.pop(extra[0], None)
                else:
                    item.parasites[extra[0]] = extra[1]
        return True


def _overlap_spans(image, drawable):
    """Per row where the (offset) layer overlaps the image: (slice into the layer's pixels, slice
    into the image's), both as flat row-major indices."""
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

    def run_procedure(self, name, image=None, drawables=None, run_mode=RUN_NONINTERACTIVE,
                      **params):
        """Like calling the procedure through the PDB: ('success', values...) or ('execution-error',
        message)."""
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
                values[key] = check_argument(param, value)
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

    def siblings(self, image, item):
        return list(image.siblings(item))

    def get_parasite(self, item, name):
        return item.parasites.get(name)

    def set_parasite(self, item, name, data):
        if item.image is not None:
            item.image._record(("parasite", item, name, item.parasites.get(name)))
        item.parasites[name] = bytes(data)

    def write_mask(self, image, layer, mask, rgb):
        gray = image.base == "gray"
        image._record(("pixels", layer, layer.pixels))
        layer.pixels = layer.pixels.replace(mask_layer_bytes(mask, rgb, gray))

    def read_mask(self, image, item, drawable):
        out = bytearray(drawable.width * drawable.height)
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
            raise PluginError(f"The layer mask of '{drawable.layer.name}' is selected, not the "
                              "layer. Fix: click the layer's thumbnail (left of the mask) and run "
                              "it again.")
        if kind == "channel":
            raise PluginError(f"The channel '{drawable.name}' is selected. Fix: select a layer in "
                              "the Layers dialog.")
        if kind == "layer" and drawable.is_group:
            raise PluginError(f"'{drawable.name}' is a layer group. Fix: select one of the layers "
                              "inside it.")
        if drawable.image is not None and drawable.image.indexed:
            raise PluginError("The image is in indexed colour. Fix: Image › Mode › RGB, then run "
                              "it again.")

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

    def _insert_above(self, image, above, layer):
        siblings = image.siblings(above)
        image.insert_layer(layer, above.parent, siblings.index(above))

    def new_layer_like(self, image, drawable, name, pixels, above):
        own = drawable.pixels
        if (pixels.width, pixels.height, pixels.channels, pixels.dtype) != \
                (own.width, own.height, own.channels, own.dtype):
            raise ValueError(f"pixels {pixels.shape} {pixels.dtype} do not fit layer {own.shape} "
                             f"{own.dtype}")
        layer = FakeLayer(name, pixels, drawable.offsets)
        self._insert_above(image, above, layer)
        return layer

    def new_mask_layer(self, image, drawable, name, mask, rgb, above):
        gray = image.base == "gray"
        data = mask_layer_bytes(mask, rgb, gray)
        layer = FakeLayer(name, Pixels(data, drawable.width, drawable.height, 2 if gray else 4,
                                       "uint8", gray, True), drawable.offsets)
        self._insert_above(image, above, layer)
        return layer

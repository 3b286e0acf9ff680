"""The gimpfu shim's GIMP 3 backend: what register(), gimp.*, pdb.* and the pixel helpers of
gimpfu_shim.py do in real GIMP, through its GObject-introspection API (Gimp, Gegl, Babl).
gimpfu_shim imports this file only when GIMP's typelibs load (GIMP runs the plug-in with this folder
on sys.path); it imports gimpfu_types, never the shim.
"""
from __future__ import annotations

import array
import sys
import traceback

from gimpfu_types import (
    INT32_RANGE,
    PF_CHANNEL,
    PF_DRAWABLE,
    PF_FLOAT,
    PF_IMAGE,
    PF_INT32,
    PF_LAYER,
    PF_SLIDER,
    PF_TOGGLE,
    Pixels,
    PluginError,
    _arg_name,
    _Progress,
    call_function,
    error_text,
    mask_layer_bytes,
)


class GimpBackend:
    name = "gimp"

    def __init__(self, Gimp, Gegl, GObject, GLib, Babl):
        self.Gimp, self.Gegl, self.GObject, self.GLib, self.Babl = Gimp, Gegl, GObject, GLib, Babl
        self._throttle = _Progress()
        self._ui_ready = False
        self._open = 0          # undo groups this plug-in opened and has not closed yet

    # -- registration ------------------------------------------------------------------------------
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
            proc = Gimp.ImageProcedure.new(plugin, spec.name, Gimp.PDBProcType.PLUGIN,
                                           self._run_image, spec)
            proc.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        else:
            proc = Gimp.Procedure.new(plugin, spec.name, Gimp.PDBProcType.PLUGIN, self._run_plain,
                                      spec)
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
        for rtype, rname, rdesc in spec.results:   # (add_*_return_value, its extra arguments)
            kind, extra = {PF_LAYER: ("layer", (True,)), PF_CHANNEL: ("channel", (True,)),
                           PF_DRAWABLE: ("drawable", (True,)), PF_IMAGE: ("image", (True,)),
                           PF_FLOAT: ("double", (-1e308, 1e308, 0.0)),
                           PF_SLIDER: ("double", (-1e308, 1e308, 0.0)),
                           PF_INT32: ("int", (-2**31, 2**31 - 1, 0)),
                           PF_TOGGLE: ("boolean", (False,))}.get(rtype, ("string", ("",)))
            getattr(proc, f"add_{kind}_return_value")(rname, rname, rdesc, *extra, flags)
        return proc

    def _add_argument(self, proc, p, flags):
        Gimp = self.Gimp
        label = p.desc if "_" in p.desc else "_" + p.desc      # GIMP's dialogs want a mnemonic
        if p.type in (PF_SLIDER, PF_FLOAT):
            lo, hi = (p.extra[0], p.extra[1]) if p.extra else (-1e308, 1e308)
            proc.add_double_argument(p.name, label, p.desc, lo, hi, float(p.default or 0.0), flags)
        elif p.type == PF_INT32:
            lo, hi = INT32_RANGE
            proc.add_int_argument(p.name, label, p.desc, lo, hi, int(p.default or 0), flags)
        elif p.type == PF_TOGGLE:
            proc.add_boolean_argument(p.name, label, p.desc, bool(p.default), flags)
        elif p.choices is not None:
            choice = Gimp.Choice.new()
            for i, (nick, _, text) in enumerate(p.choices):
                choice.add(nick, i, text, "")
            proc.add_choice_argument(p.name, label, p.desc, choice, p.nick_for(p.default), flags)
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
        for name, toggle in spec.enables.items():     # greyed out while its toggle is off
            dialog.set_sensitive(name, True, config, toggle, False)
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
            interactive = run_mode == Gimp.RunMode.INTERACTIVE
            if interactive and not self._interactive(procedure, config, spec):
                return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, None)
            results = call_function(spec, image, drawables, self._values(spec, config))
        except Exception as exc:
            if not isinstance(exc, PluginError):
                traceback.print_exc()
            return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR,
                                               GLib.Error(error_text(exc)))
        finally:
            if image is not None:
                self._close_undo_groups(image)
        values = [GObject.Value(Gimp.PDBStatusType, Gimp.PDBStatusType.SUCCESS)]
        for (rtype, _, _), value in zip(spec.results, results):
            values.append(GObject.Value(self._gtype_of(rtype), value))
        return Gimp.ValueArray.new_from_values(values)

    def _gtype_of(self, rtype):
        Gimp, GObject = self.Gimp, self.GObject
        return {PF_LAYER: Gimp.Layer, PF_CHANNEL: Gimp.Channel, PF_DRAWABLE: Gimp.Drawable,
                PF_IMAGE: Gimp.Image,
                PF_FLOAT: GObject.TYPE_DOUBLE, PF_SLIDER: GObject.TYPE_DOUBLE,
                PF_TOGGLE: GObject.TYPE_BOOLEAN,
                PF_INT32: GObject.TYPE_INT}.get(rtype, GObject.TYPE_STRING)

    # -- gimp.* ------------------------------------------------------------------------------------
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

    # -- items and pixels --------------------------------------------------------------------------
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

    def siblings(self, image, item):
        parent = item.get_parent()
        return list(parent.get_children() if parent is not None else image.get_layers())

    def read_mask(self, image, item, drawable):
        Gegl = self.Gegl
        w, h = drawable.get_width(), drawable.get_height()
        _, ox, oy = drawable.get_offsets()
        _, ix, iy = item.get_offsets()
        rgba = item.get_buffer().get(Gegl.Rectangle.new(ox - ix, oy - iy, w, h), 1.0, "R'G'B'A u8",
                                     Gegl.AbyssPolicy.NONE)
        return bytes(rgba[3::4])

    def get_parasite(self, item, name):
        parasite = item.get_parasite(name)
        if parasite is None:
            return None
        return array.array("b", parasite.get_data()).tobytes()

    def set_parasite(self, item, name, data):
        Gimp = self.Gimp
        flags = Gimp.PARASITE_PERSISTENT | Gimp.PARASITE_UNDOABLE
        item.attach_parasite(Gimp.Parasite.new(name, flags, array.array("b", data).tolist()))

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
                              "Fix: click the layer's thumbnail (left of the mask) and run it "
                              "again.")
        if isinstance(drawable, Gimp.Channel):
            raise PluginError(f"The channel '{drawable.get_name()}' is selected. "
                              "Fix: select a layer in the Layers dialog.")
        if drawable.is_group():
            raise PluginError(f"'{drawable.get_name()}' is a layer group. Fix: select one of the "
                              "layers inside it.")
        if drawable.is_indexed():
            raise PluginError("The image is in indexed colour. Fix: Image › Mode › RGB, then run "
                              "it again.")

    def _layout(self, drawable):
        """(dtype, channels, gray, has_alpha, babl format name) to read and write the drawable with.

        The name is the drawable's own babl format (its precision, TRC and colour space, e.g.
        "R'G'B'A u16" or "R'G'B'A u16-<space>" for an image with its own profile), so u8, u16 and
        float pixels travel byte for byte. Half, u32 and double go as float32 in the same TRC and
        space (babl converts)."""
        Babl = self.Babl
        fmt = drawable.get_format()
        model, _, ctype = Babl.format_get_encoding(fmt).rpartition(" ")
        gray = drawable.is_gray()
        alpha = bool(Babl.format_has_alpha(fmt))
        channels = Babl.format_get_n_components(fmt)
        if channels != (1 if gray else 3) + (1 if alpha else 0):
            raise PluginError(f"The layer '{drawable.get_name()}' has an unexpected pixel format "
                              f"({Babl.get_name(fmt)}). Fix: Image › Mode › RGB, then run it "
                              "again.")
        dtype = {"u8": "uint8", "u16": "uint16", "float": "float32"}.get(ctype)
        if dtype is not None:
            return dtype, channels, gray, alpha, Babl.get_name(fmt)
        as_float = Babl.format_with_space(model + " float", Babl.format_get_space(fmt))
        return "float32", channels, gray, alpha, Babl.get_name(as_float)

    def read_pixels(self, drawable):
        Gegl = self.Gegl
        dtype, channels, gray, alpha, fmt = self._layout(drawable)
        w, h = drawable.get_width(), drawable.get_height()
        data = drawable.get_buffer().get(Gegl.Rectangle.new(0, 0, w, h), 1.0, fmt,
                                         Gegl.AbyssPolicy.NONE)
        return Pixels(data, w, h, channels, dtype, gray, alpha, fmt)

    def read_selection(self, image, drawable):
        Gimp, Gegl = self.Gimp, self.Gegl
        if Gimp.Selection.is_empty(image):
            return None
        w, h = drawable.get_width(), drawable.get_height()
        _, ox, oy = drawable.get_offsets()
        return image.get_selection().get_buffer().get(Gegl.Rectangle.new(ox, oy, w, h), 1.0,
                                                      "Y float", Gegl.AbyssPolicy.NONE)

    def _insert_above(self, image, drawable, layer, fmt, data, above):
        """Fill the new layer, then put it just above `above` (its group) at `drawable`'s offsets;
        nothing is left behind when that fails."""
        try:
            self._write(layer, 0, 0, layer.get_width(), layer.get_height(), fmt, data)
        except Exception:
            layer.delete()
            raise
        image.insert_layer(layer, above.get_parent(), image.get_item_position(above))
        _, ox, oy = drawable.get_offsets()
        layer.set_offsets(ox, oy)
        layer.update(0, 0, layer.get_width(), layer.get_height())

    def _write(self, drawable, x, y, w, h, fmt, data):
        Gegl = self.Gegl
        buf = drawable.get_buffer()
        buf.set(Gegl.Rectangle.new(x, y, w, h), fmt, data)
        buf.flush()

    def new_layer_like(self, image, drawable, name, pixels, above):
        Gimp = self.Gimp
        w, h = drawable.get_width(), drawable.get_height()
        if (pixels.width, pixels.height) != (w, h):
            raise ValueError(f"pixels {pixels.shape} do not fit layer {h}x{w}")
        layer = Gimp.Layer.new(image, name, w, h, drawable.type(), 100.0, Gimp.LayerMode.NORMAL)
        self._insert_above(image, drawable, layer, pixels.format, pixels.data, above)
        return layer

    def _mask_format(self, image):
        Gimp = self.Gimp
        gray = image.get_base_type() == Gimp.ImageBaseType.GRAY
        return gray, ((Gimp.ImageType.GRAYA_IMAGE, "Y'A u8") if gray else
                      (Gimp.ImageType.RGBA_IMAGE, "R'G'B'A u8"))

    def write_mask(self, image, layer, mask, rgb):
        """Through the shadow buffer, so that GIMP records an undo step for it."""
        Gegl = self.Gegl
        gray, (_, fmt) = self._mask_format(image)
        w, h = layer.get_width(), layer.get_height()
        shadow = layer.get_shadow_buffer()
        shadow.set(Gegl.Rectangle.new(0, 0, w, h), fmt, mask_layer_bytes(mask, rgb, gray))
        shadow.flush()
        layer.merge_shadow(True)
        layer.update(0, 0, w, h)

    def new_mask_layer(self, image, drawable, name, mask, rgb, above):
        Gimp = self.Gimp
        w, h = drawable.get_width(), drawable.get_height()
        gray, (ltype, fmt) = self._mask_format(image)
        data = mask_layer_bytes(mask, rgb, gray)
        layer = Gimp.Layer.new(image, name, w, h, ltype, 100.0, Gimp.LayerMode.NORMAL)
        self._insert_above(image, drawable, layer, fmt, data, above)
        return layer

"""What the gimpfu shim (gimpfu_shim.py) and its GIMP 3 backend (gimpfu_gimp.py) both need: gimpfu's
parameter types, PluginError, Pixels, the procedure specs register() makes, and how a plug-in
function is called. Imports go one way only: gimpfu_shim -> gimpfu_gimp -> gimpfu_types (no
circle)."""
from __future__ import annotations

import traceback

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

    def replace(self, data) -> Pixels:
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
        self.enables = {}            # {parameter: toggle that enables it} (register)

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def dialog_values(self, current: dict) -> dict:
        """What the INTERACTIVE dialog starts from: `current`, with each parameter still at its
        registered default replaced by what spec.dialog_defaults() says is in use (e.g. the
        detector's own threshold on the sensitivity slider). Nothing is replaced when that call
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


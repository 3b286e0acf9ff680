"""The Krita plug-in against a fake `krita` module (fast; no Krita needed).

The fake stores layers in Krita's native byte layouts (integer RGBA as BGRA, F16 as half floats,
GRAYA as Y,A), encoded here with numpy independently of the plug-in's own stdlib conversions, so the
two cross-check. The worker is the real one (this interpreter), through the real protocol.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import stat
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from conftest import near, photo_scratched, rect_mask

if not os.environ.get("DISPLAY"):  # no X (and no pytest-xvfb): Qt widgets still work offscreen
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "krita_plugin" / "unscratch_krita"
H, W = (
    128,
    160,
)  # photo_scratched's size for a detector that tells damage from thin picture structure
RECT = (
    16,
    40,
    80,
    48,
)  # x, y, w, h; its scratch is in rows 57-73, columns 19-140, its speck at (32, 53)


# ------------------------------------------------------------------------------------- native
# layouts
NATIVE = {"U8": np.uint8, "U16": np.dtype("<u2"), "F16": np.dtype("<f2"), "F32": np.dtype("<f4")}


def encode(img: np.ndarray, model: str, depth: str) -> bytes:
    """RGBA / YA array (float in [0,1] or the depth's integer type) -> Krita's native bytes."""
    a = np.asarray(img)
    if a.dtype.kind == "f" and depth in ("U8", "U16"):
        a = np.rint(a * np.iinfo(NATIVE[depth]).max)
    a = a.astype(NATIVE[depth])
    if model == "RGBA" and depth in ("U8", "U16"):
        a = a[:, :, [2, 1, 0, 3]]
    return np.ascontiguousarray(a).tobytes()


def decode(data: bytes, model: str, depth: str, h=H, w=W) -> np.ndarray:
    ch = 4 if model == "RGBA" else 2
    a = np.frombuffer(bytes(data), NATIVE[depth]).reshape(h, w, ch)
    return a[:, :, [2, 1, 0, 3]] if model == "RGBA" and depth in ("U8", "U16") else a


def make_image(model: str, depth: str, seed=0):
    """(native bytes of the damaged image, clean float RGB/Y, truth mask) at the given format."""
    dmg, clean, truth = photo_scratched(H, W, 3, np.float32, seed=seed)
    if model == "GRAYA":
        dmg, clean = dmg @ [0.299, 0.587, 0.114], clean @ [0.299, 0.587, 0.114]
        img = np.dstack([dmg, np.ones((H, W))])
    else:
        img = np.dstack([dmg, np.ones((H, W))])
    return encode(img, model, depth), clean, truth


# ------------------------------------------------------------------------------------- the fake
# krita
class FakeSelection:
    def __init__(self, w=W, h=H):
        self.w, self.h = w, h
        self.data = bytearray(w * h)

    def select(self, x, y, w, h, value):
        a = np.zeros((self.h, self.w), np.uint8)
        a[y : y + h, x : x + w] = value
        self.data = bytearray(a.tobytes())

    def pixelData(self, x, y, w, h):
        assert (x, y, w, h) == (0, 0, self.w, self.h)
        return bytes(self.data)

    def setPixelData(self, data, x, y, w, h):
        assert (x, y, w, h) == (0, 0, self.w, self.h)
        self.data = bytearray(data)


class FakeNode:
    PIXEL = {"U8": 1, "U16": 2, "F16": 2, "F32": 4}

    def __init__(self, doc, name, kind="paintlayer", model="RGBA", depth="U8", data=None):
        self.doc, self._name, self.kind, self.model, self.depth = doc, name, kind, model, depth
        self.parent = None
        self.children: list[FakeNode] = []
        self._visible = True
        channels = 4 if model == "RGBA" else 2 if model == "GRAYA" else 5
        size = doc.w * doc.h * self.PIXEL[depth] * channels
        self.data = bytearray(data if data is not None else bytes(size))
        self.writes = 0  # setPixelData calls while attached: not undoable in Krita
        FakeNode.count += 1
        self.uid = f"{{fake-{FakeNode.count}}}"

    count = 0

    def uniqueId(self):
        return self.uid

    def name(self):
        return self._name

    def setName(self, name):
        self._name = name

    def type(self):
        return self.kind

    def colorModel(self):
        return self.model

    def colorDepth(self):
        return self.depth

    def colorProfile(self):
        return "fake-profile"

    def setColorSpace(self, model, depth, profile):
        self.model, self.depth = model, depth
        channels = 4 if model == "RGBA" else 2
        self.data = bytearray(self.doc.w * self.doc.h * self.PIXEL[depth] * channels)
        return True

    def visible(self):
        return self._visible

    def setVisible(self, v):
        self._visible = v

    def pixelData(self, x, y, w, h):
        assert (x, y, w, h) == (0, 0, self.doc.w, self.doc.h)
        return bytes(self.data)

    def setPixelData(self, data, x, y, w, h):
        assert (x, y, w, h) == (0, 0, self.doc.w, self.doc.h)
        assert len(data) == len(self.data)
        if self.parent is not None:
            self.writes += 1
        self.data = bytearray(data)

    def parentNode(self):
        return self.parent

    def childNodes(self):
        return list(self.children)

    def addChildNode(self, child, above):
        index = 0 if above is None else self.children.index(above) + 1
        self.children.insert(index, child)
        child.parent = self
        self.doc.undo.append(("add", child.name()))
        return True


class FakeDocument:
    def __init__(self, w=W, h=H, model="RGBA", depth="U8"):
        self.w, self.h, self.model, self.depth = w, h, model, depth
        self.root = FakeNode(self, "root", "grouplayer", model, depth)
        self._selection = None
        self.active = None
        self.undo = []

    def add_layer(self, name, data, model=None, depth=None):
        node = FakeNode(self, name, "paintlayer", model or self.model, depth or self.depth, data)
        self.root.addChildNode(node, self.root.children[-1] if self.root.children else None)
        self.undo.clear()
        self.active = node
        return node

    def width(self):
        return self.w

    def height(self):
        return self.h

    def activeNode(self):
        return self.active

    def setActiveNode(self, node):
        self.active = node

    def selection(self):
        if self._selection is None:
            return None
        copy = FakeSelection(self.w, self.h)
        copy.data = bytearray(self._selection.data)
        return copy

    def setSelection(self, sel):
        self._selection = sel

    def createNode(self, name, kind):
        return FakeNode(self, name, kind, self.model, self.depth)

    def rootNode(self):
        return self.root

    def topLevelNodes(self):
        return list(self.root.children)

    def refreshProjection(self):
        pass

    def waitForDone(self):
        pass


def make_fake_krita():
    from PyQt5.QtCore import QObject
    from PyQt5.QtWidgets import QAction, QDockWidget

    mod = types.ModuleType("krita")

    class Window:
        def __init__(self, app):
            self.app = app
            self.menus = {}

        def createAction(self, name, text, menu):
            action = QAction(text)
            action.setObjectName(name)
            self.app.actions[name] = action
            self.menus.setdefault(menu, []).append(name)
            return action

        def qwindow(self):
            return None

        def activeView(self):
            return None

    class Krita:
        _instance = None

        def __init__(self):
            self.actions, self.settings, self.extensions, self.factories = {}, {}, [], []
            self.document = None
            self._batch = True
            self.window = Window(self)

        @classmethod
        def instance(cls):
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

        def action(self, name):
            return self.actions.get(name)

        def activeDocument(self):
            return self.document

        def activeWindow(self):
            return self.window

        def batchmode(self):
            return self._batch

        def setBatchmode(self, value):
            self._batch = value

        def readSetting(self, group, key, default):
            return self.settings.get((group, key), default)

        def writeSetting(self, group, key, value):
            self.settings[(group, key)] = value

        def addExtension(self, ext):
            self.extensions.append(ext)

        def addDockWidgetFactory(self, factory):
            self.factories.append(factory)

    class Extension(QObject):
        def __init__(self, parent=None):
            super().__init__()

    class DockWidgetFactoryBase:
        DockRight = 2

    class DockWidgetFactory:
        def __init__(self, _id, pos, klass):
            self.id, self.pos, self.klass = _id, pos, klass

    mod.Krita, mod.Extension, mod.DockWidget = Krita, Extension, QDockWidget
    mod.DockWidgetFactory, mod.DockWidgetFactoryBase = DockWidgetFactory, DockWidgetFactoryBase
    mod.Selection = FakeSelection
    return mod


@pytest.fixture
def plugin(qapp, monkeypatch):
    """The plug-in package loaded (as unscratch_krita) against a fresh fake krita, worker = this
    Python."""
    fake = make_fake_krita()
    monkeypatch.setitem(sys.modules, "krita", fake)
    for name in [
        m for m in sys.modules if m == "unscratch_krita" or m.startswith("unscratch_krita.")
    ]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setenv("UNSCRATCH_PYTHON", sys.executable)
    spec = importlib.util.spec_from_file_location(
        "unscratch_krita", PLUGIN / "__init__.py", submodule_search_locations=[str(PLUGIN)]
    )
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "unscratch_krita", module)
    spec.loader.exec_module(module)
    ns = types.SimpleNamespace(
        module=module,
        krita=fake,
        app=fake.Krita.instance(),
        host=sys.modules["unscratch_krita.host"],
        pixels=sys.modules["unscratch_krita.pixels"],
        layers=sys.modules["unscratch_krita.layers"],
        marks=sys.modules["unscratch_krita.marks"],
    )
    yield ns


def document(plugin, model="RGBA", depth="U8", select=255, seed=0):
    data, clean, truth = make_image(model, depth, seed)
    doc = FakeDocument(model=model, depth=depth)
    src = doc.add_layer("Background", data)
    if select is not None:
        sel = FakeSelection()
        sel.select(*RECT, select)
        doc.setSelection(sel)
    plugin.app.document = doc
    return doc, src, clean, truth


def inside() -> np.ndarray:
    return rect_mask(RECT, (H, W))


class RecordingUI:
    def __init__(self, cancel_after=None):
        self.errors, self.infos, self.updates, self.polls = [], [], [], 0
        self.cancel_after = cancel_after

    def progress(self, title, label):
        ui = self

        class P:
            def __enter__(self):
                return self

            def __exit__(self, *a):
                return False

            def update(self, f):
                ui.updates.append(f)

            def cancelled(self):
                ui.polls += 1
                return ui.cancel_after is not None and ui.polls > ui.cancel_after

        return P()

    def error(self, title, text, details=None):
        self.errors.append(text)

    def info(self, title, text):
        self.infos.append(text)


def as_float(a: np.ndarray, depth: str) -> np.ndarray:
    a = a.astype(np.float64)
    return a / 255.0 if depth == "U8" else a / 65535.0 if depth == "U16" else a


# ------------------------------------------------------------------------------------- pixels.py
FORMATS = [(m, d) for m in ("RGBA", "GRAYA") for d in ("U8", "U16", "F16", "F32")]


@pytest.mark.parametrize("model,depth", FORMATS)
def test_conversions_round_trip_bit_identically(plugin, model, depth):
    rng = np.random.default_rng(1)
    ch = 4 if model == "RGBA" else 2
    if depth in ("U8", "U16"):
        img = rng.integers(0, np.iinfo(NATIVE[depth]).max + 1, (H, W, ch)).astype(NATIVE[depth])
    else:
        img = rng.random((H, W, ch)).astype(NATIVE[depth])
        img[0, 0, 0], img[0, 1, 0] = 0.0, 1.0
    native = encode(img, model, depth)
    fmt = plugin.pixels.Format(model, depth)
    data, shape, dtype = fmt.to_worker(native, W, H)
    arr = np.frombuffer(data, dtype).reshape(shape)
    expect = img  # gray+alpha goes as HxWx2; the worker repairs only the gray plane
    assert dtype == {"U8": "uint8", "U16": "uint16"}.get(depth, "float32")
    assert np.array_equal(arr, expect.astype(arr.dtype)), "channel order / values"
    assert fmt.from_worker(data, native, W, H) == native, "not bit-identical on the way back"


def test_from_worker_keeps_the_original_alpha(plugin):
    fmt = plugin.pixels.Format("RGBA", "U16")
    img = np.zeros((H, W, 4), np.uint16)
    img[..., 3] = 1234
    native = encode(img, "RGBA", "U16")
    restored = np.full((H, W, 4), 999, np.uint16)  # even if a worker touched alpha
    back = decode(fmt.from_worker(restored.tobytes(), native, W, H), "RGBA", "U16")
    assert (back[..., :3] == 999).all() and (back[..., 3] == 1234).all()


def test_patch_holds_only_changed_pixels(plugin):
    fmt = plugin.pixels.Format("RGBA", "F32")
    a = np.random.default_rng(2).random((H, W, 4)).astype("<f4")
    b = a.copy()
    b[5, 7, 1] += 0.25
    b[40, 3, 3] = 0.5
    patch, changed = fmt.patch(b.tobytes(), a.tobytes())
    p = np.frombuffer(patch, "<f4").reshape(H, W, 4)
    assert changed == 2
    assert np.array_equal(p[5, 7], b[5, 7]) and np.array_equal(p[40, 3], b[40, 3])
    p2 = p.copy()
    p2[5, 7] = p2[40, 3] = 0
    assert not p2.any()
    assert fmt.patch(a.tobytes(), a.tobytes()) == (bytes(a.nbytes), 0)


@pytest.mark.parametrize("model,depth", FORMATS)
def test_overlay_is_red_where_detected(plugin, model, depth):
    mask = np.zeros((H, W), np.uint8)
    mask[3, 4] = mask[10, 20:30] = 255
    out = decode(plugin.pixels.Format(model, depth).overlay(mask.tobytes(), W, H), model, depth)
    f = as_float(out, depth)
    expect = [1, 0, 0, 1] if model == "RGBA" else [1, 1]
    assert np.allclose(f[mask > 0], expect) and not f[mask == 0].any()


@pytest.mark.parametrize(
    "model,depth,word",
    [("CMYKA", "U8", "CMYK"), ("LABA", "U16", "L*a*b*"), ("RGBA", "U32", "depth U32")],
)
def test_unsupported_formats_say_what_to_do(plugin, model, depth, word):
    with pytest.raises(plugin.pixels.UnsupportedLayer) as info:
        plugin.pixels.Format(model, depth)
    assert word in str(info.value)


def test_empty_selection_is_no_region(plugin):
    assert plugin.pixels.selection_region(bytes(W * H), W, H) is None
    data = bytearray(W * H)
    data[5] = 7
    assert plugin.pixels.selection_region(bytes(data), W, H) == (bytes(data), (H, W), "uint8")


def test_plugin_needs_only_stdlib_pyqt5_and_krita():
    allowed = set(sys.stdlib_module_names) | {
        "PyQt5",
        "krita",
        "__future__",
        # the plug-in package itself (scenario scripts)
        "unscratch_krita",
        # the core's stdlib modules, from the source tree
        "unscratch",
        # the scenarios' shared helpers, beside them (checked here too)
        "scenario_kit",
    }
    for path in list(PLUGIN.glob("*.py")) + list((REPO / "krita_plugin" / "testing").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


# ------------------------------------------------------------------------------------- host.py
@pytest.mark.parametrize(
    "model,depth",
    [
        ("RGBA", "U8"),
        ("RGBA", "U16"),
        ("RGBA", "F16"),
        ("RGBA", "F32"),
        ("GRAYA", "U8"),
        ("GRAYA", "U16"),
        ("GRAYA", "F32"),
    ],
)
def test_restore_selection_new_layer_above_in_one_undo_step(plugin, model, depth):
    doc, src, clean, truth = document(plugin, model, depth)
    original = bytes(src.data)
    ui = RecordingUI()
    result = plugin.host.run("restore", doc, ui=ui)
    assert result.ok and not ui.errors and ui.updates and ui.updates[-1] == 1.0
    names = [n.name() for n in doc.topLevelNodes()]
    assert names == ["Background", "Background (restored)"]
    assert doc.undo == [("add", "Background (restored)")], "exactly one undoable step"
    assert bytes(src.data) == original and src.writes == 0, "the source layer is untouched"
    new = doc.topLevelNodes()[1]
    assert (new.colorModel(), new.colorDepth()) == (model, depth)
    assert new.writes == 0, "the new layer was filled before it was inserted"
    layer, source = decode(new.data, model, depth), decode(original, model, depth)
    alpha = as_float(layer[:, :, -1], depth)
    assert not alpha[~inside()].any(), "pixels outside the selection"
    fixed = np.where(alpha[:, :, None] > 0, as_float(layer, depth), as_float(source, depth))[
        :, :, :-1
    ]
    ref = clean if model == "RGBA" else clean[:, :, None]
    sel = truth & inside()
    before = np.abs(as_float(source, depth)[:, :, :-1][sel] - ref[sel]).mean()
    after = np.abs(fixed[sel] - ref[sel]).mean()
    assert before > 0.3 and after < 0.1 * 3, (before, after)
    assert doc.activeNode() is src


def test_no_selection_means_the_whole_layer(plugin):
    doc, src, clean, truth = document(plugin, select=None)
    result = plugin.host.run("restore", doc, ui=RecordingUI())
    assert result.ok
    alpha = decode(doc.topLevelNodes()[1].data, "RGBA", "U8")[:, :, 3]
    assert (alpha[truth] > 0).mean() > 0.8 and (alpha[truth & ~inside()] > 0).any()


def test_soft_selection_blends(plugin):
    hard_doc, *_ = document(plugin)
    plugin.host.run("restore", hard_doc, ui=RecordingUI())
    soft_doc, src, *_ = document(plugin, select=128)
    plugin.host.run("restore", soft_doc, ui=RecordingUI())
    s = decode(src.data, "RGBA", "U8").astype(float)
    hard = decode(hard_doc.topLevelNodes()[1].data, "RGBA", "U8").astype(float)
    soft = decode(soft_doc.topLevelNodes()[1].data, "RGBA", "U8").astype(float)
    moved = soft[:, :, 3] > 0
    ratio = (
        np.abs(soft[moved][:, :3] - s[moved][:, :3]).sum()
        / np.abs(hard[moved][:, :3] - s[moved][:, :3]).sum()
    )
    assert 0.3 < ratio < 0.7


def test_fill_heals_the_selection_and_needs_one(plugin):
    doc, src, *_ = document(plugin, "RGBA", "U16")
    assert plugin.host.run("fill", doc, ui=RecordingUI()).ok
    new = doc.topLevelNodes()[1]
    assert new.name() == "Background (filled)" and new.colorDepth() == "U16"
    assert (decode(new.data, "RGBA", "U16")[:, :, 3][inside()] > 0).mean() > 0.9
    doc, *_ = document(plugin, select=None)
    ui = RecordingUI()
    result = plugin.host.run("fill", doc, ui=ui)
    assert not result.ok and "needs a selection" in ui.errors[0] and len(doc.topLevelNodes()) == 1


def test_detect_to_layer_and_to_selection(plugin):
    doc, src, clean, truth = document(plugin)
    result = plugin.host.run("detect", doc, ui=RecordingUI())
    assert result.ok and result.layer_name == "Background (scratches)" and result.defect_pixels > 0
    assert f"Marked {result.defect_pixels} pixels inside the selection" in result.message
    assert doc.activeNode() is src, "Detect leaves the photo active"
    layer = decode(doc.topLevelNodes()[1].data, "RGBA", "U8")
    found = layer[:, :, 3] > 0
    assert found.sum() == result.defect_pixels
    assert found[truth & inside()].mean() > 0.8 and not found[~inside()].any()
    assert (layer[found][:, :3] == [255, 0, 0]).all()
    # Restore with the marks layer active works on the photo under it
    doc.setActiveNode(doc.topLevelNodes()[1])
    assert plugin.host.run("restore", doc, ui=RecordingUI()).source_name == "Background"
    doc2, *_ = document(plugin)
    as_selection = plugin.host.Settings(detect_output="selection")
    result = plugin.host.run("detect", doc2, settings=as_selection, ui=RecordingUI())
    assert result.ok and len(doc2.topLevelNodes()) == 1
    assert np.array_equal(
        np.frombuffer(doc2.selection().pixelData(0, 0, W, H), np.uint8).reshape(H, W) > 0, found
    )


def test_threshold_and_method_reach_the_worker(plugin):
    doc, *_ = document(plugin)
    low = plugin.host.run(
        "detect",
        doc,
        settings=plugin.host.Settings(threshold=0.05, method="classical"),
        ui=RecordingUI(),
    )
    doc, *_ = document(plugin)
    high = plugin.host.run(
        "detect",
        doc,
        settings=plugin.host.Settings(threshold=1.0, method="classical"),
        ui=RecordingUI(),
    )
    assert low.defect_pixels > high.defect_pixels
    doc, *_ = document(plugin)
    ui = RecordingUI()
    bad = plugin.host.run("detect", doc, settings=plugin.host.Settings(method="nonsense"), ui=ui)
    assert not bad.ok and "method" in ui.errors[0]


def test_layer_choice(plugin):
    doc, src, *_ = document(plugin)
    doc.setActiveNode(None)
    # scripts / kritarunner: topmost visible paint layer
    assert plugin.layers.find_paint_layer(doc) is src
    mask = FakeNode(doc, "Selection Mask", "selectionmask", "A", "U8")
    doc.root.addChildNode(mask, src)
    doc.setActiveNode(mask)
    assert plugin.layers.find_paint_layer(doc) is src  # the global selection mask is active
    local = FakeNode(doc, "Transparency Mask", "transparencymask", "A", "U8")
    src.addChildNode(local, None)
    doc.setActiveNode(local)
    assert plugin.layers.find_paint_layer(doc) is src  # a mask on the layer: its layer
    group = FakeNode(doc, "Group", "grouplayer")
    doc.root.addChildNode(group, mask)
    doc.setActiveNode(group)
    ui = RecordingUI()
    assert not plugin.host.run("restore", doc, ui=ui).ok
    assert "'Group' is a grouplayer, not a paint layer" in ui.errors[0]


def test_unsupported_layer_is_an_error_box_not_an_exception(plugin):
    doc = FakeDocument(model="CMYKA", depth="U8")
    doc.add_layer("Scan", None)
    ui = RecordingUI()
    result = plugin.host.run("restore", doc, ui=ui)
    assert not result.ok and "CMYK" in ui.errors[0] and "Convert Image Color Space" in ui.errors[0]
    assert len(doc.topLevelNodes()) == 1
    ui = RecordingUI()
    assert not plugin.host.run("restore", None, ui=ui).ok and "no image is open" in ui.errors[0]


def test_missing_worker_python_says_how_to_fix(plugin, monkeypatch, tmp_path):
    monkeypatch.setenv("UNSCRATCH_PYTHON", str(tmp_path / "gone" / "python"))
    doc, *_ = document(plugin)
    ui = RecordingUI()
    assert not plugin.host.run("restore", doc, ui=ui).ok
    assert "unscratch install" in ui.errors[0] and "krita" in ui.errors[0]


def _script(tmp_path, name, body):
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_cancel_kills_a_hung_worker_and_changes_nothing(plugin, monkeypatch, tmp_path):
    monkeypatch.setenv("UNSCRATCH_PYTHON", _script(tmp_path, "hang", "exec sleep 600"))
    doc, src, *_ = document(plugin)
    ui = RecordingUI(cancel_after=5)
    result = plugin.host.run("restore", doc, ui=ui)
    assert result.cancelled and not result.ok and not ui.errors and len(doc.topLevelNodes()) == 1
    assert result.seconds < 10


def test_crashing_worker_is_reported(plugin, monkeypatch, tmp_path):
    monkeypatch.setenv(
        "UNSCRATCH_PYTHON",
        _script(tmp_path, "crash", "echo 'boom in inference' >&2; kill -SEGV $$"),
    )
    doc, *_ = document(plugin)
    ui = RecordingUI()
    result = plugin.host.run("restore", doc, ui=ui)
    assert not result.ok
    assert "exited with code -11" in ui.errors[0] and "boom in inference" in ui.errors[0]
    assert len(doc.topLevelNodes()) == 1


def test_busy_guard(plugin):
    doc, *_ = document(plugin)
    plugin.host._busy = True
    try:
        ui = RecordingUI()
        assert not plugin.host.run("restore", doc, ui=ui).ok and "already working" in ui.errors[0]
    finally:
        plugin.host._busy = False


def test_nothing_found_adds_no_layer_and_says_so(plugin):
    doc = FakeDocument()
    doc.add_layer("Flat", encode(np.full((H, W, 4), 0.5), "RGBA", "U8"))
    plugin.app.document = doc
    ui = RecordingUI()
    result = plugin.host.run("restore", doc, ui=ui)
    assert result.ok and result.layer_name is None and len(doc.topLevelNodes()) == 1
    assert ui.infos[0].startswith("Nothing repaired: ") and "No layer was added." in ui.infos[0]
    assert "Fix:" in ui.infos[0]
    assert "there is no layer 'Flat (scratches)'" in ui.infos[0]


# ------------------------------------------------------------------------------------- extension,
# docker, dialogs
def test_registration_actions_and_trigger(plugin):
    app = plugin.app
    assert len(app.extensions) == 1 and [f.id for f in app.factories] == ["unscratch_docker"]
    app.extensions[0].createActions(app.window)
    names = ("unscratch_detect", "unscratch_restore_selection", "unscratch_fill_selection")
    assert app.window.menus == {"tools/scripts": list(names)}
    assert [app.action(n).text() for n in names] == [
        "Detect scratches",
        "Restore selection",
        "Fill selection",
    ]
    doc, *_ = document(plugin)
    app.action("unscratch_restore_selection").trigger()
    assert [n.name() for n in doc.topLevelNodes()] == ["Background", "Background (restored)"]
    app.action("unscratch_fill_selection").trigger()
    app.action("unscratch_detect").trigger()
    # each new layer goes on top of the photo's stack, above the earlier results
    assert [n.name() for n in doc.topLevelNodes()] == [
        "Background",
        "Background (restored)",
        "Background (filled)",
        "Background (scratches)",
    ]


def test_actions_read_the_docker_settings(plugin):
    app = plugin.app
    app.extensions[0].createActions(app.window)
    plugin.host.Settings(threshold=1.0, method="classical").save(app)
    doc, *_ = document(plugin)
    app.action("unscratch_detect").trigger()
    high = plugin.host.last_result.defect_pixels
    plugin.host.Settings(threshold=0.05, method="classical").save(app)
    doc, *_ = document(plugin)
    app.action("unscratch_detect").trigger()
    assert plugin.host.last_result.defect_pixels > high


def test_docker_controls(plugin, qtbot):
    app = plugin.app
    dock = app.factories[0].klass()
    qtbot.addWidget(dock)
    assert dock.windowTitle() == "Unscratch" and dock.auto_threshold.isChecked()
    dock.auto_threshold.setChecked(False)
    dock.threshold.setValue(0.3)
    dock.mode.setCurrentIndex(dock.mode.findData("fill"))
    dock.output.setCurrentIndex(dock.output.findData("selection"))
    s = plugin.host.Settings.load(app)
    assert (s.threshold, s.mode, s.detect_output) == (0.3, "fill", "selection")
    again = app.factories[0].klass()
    qtbot.addWidget(again)
    assert again.settings().__dict__ == s.__dict__
    doc, *_ = document(plugin)
    dock.restore_button.click()  # mode fill
    assert plugin.host.last_result.op == "fill" and plugin.host.last_result.ok
    assert "Healed" in dock.status.text() and "Fill selection" in dock.status.text()
    dock.detect_button.click()  # to the selection
    assert plugin.host.last_result.op == "detect" and len(doc.topLevelNodes()) == 2
    dock.canvasChanged(None)


def test_qt_progress_dialog_and_message_box(plugin, qtbot, monkeypatch):
    from PyQt5.QtWidgets import QMessageBox

    ui_mod = importlib.import_module("unscratch_krita.ui")
    ui = ui_mod.QtUI()
    with ui.progress("Unscratch: Restore selection", "Repairing") as bar:
        bar.update(0.5)
        assert bar.dialog.value() == 500 and bar.dialog.isVisible() and not bar.cancelled()
        bar.dialog.cancel()
        assert bar.cancelled()
    shown = []
    monkeypatch.setattr(
        QMessageBox,
        "exec_",
        lambda self: shown.append((self.windowTitle(), self.text(), self.detailedText())),
    )
    ui.error(
        "Unscratch: Restore selection",
        "Restore selection failed: the worker crashed",
        "Traceback ...",
    )
    assert shown == [
        (
            "Unscratch: Restore selection",
            "Restore selection failed: the worker crashed",
            "Traceback ...",
        )
    ]


def test_interactive_action_shows_errors_in_a_message_box(plugin, monkeypatch):
    from PyQt5.QtWidgets import QMessageBox

    shown = []
    monkeypatch.setattr(QMessageBox, "exec_", lambda self: shown.append(self.text()))
    app = plugin.app
    app.setBatchmode(False)
    app.extensions[0].createActions(app.window)
    document(plugin, select=None)
    app.action("unscratch_fill_selection").trigger()
    assert len(shown) == 1 and "needs a selection" in shown[0]


# ------------------------------------------------------------------------------------- install /
# uninstall
@pytest.fixture
def krita_env(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "APPDATA", "LOCALAPPDATA"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    return home


def test_install_into_home_and_uninstall(krita_env):
    from unscratch import hostkit, install_krita, protocol

    path = install_krita.install(None)
    pykrita = krita_env / ".local" / "share" / "krita" / "pykrita"
    assert path == pykrita
    desktop = REPO / "krita_plugin" / "unscratch_krita.desktop"
    assert (pykrita / "unscratch_krita.desktop").read_text() == desktop.read_text()
    for f in PLUGIN.glob("*.py"):
        assert (pykrita / "unscratch_krita" / f.name).read_bytes() == f.read_bytes()
    installed = pykrita / "unscratch_krita"
    assert (installed / "protocol.py").read_bytes() == Path(protocol.__file__).read_bytes()
    assert (installed / "hostkit.py").read_bytes() == Path(hostkit.__file__).read_bytes()
    assert not [f.name for f in installed.iterdir() if f.is_file() and "Fake" in f.read_text()]
    assert json.loads((installed / "unscratch_config.json").read_text())["python"] == sys.executable
    kritarc = krita_env / ".config" / "kritarc"
    assert kritarc.read_text() == "[python]\nenable_unscratch_krita=true\n"
    assert install_krita.install(None) == pykrita  # again: an update, same result
    assert not list(pykrita.glob(".unscratch-new-*"))
    assert install_krita.uninstall(None) == pykrita
    assert (
        not (pykrita / "unscratch_krita").exists()
        and not (pykrita / "unscratch_krita.desktop").exists()
    )
    assert kritarc.read_text() == ""
    assert install_krita.uninstall(None) is None


def test_install_honours_xdg_and_keeps_kritarc(krita_env, tmp_path, monkeypatch):
    from unscratch import install_krita

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    kritarc = tmp_path / "config" / "kritarc"
    kritarc.parent.mkdir()
    original = (
        "[General]\nDontUseNativeFileDialog=true\n\n[python]\n"
        "enable_comics_project_management_tools=true\n"
        "enable_unscratch_krita=false\n\n[MainWindow]\nState=AAAA/w==\n"
    )
    kritarc.write_text(original)
    assert install_krita.install(None) == tmp_path / "data" / "krita" / "pykrita"
    assert (tmp_path / "data" / "krita" / "pykrita" / "unscratch_krita" / "__init__.py").exists()
    assert kritarc.read_text() == original.replace(
        "enable_unscratch_krita=false", "enable_unscratch_krita=true"
    )
    assert not (krita_env / ".local").exists() and not (krita_env / ".config").exists()
    install_krita.uninstall(None)
    assert kritarc.read_text() == original.replace("enable_unscratch_krita=false\n", "")


def test_install_replaces_an_install_under_the_old_name(krita_env):
    """Earlier releases installed the package as pykrita/unscratch (enable_unscratch), which
    shadowed the core package; install and uninstall remove it, and leave another plug-in of that
    name."""
    from unscratch import install_krita

    pykrita = krita_env / ".local" / "share" / "krita" / "pykrita"
    (pykrita / "unscratch").mkdir(parents=True)
    (pykrita / "unscratch" / "host.py").write_text("# old\n")
    (pykrita / "unscratch.desktop").write_text(
        (REPO / "krita_plugin" / "unscratch_krita.desktop")
        .read_text()
        .replace("X-KDE-Library=unscratch_krita", "X-KDE-Library=unscratch")
    )
    kritarc = krita_env / ".config" / "kritarc"
    kritarc.parent.mkdir()
    kritarc.write_text("[python]\nenable_unscratch=true\n")
    install_krita.install(None)
    assert not (pykrita / "unscratch").exists() and not (pykrita / "unscratch.desktop").exists()
    assert kritarc.read_text() == "[python]\nenable_unscratch_krita=true\n"
    (pykrita / "unscratch.desktop").write_text(
        "[Desktop Entry]\nX-KDE-Library=unscratch\nName=Other\n"
    )
    install_krita.uninstall(None)
    assert (pykrita / "unscratch.desktop").exists(), "another plug-in's file was removed"


def test_kritarc_flag_edits(tmp_path):
    from unscratch.install_krita import kritarc_flag, set_kritarc_flag

    rc = tmp_path / "kritarc"
    rc.write_text("[General]\nx=1")  # no final newline
    assert set_kritarc_flag(rc, "enable_unscratch_krita", "true")
    assert rc.read_text() == "[General]\nx=1\n\n[python]\nenable_unscratch_krita=true\n"
    assert not set_kritarc_flag(rc, "enable_unscratch_krita", "true")
    assert kritarc_flag(rc) == "true"
    assert set_kritarc_flag(rc, "enable_unscratch_krita", None)
    assert rc.read_text() == "[General]\nx=1\n"
    rc.write_text("[python]\nenable_a=true\n\n[Other]\nk=v\n")
    set_kritarc_flag(rc, "enable_unscratch_krita", "true")
    assert (
        rc.read_text() == "[python]\nenable_a=true\nenable_unscratch_krita=true\n\n[Other]\nk=v\n"
    )


def test_install_dir_option_and_cli(krita_env, tmp_path):
    env = dict(os.environ, HOME=str(krita_env))
    target = tmp_path / "custom" / "pykrita"
    out = subprocess.run(
        [sys.executable, "-m", "unscratch", "install", "krita", "--dir", str(target)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert str(target) in out.stdout and (target / "unscratch_krita" / "host.py").exists()
    assert "enable_unscratch_krita=true" in (krita_env / ".config" / "kritarc").read_text()
    out = subprocess.run(
        [sys.executable, "-m", "unscratch", "uninstall", "krita", "--dir", str(target)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and not (target / "unscratch_krita").exists()


def test_installed_copy_finds_its_worker(krita_env, monkeypatch):
    """The installed package reads unscratch_config.json beside it (no UNSCRATCH_PYTHON needed)."""
    from unscratch import install_krita

    pykrita = install_krita.install(None)
    monkeypatch.delenv("UNSCRATCH_PYTHON", raising=False)
    spec = importlib.util.spec_from_file_location(
        "installed_unscratch.protocol", pykrita / "unscratch_krita" / "protocol.py"
    )
    proto = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(proto)
    assert proto.worker_python(str(pykrita / "unscratch_krita")) == sys.executable


def test_provision_script_is_valid_bash():
    script = REPO / "krita_plugin" / "provision.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0


# -------------------------------------------------------------- a selection is where the damage is
def test_selection_repairs_the_detectors_mask_at_its_threshold(plugin):
    doc, src, clean, truth = document(plugin)
    result = plugin.host.run("restore", doc, ui=RecordingUI())
    assert result.ok and result.rule == "selection" and 0 < result.threshold <= 1
    assert f"Repaired {result.changed_pixels} pixels" in result.message
    assert "inside the selection" in result.message
    assert "there is no layer 'Background (scratches)'" in result.message
    result = plugin.host.run(
        "restore", doc, settings=plugin.host.Settings(threshold=0.97), ui=RecordingUI()
    )
    assert result.threshold == 0.97 and "at sensitivity 0.97" in result.message


def _marks_layer(doc):
    return [n for n in doc.topLevelNodes() if n.name() == "Background (scratches)"][-1]


def _alpha(node, depth="U8"):
    return as_float(decode(node.data, "RGBA", depth)[:, :, 3], depth) >= 0.5


@pytest.mark.parametrize("depth", ["U8", "F16"])
def test_detect_edit_restore_repairs_what_is_left_of_the_marks(plugin, depth):
    """Detect → erase the left half of its marks → Restore (with Detect's layer active): exactly
    what is left of the marks is repaired (as given: a mask the user edits is not grown), and the
    marks layer is hidden to show it."""
    doc, src, clean, truth = document(plugin, depth=depth, select=None)
    assert plugin.host.run("detect", doc, ui=RecordingUI()).ok
    marks = _marks_layer(doc)
    layer = decode(marks.data, "RGBA", depth).copy()
    layer[:, :40, 3] = 0  # the user erases the marks on the left
    marks.data = bytearray(encode(layer, "RGBA", depth))
    left = as_float(layer[:, :, 3], depth) >= 0.5
    assert left.sum() > 20 and truth[:, :40].any()
    doc.setActiveNode(marks)  # what a user clicked last
    ui = RecordingUI()
    result = plugin.host.run("restore", doc, ui=ui)
    assert result.ok and result.rule == "mask" and result.mask_layer == "Background (scratches)"
    assert result.source_name == "Background" and not marks.visible()
    new = [n for n in doc.topLevelNodes() if n.name() == "Background (restored)"][0]
    changed = decode(new.data, "RGBA", depth)[:, :, 3] != 0
    assert changed[left].mean() > 0.95
    assert not changed[~near(left, 5)].any() and not changed[:, :35].any()
    assert result.mask_pixels == int(left.sum())
    assert (
        f"Repaired {result.changed_pixels} pixels using marks from layer 'Background (scratches)'"
    ) in result.message
    assert "'Background (scratches)' was hidden to show the result" in result.message
    # every mark erased: nothing repaired, no layer, and the message says what to do
    marks.data = bytearray(len(marks.data))
    before = len(doc.topLevelNodes())
    result = plugin.host.run("restore", doc, ui=ui)
    assert result.ok and result.layer is None and len(doc.topLevelNodes()) == before
    assert "marks no pixel" in ui.infos[-1] and "Fix:" in ui.infos[-1]


def test_docker_shows_the_threshold_in_use(plugin, qtbot):
    plugin.host.known_thresholds.clear()
    dock = plugin.app.factories[0].klass()
    qtbot.addWidget(dock)
    assert dock.auto_threshold.isChecked() and not dock.threshold.isEnabled()
    qtbot.waitUntil(lambda: "inside the selection" in dock.rule.text(), timeout=30000)
    used = plugin.host.known_thresholds["threshold"]
    assert dock.threshold.value() == pytest.approx(used, abs=0.005) and used != 0.5
    assert f"{used:.2f} (the detector's own)" in dock.rule.text()
    # the box starts from the value that was in use
    dock.auto_threshold.setChecked(False)
    assert dock.threshold.isEnabled() and dock.threshold.value() == pytest.approx(used, abs=0.005)
    dock.threshold.setValue(0.6)
    assert "at or above 0.60 inside the selection (with none, on the whole layer)" in \
        dock.rule.text()


# -------------------------------------------------------------------------- the marks workflow
def test_a_deleted_marks_layer_means_no_marks(plugin):
    """The marks layer is the one source of truth: deleted, Restore uses the detector inside the
    selection at the chosen sensitivity, and the message says so."""
    doc, src, clean, truth = document(plugin)
    assert plugin.host.run("detect", doc, ui=RecordingUI()).ok
    marks = _marks_layer(doc)
    marks.data = bytearray(len(marks.data))  # every mark erased ...
    doc.root.children.remove(marks)  # ... then the layer deleted
    result = plugin.host.run(
        "restore", doc, settings=plugin.host.Settings(threshold=0.5), ui=RecordingUI()
    )
    assert result.ok and result.mask_layer is None and result.rule != "mask"
    assert result.changed_pixels > 0
    assert (
        "the defects the detector found inside the selection at sensitivity 0.50" in result.message
    )
    assert "there is no layer 'Background (scratches)'" in result.message


def test_sensitivity_remakes_the_marks_keeping_the_users_edits(plugin):
    """With marks from Detect, a lower sensitivity re-thresholds the stored probability into the
    marks layer (at Restore from a menu, or at once from the docker); erased marks stay erased and
    painted ones stay."""
    doc, src, clean, truth = document(plugin, select=None)
    assert plugin.host.run("detect", doc, ui=RecordingUI()).ok
    marks = _marks_layer(doc)
    layer = decode(marks.data, "RGBA", "U8").copy()
    detected = layer[:, :, 3] > 0
    erased = np.zeros((H, W), bool)
    erased[:, :50] = detected[:, :50]
    layer[erased] = 0  # the user erases some marks ...
    painted = np.zeros((H, W), bool)
    painted[5:7, 100:140] = True  # ... and paints one of their own
    layer[painted] = [0, 0, 255, 255]
    marks.data = bytearray(encode(layer, "RGBA", "U8"))
    assert erased.any() and not detected[painted].any()
    ui = RecordingUI()
    low = plugin.host.run("restore", doc, settings=plugin.host.Settings(threshold=0.3), ui=ui)
    assert low.ok and low.mask_layer == "Background (scratches)"
    assert "re-made at sensitivity 0.30 from the stored detection" in low.message
    now = _alpha(marks)
    assert now[painted].all() and not now[erased].any()
    assert now.sum() > (detected & ~erased).sum() + painted.sum(), "a lower sensitivity marks more"
    assert low.mask_pixels == int(now.sum())
    # the painted stroke keeps its own colour; new marks are red
    assert (decode(marks.data, "RGBA", "U8")[painted][:, :3] == [0, 0, 255]).all()
    # the docker: a new sensitivity re-makes the marks at once, edits kept
    marks.setVisible(True)
    dock = plugin.app.factories[0].klass()
    dock.auto_threshold.setChecked(False)
    dock.threshold.setValue(0.9)
    said = dock.follow_marks()
    assert "sensitivity 0.90" in said and "sensitivity 0.90" in dock.rule.text()
    high = _alpha(marks)
    assert high[painted].all() and not high[erased].any() and high.sum() < now.sum()


def test_repairs_add_up_on_top(plugin):
    """A second Restore works on the photo as the user sees it (with the first result applied)
    and goes on top of it."""
    doc, src, clean, truth = document(plugin)
    first = plugin.host.run("restore", doc, ui=RecordingUI())
    second = plugin.host.run("restore", doc, ui=RecordingUI())
    assert first.ok and second.ok and first.changed_pixels > 0
    assert second.seen == ["Background (restored)"]
    assert second.changed_pixels < first.changed_pixels / 2, (
        first.changed_pixels,
        second.changed_pixels,
    )
    if second.layer is not None:
        assert [n.name() for n in doc.topLevelNodes()] == [
            "Background",
            "Background (restored)",
            "Background (restored 2)",
        ]
    assert "as you see it, with 'Background (restored)' applied" in (second.message or "")


def test_undo_of_a_repair_shows_the_marks_it_hid(plugin):
    doc, src, *_ = document(plugin)
    plugin.host.run("detect", doc, ui=RecordingUI())
    result = plugin.host.run("restore", doc, ui=RecordingUI())
    marks = _marks_layer(doc)
    assert result.hidden == marks.name() and not marks.visible()
    undo = sys.modules["unscratch_krita.undo"]
    doc.root.children.remove(result.layer)  # what Undo of "Add Layer" does
    assert undo.check() == 1 and marks.visible()
    doc.root.children.append(result.layer)  # Redo
    assert undo.check() == 1 and not marks.visible()
    undo._pending.clear()


def test_any_run_is_told_to_the_docker(plugin):
    app = plugin.app
    app.extensions[0].createActions(app.window)
    dock = app.factories[0].klass()
    doc, *_ = document(plugin)
    app.action("unscratch_restore_selection").trigger()  # the menu, not the docker
    text = dock.status.text()
    assert text.startswith("Restore selection: Repaired ") and " s." in text
    assert f"{plugin.host.last_result.changed_pixels} pixels" in text

"""The GIMP 3 plug-in's logic on a pure-Python fake GIMP (tests/gimpfu_fake.py, no GIMP needed), and
its installer."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from unscratch import models

REPO = Path(__file__).resolve().parents[1]
PLUGIN_DIR = REPO / "gimp_plugin" / "unscratch_gimp"


def _load_plugin():
    """Import the installed copy of the plug-in (with the protocol.py and hostkit.py the installer
    puts beside it) on the fake backend, even where GIMP's typelibs happen to be importable."""
    from unscratch import install_gimp
    folder = install_gimp.install(tempfile.mkdtemp(prefix="unscratch-gimp-fake-"))
    (folder / install_gimp.MARKER).unlink()     # the tests say which Python (UNSCRATCH_PYTHON)
    sys.path.insert(0, str(folder))
    import gimpfu_shim

    import gimpfu_fake
    real, gimpfu_shim._backend = gimpfu_shim._backend, gimpfu_fake.FakeBackend()
    try:
        import unscratch_gimp  # registers the procedures; main() is a no-op on the fake
    finally:
        gimpfu_shim._backend = real
    return unscratch_gimp


plugin = _load_plugin()
import gimpfu_shim as shim  # noqa: E402  (the installed copy, on sys.path)
import hostkit  # noqa: E402  (the installed copy)

import gimpfu_fake as fakes  # noqa: E402  (tests/: GIMP's stand-in, never installed)
from conftest import near, photo_scratched, rect_mask  # noqa: E402

NAMES = ("plug-in-unscratch-detect", "plug-in-unscratch-restore-selection",
         "plug-in-unscratch-fill-selection")
MARKS = "Background (scratches)"


@pytest.fixture
def fake(monkeypatch):
    backend = fakes.FakeBackend()
    monkeypatch.setattr(shim, "_backend", backend)
    monkeypatch.setenv("UNSCRATCH_PYTHON", sys.executable)
    return backend


def pixels_of(arr: np.ndarray, gray=False):
    arr = np.ascontiguousarray(arr)
    if arr.ndim == 2:
        arr = arr[..., None]
    h, w, c = arr.shape
    return shim.Pixels(arr.tobytes(), w, h, c, arr.dtype.name, gray, c in (2, 4))


def array_of(px: shim.Pixels) -> np.ndarray:
    return np.frombuffer(px.data, np.dtype(px.dtype)).reshape(px.height, px.width, px.channels)


def make_image(arr, base="rgb", offsets=(0, 0), canvas=None, group=False):
    h, w = arr.shape[:2]
    W, H = canvas or (w, h)
    image = fakes.FakeImage(W, H, base, arr.dtype.name)
    layer = fakes.FakeLayer("Background", pixels_of(arr, base == "gray"), offsets)
    parent = None
    if group:
        parent = fakes.FakeLayer("group", group=True)
        image.insert_layer(parent, None, 0)
        image.insert_layer(fakes.FakeLayer("below", pixels_of(np.zeros((H, W, 3), arr.dtype))),
                           parent, 0)
    image.insert_layer(layer, parent, 0)
    image.undo_stack.clear()            # opening the image is not an undo step
    return image, layer


H, W = 128, 160
SEL = (12, 48, 136, 32)  # x, y, w, h: around the whole scratch (rows 57-73, columns 19-140)
DUST = (W // 3 - 5, H // 4 - 5, 11, 11)  # x, y, w, h: a box around photo_scratched's speck of dust


def scratched(dtype=np.uint8, channels=3, seed=0):
    """(clean, dirty) HxW layer pixels: conftest's photo-like scratch (no speck), which the shipped
    detector finds as a user would; its truth is SCRATCH. channels 4 adds a left-to-right alpha
    ramp."""
    dirty, clean, _ = photo_scratched(H, W, channels, dtype, seed, speck=False)
    return clean, dirty


SCRATCH = photo_scratched(H, W, speck=False)[2]    # the scratch's pixels (a bool HxW mask)


def selection(x, y, w, h):
    return rect_mask((x, y, w, h), (H, W))



# --------------------------------------------------------------------------------------------------
# Registration: the gimpfu surface maps to the stable PDB names, menus and arguments
def test_procedures_registered_with_stable_names_and_menu():
    procs = shim.procedures()
    for name in NAMES:
        spec = procs[name]
        assert spec.image_proc, "standard run-mode, image and drawables arguments"
        assert spec.menu == "<Image>/Filters/Enhance/Scratches"
        assert spec.imagetypes == "RGB*, GRAY*"
        assert spec.results[0][0] == shim.PF_LAYER
    assert procs[NAMES[0]].label == "Detect scratches…"
    assert procs[NAMES[1]].label == "Restore selection…"
    assert procs[NAMES[2]].label == "Fill selection…"
    for name in NAMES[:2]:
        assert [p.name for p in procs[name].params] == ["own-sensitivity", "threshold"]
        # the dialog greys the sensitivity out while "Use my own sensitivity" is off
        assert procs[name].enables == {"threshold": "own-sensitivity"}
    assert [r[1] for r in procs[NAMES[0]].results] == ["new-layer"]
    assert [r[1] for r in procs[NAMES[1]].results] == ["new-layer", "repaired-pixels"]
    assert procs[NAMES[2]].params == []


def test_register_keeps_gimpfu_conventions(fake):
    calls = []

    def my_filter(image, drawable, radius, mode, flag):
        calls.append((radius, mode, flag))
        return drawable

    name = shim.register("my_filter", "b", "h", "a", "c", "2025", "<Image>/Filters/Test/My filter…",
                         "RGB*",
                         [(shim.PF_IMAGE, "image", "", None),
                          (shim.PF_DRAWABLE, "drawable", "", None),
                          (shim.PF_SLIDER, "radius", "Radius", 2.0, (0.0, 10.0, 0.5)),
                          (shim.PF_OPTION, "mode", "Mode", 1, ("Fast", "Best quality")),
                          (shim.PF_TOGGLE, "flag", "Flag", False)],
                         [(shim.PF_LAYER, "out", "Out")], my_filter)
    try:
        assert name == "python-fu-my-filter"
        spec = shim.procedures()[name]
        assert (spec.menu, spec.label) == ("<Image>/Filters/Test", "My filter…")
        assert [c[0] for c in spec.params[1].choices] == ["fast", "best-quality"]
        assert spec.params[1].nick_for(1) == "best-quality"
        assert spec.params[1].value_for("fast") == 0
        image, layer = make_image(np.zeros((4, 4, 3), np.uint8))
        assert fake.run_procedure(name, image, [layer]) == ("success", layer)
        assert calls[-1] == (2.0, 1, False)
        assert fake.run_procedure(name, image, [layer], radius=3, mode=0, flag=1)[0] == "success"
        assert calls[-1] == (3.0, 0, True)
        assert fake.run_procedure(name, image, [layer], radius=11)[0] == "calling-error"
        assert fake.run_procedure(name, image, [layer], nope=1)[0] == "calling-error"
        status, msg = fake.run_procedure(name, image, [])
        assert status == "execution-error" and "No layer is selected" in msg
        gray, glayer = make_image(np.zeros((4, 4), np.uint8), base="gray")
        assert fake.run_procedure(name, gray, [glayer])[0] == "calling-error"     # "RGB*" only
    finally:
        shim._registry.pop(name, None)


def test_internal_errors_are_reported_not_raised(fake):
    def broken(image, drawable):
        raise ZeroDivisionError("boom")

    name = shim.register("plug-in-broken", "", "", "", "", "", "Broken", "RGB*",
                         [(shim.PF_IMAGE, "image", "", None),
                          (shim.PF_DRAWABLE, "drawable", "", None)], [], broken)
    try:
        image, layer = make_image(np.zeros((4, 4, 3), np.uint8))
        status, msg = fake.run_procedure(name, image, [layer])
        assert status == "execution-error" and "ZeroDivisionError: boom" in msg and "report" in msg
    finally:
        shim._registry.pop(name, None)


def test_gimp_and_pdb_namespaces(fake):
    image, _ = make_image(np.zeros((4, 4, 3), np.uint8))
    shim.gimp.progress_init("Working…")
    for i in range(101):
        shim.gimp.progress_update(i / 100)
    shim.gimp.progress_end()
    updates = [v for k, v in fake.progress if k == "update"]
    assert 10 < len(updates) <= 52 and updates[-1] == 1.0          # throttled, ends at 100 %
    shim.gimp.message("hello")
    shim.pdb.gimp_message("via pdb")
    assert fake.messages == ["hello", "via pdb"]
    shim.pdb.gimp_image_undo_group_start(image)
    shim.pdb.gimp_image_undo_group_end(image)
    assert [c[0] for c in fake.pdb_calls][-2:] == ["gimp-image-undo-group-start",
                                                   "gimp-image-undo-group-end"]


# --------------------------------------------------------------------------------------------------
# Pure-Python pixel helpers
def test_layers_go_to_the_worker_whole():
    """Gray is HxW; gray+alpha, RGB and RGBA keep their channels (the worker leaves alpha alone)."""
    for arr in (np.zeros((3, 4, 3), np.uint8), np.zeros((3, 4, 4), np.uint16),
                np.zeros((3, 4, 1), np.float32), np.zeros((3, 4, 2), np.uint16)):
        px = pixels_of(arr, gray=arr.shape[2] <= 2)
        data, shape, _ = plugin.worker_image(px)
        assert data == px.data and shape == ((3, 4) if arr.shape[2] == 1 else arr.shape)


# --------------------------------------------------------------------------------------------------
# The procedures, with the real worker (unscratch's Python = this interpreter)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_restore_selection_end_to_end(fake, dtype):
    clean, dirty = scratched(dtype)
    image, layer = make_image(dirty)
    image.select_rectangle(*SEL)
    status, new, _ = fake.run_procedure(NAMES[1], image, [layer])
    assert status == "success"
    assert [lyr.name for lyr in image.layers] == ["Background (restored)", "Background"]
    assert new.pixels.dtype == np.dtype(dtype).name and new.offsets == layer.offsets
    out = array_of(new.pixels)
    assert np.array_equal(array_of(layer.pixels), dirty)              # the original is untouched
    sel = selection(*SEL)
    # bit-identical outside the selection
    assert np.array_equal(out[~sel], dirty[~sel])
    top = 1.0 if dtype == np.float32 else np.iinfo(dtype).max
    err = np.abs(out[SCRATCH].astype(np.float64) - clean[SCRATCH]).mean() / top
    assert err < 0.03
    kinds = [k for k, _ in fake.progress]
    assert kinds[0] == "init" and kinds[-1] == "end" and "update" in kinds
    assert image.undo() and [lyr.name for lyr in image.layers] == ["Background"]   # one undo step


def test_restore_rgba_keeps_alpha_and_whole_layer_without_selection(fake):
    clean, dirty = scratched(np.uint16, channels=4)
    image, layer = make_image(dirty)
    status, new, _ = fake.run_procedure(NAMES[1], image, [layer])
    assert status == "success"
    out = array_of(new.pixels)
    assert np.array_equal(out[..., 3], dirty[..., 3])
    err = np.abs(out[SCRATCH][..., :3].astype(float) - clean[SCRATCH][..., :3]).mean() / 65535
    assert err < 0.03


def test_fill_selection_gray_alpha_with_offsets_in_group(fake):
    """Fill heals a selected speck of dust (a user selects dust, not a long scratch, to fill)."""
    dirty, clean, truth = photo_scratched(H, W, 1, np.uint8)
    graya = np.concatenate([dirty, np.full_like(dirty, 200)], -1)
    image, layer = make_image(graya, base="gray", offsets=(10, 7), canvas=(W + 26, H + 22),
                              group=True)
    image.select_rectangle(10 + DUST[0], 7 + DUST[1], DUST[2], DUST[3])
    status, new, _ = fake.run_procedure(NAMES[2], image, [layer])
    assert status == "success"
    group = image.layers[0]
    assert new.parent is group and group.children.index(new) == group.children.index(layer) - 1
    assert new.offsets == (10, 7)
    out = array_of(new.pixels)
    sel = selection(*DUST)
    assert np.array_equal(out[~sel], graya[~sel]) and np.array_equal(out[..., 1], graya[..., 1])
    healed = truth & sel
    before = np.abs(graya[healed][..., 0].astype(float) - clean[healed][..., 0]).mean() / 255
    after = np.abs(out[healed][..., 0].astype(float) - clean[healed][..., 0]).mean() / 255
    assert healed.sum() > 10 and before > 0.2 and after < 0.03, (before, after)


def test_detect_adds_the_marks_layer_at_offsets_and_no_channel(fake):
    _, dirty = scratched(np.uint8)
    image, layer = make_image(dirty, offsets=(5, 3), canvas=(W + 2, H + 2))
    status, new = fake.run_procedure(NAMES[0], image, [layer])
    assert status == "success" and len(fake.messages) == 1 and "Marked" in fake.messages[0]
    card_threshold = f"sensitivity {models.default_card('detect').threshold:.2f}"
    assert card_threshold in fake.messages[0] and "Restore selection" in fake.messages[0]
    assert f"the layer '{MARKS}'" in fake.messages[0]
    assert [lyr.name for lyr in image.layers] == [MARKS, "Background"]
    assert image.channels == [], "no hidden channel holding a second copy of the marks"
    # the photo is active: Restore works next
    assert image.active is layer and new.offsets == (5, 3)
    rgba = array_of(new.pixels)
    found = rgba[..., 3] == 255
    scratch = np.zeros(found.shape, bool)
    scratch[SCRATCH] = True
    assert found[scratch].mean() > 0.8 and found[~scratch].mean() < 0.05
    assert (rgba[found][:, :3] == [255, 0, 0]).all()
    stored = hostkit.decode_detection(new.parasites[plugin.PARASITE])
    assert np.array_equal(np.frombuffer(stored.detected, np.uint8).reshape(H, W) > 0, found)
    assert image.undo() and image.layers == [layer]               # one step


def test_threshold_reaches_the_worker(fake, monkeypatch):
    seen = []

    def fake_job(python, op, arrays, params=None, **kw):
        seen.append((op, params, sorted(arrays)))
        h, w = arrays["image"][1][:2]
        return {"ok": True}, {"mask": (bytes(h * w), (h, w), "uint8"),
                              "probability": (bytes(4 * h * w), (h, w), "float32")}

    monkeypatch.setattr(plugin.protocol, "run_job", fake_job)
    image, layer = make_image(np.zeros((6, 8, 3), np.uint8))
    image.select_rectangle(1, 1, 3, 3)
    assert fake.run_procedure(NAMES[0], image, [layer], own_sensitivity=True,
                              threshold=0.42)[0] == "success"
    assert fake.run_procedure(NAMES[0], image, [layer], threshold=0.42)[0] == "success"
    assert "No scratches" in fake.messages[-1] and "lower the sensitivity" in fake.messages[-1]
    assert seen[0] == ("detect", {"threshold": 0.42}, ["image", "region"])
    # the toggle off: the detector's own rule, sent as no threshold at all
    assert seen[1][1] == {}


# --------------------------------------------------------------------------------------------------
# Errors: a message with the problem and the fix, and nothing left behind
def _assert_refused(fake, image, drawables, name, *words):
    layers_before = [lyr.name for lyr in image.all_layers()]
    undo_before = len(image.undo_stack)
    status, msg = fake.run_procedure(name, image, drawables)
    assert status == "execution-error", msg
    for word in words:
        assert word in msg, msg
    assert [lyr.name for lyr in image.all_layers()] == layers_before
    assert len(image.undo_stack) == undo_before


def test_fill_needs_a_selection(fake):
    image, layer = make_image(scratched()[1])
    _assert_refused(fake, image, [layer], NAMES[2], "needs a selection", "Fix:")


def test_selection_missing_the_layer(fake):
    image, layer = make_image(scratched()[1], offsets=(0, 0), canvas=(W + 60, H + 50))
    image.select_rectangle(W + 30, H + 30, 10, 10)
    _assert_refused(fake, image, [layer], NAMES[1], "does not cover", "Fix:")


def test_not_a_paint_layer(fake):
    image, layer = make_image(scratched()[1], group=True)
    _assert_refused(fake, image, [image.layers[0]], NAMES[1], "layer group", "Fix:")
    _assert_refused(fake, image, [fakes.FakeLayerMask(layer)], NAMES[1], "layer mask", "Fix:")
    _assert_refused(fake, image, [layer, image.layers[0]], NAMES[1], "one layer at a time", "Fix:")


def test_missing_interpreter_says_how_to_fix(fake, monkeypatch):
    monkeypatch.delenv("UNSCRATCH_PYTHON")
    image, layer = make_image(scratched()[1])
    _assert_refused(fake, image, [layer], NAMES[1], "python -m unscratch install gimp",
                    "restart GIMP")
    monkeypatch.setenv("UNSCRATCH_PYTHON", "/nonexistent/python3")
    _assert_refused(fake, image, [layer], NAMES[1], "/nonexistent/python3",
                    "unscratch install gimp")


def test_worker_failure_is_reported(fake, monkeypatch, tmp_path):
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'No module named numpy' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("UNSCRATCH_PYTHON", str(broken))
    image, layer = make_image(scratched()[1])
    _assert_refused(fake, image, [layer], NAMES[1], "unscratch could not finish",
                    "No module named numpy")
    assert fake.progress[-1] == ("end", None)


# --------------------------------------------------------------------------------------------------
# Installer
def test_install_and_uninstall(tmp_path, monkeypatch):
    from unscratch import cli, install_gimp
    gdir = tmp_path / "gimp3"
    path = install_gimp.install(str(gdir))
    assert path == gdir / "plug-ins" / "unscratch_gimp"
    main = path / "unscratch_gimp.py"
    # folder and file names match, run bit set
    assert main.is_file() and os.access(main, os.X_OK)
    for name in ("gimpfu_shim.py", "gimpfu_types.py", "gimpfu_gimp.py", "protocol.py",
                 "hostkit.py"):
        assert (path / name).is_file(), name
    # test fakes stay in tests/
    assert not [f.name for f in path.iterdir() if "Fake" in f.read_text()]
    config = json.loads((path / "unscratch_config.json").read_text())
    assert config["python"] == sys.executable and config["version"]
    install_gimp.install(str(gdir))                                    # again: replaces cleanly
    assert sorted(p.name for p in (gdir / "plug-ins").iterdir()) == ["unscratch_gimp"]
    assert install_gimp.uninstall(str(gdir)) == path and not path.exists()
    assert install_gimp.uninstall(str(gdir)) is None
    # GIMP3_DIRECTORY and the CLI
    monkeypatch.setenv("GIMP3_DIRECTORY", str(tmp_path / "env"))
    assert cli.main(["install", "gimp"]) == 0
    assert (tmp_path / "env" / "plug-ins" / "unscratch_gimp" / "unscratch_gimp.py").exists()
    assert cli.main(["uninstall", "gimp"]) == 0
    assert not (tmp_path / "env" / "plug-ins" / "unscratch_gimp").exists()
    # a copy an earlier version installed as plug-ins/unscratch/ is replaced, not left beside it
    old = gdir / "plug-ins" / "unscratch"
    old.mkdir(parents=True)
    (old / "unscratch_config.json").write_text("{}")
    install_gimp.install(str(gdir))
    assert sorted(p.name for p in (gdir / "plug-ins").iterdir()) == ["unscratch_gimp"]


def test_install_default_folder_and_foreign_folder(tmp_path, monkeypatch):
    from unscratch import install_gimp
    from unscratch.errors import InputError
    monkeypatch.delenv("GIMP3_DIRECTORY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    (tmp_path / "cfg" / "GIMP" / "3.2").mkdir(parents=True)
    path = install_gimp.install(None)
    assert path == tmp_path / "cfg" / "GIMP" / "3.0" / "plug-ins" / "unscratch_gimp"
    assert (tmp_path / "cfg" / "GIMP" / "3.2" / "plug-ins" / "unscratch_gimp" /
            "unscratch_gimp.py").exists()
    assert install_gimp.uninstall(None) == path
    assert not (tmp_path / "cfg" / "GIMP" / "3.2" / "plug-ins" / "unscratch_gimp").exists()
    foreign = tmp_path / "g" / "plug-ins" / "unscratch_gimp"
    foreign.mkdir(parents=True)
    (foreign / "something_else.py").write_text("")
    with pytest.raises(InputError, match="does not hold the unscratch plug-in"):
        install_gimp.install(str(tmp_path / "g"))
    assert (foreign / "something_else.py").exists()


def test_installed_copy_needs_only_the_standard_library(tmp_path):
    """GIMP's Python has no numpy: the installed files import with -S (no site-packages) and find
    protocol.py."""
    from unscratch import install_gimp
    path = install_gimp.install(str(tmp_path / "gimp3"))
    # as GIMP runs it: the plug-in's folder first on sys.path
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import unscratch_gimp as g, gimpfu_shim; "
            "print(sorted(gimpfu_shim.procedures()), g.protocol.__file__, g.hostkit.__file__, "
            "'unscratch' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-S", "-c", code, str(path)], capture_output=True,
                         text=True, env={"PATH": os.environ.get("PATH", "")}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert all(name in out.stdout for name in NAMES)
    assert str(path / "protocol.py") in out.stdout and str(path / "hostkit.py") in out.stdout
    assert out.stdout.strip().endswith("False False")      # no core package, no numpy


def test_worker_stops_when_its_host_is_gone(tmp_path, monkeypatch):
    """GIMP kills a plug-in whose progress the user cancels; its worker must not run on for
    nobody."""
    from unscratch import protocol, worker
    job = tmp_path / "job"
    job.mkdir()
    img = np.zeros((32, 32, 3), np.uint8)
    protocol.write_npy(str(job / "image.npy"), img.tobytes(), img.shape, "uint8")
    region = np.ones((32, 32), np.float32)
    protocol.write_npy(str(job / "region.npy"), region.tobytes(), region.shape, "float32")
    request = {"version": protocol.PROTOCOL_VERSION, "op": "fill", "params": {},
               "inputs": {"image": "image.npy", "region": "region.npy"}}
    (job / "request.json").write_text(json.dumps(request))
    monkeypatch.setattr(worker, "_PARENT", os.getppid() + 100000)    # as if the host had died
    assert worker.main([str(job)]) == 3
    assert not job.exists()
    monkeypatch.setattr(worker, "_PARENT", os.getppid())
    assert not worker._host_gone()


# --------------------------------------------------------------------------------------------------
# Detect → (edit) → Restore: the mask the user sees is the mask that is repaired
def _changed(new, layer):
    return (array_of(new.pixels) != array_of(layer.pixels)).any(axis=-1)


def test_restore_finds_the_photo_whatever_is_active(fake):
    """The marks layer, a result layer or a channel may be active; Restore works on the photo."""
    clean, dirty = scratched(np.uint8)
    image, layer = make_image(dirty)
    status, marks = fake.run_procedure(NAMES[0], image, [layer])
    assert status == "success"
    for active in (marks, layer):
        status, new, _ = fake.run_procedure(NAMES[1], image, [active])
        assert status == "success" and new.name == "Background (restored)", new
        assert new.parent is None and image.layers.index(new) == image.layers.index(layer) - 1
        err = np.abs(array_of(new.pixels)[SCRATCH].astype(float) - clean[SCRATCH]).mean() / 255
        assert err < 0.03
        assert f"using marks from layer '{MARKS}'" in fake.messages[-1]
        assert not marks.visible                                  # hidden so that the result shows
        assert image.undo() and marks.visible                     # one step: layer and visibility
    # a result layer active, or any channel: the image's one photo layer
    fake.run_procedure(NAMES[1], image, [layer])
    result = image.layers[1]
    other = fakes.FakeChannel("Other", W, H, bytes(W * H))
    for active in (result, other):
        status, new, _ = fake.run_procedure(NAMES[1], image, [active])
        assert status == "success" and new.name.startswith("Background (restored")
    # two photos: which one? say so
    image.insert_layer(fakes.FakeLayer("Second", layer.pixels), None, 0)
    _assert_refused(fake, image, [other], NAMES[1], "channel", "Fix:")


def _all_repaired(changed, marks):
    """Every marked pixel on the scratch changed; a marked pixel beside it that was never damaged
    (the detector marks the scratch's soft edge) may be repaired to the value it had."""
    return changed[marks & SCRATCH].all() and changed[marks].mean() > 0.95


def test_restore_repairs_exactly_the_edited_detect_layer(fake):
    clean, dirty = scratched(np.uint8)
    image, layer = make_image(dirty)
    _, marks = fake.run_procedure(NAMES[0], image, [layer])
    rgba = array_of(marks.pixels).copy()
    # the user erases the left half of the marks
    rgba[:, :W // 2, 3] = 0
    marks.pixels = pixels_of(rgba)
    left = rgba[..., 3] > 127
    status, new, _ = fake.run_procedure(NAMES[1], image, [layer])
    assert status == "success"
    changed = _changed(new, layer)
    assert _all_repaired(changed, left) and not changed[~left].any()     # the marks as given
    assert not changed[:, :W // 2 - 6].any()                     # the erased marks are left alone
    assert f"using marks from layer '{MARKS}' in " in fake.messages[-1]
    # with a selection too: the marks ∩ the selection
    image.undo()
    image.select_rectangle(100, 0, W - 100, H)
    status, new, _ = fake.run_procedure(NAMES[1], image, [layer])
    changed = _changed(new, layer)
    right = left.copy()
    right[:, :100] = False
    assert _all_repaired(changed, right) and not changed[:, :100].any()
    # the marks layer deleted: no marks; the detector inside the selection, and the message says so
    image.undo()
    image.siblings(marks).remove(marks)
    status, new, n = fake.run_procedure(NAMES[1], image, [layer])
    assert status == "success" and n > 0
    assert f"there is no layer '{MARKS}'" in fake.messages[-1]
    assert "found inside the selection at sensitivity" in fake.messages[-1]
    assert _changed(new, layer)[:, 100:][SCRATCH[:, 100:]].mean() > 0.8


def test_nothing_repaired_adds_no_layer_and_says_what_to_do(fake):
    _, dirty = scratched(np.uint8)
    image, layer = make_image(dirty)
    _, marks = fake.run_procedure(NAMES[0], image, [layer])
    rgba = array_of(marks.pixels).copy()
    rgba[..., 3] = 0                                              # every mark erased
    marks.pixels = pixels_of(rgba)
    undo = len(image.undo_stack)
    assert fake.run_procedure(NAMES[1], image, [layer]) == ("success", None, 0)
    assert len(image.undo_stack) == undo
    assert [lyr.name for lyr in image.layers] == [MARKS, "Background"]
    assert "Nothing repaired" in fake.messages[-1] and "marks no pixel" in fake.messages[-1]
    assert "Fix:" in fake.messages[-1]


def test_selection_repairs_the_detectors_mask_and_says_so(fake):
    """No Detect layer: inside a selection the detector's mask at its threshold is repaired, and the
    message gives the count and the threshold; an explicit threshold is the sensitivity."""
    clean, dirty = scratched(np.uint8)
    image, layer = make_image(dirty)
    image.select_rectangle(*SEL)
    status, new, n = fake.run_procedure(NAMES[1], image, [layer])
    assert status == "success" and n == int(_changed(new, layer).sum()) > 0
    assert f"Repaired {n} pixels" in fake.messages[-1]
    assert "inside the selection at sensitivity 0." in fake.messages[-1]
    status, new, _ = fake.run_procedure(NAMES[1], image, [layer], own_sensitivity=True,
                                        threshold=0.99)
    assert "at sensitivity 0.99" in fake.messages[-1]


def test_dialogs_show_the_threshold_in_use(fake, monkeypatch):
    """The INTERACTIVE dialog starts at the detector's own threshold (not a 0 that means it);
    accepted as shown, Restore sends no threshold (the detector's own, one encoding)."""
    seen = []
    real = plugin.protocol.run_job

    def spy(python, op, arrays, params=None, **kw):
        seen.append((op, params))
        return real(python, op, arrays, params, **kw)

    monkeypatch.setattr(plugin.protocol, "run_job", spy)
    monkeypatch.setattr(plugin.protocol, "DESCRIBED", {})
    _, dirty = scratched(np.uint8)
    image, layer = make_image(dirty)
    status, new, n = fake.run_procedure(NAMES[1], image, [layer], run_mode=shim.RUN_INTERACTIVE)
    assert status == "success"
    shown = fake.dialogs[-1][1]["threshold"]
    assert 0 < shown < 1 and shown == round(plugin.protocol.DESCRIBED["threshold"], 2)
    assert seen[-1] == ("restore", {})
    fake.run_procedure(NAMES[1], image, [layer], run_mode=shim.RUN_INTERACTIVE,
                       own_sensitivity=True, threshold=0.55)
    assert fake.dialogs[-1][1]["threshold"] == 0.55
    assert seen[-1] == ("restore", {"threshold": 0.55})
    fake.run_procedure(NAMES[0], image, [layer], run_mode=shim.RUN_INTERACTIVE)
    assert fake.dialogs[-1][1]["threshold"] == shown


# --------------------------------------------------------------------------------------------------
# The marks layer is the one source of truth, the sensitivity works, repairs add up
def test_sensitivity_remakes_the_marks_keeping_the_users_edits(fake):
    """With marks present, "Use my own sensitivity" re-makes them inside the selection from the
    stored probability: erased marks stay erased, painted marks stay, outside nothing moves."""
    _, dirty = scratched(np.uint8)
    image, layer = make_image(dirty)
    _, marks = fake.run_procedure(NAMES[0], image, [layer])
    detected = array_of(marks.pixels)[..., 3] > 127
    stored = hostkit.decode_detection(marks.parasites[plugin.PARASITE])
    prob = np.frombuffer(stored.probability, np.float32).reshape(H, W)
    rgba = array_of(marks.pixels).copy()
    rgba[:, :40, 3] = 0                          # erased
    rgba[5:7, 60:100] = [255, 0, 0, 255]         # painted (no damage there)
    marks.pixels = pixels_of(rgba)
    edited = rgba[..., 3] > 127
    image.select_rectangle(0, 0, 120, H)
    status, new, n = fake.run_procedure(NAMES[1], image, [layer], own_sensitivity=True,
                                        threshold=0.3)
    assert status == "success" and n > 0
    now = array_of(marks.pixels)[..., 3] > 127
    inside = selection(0, 0, 120, H)
    erased = near(detected & ~edited, hostkit.ERASED_REACH)
    expect = ((prob >= 0.3) & ~erased) | (edited & ~detected)
    assert np.array_equal(now[inside], expect[inside])
    assert np.array_equal(now[~inside], edited[~inside])            # outside: untouched
    assert not now[detected & ~edited].any() and now[5:7, 60:100].all()
    assert (now & ~edited).any(), "the lower sensitivity added no mark"
    assert "re-made inside the selection at sensitivity 0.30" in fake.messages[-1]
    # what was repaired is the re-made marks (∩ the selection)
    changed = _changed(new, layer)
    assert not changed[~inside].any() and changed[now & inside & SCRATCH].all()
    # one undo: the result, the marks and their visibility come back as they were
    assert image.undo() and np.array_equal(array_of(marks.pixels)[..., 3] > 127, edited)
    assert marks.visible and image.layers == [marks, layer]
    # the toggle off: the marks as they are, the sensitivity unused
    status, new, _ = fake.run_procedure(NAMES[1], image, [layer], threshold=0.3)
    assert np.array_equal(array_of(marks.pixels)[..., 3] > 127, edited)
    assert "re-made" not in fake.messages[-1]


def test_a_painted_mark_is_repaired_as_painted(fake):
    """A stroke painted on the marks layer, where the detector found nothing, is repaired."""
    _, dirty = scratched(np.uint8)
    dirty[20:23, 30:90] = 250                     # a second line the user paints over
    image, layer = make_image(dirty)
    _, marks = fake.run_procedure(NAMES[0], image, [layer])
    rgba = array_of(marks.pixels).copy()
    rgba[..., 3] = 0
    rgba[19:24, 28:92] = [0, 0, 255, 255]         # any opaque colour, 5 px wide
    marks.pixels = pixels_of(rgba)
    status, new, n = fake.run_procedure(NAMES[1], image, [layer])
    changed = _changed(new, layer)
    assert status == "success" and changed[20:23, 30:90].all()
    assert not changed[~(rgba[..., 3] > 0)].any(), "the repair grew beyond the painted mark"


def test_repairs_add_up_on_top(fake):
    """A second Restore works on the first one's result and goes on top of it; Detect marks what
    is seen and puts its layer above the results."""
    clean, dirty = scratched(np.uint8)
    dirty[20:23, 30:90] = 250
    image, layer = make_image(dirty)
    image.select_rectangle(*SEL)
    _, first, _ = fake.run_procedure(NAMES[1], image, [layer])
    image.select_none()
    image.select_rectangle(28, 19, 64, 5)       # a line the detector missed: Fill selection
    status, second, _ = fake.run_procedure(NAMES[2], image, [layer])
    assert status == "success"
    assert [lyr.name for lyr in image.layers] == ["Background (filled)", "Background (restored)",
                                              "Background"]
    out = array_of(second.pixels)
    assert np.array_equal(out[SCRATCH], array_of(first.pixels)[SCRATCH])   # the first repair kept
    assert np.abs(out[20:23, 30:90].astype(float) - clean[20:23, 30:90]).mean() < 8
    assert image.undo() and image.layers == [first, layer]
    first.visible = False                        # a hidden result is not what the user sees
    image.select_none()
    status, marks = fake.run_procedure(NAMES[0], image, [layer])
    assert image.layers == [marks, first, layer]

"""The Krita plug-in in real Krita (Debian's krita 5.x, provisioned by krita_plugin/provision.sh).

Three Krita runs per session, sharing one temporary HOME so Krita's first-start cost (building its
resource database, 12-24 s) is paid once:

* kritarunner (no window, no X): the installed plug-in's host logic on real documents at every depth
  (U8, U16, F16, F32; RGB and gray), soft selections, Detect to a layer and to the selection, layers
  inside groups, and the refusals (CMYK, Fill without a selection);
* the GUI under Xvfb (on a display it picks itself, see `x_display`): the plug-in loaded by Krita
  itself from the pykrita folder that `unscratch install krita` filled, its actions triggered by
  name on the active document, Undo, the docker, a 16-bit document, the progress dialog's Cancel
  on a hung worker and the message box for a crashing worker (Krita survives both);
* the GUI again on the marks workflow (gui_marks_scenario.py): Detect and Restore from
  the menu say what they did; Undo shows the marks a repair hid; the sensitivity re-makes the
  marks while they exist; a deleted marks layer means the detector; repairs add up on top; painted
  marks are repaired as painted.

Each run writes facts (result.json + raw pixel dumps); the assertions are all here.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import PHOTO_RECT, damaged_photo, near, picture_line_photo, rect_mask, scratched

pytestmark = pytest.mark.krita

REPO = Path(__file__).resolve().parents[1]
TESTING = REPO / "krita_plugin" / "testing"
RECT = (8, 32, 64, 40)  # x, y, w, h: crosses the scratch (rows 48-49, columns 16-111) half way
RECT2 = (38, 20, 9, 9)  # around the dark speck (rows 23-25, columns 41-43)
H, W = 96, 128
TIMEOUT = float(os.environ.get("UNSCRATCH_KRITA_TIMEOUT", "300"))


def _missing() -> str | None:
    for tool, package in (("krita", "krita"), ("kritarunner", "krita"), ("Xvfb", "xvfb")):
        if shutil.which(tool) is None:
            return (
                f"{tool} is not installed (Debian package {package}); run "
                "`bash krita_plugin/provision.sh` as root to install real Krita for these tests"
            )
    for module in ("/usr/lib/python3/dist-packages/PyQt5",):
        if not Path(module).exists():
            return (
                "python3-pyqt5 is not installed (Krita's Python plug-ins need it); run "
                "krita_plugin/provision.sh"
            )
    return None


MISSING = _missing()
if MISSING:
    pytest.skip(MISSING, allow_module_level=True)


# ------------------------------------------------------------------------------------- fixtures
def _host_env(home: Path, **extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "XDG_", "QT_", "KDE_"))
        and k not in ("DISPLAY", "WAYLAND_DISPLAY", "VIRTUAL_ENV", "UNSCRATCH_PYTHON")
    }
    run, tmp = (
        home / "run",
        home / "tmp",
    )  # Krita's swap files, frame caches and Qt's locks go to TMPDIR:
    run.mkdir(mode=0o700, exist_ok=True)  # inside the session's folder they are removed with it
    tmp.mkdir(exist_ok=True)
    env.update(
        HOME=str(home), XDG_RUNTIME_DIR=str(run), TMPDIR=str(tmp), LANG="C.UTF-8", LC_ALL="C.UTF-8"
    )
    env.update(extra)
    return env


def _write_png(path: Path, rgb: np.ndarray) -> None:
    import cv2

    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))


@pytest.fixture(scope="session")
def krita_session():
    """A HOME with the plug-in installed by `unscratch install krita`, the test driver enabled, and
    the inputs.

    Its own temporary folder, not pytest's tmp_path: pytest prunes old basetemp folders of the same
    user, which a concurrent pytest run could do to a Krita session in progress.
    UNSCRATCH_KRITA_KEEP=1 keeps it."""
    root = Path(tempfile.mkdtemp(prefix="unscratch-krita-"))
    try:
        yield _prepare(root)
    finally:
        if os.environ.get("UNSCRATCH_KRITA_KEEP"):
            print(f"Krita test files kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def _prepare(root: Path) -> dict:
    home = root / "home"
    home.mkdir()
    env = _host_env(home)
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "unscratch", "install", "krita"],
        env=dict(env, PATH=os.environ["PATH"]),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    pykrita = home / ".local" / "share" / "krita" / "pykrita"
    # kritarunner keeps its resources in ~/.local/share/kritarunner: share Krita's, so the resource
    # database that the first (kritarunner) start builds is the GUI's too and that cost is paid once
    (home / ".local" / "share" / "kritarunner").symlink_to("krita")
    assert (pykrita / "unscratch_krita.desktop").is_file()
    assert (pykrita / "unscratch_krita" / "protocol.py").is_file()
    assert "enable_unscratch_krita=true" in (home / ".config" / "kritarc").read_text()
    # the test-only driver plug-in (runs a scenario once the window is up, then exits Krita)
    shutil.copytree(TESTING / "unscratch_testdriver", pykrita / "unscratch_testdriver")
    shutil.copy(TESTING / "unscratch_testdriver.desktop", pykrita)
    from unscratch.install_krita import set_kritarc_flag

    set_kritarc_flag(home / ".config" / "kritarc", "enable_unscratch_testdriver", "true")

    d8, c8, truth = scratched(H, W, 3, np.uint8)
    d16, c16, _ = scratched(H, W, 3, np.uint16)
    _write_png(root / "in8.png", d8)
    _write_png(root / "in16.png", d16)
    photo, photo_clean, photo_truth = damaged_photo()
    _write_png(root / "photo.png", photo)
    _write_png(root / "line.png", picture_line_photo())
    thin, wide = strokes(photo_truth)
    (root / "thin.bin").write_bytes((thin * 255).astype(np.uint8).tobytes())
    (root / "wide.bin").write_bytes((wide * 255).astype(np.uint8).tobytes())
    hang = root / "hang-python"
    hang.write_text("#!/bin/sh\nexec sleep 600\n")
    crash = root / "crash-python"
    crash.write_text(
        "#!/bin/sh\necho 'Segmentation fault in the (fake) inference' >&2\nkill -SEGV $$\n"
    )
    for f in (hang, crash):
        f.chmod(f.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    inputs = dict(
        UNSCRATCH_KRITA_IN8=str(root / "in8.png"),
        UNSCRATCH_KRITA_IN16=str(root / "in16.png"),
        UNSCRATCH_KRITA_RECT=",".join(map(str, RECT)),
        UNSCRATCH_KRITA_RECT2=",".join(map(str, RECT2)),
        UNSCRATCH_KRITA_HANG=str(hang),
        UNSCRATCH_KRITA_CRASH=str(crash),
        UNSCRATCH_KRITA_PHOTO=str(root / "photo.png"),
        UNSCRATCH_KRITA_LINE=str(root / "line.png"),
        UNSCRATCH_KRITA_PHOTO_RECT=",".join(map(str, PHOTO_RECT)),
        UNSCRATCH_KRITA_THIN=str(root / "thin.bin"),
        UNSCRATCH_KRITA_WIDE=str(root / "wide.bin"),
    )
    return {
        "root": root,
        "home": home,
        "pykrita": pykrita,
        "inputs": inputs,
        "install_s": time.monotonic() - t0,
        "d8": d8,
        "c8": c8,
        "d16": d16,
        "c16": c16,
        "truth": truth,
        "photo": photo,
        "photo_clean": photo_clean,
        "thin": thin,
        "wide": wide,
    }


def strokes(truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two marks a user paints over damage inside PHOTO_RECT: a thin stroke (the damage's own
    pixels in a band), then a wider one over it (5x5 wider)."""
    band = np.zeros(truth.shape, bool)
    band[170:205, 60:200] = True
    thin = truth & band
    wide = near(thin, 2)
    return thin, wide


def _run(cmd, env, out: Path, what: str) -> dict:
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT, cwd=out
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"{what} did not finish in {TIMEOUT:.0f} s; output: {(exc.stderr or '')[-3000:]}"
        )
    seconds = time.monotonic() - t0
    (out / "krita.log").write_text(proc.stdout + "\n" + proc.stderr)
    result_file = out / "result.json"
    assert result_file.exists(), (
        f"{what} wrote no result (exit code {proc.returncode}); "
        f"log tail:\n{(proc.stdout + proc.stderr)[-4000:]}"
    )
    result = json.loads(result_file.read_text())
    result.update(
        returncode=proc.returncode, seconds=seconds, out=out, log=proc.stdout + proc.stderr
    )
    print(f"{what}: {seconds:.1f} s")
    return result


@pytest.fixture(scope="session")
def runner(krita_session):
    """kritarunner -s runner_scenario -f main (first use of the HOME: pays Krita's first-start
    cost)."""
    out = krita_session["root"] / "runner"
    out.mkdir()
    env = _host_env(
        krita_session["home"],
        QT_QPA_PLATFORM="offscreen",
        UNSCRATCH_KRITA_OUT=str(out),
        PYTHONPATH=os.pathsep.join([str(krita_session["pykrita"]), str(TESTING)]),
        **krita_session["inputs"],
    )
    result = _run(["kritarunner", "-s", "runner_scenario", "-f", "main"], env, out, "kritarunner")
    assert not result["errors"], "\n".join(result["errors"])
    return result


def _start_xvfb(log_path: Path):
    """(Xvfb process, ":N") on a display Xvfb picks itself (-displayfd), or (None, why)."""
    import select

    with open(log_path, "wb") as log:
        read_end, write_end = os.pipe()
        proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x1024x24",
             "-nolisten", "tcp"],
            pass_fds=(write_end,), stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    os.close(write_end)
    number = b""
    deadline = time.monotonic() + 30
    while not number.endswith(b"\n") and time.monotonic() < deadline and proc.poll() is None:
        if select.select([read_end], [], [], 0.5)[0]:
            chunk = os.read(read_end, 16)
            if not chunk:
                break
            number += chunk
    os.close(read_end)
    if not number.strip().isdigit():
        proc.kill()
        return None, f"Xvfb did not start: {log_path.read_text()[-2000:]}"
    return proc, ":" + number.decode().strip()


def _answers(display: str) -> str | None:
    """None when a client can connect to `display` and read its screen, else why not."""
    from PIL import ImageGrab
    try:
        ImageGrab.grab(xdisplay=display)
    except Exception as exc:  # noqa: BLE001 - any failure means Krita would not connect either
        return f"{type(exc).__name__}: {exc}"
    return None


def _stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def x_display(krita_session):
    """A private X server for Krita's GUI on a display number no other X server can take: Xvfb picks
    a free one itself and says which (-displayfd). `xvfb-run -a` chose a number and started Xvfb on
    it after, so a second X server of the same session (pytest-xvfb's, another test run's) could
    take it in between and Krita failed with "could not connect to display". Once (run17, one run
    in twenty) Xvfb announced a display Krita still could not connect to; so a client connects
    first, and a server that does not answer is replaced (three tries), its log kept."""
    tries = []
    for attempt in range(3):
        log_path = krita_session["root"] / f"xvfb-{attempt}.log"
        proc, display = _start_xvfb(log_path)
        why = display if proc is None else _answers(display)
        if why is None:
            break
        if proc is not None:
            _stop(proc)
        tries.append(f"try {attempt + 1}: {why}\n{log_path.read_text()[-1000:]}")
    else:
        pytest.fail("no X server for Krita's GUI:\n" + "\n".join(tries))
    if tries:
        print("Xvfb needed another try:\n" + "\n".join(tries))
    try:
        yield display
    finally:
        _stop(proc)


def _gui_run(krita_session, x_display, name: str, scenario: str, what: str, **extra) -> dict:
    """Krita's GUI on `x_display`, its test driver running `scenario` (it exits Krita with its
    code); the run's output lands in krita_session's root / `name`."""
    out = krita_session["root"] / name
    out.mkdir()
    env = _host_env(
        krita_session["home"],
        UNSCRATCH_KRITA_OUT=str(out),
        DISPLAY=x_display,
        QT_QPA_PLATFORM="xcb",
        UNSCRATCH_KRITA_DRIVER=str(TESTING / scenario),
        **extra,
        **krita_session["inputs"],
    )
    result = _run(["krita", "--nosplash"], env, out, what)
    assert result["returncode"] == 0, result["log"][-4000:]
    assert not result["errors"], "\n".join(result["errors"])
    return result


@pytest.fixture(scope="session")
def gui(krita_session, runner, x_display):
    """The GUI on `x_display`; the test driver runs gui_scenario.py and exits Krita with its
    code."""
    return _gui_run(krita_session, x_display, "gui", "gui_scenario.py", "krita GUI")


@pytest.fixture(scope="session")
def gui_marks(krita_session, x_display):
    """The GUI again, on the marks workflow (gui_marks_scenario.py). UNSCRATCH_KRITA_WALKTHROUGH=DIR
    also saves its screenshots (docs/krita-walkthrough is made this way)."""
    shots = os.environ.get("UNSCRATCH_KRITA_WALKTHROUGH")
    extra = {"UNSCRATCH_KRITA_SHOTS": str(Path(shots).resolve())} if shots else {}
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
    return _gui_run(krita_session, x_display, "gui_marks", "gui_marks_scenario.py",
                    "krita GUI (marks)", **extra)


# ------------------------------------------------------------------------------------- pixel helper
NATIVE_DTYPE = {
    "U8": np.uint8,
    "U16": np.dtype("<u2"),
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
}


def load(out: Path, info: dict) -> np.ndarray:
    """A dump as float64 HxWxC in R,G,B,A (or Y,A) order, values in [0, 1] for integer depths."""
    raw = (out / info["file"]).read_bytes()
    h, w, model, depth = info["h"], info["w"], info["model"], info["depth"]
    if model == "A":  # a selection: one byte per pixel
        return np.frombuffer(raw, np.uint8).reshape(h, w, 1) / 255.0
    channels = 4 if model == "RGBA" else 2
    a = np.frombuffer(raw, NATIVE_DTYPE[depth]).reshape(h, w, channels)
    if model == "RGBA" and depth in ("U8", "U16"):  # Krita keeps integer RGBA as BGRA
        a = a[:, :, [2, 1, 0, 3]]
    a = a.astype(np.float64)
    if depth == "U8":
        a /= 255.0
    elif depth == "U16":
        a /= 65535.0
    return a


def raw(out: Path, info: dict) -> bytes:
    return (out / info["file"]).read_bytes()


def inside_mask() -> np.ndarray:
    return rect_mask(RECT, (H, W))


def scratch_error(
    img: np.ndarray, truth: np.ndarray, where: np.ndarray, source: np.ndarray
) -> float:
    """Mean distance of the scratch pixels from the undamaged rows around them in `source` (works in
    any colour space, so F16/F32/gray conversions made by Krita need no reference image of their
    own)."""
    colour = img[:, :, :-1]
    ref = (
        source[45, :, :-1] + source[52, :, :-1]
    ) / 2.0  # clean rows either side of the scratch (48-49)
    sel = truth & where
    rows, cols = np.nonzero(sel)
    return float(np.abs(colour[rows, cols] - ref[cols]).mean())


def composite(source: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """Our new layer over its source as Krita composites it, for opaque sources: layer where it is
    opaque."""
    alpha = layer[:, :, -1:]
    return source * (1 - alpha) + layer * alpha


# ------------------------------------------------------------------------------------- kritarunner
DEPTH_CASES = ["rgba_u8", "rgba_u16", "rgba_f16", "rgba_f32", "graya_u8", "graya_u16", "graya_f32"]


@pytest.mark.parametrize("name", DEPTH_CASES)
def test_restore_keeps_depth_and_model(runner, name):
    case = runner["cases"][name]
    model, depth = name.split("_")[0].upper(), name.split("_")[1].upper()
    assert case["doc"][:2] == [model, depth]
    assert case["result"]["ok"], case["result"]
    assert case["layers_added"] == 1 and case["above_source"]
    assert (case["new"]["model"], case["new"]["depth"]) == (
        model,
        depth,
    )  # a 16-bit document stays 16-bit


@pytest.mark.parametrize("name", DEPTH_CASES + ["soft_selection", "fill_u16", "layer_in_group"])
def test_outside_the_selection_is_bit_identical(runner, name):
    out, case = runner["out"], runner["cases"][name]
    outside = ~inside_mask()
    src, proj = load(out, case["source"]), load(out, case["projection"])
    assert raw(out, case["source"]) == raw(out, case["source_after"]), (
        "the source layer was modified"
    )
    if name != "layer_in_group":  # there the projection also holds the hidden original
        assert np.array_equal(proj[outside], src[outside]), (
            "the visible image changed outside the selection"
        )
    new = load(out, case["new"])
    assert np.all(new[outside] == 0), "the new layer has pixels outside the selection"
    assert new[inside_mask()][:, -1].max() > 0


@pytest.mark.parametrize("name", DEPTH_CASES + ["layer_in_group"])
def test_scratch_is_repaired(runner, krita_session, name):
    out, case = runner["out"], runner["cases"][name]
    truth, inside = krita_session["truth"], inside_mask()
    src, new = load(out, case["source"]), load(out, case["new"])
    fixed = composite(src, new)
    before, after = scratch_error(src, truth, inside, src), scratch_error(fixed, truth, inside, src)
    # at the shipped rule (0.98, marks as given) the scratch's faint fringe stays
    assert before > 0.3 and after < 0.5 * before, (before, after)
    # the part of the scratch outside the selection is left alone
    assert np.array_equal(fixed[truth & ~inside], src[truth & ~inside])


def test_native_pixels_match_the_files(runner, krita_session):
    """Channel order check: Krita's BGRA (U8/U16) decoded here equals what we wrote to the PNGs."""
    out = runner["out"]
    src8 = load(out, runner["cases"]["rgba_u8"]["source"])
    src16 = load(out, runner["cases"]["rgba_u16"]["source"])
    assert np.array_equal(np.rint(src8[:, :, :3] * 255), krita_session["d8"])
    assert np.array_equal(np.rint(src16[:, :, :3] * 65535), krita_session["d16"])


def test_soft_selection_blends(runner):
    out, case = runner["out"], runner["cases"]["soft_selection"]
    sel = load(out, case["selection"])
    assert abs(sel[inside_mask()].max() - 128 / 255) < 1e-6
    full = runner["cases"]["rgba_u8"]
    src, hard, soft = load(out, full["source"]), load(out, full["new"]), load(out, case["new"])
    changed = soft[:, :, 3] > 0
    assert changed.any()
    # half-selected: the repair moves each pixel about half way from the original
    move_hard = np.abs(hard[changed][:, :3] - src[changed][:, :3]).sum()
    move_soft = np.abs(soft[changed][:, :3] - src[changed][:, :3]).sum()
    assert 0.3 < move_soft / move_hard < 0.7


def test_fill_heals_the_whole_selection(runner):
    out, case = runner["out"], runner["cases"]["fill_u16"]
    assert case["result"]["ok"] and case["new"]["depth"] == "U16"
    new = load(out, case["new"])
    assert (new[inside_mask()][:, 3] > 0).mean() > 0.9  # nearly every selected pixel is rewritten


def test_detect_to_layer_and_to_selection(runner, krita_session):
    out = runner["out"]
    truth, inside = krita_session["truth"], inside_mask()
    case = runner["cases"]["detect_layer"]
    assert (
        case["result"]["ok"]
        and case["layers_added"] == 1
        and case["result"]["layer"].endswith("(scratches)")
    )
    layer = load(out, case["new"])
    found = layer[:, :, 3] > 0
    assert found[truth & inside].mean() > 0.6 and not found[~inside].any()
    assert np.allclose(layer[found][:, :3], [1, 0, 0])  # shown in red
    assert case["result"]["defect_pixels"] == int(found.sum())
    case = runner["cases"]["detect_selection"]
    assert case["result"]["ok"] and case["layers_added"] == 0
    sel = load(out, case["selection"])[:, :, 0] > 0
    assert np.array_equal(sel, found), (
        "Detect to selection selects exactly what Detect to layer shows"
    )
    case = runner["cases"]["detect_threshold_1"]
    assert (
        case["result"]["defect_pixels"] < runner["cases"]["detect_layer"]["result"]["defect_pixels"]
    )


def test_refusals_name_the_problem(runner):
    cmyk = runner["cases"]["cmyk_refused"]
    assert not cmyk["result"]["ok"] and cmyk["layers_added"] == 0
    assert "CMYK" in cmyk["result"]["error"] and "Convert" in cmyk["result"]["error"]
    fill = runner["cases"]["fill_without_selection"]
    assert not fill["result"]["ok"] and fill["layers_added"] == 0
    assert "needs a selection" in fill["result"]["error"]


# ------------------------------------------------------------------------------------- GUI
def test_gui_registers_actions_menu_and_docker(gui, krita_session):
    reg = gui["steps"]["registration"]
    assert all(reg["actions"].values()), reg
    assert reg["texts"] == {
        "unscratch_detect": "Detect scratches",
        "unscratch_restore_selection": "Restore selection",
        "unscratch_fill_selection": "Fill selection",
    }
    names = [name for name, _ in reg["menu"]]
    assert {"unscratch_detect", "unscratch_restore_selection", "unscratch_fill_selection"} <= set(
        names
    ), reg["menu"]
    assert reg["dockers"] == ["unscratch_docker"]
    # Krita loaded the copy `unscratch install krita` made, not the source tree
    assert Path(reg["plugin_module"]).parent == krita_session["pykrita"] / "unscratch_krita"


def test_gui_restore_selection_action(gui, krita_session):
    out, step = gui["out"], gui["steps"]["u8_restore"]
    assert step["last"]["ok"], step["last"]
    # Detect ran just before (u8_detect): its layer is the mask repaired, hidden to show the result
    assert step["last"]["rule"] == "mask" and step["last"]["mask_layer"] == "Background (scratches)"
    names = [n[0] for n in step["after"]]
    assert len(step["after"]) == len(step["before"]) + 1 and "Background (restored)" in names
    # on top of the photo's stack: above Detect's marks layer
    assert names.index("Background (restored)") == names.index("Background (scratches)") + 1
    assert raw(out, step["source"]) == raw(out, step["source_after"])
    # the exported image: identical outside the selection, scratch repaired inside
    import cv2

    merged = cv2.imread(str(out / "u8_merged.png"), cv2.IMREAD_UNCHANGED)
    assert step["merged_ok"] and merged is not None and merged.dtype == np.uint8
    merged = merged[:, :, [2, 1, 0]].astype(np.int64)
    d8, c8, truth = (
        krita_session["d8"].astype(np.int64),
        krita_session["c8"].astype(np.int64),
        krita_session["truth"],
    )
    inside = inside_mask()
    assert np.array_equal(merged[~inside], d8[~inside])
    sel = truth & inside
    before = np.abs(d8[sel] - c8[sel]).mean() / 255
    after = np.abs(merged[sel] - c8[sel]).mean() / 255
    assert before > 0.5 and after < 0.5 * before, (before, after)


def test_gui_one_undo_step(gui):
    step = gui["steps"]["u8_undo"]
    assert step["after_undo"] == step["before"] - 1, step
    assert "Background (restored)" not in [n[0] for n in step["undo_layers"]]
    assert step["after_redo"] == step["before"]


def test_gui_detect_and_fill_actions(gui):
    det = gui["steps"]["u8_detect"]
    assert det["last"]["ok"] and det["last"]["defect_pixels"] > 0
    assert len(det["after"]) == len(det["before"]) + 1
    assert det["active"] == "Background", "Detect must leave the source layer active"
    fill = gui["steps"]["u8_fill"]
    assert fill["last"]["ok"] and fill["last"]["layer"] == "Background (filled)"
    layer = load(gui["out"], fill["dump"])
    x, y, w, h = RECT2
    box = np.zeros((H, W), bool)
    box[y : y + h, x : x + w] = True
    assert not (layer[~box][:, 3] > 0).any() and (layer[box][:, 3] > 0).mean() > 0.9


def test_gui_docker_runs_the_chosen_mode(gui):
    step = gui["steps"]["u8_docker"]
    assert (
        step["op"] == "fill"
        and step["ok"]
        and step["layers_added"] == 1
        and step["setting"] == "fill"
    )


def test_gui_no_selection_means_whole_layer(gui, krita_session):
    step = gui["steps"]["u8_no_selection"]
    assert not step["selection"] and step["last"]["ok"]
    layer = load(gui["out"], step["dump"])
    truth = krita_session["truth"]
    repaired = layer[:, :, 3] > 0
    # the scratch outside the earlier selection: inside it, the photo as the user sees it is
    # repaired
    # already (u8_restore, u8_docker), and this Restore works on what the user sees
    assert repaired[truth & ~inside_mask()].mean() > 0.8
    assert step["last"]["seen"], "the earlier results were not applied"
    refused = gui["steps"]["u8_fill_without_selection"]
    assert not refused["last"]["ok"] and refused["layers_added"] == 0
    assert "needs a selection" in refused["last"]["error"]


def test_gui_16bit_document_stays_16bit(gui, krita_session):
    out, step = gui["out"], gui["steps"]["u16_restore"]
    assert (step["doc_model"], step["doc_depth"]) == ("RGBA", "U16")
    assert step["last"]["ok"] and (step["dump"]["model"], step["dump"]["depth"]) == ("RGBA", "U16")
    raw16 = np.frombuffer(raw(out, step["dump"]), "<u2").reshape(H, W, 4)[:, :, [2, 1, 0, 3]]
    np.save(
        out / "u16_restore_layer.npy", raw16
    )  # the layer as read back from Krita, for inspection
    src = np.frombuffer(raw(out, step["source"]), "<u2").reshape(H, W, 4)[:, :, [2, 1, 0, 3]]
    assert np.array_equal(src[:, :, :3], krita_session["d16"])
    changed = raw16[:, :, 3] > 0
    inside, truth, c16 = (
        inside_mask(),
        krita_session["truth"],
        krita_session["c16"].astype(np.int64),
    )
    assert not changed[~inside].any()
    sel = truth & inside
    after = np.abs(raw16[:, :, :3][sel].astype(np.int64) - c16[sel]).mean() / 65535
    assert after < 0.15
    # 16-bit precision survives: repaired values are not all multiples of 257 (what an 8-bit trip
    # gives)
    assert (raw16[changed][:, :3] % 257 != 0).mean() > 0.5
    # what Krita shows (its projection, exact) and what it exports (16-bit PNG)
    proj = np.frombuffer(raw(out, step["projection"]), "<u2").reshape(H, W, 4)[:, :, [2, 1, 0, 3]]
    assert np.array_equal(proj[~inside], src[~inside])
    assert np.array_equal(proj[changed][:, :3], raw16[changed][:, :3])
    import cv2

    before = cv2.imread(str(out / "u16_before.png"), cv2.IMREAD_UNCHANGED)
    merged = cv2.imread(str(out / "u16_merged.png"), cv2.IMREAD_UNCHANGED)
    assert step["before_ok"] and step["merged_ok"] and merged.dtype == np.uint16, (
        "the export is 16-bit"
    )
    assert np.array_equal(merged[~inside], before[~inside])
    assert (merged[inside] != before[inside]).any()


def test_gui_cancel_stops_a_hung_worker(gui):
    step = gui["steps"]["cancel_hung_worker"]
    assert step["dialog"] and step["title"] == "Unscratch: Restore selection", step
    assert step["last"]["cancelled"] and not step["last"]["ok"] and step["layers_added"] == 0
    assert step["seconds"] < 20, "cancel must not wait for the worker"


def test_gui_worker_crash_is_a_message_box_and_krita_survives(gui):
    step = gui["steps"]["crashing_worker_message"]
    assert "Restore selection failed" in step["text"] and "exited with code -11" in step["text"], (
        step
    )
    assert "Segmentation fault" in step["text"] and step["layers_added"] == 0
    alive = gui["steps"]["alive_after_failures"]
    assert alive["last"]["ok"] and alive["layers_added"] == 1


# -------------------------------------------------------------- a selection is where the damage is
def _photo(out: Path, info: dict) -> np.ndarray:
    return np.rint(load(out, info)[:, :, :3] * 255)


def test_restore_selection_repairs_a_damaged_photo(runner, krita_session):
    """A selection means "the damage is here": the detector's mask at its threshold inside it is
    repaired, grown as its card says; nothing outside the selection changes."""
    out, case = runner["out"], runner["cases"]["photo_selection"]
    assert case["result"]["ok"] and case["layers_added"] == 1, case["result"]
    assert (
        case["result"]["rule"] == "selection"
        and "inside the selection" in case["result"]["message"]
    )
    assert "the defects the detector found" in case["result"]["message"]
    src = _photo(out, case["source"])
    assert np.array_equal(src, krita_session["photo"])
    x, y, w, h = PHOTO_RECT
    inside = np.zeros(src.shape[:2], bool)
    inside[y : y + h, x : x + w] = True
    new = load(out, case["new"])
    assert not (new[~inside][:, 3] > 0).any()  # the layer holds nothing outside
    proj = _photo(out, case["projection"])
    assert np.array_equal(proj[~inside], src[~inside])  # what Krita shows: bit-identical outside
    clean = krita_session["photo_clean"].astype(np.float64)
    before, after = (float(np.abs(a[inside] - clean[inside]).mean()) for a in (src, proj))
    print(
        f"Krita Restore selection on the photo: mean error inside {before:.2f} -> {after:.2f} "
        f"({100 * (1 - after / before):.0f} % lower)"
    )
    assert after <= 0.8 * before, (before, after)
    assert case["result"]["changed_pixels"] == int((new[:, :, 3] > 0).sum())
    assert f"Repaired {case['result']['changed_pixels']} pixels" in case["result"]["message"]


def test_detect_then_restore_leaves_a_slanted_picture_line_as_restore_alone_does(runner):
    """Detect's marks are the repair rule's: a long straight slanted line (a rope) the detector
    finds is not marked, so Restore with Detect's marks as they are repairs the same pixels as
    Restore with no marks at all, and leaves the line."""
    import unscratch

    out, case = runner["out"], runner["cases"]["picture_line"]
    assert case["detect"]["ok"] and case["result"]["ok"] and case["unmarked"]["ok"], case
    assert case["result"]["rule"] == "mask" and case["unmarked"]["rule"] == "threshold"
    photo = picture_line_photo()
    assert np.array_equal(_photo(out, case["source"]), photo)
    marks = load(out, case["marks"])[:, :, 3] >= 0.5
    det = unscratch.detect(photo)
    found = (det.probability >= det.threshold) & picture_line_photo(only_line=True)
    assert found.sum() > 300 and (marks & found).sum() < 0.2 * found.sum()
    assert np.array_equal(marks, det.mask)
    marked, unmarked = load(out, case["new"]), load(out, case["unmarked_new"])
    assert np.array_equal(marked, unmarked)
    changed = (unscratch.restore(photo) != photo).any(axis=2)
    assert np.array_equal(marked[:, :, 3] > 0, changed)


def test_detect_erase_restore_repairs_what_is_left_of_the_marks(runner):
    import unscratch

    out, case = runner["out"], runner["cases"]["detect_edit_restore"]
    assert case["detect"]["ok"] and case["result"]["ok"], case
    detected = load(out, case["marks_detected"])[:, :, 3] >= 0.5
    left = load(out, case["marks"])[:, :, 3] >= 0.5
    half = left.shape[1] // 2
    assert detected[:, :half].sum() > 50 and not left[:, :half].any() and left.sum() > 50
    r = case["result"]
    assert (
        r["rule"] == "mask"
        and r["mask_layer"].endswith("(scratches)")
        and r["source"] == "Background"
    )
    assert not case["marks_visible"], "the marks layer covers the result"
    changed = load(out, case["new"])[:, :, 3] > 0
    photo = damaged_photo()[0]
    assert np.array_equal(changed, (unscratch.restore(photo, left) != photo).any(axis=2)), (
        "the pixels the repair of the edited marks changes, no others"
    )
    # most marks change (the detector also marks the damage's intact soft edge, and the restorer's
    # gate
    # keeps some of it on this photo's light backdrop), and only marks: marks are repaired as given
    assert changed[left].mean() > 0.8 and not changed[~left].any()
    assert not changed[:, :half].any(), "pixels whose marks were erased were repaired"
    assert r["mask_pixels"] == int(left.sum())
    assert (
        f"Repaired {r['changed_pixels']} pixels using marks from layer '{r['mask_layer']}'"
        in r["message"]
    )
    none = case["none"]
    assert none["ok"] and none["layer"] is None and none["layers_added"] == 0
    assert "marks no pixel" in none["message"]


def test_gui_docker_shows_the_threshold_in_use(gui):
    step = gui["steps"]["docker_threshold"]
    assert step["auto"] and not step["enabled"]
    assert step["value"] == pytest.approx(step["known"]["threshold"], abs=0.005), step
    assert f"{step['known']['threshold']:.2f} (the detector's own)" in step["rule"]


# ------------------------------------------------------------- the marks workflow in Krita's GUI
def _mask(out: Path, info: dict) -> np.ndarray:
    return load(out, info)[:, :, 3] > 0


def _said(step: dict) -> str:
    """What the user was told after a menu action: the status bar and the docker say the same."""
    assert step["statusbar"] and step["statusbar"] == step["docker"], step
    return step["statusbar"]


def test_gui_detect_from_the_menu_says_what_it_did_and_leaves_the_photo_active(gui_marks):
    step = gui_marks["steps"]["detect"]
    n = step["last"]["defect_pixels"]
    assert step["last"]["ok"] and n > 0
    text = _said(step)
    assert text.startswith("Detect scratches: Marked ") and f"{n} pixels" in text
    assert "'Background (scratches)'" in text and " s," in text
    assert step["active"] == step["active_later"] == "Background", (
        "Detect must leave the photo active"
    )
    # the Layers docker lists the new layer at once (Krita 5.1 lists a layer added by a script only
    # after another layer changes, and then makes the new one active: the photo would not stay so)
    assert step["layers_docker"][:2] == ["Background (scratches)", "Background"], step
    assert [name for name, _ in step["stack"][:2]] == ["Background", "Background (scratches)"]


def test_gui_restore_from_the_menu_says_pixels_marks_layer_and_time(gui_marks):
    step = gui_marks["steps"]["restore"]
    last = step["last"]
    assert last["ok"] and last["rule"] == "mask" and last["changed_pixels"] > 0
    text = _said(step)
    assert text.startswith(
        f"Restore selection: Repaired {last['changed_pixels']} pixels using marks "
        "from layer 'Background (scratches)' inside the selection in "
    )
    assert f"{last['seconds']:.1f} s" in text
    # one undo step (Krita 5's scripting API names it "Add Layer": it cannot name or group steps)
    assert len(step["history"]) == len(step["history_before"]) + 1, step["history"]
    assert step["stack"][:3] == [
        ["Background", True],
        ["Background (scratches)", False],
        ["Background (restored)", True],
    ]


def test_gui_undo_of_a_restore_shows_the_marks_it_hid(gui_marks):
    step = gui_marks["steps"]["undo"]
    assert step["stack"][:2] == [["Background", True], ["Background (scratches)", True]]
    assert "Background (restored)" not in [name for name, _ in step["stack"]]
    assert step["stack_redo"][:3] == [
        ["Background", True],
        ["Background (scratches)", False],
        ["Background (restored)", True],
    ], "redo hides them again"
    assert step["stack_undo_again"][:2] == [["Background", True], ["Background (scratches)", True]]


def test_gui_sensitivity_remakes_the_marks_while_they_exist(gui_marks):
    """The docker's sensitivity at 0.30 with Detect's marks present: the marks layer gains the
    fainter defects at once (the docker says so), and Restore from the menu repairs them."""
    out, steps = gui_marks["out"], gui_marks["steps"]
    before, after = _mask(out, steps["detect"]["marks"]), _mask(out, steps["sensitivity"]["marks"])
    assert after.sum() > before.sum() and not (before & ~after).any(), "marks only added at 0.30"
    assert "re-made at sensitivity 0.30" in steps["sensitivity"]["said"]["docker"]
    assert "at sensitivity 0.30" in steps["sensitivity"]["rule"]
    first, low = steps["restore"]["last"], steps["sensitivity"]["last"]
    assert low["ok"] and low["mask_pixels"] == int(after.sum()) > first["mask_pixels"]
    assert low["changed_pixels"] > first["changed_pixels"], (first, low)


def test_gui_deleted_marks_layer_means_the_detector(gui_marks):
    step = gui_marks["steps"]["deleted_marks"]
    last = step["last"]
    assert last["ok"] and last["mask_layer"] is None and last["rule"] == "selection"
    assert last["threshold"] == pytest.approx(0.30)
    text = _said(step)
    assert "the defects the detector found inside the selection at sensitivity 0.30" in text
    assert "there is no layer 'Background (scratches)'" in text
    assert "Background (scratches)" not in [name for name, _ in step["stack"]]


def test_gui_repairs_add_up_on_top(gui_marks):
    """Each Restore works on the photo as the user sees it and goes on top: a second Restore of
    the same selection finds less left to repair."""
    steps = gui_marks["steps"]
    third, fourth = steps["deleted_marks"]["last"], steps["twice"]["last"]
    assert fourth["seen"] == ["Background (restored)", "Background (restored 2)"]
    assert fourth["changed_pixels"] < third["changed_pixels"], (third, fourth)
    names = [name for name, _ in steps["twice"]["stack"]]
    assert names[:4] == [
        "Background",
        "Background (restored)",
        "Background (restored 2)",
        "Background (restored 3)",
    ]
    assert "with 'Background (restored)' and 'Background (restored 2)' applied" in fourth["message"]


def test_gui_painted_marks_are_repaired_as_painted(gui_marks, krita_session):
    """A thin stroke painted on the marks layer, then (after Undo) a wider one: each is repaired
    as painted, and the wider one repairs more."""
    out, step = gui_marks["out"], gui_marks["steps"]["painted"]
    thin, wide = krita_session["thin"], krita_session["wide"]
    first, second = step["thin"]["last"], step["wide"]["last"]
    assert first["mask_pixels"] == int(thin.sum()) and second["mask_pixels"] == int(wide.sum())
    a, b = _mask(out, step["thin"]["dump"]), _mask(out, step["wide"]["dump"])
    assert a.sum() == first["changed_pixels"] and b.sum() == second["changed_pixels"]
    assert not a[~thin].any() and not b[~wide].any(), "repaired beyond the painted marks"
    assert a[thin].mean() > 0.5 and b.sum() > a.sum() * 1.5
    assert step["marks_visible_after_undo"]

"""The napari plug-in in a real napari (make_napari_viewer under pytest-xvfb's Xvfb).

Needs the `napari` and `test` extras and an X server: pytest-xvfb starts Xvfb by itself when
`napari_plugin/provision.sh` has installed it; without one these tests skip and say why.
Images are small (a few thousand pixels) so the suite stays quick on a shared 2-core machine.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

napari = pytest.importorskip("napari")
pytest.importorskip("pytestqt")
# vispy needs GL through an X server, even with QT_QPA_PLATFORM=offscreen
if not os.environ.get("DISPLAY"):
    pytest.skip("no X display: napari needs Xvfb (run napari_plugin/provision.sh; pytest-xvfb "
                "then starts it)",
                allow_module_level=True)

from napari.layers import Image, Labels  # noqa: E402
from napari.utils.notifications import (  # noqa: E402
    ErrorNotification,
    NotificationSeverity,
    notification_manager,
)

import unscratch  # noqa: E402
import unscratch.api  # noqa: E402
import unscratch.compositing  # noqa: E402
import unscratch.hostkit  # noqa: E402

pytestmark = pytest.mark.napari

H, W = 40, 56
PLUGIN = "unscratch"
# The shipped threshold (the detector card's, 0.98) is chosen on real scans so that a restore
# nobody reviewed never makes a picture worse; at it the small synthetic scratch below is only
# partly marked (its end rows score about 0.97). Tests of plumbing (labels, regions, dtypes,
# slices, laziness, repairs adding up) set this sensitivity through the widget's own slider, as a
# user would: the detector gives the scratch and the speck >= 0.94, the flat background <= 0.01.
SENSITIVE = 0.5


# --- fixtures and helpers -------------------------------------------------------------------------
def scratched(dtype=np.uint8, channels=0, seed=0):
    """A smooth gradient with a bright 1-px vertical scratch at column 20 and a dark speck at
    (30, 44)."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    base = 0.35 + 0.2 * (xx / W) + 0.1 * (yy / H)
    img = np.repeat(base[:, :, None], max(channels, 1), axis=2)
    if channels >= 3:
        img[..., 1] *= 0.9
        img[..., 2] *= 0.8
    img[:, 20, :3] = 0.98
    img[29:32, 43:46, :3] = 0.02
    if channels == 4:
        img[..., 3] = np.linspace(0.2, 1.0, W)[None, :]
    if channels == 0:
        img = img[:, :, 0]
    if np.dtype(dtype).kind == "u":
        return np.rint(img * np.iinfo(dtype).max).astype(dtype)
    return img.astype(dtype)


def dock(viewer, name):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def run(widget, qtbot=None):
    """Press the widget's button and wait for its worker (events keep flowing meanwhile)."""
    widget.buttons.run_button.native.click()
    widget.wait(60)
    return widget.outputs


def notifications_since(n):
    return notification_manager.records[n:]


def layers_of(viewer, kind):
    return [layer for layer in viewer.layers if isinstance(layer, kind)]


def outputs(viewer, kind):
    return [layer for layer in viewer.layers
            if layer.metadata.get("unscratch", {}).get("output") == kind]


# --- discovery ------------------------------------------------------------------------------------
def test_discovered_through_npe2_entry_point():
    import npe2

    pm = npe2.PluginManager.instance()
    pm.discover()
    mf = pm.get_manifest(PLUGIN)
    widgets = {w.display_name for w in mf.contributions.widgets}
    assert {"Detect scratches", "Restore selection", "Restoration metrics"} == widgets
    assert mf.contributions.readers and mf.contributions.writers
    assert [s.display_name for s in mf.contributions.sample_data] == ["damaged sample"]
    # the entry point, not a path hack, is how it was found
    from importlib.metadata import entry_points
    eps = {ep.name: ep.value for ep in entry_points(group="napari.manifest")}
    assert eps.get(PLUGIN) == "unscratch_napari:napari.yaml"


def test_npe2_validate_passes():
    exe = shutil.which("npe2", path=str(Path(sys.executable).parent)) or shutil.which("npe2")
    if exe is None:
        pytest.skip("npe2 command not found")
    proc = subprocess.run([exe, "validate", PLUGIN], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "valid" in proc.stdout


def test_sample_data_opens_damaged_photo(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "damaged")
    layer = viewer.layers["damaged sample"]
    assert layer.rgb and layer.data.dtype == np.uint8 and layer.data.shape[2] == 3
    assert not viewer.layers["sample reference"].visible
    assert isinstance(viewer.layers["sample true defects"], Labels)


# --- detect ---------------------------------------------------------------------------------------
def test_detect_makes_editable_labels_with_provenance(make_napari_viewer):
    viewer = make_napari_viewer()
    img = scratched()
    keep = img.copy()
    viewer.add_image(img, name="scan")
    det = dock(viewer, "Detect scratches")
    det.image.value = viewer.layers["scan"]
    det.threshold.value = SENSITIVE
    out = run(det)
    labels, prob = out["mask"], out["probability"]
    assert isinstance(labels, Labels) and labels in viewer.layers and labels.visible
    assert isinstance(prob, Image) and not prob.visible
    assert labels.data.shape == (H, W) and labels.data.dtype == np.uint8
    assert labels.data[:, 20].all(), "the scratch column is masked"
    assert labels.data[29:32, 43:46].all(), "the speck is masked"
    assert labels.data[:, :15].sum() == 0, "flat background is not masked"
    assert prob.data.dtype == np.float32 and prob.data.max() <= 1.0
    for layer in (labels, prob):
        info = layer.metadata["unscratch"]
        assert info["version"] == unscratch.__version__
        assert info["detector"]["name"] and "sha256" in info["detector"]
        assert info["models"] and all("name" in m and "sha256" in m for m in info["models"])
        assert info["threshold"] == pytest.approx(det.threshold.value)
        assert info["source_layer"] == "scan" and "parameters" in info
    assert np.array_equal(viewer.layers["scan"].data, keep), "input layer untouched"
    assert viewer.layers["scan"].data is img


def test_threshold_slider_rethresholds_without_running_detector(make_napari_viewer, monkeypatch):
    viewer = make_napari_viewer()
    viewer.add_image(scratched(), name="scan")
    calls = {"detect": 0, "tiles": 0}
    real_detect = unscratch.detect
    real_call = unscratch.classical.ClassicalDetector.__call__

    def spy_detect(*a, **k):
        calls["detect"] += 1
        return real_detect(*a, **k)

    def spy_call(self, tile):
        calls["tiles"] += 1
        return real_call(self, tile)

    monkeypatch.setattr(unscratch, "detect", spy_detect)
    monkeypatch.setattr(unscratch.classical.ClassicalDetector, "__call__", spy_call)
    det = dock(viewer, "Detect scratches")
    det.threshold.value = 0.3
    labels = run(det)["mask"]
    prob = det.outputs["probability"].data.copy()
    assert calls["detect"] == 1
    before = dict(calls)
    n_before = int(labels.data.sum())
    for t in (0.9, 0.05, 0.6):
        det.threshold.value = t
        assert np.array_equal(labels.data.astype(bool), prob >= t)
        assert labels.metadata["unscratch"]["threshold"] == pytest.approx(t)
    assert calls == before, "moving the slider must not run the detector"
    det.threshold.value = 0.05
    assert labels.data.sum() >= n_before


# --- restore --------------------------------------------------------------------------------------
def test_edit_labels_then_restore(make_napari_viewer):
    viewer = make_napari_viewer()
    img = scratched(channels=3)
    keep = img.copy()
    viewer.add_image(img, name="scan", rgb=True)
    det = dock(viewer, "Detect scratches")
    labels = run(det)["mask"]
    # eraser over the lower half of the scratch, brush on a clean spot
    labels.brush_size = 3
    for y in range(24, H):
        labels.paint((y, 20), 0)
    labels.paint((8, 45), 1)
    assert labels.data[30, 20] == 0 and labels.data[8, 45] == 1
    painted = labels.data.copy()
    rest = dock(viewer, "Restore selection")
    assert rest.mask.value is labels, "the detection mask is pre-selected"
    rest.image.value = viewer.layers["scan"]
    out = run(rest)
    restored, diff = out["restored"], out["difference"]
    assert restored.data.dtype == np.uint8 and restored.data.shape == img.shape and restored.rgb
    assert np.array_equal(viewer.layers["scan"].data, keep) and viewer.layers["scan"].data is img
    changed = np.any(restored.data != img, axis=2)
    assert changed[5:20, 20].all(), "the still-masked scratch is repaired"
    assert not changed[30:, 18:23].any(), "the erased part is left as it was"
    assert changed[8, 45], "the painted spot is restored"
    # only the (grown) mask changes
    far = np.ones((H, W), bool)
    ys, xs = np.nonzero(painted)
    for y, x in zip(ys, xs):
        far[max(0, y - 5):y + 6, max(0, x - 5):x + 6] = False
    assert not changed[far].any()
    assert np.array_equal(diff.data,
                          np.abs(restored.data.astype(int) - img.astype(int)).max(axis=2))
    info = restored.metadata["unscratch"]
    assert info["operation"] == "restore" and info["parameters"]["mask_layer"] == labels.name
    assert info["inpainter"]["name"] and info["detector"]["name"]
    assert info["version"] == unscratch.__version__
    assert info["threshold"] == pytest.approx(det.threshold.value)


def rect(y0, x0, y1, x1):
    return np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], float)


def test_region_from_shapes(make_napari_viewer):
    viewer = make_napari_viewer()
    img = scratched()
    viewer.add_image(img, name="scan")
    viewer.add_shapes([rect(2, 14, 20, 30)], shape_type="rectangle", name="sel")
    det = dock(viewer, "Detect scratches")
    det.region.value = viewer.layers["sel"]
    mask = run(det)["mask"].data.astype(bool)
    assert mask[3:20, 20].all()
    assert not mask[22:, :].any() and not mask[:, 31:].any(), "nothing outside the rectangle"
    rest = dock(viewer, "Restore selection")
    rest.region.value = viewer.layers["sel"]
    restored = run(rest)["restored"].data
    changed = restored != img
    assert changed[3:19, 20].any()
    inside = np.zeros((H, W), bool)
    inside[2:21, 14:31] = True
    assert not changed[~inside].any(), "outside the selection bit-identical"
    assert rest.outputs["restored"].metadata["unscratch"]["parameters"]["region_layer"] == "sel"


def test_region_from_labels_and_fill_mode(make_napari_viewer):
    viewer = make_napari_viewer()
    img = scratched(channels=3)
    viewer.add_image(img, name="scan", rgb=True)
    sel = np.zeros((H, W), np.uint8)
    sel[25:36, 38:52] = 1
    viewer.add_labels(sel, name="sel")
    det = dock(viewer, "Detect scratches")
    det.region.value = viewer.layers["sel"]
    det.threshold.value = SENSITIVE
    mask = run(det)["mask"].data.astype(bool)
    assert mask[29:32, 43:46].all() and not mask[~sel.astype(bool)].any()
    rest = dock(viewer, "Restore selection")
    rest.image.value = viewer.layers["scan"]
    rest.region.value = viewer.layers["sel"]
    rest.mode.value = "fill"
    restored = run(rest)["restored"].data
    changed = np.any(restored != img, axis=2)
    assert changed[29:32, 43:46].all(), "the speck inside the region is filled"
    assert not changed[~sel.astype(bool)].any()
    assert restored[30, 44].min() > 60, "filled from the bright surroundings"


# --- dtypes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype,channels", [(np.uint16, 0), (np.uint16, 3), (np.float32, 3),
                                            (np.uint8, 4),
                                            (np.float64, 0)])
def test_dtype_and_channels_preserved(make_napari_viewer, dtype, channels):
    viewer = make_napari_viewer()
    img = scratched(dtype, channels)
    keep = img.copy()
    viewer.add_image(img, name="scan", rgb=channels >= 3)
    det = dock(viewer, "Detect scratches")
    det.threshold.value = SENSITIVE
    assert run(det)["mask"].data[:, 20].all()
    rest = dock(viewer, "Restore selection")
    out = run(rest)
    restored = out["restored"].data
    assert restored.dtype == img.dtype and restored.shape == img.shape
    assert out["difference"].data.dtype == img.dtype
    assert np.array_equal(img, keep)
    colour = restored if restored.ndim == 2 else restored[..., :3]
    assert not np.array_equal(colour[:, 20], keep[:, 20] if keep.ndim == 2 else keep[:, 20, :3])
    if channels == 4:
        assert np.array_equal(restored[..., 3], img[..., 3]), "alpha untouched"
    # far from any defect: bit-identical (also for float64, computed in float32)
    assert np.array_equal(restored[:, :12], img[:, :12])


def test_restored_channel_is_shown_as_its_original(make_napari_viewer):
    """A channel of a multichannel view (additive, its own colormap, gamma, opacity) is restored
    into a layer shown the same way, so it does not cover the other channels."""
    viewer = make_napari_viewer()
    viewer.add_image(np.full((H, W), 0.3, np.float32), name="other channel", colormap="magenta",
                     blending="additive")
    scan = viewer.add_image(scratched(np.float32), name="scan", colormap="green",
                            blending="additive",
                            gamma=0.7, opacity=0.8)
    det = dock(viewer, "Detect scratches")
    det.image.value = scan
    run(det)
    rest = dock(viewer, "Restore selection")
    rest.image.value = scan
    restored = run(rest)["restored"]
    assert (restored.blending, restored.colormap.name) == ("additive", "green")
    assert restored.gamma == pytest.approx(0.7) and restored.opacity == pytest.approx(0.8)


def test_tiff_reader_writer_keep_16_bit(make_napari_viewer, tmp_path):
    from conftest import photo_scratched
    from unscratch import io
    viewer = make_napari_viewer()
    img = photo_scratched(128, 160, 3, np.uint16)[0]  # damage the detector repairs on a whole image
    src = tmp_path / "scan16.tif"
    io.write(src, img)
    layers = viewer.open(str(src), plugin=PLUGIN)
    assert layers[0].data.dtype == np.uint16 and layers[0].rgb
    assert np.array_equal(layers[0].data, img)
    rest = dock(viewer, "Restore selection")
    rest.image.value = layers[0]
    restored = run(rest)["restored"]
    assert restored.data.dtype == np.uint16
    saved = napari.save_layers(str(tmp_path / "restored.tif"), [restored], plugin=PLUGIN)
    back = io.read(saved[0])
    assert back.dtype == np.uint16 and np.array_equal(back, restored.data)
    mask_path = napari.save_layers(str(tmp_path / "mask.tif"), [outputs(viewer, "difference")[0]],
                                   plugin=PLUGIN)
    assert io.read(mask_path[0]).dtype == np.uint16
    # an edited mask saved as a TIFF mask
    viewer.add_labels((restored.data[..., 0] != img[..., 0]).astype(np.uint8), name="m")
    saved_mask = napari.save_layers(str(tmp_path / "m.tif"), [viewer.layers["m"]], plugin=PLUGIN)
    assert io.read(saved_mask[0]).dtype == np.uint8


def test_rgbi_scan_opens_with_its_infrared_layer_and_detects_with_it(make_napari_viewer, tmp_path):
    import tifffile

    from unscratch.infrared import InfraredDetector
    viewer = make_napari_viewer()
    img = scratched(np.uint16, 3)
    ir = np.full((H, W), 52000, np.uint16)
    ir[:, 20] = 20000        # the scratch blocks infrared
    ir[29:32, 43:46] = 15000  # so does the speck
    # dust on flat picture the network would not see (it is not in the colour planes)
    ir[5:8, 5:8] = 30000
    src = tmp_path / "film.tif"
    tifffile.imwrite(src, np.dstack([img, ir]), photometric="rgb", extrasamples=("unspecified",))
    layers = viewer.open(str(src), plugin=PLUGIN)
    scan, infrared = viewer.layers["film"], viewer.layers["film infrared"]
    # not RGBA: no alpha
    assert scan.rgb and scan.data.shape == (H, W, 3) and np.array_equal(scan.data, img)
    assert not infrared.visible and np.array_equal(infrared.data, ir) and len(layers) == 2
    det = dock(viewer, "Detect scratches")
    det.image.value = scan
    assert det.infrared.value is infrared  # pre-selected
    assert det.threshold.value == pytest.approx(InfraredDetector.threshold)
    mask = run(det)["mask"].data > 0
    assert mask[:, 20].all() and mask[29:32, 43:46].all() and mask[5:8, 5:8].all()
    assert mask.sum() <= (H + 9 + 9) + 4 * H, "only the defects and their infrared fringe"
    assert det.outputs["mask"].metadata["unscratch"]["parameters"]["method"] == "infrared"
    det.infrared.value = None
    assert det.threshold.value == pytest.approx(unscratch.models.default_card("detect").threshold)
    viewer.add_image(np.zeros((H + 1, W), np.uint16), name="wrong")
    det.infrared.value = viewer.layers["wrong"]
    n0 = len(notification_manager.records)
    assert det() == {}
    assert_error_notification(n0, "infrared layer 'wrong'", "does not match")


# --- stacks and dask ------------------------------------------------------------------------------
def test_stack_current_slice_then_all_slices(make_napari_viewer):
    viewer = make_napari_viewer()
    stack = np.stack([scratched(), scratched(), scratched()])
    keep = stack.copy()
    viewer.add_image(stack, name="stack")
    viewer.dims.set_current_step(0, 1)
    det = dock(viewer, "Detect scratches")
    det.threshold.value = SENSITIVE
    labels = run(det)["mask"]
    assert labels.data.shape == stack.shape
    assert labels.data[1, :, 20].all() and labels.data[0].sum() == 0 and labels.data[2].sum() == 0
    det.all_slices.value = True
    labels2 = run(det)["mask"]
    assert labels2 is labels, "the same output layer is updated"
    assert all(labels.data[i, :, 20].all() for i in range(3))
    rest = dock(viewer, "Restore selection")
    viewer.dims.set_current_step(0, 2)
    restored = run(rest)["restored"]
    data = np.asarray(restored.data)
    assert data.shape == stack.shape and data.dtype == stack.dtype
    assert not np.array_equal(data[2], stack[2]) and np.array_equal(data[:2], stack[:2])
    # a second repair, on another slice, adds up in the same layer; undo takes it back
    viewer.dims.set_current_step(0, 0)
    assert run(rest)["restored"] is restored
    both = np.asarray(restored.data)
    assert np.array_equal(both[2], data[2]) and not np.array_equal(both[0], stack[0])
    assert np.array_equal(both[1], stack[1])
    diff = np.asarray(rest.outputs["difference"].data)
    assert np.array_equal(diff, np.abs(both.astype(int) - stack.astype(int)))
    rest.undo()
    assert np.array_equal(np.asarray(restored.data), data)
    assert np.array_equal(stack, keep)


def test_nd_shapes_select_their_own_slice_and_follow_scale(make_napari_viewer):
    viewer = make_napari_viewer()
    stack = np.stack([scratched()] * 3)
    viewer.add_image(stack, name="stack")
    box = np.column_stack([np.full(4, 1.0), rect(2, 14, 20, 30)])  # drawn on slice 1
    viewer.add_shapes([box], shape_type="rectangle", name="sel3d")
    # a 2-D Shapes layer at half resolution (scale 2) covering rows 20..36, cols 36..52 of the image
    viewer.add_shapes([rect(10, 18, 18, 26)], shape_type="rectangle", name="coarse", scale=(2, 2))
    det = dock(viewer, "Detect scratches")
    det.region.value = viewer.layers["sel3d"]
    det.all_slices.value = True
    det.threshold.value = SENSITIVE
    mask = run(det)["mask"].data.astype(bool)
    assert mask[1, 3:20, 20].all()
    assert not mask[0].any() and not mask[2].any(), "an n-D shape selects only its own slice"
    first = mask.copy()
    det.region.value = viewer.layers["coarse"]
    mask = run(det)["mask"].data.astype(bool)
    assert all(mask[i, 29:32, 43:46].all() for i in range(3)), "a 2-D shape applies to every slice"
    coarse = np.zeros(mask.shape, bool)
    coarse[:, 20:37, 36:53] = True
    assert not mask[~coarse & ~first].any(), "nothing new outside the coarse rectangle"
    assert np.array_equal(mask[~coarse], first[~coarse]), "the marks outside it are kept"


def test_dask_stack_is_processed_lazily_slice_by_slice(make_napari_viewer):
    da = pytest.importorskip("dask.array")
    import dask

    loaded = []

    def load(i):
        loaded.append(i)
        return scratched()

    n = 6
    lazy = da.stack([da.from_delayed(dask.delayed(load)(i), shape=(H, W), dtype=np.uint8)
                     for i in range(n)])
    viewer = make_napari_viewer()
    viewer.add_image(lazy, name="lazy", contrast_limits=(0, 255))
    viewer.dims.set_current_step(0, 4)
    loaded.clear()
    det = dock(viewer, "Detect scratches")
    det.threshold.value = SENSITIVE
    labels = run(det)["mask"]
    assert set(loaded) <= {4}, f"only the slice on screen was read, got {sorted(set(loaded))}"
    assert labels.data[4, :, 20].all() and labels.data[:4].sum() == 0
    assert isinstance(det.outputs["probability"].data, da.Array)
    loaded.clear()
    rest = dock(viewer, "Restore selection")
    restored = run(rest)["restored"]
    assert isinstance(restored.data, da.Array), "the restored stack stays lazy"
    assert set(loaded) <= {4}
    assert np.asarray(restored.data[1]).dtype == np.uint8


def test_one_large_dask_image_is_read_tile_by_tile(make_napari_viewer, monkeypatch):
    """A single lazy 2-D plane bigger than the model tiles: the core reads it block by block (never
    whole), the restored and difference layers stay lazy, and they equal the in-memory result."""
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(3)
    noise = 0.45 + 0.1 * rng.standard_normal((1700, 1800))
    big = np.rint(np.clip(noise, 0, 1) * 255).astype(np.uint8)
    # larger than the detector's 1536-px tiles
    big = np.clip(cv2_blur(big), 0, 255).astype(np.uint8)
    big[:, 900:902] = 250  # a long scratch across every tile row
    big[300:304, 100:104] = 5
    keep = big.copy()
    reads = []
    real_read = unscratch.api.read_block

    def spy(image, y0, y1, x0, x1, *args, **kwargs):
        reads.append(((y1 - y0) * (x1 - x0), type(image).__module__.split(".")[0]))
        return real_read(image, y0, y1, x0, x1, *args, **kwargs)

    # the detector reads through api, the repair through compositing: spy on both
    for module in (unscratch.api, unscratch.compositing):
        monkeypatch.setattr(module, "read_block", spy)
    viewer = make_napari_viewer()
    viewer.add_image(da.from_array(big, chunks=(512, 512)), name="big", contrast_limits=(0, 255))
    labels = run(dock(viewer, "Detect scratches"))["mask"]
    assert reads and all(kind == "dask" for _, kind in reads), "the core was handed the lazy array"
    assert max(area for area, _ in reads) < big.size, "never read whole"
    assert labels.data[:, 900].mean() > 0.9
    reads.clear()
    rest = dock(viewer, "Restore selection")
    rest.mask.value = labels
    out = run(rest)
    restored, diff = out["restored"], out["difference"]
    assert isinstance(restored.data, da.Array) and isinstance(diff.data, da.Array)
    assert reads and max(area for area, _ in reads) < big.size
    expected = unscratch.restore(keep, labels.data > 0)
    np.testing.assert_array_equal(np.asarray(restored.data), expected)
    np.testing.assert_array_equal(np.asarray(diff.data),
                                  np.abs(expected.astype(int) - keep).astype(np.uint8))
    assert np.array_equal(big, keep)


def test_chunked_dask_rgb_float64_keeps_untouched_pixels_exact(make_napari_viewer):
    """On a whole image the detector's sure defects are repaired: conftest's photo-like scratch
    (the tiny straight-line image above is picture structure to the detector, not damage)."""
    from conftest import photo_scratched
    da = pytest.importorskip("dask.array")
    damaged, clean, _ = photo_scratched(128, 160, 3, np.float32)
    img = damaged.astype(np.float64) + 1e-9  # values float32 cannot hold
    scratch = np.abs(damaged - clean).max(axis=2) > 0.3           # clearly damaged pixels
    viewer = make_napari_viewer()
    viewer.add_image(da.from_array(img, chunks=(48, 64, 1)), name="rgb", rgb=True)
    out = run(dock(viewer, "Restore selection"))
    restored = np.asarray(out["restored"].data)
    assert isinstance(out["restored"].data, da.Array) and restored.dtype == np.float64
    changed = (restored != img).any(axis=2)
    assert changed[scratch].all() and changed.mean() < 0.5
    assert np.array_equal(restored[~changed], img[~changed]), \
        "untouched pixels keep their float64 value"
    assert np.asarray(out["difference"].data)[scratch].min() > 0.2


def cv2_blur(img):
    import cv2
    return cv2.GaussianBlur(img, (0, 0), 2)


# --- cancel and bad input -------------------------------------------------------------------------
class SlowDetector(unscratch.classical.ClassicalDetector):
    tile, overlap = 16, 4
    calls = 0

    def __call__(self, rgb):
        type(self).calls += 1
        time.sleep(0.03)
        return super().__call__(rgb)


def test_cancel_stops_the_worker(make_napari_viewer, monkeypatch, qtbot):
    SlowDetector.calls = 0
    monkeypatch.setattr(unscratch.api, "get_detector", lambda method="auto": SlowDetector())
    viewer = make_napari_viewer()
    # 160 x 168 -> about 200 tiles of 16 px, ~6 s if not cancelled
    big = np.tile(scratched(), (4, 3))
    viewer.add_image(big, name="big")
    det = dock(viewer, "Detect scratches")
    n0 = len(notification_manager.records)
    worker = det.run()
    assert worker is not None and det.buttons.cancel_button.enabled
    qtbot.waitUntil(lambda: det.progress.value > 0, timeout=10000)
    t0 = time.monotonic()
    det.buttons.cancel_button.native.click()
    with qtbot.waitSignal(worker.finished, timeout=10000):
        pass
    det.wait(5)
    assert time.monotonic() - t0 < 3.0, "cancel takes effect within a tile"
    assert det.worker is None and not worker.is_running
    assert SlowDetector.calls < 100
    assert not layers_of(viewer, Labels), "a cancelled detection adds nothing"
    assert det.buttons.run_button.enabled and not det.buttons.cancel_button.enabled
    assert "cancel" in det.status.value
    new = notifications_since(n0)
    assert any("cancelled" in str(x.message) for x in new)
    assert not any(isinstance(x, ErrorNotification) for x in new)


def assert_error_notification(n0, *words):
    new = notifications_since(n0)
    errors = [x for x in new if x.severity == NotificationSeverity.ERROR]
    assert errors, "an error notification is shown"
    assert not any(isinstance(x, ErrorNotification) for x in new), "no traceback notification"
    text = " ".join(str(x.message) for x in errors)
    for w in words:
        assert w in text, text


def test_no_image_layer_shows_notification(make_napari_viewer):
    viewer = make_napari_viewer()
    det = dock(viewer, "Detect scratches")
    rest = dock(viewer, "Restore selection")
    n0 = len(notification_manager.records)
    assert det.run() is None
    assert_error_notification(n0, "Detect scratches", "no image layer")
    n1 = len(notification_manager.records)
    assert rest() == {}
    assert_error_notification(n1, "Restore selection", "no image layer")
    assert len(viewer.layers) == 0


def test_shape_mismatch_shows_notification(make_napari_viewer):
    viewer = make_napari_viewer()
    img = scratched()
    viewer.add_image(img, name="scan")
    viewer.add_labels(np.ones((H + 3, W), np.uint8), name="wrong")
    rest = dock(viewer, "Restore selection")
    rest.image.value = viewer.layers["scan"]
    rest.mask.value = viewer.layers["wrong"]
    n0 = len(notification_manager.records)
    assert rest.run() is None
    assert_error_notification(n0, "mask layer 'wrong'", "does not match")
    det = dock(viewer, "Detect scratches")
    det.image.value = viewer.layers["scan"]
    det.region.value = viewer.layers["wrong"]
    n1 = len(notification_manager.records)
    assert det() == {}
    assert_error_notification(n1, "region layer 'wrong'")
    assert [layer.name for layer in viewer.layers] == ["scan", "wrong"]


def test_error_inside_worker_is_a_notification(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.full((H, W), 7, np.int32), name="ints")  # the core refuses int32
    det = dock(viewer, "Detect scratches")
    n0 = len(notification_manager.records)
    assert det() == {}
    assert_error_notification(n0, "int32")
    # float outside [0, 1]: refused, not clipped
    viewer.add_image(scratched(np.float32) * 4000, name="counts")
    det.image.value = viewer.layers["counts"]
    n2 = len(notification_manager.records)
    assert det() == {}
    assert_error_notification(n2, "[0, 1]")
    viewer.add_image(scratched(), name="scan")
    # outside the image
    viewer.add_shapes([rect(50, 70, 60, 80)], shape_type="rectangle", name="off")
    det.image.value = viewer.layers["scan"]
    det.region.value = viewer.layers["off"]
    n1 = len(notification_manager.records)
    det()
    assert_error_notification(n1, "selects no pixels")


# --- metrics --------------------------------------------------------------------------------------
def test_metrics_readout(make_napari_viewer):
    from unscratch import metrics
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "damaged")
    # keep it small: a crop of the sample
    for name in ("damaged sample", "sample reference"):
        viewer.layers[name].data = viewer.layers[name].data[200:264, 200:280].copy()
    truth = viewer.layers["sample true defects"]
    truth.data = truth.data[200:264, 200:280].copy()
    det = dock(viewer, "Detect scratches")
    det.image.value = viewer.layers["damaged sample"]
    run(det)
    rest = dock(viewer, "Restore selection")
    run(rest)
    m = dock(viewer, "Restoration metrics")
    assert m.reference.value.name == "sample reference"
    assert m.image.value is rest.outputs["restored"] and m.mask.value is det.outputs["mask"]
    res = run(m)["metrics"]
    want = metrics.compare(viewer.layers["sample reference"].data, rest.outputs["restored"].data,
                           det.outputs["mask"].data)
    for key in ("psnr_inside", "psnr_outside", "ssim_inside", "ssim_outside", "pixels_inside"):
        assert res[key] == pytest.approx(want[key])
    assert "PSNR" in m.status.value and "inside" in m.status.value
    # mismatched pair -> notification
    m.image.value = rest.outputs["difference"]
    n0 = len(notification_manager.records)
    assert m() == {}
    assert_error_notification(n0, "must match")


# --- a selection means "the damage is here"; the mask the user sees is the mask repaired ----------
def test_restore_with_a_region_repairs_a_damaged_photo(make_napari_viewer):
    from conftest import PHOTO_RECT, damaged_photo

    viewer = make_napari_viewer()
    photo, clean, _ = damaged_photo()
    viewer.add_image(photo, name="photo", rgb=True)
    x, y, w, h = PHOTO_RECT
    viewer.add_shapes([rect(y, x, y + h - 1, x + w - 1)], shape_type="rectangle", name="sel")
    rest = dock(viewer, "Restore selection")
    # in use
    assert rest.sensitivity.value == pytest.approx(unscratch.api.get_detector("auto").threshold)
    rest.region.value = viewer.layers["sel"]
    restored = run(rest)["restored"].data
    inside = np.zeros(photo.shape[:2], bool)
    inside[y:y + h, x:x + w] = True
    assert np.array_equal(restored[~inside], photo[~inside])
    before, after = (float(np.abs(a[inside].astype(float) - clean[inside]).mean())
                     for a in (photo, restored))
    print(f"napari Restore selection with a region on the photo: mean error inside {before:.2f} "
          f"-> {after:.2f} "
          f"({100 * (1 - after / before):.0f} % lower)")
    assert after <= 0.8 * before, (before, after)
    n = int(np.any(restored != photo, axis=2).sum())
    said = f"Repaired {n} pixels: the defects the detector found inside the selection"
    assert rest.status.value.startswith(said)
    info = rest.outputs["restored"].metadata["unscratch"]
    assert info["parameters"]["rule"] == "selection"
    assert info["threshold"] == pytest.approx(rest.sensitivity.value)


def test_detect_leaves_a_slanted_picture_line_at_every_sensitivity(make_napari_viewer):
    """The marks are the repair rule's at every threshold (api.detector_marks), so a rope-like line
    the detector finds is not marked, and restoring the marks as Detect left them is restore."""
    from conftest import picture_line_photo

    viewer = make_napari_viewer()
    photo = picture_line_photo()
    viewer.add_image(photo, name="photo", rgb=True)
    det = dock(viewer, "Detect scratches")
    labels = run(det)["mask"]
    prob = det.outputs["probability"].data.copy()
    line = picture_line_photo(only_line=True)
    found = (prob >= det.threshold.value) & line
    assert found.sum() > 300 and (labels.data.astype(bool) & found).sum() < 0.2 * found.sum()
    for t in (0.9, 0.5, float(det.threshold.value)):
        det.threshold.value = t
        assert np.array_equal(labels.data.astype(bool), unscratch.api.detector_marks(prob, t))
    restored = run(dock(viewer, "Restore selection"))["restored"].data
    assert np.array_equal(restored, unscratch.restore(photo))


def test_detect_erase_restore_on_a_photo_and_nothing_left(make_napari_viewer):
    import cv2

    from conftest import damaged_photo

    viewer = make_napari_viewer()
    photo, _, _ = damaged_photo()
    viewer.add_image(photo, name="photo", rgb=True)
    labels = run(dock(viewer, "Detect scratches"))["mask"]
    half = photo.shape[1] // 2
    assert labels.data[:, :half].sum() > 50
    # the user erases the left half of the marks
    labels.data[:, :half] = 0
    labels.refresh()
    left = labels.data > 0
    rest = dock(viewer, "Restore selection")
    assert rest.mask.value is labels
    restored = run(rest)["restored"].data
    # exactly the edited marks are repaired
    assert np.array_equal(restored, unscratch.restore(photo, left))
    changed = np.any(restored != photo, axis=2)
    near = cv2.dilate(left.astype(np.uint8), np.ones((11, 11), np.uint8)) > 0
    # most marks change, not all: the detector also marks the damage's intact soft edge, and the
    # shipped restorer's gate keeps ~5% of the marked damage on this photo's light backdrop (a
    # restorer matter; the repair is the API's, checked exactly above)
    assert changed[left].mean() > 0.8
    assert not changed[~near].any() and not changed[:, :half - 5].any()
    said = f"Repaired {int(changed.sum())} pixels using marks from layer '{labels.name}'"
    assert rest.status.value.startswith(said), rest.status.value
    # every mark erased: refused with what to do before anything runs, and no layer is added
    labels.data[:] = 0
    labels.refresh()
    count, seen = len(viewer.layers), len(notification_manager.records)
    rest.outputs = {}
    run(rest)
    assert rest.outputs == {} and len(viewer.layers) == count
    assert any("paint the defects" in str(r.message) for r in notifications_since(seen))


def test_nothing_repaired_adds_no_layer(make_napari_viewer):
    viewer = make_napari_viewer()
    flat = np.full((H, W), 0.5, np.float32)
    viewer.add_image(flat, name="flat")
    viewer.add_shapes([rect(2, 2, 30, 40)], shape_type="rectangle", name="sel")
    rest = dock(viewer, "Restore selection")
    rest.region.value = viewer.layers["sel"]
    count = len(viewer.layers)
    assert run(rest) == {} and len(viewer.layers) == count
    assert rest.status.value.startswith("Nothing repaired") and "Fix:" in rest.status.value
    assert "No layer was added or changed" in rest.status.value
    assert "lower the sensitivity" in rest.status.value


# --- the marks are the workflow; edits and repairs add up -----------------------------------------
def shapes_plane(viewer, layer, image):
    """The pixels a Shapes layer selects in `image`'s grid (as the plug-in rasterises it)."""
    from unscratch_napari._layers import image_source, selection_planes
    return selection_planes(layer, image, image_source(image), [()], "region")[()]


def test_deleted_marks_layer_means_no_marks_and_says_so(make_napari_viewer):
    """Trap: restoring from marks that are no longer shown. The Labels layer is the one source of
    truth: once deleted, Restore selection detects inside the selection at the chosen sensitivity,
    and its message says so."""
    from conftest import PHOTO_RECT, damaged_photo

    viewer = make_napari_viewer()
    photo, _, _ = damaged_photo()
    image = viewer.add_image(photo, name="photo", rgb=True)
    x, y, w, h = PHOTO_RECT
    sel = viewer.add_shapes([rect(y, x, y + h - 1, x + w - 1)], shape_type="rectangle", name="sel")
    det = dock(viewer, "Detect scratches")
    labels = run(det)["mask"]
    rest = dock(viewer, "Restore selection")
    assert rest.mask.value is labels
    viewer.layers.remove(labels)
    assert rest.mask.value is None, "a deleted marks layer is no longer offered"
    det.threshold.value = 0.5                          # no marks to re-threshold: it says so
    assert "no marks layer" in det.status.value
    rest.sensitivity.value = 0.6
    rest.region.value = sel
    restored = run(rest)["restored"].data
    expected = unscratch.restore(photo, region=shapes_plane(viewer, sel, image), threshold=0.6)
    assert np.array_equal(restored, expected), "the detector inside the selection at 0.60"
    n = int(np.any(restored != photo, axis=2).sum())
    said = rest.status.value
    assert said.startswith(f"Repaired {n} pixels: the defects the detector found inside the "
                           "selection at sensitivity 0.60"), said
    assert "there is no layer 'photo (scratches)'" in said and " s." in said


def test_sensitivity_rethresholds_the_marks_keeping_edits(make_napari_viewer):
    """Trap: a sensitivity that silently does nothing while marks exist. Either slider (Detect's
    threshold, Restore selection's sensitivity) re-thresholds the stored probability into the
    Labels layer at once, keeping the user's erasures and painted marks; the other follows."""
    viewer = make_napari_viewer()
    viewer.add_image(scratched(), name="scan")
    det = dock(viewer, "Detect scratches")
    rest = dock(viewer, "Restore selection")             # docked first: it picks the marks up
    det.threshold.value = 0.3
    labels = run(det)["mask"]
    prob = np.asarray(det.outputs["probability"].data).copy()
    detected = labels.data > 0
    assert detected[:, 20].all()
    labels.brush_size = 3
    for yy in range(2, 10):
        labels.paint((yy, 20), 0)                        # erase the top of the scratch
    labels.paint((8, 8), 1)                              # mark a spot the detector left
    edited = labels.data > 0
    erased, painted = detected & ~edited, edited & ~detected
    assert erased.sum() >= 8 and painted.sum() >= 5
    import cv2
    side = 2 * unscratch.hostkit.ERASED_REACH + 1   # new marks keep this far from erased ones
    keep_out = cv2.dilate(erased.astype(np.uint8), np.ones((side, side), np.uint8)) > 0
    assert rest.mask.value is labels
    assert rest.sensitivity.enabled and rest.sensitivity.value == pytest.approx(0.3)
    for slider, other, t in ((rest.sensitivity, det.threshold, 0.05),
                             (det.threshold, rest.sensitivity, 0.9),
                             (rest.sensitivity, det.threshold, 0.5)):
        slider.value = t
        want = ((prob >= t) & ~keep_out) | painted
        assert np.array_equal(labels.data > 0, want), f"marks at {t} keep the edits"
        assert other.value == pytest.approx(t), "the other slider shows the layer's threshold"
        assert labels.metadata["unscratch"]["threshold"] == pytest.approx(t)
    said = det.status.value
    assert "keeping your erasures and painted marks" in said and "not re-run" in said, said
    labels.brush_size = 1
    labels.paint((5, 20), 1)                             # a mark painted back where one was erased
    p = float(prob[5, 20])
    assert 0.5 <= p < 1.0, "the pixel must be detected at 0.5 and not at 1.0"
    det.threshold.value = 1.0                            # above it: only the user keeps it
    assert labels.data[5, 20] and not labels.data[3, 20], "painted back stays, erased stays erased"
    # what Restore selection repairs is what the layer shows now
    before = labels.data > 0
    run(rest)
    assert rest.outputs["restored"].metadata["unscratch"]["parameters"]["mask_layer"] == labels.name
    assert f"using marks from layer '{labels.name}'" in rest.status.value
    assert np.array_equal(labels.data > 0, before)


def test_hand_painted_marks_are_repaired_as_painted(make_napari_viewer):
    """Trap: a painted stroke that is not what gets repaired. Marks painted by hand, 1 px or 5 px
    wide, are repaired as painted (no margin), and the sensitivity, which has nothing to
    re-threshold, is disabled and says why."""
    viewer = make_napari_viewer()
    img = scratched(channels=3)
    viewer.add_image(img, name="scan", rgb=True)
    marks = viewer.add_labels(np.zeros((H, W), np.uint8), name="my marks")
    marks.brush_size = 1
    for yy in range(3, 18):
        marks.paint((yy, 20), 1)                         # a 1-px stroke along the scratch
    marks.brush_size = 5
    for xx in range(41, 48):
        marks.paint((30, xx), 1)                         # a 5-px stroke over the speck
    painted = marks.data > 0
    assert painted[3:18, 20].all() and not painted[3:18, 19].any() and painted[29:32, 43:46].all()
    rest = dock(viewer, "Restore selection")
    rest.image.value = viewer.layers["scan"]
    rest.mask.value = marks
    assert not rest.sensitivity.enabled and "painted by hand" in rest.sensitivity.tooltip
    restored = run(rest)["restored"]
    changed = np.any(restored.data != img, axis=2)
    assert not changed[~painted].any(), "nothing beyond the painted marks changes"
    assert changed[3:18, 20].all() and changed[29:32, 43:46].all()
    assert rest.status.value.startswith(
        f"Repaired {int(changed.sum())} pixels using marks from layer 'my marks'")
    params = restored.metadata["unscratch"]["parameters"]
    assert params["rule"] == "mask" and params["dilate"] == 0 and params["feather"] == 0


def test_second_restore_adds_up_and_undo_takes_back_one(make_napari_viewer):
    """Trap: a second Restore discarding the first, with no undo. The second (a rectangle over a
    crack the marks missed) works on the first's result, in the same layer; Undo last restore
    takes back one repair at a time and shows again the marks the first one hid."""
    from conftest import PHOTO_RECT, damaged_photo

    viewer = make_napari_viewer()
    photo, _, _ = damaged_photo()
    image = viewer.add_image(photo, name="photo", rgb=True)
    labels = run(dock(viewer, "Detect scratches"))["mask"]
    labels.data[:, 128:] = 0                             # the user keeps the marks of the left half
    labels.refresh()
    rest = dock(viewer, "Restore selection")
    assert not rest.buttons.undo_button.enabled
    layer = run(rest)["restored"]
    first = np.asarray(layer.data).copy()
    assert np.array_equal(first[:, 128:], photo[:, 128:])
    assert not labels.visible, "the marks used are hidden so the result shows"
    assert rest.buttons.undo_button.enabled
    assert [x.name for x in viewer.layers].index("photo (restored)") == 2, "just above the photo"
    x, y, w, h = PHOTO_RECT
    sel = viewer.add_shapes([rect(y, 128, y + h - 1, x + w - 1)], shape_type="rectangle",
                            name="missed")
    rest.mask.value = None
    rest.region.value = sel
    rest.sensitivity.value = SENSITIVE                   # no marks: Restore detects inside at it
    out = run(rest)
    assert out["restored"] is layer, "the same result layer, updated"
    second = np.asarray(layer.data)
    inside = shapes_plane(viewer, sel, image)
    assert np.array_equal(second[~inside], first[~inside]), "the first repair is kept"
    assert np.array_equal(second, unscratch.restore(first, region=inside, threshold=SENSITIVE)), \
        "the second repair worked on what the user saw"
    assert np.any(second[inside] != first[inside])
    assert "1 earlier repair kept" in rest.status.value
    diff = np.asarray(out["difference"].data)
    assert np.array_equal(diff, np.abs(second.astype(int) - photo.astype(int)).max(axis=2))
    rest.buttons.undo_button.native.click()
    assert np.array_equal(np.asarray(layer.data), first), "undo takes the second repair back"
    assert layer in viewer.layers and not labels.visible
    det = viewer.window.dock_widgets["Detect scratches (unscratch)"]
    run(det)                                             # Detect inspects what the user sees
    assert "Detected on 'photo (restored)'" in det.status.value and labels.visible
    rest.buttons.undo_button.native.click()
    assert layer not in viewer.layers and not outputs(viewer, "difference")
    assert labels.visible, "undoing the first repair shows the marks again"
    assert not rest.buttons.undo_button.enabled
    assert np.array_equal(image.data, photo)


def test_counts_follow_edits_and_actions_say_what_happened(make_napari_viewer):
    """Trap: a count that stays at its first value. Detect's status follows the user's edits of
    the marks; both actions are named as in GIMP and Krita and say pixels, layer and time."""
    viewer = make_napari_viewer()
    viewer.add_image(scratched(), name="scan")
    det = dock(viewer, "Detect scratches")
    rest = dock(viewer, "Restore selection")
    assert det.buttons.run_button.text == "Detect scratches"
    assert rest.buttons.run_button.text == "Restore selection"
    assert rest.buttons.undo_button.text == "Undo last restore"
    labels = run(det)["mask"]
    n = int((labels.data > 0).sum())
    assert det.status.value.startswith(f"Marked {n} pixels on the whole layer"), det.status.value
    assert "in the layer 'scan (scratches)'" in det.status.value and " s, " in det.status.value
    labels.brush_size = 3
    labels.paint((10, 20), 0)
    now = int((labels.data > 0).sum())
    assert now < n
    assert f"marks {now} pixels now (you erased {n - now}, painted 0)" in det.status.value
    labels.paint((8, 8), 1)
    after = int((labels.data > 0).sum())
    assert f"marks {after} pixels now (you erased {n - now}, painted {after - now})" \
        in det.status.value
    run(rest)
    assert rest.status.value.startswith("Repaired ") and "'scan (scratches)'" in rest.status.value
    assert " s." in rest.status.value and "'scan (restored)'" in rest.status.value


def menu_shot(viewer, path):
    """Plugins › unscratch opened, drawn over the window (a popup menu is a window of its own)."""
    import PIL.Image
    from qtpy.QtGui import QImage
    from qtpy.QtWidgets import QApplication

    def rgb(pixmap):
        img = pixmap.toImage().convertToFormat(QImage.Format_RGB888)
        w, h, stride = img.width(), img.height(), img.bytesPerLine()
        return np.frombuffer(img.constBits().asstring(stride * h), np.uint8).reshape(
            h, stride)[:, :3 * w].reshape(h, w, 3).copy()

    win = viewer.window._qt_window
    bar = win.menuBar()
    plugins = next(a for a in bar.actions() if a.text().replace("&", "") == "Plugins")
    menu = plugins.menu()
    menu.popup(bar.mapToGlobal(bar.actionGeometry(plugins).bottomLeft()))
    QApplication.processEvents()
    ours = next(a for a in menu.actions() if a.menu() is not None and "unscratch" in a.text())
    menu.setActiveAction(ours)
    ours.menu().popup(menu.mapToGlobal(menu.actionGeometry(ours).topRight()))
    for _ in range(10):
        QApplication.processEvents()
    names = [a.text().replace("&", "") for a in ours.menu().actions()]
    assert "Detect scratches" in names and "Restore selection" in names, names
    picture = rgb(win.grab())
    for m in (menu, ours.menu()):
        at = m.mapToGlobal(m.rect().topLeft()) - win.mapToGlobal(win.rect().topLeft())
        part = rgb(m.grab())
        y, x = max(at.y(), 0), max(at.x(), 0)
        h, w = min(part.shape[0], picture.shape[0] - y), min(part.shape[1], picture.shape[1] - x)
        picture[y:y + h, x:x + w] = part[:h, :w]
    ours.menu().hide()
    menu.hide()
    PIL.Image.fromarray(picture).save(path, quality=85)
    return names


def test_walkthrough_screenshots(make_napari_viewer, tmp_path):
    """The screenshot walkthrough of docs/napari-walkthrough.md, taken as a user works: the Plugins
    sample opened, Detect scratches, erasing marks, Restore selection, a second one over a scratch
    the marks missed, Undo last restore. Saved in
    $UNSCRATCH_SHOTS (the docs' folder when regenerating them), else a temporary folder."""
    import PIL.Image
    from qtpy.QtWidgets import QApplication

    out = Path(os.environ.get("UNSCRATCH_SHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1500, 900)
    viewer.open_sample(PLUGIN, "damaged")
    photo = viewer.layers["damaged sample"]
    det = dock(viewer, "Detect scratches")
    rest = dock(viewer, "Restore selection")
    det.image.value = photo
    shots = {}

    def shot(name):
        for _ in range(10):
            QApplication.processEvents()
        for widget in QApplication.allWidgets():  # toasts would cover the docks
            if type(widget).__name__ == "NapariQtNotification":
                widget.close()
        for _ in range(10):
            QApplication.processEvents()
        image = np.asarray(viewer.screenshot(canvas_only=False, flash=False))
        assert image.std() > 5, f"{name} is blank"
        PIL.Image.fromarray(image[..., :3]).save(out / f"{name}.jpg", quality=85)
        shots[name] = image

    shot("1-opened")
    menu_shot(viewer, out / "0-menu.jpg")
    labels = run(det)["mask"]
    marked = int((labels.data > 0).sum())
    shot("2-detect")
    labels.brush_size = 25                               # the eraser over the top quarter's marks
    rows, cols = np.nonzero(labels.data[:128] > 0)
    for yy, xx in zip(rows[::15], cols[::15]):
        labels.paint((int(yy), int(xx)), 0)
    kept = int((labels.data > 0).sum())
    assert 0 < kept < marked and f"marks {kept} pixels now" in det.status.value
    shot("3-edit")
    restored = run(rest)["restored"]
    assert rest.status.value.startswith("Repaired ") and not labels.visible
    shot("4-restore")
    first = np.asarray(restored.data).copy()
    # the vertical scratch the marks missed: a rectangle over it, the detector at a lower
    # sensitivity inside it
    viewer.add_shapes([rect(0, 222, 180, 242)], shape_type="rectangle", name="missed scratch",
                      edge_color="yellow", face_color="transparent", edge_width=2)
    rest.mask.value = None
    rest.region.value = viewer.layers["missed scratch"]
    rest.sensitivity.value = 0.3
    assert run(rest)["restored"] is restored and "1 earlier repair kept" in rest.status.value
    assert np.any(np.asarray(restored.data) != first)
    shot("5-second-restore")
    rest.buttons.undo_button.native.click()
    assert np.array_equal(np.asarray(restored.data), first)
    shot("6-undo")
    assert len({s.tobytes() for s in shots.values()}) == len(shots), "every step looks different"

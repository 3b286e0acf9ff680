"""Fill mode on large holes synthesises the surrounding texture (unscratch.synthesis)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

import unscratch
from conftest import convert
from unscratch import metrics, synthesis
from unscratch.api import get_inpainter


def grain_texture(h=320, w=320, seed=3, amplitude=0.05):
    """Float RGB in [0, 1]: soft shading with a film-like grain (Gaussian noise, 0.7-px
    correlation)."""
    rng = np.random.default_rng(seed)
    shade = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 24)
    shade = 0.35 + 0.3 * (shade - shade.min()) / (np.ptp(shade) + 1e-9)
    grain = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 0.7)
    grain *= amplitude / grain.std()
    return np.clip(np.dstack([shade + grain, 0.9 * shade + grain, 0.8 * shade + grain]),
                   0, 1).astype(np.float32)


def disc(shape, cy, cx, diameter):
    m = np.zeros(shape[:2], np.uint8)
    cv2.circle(m, (cx, cy), diameter // 2, 1, -1)
    return m > 0


CHANNELS = {"gray": 0, "gray1": 1, "rgb": 3, "rgba": 4}   # conftest.convert's channels


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("layout", ["gray", "gray1", "rgb", "rgba"])
def test_large_fill_keeps_every_pixel_outside_and_the_layout(dtype, layout):
    img = convert(grain_texture(160, 160, seed=1), CHANNELS[layout], dtype)
    hole = disc(img.shape, 80, 80, 48)
    out = unscratch.restore(img, region=hole, mode="fill")
    assert out.dtype == img.dtype and out.shape == img.shape
    assert np.array_equal(out[~hole], img[~hole]), "pixels outside the selection bit-identical"
    if layout == "rgba":
        assert np.array_equal(out[:, :, 3], img[:, :, 3]), "alpha never changed"
    assert not np.array_equal(out[hole], img[hole])
    # a synthesised fill has the grain of its surroundings (a smooth one would be near 0)
    assert metrics.grain_ratio(out, hole) > 0.6


def test_the_same_repair_every_time_and_as_patches():
    img = (grain_texture(200, 240, seed=2) * 255).astype(np.uint8)
    hole = disc(img.shape, 100, 120, 64)
    a = unscratch.restore(img, region=hole, mode="fill")
    b = unscratch.restore(img, region=hole, mode="fill")
    assert np.array_equal(a, b)
    patched = img.copy()
    for patch in unscratch.restore_patches(img, region=hole, mode="fill"):
        patch.apply(patched)
    assert np.array_equal(patched, a)


def test_a_soft_selection_blends_the_synthesised_fill():
    img = (grain_texture(200, 200, seed=4) * 255).astype(np.uint8)
    hard = disc(img.shape, 100, 100, 64)
    full = unscratch.restore(img, region=hard, mode="fill")
    soft = unscratch.restore(img, region=hard.astype(np.float32) * 0.5, mode="fill")
    expected = np.rint(img.astype(np.float32) + (full.astype(np.float32) - img) * 0.5)
    # the same synthesis, blended at half weight (rounding of the two fills aside)
    assert np.abs(soft.astype(np.float32) - expected)[hard].max() <= 1.0
    assert np.array_equal(soft[~hard], img[~hard])


def test_thin_selections_keep_the_smooth_fill():
    """A selection a few pixels wide is a scratch: it keeps today's fill (Telea plus grain)."""
    img = (grain_texture(160, 160, seed=5) * 255).astype(np.uint8)
    line = np.zeros(img.shape[:2], np.uint8)
    cv2.line(line, (10, 20), (150, 140), 1, 5)
    line = line > 0
    assert synthesis.inscribed_radius(line) < synthesis.MIN_RADIUS
    assert np.array_equal(unscratch.restore(img, region=line, mode="fill"),
                          unscratch.restore(img, region=line, mode="fill", method="classical"))


def test_classical_fill_is_the_plain_baseline():
    assert not isinstance(get_inpainter("classical", fill=True), synthesis.TextureFill)
    assert isinstance(get_inpainter("auto", fill=True), synthesis.TextureFill)
    assert not isinstance(get_inpainter("auto"), synthesis.TextureFill)


def test_a_96_px_hole_gets_the_grain_around_it_without_a_seam():
    """Healing a large selection must not leave a smooth smudge. On a grain texture with a 96-px
    hole the fill must carry the grain (high-pass std inside / outside >= 0.8) and leave no seam
    (gradient across the border within 10 % of the intact picture's); Telea's fill fails both."""
    img = (grain_texture(320, 320, seed=3) * 255).astype(np.uint8)
    hole = disc(img.shape, 160, 160, 96)
    out = unscratch.restore(img, region=hole, mode="fill")
    grain, seam = metrics.grain_ratio(out, hole), metrics.seam_ratio(out, hole)
    assert grain >= 0.8, grain
    assert abs(seam - 1) <= 0.1, seam
    telea = cv2.inpaint(img, hole.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    assert metrics.grain_ratio(telea, hole) < 0.5
    assert abs(metrics.seam_ratio(telea, hole) - 1) > 0.1


def test_synthesise_copes_with_a_hole_at_the_image_edge_and_gray():
    img = grain_texture(120, 120, seed=6).mean(axis=2)
    hole = np.zeros(img.shape, bool)
    hole[0:40, 80:120] = True  # the corner
    out = synthesis.synthesise(img, hole, seed=(1, 2))
    assert out.shape == img.shape and np.isfinite(out).all()
    assert np.array_equal(out[~hole], img[~hole])
    assert out[hole].std() > 0.5 * img[~hole].std() * 0.5


def test_cancel_stops_the_synthesis():
    from unscratch.tiles import Cancelled
    img = (grain_texture(200, 200, seed=7) * 255).astype(np.uint8)
    with pytest.raises(Cancelled):
        unscratch.restore(img, region=disc(img.shape, 100, 100, 64), mode="fill",
                          cancel=lambda: True)


def test_a_split_image_gets_the_same_synthesised_fill():
    """split_restore (batch's large images) synthesises the large holes whole, so it still equals
    restore."""
    pytest.importorskip("dask")
    from unscratch.split import split_restore
    img = (grain_texture(200, 260, seed=8) * 255).astype(np.uint8)
    region = disc(img.shape, 100, 130, 56).astype(np.uint8) * 255
    cv2.line(region, (10, 190), (250, 170), 255, 3)  # a thin one: today's fill, in chunks
    healed, _, _ = split_restore(img, region=region, mode="fill", chunk=64, scheduler="sync")
    assert np.array_equal(healed, unscratch.restore(img, region=region, mode="fill"))


def test_a_lazy_image_gets_the_same_synthesised_fill():
    da = pytest.importorskip("dask.array")
    img = (grain_texture(240, 240, seed=9) * 65535).astype(np.uint16)
    hole = disc(img.shape, 120, 120, 72)
    patched = img.copy()
    for patch in unscratch.restore_patches(da.from_array(img, chunks=(80, 80, 3)), region=hole,
                                           mode="fill"):
        patch.apply(patched)
    assert np.array_equal(patched, unscratch.restore(img, region=hole, mode="fill"))

"""unscratch.metrics: PSNR and SSIM, whole image and inside/outside a mask, checked against
scikit-image."""
from __future__ import annotations

import math

import numpy as np
import pytest

from unscratch import InputError, metrics


def pair(shape=(40, 50, 3), dtype=np.uint8, noise=20.0, seed=0):
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max if np.dtype(dtype).kind == "u" else 1.0
    a = rng.uniform(0, top, shape)
    a = np.clip(a, 0, top)
    b = np.clip(a + rng.normal(0, noise * top / 255.0, shape), 0, top)
    if np.dtype(dtype).kind == "u":
        return np.rint(a).astype(dtype), np.rint(b).astype(dtype)
    return a.astype(dtype), b.astype(dtype)


@pytest.mark.parametrize("dtype,shape",
                         [(np.uint8, (40, 50, 3)), (np.uint16, (33, 47)),
                          (np.float32, (30, 30, 3))])
def test_matches_scikit_image(dtype, shape):
    skm = pytest.importorskip("skimage.metrics")
    a, b = pair(shape, dtype)
    rng = float(np.iinfo(dtype).max) if np.dtype(dtype).kind == "u" else 1.0
    assert metrics.data_range_for(dtype) == rng
    assert metrics.psnr(a, b) == pytest.approx(skm.peak_signal_noise_ratio(a, b, data_range=rng),
                                               rel=1e-9)
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=rng,
              full=True)
    if len(shape) == 3:
        kw["channel_axis"] = 2
    mean, full = skm.structural_similarity(a, b, **kw)
    ref_map = full.mean(axis=2) if full.ndim == 3 else full
    ours = metrics.ssim_map(a, b)
    assert ours.shape == shape[:2]
    tol = 1e-5 if np.dtype(dtype).kind == "f" else 1e-9  # skimage computes float32 input in float32
    np.testing.assert_allclose(ours, ref_map, atol=tol)
    # skimage averages after cropping the 5-px border
    assert ours[5:-5, 5:-5].mean() == pytest.approx(mean, abs=tol)


def test_inside_outside_split():
    a, b = pair((32, 32), np.uint8)
    b[:, :16] = a[:, :16]  # left half identical
    mask = np.zeros((32, 32), bool)
    mask[:, :16] = True
    r = metrics.compare(a, b, mask)
    assert r["psnr_inside"] == math.inf
    assert r["psnr_outside"] == pytest.approx(metrics.psnr(a[:, 16:], b[:, 16:]))
    assert r["pixels_inside"] == 512 and r["pixels_outside"] == 512 and r["pixels"] == 1024
    assert r["ssim_inside"] > r["ssim_outside"]
    smap = metrics.ssim_map(a, b)
    assert r["ssim_inside"] == pytest.approx(smap[mask].mean())
    assert r["ssim_outside"] == pytest.approx(smap[~mask].mean())
    assert r["ssim"] == pytest.approx(smap.mean())
    assert metrics.ssim(a, b, mask) == pytest.approx(r["ssim_inside"])
    assert metrics.psnr(a, b, ~mask) == pytest.approx(r["psnr_outside"])


def test_identical_and_empty_mask():
    a, _ = pair((16, 16, 3))
    assert metrics.psnr(a, a) == math.inf
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    r = metrics.compare(a, a, np.zeros((16, 16), np.uint8))
    assert math.isnan(r["psnr_inside"]) and math.isnan(r["ssim_inside"]) and r["pixels_inside"] == 0
    assert r["psnr_outside"] == math.inf


def test_alpha_is_ignored_and_psnr_known_value():
    a = np.zeros((8, 8, 4), np.uint8)
    b = a.copy()
    b[..., 3] = 200  # alpha differs only
    assert metrics.psnr(a, b) == math.inf
    c = a.copy()
    c[..., :3] = 1  # MSE 1 → 20·log10(255)
    assert metrics.psnr(a, c) == pytest.approx(20 * math.log10(255))


def test_bad_input():
    a, b = pair((10, 10))
    with pytest.raises(InputError, match="does not match"):
        metrics.compare(a, b[:9])
    with pytest.raises(InputError, match="mask"):
        metrics.compare(a, b, np.ones((9, 10), bool))
    with pytest.raises(InputError):
        metrics.psnr(np.zeros((4, 4, 2)), np.zeros((4, 4, 2)))
    with pytest.raises(InputError, match="NaN"):
        metrics.psnr(np.full((4, 4), np.nan, np.float32), np.zeros((4, 4), np.float32))


def test_pipeline_error_budget_separates_misses_bad_repairs_and_false_positives():
    """eval restore's error budget: shares of the damage's squared error, pooled over images."""
    from unscratch.train.eval.cases import Case
    from unscratch.train.eval.restore import error_budget
    clean = np.full((40, 40, 3), 0.5, np.float32)
    truth = np.zeros((40, 40), bool)
    truth[5:7, 5:15] = truth[30:32, 5:15] = True  # two equal scratches
    damaged = clean.copy()
    damaged[truth] = 0.9
    out = damaged.copy()
    out[5:7, 5:15] = 0.7          # the first found, half repaired; the second missed
    out[20, 30] = 0.3             # and a false positive painted over
    case = Case(damaged, clean, truth, truth.astype(np.float32))
    budget = error_budget([out], [case])
    total = 2 * 20 * 3 * 0.4 ** 2
    assert budget["% damage error in changed pixels"] == pytest.approx(50, abs=1e-3)
    assert budget["% left there after repair"] == pytest.approx(100 * 20 * 3 * 0.2 ** 2 / total,
                                                                abs=1e-3)
    assert budget["% added off the damage"] == pytest.approx(100 * 3 * 0.2 ** 2 / total, abs=1e-3)

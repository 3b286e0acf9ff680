"""What keeps a restore's memory down (issue 30) without changing a pixel: the weight held as its
non-zero blocks (compositing.SparsePlane), the detection's mask made band by band when its
probability is not kept, the copy made after the inpainter is done, and the CLI's own read repaired
in place."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from unscratch import api, compositing
from unscratch.arrays import bbox
from unscratch.classical import ClassicalDetector, ClassicalInpainter
from unscratch.compositing import SparsePlane, repair, repair_counted
from unscratch.rules import repair_weight


def _scan(h=400, w=360, seed=0, dtype=np.uint16):
    """A smooth 16-bit photo with bright scratches and specks the classical detector finds."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.4 + 0.2 * np.sin(yy / 23.0)[..., None] + 0.15 * np.cos(xx / 17.0)[..., None]
    img = np.repeat(base, 3, axis=2) + rng.normal(0, 0.01, (h, w, 3))
    for _ in range(3):
        y, x = rng.integers(10, h - 10), rng.integers(10, w - 60)
        img[y:y + 2, x:x + 50] = 0.98
    for _ in range(8):
        y, x = rng.integers(5, h - 5), rng.integers(5, w - 5)
        img[y:y + 3, x:x + 3] = 0.02
    img = np.clip(img, 0, 1)
    top = np.iinfo(dtype).max
    return np.rint(img * top).astype(dtype)


@pytest.mark.parametrize("shape", [(1, 1), (1, 70), (31, 33), (64, 96), (100, 257)])
@pytest.mark.parametrize("density", [0.0, 0.002, 0.1, 1.0])
def test_sparse_plane_gives_the_planes_values(shape, density):
    rng = np.random.default_rng(3)
    plane = ((rng.random(shape) < density) * rng.random(shape)).astype(np.float32)
    sparse = SparsePlane(plane)
    assert np.array_equal(np.asarray(sparse), plane) and np.asarray(sparse).dtype == np.float32
    assert sparse.bbox() == bbox(plane > 0)
    for _ in range(40):
        y0, y1 = sorted(rng.integers(0, shape[0] + 1, 2))
        x0, x1 = sorted(rng.integers(0, shape[1] + 1, 2))
        window = sparse[y0:y1, x0:x1]
        assert window.dtype == np.float32 and np.array_equal(window, plane[y0:y1, x0:x1])
        rows, cols, values = sparse.positive(y0, y1, x0, x1)
        expected = np.nonzero(plane[y0:y1, x0:x1] > 0)
        assert np.array_equal(rows, expected[0]) and np.array_equal(cols, expected[1])
        assert np.array_equal(values, plane[y0:y1, x0:x1][expected])
    holes = SparsePlane(plane > 0)
    assert holes.dtype == bool and np.array_equal(np.asarray(holes), plane > 0)
    as_float = SparsePlane(plane > 0, np.float32)
    assert np.array_equal(np.asarray(as_float), (plane > 0).astype(np.float32))


def test_sparse_plane_stores_only_blocks_with_values():
    plane = np.zeros((1000, 1000), np.float32)
    plane[500, 100:140] = 1.0  # one short scratch: two blocks of 32x32
    sparse = SparsePlane(plane)
    assert sparse.nbytes < plane.nbytes // 50
    assert sparse.bbox() == (500, 501, 100, 140)


def test_repair_counted_matches_repair_and_changed_pixels():
    img = _scan()
    hole = np.zeros(img.shape[:2], bool)
    hole[40:44, 20:200] = True
    hole[150:170, 90:95] = True
    alpha = repair_weight(hole, 2, 3)
    expected = repair(img, alpha, ClassicalInpainter(), grain=True)
    for weight in (alpha, SparsePlane(alpha)):
        fixed, changed = repair_counted(img, weight, ClassicalInpainter(), grain=True)
        assert np.array_equal(fixed, expected) and fixed is not img
        assert changed == api.changed_pixels(expected, img) > 0
    mine = img.copy()
    fixed, changed = repair_counted(mine, SparsePlane(alpha), ClassicalInpainter(), grain=True,
                                    overwrite=True)
    assert fixed is mine and np.array_equal(mine, expected)
    assert changed == api.changed_pixels(expected, img)


def test_repair_makes_its_copy_early_when_patches_would_outgrow_it(monkeypatch):
    """A repair of most of the image keeps no more patches than a quarter of the image: the copy is
    made then, and the pixels and the count are the same."""
    img = _scan(dtype=np.uint8)
    alpha = np.zeros(img.shape[:2], np.float32)
    alpha[20:380, 20:340] = 0.7
    expected = repair(img, alpha, ClassicalInpainter())
    copies = []
    real = compositing._Collector._flush

    def flush(self):
        copies.append(self.result is not self.img and len(self.pending))
        real(self)
    monkeypatch.setattr(compositing._Collector, "_flush", flush)
    for overwrite in (False, True):
        mine = img.copy()
        fixed, changed = repair_counted(mine, alpha, ClassicalInpainter(), overwrite=overwrite)
        assert fixed is not mine and np.array_equal(fixed, expected)
        assert np.array_equal(mine, img)  # the image was still read: not written in place
        assert changed == api.changed_pixels(expected, img)
    assert copies[0] and copies[2]  # the copy was made while patches were still coming


def test_read_only_image_is_never_overwritten():
    img = _scan()
    img.flags.writeable = False
    alpha = np.zeros(img.shape[:2], np.float32)
    alpha[100:104, 30:90] = 1.0
    fixed, _ = repair_counted(img, alpha, ClassicalInpainter(), overwrite=True)
    assert fixed is not img


@pytest.mark.parametrize("threshold", [None, 0.0, 0.5])
@pytest.mark.parametrize("with_region", [False, True])
def test_streamed_mask_is_the_detections(threshold, with_region):
    img = _scan()
    region = None
    if with_region:
        region = np.zeros(img.shape[:2], np.uint8)
        region[30:250, 40:200] = 128
    det = api._detect(img, ClassicalDetector(), "classical", region, threshold, None, None)
    streamed = api._detect(img, ClassicalDetector(), "classical", region, threshold, None, None,
                           keep_probability=False)
    assert streamed.probability is None
    assert det.mask.any() and np.array_equal(streamed.mask, det.mask)


@pytest.mark.parametrize("how", ["detect", "mask", "region", "soft mask and region", "grown"])
def test_restore_and_report_overwrite_gives_the_same_pixels(how):
    img = _scan()
    hole = np.zeros(img.shape[:2], np.uint8)
    hole[60:64, 10:120] = 255
    region = np.zeros(img.shape[:2], np.uint8)
    region[:, 50:] = np.linspace(0, 255, img.shape[1] - 50).astype(np.uint8)
    kwargs = {"detect": dict(detect_method="classical"), "mask": dict(mask=hole),
              "region": dict(region=region, detect_method="classical"),
              "soft mask and region": dict(mask=hole.astype(np.float32) / 400, region=region),
              "grown": dict(mask=hole > 0, dilate=2, feather=3)}[how]
    kwargs.update(method="classical")
    copy = api.restore_and_report(img, **kwargs)
    assert np.array_equal(copy.image, api.restore(img, **kwargs))
    assert copy.repaired_pixels == api.changed_pixels(copy.image, img) > 0
    mine = img.copy()
    done = api.restore_and_report(mine, overwrite=True, **kwargs)
    assert 100 * done.repaired_pixels / mine[..., 0].size < 7  # in place: patches under 1/4
    assert done.image is mine and np.array_equal(mine, copy.image)
    assert done.repaired_pixels == copy.repaired_pixels


class _Probe:
    """An inpainter that notes the memory numpy holds (tracemalloc) while it runs."""

    def __init__(self, inner):
        self.inner, self.held = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, tile):
        self.held.append(tracemalloc.get_traced_memory()[0])
        return self.inner(tile)


@pytest.mark.parametrize("overwrite", [False, True])
def test_no_copy_and_no_float_weight_plane_while_the_inpainter_runs(monkeypatch, overwrite):
    """While the inpainter runs (a network's working memory at its largest) neither the copy of
    the image nor a float32 weight plane is held: on a 100-MP 16-bit scan they are 600 + 400 MB."""
    img = _scan(h=16000, w=400)
    mask = np.zeros(img.shape[:2], bool)
    mask[100:15900:500, 50:350] = True
    probe = _Probe(ClassicalInpainter())
    monkeypatch.setattr(api, "get_inpainter", lambda *a, **k: probe)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        done = api.restore_and_report(img, mask, overwrite=overwrite)
    finally:
        tracemalloc.stop()
    assert probe.held and done.repaired_pixels > 0
    # allowed: the band of tiles being blended (768 rows x 400 x 3 float32), a tile's planes
    assert max(probe.held) - before < 0.6 * img.nbytes

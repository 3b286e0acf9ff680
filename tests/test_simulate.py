"""Fast tests of the damage simulator (unscratch.train.simulate)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import near
from unscratch.train import simulate as S
from unscratch.train.damage import negatives


def _photo(h=96, w=128, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([0.2 + 0.6 * xx / w, 0.3 + 0.4 * yy / h, 0.5 + 0.2 * np.sin(xx / 9)], 2)
    for _ in range(4):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(5, 25)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0.1, 0.9, 3)
    return img.astype(np.float32)


@pytest.fixture(scope="module")
def bank(overlays) -> S.OverlayBank:
    """A tiny fake overlay folder: a few RGBA sprites (white RGB, alpha = shape) per category."""
    return S.OverlayBank(overlays)


def test_deterministic_for_a_seed(bank):
    img = _photo()
    a = S.simulate(img, np.random.default_rng(42), bank, severity=0.7)
    b = S.simulate(img, np.random.default_rng(42), bank, severity=0.7)
    for f in ("damaged", "mask", "opacity", "clean"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert a.info == b.info
    c = S.simulate(img, np.random.default_rng(43), bank, severity=0.7)
    assert not np.array_equal(a.damaged, c.damaged)
    # make_pair too, from an array
    p = S.make_pair(img, np.random.default_rng(5), bank, 64)
    q = S.make_pair(img, np.random.default_rng(5), bank, 64)
    np.testing.assert_array_equal(p.damaged, q.damaged)


@pytest.mark.parametrize("shape,dtype",
                         [((64, 80, 3), np.float32), ((70, 50), np.uint8),
                          ((48, 48, 3), np.uint16)])
def test_shapes_dtypes_ranges(bank, shape, dtype):
    rng = np.random.default_rng(1)
    img = _photo(shape[0], shape[1])
    if len(shape) == 2:
        img = img.mean(2)
    if dtype != np.float32:
        img = (img * np.iinfo(dtype).max).astype(dtype)
    for seed in range(4):
        d = S.simulate(img, np.random.default_rng(seed), bank, severity=float(rng.uniform(0.2, 1)))
        h, w = shape[:2]
        assert d.damaged.shape == (h, w, 3) and d.damaged.dtype == np.float32
        assert d.clean.shape == (h, w, 3) and d.clean.dtype == np.float32
        assert d.mask.shape == (h, w) and d.mask.dtype == np.bool_
        assert d.opacity.shape == (h, w) and d.opacity.dtype == np.float32
        for arr in (d.damaged, d.clean, d.opacity):
            assert np.isfinite(arr).all() and arr.min() >= 0 and arr.max() <= 1
        # the mask keeps only visible defects
        assert not (d.mask & ~(d.opacity > S.MASK_THRESHOLD)).any()
    d = S.make_pair(_photo(200, 300), np.random.default_rng(0), bank, size=(48, 64))
    assert d.damaged.shape == (48, 64, 3)


def test_change_is_bounded_by_opacity_and_lies_in_mask(bank):
    """Without JPEG, |damaged - target| <= opacity exactly, so visible change implies the mask."""
    for seed in range(8):
        d = S.simulate(_photo(seed=seed), np.random.default_rng(seed), bank, severity=0.8,
                       jpeg=False)
        diff = np.abs(d.damaged - d.clean).max(2)
        assert (diff <= d.opacity + 1e-4).all()
        assert d.mask[diff > S.MASK_THRESHOLD + 1e-4].all()
        if d.mask.any():
            assert diff[d.mask].mean() > 0.05          # the damage is visible where the mask says


def test_with_jpeg_differences_are_mostly_inside_the_mask(bank):
    inside, outside = [], []
    for seed in range(8):
        d = S.simulate(_photo(seed=seed), np.random.default_rng(seed), bank, severity=0.8, jpeg=70)
        diff = np.abs(d.damaged - d.clean).max(2)
        grown = near(d.mask, 2)
        if d.mask.any():
            inside.append(diff[d.mask].mean())
        outside.append(diff[~grown].mean())
        assert (diff[~grown] > 0.25).mean() < 0.01
    assert np.mean(outside) < 0.03
    assert np.mean(inside) > 3 * np.mean(outside)


def test_both_polarities_occur(bank):
    signs = set()
    counts = {"bright": 0, "dark": 0}
    for seed in range(24):
        d = S.simulate(_photo(seed=seed), np.random.default_rng(seed), bank, severity=0.6,
                       jpeg=False)
        for k in counts:
            counts[k] += d.info["polarity"][k]
        delta = (d.damaged - d.clean).mean(2)[d.mask]
        if delta.size:
            signs.add(bool(delta.mean() > 0))
    assert counts["bright"] > 0 and counts["dark"] > 0
    assert signs == {True, False}


def test_no_damage_samples(bank):
    d = S.simulate(_photo(), np.random.default_rng(0), bank, severity=0)
    assert not d.mask.any() and d.opacity.max() == 0
    undamaged = 0
    for seed in range(80):
        d = S.simulate(_photo(32, 32), np.random.default_rng(seed), bank)
        if d.info["severity"] == 0:
            undamaged += 1
            assert not d.mask.any()
        else:
            assert 0 < d.info["severity"] <= 1
    assert 1 <= undamaged <= 25


def test_procedural_only_without_bank():
    for seed in range(6):
        d = S.simulate(_photo(), np.random.default_rng(seed), None, severity=1.0)
        assert d.mask.any()
        assert "sprites" not in d.info["kinds"] and "sprites" not in d.info["families"]


def test_defects_grow_with_resolution_scale():
    def mean_width(scale):
        tot_area = tot_len = 0.0
        for seed in range(6):
            d = S.simulate(_photo(256, 256, seed), np.random.default_rng(seed), None, severity=0.8,
                           scale=scale, jpeg=False)
            m = d.mask.astype(np.uint8)
            if m.any():
                edge = cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
                skel_len = edge.sum() / 2
                tot_area += m.sum()
                tot_len += skel_len
        return tot_area / max(tot_len, 1)
    assert mean_width(4.0) > 1.5 * mean_width(0.4)


def test_sprite_splits_are_disjoint(bank):
    parts = {s: set(S.OverlayBank(bank.root, s).files()) for s in ("train", "val", "test")}
    everything = set(S.OverlayBank(bank.root, "all").files())
    assert not parts["train"] & parts["val"] and not parts["train"] & parts["test"]
    assert not parts["val"] & parts["test"]
    assert parts["train"] | parts["val"] | parts["test"] == everything
    assert len(parts["train"]) > len(parts["val"])
    with pytest.raises(ValueError):
        S.OverlayBank(bank.root, "nope")


def test_real_overlay_split_proportions():
    root = S.default_overlays()
    if not root.is_dir():
        pytest.skip(f"damage overlays not found at {root} (core/unscratch/train/README.md says "
                    "how to get them)")
    names = [f"{p.parent.name}/{p.name}" for p in S.OverlayBank(root).files()]
    splits = [S.sprite_split(n) for n in names]
    frac = {s: splits.count(s) / len(splits) for s in ("train", "val", "test")}
    assert abs(frac["train"] - 0.70) < 0.04
    assert abs(frac["val"] - 0.15) < 0.04 and abs(frac["test"] - 0.15) < 0.04


def test_sprite_cache_is_capped(bank):
    small = S.OverlayBank(bank.root, cache_mb=0.01)
    rng = np.random.default_rng(0)
    for _ in range(40):
        small.sample(rng)
    assert small._cached <= 0.01 * (1 << 20) + 80 * 80


def test_family_shares_form_a_table():
    assert set(S.FAMILIES) == {"sprites", "scratches", "dust", "fibres", "blotches", "cracks",
                               "creases", "losses",
                               "foxing", "scuffs"}
    assert abs(sum(S.FAMILIES.values()) - 1) < 1e-6 and min(S.FAMILIES.values()) > 0


@pytest.mark.parametrize("family", list(S.FAMILIES))
def test_each_family_draws_visible_damage_of_its_own_kind_and_an_exact_mask(bank, family):
    visible = 0
    for seed in range(4):
        d = S.simulate(_photo(128, 128, seed), np.random.default_rng(seed), bank, severity=0.6,
                       jpeg=False, families=family, hard_negatives=0, scale=1.0)
        assert d.info["families"] == [family]
        assert set(d.info["kinds"]) <= {family}
        diff = np.abs(d.damaged - d.clean).max(2)
        assert (diff <= d.opacity + 1e-4).all()                       # change bounded by opacity
        # every visible change is in the mask
        assert d.mask[diff > S.MASK_THRESHOLD + 1e-4].all()
        assert not (d.mask & ~(d.opacity > S.MASK_THRESHOLD)).any()
        if d.mask.sum() > 10:
            visible += 1
            # faint foxing and its 1-px fringe included
            assert diff[d.mask].mean() > S.VISIBLE_DELTA
    assert visible >= 3


def test_print_families_make_a_print():
    for fam in ("cracks", "creases", "losses", "foxing", "scuffs"):
        d = S.simulate(_photo(), np.random.default_rng(1), None, severity=0.5, families=fam)
        assert d.info["medium"] == "print"


def test_restricting_and_excluding_families():
    for seed in range(12):
        d = S.simulate(_photo(64, 64), np.random.default_rng(seed), None, severity=0.9,
                       exclude=["cracks", "dust"])
        assert not {"cracks", "dust"} & set(d.info["kinds"] + d.info["families"])
        d = S.simulate(_photo(64, 64), np.random.default_rng(seed), None, severity=0.9,
                       families=["cracks", "dust"])
        assert set(d.info["families"]) <= {"cracks", "dust"} and d.info["families"]
    with pytest.raises(ValueError, match="unknown damage family"):
        S.simulate(_photo(), np.random.default_rng(0), None, families="nope")
    with pytest.raises(ValueError):
        S.simulate(_photo(), np.random.default_rng(0), None, families="cracks", exclude="cracks")
    p = S.make_pair(_photo(200, 300), np.random.default_rng(0), None, 64, severity=0.5,
                    families="creases")
    assert p.info["families"] == ["creases"]


def test_hard_negatives_are_picture_not_damage():
    """Thin structure goes into the clean photo: it is in the target, and the mask stays empty."""
    for seed in range(6):
        d = S.simulate(_photo(seed=seed), np.random.default_rng(seed), None, severity=0,
                       hard_negatives=3, jpeg=False)
        assert len(d.info["negatives"]) == 3
        assert not d.mask.any() and d.opacity.max() == 0
        np.testing.assert_array_equal(d.damaged, d.clean)
    flat = np.full((96, 96, 3), 0.5, np.float32)
    for kind in negatives.KINDS:
        changed = 0.0
        for seed in range(3):
            out = negatives.draw(flat, np.random.default_rng(seed), 1.0, {}, 1, kind=kind)
            changed = max(changed, float((np.abs(out - flat).max(2) > 0.1).mean()))
        assert changed > 0.002, kind


def test_negatives_come_in_a_high_share_and_with_damage_too(bank):
    with_neg = 0
    for seed in range(40):
        d = S.simulate(_photo(48, 48), np.random.default_rng(seed), bank)
        with_neg += bool(d.info["negatives"])
    assert 0.4 <= with_neg / 40 <= 0.8


def test_old_look_changes_the_target_not_the_mask():
    img = _photo()
    modes = set()
    for seed in range(30):
        d = S.simulate(img, np.random.default_rng(seed), None, severity=0, old=True,
                       hard_negatives=0, jpeg=False)
        assert not d.mask.any()
        np.testing.assert_array_equal(d.damaged, d.clean)
        modes.add(d.info["mode"])
    assert {"gray", "sepia"} <= modes and len(modes) >= 4


def test_preview_sheets_per_family(tmp_path, monkeypatch):
    # synthetic photos: fast, no pool
    monkeypatch.setenv("UNSCRATCH_PHOTOS", str(tmp_path / "no-pool"))
    monkeypatch.setenv("UNSCRATCH_OVERLAYS", str(tmp_path / "no-overlays"))
    for fam in ("cracks", "all", "negatives"):
        out = tmp_path / f"{fam}.png"
        assert S.main(["--preview", str(out), "--family", fam, "--size", "48", "-n", "2"]) == 0
        sheet = cv2.imread(str(out))
        assert sheet is not None and sheet.shape[0] >= 48
    assert cv2.imread(str(tmp_path / "all.png")).shape[0] >= 48 * len(S.FAMILIES)
    with pytest.raises(SystemExit):
        S.main(["--preview", str(tmp_path / "x.png"), "--family", "nope"])

"""The independent evaluation damage generator: deterministic, exact masks, every family visible,
and kept apart from the training simulator."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from conftest import smooth_photo
from unscratch.train.eval import independent_damage as ed
from unscratch.train.eval import independent_families as ed_families


def test_same_seed_same_samples_other_seed_other_samples():
    photos = [smooth_photo(seed=0), smooth_photo(seed=1)]
    a = ed.make_samples(photos, 2, 128, seed=3)
    b = ed.make_samples(photos, 2, 128, seed=3)
    c = ed.make_samples(photos, 2, 128, seed=4)
    for x, y in zip(a, b):
        assert np.array_equal(x.damaged, y.damaged) and np.array_equal(x.mask, y.mask)
        assert np.array_equal(x.family, y.family)
    assert any(not np.array_equal(x.damaged, z.damaged) for x, z in zip(a, c))


@pytest.mark.parametrize("family", ed.FAMILIES)
def test_each_family_is_visible_and_its_mask_exact(family):
    rng = np.random.default_rng(ed.FAMILIES.index(family))
    found = 0
    for _ in range(4):
        s = ed.damage(ed.old_look(smooth_photo(), rng), rng, [family], jpeg=False)
        diff = np.abs(s.damaged - s.clean).max(axis=2)
        # exact: the mask is precisely where the picture changed visibly, and its pixels carry the
        # family
        assert np.array_equal(s.mask, diff >= ed.VISIBLE)
        assert np.all(s.family[s.mask] == ed.FAMILIES.index(family))
        assert np.all(s.family[~s.mask] == -1)
        found += int(s.mask.sum())
    assert found >= 20, f"{family}: only {found} visible pixels in 4 crops"


def test_jpeg_changes_the_damaged_picture_only_and_mask_is_unaffected():
    rng1, rng2 = np.random.default_rng(5), np.random.default_rng(5)
    a = ed.damage(smooth_photo(), rng1, ["scratch"], jpeg=False)
    b = ed.damage(smooth_photo(), rng2, ["scratch"], jpeg=True)
    assert np.array_equal(a.mask, b.mask) and np.array_equal(a.clean, b.clean)


def test_clean_samples_have_no_damage_and_are_deterministic():
    a = ed.clean_samples([smooth_photo()], 64, seed=1)
    b = ed.clean_samples([smooth_photo()], 64, seed=1)
    assert len(a) == 1 and np.array_equal(a[0], b[0]) and a[0].shape == (128, 128, 3)


def test_generator_never_touches_the_training_simulator():
    """Written apart: it neither imports the simulator nor its damage package, nor reads the
    sprites."""
    src = "\n".join(Path(m.__file__).read_text() for m in (ed, ed_families))
    names = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    assert not any("simulate" in n or n == "damage" or n.endswith(".damage") for n in names), names
    assert "damage-overlays" not in src and "OverlayBank" not in src


def test_training_never_imports_the_generator():
    train_dir = Path(ed.__file__).parent.parent
    paths = [train_dir / n for n in ("train.py", "simulate.py", "nets.py", "ablate.py")]
    paths += sorted((train_dir / "pool").glob("*.py")) + sorted((train_dir / "damage").glob("*.py"))
    assert len(paths) > 10
    for path in paths:
        if path.is_file():
            text = path.read_text()
            assert "independent_damage" not in text and "independent_families" not in text, \
                path.name


# --- the evaluation on a tiny set -----------------------------------------------------------------
def _tiny_sets():
    photos = [smooth_photo(96, 0), smooth_photo(96, 1)]
    from unscratch.train.eval import detect
    return detect.independent_sets(photos, 1, 96, seed=0, jpeg=True), photos


def test_independent_detect_runs_and_scores_in_range():
    from unscratch.train.eval import detect
    sets, _ = _tiny_sets()
    rows, fams = detect.independent_detect("classical", "classical", 0.4, sets, 0.3)
    r = rows["classical @ 0.4"]
    assert r["F1@2px"] <= r["best F1@2px (any threshold)"] + 1e-9
    assert "classical @ 0.3 (tuned on the simulator's val)" in rows
    assert 0 <= r["F1@2px"] <= 1 and 0 <= r["AP"] <= 1 and 0 <= r["clean FP area %"] <= 100
    assert set(fams) == set(ed.FAMILIES) and all(0 <= f["recall@2px"] <= 1 for f in fams.values())


def test_a_perfect_detector_scores_one_and_a_blind_one_zero():
    from unscratch.train.eval.detect import tolerant_prf
    sets, _ = _tiny_sets()
    truths = [s.mask for s in sets["mixed"]]
    assert tolerant_prf(truths, truths)[2] == pytest.approx(1.0)
    assert tolerant_prf([np.zeros_like(t) for t in truths], truths)[1] == 0.0


def test_independent_restore_runs_and_telea_beats_doing_nothing():
    from unscratch.metrics import psnr
    from unscratch.train.eval.cases import Case
    from unscratch.train.eval.restore import independent_restore
    _, photos = _tiny_sets()
    res = independent_restore(photos, 1, 96, seed=0)
    telea = res["rows"]["OpenCV Telea"]
    damaged = np.mean([psnr(c.damaged, c.clean) for c in
                       [Case(s.damaged, s.clean, s.mask, None) for s in
                        ed.make_samples(photos, 1, 96, 0, jpeg=False)]])
    assert telea["PSNR image"] > damaged
    assert "images with lower SSIM than damaged" in res["pipeline"]


def test_family_psnr_is_perfect_for_a_perfect_repair():
    from unscratch.train.eval.restore import _family_psnr
    samples = ed.make_samples([smooth_photo(96, 2)], 2, 96, seed=1, jpeg=False)
    results = {"oracle": [s.clean for s in samples], "none": [s.damaged for s in samples]}
    got = _family_psnr(samples, results)
    assert got and all(v["oracle"] == float("inf") and np.isfinite(v["none"]) for v in got.values())


def test_the_mask_fit_table_repairs_and_puts_the_restorer_back():
    """eval.masks: every method repairs exact masks better than leaving the damage, hiding the hole
    changes the restorer's answer, and the shipped hiding rule is back in place afterwards."""
    from unscratch import classical, operators
    from unscratch.train.eval import masks
    _, photos = _tiny_sets()
    rows = masks.evaluate(photos, 96, film=None)
    assert set(rows) == {"restorer", "hole hidden", "Telea"}
    samples = ed.make_samples(photos, 1, 96, 0, jpeg=False)
    damaged = np.mean([masks.psnr_in(s.damaged, s.clean, s.mask) for s in samples])
    exact = next(k for k in rows["Telea"] if k.startswith("exact"))
    assert all(row[exact] > damaged for row in rows.values())
    assert rows["hole hidden"] != rows["restorer"]
    assert operators.defect_pixels is classical.defect_pixels

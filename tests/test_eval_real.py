"""`unscratch eval real`: real photos (no target) and scans beside an expert's restoration."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import smooth_photo
from unscratch.train.eval.real import detection_scores, eval_real, thin_line_energy


def _photo(size=160, seed=0) -> np.ndarray:
    return smooth_photo(size, seed, np.uint8)


def test_eval_real_writes_one_sheet_per_photo_and_reads_nothing_it_writes(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    for i in range(2):
        cv2.imwrite(str(src / f"p{i}.png"), _photo(64, i))
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    rows = eval_real(src, tmp_path / "out")
    assert [r["photo"] for r in rows] == ["p0.png", "p1.png"]
    assert all(0 <= r[k] <= 100 for r in rows
               for k in ("mask %", "changed %", "select-all changed %"))
    assert all(r["thin-line energy left"] > 0 for r in rows)
    assert (sorted(p.name for p in (tmp_path / "out").iterdir())
            == ["photos-p0.jpg", "photos-p1.jpg"])
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before
    with pytest.raises(ValueError):
        eval_real(src, src)


def test_expert_pairs_are_judged_against_the_expert(tmp_path):
    """A scan with a bright scratch, and its expert's restoration (the clean photo): the real mask
    is the scratch, the repair with the real mask moves the scan towards the expert, and nothing is
    written into the folder read."""
    src = tmp_path / "scans"
    src.mkdir()
    clean = _photo(192)
    damaged = clean.copy()
    damaged[90:92, 20:170] = 250
    cv2.imwrite(str(src / "roll_input.png"), damaged)
    cv2.imwrite(str(src / "roll_expert.png"), clean)
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    (row,) = eval_real(src, tmp_path / "out")
    assert row["photo"] == "roll" and abs(row["real mask %"] - 100 * 300 / 192 ** 2) < 0.01
    assert row["real mask dB"] > 3 and row["Telea real mask dB"] > 3
    for key in ("precision", "recall", "F1@2px", "no selection dB", "select-all dB", "input dB",
                "real mask grown 2+2 dB"):
        assert np.isfinite(row[key])
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["scans-roll.jpg"]


def test_detection_scores_and_thin_lines():
    truth = np.zeros((20, 20), bool)
    truth[10, 2:18] = True
    shifted = np.roll(truth, 1, axis=0)
    assert detection_scores(truth, truth)["F1"] == 1.0
    assert detection_scores(shifted, truth)["F1"] == 0.0
    assert detection_scores(shifted, truth, tolerance=2)["F1"] == 1.0
    flat = np.full((40, 40), 128, np.uint8)
    lined = flat.copy()
    lined[20] = 200
    assert thin_line_energy(flat) == 0 and thin_line_energy(lined) > 0


def test_calibration_keeps_clean_photos_clean_before_it_chases_gain():
    """The rule is chosen by the stated criterion: only rules within the clean budget qualify, then
    the best worst-case film scan wins; a rule that gains more but touches a clean photo too much
    loses."""
    from unscratch.train.calibrate import CLEAN_BUDGET, choose

    def rule(t, film, clean, thin):
        return {"threshold": t, "film dB": film, "clean %": {"a": clean}, "thin %": thin}
    result = {"greedy": rule(0.8, {"x": 3.0, "y": 2.0}, 2 * CLEAN_BUDGET, 0.1),
              "safe": rule(0.95, {"x": 1.0, "y": 0.5}, CLEAN_BUDGET / 2, 0.1),
              "safer": rule(0.99, {"x": 1.5, "y": 0.2}, CLEAN_BUDGET / 4, 0.05),
              "thin": rule(0.9, {"x": 2.0, "y": 1.0}, CLEAN_BUDGET / 2, 2 * CLEAN_BUDGET)}
    assert choose(result) == "safe"

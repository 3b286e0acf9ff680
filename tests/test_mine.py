"""Mined real hard negatives: what the detector marks on real photos, cut out and fed to
training."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")
from unscratch.train import mine, train  # noqa: E402


def _photo_with_masts(h=400, w=520, seed=0) -> np.ndarray:
    """Sky with thin dark verticals (masts) and a few rigging lines: the picture a detector
    mistakes."""
    rng = np.random.default_rng(seed)
    sky = np.linspace(200, 150, h)[:, None] + rng.normal(0, 3, (h, w))
    img = np.repeat(sky[:, :, None], 3, 2)
    for x in (140, 260, 380):
        cv2.line(img, (x, 60), (x + 4, h - 40), (40, 40, 45), 2, cv2.LINE_AA)
        cv2.line(img, (x, 80), (x + 90, 200), (60, 60, 60), 1, cv2.LINE_AA)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_spots_are_the_strongest_components_away_from_the_border():
    prob = np.zeros((200, 200), np.float32)
    prob[100, 50:150] = 0.9    # a long line
    prob[60, 60] = 0.5         # a faint dot
    prob[1:4, 90:110] = 1.0    # on the border: a film edge, skipped
    spots = mine._spots(prob, 0.3, per_photo=5)
    assert [(y, round(p, 2)) for y, _, p in spots] == [(100, 0.9), (60, 0.5)]
    assert mine._spots(prob, 0.3, per_photo=1) == spots[:1]


def test_mined_crops_feed_training(tmp_path, monkeypatch):
    photos = tmp_path / "thin"
    photos.mkdir()
    for i in range(2):
        cv2.imwrite(str(photos / f"harbour{i}.png"), _photo_with_masts(seed=i))
    index = mine.mine(sorted(photos.iterdir()), tmp_path / "mined", threshold=0.05, per_photo=3)
    assert index and json.loads((tmp_path / "mined" / "mined.json").read_text()) == index
    for e in index:
        crop = cv2.imread(str(tmp_path / "mined" / e["file"]))
        assert crop is not None and 0 <= e["y"] < crop.shape[0] and 0 <= e["x"] < crop.shape[1]
    assert {p.name for p in photos.iterdir()} == {"harbour0.png", "harbour1.png"}
    mined = mine.load_mined(tmp_path / "mined")
    stream = train.PairStream("train", 96, 0, photos=[np.zeros((8, 8, 3), np.uint8)], mined=mined,
                              mined_share=1.0)
    monkeypatch.setattr(train.simulate, "OverlayBank", lambda split: None)
    x, clean, mask = next(iter(stream))
    assert x.shape == clean.shape == (3, 96, 96) and mask.shape == (1, 96, 96)
    assert float(clean.std()) > 0.02, "the crop is the mined photo, not the blank pool photo"


def test_the_held_out_thin_structure_photos_are_never_mined(tmp_path, monkeypatch):
    root = tmp_path / "thin-structure-photos" / "src"
    root.mkdir(parents=True)
    for i in range(40):
        (root / f"p{i:02d}.jpg").write_bytes(b"")
    monkeypatch.setenv("UNSCRATCH_THIN_PHOTOS", str(root.parent))
    train_part, held = mine.thin_structure_photos("train"), mine.thin_structure_photos("holdout")
    assert set(train_part).isdisjoint(held) and len(train_part) + len(held) == 40
    assert 0 < len(held) < 20 and all(mine.is_held_out(Path(p)) for p in held)

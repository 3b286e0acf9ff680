"""`unscratch demo`: damage the bundled public-domain photo, then detect and restore it.

The damage is drawn at run time (seeded, so every run shows the same picture): what users bring -
thin bright and dark curved scratches, a long vertical film-transport line, dust specks, short dark
hairs and faint branching cracks.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from . import io
from .api import restore_and_report
from .progress import Bar
from .strokes import bezier, curved_stroke

SAMPLE = Path(__file__).resolve().parent / "data" / "astronaut.jpg"


def sample_photo() -> np.ndarray:
    return io.read(SAMPLE)


def add_demo_damage(clean: np.ndarray, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """(damaged uint8 copy, true defect mask) for an 8-bit RGB photo."""
    rng = np.random.default_rng(seed)
    h, w = clean.shape[:2]
    layer = np.zeros((h, w), np.float32)   # defect opacity
    polarity = np.zeros((h, w), np.float32)  # +1 bright, -1 dark
    for k in range(6):
        stroke = curved_stroke(h, w, rng)
        sign = 1.0 if k % 2 == 0 else -1.0
        polarity = np.where(stroke > layer, sign, polarity)
        layer = np.maximum(layer, stroke * rng.uniform(0.6, 0.95))
    x = int(rng.integers(w // 4, 3 * w // 4))
    line = np.zeros((h, w), np.float32)
    cv2.line(line, (x, 0), (x + 3, h - 1), 0.8, 1, cv2.LINE_AA)
    polarity = np.where(line > layer, 1.0, polarity)
    layer = np.maximum(layer, line)
    for _ in range(40):
        c = tuple(int(v) for v in rng.uniform([0, 0], [w, h]))
        spot = np.zeros((h, w), np.float32)
        cv2.circle(spot, c, int(rng.integers(1, 4)), 1.0, -1, cv2.LINE_AA)
        sign = 1.0 if rng.random() < 0.6 else -1.0
        polarity = np.where(spot > layer, sign, polarity)
        layer = np.maximum(layer, spot)
    extra = np.random.default_rng([seed, 1])  # hairs and cracks, on their own stream
    for hair in range(3):
        stroke = _hair(h, w, extra)
        polarity = np.where(stroke > layer, -1.0, polarity)
        layer = np.maximum(layer, stroke * 0.9)
    for crack in range(2):
        stroke = _crack(h, w, extra)
        polarity = np.where(stroke > layer, 1.0, polarity)
        layer = np.maximum(layer, stroke * extra.uniform(0.3, 0.45))
    f = clean.astype(np.float32) / 255.0
    target = np.where(polarity > 0, 0.95, 0.05)[:, :, None]
    damaged = f * (1 - layer[:, :, None]) + target * layer[:, :, None]
    return np.rint(damaged * 255).astype(np.uint8), layer > 0.1


def _hair(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A short dark hair: a curled 1-px curve a tenth to a quarter of the image across."""
    start = rng.uniform([0.1 * w, 0.1 * h], [0.9 * w, 0.9 * h])
    span = rng.uniform(0.1, 0.25) * min(h, w)
    curve = bezier(start + rng.normal(0, span / 2, size=(4, 2)), 200)
    layer = np.zeros((h, w), np.float32)
    cv2.polylines(layer, [np.round(curve * 16).astype(np.int32)], False, 1.0, 1, cv2.LINE_AA, 4)
    return layer


def _crack(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A faint crack: a jagged walk across a third of the image with a few short branches."""
    layer = np.zeros((h, w), np.float32)
    p, angle = rng.uniform([0.2 * w, 0.2 * h], [0.8 * w, 0.8 * h]), rng.uniform(0, 2 * np.pi)
    for step in range(int(min(h, w) / 3 / 6)):
        angle += rng.normal(0, 0.5)
        q = p + 6 * np.array([np.cos(angle), np.sin(angle)])
        cv2.line(layer, tuple(np.round(p * 16).astype(int)), tuple(np.round(q * 16).astype(int)),
                 1.0, 1, cv2.LINE_AA, 4)
        if rng.random() < 0.12:
            b = q + rng.uniform(8, 20) * np.array([np.cos(angle + 1.2), np.sin(angle + 1.2)])
            cv2.line(layer, tuple(np.round(q * 16).astype(int)),
                     tuple(np.round(b * 16).astype(int)), 1.0, 1, cv2.LINE_AA, 4)
        p = q
    return layer


# the sensitivity of the demo's second repair: what a user who looked at the marks might choose here
# (on real scans nobody reviewed, restore keeps to the detector's own, cautious threshold)
DEMO_SENSITIVITY = 0.3


def run_demo(out_dir: Path, quiet: bool = False) -> dict:
    """Damage the bundled photo, then restore it twice: by the detector's own rule (what a restore
    nobody reviewed does: only what it is sure of) and at DEMO_SENSITIVITY (what a user who raised
    the sensitivity gets). Writes the PNGs and a side-by-side (input | rule | marks at the
    sensitivity | repaired at it); returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    damaged, _ = add_demo_damage(sample_photo())
    bar = Bar("restore", quiet)
    safe = restore_and_report(damaged, progress=lambda f: bar(f / 2))
    sensitive = restore_and_report(damaged, threshold=DEMO_SENSITIVITY, keep_detection=True,
                                   progress=lambda f: bar(0.5 + f / 2))
    bar.close()
    marks = sensitive.detection.mask.astype(np.uint8) * 255
    side = np.concatenate([damaged, safe.image, np.repeat(marks[:, :, None], 3, axis=2),
                           sensitive.image], axis=1)
    paths = {"input": out_dir / "input.png", "restored": out_dir / "restored.png",
             "mask": out_dir / "mask.png", "restored-sensitive": out_dir / "restored_sensitive.png",
             "side-by-side": out_dir / "side_by_side.png"}
    for key, pixels in (("input", damaged), ("restored", safe.image), ("mask", marks),
                        ("restored-sensitive", sensitive.image), ("side-by-side", side)):
        io.write(paths[key], pixels)
    return paths

"""Curved strokes: the cubic Bézier curve that scratches follow, and one random anti-aliased stroke.

The demo's damage, the tests' damaged photos and the simulator's scratches, fibres and hard
negatives all draw their curves with these."""
from __future__ import annotations

import cv2
import numpy as np


def bezier(ctrl: np.ndarray, n: int) -> np.ndarray:
    """``n`` points (n, 2) along the cubic Bézier curve with control points ``ctrl`` (4, 2)."""
    t = np.linspace(0, 1, n)[:, None]
    return (((1 - t) ** 3) * ctrl[0] + 3 * ((1 - t) ** 2) * t * ctrl[1]
            + 3 * (1 - t) * t * t * ctrl[2]
            + t ** 3 * ctrl[3])


def curved_stroke(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """An (h, w) float32 layer, 1 on a 1-2 px anti-aliased stroke along a Bézier curve whose four
    control points are anywhere in the image, 0 elsewhere."""
    curve = bezier(rng.uniform([0, 0], [w, h], size=(4, 2)), 400)
    stroke = np.zeros((h, w), np.float32)
    cv2.polylines(stroke, [np.round(curve * 16).astype(np.int32)], False, 1.0,
                  int(rng.integers(1, 3)), cv2.LINE_AA, 4)
    return stroke

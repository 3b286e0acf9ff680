"""Blotches: a water stain or emulsion blotch, a faint irregular fill with a stronger tide line."""

from __future__ import annotations

import cv2
import numpy as np

from .draw import Canvas


def draw(cv: Canvas, n: int, scale: float) -> None:
    for _ in range(n):
        _blotch(cv, scale)


def _blotch(cv: Canvas, scale: float) -> None:
    rng = cv.rng
    h, w = cv.h, cv.w
    size = int(rng.uniform(0.1, 0.45) * min(h, w)) + 8
    g = int(rng.integers(4, 8))
    noise = rng.random((g, g)).astype(np.float32)
    yy, xx = np.mgrid[0:g, 0:g].astype(np.float32)
    c = (g - 1) / 2
    noise = noise * 0.6 + 0.8 * (1 - np.hypot(yy - c, xx - c) / (c * 1.2))
    field_ = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
    thr = rng.uniform(0.5, 0.7)
    blob = (field_ > thr).astype(np.float32)
    blob = cv2.GaussianBlur(blob, (0, 0), max(1.0, size / 60))
    fill = blob * rng.uniform(0.15, 0.5)
    if rng.random() < 0.6:
        edge = cv2.morphologyEx((blob > 0.5).astype(np.uint8), cv2.MORPH_GRADIENT,
                                np.ones((3, 3), np.uint8)).astype(np.float32)
        edge = cv2.GaussianBlur(edge, (0, 0), max(0.7, 0.8 * scale))
        fill = np.maximum(fill, np.clip(edge * rng.uniform(0.6, 1.0), 0, 1))
    st = cv.style(bright_p=cv.ctx["bright_p"] * 0.5, faint_p=0.0, opacity=(0.7, 1.0))
    st["strength"] = min(st["strength"], 0.8)
    y0 = int(rng.uniform(0.05, 0.95) * h - size / 2)
    x0 = int(rng.uniform(0.05, 0.95) * w - size / 2)
    cv.add(y0, x0, fill.astype(np.float32), st, "blotches")

"""Foxing and mould: clusters of rust-brown spots with a soft halo and a darker core, or fuzzy mould
colonies (grey, green-grey or white) with threads reaching out."""

from __future__ import annotations

import cv2
import numpy as np

from .draw import Canvas, smooth_noise


def _fox(cv: Canvas, s: float) -> None:
    rng = cv.rng
    h, w = cv.h, cv.w
    patch = np.zeros((h, w), np.float32)
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    spread = rng.uniform(0.05, 0.3) * min(h, w)
    k = 1 + int(rng.poisson(rng.uniform(2, 15)))
    for _ in range(k):
        y, x = cy + rng.normal(0, spread), cx + rng.normal(0, spread)
        r = (0.6 + 8 * rng.random() ** 2.5) * s
        cv2.circle(patch, (int(x * 16), int(y * 16)), max(1, int(r * 16)),
                   float(rng.uniform(0.4, 1.0)), -1, cv2.LINE_AA, 4)
    # a narrow halo round a darker core
    soft = cv2.GaussianBlur(patch, (0, 0), max(0.7, 1.0 * s))
    body = np.maximum(patch, soft * np.float32(1.2))
    body *= np.clip(0.75 + 0.35 * smooth_noise(rng, h, w, 2.0 * s), 0.3, 1.0)
    st = cv.style(bright_p=0.0, faint_p=0.2, opacity=(0.6, 1.0))
    st["bright"], st["tint"] = False, None
    st["colour"] = np.array([0.62, 0.40, 0.22], np.float32) * np.float32(rng.uniform(0.55, 1.1))
    st["strength"] = float(rng.uniform(0.6, 1.0))
    cv.add(0, 0, np.clip(body, 0, 1), st, "foxing")


def _mould(cv: Canvas, s: float) -> None:
    rng = cv.rng
    h, w = cv.h, cv.w
    size = int(rng.uniform(8, 40) * s) + 6
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.hypot(yy - size / 2, xx - size / 2) / (size / 2)
    f = 1.2 - 1.5 * r + 0.6 * smooth_noise(rng, size, size, max(1.5, size / 6))
    blob = np.clip(f * 2, 0, 1)
    lines = np.zeros((size, size), np.uint8)
    # hyphae: short threads from the colony outwards
    for _ in range(int(rng.integers(5, 20))):
        a = rng.uniform(0, 2 * np.pi)
        p = (np.array([size / 2, size / 2])
             + np.array([np.cos(a), np.sin(a)]) * size * rng.uniform(0.1, 0.3))
        q = p + np.array([np.cos(a), np.sin(a)]) * size * rng.uniform(0.1, 0.3)
        cv2.line(lines, (int(p[0] * 16), int(p[1] * 16)), (int(q[0] * 16), int(q[1] * 16)), 200, 1,
                 cv2.LINE_AA, 4)
    a = np.maximum(blob, lines.astype(np.float32) / 255)
    st = cv.style(bright_p=0.5, faint_p=0.3, opacity=(0.5, 0.95))
    st["tint"] = None
    grey = rng.uniform(0.55, 0.95) if st["bright"] else rng.uniform(0.15, 0.4)
    st["colour"] = np.array([grey, grey * rng.uniform(0.95, 1.08), grey * rng.uniform(0.85, 1.0)],
                            np.float32)
    st["strength"] = float(rng.uniform(0.6, 1.0))
    y0, x0 = int(rng.uniform(0, h) - size / 2), int(rng.uniform(0, w) - size / 2)
    cv.add(y0, x0, a.astype(np.float32), st, "foxing")


def draw(cv: Canvas, n: int, scale: float) -> None:
    rng = cv.rng
    s = max(scale, 0.35)
    for _ in range(n):
        (_fox if rng.random() < 0.65 else _mould)(cv, s)

"""Dust and specks: irregular blobs, mostly tiny, 1-15 px (times scale), of the medium's main
polarity and sometimes a second population of the other."""

from __future__ import annotations

import cv2
import numpy as np

from .draw import Canvas


def _specks(cv: Canvas, n: int, scale: float, bright: bool | None = None) -> None:
    rng = cv.rng
    h, w = cv.h, cv.w
    if n <= 0:
        return
    patch = np.zeros((h, w), np.uint8)
    s = max(scale, 0.4)
    d = np.maximum(0.8, (1.0 + 14.0 * rng.random(n) ** 3.5) * s)
    cx, cy = rng.uniform(0, w, n), rng.uniform(0, h, n)
    inten = rng.uniform(0.5, 1.0, n)
    inten[rng.random(n) < 0.25] *= 0.5
    for i in range(n):
        r = d[i] / 2
        v = int(255 * inten[i] * (min(1.0, d[i]) if d[i] < 1 else 1.0))
        if r < 1.6:
            cv2.circle(patch, (int(cx[i] * 16), int(cy[i] * 16)), max(1, int(r * 16)), v, -1,
                       cv2.LINE_AA, 4)
        else:
            # irregular rounded blob: radius = low-order Fourier series of the angle
            k = int(np.clip(6 + 2.5 * r, 10, 48))
            ang = np.linspace(0, 2 * np.pi, k, endpoint=False)
            harm = np.arange(1, 9)[:, None]
            amp = rng.normal(0, 1, (8, 1)) * (0.3 / harm ** 0.9) * rng.uniform(0.4, 1.2)
            wave = (amp * np.cos(harm * ang + rng.uniform(0, 2 * np.pi, (8, 1)))).sum(0)
            rad = r * np.clip(1 + wave, 0.3, 1.9)
            el = rng.uniform(1.0, 1.5)
            rot = rng.uniform(0, np.pi)
            px, py = rad * np.cos(ang) * el, rad * np.sin(ang) / el
            xr = cx[i] + px * np.cos(rot) - py * np.sin(rot)
            yr = cy[i] + px * np.sin(rot) + py * np.cos(rot)
            q = np.round(np.stack([xr, yr], 1) * 16).astype(np.int32)
            cv2.fillPoly(patch, [q], v, cv2.LINE_AA, 4)
    bp = cv.ctx["bright_p"] if bright is None else (1.0 if bright else 0.0)
    st = cv.style(bright_p=bp, faint_p=0.1, opacity=(0.85, 1.0))
    cv.add(0, 0, patch, st, "dust")


def draw(cv: Canvas, n: int, scale: float) -> None:
    """``n`` specks in one or two populations."""
    rng = cv.rng
    if rng.random() < 0.3 and n > 4:
        k = int(n * rng.uniform(0.2, 0.5))
        _specks(cv, n - k, scale, bright=cv.ctx["bright_p"] >= 0.5)
        _specks(cv, k, scale, bright=cv.ctx["bright_p"] < 0.5)
    else:
        _specks(cv, n, scale)

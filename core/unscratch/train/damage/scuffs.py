"""Scuffs: bundles of fine light lines, near-parallel, where something rubbed across the print's
surface, sometimes over a faint abrasion haze."""

from __future__ import annotations

import cv2
import numpy as np

from .draw import Canvas, axis


def draw(cv: Canvas, n: int, scale: float) -> None:
    rng, h, w, side, s = cv.frame(scale)
    for _ in range(n):
        c = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        th = rng.uniform(0, np.pi)
        d, nrm = axis(th)
        length = rng.uniform(0.08, 0.5) * side
        band = rng.uniform(3, 25) * s
        curve = rng.normal(0, 0.08) * length          # the whole bundle bends alike
        k = int(rng.integers(4, 30))
        patch = np.zeros((h, w), np.uint8)
        t = np.linspace(-0.5, 0.5, 12)[:, None]
        for _ in range(k):
            off = rng.uniform(-0.5, 0.5) * band
            l0, l1 = sorted(rng.uniform(-0.5, 0.5, 2))
            l1 = max(l1, l0 + 0.1)
            tt = l0 + (t + 0.5) * (l1 - l0)
            ang = rng.normal(0, 0.03)
            dd = d * np.cos(ang) + nrm * np.sin(ang)
            pts = c + tt * length * dd + (off + curve * (1 - 4 * tt ** 2)) * nrm
            v = int(255 * rng.uniform(0.35, 1.0))
            th_px = 1 if rng.random() < 0.85 else 2
            cv2.polylines(patch, [np.round(pts * 16).astype(np.int32)], False, v, th_px,
                          cv2.LINE_AA, 4)
        st = cv.style(bright_p=0.9, faint_p=0.3, opacity=(0.5, 1.0))
        st["keep"] = True
        a = patch
        if rng.random() < 0.3:           # a faint haze where the surface was abraded
            haze = cv2.GaussianBlur(patch.astype(np.float32), (0, 0), max(1.0, band / 3))
            haze *= np.float32(0.5 / 255)
            a = np.maximum(patch.astype(np.float32) * np.float32(1 / 255),
                           np.clip(haze * 3, 0, 0.3))
        cv.add(0, 0, a, st, "scuffs")

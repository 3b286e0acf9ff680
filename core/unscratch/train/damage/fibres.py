"""Fibres and hairs: short curved threads, 1-2 px wide (times scale)."""

from __future__ import annotations

import numpy as np

from ...strokes import bezier
from .draw import Canvas, axis, draw_lines, width


def draw(cv: Canvas, n: int, scale: float) -> None:
    rng, h, w, _, s = cv.frame(scale, 0.4)
    for _ in range(n):
        length = rng.uniform(8, 60) * s * (3.0 if rng.random() < 0.2 else 1.0)     # some long hairs
        p0 = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        th = rng.uniform(0, 2 * np.pi)
        d, nrm = axis(th)
        ctrl = [p0, p0 + d * length / 3 + nrm * rng.normal(0, 0.3) * length,
                p0 + d * 2 * length / 3 + nrm * rng.normal(0, 0.3) * length, p0 + d * length]
        thick, fac = width(rng.uniform(0.7, 2.0) * s)
        pts = bezier(np.stack(ctrl), max(6, int(length / 3)))
        out = draw_lines(h, w, [(pts, thick, 255 * fac)], thick + 2)
        if out:
            cv.add(*out, cv.style(faint_p=0.2), "fibres")

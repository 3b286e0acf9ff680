"""Scratches: long Bezier scratches in any direction and vertical film-transport scratches, thin,
tapered, their opacity varying along the length, sometimes broken up."""

from __future__ import annotations

import numpy as np

from ...strokes import bezier
from .draw import Canvas, axis, draw_lines, smooth_1d, soften, width


def _bezier_scratch(cv: Canvas, scale: float) -> None:
    rng, h, w, side, _ = cv.frame(scale)
    length = rng.uniform(0.25, 1.3) * side
    # starts inside the crop
    p0 = np.array([rng.uniform(0.0, 1.0) * w, rng.uniform(0.0, 1.0) * h])
    th = rng.uniform(0, 2 * np.pi)
    d, nrm = axis(th)
    p3 = p0 + d * length
    bend = rng.normal(0, 0.12, 2) * length
    p1 = p0 + d * length / 3 + nrm * bend[0]
    p2 = p0 + d * 2 * length / 3 + nrm * bend[1]
    n = max(12, int(length / 4))
    pts = bezier(np.stack([p0, p1, p2, p3]), n)
    w_ref = 1.0 + 5.0 * rng.beta(1.0, 3.5)           # 1-6 px at scale 1, mostly thin
    thick, fac = width(w_ref * scale)
    st = cv.style(faint_p=0.3)
    # opacity varies along the length; sometimes the scratch fades in/out or breaks up
    var = 1 - rng.uniform(0.2, 0.7) * (0.5 + 0.5 * smooth_1d(rng, n, int(rng.integers(3, 9))))
    if rng.random() < 0.3:
        var *= smooth_1d(rng, n, int(rng.integers(4, 12))) > -0.4
    t = np.linspace(0, 1, n)
    var *= np.clip(np.minimum(t, 1 - t) / rng.uniform(0.04, 0.3), 0, 1) ** 0.7      # tapered ends
    inten = np.clip(255 * fac * var, 0, 255)
    lines = [(pts, thick, inten)]
    if thick >= 3:          # brighter core, softer flanks
        lines = [(pts, thick, inten * rng.uniform(0.45, 0.8)), (pts, max(1, thick // 2), inten)]
    out = soften(draw_lines(h, w, lines, thick + 2), thick, rng)
    if out:
        cv.add(*out, st, "scratches")


def _vertical_scratches(cv: Canvas, scale: float) -> None:
    rng = cv.rng
    h, w = cv.h, cv.w
    n = 1 + int(rng.poisson(0.8))
    x_base = rng.uniform(0.02, 0.98) * w
    bright_p = cv.ctx["bright_p"]
    st0 = cv.style(faint_p=0.4)
    for i in range(n):
        if rng.random() < 0.6:      # most of a group near the first one's place
            x = x_base + (rng.normal(0, 0.02 * w) if i else 0)
        else:
            x = rng.uniform(0, w)
        if rng.random() < 0.7:
            y0, y1 = -2.0, h + 2.0
        else:
            y0 = rng.uniform(0, 0.5) * h
            y1 = y0 + rng.uniform(0.5, 1.0) * h
        m = max(8, int((y1 - y0) / 6))
        ys = np.linspace(y0, y1, m)
        slope = rng.normal(0, 0.006)
        wob = rng.uniform(0, 1.5) * max(scale, 0.5)
        xs = x + slope * (ys - y0) + wob * smooth_1d(rng, m, int(rng.integers(3, 10)))
        pts = np.stack([xs, ys], 1)
        thick, fac = width((1.0 + 2.0 * rng.beta(1.2, 3.0)) * max(scale, 0.5))
        var = 1 - rng.uniform(0.1, 0.6) * (0.5 + 0.5 * smooth_1d(rng, m, int(rng.integers(4, 14))))
        if rng.random() < 0.35:     # intermittent
            var *= smooth_1d(rng, m, int(rng.integers(6, 20))) > -0.5
        st = dict(st0) if i and rng.random() < 0.7 else cv.style(bright_p=bright_p, faint_p=0.4)
        inten = np.clip(255 * fac * var, 0, 255)
        out = soften(draw_lines(h, w, [(pts, thick, inten)], thick + 2), thick, rng)
        if out:
            cv.add(*out, st, "scratches")


def draw(cv: Canvas, n: int, scale: float) -> None:
    """``n`` scratches; on film (not prints) sometimes a group of vertical transport scratches as
    well."""
    rng = cv.rng
    vert_p = 0.05 if cv.ctx["medium"] == "print" else 0.35
    for i in range(n):
        if rng.random() < vert_p and i == 0:
            _vertical_scratches(cv, scale)
        else:
            _bezier_scratch(cv, scale)

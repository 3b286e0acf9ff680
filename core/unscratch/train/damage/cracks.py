"""Crack networks on prints: long jagged cracks that branch, 1-10 px wide (times scale), bright
where the paper base shows through (white to yellowed cream) or dark where dirt filled them, with
flakes of lost emulsion along them. Opacity from opaque (most) to faint."""

from __future__ import annotations

import cv2
import numpy as np

from .draw import Canvas, paper_colour, smooth_1d

# share of crack networks filled with dirt (dark) rather than showing paper (bright)
DARK_P = 0.25


def _path(rng, start, theta, length, step, jag, wander):
    """A jagged path that keeps its general direction: per-step angle noise that does not
    accumulate, on top of a slow wander."""
    n = max(3, int(length / step))
    thetas = theta + wander * smooth_1d(rng, n, int(rng.integers(3, 8))) + rng.normal(0, jag, n)
    steps = step * rng.uniform(0.5, 1.5, n)
    d = np.stack([np.cos(thetas), np.sin(thetas)], 1) * steps[:, None]
    return np.vstack([start, start + np.cumsum(d, 0)]), thetas


def _network(rng, start, theta, length, step, jag, base_w, depth, segs, max_segs=30):
    """Append (pts, base width) of a crack and its branches to ``segs``."""
    pts, thetas = _path(rng, start, theta, length, step, jag, rng.uniform(0.1, 0.5))
    segs.append((pts, base_w))
    if depth >= 2 or len(segs) >= max_segs:
        return
    # few, long branches: polygons
    n_br = int(rng.poisson(length / (step * rng.uniform(15, 60))))
    for i in rng.choice(len(thetas), size=min(n_br, len(thetas)), replace=False):
        sgn = 1 if rng.random() < 0.5 else -1
        _network(rng, pts[i + 1], thetas[i] + sgn * rng.uniform(0.35, 1.4),
                 length * rng.uniform(0.15, 0.8), step, jag,
                 max(0.6, base_w * rng.uniform(0.4, 0.9)), depth + 1, segs, max_segs)


def _stroke(patch, rng, pts, base_w, flake_p, s):
    """Draw one crack path with a width that changes every few steps, and flakes beside it."""
    q = np.round(pts * 16).astype(np.int32)
    n = len(q)
    run = int(rng.integers(2, 6))
    wv = base_w * np.clip(1 + 0.45 * smooth_1d(rng, n, int(rng.integers(3, 10)))
                          + rng.normal(0, 0.2, n), 0.35, 2.0)
    gaps = smooth_1d(rng, n, int(rng.integers(4, 16))) > (-0.85 if rng.random() < 0.5 else -2)
    starts = np.arange(0, n - 1, run)
    starts = starts[gaps[starts]]
    w = wv[starts]
    th = np.maximum(1, np.round(w)).astype(int)
    v = np.where(w >= 1, 255, (255 * np.maximum(w, 0.5)) // 32 * 32).astype(int)
    for key in set(zip(th.tolist(), v.tolist())):          # one call per (thickness, intensity)
        sel = starts[(th == key[0]) & (v == key[1])]
        cv2.polylines(patch, [q[i:i + run + 1] for i in sel], False, key[1], key[0], cv2.LINE_AA, 4)
    # flakes of lost emulsion: small irregular polygons hanging off one side of the crack
    n_fl = int(rng.poisson(flake_p * n))
    if n_fl == 0:
        return
    idx = rng.integers(0, n - 1, n_fl)
    r = max(1.0, base_w) * rng.uniform(0.6, 2.5, n_fl) * np.where(rng.random(n_fl) < 0.1, 2.5, 1.0)
    d = pts[idx + 1] - pts[idx]
    nrm = np.stack([-d[:, 1], d[:, 0]], 1) / (np.hypot(d[:, 0], d[:, 1])[:, None] + 1e-6)
    side = np.where(rng.random(n_fl) < 0.5, 1.0, -1.0)
    c = pts[idx] + nrm * (r * rng.uniform(0.2, 0.9, n_fl) * side)[:, None]
    ang = np.sort(rng.uniform(0, 2 * np.pi, (n_fl, 6)), 1)
    rad = r[:, None] * rng.uniform(0.4, 1.0, (n_fl, 6))
    squash = rng.uniform(0.4, 1.0, n_fl)[:, None]
    outline = np.stack([np.cos(ang) * rad, np.sin(ang) * rad * squash], 2)
    polys = np.round((c[:, None, :] + outline) * 16)
    for poly in polys.astype(np.int32):
        cv2.fillPoly(patch, [poly], 255, cv2.LINE_AA, 4)


def crack_style(cv: Canvas, dark_p: float = DARK_P) -> dict:
    """Paper colour (bright) or dirt (dark); most cracks opaque, some faint."""
    rng = cv.rng
    st = cv.style(bright_p=1.0, faint_p=0.15, opacity=(0.75, 1.0))
    if rng.random() < dark_p:
        st["bright"] = False
        st["colour"] = (np.array([0.16, 0.12, 0.09], np.float32) * rng.uniform(0.2, 1.2)).clip(0, 1)
    else:
        st["bright"] = True
        st["colour"] = paper_colour(rng)
    strong = rng.random() < 0.8
    st["strength"] = float(rng.uniform(0.8, 1.0) if strong else rng.uniform(0.5, 0.8))
    st["tint"] = None
    return st


def draw_network(cv: Canvas, patch: np.ndarray, start, theta, length, scale: float, *,
                 widen: float = 1.0):
    """One crack network into ``patch`` (uint8, image-sized)."""
    rng = cv.rng
    # even on a small scan a crack is a pixel or more wide (as on real ones)
    s = max(scale, 0.6)
    base_w = (1.2 + 3.5 * rng.beta(1.1, 2.5)) * s * widen        # mostly 1-3 px at scale 1 ...
    if rng.random() < 0.12:
        # ... some wide, up to 10 with flakes
        base_w *= rng.uniform(1.5, 3.0)
    step = rng.uniform(3.0, 10.0) * s          # straight runs between kinks: polygonal, not wiggly
    jag = rng.uniform(0.1, 0.45)
    segs: list = []
    _network(rng, np.asarray(start, np.float64), theta, length, step, jag, base_w, 0, segs)
    flake_p = rng.uniform(0.005, 0.06) if rng.random() < 0.8 else 0.0
    for pts, w in segs:
        _stroke(patch, rng, pts, w, flake_p, s)


def draw(cv: Canvas, n: int, scale: float) -> None:
    """``n`` crack networks, each from an image edge or an interior point, across much of the
    picture."""
    rng, h, w, side, _ = cv.frame(scale)
    for _ in range(n):
        patch = np.zeros((h, w), np.uint8)
        st = crack_style(cv)
        # dirt fills fine cracks; wide dark ones look like twigs
        widen = 1.0 if st["bright"] else 0.7
        # crazing: many long cracks right across the print
        dense = rng.random() < 0.35
        for _ in range(3 + int(rng.poisson(4)) if dense else 1 + int(rng.poisson(0.8))):
            if rng.random() < 0.5:
                start = np.array([rng.uniform(0, w), rng.uniform(0, h)])
                theta = rng.uniform(0, 2 * np.pi)
            else:                                          # from an edge, inwards
                e = int(rng.integers(4))
                t = rng.uniform(0, 1)
                start = np.array([(t * w, 0), (t * w, h), (0, t * h), (w, t * h)][e], np.float64)
                theta = [np.pi / 2, -np.pi / 2, 0.0, np.pi][e] + rng.normal(0, 0.5)
            length = rng.uniform(0.7, 1.6) if dense else rng.uniform(0.3, 1.4)
            draw_network(cv, patch, start, theta, length * side, scale, widen=widen)
        # dirt caught along the broken edges of the emulsion
        if st["bright"] and rng.random() < 0.3:
            rim = cv2.morphologyEx(patch, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
            dirt = np.array([0.2, 0.16, 0.12], np.float32) * np.float32(rng.uniform(0.3, 1.0))
            rst = dict(st, bright=False, colour=dirt, opacity=float(rng.uniform(0.25, 0.6)))
            cv.add(0, 0, rim, rst, "cracks")
        cv.add(0, 0, patch, st, "cracks")

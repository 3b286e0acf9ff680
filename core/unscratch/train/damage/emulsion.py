"""Emulsion loss, torn edges and corners: large opaque areas where the picture is gone and bare
paper (white to yellowed cream) or, past a torn edge, the scanner's background (white or black)
shows."""

from __future__ import annotations

import cv2
import numpy as np

from .draw import Canvas, paper_colour, smooth_noise


def _ragged(rng, pts: np.ndarray, rough: float) -> np.ndarray:
    """Roughen a closed polygon: densify it and push each vertex along a random offset."""
    dense = []
    for a, b in zip(pts, np.roll(pts, -1, 0)):
        k = max(2, int(np.hypot(*(b - a)) / 2))
        dense.append(a + (b - a) * np.linspace(0, 1, k, endpoint=False)[:, None])
    dense = np.concatenate(dense)
    walk = np.cumsum(rng.normal(0, rough * 0.35, dense.shape), 0)
    walk -= np.linspace(0, 1, len(walk))[:, None] * walk[-1]           # closes again
    return dense + walk + rng.normal(0, rough * 0.25, dense.shape)


def _fill(h, w, poly) -> np.ndarray:
    patch = np.zeros((h, w), np.uint8)
    cv2.fillPoly(patch, [np.round(poly * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    return patch


def _loss(cv: Canvas, s: float) -> np.ndarray:
    """An island of lost emulsion: a noisy blob thresholded, with a rough edge."""
    rng = cv.rng
    h, w = cv.h, cv.w
    size = int(rng.uniform(0.06, 0.35) * min(h, w) + 6 * s)
    f = smooth_noise(rng, size, size, max(2.0, size / rng.uniform(2, 5)))
    f += 0.35 * smooth_noise(rng, size, size, max(1.5, 3 * s))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.hypot(yy - size / 2, xx - size / 2) / (size / 2)
    blob = ((f * 0.5 + 1.4 - 1.6 * r) > 0).astype(np.uint8) * 255
    patch = np.zeros((h, w), np.uint8)
    y0, x0 = int(rng.uniform(0, h) - size / 2), int(rng.uniform(0, w) - size / 2)
    ys, xs = max(0, y0), max(0, x0)
    ye, xe = min(h, y0 + size), min(w, x0 + size)
    if ye > ys and xe > xs:
        patch[ys:ye, xs:xe] = blob[ys - y0:ye - y0, xs - x0:xe - x0]
    return patch


def _edge_or_corner(cv: Canvas, s: float) -> np.ndarray:
    rng = cv.rng
    h, w = cv.h, cv.w
    rough = rng.uniform(0.8, 3.0) * s
    if rng.random() < 0.5:        # a corner torn or broken off
        a, b = rng.uniform(0.08, 0.45, 2) * min(h, w)
        poly = np.array([[0, 0], [a, 0], [0, b]], np.float64)
        poly[1:, :] += rng.normal(0, 0.05 * min(a, b), (2, 2))
        poly = _ragged(rng, poly - 2 * rough, rough)
        corner = int(rng.integers(4))
        if corner & 1:
            poly[:, 0] = w - poly[:, 0]
        if corner & 2:
            poly[:, 1] = h - poly[:, 1]
    else:                         # a torn edge: a ragged strip along one side
        depth = rng.uniform(0.02, 0.15) * min(h, w)
        n = 12
        xs = np.linspace(-5, w + 5, n)
        ys = depth * np.clip(1 + 0.6 * rng.normal(0, 1, n), 0.1, 2.5)
        poly = np.concatenate([np.stack([xs, ys], 1), [[w + 5, -5], [-5, -5]]])
        poly = _ragged(rng, poly, rough)
        side = int(rng.integers(4))
        if side == 1:
            poly[:, 1] = h - poly[:, 1]
        elif side >= 2:
            poly = poly[:, ::-1] * np.array([w / max(h, 1), h / max(w, 1)])
            if side == 3:
                poly[:, 0] = w - poly[:, 0]
    return _fill(h, w, poly)


def draw(cv: Canvas, n: int, scale: float) -> None:
    rng = cv.rng
    s = max(scale, 0.35)
    for _ in range(n):
        edge = rng.random() < 0.45
        patch = _edge_or_corner(cv, s) if edge else _loss(cv, s)
        st = cv.style(bright_p=1.0, faint_p=0.05, opacity=(0.85, 1.0))
        st["tint"] = None
        st["strength"] = float(rng.uniform(0.85, 1.0))
        if edge and rng.random() < 0.35:         # the scanner's lid or a dark mount behind the tear
            st["bright"] = rng.random() < 0.5
            grey = rng.uniform(0.9, 1.0) if st["bright"] else rng.uniform(0.0, 0.12)
            st["colour"] = np.full(3, grey, np.float32)
        else:
            st["colour"] = paper_colour(rng) * np.float32(rng.uniform(0.85, 1.0))
        if rng.random() < 0.5:               # a dirty rim where the emulsion broke off
            rim = cv2.morphologyEx(patch, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
            rim = (rim.astype(np.float32) * np.float32(rng.uniform(0.3, 0.8) / 255))
            dirt = np.array([0.25, 0.2, 0.15], np.float32) * np.float32(rng.uniform(0.3, 1.0))
            rst = dict(st, colour=dirt, bright=False)
            cv.add(0, 0, rim, rst, "losses")
        cv.add(0, 0, patch, st, "losses")

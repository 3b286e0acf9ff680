"""Hard negatives: thin picture structure drawn into the CLEAN photo (so it is in input and target
and the mask stays empty) — what a scratch detector takes for damage: masts and rigging, wires,
branches, grass, petals, stars and bright points, text, knit and fabric, window frames."""

from __future__ import annotations

import math

import cv2
import numpy as np

from ...strokes import bezier
from .draw import rep3, smooth_1d

HARD_NEGATIVE_P = 0.6       # share of crops that get thin picture structure

# kind -> share
KINDS = {"rigging": 0.12, "wires": 0.12, "branches": 0.14, "grass": 0.1, "petals": 0.12,
         "stars": 0.06, "text": 0.1, "fabric": 0.14, "windows": 0.1}


def _pt(p) -> tuple[int, int]:
    return int(round(p[0] * 16)), int(round(p[1] * 16))


def _line(a, p, q, th, v=255):
    cv2.line(a, _pt(p), _pt(q), v, max(1, int(round(th))), cv2.LINE_AA, 4)


def _rigging(a, rng, h, w, s):
    for _ in range(int(rng.integers(1, 4))):
        x = rng.uniform(0.05, 0.95) * w
        top, foot = rng.uniform(-0.2, 0.3) * h, rng.uniform(0.6, 1.2) * h
        lean = rng.normal(0, 0.03) * h
        _line(a, (x + lean, top), (x, foot), rng.uniform(1, 4) * s)
        for _ in range(int(rng.integers(0, 4))):              # yards
            y = rng.uniform(top, foot * 0.7)
            half = rng.uniform(0.03, 0.15) * w
            _line(a, (x - half, y), (x + half, y + rng.normal(0, 2)), rng.uniform(1, 2.5) * s)
        for _ in range(int(rng.integers(2, 10))):             # stays and shrouds, straight and thin
            y = rng.uniform(top, foot * 0.6)
            end = (x + rng.uniform(-0.6, 0.6) * w, rng.uniform(0.5, 1.2) * h)
            _line(a, (x, y), end, rng.uniform(0.6, 1.5) * s, int(255 * rng.uniform(0.5, 1)))


def _wires(a, rng, h, w, s):
    y0, dy = rng.uniform(0, 0.8) * h, rng.uniform(3, 20) * s
    tilt = rng.normal(0, 0.15) * h
    sag = rng.uniform(0.02, 0.15) * h
    xs = np.linspace(-5, w + 5, 40)
    t = (xs + 5) / (w + 10)
    for i in range(int(rng.integers(1, 6))):
        ys = y0 + i * dy + tilt * t + sag * 4 * t * (1 - t) * rng.uniform(0.9, 1.1)
        cv2.polylines(a, [np.round(np.stack([xs, ys], 1) * 16).astype(np.int32)], False, 255,
                      max(1, int(round(rng.uniform(0.6, 2.0) * s))), cv2.LINE_AA, 4)
    if rng.random() < 0.4:                                   # a pole
        x = rng.uniform(0.1, 0.9) * w
        _line(a, (x, y0 - 10 * s), (x, h + 5), rng.uniform(2, 6) * s)


def _branch(a, rng, p, ang, length, th, depth):
    n = max(4, int(length / 4))
    angs = ang + 0.5 * smooth_1d(rng, n, 4) + np.cumsum(rng.normal(0, 0.05, n))
    pts = p + np.cumsum(np.stack([np.cos(angs), np.sin(angs)], 1) * (length / n), 0)
    pts = np.vstack([p, pts])
    for j in range(3):                                       # tapering, in three steps
        seg = pts[j * n // 3:(j + 1) * n // 3 + 1]
        cv2.polylines(a, [np.round(seg * 16).astype(np.int32)], False, 255,
                      max(1, int(round(th * (1 - 0.25 * j)))), cv2.LINE_AA, 4)
    if depth < 4:
        for i in rng.integers(1, n, int(rng.integers(1, 4))):
            _branch(a, rng, pts[i], angs[i - 1] + rng.choice([-1, 1]) * rng.uniform(0.3, 1.0),
                    length * rng.uniform(0.3, 0.7), th * rng.uniform(0.4, 0.7), depth + 1)


def _branches(a, rng, h, w, s):
    e = int(rng.integers(4))
    t = rng.uniform(0, 1)
    p = [np.array([t * w, h + 2]), np.array([-2, t * h]), np.array([w + 2, t * h]),
         np.array([t * w, -2])][e]
    ang = [-math.pi / 2, 0.0, math.pi, math.pi / 2][e] + rng.normal(0, 0.4)
    _branch(a, rng, p, ang, rng.uniform(0.4, 0.9) * min(h, w), rng.uniform(2, 8) * s, 0)


def _grass(a, rng, h, w, s):
    y_top = rng.uniform(0.3, 0.8) * h
    for _ in range(int(rng.integers(30, 150))):
        x, y = rng.uniform(0, w), rng.uniform(y_top, h + 10)
        L = rng.uniform(8, 40) * s
        lean = rng.normal(0, 0.3)
        ctrl = np.array([[x, y], [x + lean * L * 0.2, y - L * 0.5],
                         [x + lean * L * 0.6, y - L * 0.8],
                         [x + lean * L, y - L]])
        cv2.polylines(a, [np.round(bezier(ctrl, 8) * 16).astype(np.int32)], False,
                      int(255 * rng.uniform(0.4, 1)),
                      max(1, int(round(rng.uniform(0.6, 2) * s))), cv2.LINE_AA, 4)


def _petals(a, rng, h, w, s):
    cy, cx, spread = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.05, 0.4) * min(h, w)
    for _ in range(int(rng.integers(1, 30))):
        y, x = cy + rng.normal(0, spread), cx + rng.normal(0, spread)
        r = rng.uniform(2, 14) * s
        k = int(rng.integers(4, 9))
        rot = rng.uniform(0, 2 * math.pi)
        for j in range(k):
            t = rot + 2 * math.pi * j / k
            c = (x + math.cos(t) * r * 0.55, y + math.sin(t) * r * 0.55)
            cv2.ellipse(a, _pt(c),
                        (max(1, int(r * 0.5 * 16)), max(1, int(r * rng.uniform(0.15, 0.3) * 16))),
                        math.degrees(t), 0, 360, 255, -1, cv2.LINE_AA, 4)


def _stars(a, rng, h, w, s):
    n = int(rng.integers(5, 60))
    for _ in range(n):
        r = (0.5 + 1.5 * rng.random() ** 3) * s
        cv2.circle(a, _pt((rng.uniform(0, w), rng.uniform(0, h))), max(1, int(r * 16)),
                   int(255 * rng.uniform(0.4, 1)), -1, cv2.LINE_AA, 4)


_LETTERS = "ABCDEFGHIJKLMNOPRSTUVWabcdefghiklmnoprstuvwy0123456789 .,"


def _text(a, rng, h, w, s):
    font = int(rng.choice([0, 1, 2, 3, 4, 6, 7]))
    fs = rng.uniform(0.3, 1.4) * max(s, 0.5)
    th = max(1, int(round(fs * rng.uniform(0.8, 2.5))))
    y = rng.uniform(0.05, 0.9) * h
    for _ in range(int(rng.integers(1, 5))):
        word = "".join(rng.choice(list(_LETTERS), int(rng.integers(3, 16))))
        cv2.putText(a, word, (int(rng.uniform(-0.1, 0.7) * w), int(y)), font, fs, 255, th,
                    cv2.LINE_AA)
        y += fs * 30 * rng.uniform(1.1, 1.6)


def _fabric(a, rng, h, w, s):
    """A patch of knit (rows of chevrons), stripes, a check or herringbone, inside an irregular
    region."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, math.pi)
    u = xx * math.cos(ang) + yy * math.sin(ang)
    v = -xx * math.sin(ang) + yy * math.cos(ang)
    p = rng.uniform(3, 10) * max(s, 0.5)
    kind = rng.choice(["knit", "stripes", "check", "herringbone"])
    if kind == "knit":      # columns of V stitches
        col = np.mod(u, p) / p - 0.5
        pat = np.cos(2 * math.pi * (v / p + 1.2 * np.abs(col)))
    elif kind == "stripes":
        pat = np.cos(2 * math.pi * u / p)
    elif kind == "check":
        pat = np.maximum(np.cos(2 * math.pi * u / p), np.cos(2 * math.pi * v / p))
    else:
        pat = np.cos(2 * math.pi * (u / p + np.abs(np.mod(v / (2 * p), 1) - 0.5)))
    pat = np.clip(pat * rng.uniform(1.0, 3.0), 0, 1)
    cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    region = np.zeros((h, w), np.uint8)
    axes = (int(rng.uniform(0.2, 0.7) * w * 16), int(rng.uniform(0.2, 0.7) * h * 16))
    cv2.ellipse(region, _pt((cx, cy)), axes,
                rng.uniform(0, 180), 0, 360, 255, -1, cv2.LINE_AA, 4)
    a[:] = np.maximum(a, (pat * region * rng.uniform(0.5, 1.0)).astype(np.uint8))


def _windows(a, rng, h, w, s):
    x0, y0 = rng.uniform(-0.1, 0.6) * w, rng.uniform(-0.1, 0.6) * h
    cw, ch = rng.uniform(8, 40) * s, rng.uniform(8, 50) * s
    nx, ny = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    th = rng.uniform(1, 4) * s
    for i in range(nx + 1):
        _line(a, (x0 + i * cw, y0), (x0 + i * cw, y0 + ny * ch), th)
    for j in range(ny + 1):
        _line(a, (x0, y0 + j * ch), (x0 + nx * cw, y0 + j * ch), th)


_DRAW = {"rigging": _rigging, "wires": _wires, "branches": _branches, "grass": _grass,
         "petals": _petals, "stars": _stars, "text": _text, "fabric": _fabric, "windows": _windows}


def pieces(rng: np.random.Generator, share: float = HARD_NEGATIVE_P) -> int:
    """How many pieces of thin structure a crop gets: none in 1 - `share` of crops, else 1-3."""
    return 1 + int(rng.binomial(2, 0.4)) if rng.random() < share else 0


def draw(img: np.ndarray, rng: np.random.Generator, scale: float, info: dict, n: int | None = None,
         kind: str | None = None) -> np.ndarray:
    """``img`` with thin structure painted in (a new array); ``n`` = how many pieces (None =
    ``pieces(rng)``), ``kind`` = only that kind of ``KINDS``. Names go to ``info['negatives']``."""
    if n is None:
        n = pieces(rng)
    info["negatives"] = []
    if n == 0:
        return img
    h, w = img.shape[:2]
    s = max(scale ** 0.8, 0.35)
    small = cv2.resize(img, (max(1, w // 8), max(1, h // 8)), interpolation=cv2.INTER_AREA)
    local = cv2.resize(cv2.GaussianBlur(small, (0, 0), 1.0), (w, h), interpolation=cv2.INTER_LINEAR)
    names = list(KINDS)
    p = np.array([KINDS[k] for k in names])
    out = np.array(img, np.float32, copy=True)
    fixed = kind
    for _ in range(n):
        kind = fixed or names[int(rng.choice(len(names), p=p / p.sum()))]
        a = np.zeros((h, w), np.uint8)
        _DRAW[kind](a, rng, h, w, s)
        bright = rng.random() < {"petals": 0.85, "stars": 1.0, "wires": 0.2, "rigging": 0.3,
                                 "branches": 0.25}.get(kind, 0.5)
        gain = rng.uniform(0.6, 1.0)
        blur = rng.uniform(0.3, 0.8) if rng.random() < 0.5 else 0.0
        own = kind != "stars" and rng.random() >= 0.6
        k = np.float32(rng.uniform(0.5, 1.0))
        base = rng.uniform(0.75, 1.0) if bright else rng.uniform(0.0, 0.3)
        tone = rng.normal(0, 0.04, 3)
        info["negatives"].append(kind)
        x, y, bw, bh = cv2.boundingRect(a)
        if bw == 0 or bh == 0:
            continue
        pad = 3 if blur else 0
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(w, x + bw + pad), min(h, y + bh + pad)
        af = a[y0:y1, x0:x1].astype(np.float32) * np.float32(gain / 255)
        if blur:
            af = cv2.GaussianBlur(af, (0, 0), blur)
        if own:                                      # a colour of its own
            col = np.clip(base + tone, 0, 1).astype(np.float32)
        else:
            # as thin damage would be coloured: relative to the photo
            col = local[y0:y1, x0:x1] * (1 - k) + (k if bright else np.float32(0))
        a3 = rep3(af)
        roi = out[y0:y1, x0:x1]
        roi += (col - roi) * a3
    return np.clip(out, 0, 1, out=out)

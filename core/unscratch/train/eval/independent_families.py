"""The independent generator's damage families (independent_damage.py holds the rest: the samples,
the photo's look, the scan's blur and JPEG): the anti-aliased drawing primitives, the canvas that
keeps the strongest coverage per family (for the family labels), one `draw_*` per family, and the
tables `DRAW` (family -> drawing) and `COUNT` (how many of each a crop gets).

Written apart from `unscratch.train.simulate`, like independent_damage.py: it neither reads nor
imports the simulator nor the damage sprites. Training must never import this module.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

FAMILIES = ("scratch", "hair", "dust", "crack", "crease", "loss", "foxing", "scuff")
# strokes are drawn this many times finer, then averaged down: anti-aliased coverage
SUPERSAMPLE = 4
# white to cream
PAPER = ((0.97, 0.96, 0.92), (0.95, 0.91, 0.80), (0.99, 0.99, 0.97), (0.90, 0.85, 0.72))


# --- drawing primitives ---------------------------------------------------------------------------
def _stroke(shape, points: np.ndarray, widths) -> tuple[tuple[int, int], np.ndarray]:
    """Anti-aliased coverage (0..1) of a polyline with per-point width, as (top-left, patch): drawn
    SUPERSAMPLE times finer with round joints, then area-averaged."""
    h, w = shape
    widths = np.broadcast_to(np.asarray(widths, np.float32), (len(points),))
    pad = int(math.ceil(widths.max())) + 2
    x0 = max(0, int(np.floor(points[:, 0].min())) - pad)
    y0 = max(0, int(np.floor(points[:, 1].min())) - pad)
    x1 = min(w, int(np.ceil(points[:, 0].max())) + pad)
    y1 = min(h, int(np.ceil(points[:, 1].max())) + pad)
    if x1 <= x0 or y1 <= y0:
        return (0, 0), np.zeros((0, 0), np.float32)
    s = SUPERSAMPLE
    canvas = np.zeros(((y1 - y0) * s, (x1 - x0) * s), np.uint8)
    pts = np.rint((points - (x0, y0)) * s + (s - 1) / 2).astype(np.int32)
    for i in range(len(pts) - 1):
        t = max(1, int(round(0.5 * (widths[i] + widths[i + 1]) * s)))
        cv2.line(canvas, tuple(map(int, pts[i])), tuple(map(int, pts[i + 1])), 255, t, cv2.LINE_8)
    cov = cv2.resize(canvas.astype(np.float32) / 255, (x1 - x0, y1 - y0),
                     interpolation=cv2.INTER_AREA)
    return (y0, x0), cov


def _polygon(shape, points: np.ndarray) -> tuple[tuple[int, int], np.ndarray]:
    """Anti-aliased coverage of a filled polygon, as (top-left, patch)."""
    h, w = shape
    x0, y0 = max(0, int(points[:, 0].min()) - 1), max(0, int(points[:, 1].min()) - 1)
    x1, y1 = min(w, int(points[:, 0].max()) + 2), min(h, int(points[:, 1].max()) + 2)
    if x1 <= x0 or y1 <= y0:
        return (0, 0), np.zeros((0, 0), np.float32)
    s = SUPERSAMPLE
    canvas = np.zeros(((y1 - y0) * s, (x1 - x0) * s), np.uint8)
    cv2.fillPoly(canvas, [np.rint((points - (x0, y0)) * s).astype(np.int32)], 255, cv2.LINE_8)
    cov = cv2.resize(canvas.astype(np.float32) / 255, (x1 - x0, y1 - y0),
                     interpolation=cv2.INTER_AREA)
    return (y0, x0), cov


def _jagged_outline(centre, radius: float, rng, n: int = 28, rough: float = 0.35) -> np.ndarray:
    """A closed irregular outline: the radius wanders as a sum of random harmonics."""
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.ones(n)
    for k in range(1, 6):
        r += rough / k * rng.uniform(-1, 1) * np.cos(k * a + rng.uniform(0, 2 * np.pi))
    r += rough * 0.3 * rng.uniform(-1, 1, n)
    r = radius * np.clip(r, 0.3, None)
    return np.stack([centre[0] + r * np.cos(a), centre[1] + r * np.sin(a)], 1)


def _smooth_noise(n: int, rng, scale: float) -> np.ndarray:
    """1-D value noise in [0, 1], features about `scale` samples long."""
    knots = rng.uniform(0, 1, int(n / max(scale, 1)) + 3)
    return np.interp(np.arange(n) / max(scale, 1), np.arange(len(knots)), knots)


def _opacity(rng) -> float:
    """This generator's law: a third fully opaque, the rest spread from faint to nearly opaque."""
    return 1.0 if rng.random() < 0.35 else float(rng.uniform(0.2, 0.95))


def _bright(rng) -> np.ndarray:
    c = np.array(PAPER[rng.integers(len(PAPER))]) * rng.uniform(0.92, 1.02)
    return np.clip(c, 0, 1)


def _dark(rng) -> np.ndarray:
    v = rng.uniform(0.0, 0.22)
    return np.array([v * rng.uniform(0.9, 1.2), v, v * rng.uniform(0.7, 1.0)]).clip(0, 1)


class _Canvas:
    """The picture being damaged, and per family the strongest coverage so far (for the family
    labels)."""

    def __init__(self, clean: np.ndarray, opaque: bool = False):
        self.img, self.opaque = clean.copy(), opaque
        self.strength = np.zeros((len(FAMILIES),) + clean.shape[:2], np.float32)

    def paint(self, family: str, at, cov: np.ndarray, colour, opacity=1.0) -> None:
        """Over-composite `colour` (RGB, or HxWx3 for the patch) with weight cov * opacity."""
        if cov.size == 0:
            return
        y0, x0 = at
        h, w = cov.shape
        a = (cov * opacity)[:, :, None].astype(np.float32)
        region = self.img[y0:y0 + h, x0:x0 + w]
        region[:] = region * (1 - a) + np.asarray(colour, np.float32) * a
        s = self.strength[FAMILIES.index(family), y0:y0 + h, x0:x0 + w]
        np.maximum(s, a[:, :, 0], out=s)

    def shift(self, family: str, offset: np.ndarray) -> None:
        """Add an HxW brightness offset (creases: a light and a shadow side)."""
        self.img += offset[:, :, None]
        np.clip(self.img, 0, 1, out=self.img)
        s = self.strength[FAMILIES.index(family)]
        np.maximum(s, np.abs(offset) * 4, out=s)


# --- the families ---------------------------------------------------------------------------------
def _curve(rng, size: int, length: float, bend: float) -> np.ndarray:
    """A long line through the crop: a circular arc (bend 0 = straight) with a slow sideways
    wander."""
    c = rng.uniform(0.1, 0.9, 2) * size
    theta = rng.uniform(0, np.pi)
    t = np.linspace(-length / 2, length / 2, max(8, int(length / 3)))
    k = bend * rng.choice((-1, 1)) / size   # curvature
    ang = theta + k * t
    dx, dy = np.cos(ang), np.sin(ang)
    x = c[0] + np.cumsum(dx) * (t[1] - t[0])
    y = c[1] + np.cumsum(dy) * (t[1] - t[0])
    x -= x.mean() - c[0]
    y -= y.mean() - c[1]
    wander = (_smooth_noise(len(t), rng, 40) - 0.5) * rng.uniform(0, 6)
    return np.stack([x - dy * wander, y + dx * wander], 1)


def draw_scratch(cv: _Canvas, rng) -> None:
    size = max(cv.img.shape[:2])
    pts = _curve(rng, size, rng.uniform(0.3, 1.6) * size, rng.choice([0.0, rng.uniform(0.2, 2.5)]))
    width = rng.choice([rng.uniform(1, 2), rng.uniform(2, 6)], p=[0.6, 0.4])
    widths = width * (0.6 + 0.4 * _smooth_noise(len(pts), rng, 25))
    colour = _bright(rng) if rng.random() < 0.6 else _dark(rng)
    # fades and breaks along its length
    along = np.clip(_smooth_noise(len(pts), rng, 30) * 1.6 - 0.1, 0, 1)
    op = 1.0 if cv.opaque else _opacity(rng)
    along = np.ones_like(along) if cv.opaque else along
    for i in range(0, len(pts) - 1, 6):       # piecewise, so the opacity follows `along`
        seg = slice(i, min(i + 7, len(pts)))
        if along[i] > 0.05:
            at, cov = _stroke(cv.img.shape[:2], pts[seg], widths[seg])
            cv.paint("scratch", at, cov, colour, op * min(1.0, along[i]))


def draw_hair(cv: _Canvas, rng) -> None:
    h, w = cv.img.shape[:2]
    n = int(rng.uniform(60, 400) / 1.5)
    ang, curv = rng.uniform(0, 2 * np.pi), 0.0
    p = rng.uniform(0, 1, 2) * (w, h)
    pts = [p]
    for _ in range(n):
        # curvature drifts: bends, curls, now and then a loop
        curv = 0.94 * curv + rng.normal(0, 0.025)
        ang += curv
        p = p + 1.5 * np.array([np.cos(ang), np.sin(ang)])
        pts.append(p)
    at, cov = _stroke((h, w), np.array(pts), rng.uniform(0.8, 2.6))
    if rng.random() < 0.4 and cov.size:         # a hair off the focal plane is soft
        cov = cv2.GaussianBlur(cov, (0, 0), rng.uniform(0.5, 1.2))
    cv.paint("hair", at, cov, _dark(rng) * rng.uniform(0.3, 1), rng.uniform(0.6, 1.0))


def draw_dust(cv: _Canvas, rng) -> None:
    h, w = cv.img.shape[:2]
    dark = rng.random() < 0.6
    for _ in range(int(rng.integers(3, 40))):
        r = float(np.exp(rng.uniform(np.log(0.6), np.log(9))))
        outline = _jagged_outline(rng.uniform(0, 1, 2) * (w, h), r, rng, n=max(6, int(4 * r)),
                                  rough=0.5)
        at, cov = _polygon((h, w), outline)
        cv.paint("dust", at, cov, _dark(rng) if dark else _bright(rng), rng.uniform(0.5, 1.0))


def _crack_walk(rng, start, angle, length, width, depth, out) -> None:
    """A jagged crack: short straight steps whose direction zigzags about a slowly turning heading;
    now and then a thinner branch leaves at a sharp angle."""
    p, heading = np.array(start, float), angle
    pts, widths = [p.copy()], [width]
    for i in range(int(length / 3)):
        heading += rng.normal(0, 0.08)
        step = heading + rng.normal(0, 0.55)
        p = p + rng.uniform(1.5, 4.5) * np.array([np.cos(step), np.sin(step)])
        pts.append(p.copy())
        widths.append(max(0.7, width * rng.uniform(0.6, 1.2)))
        if depth < 3 and rng.random() < 0.035:
            _crack_walk(rng, p, heading + rng.choice((-1, 1)) * rng.uniform(0.5, 1.4),
                        length * rng.uniform(0.2, 0.6), max(0.8, width * 0.7), depth + 1, out)
    out.append((np.array(pts), np.array(widths)))


def draw_crack(cv: _Canvas, rng) -> None:
    h, w = cv.img.shape[:2]
    branches = []
    for _ in range(int(rng.integers(1, 4))):
        _crack_walk(rng, rng.uniform(0, 1, 2) * (w, h), rng.uniform(0, 2 * np.pi),
                    rng.uniform(0.2, 0.9) * max(h, w), rng.uniform(1, 4), 0, branches)
    colour = _bright(rng) if rng.random() < 0.7 else _dark(rng)
    op = 1.0 if cv.opaque or rng.random() < 0.6 else rng.uniform(0.5, 1.0)
    for pts, widths in branches:
        at, cov = _stroke((h, w), pts, widths)
        cv.paint("crack", at, cov, colour, op)
        # flakes of emulsion lost along the crack
        for j in np.flatnonzero(rng.random(len(pts)) < 0.02):
            at, cov = _polygon((h, w),
                               _jagged_outline(pts[j], rng.uniform(2, 6), rng, n=10, rough=0.6))
            cv.paint("crack", at, cov, colour, op)


def draw_crease(cv: _Canvas, rng) -> None:
    """A fold: a straight soft band, light on one side of its spine and shadowed on the other, often
    cracked along the spine."""
    h, w = cv.img.shape[:2]
    theta = rng.uniform(0, np.pi)
    n = np.array([-np.sin(theta), np.cos(theta)])
    c = rng.uniform(0.2, 0.8, 2) * (w, h)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    along = xx * n[1] - yy * n[0]
    d = (xx - c[0]) * n[0] + (yy - c[1]) * n[1]
    d += 2.5 * np.sin(along / rng.uniform(30, 90) + rng.uniform(0, 6))
    half = rng.uniform(3, 12)
    light, shadow = rng.uniform(0.05, 0.25), rng.uniform(0.05, 0.25)
    side = half / 2
    offset = light * np.exp(-((d + side) / side) ** 2) - shadow * np.exp(-((d - side) / side) ** 2)
    cv.shift("crease", offset.astype(np.float32))
    if rng.random() < 0.6:
        t = np.linspace(-1.5, 1.5, 400) * max(h, w)
        spine = np.stack([c[0] + t * n[1], c[1] - t * n[0]], 1)
        keep = _smooth_noise(len(t), rng, 20) > 0.45
        colour = _bright(rng)
        for i in range(0, len(t) - 1, 5):
            if keep[i]:
                at, cov = _stroke((h, w), spine[i:i + 6], rng.uniform(0.8, 2.0))
                cv.paint("crease", at, cov, colour, rng.uniform(0.6, 1.0))


def draw_loss(cv: _Canvas, rng) -> None:
    """Emulsion lost down to the paper, or a torn-off corner showing the mount: large and opaque."""
    h, w = cv.img.shape[:2]
    if rng.random() < 0.5:   # torn corner: a jagged triangle-ish shape from a corner
        cx, cy = rng.choice([0, w]), rng.choice([0, h])
        a, b = rng.uniform(0.1, 0.4) * w, rng.uniform(0.1, 0.4) * h
        t = np.linspace(0, 1, 30)
        edge = np.stack([cx + (1 - t) * a * (1 if cx == 0 else -1),
                         cy + t * b * (1 if cy == 0 else -1)], 1)
        edge += rng.normal(0, 0.025 * (a + b), edge.shape) * np.sin(np.pi * t)[:, None]
        outline = np.vstack([[cx, cy], edge])
    else:
        centre, radius = rng.uniform(0.1, 0.9, 2) * (w, h), rng.uniform(8, 0.18 * min(h, w))
        outline = _jagged_outline(centre, radius, rng, 40, 0.45)
    at, cov = _polygon((h, w), outline)
    if cov.size == 0:
        return
    paper = (_bright(rng) if rng.random() < 0.8
             else np.array([0.45, 0.40, 0.33]) * rng.uniform(0.8, 1.2))
    grain = (1 + rng.normal(0, 0.02, cov.shape)[:, :, None]).astype(np.float32)
    texture = paper[None, None, :] * grain
    cv.paint("loss", at, cov, np.clip(texture, 0, 1), 1.0)


def draw_foxing(cv: _Canvas, rng) -> None:
    """Rust-brown spots with soft edges and a darker core, in a loose cluster."""
    h, w = cv.img.shape[:2]
    centre = rng.uniform(0, 1, 2) * (w, h)
    brown = np.array([0.55, 0.38, 0.20]) * rng.uniform(0.7, 1.2)
    for _ in range(int(rng.integers(2, 20))):
        p = centre + rng.normal(0, rng.uniform(10, 50), 2)
        r = rng.uniform(2, 14)
        x0, y0 = int(max(0, p[0] - 2 * r)), int(max(0, p[1] - 2 * r))
        x1, y1 = int(min(w, p[0] + 2 * r + 1)), int(min(h, p[1] + 2 * r + 1))
        if x1 <= x0 or y1 <= y0:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        rr = np.hypot(xx - p[0], yy - p[1]) / r
        cov = np.clip(1.3 - rr, 0, 1) ** 1.5 + 0.5 * np.exp(-(rr / 0.3) ** 2)
        cv.paint("foxing", (y0, x0), np.clip(cov, 0, 1), brown, rng.uniform(0.25, 0.75))


def draw_scuff(cv: _Canvas, rng) -> None:
    """A bundle of fine, light, nearly parallel abrasion lines."""
    h, w = cv.img.shape[:2]
    c = rng.uniform(0, 1, 2) * (w, h)
    theta = rng.uniform(0, np.pi)
    d, n = np.array([np.cos(theta), np.sin(theta)]), np.array([-np.sin(theta), np.cos(theta)])
    spread, op = rng.uniform(8, 40), rng.uniform(0.2, 0.7)
    colour = np.array([0.92, 0.92, 0.9]) * rng.uniform(0.9, 1.08)
    for _ in range(int(rng.integers(6, 40))):
        a = theta + rng.normal(0, 0.06)
        dd = np.array([np.cos(a), np.sin(a)])
        start = c + n * rng.uniform(-spread, spread) + d * rng.uniform(-30, 30)
        L = rng.uniform(15, 90)
        pts = start + np.linspace(0, L, max(3, int(L / 4)))[:, None] * dd
        at, cov = _stroke((h, w), pts, rng.uniform(0.5, 1.5))
        cv.paint("scuff", at, cov, np.clip(colour, 0, 1), op * rng.uniform(0.5, 1.0))


DRAW = {"scratch": draw_scratch, "hair": draw_hair, "dust": draw_dust, "crack": draw_crack,
        "crease": draw_crease, "loss": draw_loss, "foxing": draw_foxing, "scuff": draw_scuff}
COUNT = {"scratch": (1, 6), "hair": (1, 4), "dust": (1, 3), "crack": (1, 3), "crease": (1, 2),
         "loss": (1, 2),
         "foxing": (1, 3), "scuff": (1, 3)}    # how many of each a crop that has the family gets

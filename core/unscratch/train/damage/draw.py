"""Drawing helpers every damage family shares: the compositing canvas, noise, curves and line
patches.

A family draws an alpha patch (uint8 or float32 in [0, 1]) and hands it to :meth:`Canvas.add` with a
style; the canvas composites it with the 'over' operator, so the total opacity ``A`` is exact and
the mask follows.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# film/print kinds: probability, probability that a defect is bright
MEDIA = {"negative": (0.3, 0.85), "slide": (0.2, 0.15), "print": (0.5, 0.6)}

# tints: cyan, magenta, yellow, green, red, brown
PALETTE = np.array([[0.65, 1.0, 1.0], [1.0, 0.65, 1.0], [1.0, 1.0, 0.6], [0.7, 1.0, 0.7],
                    [1.0, 0.75, 0.6], [0.85, 0.7, 0.55]], np.float32)


def lum(img: np.ndarray) -> np.ndarray:
    """Rec.601 luma of a float32 RGB image."""
    return cv2.cvtColor(np.ascontiguousarray(img, dtype=np.float32), cv2.COLOR_RGB2GRAY)


def rep3(plane: np.ndarray) -> np.ndarray:
    return cv2.merge([plane, plane, plane])


_NOISE_SIDE = 1024
_NOISE: np.ndarray | None = None


def normal(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Standard normal float32 noise of shape (h, w), cheap: the sum of two randomly placed,
    flipped windows of a fixed per-process noise field (scaled back to unit variance).
    Deterministic in rng."""
    global _NOISE
    if h > _NOISE_SIDE or w > _NOISE_SIDE:
        return rng.standard_normal((h, w), dtype=np.float32)
    if _NOISE is None:
        _NOISE = np.random.default_rng(0x5C2A7C).standard_normal((_NOISE_SIDE, _NOISE_SIDE),
                                                                  dtype=np.float32)
    out = None
    for _ in range(2):
        y0 = int(rng.integers(0, _NOISE_SIDE - h + 1))
        x0 = int(rng.integers(0, _NOISE_SIDE - w + 1))
        win = _NOISE[y0:y0 + h, x0:x0 + w]
        f = int(rng.integers(4))
        win = win[::-1] if f & 1 else win
        win = win[:, ::-1] if f & 2 else win
        out = (win * np.float32(0.70710677) if out is None
               else cv2.scaleAdd(np.ascontiguousarray(win), 0.70710677, out))
    return out


def smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth noise of shape (h, w) with features about ``cell`` px across, roughly unit
    variance."""
    gh, gw = max(2, int(h / max(cell, 1.0)) + 1), max(2, int(w / max(cell, 1.0)) + 1)
    return cv2.resize(normal(rng, gh, gw), (w, h), interpolation=cv2.INTER_CUBIC)


def smooth_1d(rng: np.random.Generator, n: int, knots: int = 6) -> np.ndarray:
    """A smooth random curve of n values in roughly [-1, 1]."""
    k = max(2, knots)
    v = rng.uniform(-1, 1, k)
    return np.interp(np.linspace(0, k - 1, n), np.arange(k), v)


def draw_lines(h: int, w: int, lines, margin: float) -> tuple[int, int, np.ndarray] | None:
    """Draw polylines [(pts Nx2 float xy, thickness int, intensity 0..255 (scalar or per segment))]
    on a uint8 patch covering their bounding box (clipped to the image)."""
    allp = np.concatenate([ln[0] for ln in lines])
    x0 = int(max(0, math.floor(allp[:, 0].min() - margin)))
    y0 = int(max(0, math.floor(allp[:, 1].min() - margin)))
    x1 = int(min(w, math.ceil(allp[:, 0].max() + margin) + 1))
    y1 = int(min(h, math.ceil(allp[:, 1].max() + margin) + 1))
    if x1 <= x0 or y1 <= y0:
        return None
    patch = np.zeros((y1 - y0, x1 - x0), np.uint8)
    off = np.array([x0, y0], np.float64)
    for pts, th, inten in lines:
        q = np.round((pts - off) * 16).astype(np.int32)
        if np.isscalar(inten):
            cv2.polylines(patch, [q], False, int(inten), int(th), cv2.LINE_AA, 4)
        else:
            step = 3        # per-segment intensity: draw in short runs
            for i in range(0, len(q) - 1, step):
                v = int(inten[min(i, len(inten) - 1)])
                if v > 0:
                    cv2.polylines(patch, [q[i:i + step + 1]], False, v, int(th), cv2.LINE_AA, 4)
    return y0, x0, patch


def width(w_px: float) -> tuple[int, float]:
    """cv2 thickness and an intensity factor for a (possibly sub-pixel) width."""
    if w_px < 1.0:
        return 1, max(w_px, 0.6)
    return max(1, int(round(w_px))), 1.0


def soften(out, thick: int, rng: np.random.Generator, texture: float = 0.35):
    """Soft edges and an uneven, grainy body for lines wider than a couple of pixels."""
    if out is None or thick < 3:
        return out
    y0, x0, patch = out
    f = cv2.GaussianBlur(patch.astype(np.float32), (0, 0), 0.22 * thick)
    if texture > 0:
        ph, pw = f.shape
        g = max(1.0, thick / 3)
        nz = rng.standard_normal((max(2, int(ph / g)), max(2, int(pw / g))), dtype=np.float32)
        nz = cv2.resize(nz, (pw, ph), interpolation=cv2.INTER_LINEAR)
        f *= np.clip(1 - np.float32(texture * rng.uniform(0.3, 1.0)) * np.abs(nz), 0.2, 1)
    return y0, x0, np.clip(f * np.float32(1 / 255), 0, 1)


def axis(theta: float) -> tuple[np.ndarray, np.ndarray]:
    """The unit vector at angle ``theta`` and its normal (rotated a quarter turn)."""
    d = np.array([np.cos(theta), np.sin(theta)])
    return d, np.array([-d[1], d[0]])


def paper_colour(rng: np.random.Generator) -> np.ndarray:
    """The colour of bare photo paper: white to yellowed cream."""
    y = rng.uniform(0.0, 1.0) ** 1.5
    return np.array([rng.uniform(0.93, 1.0), 0.97 - 0.1 * y, 0.95 - 0.3 * y], np.float32)


class Canvas:
    """Accumulates defects with the 'over' operator: premultiplied colour P and opacity A."""

    def __init__(self, aged: np.ndarray, rng: np.random.Generator, ctx: dict):
        self.h, self.w = aged.shape[:2]
        self.A = np.zeros((self.h, self.w), np.float32)
        self.P = np.zeros((self.h, self.w, 3), np.float32)
        self.aged = aged
        self.rng = rng
        self.ctx = ctx
        self._local = None
        self._local_l = None
        self.n = 0

    def frame(self, scale: float,
              least: float = 0.35) -> tuple[np.random.Generator, int, int, int, float]:
        """What a family's ``draw`` starts from: (rng, h, w, the short side, ``scale`` but at least
        ``least``: a defect keeps some size on a small scan)."""
        return self.rng, self.h, self.w, min(self.h, self.w), max(scale, least)

    def _make_local(self) -> None:
        h, w = self.h, self.w
        sh, sw = max(1, h // 8), max(1, w // 8)
        small = cv2.resize(self.aged, (sw, sh), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), 1.0)
        self._local = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        self._local_l = lum(self._local)

    @property
    def local(self) -> np.ndarray:
        """Low-pass version of the photo: defect colours are set relative to it."""
        if self._local is None:
            self._make_local()
        return self._local

    @property
    def local_l(self) -> np.ndarray:
        if self._local is None:
            self._make_local()
        return self._local_l

    def style(self, bright_p: float | None = None, faint_p: float = 0.25,
              opacity=(0.6, 1.0)) -> dict:
        """Polarity, opacity, strength and tint of one defect. Keys a family may set afterwards:
        ``colour`` (absolute RGB the defect takes, e.g. paper) and ``keep`` (never flip
        polarity)."""
        rng = self.rng
        bp = self.ctx["bright_p"] if bright_p is None else bright_p
        faint = rng.random() < faint_p
        op = rng.uniform(0.25, 0.5) if faint else rng.uniform(*opacity)
        # strength 1 = pure white / black; faint defects keep a strong colour so they stay visible
        strength = rng.uniform(0.75, 1.0) if faint else 1.0 - 0.5 * rng.random() ** 2
        tint = None
        if self.ctx["colour"] and rng.random() < 0.2:
            tint = self.ctx["palette"][int(rng.integers(len(self.ctx["palette"])))]
            tint = 1 - (1 - tint) * rng.uniform(0.3, 1.0)
            tint = np.clip(tint + rng.normal(0, 0.03, 3), 0.3, 1.1).astype(np.float32)
        return {"bright": bool(rng.random() < bp), "opacity": float(op),
                "strength": float(strength), "tint": tint, "colour": None, "keep": False}

    def add(self, y0: int, x0: int, a: np.ndarray, st: dict, kind: str) -> None:
        """Composite alpha patch ``a`` (float32 or uint8) with its top-left at (y0, x0)."""
        h, w = a.shape
        ys, ye = max(0, y0), min(self.h, y0 + h)
        xs, xe = max(0, x0), min(self.w, x0 + w)
        if ys >= ye or xs >= xe:
            return
        a = a[ys - y0:ye - y0, xs - x0:xe - x0]
        scale = np.float32(st["opacity"] / 255.0 if a.dtype == np.uint8 else st["opacity"])
        nz = cv2.findNonZero(np.ascontiguousarray(a) if a.dtype == np.uint8
                             else (a > 0).view(np.uint8))
        if nz is None:
            return
        nz = nz.reshape(-1, 2)
        sparse = len(nz) < 0.35 * a.size
        if sparse:      # work on the touched pixels only
            cols = nz[:, 0] + xs
            rows = nz[:, 1] + ys
            av = a[rows - ys, cols - xs].astype(np.float32) * scale
            ll = self.local_l[rows, cols]
            local = self.local[rows, cols]                 # n x 3
            P = self.P[rows, cols]
            Aold = self.A[rows, cols]
        else:
            av = a.astype(np.float32) * scale
            ll = self.local_l[ys:ye, xs:xe]
            local = self.local[ys:ye, xs:xe]
            P = self.P[ys:ye, xs:xe]
            Aold = self.A[ys:ye, xs:xe]
        bright = st["bright"]
        k = np.float32(st["strength"])
        if st.get("colour") is not None:
            col = local * (1 - k) + np.asarray(st["colour"], np.float32) * k
        else:
            # a bright defect on white sky (or a dark one in deep shadow) would be nearly invisible
            # and a useless label: mostly flip its polarity where the content leaves it little room
            if not st.get("keep"):
                wsum = float(av.sum())
                mean_l = float(np.dot(av.ravel(), ll.ravel()) / wsum) if wsum > 0 else 0.5
                if bright and mean_l > 0.7 and self.rng.random() < 0.8:
                    bright = False
                elif not bright and mean_l < 0.3 and self.rng.random() < 0.8:
                    bright = True
            # bright = local pushed towards white by k, dark = towards black
            col = local * (1 - k)
            if bright:
                col += k
        if st["tint"] is not None:
            col = np.clip(col * st["tint"], 0, 1)
        a3 = av[..., None]
        newP = P * (1 - a3) + col * a3
        newA = Aold + av * (1 - Aold)
        if sparse:
            self.P[rows, cols] = newP
            self.A[rows, cols] = newA
        else:
            P[...] = newP
            Aold[...] = newA
        self.n += 1
        self.ctx["kinds"].append(kind)
        self.ctx["polarity"]["bright" if bright else "dark"] += 1

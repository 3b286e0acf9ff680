"""Damage simulator: clean photo -> (damaged photo, exact defect mask, restoration target).

Pure numpy + OpenCV, deterministic for a given ``np.random.Generator`` state.

Pipeline of :func:`simulate` (``a`` = defect opacity, all images float32 RGB in [0, 1])::

    1. global ageing of the photo itself (part of the photo, so part of the target, NOT damage):
       colour mode (colour / colour cast / gray as 3 equal channels / sepia), fading (contrast loss,
       lifted blacks, dimmed whites, gamma), luminance-dependent film grain (clumped, strongest in the
       mid-tones, a little chroma grain on colour photos)
    2. damage, composited over the aged photo: damaged = aged*(1-a) + defect_colour*a
       - sprites from :class:`OverlayBank` (scratches, hair, dots, spots, lint, dirt, stains, ...),
         scaled relative to the image, rotated, flipped, partly transparent
       - procedural: Bezier scratches, vertical film-transport scratches, branching cracks and creases
         (prints), dust specks of many sizes, short fibres, occasional blotches / water stains
       - each defect bright (negatives, emulsion loss on prints) or dark (dust on slides/positives),
         coloured relative to the local photo content, sometimes tinted, opacity from faint (0.25-0.5)
         to opaque, varying along scratches; a defect whose polarity would leave it nearly invisible
         (bright on white, dark in deep shadow) is mostly flipped
    3. scan (after the damage, so it affects the defects too): slight scan blur (applied identically to
       damaged, target and opacity) and faint scanner noise (same realisation on damaged and target)
    4. JPEG at quality 60-95 (sometimes none) on the damaged image only

The target ``Damaged.clean`` is the photo after steps 1 and 3 (ageing + scan), without damage or JPEG.
``Damaged.mask`` is ``opacity > MASK_THRESHOLD`` where the defect visibly changes the picture (by more than
``VISIBLE_DELTA`` in some channel, before scanner noise and JPEG; grown by 1 px): a faint sprite whose colour
matches what it covers is not damage and no detector could see it. Without JPEG, ``|damaged - clean| <=
opacity`` holds exactly. Defect sizes scale with
the resolution of the scan through ``scale`` (``min(H, W) / REF_SIDE`` of the full photo by default;
sizes in pixels grow as ``scale ** SIZE_EXP``): a 4000-px scan gets wider scratches in pixels than a
512-px one. ``make_pair`` passes the scale of the (rescaled) source photo, not of the crop.

    python -m unscratch.train.simulate --preview OUT.png      # grid of 6 (damaged | mask) pairs
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .pool import repo_root

MASK_THRESHOLD = 0.1       # mask = opacity > MASK_THRESHOLD where the defect is visible:
VISIBLE_DELTA = 0.03       # ... it changes some channel by more than this (before scanner noise and JPEG)
REF_SIDE = 1024.0          # scale 1.0 = a photo whose short side is this many pixels
SIZE_EXP = 0.8             # defect sizes in pixels grow as scale ** SIZE_EXP
NO_DAMAGE_P = 0.1          # share of samples (severity=None) that get no damage at all
SPRITE_SPLIT = (0.70, 0.15, 0.15)

# sprite kinds: relative weight, size factor range (sprite px -> image px, times scale), opacity range
SPRITE_KINDS = {
    "scratches":  (0.17, (0.45, 1.6), (0.5, 1.0)),
    "hair":       (0.17, (0.35, 1.3), (0.6, 1.0)),
    "hair-short": (0.13, (0.5, 1.6), (0.6, 1.0)),
    "lint":       (0.12, (0.3, 1.1), (0.6, 1.0)),
    "dots":       (0.12, (0.06, 0.45), (0.7, 1.0)),
    "spots":      (0.11, (0.5, 1.8), (0.7, 1.0)),
    "dirt":       (0.05, (0.5, 1.6), (0.6, 1.0)),
    "smut":       (0.05, (0.12, 0.5), (0.6, 1.0)),
    "sprinkles":  (0.05, (0.4, 1.3), (0.6, 1.0)),
    "stain":      (0.03, (0.35, 1.2), (0.2, 0.55)),
}

# film/print kinds: probability, probability that a defect is bright
MEDIA = {"negative": (0.4, 0.85), "slide": (0.3, 0.15), "print": (0.3, 0.6)}


def default_overlays() -> Path:
    env = os.environ.get("UNSCRATCH_OVERLAYS")
    return Path(env) if env else repo_root().parent / "shared" / "data" / "damage-overlays"


def sprite_split(name: str) -> str:
    """The split ("train", "val" or "test") of a sprite, from a hash of ``category/file``."""
    u = int.from_bytes(hashlib.sha256(("unscratch-sprite-v1:" + name).encode()).digest()[:8], "big") / 2.0 ** 64
    if u < SPRITE_SPLIT[0]:
        return "train"
    return "val" if u < SPRITE_SPLIT[0] + SPRITE_SPLIT[1] else "test"


class OverlayBank:
    """Film-damage sprites (alpha = exact mask), listed lazily and decoded on demand into an LRU cache.

    ``split`` ("train"/"val"/"test"/"all") keeps only the sprites whose ``category/file`` hash falls in
    that split (70/15/15), so validation/test damage shapes are never seen in training.
    Sprites are stored cropped to their alpha bounding box, as uint8.
    """

    def __init__(self, root=None, split: str = "all", *, cache_mb: float = 256):
        if split not in ("train", "val", "test", "all"):
            raise ValueError(f"split must be train, val, test or all, not {split!r}")
        self.root = Path(root) if root is not None else default_overlays()
        self.split = split
        self.cache_bytes = int(cache_mb * (1 << 20))
        self._files: dict[str, list[Path]] | None = None
        self._cache: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._cached = 0
        self._lock = threading.Lock()

    def _list(self) -> dict[str, list[Path]]:
        if self._files is None:
            if not self.root.is_dir():
                raise FileNotFoundError(f"damage overlays not found at {self.root} "
                                        "(set UNSCRATCH_OVERLAYS or pass root=)")
            files = {}
            for cat in SPRITE_KINDS:
                folder = self.root / cat
                if not folder.is_dir():
                    continue
                fs = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
                if self.split != "all":
                    fs = [p for p in fs if sprite_split(f"{cat}/{p.name}") == self.split]
                if fs:
                    files[cat] = fs
            self._files = files
        return self._files

    @property
    def categories(self) -> list[str]:
        return list(self._list())

    def files(self, category: str | None = None) -> list[Path]:
        lists = self._list()
        if category is None:
            return [p for c in lists for p in lists[c]]
        return list(lists.get(category, []))

    def __len__(self) -> int:
        return sum(len(v) for v in self._list().values())

    def sprite(self, category: str, index: int) -> np.ndarray:
        """The alpha of one sprite as uint8, cropped to its content (read-only, cached)."""
        key = (category, int(index))
        with self._lock:
            a = self._cache.get(key)
            if a is not None:
                self._cache.move_to_end(key)
                return a
        path = self._list()[category][index]
        im = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if im is None:
            raise OSError(f"cannot read sprite {path}")
        a = im[:, :, 3] if im.ndim == 3 and im.shape[2] == 4 else (im if im.ndim == 2 else im[:, :, 0])
        if a.dtype != np.uint8:
            a = (a.astype(np.float32) * (255.0 / np.iinfo(a.dtype).max)).astype(np.uint8)
        ys, xs = np.nonzero(a > 6)
        if len(ys):
            a = a[max(ys.min() - 2, 0):ys.max() + 3, max(xs.min() - 2, 0):xs.max() + 3]
        a = np.ascontiguousarray(a)
        a.flags.writeable = False
        with self._lock:
            self._cache[key] = a
            self._cached += a.nbytes
            while self._cached > self.cache_bytes and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._cached -= old.nbytes
        return a

    def sample(self, rng: np.random.Generator, category: str | None = None) -> tuple[str, np.ndarray]:
        lists = self._list()
        if not lists:
            raise FileNotFoundError(f"no sprites in {self.root} for split {self.split!r}")
        if category is None:
            cats = list(lists)
            w = np.array([SPRITE_KINDS[c][0] for c in cats])
            category = cats[int(rng.choice(len(cats), p=w / w.sum()))]
        return category, self.sprite(category, int(rng.integers(len(lists[category]))))


@dataclass
class Damaged:
    damaged: np.ndarray      # float32 HxWx3 in [0, 1]: what the scanner saw
    mask: np.ndarray         # bool HxW: opacity > MASK_THRESHOLD where visible (see module docstring)
    opacity: np.ndarray      # float32 HxW in [0, 1]: total defect opacity
    clean: np.ndarray        # float32 HxWx3 in [0, 1]: aged photo without damage (restoration target)
    info: dict = field(default_factory=dict)


# ============================================================================================ helpers

def _lum(img: np.ndarray) -> np.ndarray:
    """Rec.601 luma of a float32 RGB image."""
    return cv2.cvtColor(np.ascontiguousarray(img, dtype=np.float32), cv2.COLOR_RGB2GRAY)


def _rep3(plane: np.ndarray) -> np.ndarray:
    return cv2.merge([plane, plane, plane])


_NOISE_SIDE = 1024
_NOISE: np.ndarray | None = None


def _normal(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Standard normal float32 noise of shape (h, w), cheap: the sum of two randomly placed, flipped
    windows of a fixed per-process noise field (scaled back to unit variance). Deterministic in rng."""
    global _NOISE
    if h > _NOISE_SIDE or w > _NOISE_SIDE:
        return rng.standard_normal((h, w), dtype=np.float32)
    if _NOISE is None:
        _NOISE = np.random.default_rng(0x5C2A7C).standard_normal((_NOISE_SIDE, _NOISE_SIDE), dtype=np.float32)
    out = None
    for _ in range(2):
        y0 = int(rng.integers(0, _NOISE_SIDE - h + 1))
        x0 = int(rng.integers(0, _NOISE_SIDE - w + 1))
        win = _NOISE[y0:y0 + h, x0:x0 + w]
        f = int(rng.integers(4))
        win = win[::-1] if f & 1 else win
        win = win[:, ::-1] if f & 2 else win
        out = win * np.float32(0.70710677) if out is None else cv2.scaleAdd(np.ascontiguousarray(win), 0.70710677, out)
    return out


def _smooth_1d(rng: np.random.Generator, n: int, knots: int = 6) -> np.ndarray:
    """A smooth random curve of n values in roughly [-1, 1]."""
    k = max(2, knots)
    v = rng.uniform(-1, 1, k)
    return np.interp(np.linspace(0, k - 1, n), np.arange(k), v)


def _bezier(p: np.ndarray, n: int) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    return ((1 - t) ** 3) * p[0] + 3 * ((1 - t) ** 2) * t * p[1] + 3 * (1 - t) * t * t * p[2] + t ** 3 * p[3]


class _Canvas:
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

    def _make_local(self) -> None:
        h, w = self.h, self.w
        sh, sw = max(1, h // 8), max(1, w // 8)
        small = cv2.resize(self.aged, (sw, sh), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), 1.0)
        self._local = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        self._local_l = _lum(self._local)

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

    def style(self, bright_p: float | None = None, faint_p: float = 0.25, opacity=(0.6, 1.0)) -> dict:
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
        return {"bright": bool(rng.random() < bp), "opacity": float(op), "strength": float(strength),
                "tint": tint}

    def add(self, y0: int, x0: int, a: np.ndarray, st: dict, kind: str) -> None:
        """Composite alpha patch ``a`` (float32 or uint8) with its top-left at (y0, x0)."""
        h, w = a.shape
        ys, ye = max(0, y0), min(self.h, y0 + h)
        xs, xe = max(0, x0), min(self.w, x0 + w)
        if ys >= ye or xs >= xe:
            return
        a = a[ys - y0:ye - y0, xs - x0:xe - x0]
        scale = np.float32(st["opacity"] / 255.0 if a.dtype == np.uint8 else st["opacity"])
        nz = cv2.findNonZero(np.ascontiguousarray(a) if a.dtype == np.uint8 else (a > 0).view(np.uint8))
        if nz is None:
            return
        nz = nz.reshape(-1, 2)
        n_nz = len(nz)
        if n_nz < 0.35 * a.size:
            # sparse: work on the touched pixels only
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
        # a bright defect on white sky (or a dark one in deep shadow) would be nearly invisible and a
        # useless label: mostly flip its polarity where the content leaves it little room
        wsum = float(av.sum())
        mean_l = float(np.dot(av.ravel(), ll.ravel()) / wsum) if wsum > 0 else 0.5
        if bright and mean_l > 0.7 and self.rng.random() < 0.8:
            bright = False
        elif not bright and mean_l < 0.3 and self.rng.random() < 0.8:
            bright = True
        k = np.float32(st["strength"])
        # colour: bright = local pushed towards white by k, dark = towards black
        col = local * (1 - k)
        if bright:
            col += k
        if st["tint"] is not None:
            col = np.clip(col * st["tint"], 0, 1)
        a3 = av[..., None]
        newP = P * (1 - a3) + col * a3
        newA = Aold + av * (1 - Aold)
        if n_nz < 0.35 * a.size:
            self.P[rows, cols] = newP
            self.A[rows, cols] = newA
        else:
            P[...] = newP
            Aold[...] = newA
        self.n += 1
        self.ctx["kinds"].append(kind)
        self.ctx["polarity"]["bright" if bright else "dark"] += 1


def _draw_lines(h: int, w: int, lines, margin: float) -> tuple[int, int, np.ndarray] | None:
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
            # per-segment intensity: draw in short runs
            step = 3
            for i in range(0, len(q) - 1, step):
                v = int(inten[min(i, len(inten) - 1)])
                if v > 0:
                    cv2.polylines(patch, [q[i:i + step + 1]], False, v, int(th), cv2.LINE_AA, 4)
    return y0, x0, patch


def _width(w_px: float) -> tuple[int, float]:
    """cv2 thickness and an intensity factor for a (possibly sub-pixel) width."""
    if w_px < 1.0:
        return 1, max(w_px, 0.6)
    return max(1, int(round(w_px))), 1.0


def _soften(out, thick: int, rng: np.random.Generator, texture: float = 0.35):
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


# ============================================================================================ damage

_SOLID = {"hair", "hair-short", "lint", "dots", "smut", "scratches"}


def _sprites(cv: _Canvas, bank: OverlayBank, n: int, scale: float) -> None:
    rng = cv.rng
    for _ in range(n):
        cat, alpha = bank.sample(rng)
        _, (flo, fhi), oprange = SPRITE_KINDS[cat]
        f = scale * math.exp(rng.uniform(math.log(flo), math.log(fhi)))
        hh, ww = alpha.shape
        nw, nh = max(1, int(round(ww * f))), max(1, int(round(hh * f)))
        a = cv2.resize(alpha, (nw, nh), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
        if f > 1.3 and cat in _SOLID:
            # enlarging blurs the sprite's edges: restore a crisp (still anti-aliased) edge
            g = min(f, 4.0)
            a = cv2.addWeighted(a, g, a, 0.0, -127.5 * (g - 1))      # saturates to 0..255
        if rng.random() < 0.5:
            a = a[:, ::-1]
        if rng.random() < 0.5:
            a = a[::-1]
        ang = rng.uniform(0, 360)
        M = cv2.getRotationMatrix2D((nw / 2, nh / 2), ang, 1.0)
        c, s = abs(M[0, 0]), abs(M[0, 1])
        bw, bh = int(nh * s + nw * c) + 2, int(nh * c + nw * s) + 2
        M[0, 2] += bw / 2 - nw / 2
        M[1, 2] += bh / 2 - nh / 2
        a = cv2.warpAffine(np.ascontiguousarray(a), M, (bw, bh), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        if rng.random() < 0.3:      # uneven density
            g = rng.uniform(0.6, 1.6)
            a = (255 * (a.astype(np.float32) / 255) ** g).astype(np.uint8)
        cy, cx = rng.uniform(0, cv.h), rng.uniform(0, cv.w)
        st = cv.style(opacity=oprange, faint_p=0.1 if cat == "stain" else 0.25)
        cv.add(int(cy - bh / 2), int(cx - bw / 2), a, st, "sprite:" + cat)


def _bezier_scratch(cv: _Canvas, scale: float) -> None:
    rng = cv.rng
    h, w = cv.h, cv.w
    side = min(h, w)
    length = rng.uniform(0.25, 1.3) * side
    p0 = np.array([rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h])
    th = rng.uniform(0, 2 * np.pi)
    d = np.array([np.cos(th), np.sin(th)])
    nrm = np.array([-d[1], d[0]])
    p3 = p0 + d * length
    bend = rng.normal(0, 0.12, 2) * length
    p1 = p0 + d * length / 3 + nrm * bend[0]
    p2 = p0 + d * 2 * length / 3 + nrm * bend[1]
    n = max(12, int(length / 4))
    pts = _bezier(np.stack([p0, p1, p2, p3]), n)
    w_ref = 1.0 + 5.0 * rng.beta(1.0, 3.5)           # 1-6 px at scale 1, mostly thin
    thick, fac = _width(w_ref * scale)
    st = cv.style(faint_p=0.3)
    # opacity varies along the length; sometimes the scratch fades in/out or breaks up
    var = 1 - rng.uniform(0.2, 0.7) * (0.5 + 0.5 * _smooth_1d(rng, n, int(rng.integers(3, 9))))
    if rng.random() < 0.3:
        var *= _smooth_1d(rng, n, int(rng.integers(4, 12))) > -0.4
    t = np.linspace(0, 1, n)
    var *= np.clip(np.minimum(t, 1 - t) / rng.uniform(0.04, 0.3), 0, 1) ** 0.7      # tapered ends
    inten = np.clip(255 * fac * var, 0, 255)
    lines = [(pts, thick, inten)]
    if thick >= 3:          # brighter core, softer flanks
        lines = [(pts, thick, inten * rng.uniform(0.45, 0.8)), (pts, max(1, thick // 2), inten)]
    out = _soften(_draw_lines(h, w, lines, thick + 2), thick, rng)
    if out:
        cv.add(*out, st, "bezier")


def _vertical_scratches(cv: _Canvas, scale: float) -> None:
    rng = cv.rng
    h, w = cv.h, cv.w
    n = 1 + int(rng.poisson(0.8))
    x_base = rng.uniform(0.02, 0.98) * w
    bright_p = cv.ctx["bright_p"]
    st0 = cv.style(faint_p=0.4)
    for i in range(n):
        x = x_base + (rng.normal(0, 0.02 * w) if i else 0) if rng.random() < 0.6 else rng.uniform(0, w)
        if rng.random() < 0.7:
            y0, y1 = -2.0, h + 2.0
        else:
            y0 = rng.uniform(0, 0.5) * h
            y1 = y0 + rng.uniform(0.5, 1.0) * h
        m = max(8, int((y1 - y0) / 6))
        ys = np.linspace(y0, y1, m)
        slope = rng.normal(0, 0.006)
        wob = rng.uniform(0, 1.5) * max(scale, 0.5)
        xs = x + slope * (ys - y0) + wob * _smooth_1d(rng, m, int(rng.integers(3, 10)))
        pts = np.stack([xs, ys], 1)
        thick, fac = _width((1.0 + 2.0 * rng.beta(1.2, 3.0)) * max(scale, 0.5))
        var = 1 - rng.uniform(0.1, 0.6) * (0.5 + 0.5 * _smooth_1d(rng, m, int(rng.integers(4, 14))))
        if rng.random() < 0.35:     # intermittent
            var *= _smooth_1d(rng, m, int(rng.integers(6, 20))) > -0.5
        st = dict(st0) if i and rng.random() < 0.7 else cv.style(bright_p=bright_p, faint_p=0.4)
        out = _soften(_draw_lines(h, w, [(pts, thick, np.clip(255 * fac * var, 0, 255))], thick + 2), thick, rng)
        if out:
            cv.add(*out, st, "vertical")


def _walk(rng, start, theta, length, step, jitter, depth, branch_p, lines, thick, inten):
    n = max(2, int(length / step))
    thetas = theta + np.cumsum(rng.normal(0, jitter, n))
    steps = step * rng.uniform(0.6, 1.4, n)
    pts = np.vstack([start, start + np.cumsum(np.stack([np.cos(thetas), np.sin(thetas)], 1) * steps[:, None], 0)])
    lines.append((pts, thick, inten))
    if depth >= 3 or len(lines) > 40:
        return
    for i in np.nonzero(rng.random(n) < branch_p)[0]:
        sgn = 1 if rng.random() < 0.5 else -1
        _walk(rng, pts[i + 1], thetas[i] + sgn * rng.uniform(0.4, 1.3), length * rng.uniform(0.15, 0.5),
              step, jitter, depth + 1, branch_p * 0.7, lines, max(1, thick - 1), inten * rng.uniform(0.6, 0.95))


def _crack(cv: _Canvas, scale: float, crease: bool = False) -> None:
    """Emulsion cracks on prints (branching random walks) or a crease (a broken, jagged fold line)."""
    rng = cv.rng
    h, w = cv.h, cv.w
    side = min(h, w)
    s = max(scale, 0.5)
    start = np.array([rng.uniform(0, w), rng.uniform(0, h)])
    lines: list = []
    if crease:
        length = rng.uniform(0.6, 1.5) * side
        th = rng.uniform(0, 2 * np.pi)
        d = np.array([np.cos(th), np.sin(th)])
        nrm = np.array([-d[1], d[0]])
        n = max(8, int(length / (2.5 * s)))
        t = np.linspace(-0.5, 0.5, n)[:, None]
        bow = rng.normal(0, 0.03) * length * (1 - 4 * t ** 2)
        jag = rng.normal(0, 0.6 * s, (n, 1))
        pts = start + t * length * d + (bow + jag) * nrm
        thick, fac = _width(rng.uniform(1.0, 2.5) * s)
        var = np.clip(0.75 + 0.35 * _smooth_1d(rng, n, int(rng.integers(5, 15))), 0, 1)
        var *= _smooth_1d(rng, n, int(rng.integers(8, 25))) > -0.6            # broken in places
        lines.append((pts, thick, np.clip(255 * fac * var, 0, 255)))
        for i in rng.choice(n, size=min(n, int(rng.integers(0, 10))), replace=False):
            ang = th + np.pi / 2 * (1 if rng.random() < 0.5 else -1) + rng.normal(0, 0.4)
            _walk(rng, pts[i], ang, rng.uniform(2, 10) * s, 1.5 * s, 0.5, 3, 0.0, lines, 1,
                  255 * rng.uniform(0.4, 0.9))
    else:
        thick, fac = _width(rng.uniform(1.0, 2.0) * s)
        _walk(rng, start, rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.6) * side, rng.uniform(1.5, 4) * s,
              rng.uniform(0.25, 0.6), 0, rng.uniform(0.03, 0.1), lines, thick, 255 * fac)
    st = cv.style(bright_p=0.75, faint_p=0.2)
    out = _draw_lines(h, w, lines, 6)
    if out:
        cv.add(*out, st, "crease" if crease else "crack")


def _specks(cv: _Canvas, n: int, scale: float, bright: bool | None = None) -> None:
    """Dust: irregular blobs, mostly tiny, 1-15 px (times scale)."""
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
            cv2.circle(patch, (int(cx[i] * 16), int(cy[i] * 16)), max(1, int(r * 16)), v, -1, cv2.LINE_AA, 4)
        else:
            # irregular rounded blob: radius = low-order Fourier series of the angle
            k = int(np.clip(6 + 2.5 * r, 10, 48))
            ang = np.linspace(0, 2 * np.pi, k, endpoint=False)
            harm = np.arange(1, 9)[:, None]
            amp = rng.normal(0, 1, (8, 1)) * (0.3 / harm ** 0.9) * rng.uniform(0.4, 1.2)
            rad = r * np.clip(1 + (amp * np.cos(harm * ang + rng.uniform(0, 2 * np.pi, (8, 1)))).sum(0), 0.3, 1.9)
            el = rng.uniform(1.0, 1.5)
            rot = rng.uniform(0, np.pi)
            px, py = rad * np.cos(ang) * el, rad * np.sin(ang) / el
            xr = cx[i] + px * np.cos(rot) - py * np.sin(rot)
            yr = cy[i] + px * np.sin(rot) + py * np.cos(rot)
            q = np.round(np.stack([xr, yr], 1) * 16).astype(np.int32)
            cv2.fillPoly(patch, [q], v, cv2.LINE_AA, 4)
    bp = cv.ctx["bright_p"] if bright is None else (1.0 if bright else 0.0)
    st = cv.style(bright_p=bp, faint_p=0.1, opacity=(0.85, 1.0))
    cv.add(0, 0, patch, st, "specks")


def _fibres(cv: _Canvas, n: int, scale: float) -> None:
    rng = cv.rng
    h, w = cv.h, cv.w
    s = max(scale, 0.4)
    for _ in range(n):
        length = rng.uniform(8, 60) * s
        p0 = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        th = rng.uniform(0, 2 * np.pi)
        d = np.array([np.cos(th), np.sin(th)])
        nrm = np.array([-d[1], d[0]])
        ctrl = [p0, p0 + d * length / 3 + nrm * rng.normal(0, 0.3) * length,
                p0 + d * 2 * length / 3 + nrm * rng.normal(0, 0.3) * length, p0 + d * length]
        thick, fac = _width(rng.uniform(0.7, 2.0) * s)
        out = _draw_lines(h, w, [(_bezier(np.stack(ctrl), max(6, int(length / 3))), thick, 255 * fac)], thick + 2)
        if out:
            cv.add(*out, cv.style(faint_p=0.2), "fibre")


def _blotch(cv: _Canvas, scale: float) -> None:
    """A water stain / emulsion blotch: faint irregular fill with a stronger tide line."""
    rng = cv.rng
    h, w = cv.h, cv.w
    size = int(rng.uniform(0.1, 0.45) * min(h, w)) + 8
    g = int(rng.integers(4, 8))
    noise = rng.random((g, g)).astype(np.float32)
    yy, xx = np.mgrid[0:g, 0:g].astype(np.float32)
    c = (g - 1) / 2
    noise = noise * 0.6 + 0.8 * (1 - np.hypot(yy - c, xx - c) / (c * 1.2))
    field_ = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
    thr = rng.uniform(0.5, 0.7)
    blob = (field_ > thr).astype(np.float32)
    blob = cv2.GaussianBlur(blob, (0, 0), max(1.0, size / 60))
    fill = blob * rng.uniform(0.15, 0.5)
    if rng.random() < 0.6:
        edge = cv2.morphologyEx((blob > 0.5).astype(np.uint8), cv2.MORPH_GRADIENT,
                                np.ones((3, 3), np.uint8)).astype(np.float32)
        edge = cv2.GaussianBlur(edge, (0, 0), max(0.7, 0.8 * scale))
        fill = np.maximum(fill, np.clip(edge * rng.uniform(0.6, 1.0), 0, 1))
    st = cv.style(bright_p=cv.ctx["bright_p"] * 0.5, faint_p=0.0, opacity=(0.7, 1.0))
    st["strength"] = min(st["strength"], 0.8)
    y0, x0 = int(rng.uniform(-0.3, 1) * h - size / 2), int(rng.uniform(-0.3, 1) * w - size / 2)
    cv.add(y0, x0, fill.astype(np.float32), st, "blotch")


# ============================================================================================ ageing

_PALETTE = np.array([[0.65, 1.0, 1.0], [1.0, 0.65, 1.0], [1.0, 1.0, 0.6], [0.7, 1.0, 0.7],
                     [1.0, 0.75, 0.6], [0.85, 0.7, 0.55]], np.float32)   # cyan magenta yellow green red brown


def _age(img: np.ndarray, rng: np.random.Generator, scale: float, info: dict) -> np.ndarray:
    """Colour mode, fading and film grain: part of the photo (also in the target)."""
    img = np.array(img, dtype=np.float32, copy=True)
    h, w = img.shape[:2]
    r = rng.random()
    sub = img[::3, ::3]
    src_gray = bool(np.abs(sub[:, :, 0] - sub[:, :, 1]).max() < 2e-3 and np.abs(sub[:, :, 1] - sub[:, :, 2]).max() < 2e-3)
    if src_gray or r < 0.22:
        mode = "gray"
        img = _rep3(_lum(img))
    elif r < 0.36:
        mode = "sepia"
        l = _lum(img)
        tone = np.array([1.0, rng.uniform(0.8, 0.9), rng.uniform(0.55, 0.72)], np.float32)
        l3 = _rep3(l)
        img = l3 * tone + _rep3(l * (1 - l)) * (np.float32(0.6) * (1 - tone))
    elif r < 0.55:
        mode = "cast"   # aged colour print: yellowing / red-magenta shift
        cast = np.array([1.0, rng.uniform(0.88, 1.0), rng.uniform(0.7, 0.95)], np.float32)
        img *= cast[rng.permutation(3)] if rng.random() < 0.25 else cast
    else:
        mode = "colour"
    if rng.random() < 0.5:      # fading: lifted blacks, dimmed whites, gamma
        lift = rng.uniform(0.0, 0.15)
        top = 1.0 - rng.uniform(0.0, 0.12)
        gamma = rng.uniform(0.8, 1.2)
        np.clip(img, 0, 1, out=img)
        img = cv2.pow(img, gamma)
        img *= np.float32(top - lift)
        img += np.float32(lift)
        info["fade"] = (round(lift, 3), round(top, 3), round(gamma, 3))
    if rng.random() < 0.8:      # film grain, clumped, luminance-dependent (strongest in mid-tones)
        sigma = rng.uniform(0.006, 0.05)
        gs = max(1.0, rng.uniform(0.7, 1.8) * max(scale, 0.5))
        gh, gw = max(2, int(h / gs)), max(2, int(w / gs))
        noise = _normal(rng, gh, gw)
        if (gh, gw) != (h, w):
            noise = cv2.resize(noise, (w, h), interpolation=cv2.INTER_LINEAR)
            noise *= np.float32(min(1.6, math.sqrt(gs)))
        l = np.clip(_lum(img), 0, 1)
        amp = (np.float32(0.35) + np.float32(2.6) * l * (1 - l)) * np.float32(sigma)
        grain = noise * amp
        if mode in ("colour", "cast") and rng.random() < 0.7:     # a little chroma grain
            ch = cv2.merge([_normal(rng, max(2, h // 3), max(2, w // 3)) for _ in range(3)])
            ch = cv2.resize(ch, (w, h), interpolation=cv2.INTER_LINEAR)
            img += ch * _rep3(amp * np.float32(0.4))
        img += _rep3(grain)
        info["grain"] = round(sigma, 4)
    info["mode"] = mode
    return np.clip(img, 0, 1, out=img)


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    u8 = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(u8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        return img
    out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out.astype(np.float32) * np.float32(1 / 255)


# ============================================================================================ public

def resolution_scale(min_side: float) -> float:
    """Defect size scale for a photo whose short side is ``min_side`` pixels."""
    return float(np.clip(min_side / REF_SIDE, 0.25, 8.0))


def simulate(clean: np.ndarray, rng: np.random.Generator, bank: OverlayBank | None, *,
             severity: float | None = None, scale: float | None = None, jpeg: bool | int | None = None) -> Damaged:
    """Age ``clean`` (float RGB HxWx3 in [0, 1]) and damage it; see the module docstring for the steps.

    severity: damage density in [0, 1]; None = random per sample, with ``NO_DAMAGE_P`` of samples
        undamaged (mask all False). 0 = no damage.
    scale: resolution scale of the scan (default ``resolution_scale(min(H, W))``); pass the scale of the
        full photo when ``clean`` is a crop of it.
    jpeg: None = random (quality 60-95, none in 25% of samples), False = never, int = that quality.
    bank: sprites; None = procedural damage only.
    """
    img = np.asarray(clean)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, 2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"expected an HxWx3 image, got shape {img.shape}")
    img = img[:, :, :3]
    if img.dtype == np.uint8:
        img = img.astype(np.float32) / 255
    elif img.dtype == np.uint16:
        img = img.astype(np.float32) / 65535
    img = np.clip(img.astype(np.float32, copy=False), 0, 1)
    h, w = img.shape[:2]
    scale = resolution_scale(min(h, w)) if scale is None else float(scale)

    if severity is None:
        severity = 0.0 if rng.random() < NO_DAMAGE_P else float(np.clip(rng.beta(1.3, 2.0), 0.03, 1.0))
    severity = float(np.clip(severity, 0.0, 1.0))
    names = list(MEDIA)
    pm = np.array([MEDIA[m][0] for m in names])
    medium = names[int(rng.choice(len(names), p=pm / pm.sum()))]
    info: dict = {"severity": severity, "scale": scale, "medium": medium, "kinds": [],
                  "polarity": {"bright": 0, "dark": 0}}

    aged = _age(img, rng, scale, info)
    ws = scale ** SIZE_EXP      # size factor for defects
    ctx = {"bright_p": MEDIA[medium][1], "colour": info["mode"] in ("colour", "cast"), "palette": _PALETTE,
           "kinds": info["kinds"], "polarity": info["polarity"]}
    cv = _Canvas(aged, rng, ctx)

    if severity > 0:
        s = severity
        # more defects on bigger images, fewer per crop when the crop is a zoomed-in part of a big scan
        af = float(np.clip(math.sqrt(h * w) / 512.0, 0.5, 4.0)) / max(1.0, ws) ** 0.7
        n_spr = int(rng.poisson((0.5 + 5.0 * s) * af)) if bank is not None else 0
        n_bez = int(rng.poisson((0.2 + 2.5 * s) * min(af, 2)))
        n_vert = (1 if rng.random() < 0.25 + 0.3 * s else 0) if medium != "print" else int(rng.random() < 0.05)
        n_crack = int(rng.poisson(0.3 + 1.5 * s)) if medium == "print" and rng.random() < 0.6 else 0
        n_crease = int(medium == "print" and rng.random() < 0.15)
        n_speck = int(rng.poisson((2 + 60.0 * s ** 1.5) * af))
        n_fibre = int(rng.poisson((0.3 + 3.0 * s) * af))
        n_blotch = int(rng.random() < 0.05 + 0.08 * s)
        if n_spr + n_bez + n_vert + n_crack + n_crease + n_speck + n_fibre + n_blotch == 0:
            n_bez = 1
        if n_spr:
            _sprites(cv, bank, n_spr, ws)
        for _ in range(n_blotch):
            _blotch(cv, ws)
        for _ in range(n_bez):
            _bezier_scratch(cv, ws)
        for _ in range(n_vert):
            _vertical_scratches(cv, ws)
        for _ in range(n_crack):
            _crack(cv, ws)
        for _ in range(n_crease):
            _crack(cv, ws, crease=True)
        _fibres(cv, n_fibre, ws)
        if n_speck:
            # dust of the medium's main polarity, plus sometimes a second population of the other
            if rng.random() < 0.3 and n_speck > 4:
                k = int(n_speck * rng.uniform(0.2, 0.5))
                _specks(cv, n_speck - k, ws, bright=ctx["bright_p"] >= 0.5)
                _specks(cv, k, ws, bright=ctx["bright_p"] < 0.5)
            else:
                _specks(cv, n_speck, ws)

    A = cv.A
    if cv.n:
        damaged = cv2.add(cv2.multiply(aged, _rep3(1 - A)), cv.P)
    else:
        damaged = aged.copy()
    target = aged

    # scan: slight blur and faint noise act on photo and defects alike
    if rng.random() < 0.6:
        sig = rng.uniform(0.3, 0.9)
        damaged = cv2.GaussianBlur(damaged, (0, 0), sig)
        target = cv2.GaussianBlur(target, (0, 0), sig)
        if cv.n:
            A = cv2.GaussianBlur(A, (0, 0), sig)
        info["blur"] = round(sig, 3)
    # a defect whose colour matches what it covers is not damage: keep only pixels it visibly changes
    # (grown by 1 px so the fringe of a visible defect stays in)
    visible = cv2.dilate((np.abs(damaged - target).max(axis=2) > VISIBLE_DELTA).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    if rng.random() < 0.5:
        sig = rng.uniform(0.002, 0.012)
        nz = _rep3(_normal(rng, h, w) * np.float32(sig))
        damaged = damaged + nz
        target = target + nz
        info["scan_noise"] = round(sig, 4)
    damaged = np.clip(damaged, 0, 1, out=damaged if damaged is not aged else None)
    target = np.clip(target, 0, 1, out=target if target is not aged else None)

    q = None
    if jpeg is None:
        q = int(rng.integers(60, 96)) if rng.random() < 0.75 else None
    elif jpeg is not False and jpeg is not True:
        q = int(jpeg)
    elif jpeg is True:
        q = int(rng.integers(60, 96))
    if q is not None:
        damaged = _jpeg(damaged, q)
    info["jpeg"] = q

    opacity = np.clip(A, 0, 1).astype(np.float32, copy=False) if cv.n else np.zeros((h, w), np.float32)
    return Damaged(damaged=np.ascontiguousarray(damaged, dtype=np.float32), mask=(opacity > MASK_THRESHOLD) & visible,
                   opacity=opacity, clean=np.ascontiguousarray(target), info=info)


def make_pair(photo, rng: np.random.Generator, bank: OverlayBank | None, size=256, *,
              severity: float | None = None, scale_range=(0.3, 1.0), jpeg: bool | int | None = None) -> Damaged:
    """Random crop of a photo (path or array), scaled by a random factor in ``scale_range`` first so that
    resolutions vary, then :func:`simulate` with the defect scale of the scaled photo."""
    from .pool import random_crop, read_rgb

    img = read_rgb(photo) if isinstance(photo, (str, os.PathLike)) else np.asarray(photo)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, 2)
    crop, f = random_crop(img[:, :, :3], size, rng, scale=scale_range)
    return simulate(crop, rng, bank, severity=severity, scale=resolution_scale(min(img.shape[:2]) * f), jpeg=jpeg)


# ============================================================================================ preview

def infrared_plane(clean: np.ndarray, opacity: np.ndarray, rng: np.random.Generator, *, block: float = 0.7,
                   leak: float = 0.25, blur: float = 1.5, noise: float = 0.01) -> np.ndarray:
    """The infrared plane a film scanner would record beside `clean` under defects of `opacity` (HxW float32).

    A model, not a measurement (no permissively licensed RGBI scan was at hand): the film base passes 70 % of
    the lamp; the cyan dye leaks a `leak` share of the red plane into it; defects dim it by `block` times their
    opacity; it is blurrier than the colour planes (Gaussian `blur` px), one pixel to the right of them, and
    noisy. Evaluation only: what unscratch.infrared would find on such a scan."""
    ir = (0.7 + leak * clean[:, :, 0]) * (1 - block * opacity)
    ir = cv2.GaussianBlur(ir.astype(np.float32), (0, 0), blur)
    ir = np.concatenate([ir[:, :1], ir[:, :-1]], axis=1) + rng.normal(0, noise, ir.shape).astype(np.float32)
    return np.clip(ir, 0, 1)


def _synthetic_photo(rng: np.random.Generator, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.stack([0.3 + 0.5 * xx, 0.25 + 0.4 * yy, 0.5 - 0.3 * xx * yy], 2)
    for _ in range(6):
        c = rng.uniform(0, 1, 2)
        r = rng.uniform(0.05, 0.25)
        img[np.hypot(xx - c[0], yy - c[1]) < r] = rng.uniform(0.05, 0.95, 3)
    return cv2.GaussianBlur(img.astype(np.float32), (0, 0), 2)


def preview(out: Path, *, seed: int = 0, size: int = 384, n: int = 6, split: str = "val",
            with_clean: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    try:
        bank = OverlayBank(split=split)
        len(bank)
    except FileNotFoundError:
        bank = None
    try:
        from .pool import photo_paths
        photos = photo_paths(split)
    except (FileNotFoundError, OSError):
        photos = []
    tiles = []
    for i in range(n):
        sev = float(rng.uniform(0.2, 1.0))
        if photos:
            d = make_pair(photos[int(rng.integers(len(photos)))], rng, bank, size, severity=sev)
        else:
            d = simulate(_synthetic_photo(rng, size), rng, bank, severity=sev)
        parts = ([d.clean] if with_clean else []) + [d.damaged, np.repeat(d.mask[:, :, None], 3, 2).astype(np.float32)]
        row = []
        for p in parts:
            row += [p, np.full((size, 4, 3), 0.5, np.float32)]
        tiles.append(np.hstack(row))
    cols = 2
    rows = []
    for r in range(0, n, cols):
        group = tiles[r:r + cols]
        while len(group) < cols:
            group.append(np.zeros_like(tiles[0]))
        rows.append(np.hstack([np.hstack([t, np.full((size, 12, 3), 1.0, np.float32)]) for t in group]))
        rows.append(np.full((8, rows[-1].shape[1], 3), 1.0, np.float32))
    grid = np.vstack(rows)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor((grid * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m unscratch.train.simulate", description="Damage simulator preview")
    ap.add_argument("--preview", type=Path, required=True, help="PNG to write: 6 (damaged | mask) pairs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--split", default="val", choices=["train", "val", "test", "all"])
    ap.add_argument("--with-clean", action="store_true", help="also show the target")
    args = ap.parse_args(argv)
    out = preview(args.preview, seed=args.seed, size=args.size, split=args.split, with_clean=args.with_clean)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

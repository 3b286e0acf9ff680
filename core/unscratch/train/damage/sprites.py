"""Film sprites: scanned film damage (scratches, hair, dots, spots, lint, dirt, stains, ...) from
the overlay folder (``$UNSCRATCH_OVERLAYS``; ``train/README.md`` says where to get it), whose alpha
is the exact mask; scaled relative to the image, rotated, flipped, partly transparent.
:class:`OverlayBank` lists and caches them, split 70/15/15 by a hash of ``category/file``."""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from ..pool import shared_data
from .draw import Canvas

SPRITE_SPLIT = (0.70, 0.15, 0.15)

# sprite kinds: relative weight, size factor range (sprite px -> image px, times scale), opacity
# range
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
_SOLID = {"hair", "hair-short", "lint", "dots", "smut", "scratches"}


def default_overlays() -> Path:
    env = os.environ.get("UNSCRATCH_OVERLAYS")
    return Path(env) if env else shared_data() / "damage-overlays"


def sprite_split(name: str) -> str:
    """The split ("train", "val" or "test") of a sprite, from a hash of ``category/file``."""
    digest = hashlib.sha256(("unscratch-sprite-v1:" + name).encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0 ** 64
    if u < SPRITE_SPLIT[0]:
        return "train"
    return "val" if u < SPRITE_SPLIT[0] + SPRITE_SPLIT[1] else "test"


class OverlayBank:
    """Film-damage sprites (alpha = exact mask), listed lazily and decoded on demand into an LRU
    cache.

    ``split`` ("train"/"val"/"test"/"all") keeps only the sprites whose ``category/file`` hash falls
    in that split (70/15/15), so validation/test damage shapes are never seen in training. Sprites
    are stored cropped to their alpha bounding box, as uint8.
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
                raise FileNotFoundError(f"damage overlays not found at {self.root} (set "
                                        "UNSCRATCH_OVERLAYS or pass root=; "
                                        "core/unscratch/train/README.md says how to get them)")
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
        if im.ndim == 2:
            a = im
        else:
            a = im[:, :, 3] if im.shape[2] == 4 else im[:, :, 0]
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

    def sample(self, rng: np.random.Generator,
               category: str | None = None) -> tuple[str, np.ndarray]:
        lists = self._list()
        if not lists:
            raise FileNotFoundError(f"no sprites in {self.root} for split {self.split!r}")
        if category is None:
            cats = list(lists)
            w = np.array([SPRITE_KINDS[c][0] for c in cats])
            category = cats[int(rng.choice(len(cats), p=w / w.sum()))]
        return category, self.sprite(category, int(rng.integers(len(lists[category]))))


def draw(cv: Canvas, n: int, scale: float, bank: OverlayBank | None) -> None:
    """``n`` sprites from ``bank`` (nothing without a bank)."""
    if bank is None:
        return
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
        cv.add(int(cy - bh / 2), int(cx - bw / 2), a, st, "sprites")
        cv.ctx["info"].setdefault("sprites", []).append(cat)

"""An independent damage generator, for evaluation only: damage the simulator never drew.

A test split made by the training simulator measures how well a network learnt the simulator. This
module draws damage with its own code, shapes, widths, colours and opacity laws, written apart from
`unscratch.train.simulate` (it neither reads nor imports it, nor the damage sprites): everything is
drawn procedurally here (the families in independent_families.py). Training must never import
this module.

Every sample holds the damaged picture, the clean target, the exact mask (where the damage visibly
changes the picture, after the scan's blur and before JPEG) and the family of each mask pixel, for
recall per family.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .independent_families import COUNT, DRAW, FAMILIES, _Canvas

# a pixel belongs to the mask when the damage moves some channel by at least this much
VISIBLE = 0.035


@dataclass
class Sample:
    damaged: np.ndarray   # HxWx3 float32 in [0, 1]
    clean: np.ndarray     # HxWx3 float32: the same photo and look (blur, grain), without the damage
    mask: np.ndarray      # HxW bool: where the damage changes the picture by >= VISIBLE
    family: np.ndarray    # HxW int8: index into FAMILIES of each mask pixel, -1 off the mask

    def family_mask(self, name: str) -> np.ndarray:
        return self.family == FAMILIES.index(name)


# --- the photo's own look, on clean and damaged alike ---------------------------------------------
def old_look(img: np.ndarray, rng) -> np.ndarray:
    """Sometimes monochrome or toned, faded, grainy: the prints people restore. Part of the clean
    target."""
    out = img
    r = rng.random()
    if r < 0.45:
        luma = out @ np.array([0.3, 0.59, 0.11], np.float32)
        tones = [(1, 1, 1), (1.08, 0.95, 0.78), (0.9, 0.97, 1.08), (1.02, 0.98, 0.92)]
        tone = tones[rng.integers(4)]
        out = np.clip(luma[:, :, None] * np.array(tone, np.float32), 0, 1)
    if rng.random() < 0.4:
        lo, hi = rng.uniform(0, 0.15), rng.uniform(0.8, 1.0)
        out = lo + (hi - lo) * out
    if rng.random() < 0.4:
        noise = rng.normal(0, 1, out.shape[:2]).astype(np.float32)
        grain = cv2.GaussianBlur(noise, (0, 0), rng.uniform(0.4, 1.0))
        out = out + rng.uniform(0.005, 0.03) * grain[:, :, None] / max(grain.std(), 1e-6)
    return np.clip(out, 0, 1).astype(np.float32)


def damage(clean: np.ndarray, rng, families=None, *, jpeg: bool = True,
           opaque: bool = False) -> Sample:
    """Damage `clean` (HxWx3 float32 in [0, 1], already given its look) with some of `families`
    (default: one to three of them at random); then the scan's blur on both, JPEG on the damaged
    only. `opaque`: scratches and cracks fully opaque along their whole length (the ghost-line
    check)."""
    families = list(FAMILIES if families is None else families)
    if len(families) > 1:
        n = int(rng.integers(1, min(3, len(families)) + 1))
        families = list(rng.choice(families, size=n, replace=False))
    cv = _Canvas(clean, opaque)
    for fam in families:
        lo, hi = COUNT[fam]
        for _ in range(int(rng.integers(lo, hi + 1))):
            DRAW[fam](cv, rng)
    damaged, clean = cv.img, clean.copy()
    strength = cv.strength
    if rng.random() < 0.5:
        sigma = rng.uniform(0.3, 1.0)
        damaged, clean = (cv2.GaussianBlur(x, (0, 0), sigma) for x in (damaged, clean))
        strength = np.stack([cv2.GaussianBlur(s, (0, 0), sigma) for s in strength])
    mask = np.abs(damaged - clean).max(axis=2) >= VISIBLE
    family = np.where(mask, np.argmax(strength, axis=0), -1).astype(np.int8)
    if jpeg and rng.random() < 0.6:
        q = int(rng.integers(55, 95))
        damaged = _jpeg(damaged, q)
    return Sample(np.ascontiguousarray(damaged, np.float32), clean.astype(np.float32), mask, family)


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    bgr = np.rint(rgb[:, :, ::-1] * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].astype(np.float32) / 255


# --- sets of samples ------------------------------------------------------------------------------
def eval_photos(source: str = "auto") -> list:
    """The photos to damage: a folder, or a split of the photo pool. "auto" takes the pool's
    eval-only held-out photos (pool.HOLDOUT) when it has them, else its test split (never trained
    on)."""
    from pathlib import Path

    from .. import pool
    from .real import photos_in
    # the pool's eval-only split of held-out sources, if any
    holdout = getattr(pool, "HOLDOUT", None)
    if source not in ("auto", "all", holdout) + tuple(getattr(pool, "SPLITS", ())):
        folder = Path(source)
        if not folder.is_dir():
            raise ValueError(f"photos: {source!r} is neither a folder nor a split of the pool")
        return photos_in(folder)
    if source == "auto":
        held = pool.photo_paths(holdout) if holdout else []
        return held if held else pool.photo_paths("test")
    return pool.photo_paths(source)


def _crop(photo: np.ndarray, size: int, rng) -> np.ndarray:
    """A crop of `size` (or the short side) after scaling the photo by 0.5-1."""
    s = rng.uniform(0.5, 1.0)
    h, w = photo.shape[:2]
    if min(h, w) * s >= 64:
        photo = cv2.resize(photo, (max(1, int(w * s)), max(1, int(h * s))),
                           interpolation=cv2.INTER_AREA)
    h, w = photo.shape[:2]
    c = min(size, h, w)
    y, x = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
    return np.ascontiguousarray(photo[y:y + c, x:x + c], np.float32)


def _load(path) -> np.ndarray:
    from .. import pool
    return pool.load_photo(path)


def make_samples(photos, n_per_photo: int, size: int, seed: int, families=None, *,
                 jpeg: bool = True, opaque: bool = False, progress=None) -> list[Sample]:
    """Deterministic damaged crops: the same photos, seed and arguments give the same samples."""
    which = 0 if families is None else sum(FAMILIES.index(f) + 1 for f in families)
    rng = np.random.default_rng([seed, 4242, which])
    out = []
    for path in (photos if progress is None else progress(photos)):
        photo = _load(path) if not isinstance(path, np.ndarray) else path
        for _ in range(n_per_photo):
            clean = old_look(_crop(photo, size, rng), rng)
            out.append(damage(clean, rng, families, jpeg=jpeg, opaque=opaque))
    return out


def clean_samples(photos, size: int, seed: int) -> list[np.ndarray]:
    """Undamaged crops with the same looks (toning, fading, grain, JPEG): what must not be
    marked."""
    rng = np.random.default_rng([seed, 4243])
    out = []
    for path in photos:
        img = old_look(_crop(_load(path) if not isinstance(path, np.ndarray) else path, 2 * size,
                             rng), rng)
        if rng.random() < 0.6:
            img = _jpeg(img, int(rng.integers(55, 95)))
        out.append(img)
    return out


def preview(path, seed: int = 0, size: int = 256) -> None:
    """A sheet of every family on a gray gradient, for looking at: per family one row of two draws,
    each as damaged | mask."""
    rows = []
    base = np.dstack([np.tile(np.linspace(0.15, 0.85, size, dtype=np.float32), (size, 1))] * 3)
    for i, fam in enumerate(FAMILIES):
        row = []
        for k in range(2):
            s = damage(base, np.random.default_rng([seed, i, k]), [fam], jpeg=False)
            row += [s.damaged, np.dstack([s.mask.astype(np.float32)] * 3),
                    np.ones((size, 6, 3), np.float32)]
        rows += [np.hstack(row), np.ones((6, len(row) // 3 * (2 * size + 6), 3), np.float32)]
    sheet = np.ascontiguousarray(np.rint(np.vstack(rows)[:, :, ::-1] * 255).astype(np.uint8))
    for i, fam in enumerate(FAMILIES):
        cv2.putText(sheet, fam, (4, i * (size + 6) + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (40, 40, 230), 1, cv2.LINE_AA)
    ok, buf = cv2.imencode(str(path)[-4:], sheet)
    open(path, "wb").write(buf.tobytes())


# python -m unscratch.train.eval.independent_damage OUT.png [SEED]: the preview sheet
if __name__ == "__main__":
    import sys
    preview(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)

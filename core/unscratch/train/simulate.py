"""Damage simulator: clean photo -> (damaged photo, exact defect mask, restoration target).

Pure numpy + OpenCV, deterministic for a given ``np.random.Generator`` state. Each damage family
lives in its own module under :mod:`unscratch.train.damage` (``damage.FAMILIES`` = {name: share});
the old-photo look is :mod:`.damage.look`, thin picture structure (hard negatives)
:mod:`.damage.negatives`.

Pipeline of :func:`simulate` (``a`` = defect opacity, all images float32 RGB in [0, 1])::

    1. hard negatives: thin picture structure (rigging, wires, branches, grass, petals, stars, text,
       fabric, window frames) painted into the clean photo, in HARD_NEGATIVE_P of crops: picture,
       not damage
    2. the look of an old photo (OLD_LOOK_P of crops; the rest get the mild ageing of colour
       photos): monochrome / toned / colour cast, fading, soft focus, halftone, paper texture,
       vignetting, grain, JPEG -- part of the photo, so part of the target
    3. damage, composited over the aged photo: damaged = aged*(1-a) + defect_colour*a, from 1-4
       families drawn by share (see damage/__init__.py); each defect bright or dark, coloured
       relative to the local photo content (or, for print damage, the colour of paper, dirt or
       rust), opacity faint to opaque
    4. scan (after the damage, so it affects the defects too): slight scan blur (applied identically
       to damaged, target and opacity) and faint scanner noise (same realisation on damaged and
       target)
    5. JPEG at quality 60-95 (sometimes none) on the damaged image only

The target ``Damaged.clean`` is the photo after steps 1, 2 and 4, without damage or the final JPEG.
``Damaged.mask`` is ``opacity > MASK_THRESHOLD`` where the defect visibly changes the picture (by
more than ``VISIBLE_DELTA`` in some channel, before scanner noise and JPEG; grown by 1 px): a faint
defect whose colour matches what it covers is not damage and no detector could see it. Without JPEG,
``|damaged - clean| <= opacity`` holds exactly. Defect sizes scale with the resolution of the scan
through ``scale`` (``min(H, W) / REF_SIDE`` of the full photo by default; sizes in pixels grow as
``scale ** SIZE_EXP``). ``make_pair`` passes the scale of the (rescaled) source photo, not of the
crop. ``Damaged.info['kinds']`` names the family of every defect drawn, ``info['families']`` the
families the sample drew, ``info['negatives']`` the thin structure painted into the picture.

    python -m unscratch.train.simulate --preview OUT.png                  # 6 (damaged | mask) pairs
    python -m unscratch.train.simulate --preview OUT.png --family cracks  # one family only
    python -m unscratch.train.simulate --preview OUT.png --family all     # a row per family
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import damage
from .damage import FAMILIES, PRINT_FAMILIES, look, negatives
from .damage.draw import MEDIA, PALETTE, Canvas, normal, rep3
from .damage.sprites import SPRITE_KINDS, SPRITE_SPLIT, OverlayBank, default_overlays, sprite_split  # noqa: F401

MASK_THRESHOLD = 0.1       # mask = opacity > MASK_THRESHOLD where the defect is visible:
VISIBLE_DELTA = 0.03       # ... it changes some channel by more than this
                           # (before scanner noise and JPEG)
REF_SIDE = 1024.0          # scale 1.0 = a photo whose short side is this many pixels
SIZE_EXP = 0.8             # defect sizes in pixels grow as scale ** SIZE_EXP
NO_DAMAGE_P = 0.1          # share of samples (severity=None) that get no damage at all
OLD_LOOK_P = 0.7           # share of crops that get the full look of an old photo
HARD_NEGATIVE_P = negatives.HARD_NEGATIVE_P


@dataclass
class Damaged:
    damaged: np.ndarray      # float32 HxWx3 in [0, 1]: what the scanner saw
    mask: np.ndarray         # bool HxW: opacity > MASK_THRESHOLD where visible
                             # (see module docstring)
    opacity: np.ndarray      # float32 HxW in [0, 1]: total defect opacity
    clean: np.ndarray        # float32 HxWx3 in [0, 1]: aged photo without damage
                             # (restoration target)
    info: dict = field(default_factory=dict)


def resolution_scale(min_side: float) -> float:
    """Defect size scale for a photo whose short side is ``min_side`` pixels."""
    return float(np.clip(min_side / REF_SIDE, 0.25, 8.0))


def _as_float_rgb(clean) -> np.ndarray:
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
    return np.clip(img.astype(np.float32, copy=False), 0, 1)


def simulate(clean: np.ndarray, rng: np.random.Generator, bank: OverlayBank | None, *,
             severity: float | None = None, scale: float | None = None,
             jpeg: bool | int | None = None, families=None, exclude=None, old: bool | None = None,
             hard_negatives: int | None = None) -> Damaged:
    """Age ``clean`` (float RGB HxWx3 in [0, 1]) and damage it; see the module docstring for the
    steps.

    severity: damage density in [0, 1]; None = random per sample, with ``NO_DAMAGE_P`` of samples
        undamaged (mask all False). 0 = no damage.
    scale: resolution scale of the scan (default ``resolution_scale(min(H, W))``); pass the scale
        of the full photo when ``clean`` is a crop of it.
    jpeg: None = random (quality 60-95, none in 25% of samples), False = never, int = that quality.
    bank: sprites; None = procedural damage only.
    families / exclude: a family name or names of ``FAMILIES`` to draw from only / never
        (per-family evaluation, ablations); None = all.
    old: the look of an old photo: None = in OLD_LOOK_P of samples, True / False = always / never.
    hard_negatives: pieces of thin picture structure: None = random (HARD_NEGATIVE_P of samples),
        0 = none.
    """
    img = _as_float_rgb(clean)
    h, w = img.shape[:2]
    scale = resolution_scale(min(h, w)) if scale is None else float(scale)
    pool = damage.allowed(families, exclude)

    if severity is None:
        severity = (0.0 if rng.random() < NO_DAMAGE_P
                    else float(np.clip(rng.beta(1.3, 2.0), 0.03, 1.0)))
    severity = float(np.clip(severity, 0.0, 1.0))
    drawn = damage.pick(rng, severity, pool, bank is not None) if severity > 0 else []
    if any(f in PRINT_FAMILIES for f in drawn):
        medium = "print"
    else:
        names = list(MEDIA)
        pm = np.array([MEDIA[m][0] for m in names])
        medium = names[int(rng.choice(len(names), p=pm / pm.sum()))]
    info: dict = {"severity": severity, "scale": scale, "medium": medium, "families": drawn,
                  "kinds": [], "polarity": {"bright": 0, "dark": 0}}

    img = negatives.draw(img, rng, scale, info, hard_negatives)
    is_old = bool(rng.random() < OLD_LOOK_P) if old is None else bool(old)
    aged = look.age(img, rng, scale, info, old=is_old)
    info["old"] = is_old
    ws = scale ** SIZE_EXP      # size factor for defects
    ctx = {"bright_p": MEDIA[medium][1], "colour": info["mode"] in ("colour", "cast", "autochrome"),
           "palette": PALETTE, "kinds": info["kinds"], "polarity": info["polarity"],
           "medium": medium, "info": info}
    cv = Canvas(aged, rng, ctx)

    if drawn:
        # more defects on bigger images, fewer per crop when the crop is a zoomed-in part of a big
        # scan
        af = float(np.clip(math.sqrt(h * w) / 512.0, 0.5, 4.0)) / max(1.0, ws) ** 0.7
        counts = {f: damage.COUNTS[f](rng, severity, af) for f in drawn}
        for f in damage.ORDER:
            if f in counts:
                damage.draw(cv, f, counts[f], ws, bank)

    A = cv.A
    damaged = cv2.add(cv2.multiply(aged, rep3(1 - A)), cv.P) if cv.n else aged.copy()
    target = aged

    # scan: slight blur and faint noise act on photo and defects alike
    if rng.random() < 0.6:
        sig = rng.uniform(0.3, 0.9)
        damaged = cv2.GaussianBlur(damaged, (0, 0), sig)
        target = cv2.GaussianBlur(target, (0, 0), sig)
        if cv.n:
            A = cv2.GaussianBlur(A, (0, 0), sig)
        info["blur"] = round(sig, 3)
    # a defect whose colour matches what it covers is not damage: keep only pixels it visibly
    # changes (grown by 1 px so the fringe of a visible defect stays in)
    # numpy's max over a last axis of 3 is slow
    r, g, b = cv2.split(cv2.absdiff(damaged, target))
    visible = cv2.dilate((cv2.max(cv2.max(r, g), b) > VISIBLE_DELTA).astype(np.uint8),
                         np.ones((3, 3), np.uint8)) > 0
    if rng.random() < 0.5:
        sig = rng.uniform(0.002, 0.012)
        nz = rep3(normal(rng, h, w) * np.float32(sig))
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
        damaged = look.jpeg(damaged, q)
    info["jpeg"] = q

    opacity = (np.clip(A, 0, 1).astype(np.float32, copy=False) if cv.n
               else np.zeros((h, w), np.float32))
    return Damaged(damaged=np.ascontiguousarray(damaged, dtype=np.float32),
                   mask=(opacity > MASK_THRESHOLD) & visible, opacity=opacity,
                   clean=np.ascontiguousarray(target), info=info)


def make_pair(photo, rng: np.random.Generator, bank: OverlayBank | None, size=256, *,
              severity: float | None = None, scale_range=(0.3, 1.0), jpeg: bool | int | None = None,
              **kw) -> Damaged:
    """Random crop of a photo (path or array), scaled by a random factor in ``scale_range`` first so
    that resolutions vary, then :func:`simulate` (``kw``: families, exclude, old, hard_negatives)
    with the defect scale of the scaled photo."""
    from .pool import random_crop, read_rgb

    img = read_rgb(photo) if isinstance(photo, (str, os.PathLike)) else np.asarray(photo)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, 2)
    crop, f = random_crop(img[:, :, :3], size, rng, scale=scale_range)
    return simulate(crop, rng, bank, severity=severity,
                    scale=resolution_scale(min(img.shape[:2]) * f), jpeg=jpeg, **kw)


def infrared_plane(clean: np.ndarray, opacity: np.ndarray, rng: np.random.Generator, *,
                   block: float = 0.7, leak: float = 0.25, blur: float = 1.5,
                   noise: float = 0.01) -> np.ndarray:
    """The infrared plane a film scanner would record beside `clean` under defects of `opacity` (HxW
    float32).

    A model, not a measurement (no permissively licensed RGBI scan was at hand): the film base
    passes 70 % of the lamp; the cyan dye leaks a `leak` share of the red plane into it; defects dim
    it by `block` times their opacity; it is blurrier than the colour planes (Gaussian `blur` px),
    one pixel to the right of them, and noisy. Evaluation only: what unscratch.infrared would find
    on such a scan."""
    ir = (0.7 + leak * clean[:, :, 0]) * (1 - block * opacity)
    ir = cv2.GaussianBlur(ir.astype(np.float32), (0, 0), blur)
    ir = (np.concatenate([ir[:, :1], ir[:, :-1]], axis=1)
          + rng.normal(0, noise, ir.shape).astype(np.float32))
    return np.clip(ir, 0, 1)


def _synthetic_photo(rng: np.random.Generator, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.stack([0.3 + 0.5 * xx, 0.25 + 0.4 * yy, 0.5 - 0.3 * xx * yy], 2)
    for _ in range(6):
        c = rng.uniform(0, 1, 2)
        r = rng.uniform(0.05, 0.25)
        img[np.hypot(xx - c[0], yy - c[1]) < r] = rng.uniform(0.05, 0.95, 3)
    return cv2.GaussianBlur(img.astype(np.float32), (0, 0), 2)


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    u8 = np.ascontiguousarray((tile * 255 + 0.5).astype(np.uint8))
    for colour, th in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(u8, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, colour, th, cv2.LINE_AA)
    return u8.astype(np.float32) / 255


def _pairs(rng, photos, bank, size, n, with_clean, **kw) -> list[np.ndarray]:
    """``n`` tiles (clean |) damaged | mask of random photos (synthetic ones when the pool is
    missing). Without damage (severity 0, the hard-negative sheet): photo as it came | target with
    thin structure and the old look | mask (empty)."""
    from .pool import random_crop, read_rgb
    tiles = []
    for _ in range(n):
        sev = float(rng.uniform(0.3, 1.0)) if kw.get("severity") is None else kw["severity"]
        if photos:
            img = read_rgb(photos[int(rng.integers(len(photos)))])
            crop, f = random_crop(img[:, :, :3], size, rng, scale=(0.3, 1.0))
            sc = resolution_scale(min(img.shape[:2]) * f)
            d = simulate(crop, rng, bank, **dict(kw, severity=sev, scale=sc))
        else:
            crop = _synthetic_photo(rng, size)
            d = simulate(crop, rng, bank, **dict(kw, severity=sev))
        parts = ([d.clean] if with_clean else []) + [d.damaged, rep3(d.mask.astype(np.float32))]
        if sev == 0:
            parts = [_as_float_rgb(crop), d.clean, rep3(d.mask.astype(np.float32))]
        row = []
        for p in parts:
            row += [p, np.full((size, 3, 3), 0.5, np.float32)]
        tiles.append(np.hstack(row))
    return tiles


def preview(out: Path, *, seed: int = 0, size: int = 384, n: int = 6, split: str = "val",
            with_clean: bool = False, family: str | None = None) -> Path:
    """A PNG sheet of (damaged | mask) pairs. ``family``: one damage family only; "all" = a labelled
    row of ``n`` pairs per family; "negatives" = thin picture structure on undamaged old-looking
    photos."""
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
    gap = lambda hh: np.full((hh, 8, 3), 1.0, np.float32)          # noqa: E731
    if family == "all":
        rows = []
        for name in FAMILIES:
            tiles = _pairs(rng, photos, bank, size, n, with_clean, families=name, hard_negatives=0)
            tiles[0] = np.hstack([_label(tiles[0][:, :size], name), tiles[0][:, size:]])
            rows.append(np.hstack([np.hstack([t, gap(size)]) for t in tiles]))
            rows.append(np.full((6, rows[-1].shape[1], 3), 1.0, np.float32))
        grid = np.vstack(rows)
    else:
        kw = {"families": family} if family not in (None, "negatives") else {}
        if family == "negatives":
            kw = {"severity": 0.0, "hard_negatives": 2, "old": True}
        tiles = _pairs(rng, photos, bank, size, n, with_clean, **kw)
        cols = 2
        rows = []
        for r in range(0, n, cols):
            group = tiles[r:r + cols]
            while len(group) < cols:
                group.append(np.zeros_like(tiles[0]))
            rows.append(np.hstack([np.hstack([t, gap(size)]) for t in group]))
            rows.append(np.full((8, rows[-1].shape[1], 3), 1.0, np.float32))
        grid = np.vstack(rows)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor((grid * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m unscratch.train.simulate",
                                 description="Damage simulator preview")
    ap.add_argument("--preview", type=Path, required=True,
                    help="PNG to write: (damaged | mask) pairs")
    ap.add_argument("--family",
                    help=f"one damage family ({', '.join(FAMILIES)}), 'all' for a row per "
                         "family, or 'negatives' for thin picture structure without damage")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("-n", type=int, default=6, help="pairs (per family with --family all)")
    ap.add_argument("--split", default="val", choices=["train", "val", "test", "all"])
    ap.add_argument("--with-clean", action="store_true", help="also show the target")
    args = ap.parse_args(argv)
    if args.family not in (None, "all", "negatives") and args.family not in FAMILIES:
        ap.error(f"unknown family {args.family!r}; known: {', '.join(FAMILIES)}, all, negatives")
    out = preview(args.preview, seed=args.seed, size=args.size, n=args.n, split=args.split,
                  with_clean=args.with_clean, family=args.family)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The held-out test material both `unscratch eval detect` and `unscratch eval restore` judge on:
damaged crops of the pool's test split (Case, make_cases), undamaged crops (clean_crops), and the
--quick sizes. Made deterministically from a seed so anyone can rerun the numbers."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ...metrics import ssim_map
from .. import pool, simulate


def _each(items, desc: str):
    """`items` with a progress bar on stderr: an evaluation runs for minutes (Ctrl-C cancels it)."""
    from tqdm import tqdm
    return tqdm(items, desc=desc, leave=False, file=sys.stderr)


@dataclass
class Case:
    damaged: np.ndarray
    clean: np.ndarray
    mask: np.ndarray
    opacity: np.ndarray

    @cached_property
    def damaged_ssim(self) -> float:
        """SSIM(damaged, clean): what a repair must not fall below; every method and pipeline
        compares to it."""
        return float(ssim_map(self.damaged, self.clean).mean())


def make_cases(split: str, n_per_photo: int, size: int, seed: int, jpeg=None, families=None,
               photos=None) -> list[Case]:
    """Damaged crops of the split's photos at native-ish resolution (scale 0.5–1), damage from that
    split's sprites. `families`: only these of the simulator's damage families (see
    simulator_families)."""
    bank = simulate.OverlayBank(split=split)
    rng = np.random.default_rng([seed, {"train": 0, "val": 1, "test": 2}[split]])
    only = {} if families is None else {"families": list(families)}
    cases = []
    for path in _each(pool.photo_paths(split) if photos is None else photos,
                      f"damaging {split} photos"):
        photo = np.rint(pool.load_photo(path) * 255).astype(np.uint8)
        for _ in range(n_per_photo):
            d = simulate.make_pair(photo, rng, bank, size=min(size, *photo.shape[:2]),
                                   scale_range=(0.5, 1.0), severity=float(rng.uniform(0.15, 0.8)),
                                   jpeg=jpeg, **only)
            cases.append(Case(d.damaged, d.clean, d.mask, d.opacity))
    return cases


def clean_crops(split: str, size: int, seed: int, photos=None) -> list[np.ndarray]:
    """Undamaged photos: each photo's centre crop as-is, and one aged (grain, fade, JPEG) but
    undamaged crop."""
    rng = np.random.default_rng([seed, 99])
    out = []
    for path in pool.photo_paths(split) if photos is None else photos:
        photo = pool.load_photo(path)
        h, w = photo.shape[:2]
        s = min(size, h, w)
        y, x = (h - s) // 2, (w - s) // 2
        out.append(np.ascontiguousarray(photo[y:y + s, x:x + s]))
        out.append(simulate.simulate(out[-1], rng, None, severity=0.0).damaged)
    return out


# --quick: a small run, minutes not tens of minutes
QUICK = {"photos": 5, "per_photo": 1, "size": 384}

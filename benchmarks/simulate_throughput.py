"""Training-pair throughput of the damage simulator, and what it draws (family shares, mask
coverage).

    .venv/bin/python benchmarks/simulate_throughput.py [--pairs 300] [--size 256]
        [--baseline OLD_SIMULATE.py]

Pairs come from ``make_pair`` as ``train.py`` draws them (train split photos held in memory, train
sprites, scale range 0.25-1), one OpenCV thread, timed in CPU seconds of this process (the machines
here are shared and noisy; CPU time is what a data worker spends). ``--baseline`` loads another
version of simulate.py (e.g. ``git show 7f35f87:core/unscratch/train/simulate.py > /tmp/old.py``)
and runs it interleaved with the current one in blocks of 25, so both see the same load: read the
ratio. Then, for the current simulator: the share of pairs holding each family, of pairs with hard
negatives and with the old-photo look, and per family (drawn alone at severity 0.5) the mean share
of pixels its mask covers and its pairs/s.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections import Counter

import cv2
import numpy as np


def _load_baseline(path: str):
    # named inside unscratch.train so the old module's relative imports (.pool) resolve to today's
    # package
    spec = importlib.util.spec_from_file_location("unscratch.train._simulate_baseline", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod        # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--photos", type=int, default=12, help="train photos held in memory")
    ap.add_argument("--baseline", help="another simulate.py to time beside the current one")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    from unscratch.train import pool, simulate

    paths = pool.photo_paths("train")[:args.photos]
    photos = [np.rint(pool.load_photo(p) * 255).astype(np.uint8) for p in paths]
    mods = {"current": simulate}
    if args.baseline:
        mods = {"baseline": _load_baseline(args.baseline), "current": simulate}
    banks = {k: m.OverlayBank(split="train") for k, m in mods.items()}
    rngs = {k: np.random.default_rng(0) for k in mods}
    cpu = Counter()
    count = Counter()
    seen = Counter()
    neg = old = 0

    def one(k, **kw):
        return mods[k].make_pair(photos[rngs[k].integers(len(photos))], rngs[k], banks[k],
                                 size=args.size, scale_range=(0.25, 1.0), **kw)

    for k in mods:          # warm the sprite caches
        for _ in range(20):
            one(k)
    for _ in range(max(1, args.pairs // 25)):
        for k in mods:
            t = time.process_time()
            pairs = [one(k) for _ in range(25)]
            cpu[k] += time.process_time() - t
            count[k] += 25
            if k == "current":
                for d in pairs:
                    seen.update(d.info["families"])
                    neg += bool(d.info["negatives"])
                    old += bool(d.info["old"])
    for k in mods:
        print(f"{k}: {count[k] / cpu[k]:.1f} pairs/s per core at {args.size} px ({count[k]} pairs)")
    if args.baseline:
        per_pair = {k: cpu[k] / count[k] for k in mods}
        print(f"current / baseline (pairs/s): {per_pair['baseline'] / per_pair['current']:.2f}")
    n = count["current"]
    print(f"\nof {n} pairs: {neg / n:.0%} with hard negatives, "
          f"{old / n:.0%} with the old-photo look")
    print(f"{'family':10s} {'share':>6s} {'in pairs':>9s} {'mask %':>7s} {'pairs/s':>8s}"
          "  (mask % and pairs/s: drawn alone, severity 0.5)")
    for fam, share in simulate.FAMILIES.items():
        t = time.process_time()
        cover = [one("current", families=fam, severity=0.5).mask.mean() for _ in range(40)]
        rate = 40 / (time.process_time() - t)
        print(f"{fam:10s} {share:6.2f} {seen[fam] / n:9.0%} {100 * np.mean(cover):7.2f} "
              f"{rate:8.1f}")


if __name__ == "__main__":
    main()

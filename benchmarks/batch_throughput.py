"""`unscratch batch` throughput (MP/s) with 1 and 2 workers, and per-image cost at 1, 12 and 50 MP.

    .venv/bin/python benchmarks/batch_throughput.py [--set-images 8] [--set-mp 1] [--sizes 1 12 50]

Inputs are 8-bit RGB TIFF scans (uncompressed, as scanners write them) made by mirror-tiling the
bundled photo at its own resolution (so content, and the detector's hits on it, have the same
density at every size), with film grain and synthetic damage at a fixed density per megapixel (2
scratches, 1 hair, 20 dust specks). Outputs are written as the batch writes them (zlib TIFF), so
read/write cost is included. Throughput: the same set of images restored by `run_batch` in this
process (--workers 1) and on a LocalCluster of 2 worker processes (--workers 2; its wall time
includes starting the cluster, reported on its own line). Per-image cost: one image per size, in
this process; the columns come from the manifest's timings. This machine is shared: compare rows of
one run, not runs.
"""
from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import tifffile


def scan(megapixels: float, seed: int) -> np.ndarray:
    from unscratch.demo import sample_photo
    rng = np.random.default_rng(seed)
    side = (megapixels * 1e6) ** 0.5
    h, w = int(round(side * 0.8)), int(round(megapixels * 1e6 / round(side * 0.8)))
    # mirror-tiled at its own resolution: the same content density at every size
    photo = sample_photo()
    quad = np.concatenate([np.concatenate([photo, photo[:, ::-1]], 1),
                           np.concatenate([photo[::-1], photo[::-1, ::-1]], 1)], 0)
    quad = np.roll(quad, tuple(int(v) for v in rng.integers(0, quad.shape[0], 2)), axis=(0, 1))
    img = np.ascontiguousarray(np.tile(quad,
                                       (h // quad.shape[0] + 1, w // quad.shape[1] + 1, 1))[:h, :w])
    grain = (rng.normal(0, 2.0, (h, 1, 1)).astype(np.float32)
             + rng.normal(0, 2.0, (1, w, 1)).astype(np.float32))
    img = np.clip(img.astype(np.float32) + grain, 0, 255).astype(np.uint8)
    n = max(1, int(round(megapixels)))
    for _ in range(2 * n):  # scratches: thin, long, bright or dark
        p = rng.uniform([0, 0], [w, h])
        q = p + rng.uniform(-1, 1, 2) * min(h, w) * 0.3
        colour = (235, 235, 235) if rng.random() < 0.5 else (25, 25, 25)
        cv2.line(img, tuple(int(v) for v in p), tuple(int(v) for v in q), colour, 1, cv2.LINE_AA)
    for _ in range(n):  # a hair: a wiggly dark polyline
        p = rng.uniform([0, 0], [w, h])
        pts = p + np.cumsum(rng.normal(0, 6, (40, 2)), axis=0)
        cv2.polylines(img, [pts.astype(np.int32)], False, (20, 20, 20), 1, cv2.LINE_AA)
    for _ in range(20 * n):  # dust
        c = tuple(int(v) for v in rng.uniform([0, 0], [w, h]))
        cv2.circle(img, c, int(rng.integers(1, 4)),
                   (240, 240, 240) if rng.random() < 0.6 else (15, 15, 15), -1)
    return img


def make_set(folder: Path, count: int, megapixels: float, seed: int) -> float:
    folder.mkdir(parents=True)
    total = 0.0
    for i in range(count):
        img = scan(megapixels, seed + i)
        tifffile.imwrite(folder / f"scan{i:03d}.tif", img, photometric="rgb")
        total += img.shape[0] * img.shape[1] / 1e6
    return total


def timings(out: Path) -> list[dict]:
    db = sqlite3.connect(out / ".unscratch-manifest.sqlite")
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM files ORDER BY path")]
    finally:
        db.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set-images", type=int, default=8)
    ap.add_argument("--set-mp", type=float, default=1.0)
    ap.add_argument("--sizes", type=float, nargs="+", default=[1, 12, 50])
    ap.add_argument("--workdir", help="keep inputs and outputs here (default: a temporary folder)")
    args = ap.parse_args()
    from unscratch import __version__, batch
    from unscratch.api import get_detector, get_inpainter

    tmp = None if args.workdir else tempfile.TemporaryDirectory(prefix="unscratch-bench-")
    work = Path(args.workdir or tmp.name)
    print(f"unscratch {__version__} batch benchmark; python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, detector {get_detector().provenance['name']}, "
          f"inpainter {get_inpainter().provenance['name']}")
    print(f"load average at start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")

    print(f"\nThroughput: {args.set_images} images of {args.set_mp:g} MP")
    mp = make_set(work / "set", args.set_images, args.set_mp, seed=100)
    import logging

    from distributed import Client, LocalCluster
    t = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR,
                      local_directory=str(work / "dask")) as cluster, Client(cluster):
        pass
    startstop = time.perf_counter() - t
    print(f"{'workers':>32} | {'images':>6} | {'MP':>6} | {'wall s':>7} | {'MP/s':>6} | "
          f"{'s/image':>7}")
    for workers in (1, 2):
        t = time.perf_counter()
        s = batch.run_batch(work / "set", work / f"out{workers}", workers=workers, quiet=True)
        wall = time.perf_counter() - t
        assert s.failed == 0 and s.done == args.set_images, s
        label = "1 (in-process)" if workers == 1 else "2 (LocalCluster, 2 processes)"
        print(f"{label:>32} | {s.done:>6} | {mp:>6.1f} | {wall:>7.2f} | {mp / wall:>6.2f} | "
              f"{wall / s.done:>7.2f}")
    net = wall - startstop
    print(f"{'2, less cluster start/stop':>32} | {s.done:>6} | {mp:>6.1f} | {net:>7.2f} | "
          f"{mp / net:>6.2f} | {net / s.done:>7.2f}   (start+stop alone: {startstop:.2f} s)")

    print("\nPer-image cost, one image per size, in-process (seconds)")
    print(f"{'MP':>5} | {'size':>11} | {'defect %':>8} | {'hash':>5} | {'read':>5} | "
          f"{'detect':>6} | {'restore':>7} | {'write':>6} | {'total':>6} | {'s/MP':>5}")
    for size in args.sizes:
        folder = work / f"size{size:g}"
        make_set(folder, 1, size, seed=int(size * 10))
        s = batch.run_batch(folder, work / f"size{size:g}-out", quiet=True)
        assert s.failed == 0, s
        r = timings(work / f"size{size:g}-out")[0]
        mp_ = r["width"] * r["height"] / 1e6
        print(f"{mp_:>5.1f} | {r['width']:>5}x{r['height']:<5} | "
              f"{100 * r['defect_fraction']:>8.2f} | {r['t_hash']:>5.2f} | "
              f"{r['t_read']:>5.2f} | {r['t_detect']:>6.2f} | {r['t_restore']:>7.2f} | "
              f"{r['t_write']:>6.2f} | {r['t_total']:>6.2f} | {r['t_total'] / mp_:>5.2f}")
        for p in folder.iterdir():  # free the disk before the next size
            p.unlink()
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

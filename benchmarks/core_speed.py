"""Detect and restore speed (s/MP) and peak RSS at 1, 12 and 100 MP, beside cv2.inpaint (Telea).

    .venv/bin/python benchmarks/core_speed.py [--sizes 1 12 100] [--repeat N] [--threads N]

Each size runs in a fresh subprocess so its peak RSS (ru_maxrss) is its own. The input is a 16-bit
RGB scan built by tiling the bundled photo with synthetic damage, memory-mapped from a temporary
.npy file. Baselines run in the same process on the same image: the classical median-difference
detector beside detect, and Telea per channel (OpenCV has no 16-bit 3-channel path) on the same mask
our restore gets beside restore. Machines here are noisy: read the ratios, and with --repeat N each
timing is the fastest of N runs (with one run, the 1-MP row includes loading the models).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def build_image(path: Path, megapixels: float) -> tuple[int, int]:
    import cv2

    from unscratch.demo import add_demo_damage, sample_photo
    photo = cv2.resize(sample_photo(), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    damaged, _ = add_demo_damage(photo, seed=3)
    tile = (damaged.astype(np.uint16) * 257)
    side = int(round((megapixels * 1e6) ** 0.5))
    h, w = side, int(round(megapixels * 1e6 / side))
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint16, shape=(h, w, 3))
    for y in range(0, h, 1024):
        for x in range(0, w, 1024):
            block = tile[: min(1024, h - y), : min(1024, w - x)]
            out[y:y + block.shape[0], x:x + block.shape[1]] = (
                block if (y // 1024 + x // 1024) % 2 == 0 else block[::-1])
    out.flush()
    return h, w


def fastest(fn, repeat: int):
    """(seconds of the fastest of `repeat` calls, the last call's result); one result is held at a
    time."""
    best, out = float("inf"), None
    for _ in range(repeat):
        out = None
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def child(path: str, threads: int | None, repeat: int) -> dict:
    import cv2

    import unscratch
    if threads:
        unscratch.configure(threads=threads)
        cv2.setNumThreads(threads)
    image = np.load(path, mmap_mode="r")
    mp = image.shape[0] * image.shape[1] / 1e6
    t_detect, det = fastest(lambda: unscratch.detect(image), repeat)
    rss_detect = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mask, detector, defect = det.mask, det.provenance["detector"]["name"], float(det.mask.mean())
    del det  # as inside restore(image): the probability map is not kept while repairing
    own = unscratch.api.settings()  # the growth restore(image) gives a detected mask
    grow = (own.dilate, own.feather)
    t_restore = fastest(lambda: unscratch.restore(image, mask, dilate=grow[0], feather=grow[1]),
                        repeat)[0]
    rss_restore = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # the baselines run after ours, so the peak RSS above is ours alone
    t_classical = fastest(lambda: unscratch.detect(image, method="classical"), repeat)[0]
    hole8 = (unscratch.api.repair_weight(mask, *grow) > 0).astype(np.uint8)
    t_telea = fastest(lambda: [cv2.inpaint(np.ascontiguousarray(image[:, :, c]), hole8, 3,
                                           cv2.INPAINT_TELEA)
                               for c in range(3)], repeat)[0]
    return {"mp": mp, "defect %": 100 * defect, "detect s/MP": t_detect / mp,
            "classical s/MP": t_classical / mp, "restore s/MP": t_restore / mp,
            "telea s/MP": t_telea / mp, "peak RSS MB (detect)": rss_detect,
            "peak RSS MB (restore)": rss_restore, "detector": detector}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=float, nargs="+", default=[1, 12, 100])
    ap.add_argument("--repeat", type=int, default=1,
                    help="time each step this many times, keep the fastest")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.threads, args.repeat)))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            path = Path(tmp) / f"scan_{size:g}mp.npy"
            build_image(path, size)
            cmd = ([sys.executable, __file__, "--child", str(path), "--repeat", str(args.repeat)]
                   + (["--threads", str(args.threads)] if args.threads else []))
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                print(res.stderr, file=sys.stderr)
                return 1
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
            path.unlink()
    print(f"16-bit RGB, detector: {rows[0]['detector']}; classical = median-difference detector; "
          f"Telea = cv2.inpaint per channel on the same mask; fastest of {args.repeat}")
    print(f"{'MP':>6} {'defect %':>9} {'detect s/MP':>12} {'classical s/MP':>15} "
          f"{'detect/classical':>17} {'restore s/MP':>13} {'Telea s/MP':>11} {'restore/Telea':>14} "
          f"{'peak RSS MB':>12}")
    for r in rows:
        print(f"{r['mp']:6.1f} {r['defect %']:9.3f} {r['detect s/MP']:12.3f} "
              f"{r['classical s/MP']:15.3f} {r['detect s/MP'] / r['classical s/MP']:17.1f} "
              f"{r['restore s/MP']:13.3f} {r['telea s/MP']:11.3f} "
              f"{r['restore s/MP'] / r['telea s/MP']:14.2f} {r['peak RSS MB (restore)']:12.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Peak RSS of detect then restore on one 16-bit RGB scan in one process, beside a
read-copy-write baseline.

    .venv/bin/python benchmarks/memory_peak.py [--mp 100] [--steps STEP ...]

The scan (the bundled photo tiled with synthetic damage, as in core_speed.py) is written once as an
uncompressed TIFF. Each step (default: baseline api cli) then runs in a fresh subprocess that
reports its own peak RSS (ru_maxrss):
- baseline: read the TIFF, copy the pixels, write the copy as a TIFF (what any tool holds: input +
  output);
- api: `unscratch.detect(image)`, then `unscratch.restore(image, mask)` keeping only the
  detection's mask;
- api-held: the same with the whole detection (its 400-MB probability map too) held by the caller;
- api-report: `restore_and_report(image, keep_detection=True)`: detection inside the restore, kept
  through the repair (what a host shows as marks);
- cli: `unscratch restore scan.tif -o out.tif` (detection inside restore, then the write).
The goal (issue 30) is a peak under 2.5 GB (2.5e9 bytes) for a 100-MP scan in every step; each
line says whether it holds. The ratio to the baseline is what machine noise leaves alone.
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

GOAL_BYTES = 2.5e9


def build_scan(path: Path, megapixels: float) -> tuple[int, int]:
    import cv2
    import tifffile

    from unscratch.demo import add_demo_damage, sample_photo
    photo = cv2.resize(sample_photo(), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    damaged, _ = add_demo_damage(photo, seed=3)
    tile = damaged.astype(np.uint16) * 257
    side = int(round((megapixels * 1e6) ** 0.5))
    h, w = side, int(round(megapixels * 1e6 / side))
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        scan = np.lib.format.open_memmap(Path(tmp) / "scan.npy", mode="w+", dtype=np.uint16,
                                         shape=(h, w, 3))
        for y in range(0, h, 1024):
            for x in range(0, w, 1024):
                block = tile[: min(1024, h - y), : min(1024, w - x)]
                flip = (y // 1024 + x // 1024) % 2
                scan[y:y + block.shape[0], x:x + block.shape[1]] = block[::-1] if flip else block
        tifffile.imwrite(path, scan, photometric="rgb")
        del scan
    return h, w


def child(step: str, src: str, out: str) -> dict:
    import unscratch
    from unscratch import io
    t = time.perf_counter()
    result = {"step": step}
    if step == "baseline":
        image, info = io.read_with_info(src)
        copy = np.array(image)
        io.write(out, copy, info=info, source=src)
    elif step in ("api", "api-held"):
        image = io.read(src)
        det = unscratch.detect(image)
        mask = det.mask
        result["defect %"] = 100 * float(mask.mean())
        if step == "api":
            del det
        restored = unscratch.restore(image, mask)
        del restored
    elif step == "api-report":
        image = io.read(src)
        done = unscratch.api.restore_and_report(image, keep_detection=True)
        result["defect %"] = 100 * float(done.detection.mask.mean())
        del done
    elif step == "cli":
        from unscratch.cli import main
        if main(["restore", src, "-o", out, "-q"]) != 0:
            raise SystemExit("unscratch restore failed")
    result["seconds"] = time.perf_counter() - t
    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mp", type=float, default=100.0, help="megapixels of the scan (default 100)")
    ap.add_argument("--steps", nargs="+", default=["baseline", "api", "cli"],
                    choices=("baseline", "api", "api-held", "api-report", "cli"))
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "scan.tif", Path(tmp) / "out.tif"
        h, w = build_scan(src, args.mp)
        for step in args.steps:
            res = subprocess.run([sys.executable, __file__, "--child", step, str(src), str(out)],
                                 capture_output=True, text=True)
            if res.returncode != 0:
                print(res.stderr, file=sys.stderr)
                return 1
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
            out.unlink(missing_ok=True)
    print(f"16-bit RGB scan {w}x{h} ({w * h / 1e6:.1f} MP, {w * h * 6 / 1e9:.2f} GB of pixels); "
          f"goal: peak RSS under {GOAL_BYTES / 1e9:.2f} GB")
    base = next((r["peak_rss_bytes"] for r in rows if r["step"] == "baseline"), None)
    for r in rows:
        ratio = f"  {r['peak_rss_bytes'] / base:5.2f}x baseline" if base else ""
        verdict = "meets the goal" if r["peak_rss_bytes"] < GOAL_BYTES else "OVER the goal"
        print(f"{r['step']:>10}: peak RSS {r['peak_rss_bytes'] / 1e9:5.2f} GB "
              f"({r['peak_rss_bytes'] / 2 ** 20:6.0f} MiB) in {r['seconds']:6.1f} s{ratio}"
              f"  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

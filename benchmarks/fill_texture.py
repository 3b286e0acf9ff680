"""Fill mode on large holes (64-160 px across): does the fill keep the texture, without a seam?

    .venv/bin/python benchmarks/fill_texture.py [--photos DIR_OR_FILE ...]
        [--sizes 64 96 128 160] [--crops docs/fill-texture.jpg] [--no-gmic] [--verbose]

Holes of each size (discs and squares, at seeded positions) are cut into each photo (the bundled
demo photo and, when present, ../shared/data/real-old-photos/unscratched/) and filled by:

  new      unscratch.restore(mode="fill"): texture synthesis guided by the smooth fill
           (unscratch.synthesis)
  today    unscratch.restore(mode="fill", method="classical"): Telea plus grain, what fill mode
           was before
  telea    cv2.inpaint(INPAINT_TELEA, radius 3)
  gmic     G'MIC's patch-based inpaint with its GIMP filter's defaults (`gmic in.png mask.png
           inpaint[0] [1],7,16,0.1,1,1.2,0,0.05,10,1`; Debian's gmic 2.9.4), skipped when `gmic`
           is not on PATH
  original the photo itself, unfilled: the measures' own spread from 1 hole by hole (a perfect
           fill's)

Each method sees the same crop (the hole plus 256 px around it). Two numbers per fill, on luminance:

  seam ratio   mean |difference| of the 4-neighbour pairs that cross the hole's border, over the
               same for pairs crossing contours 4, 6 and 8 px outside it (intact picture). 1 = no
               seam; a smooth fill gives less than 1 on a grainy picture, a step more than 1.
  grain ratio  std of the high-pass (x - Gaussian(x, 1 px), clipped at +-0.08 as unscratch.grain
               does) inside the hole (2 px in from its border) over the same in the ring 3-24 px
               outside it.

Targets: seam within 10 % of 1, grain >= 0.8, and both closer to 1 than Telea's and
G'MIC's (distance |log ratio|). Timings are per hole, in this process, on this machine. A last line
times one 160-px hole in a 12-MP image (the whole api path) beside today's fill on the same image.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "core"))

import unscratch  # noqa: E402
from unscratch.demo import sample_photo  # noqa: E402
from unscratch.metrics import grain_ratio, seam_ratio  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "real-old-photos" / "unscratched"
MARGIN = 256
METHODS = ("new", "today", "telea", "gmic", "original")
# G'MIC's patch-based inpaint with the defaults of its GIMP filter "Repair > Inpaint [Patch-Based]":
# patch 7, lookup size 16, lookup factor 0.1, increment 1, blend size 1.2, threshold 0, decay 0.05,
# 10 blend scales, outer blending on
GMIC_ARGS = "[1],7,16,0.1,1,1.2,0,0.05,10,1"


def _erode(mask: np.ndarray, r: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)
    return cv2.erode(mask.astype(np.uint8), k) > 0


# ------------------------------------------------------------------------------------- methods
def run_gmic(crop: np.ndarray, hole: np.ndarray) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        src, mask, dst = (str(Path(tmp) / n) for n in ("in.png", "mask.png", "out.png"))
        cv2.imwrite(src, cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
        cv2.imwrite(mask, hole.astype(np.uint8) * 255)
        subprocess.run(["gmic", "-v", "-1", src, mask, "inpaint[0]", GMIC_ARGS, "rm[1]", "o", dst],
                       check=True, capture_output=True)
        out = cv2.cvtColor(cv2.imread(dst, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    out[~hole] = crop[~hole]
    return out


def run(method: str, crop: np.ndarray, hole: np.ndarray) -> np.ndarray:
    if method == "new":
        return unscratch.restore(crop, region=hole, mode="fill")
    if method == "today":
        return unscratch.restore(crop, region=hole, mode="fill", method="classical")
    if method == "original":  # the photo as it was: how far from 1 the measures are by themselves
        return crop.copy()
    if method == "telea":
        return cv2.inpaint(crop, hole.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    return run_gmic(crop, hole)


# ------------------------------------------------------------------------------------- holes
def holes_for(name: str, shape, sizes, per_size: int):
    """(y, x, size, shape) of seeded holes that leave a 32-px intact ring inside the image."""
    h, w = shape[:2]
    rng = np.random.default_rng([sum(map(ord, name)), 28])
    out = []
    for size in sizes:
        for k in range(per_size):
            if h < size + 64 or w < size + 64:
                continue
            y = int(rng.integers(32, h - size - 32 + 1))
            x = int(rng.integers(32, w - size - 32 + 1))
            out.append((y, x, size, "disc" if (k + size // 32) % 2 == 0 else "square"))
    return out


def hole_mask(shape, y, x, size, kind) -> np.ndarray:
    m = np.zeros(shape[:2], np.uint8)
    if kind == "square":
        m[y:y + size, x:x + size] = 1
    else:
        cv2.circle(m, (x + size // 2, y + size // 2), size // 2, 1, -1)
    return m > 0


def load_photos(paths) -> list[tuple[str, np.ndarray]]:
    photos = [("demo-astronaut", sample_photo())]
    for p in paths:
        p = Path(p)
        files = sorted(p.glob("*.png")) + sorted(p.glob("*.jpg")) if p.is_dir() else [p]
        for f in files:
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is not None:
                photos.append((f.stem, cv2.cvtColor(img, cv2.COLOR_BGR2RGB)))
    return photos


def distance(r: float) -> float:
    return abs(float(np.log(max(r, 1e-6))))


def crops_figure(rows, path: Path, height: int = 200) -> None:
    """One row per example: the photo, then each method's fill, labelled."""
    lines = []
    for title, panels in rows:
        tiles = []
        for label, img in panels:
            h, w = img.shape[:2]
            t = cv2.resize(img, (int(round(w * height / h)), height), interpolation=cv2.INTER_AREA)
            t = cv2.cvtColor(t, cv2.COLOR_RGB2BGR)
            cv2.rectangle(t, (0, 0), (t.shape[1], 18), (0, 0, 0), -1)
            cv2.putText(t, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1,
                        cv2.LINE_AA)
            tiles.append(t)
            tiles.append(np.full((height, 4, 3), 255, np.uint8))
        row = np.concatenate(tiles[:-1], axis=1)
        head = np.full((20, row.shape[1], 3), 255, np.uint8)
        cv2.putText(head, title, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        lines.append(np.concatenate([head, row], axis=0))
    width = max(ln.shape[1] for ln in lines)
    lines = [np.pad(ln, ((0, 6), (0, width - ln.shape[1]), (0, 0)), constant_values=255)
             for ln in lines]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.concatenate(lines, axis=0), [cv2.IMWRITE_JPEG_QUALITY, 90])


def time_12mp() -> tuple[float, float]:
    """Seconds for one 160-px hole in a 12-MP (4000x3000) RGB image: new fill, today's fill."""
    photo = sample_photo()
    big = cv2.resize(photo, (4000, 3000), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(5)
    big = np.clip(big + rng.normal(0, 6, big.shape), 0, 255).astype(np.uint8)
    hole = hole_mask(big.shape, 1500, 2000, 160, "disc")
    t0 = time.perf_counter()
    unscratch.restore(big, region=hole, mode="fill")
    t1 = time.perf_counter()
    unscratch.restore(big, region=hole, mode="fill", method="classical")
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", nargs="*", default=[str(REAL)] if REAL.exists() else [])
    ap.add_argument("--sizes", nargs="*", type=int, default=[64, 96, 128, 160])
    ap.add_argument("--per-size", type=int, default=1, help="holes of each size per photo")
    ap.add_argument("--crops", default=str(ROOT / "docs" / "fill-texture.jpg"))
    ap.add_argument("--no-gmic", action="store_true")
    ap.add_argument("--no-12mp", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    methods = [m for m in METHODS if m != "gmic" or (not args.no_gmic and shutil.which("gmic"))]
    if "gmic" not in methods:
        print("gmic: not on PATH (Debian: apt-get install gmic); its column is skipped")
    results = {m: [] for m in methods}  # (seam, grain, seconds) per hole
    examples = []
    photos = load_photos(args.photos)
    for pi, (name, photo) in enumerate(photos):
        holes = holes_for(name, photo.shape, args.sizes, args.per_size)
        for hi, (y, x, size, kind) in enumerate(holes):
            y0, x0 = max(0, y - MARGIN), max(0, x - MARGIN)
            y1, x1 = min(photo.shape[0], y + size + MARGIN), min(photo.shape[1], x + size + MARGIN)
            crop = np.ascontiguousarray(photo[y0:y1, x0:x1])
            hole = hole_mask(photo.shape, y, x, size, kind)[y0:y1, x0:x1]
            outs = {}
            for m in methods:
                t = time.perf_counter()
                out = run(m, crop, hole)
                dt = time.perf_counter() - t
                assert np.array_equal(out[~hole], crop[~hole])
                outs[m] = out
                results[m].append((seam_ratio(out, hole), grain_ratio(out, hole), dt))
            if args.verbose:
                print(f"{name:16s} {kind:6s} {size:3d} px  " + "  ".join(
                    f"{m}: seam {results[m][-1][0]:.2f} grain {results[m][-1][1]:.2f}"
                    for m in methods))
            if hi == pi % len(holes) and len(examples) < 8:  # one example per photo, sizes in turn
                cy, cx = y - y0 + size // 2, x - x0 + size // 2
                r = int(size * 0.9)
                sl = (slice(max(0, cy - r), cy + r), slice(max(0, cx - r), cx + r))
                marked = crop.copy()
                edge = hole & ~_erode(hole, 1)
                marked[edge] = (255, 0, 255)
                examples.append((f"{name}, {kind} {size} px",
                                 [("photo (hole outlined)", marked[sl])] +
                                 [(m, outs[m][sl]) for m in methods if m != "original"]))

    n = len(results["new"])
    print(f"\n{n} holes ({', '.join(map(str, args.sizes))} px across, discs and squares) "
          f"on {len(photos)} photos")
    print(f"{'method':8s} {'seam mean':>9s} {'seam med':>8s} {'|seam-1|<=0.1':>13s} "
          f"{'grain mean':>10s} {'grain med':>9s} {'grain>=0.8':>10s} {'s/hole':>7s}")
    for m in methods:
        a = np.array(results[m])
        seam, grain, secs = a[:, 0], a[:, 1], a[:, 2]
        print(f"{m:8s} {seam.mean():9.3f} {np.median(seam):8.3f} "
              f"{np.mean(np.abs(seam - 1) <= 0.1):13.0%} {grain.mean():10.3f} "
              f"{np.median(grain):9.3f} {np.mean(grain >= 0.8):10.0%} {secs.mean():7.2f}")
    for size in args.sizes:
        idx = [i for i, (_, _, s, _) in enumerate(
            h for name, photo in photos
            for h in holes_for(name, photo.shape, args.sizes, args.per_size))
            if s == size]
        if not idx:
            continue
        print(f"  {size:3d} px: " + "  ".join(
            f"{m} seam {np.mean([results[m][i][0] for i in idx]):.2f} grain "
            f"{np.mean([results[m][i][1] for i in idx]):.2f}" for m in methods))
    new = np.array(results["new"])
    for m in methods[1:]:
        if m == "original":
            continue
        a = np.array(results[m])
        seam_better = np.mean([distance(p) < distance(q) for p, q in zip(new[:, 0], a[:, 0])])
        grain_better = np.mean([distance(p) < distance(q) for p, q in zip(new[:, 1], a[:, 1])])
        print(f"new closer to 1 than {m:6s}: seam on {seam_better:.0%} of holes, "
              f"grain on {grain_better:.0%}")
    if args.crops:
        crops_figure(examples, Path(args.crops))
        print(f"crops: {args.crops}")
    if not args.no_12mp:
        new_s, today_s = time_12mp()
        print(f"12 MP, one 160-px hole: new fill {new_s:.2f} s, today's fill {today_s:.2f} s "
              f"(ratio {new_s / max(today_s, 1e-9):.1f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Real hard negatives, mined: what the detector marks on real photos that hold no (labelled)
damage.

Drawn hard negatives teach the look of a mast or a wire as the simulator draws it; real masts,
ropes, knit, buttons and printed letters are what the detector confuses with damage in use. This
runs the detector over real photos (the pool's train split and the thin-structure photos' train
part) and cuts a crop around every strong false detection, so that training can centre crops on them
(`PairStream(mined=...)`). Run it again with each new detector: its mistakes move.

    python -m unscratch.train.mine --out runs/mined [--threshold 0.3] [--per-photo 10]

The thin-structure photos are split by a hash of their name: the held-out part (THIN_HOLDOUT) is
never mined and serves `train.calibrate` as real picture the detector must leave alone.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from .. import api
from . import pool

THIN_HOLDOUT = 0.25      # share of the thin-structure photos kept out of training, by name hash
MINE_THRESHOLD = 0.3     # permissive: the detector's near misses are worth learning too
CROP = 320               # px around each mined spot; training cuts its own crop from it
EDGE = 0.03              # spots this close to the border are skipped (film edges, sprocket numbers)
MINE_SIDES = (1536, 768)  # long side the photos are mined at: the scales training crops come from


def thin_structure_dir() -> Path | None:
    """`../shared/data/thin-structure-photos` beside the repository, or $UNSCRATCH_THIN_PHOTOS."""
    env = os.environ.get("UNSCRATCH_THIN_PHOTOS")
    path = Path(env) if env else pool.shared_data() / "thin-structure-photos"
    return path if path.is_dir() else None


def is_held_out(path: Path) -> bool:
    """The thin-structure photo is in the evaluation part (a stable hash of folder and name)."""
    h = hashlib.sha256(f"{path.parent.name}/{path.name}".encode()).digest()
    return int.from_bytes(h[:4], "big") / 2 ** 32 < THIN_HOLDOUT


def thin_structure_photos(part: str) -> list[Path]:
    """The thin-structure photos of one part, "train" or "holdout"."""
    root = thin_structure_dir()
    if root is None:
        return []
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return [p for p in files if is_held_out(p) == (part == "holdout")]


def _spots(probability: np.ndarray, threshold: float,
           per_photo: int) -> list[tuple[int, int, float]]:
    """(y, x, peak) of the strongest detected components, away from the border."""
    h, w = probability.shape
    n, labels, stats, cents = cv2.connectedComponentsWithStats(
        (probability >= threshold).astype(np.uint8), connectivity=8)
    found = []
    for i in range(1, n):
        cx, cy = cents[i]
        if min(cx, w - cx) < EDGE * w or min(cy, h - cy) < EDGE * h:
            continue
        x, y, bw, bh, area = stats[i]
        peak = float(probability[y:y + bh, x:x + bw][labels[y:y + bh, x:x + bw] == i].max())
        found.append((peak * np.sqrt(area), int(cy), int(cx), peak))
    found.sort(reverse=True)
    return [(y, x, p) for _, y, x, p in found[:per_photo]]


def mine(photos: list[Path], out: Path, *, threshold: float = MINE_THRESHOLD,
         per_photo: int = 10) -> list[dict]:
    """Crops (CROP px, PNG) around the detector's strongest marks on each photo, at each of
    MINE_SIDES, and an index (`mined.json`: photo, side, y, x, peak, file)."""
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for i, path in enumerate(photos):
        if i % 20 == 0:
            print(f"mining {i}/{len(photos)}: {len(index)} spots", flush=True)
        rgb = pool.read_rgb(path)
        rgb = (rgb >> 8).astype(np.uint8) if rgb.dtype == np.uint16 else rgb
        for side in MINE_SIDES:
            f = min(1.0, side / max(rgb.shape[:2]))
            img = rgb if f == 1 else cv2.resize(rgb, None, fx=f, fy=f,
                                                interpolation=cv2.INTER_AREA)
            prob = api.detect(img, method="model").probability
            h, w = prob.shape
            for k, (y, x, peak) in enumerate(_spots(prob, threshold, per_photo)):
                y0 = int(np.clip(y - CROP // 2, 0, max(h - CROP, 0)))
                x0 = int(np.clip(x - CROP // 2, 0, max(w - CROP, 0)))
                crop = img[y0:y0 + CROP, x0:x0 + CROP]
                if min(crop.shape[:2]) < CROP // 2:
                    continue
                name = f"{path.parent.name}-{path.stem}-{side}-{k}.png"
                cv2.imwrite(str(out / name), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
                index.append({"photo": f"{path.parent.name}/{path.name}", "side": side,
                              "y": y - y0, "x": x - x0, "peak": round(peak, 4),
                              "file": name})
        # written after every photo: a stopped run keeps what it mined
        (out / "mined.json").write_text(json.dumps(index, indent=1) + "\n")
    return index


def load_mined(folder) -> list[tuple[np.ndarray, int, int, int]]:
    """(uint8 RGB crop, y, x of the mined spot in it, long side mined at) for every entry of a
    mined folder."""
    folder = Path(folder)
    items = []
    for e in json.loads((folder / "mined.json").read_text()):
        img = cv2.imread(str(folder / e["file"]), cv2.IMREAD_COLOR)
        if img is not None:
            items.append((np.ascontiguousarray(img[:, :, ::-1]), e["y"], e["x"], e["side"]))
    return items


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="folder for the crops and mined.json")
    ap.add_argument("--threshold", type=float, default=MINE_THRESHOLD)
    ap.add_argument("--per-photo", type=int, default=10)
    ap.add_argument("--no-pool", action="store_true", help="only the thin-structure photos")
    args = ap.parse_args(argv)
    photos = thin_structure_photos("train")
    if not args.no_pool:
        photos += pool.photo_paths("train")
    if not photos:
        ap.error("no photos: fetch the pool (python -m unscratch.train.pool fetch) or set "
                 "UNSCRATCH_THIN_PHOTOS")
    index = mine(photos, Path(args.out), threshold=args.threshold, per_photo=args.per_photo)
    print(f"{len(index)} spots from {len(photos)} photos in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

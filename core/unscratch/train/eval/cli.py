"""`unscratch eval detect|restore|real`: the command line, its printed tables and write_card."""
from __future__ import annotations

import json
import sys

from ... import models
from .cases import QUICK
from .detect import TOLERANCE_PX, eval_detect
from .real import REAL_SIDE, eval_real
from .restore import eval_restore


def print_table(rows: dict, first: str = "method") -> None:
    cols = []
    for r in rows.values():
        cols += [k for k in r if k not in cols]
    width = max(len(n) for n in rows) + 2
    print(first.ljust(width) + "".join(c.rjust(max(12, len(c) + 2)) for c in cols))
    for name, r in rows.items():
        cells = []
        for c in cols:
            v = r.get(c, "")
            cells.append((f"{v:.4f}" if isinstance(v, float) else str(v))
                         .rjust(max(12, len(c) + 2)))
        print(name.ljust(width) + "".join(cells))


def _print_pairs(label: str, d: dict) -> None:
    cells = (f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in d.items())
    print(f"{label}: " + ", ".join(cells))


def _print_families(title: str, per_detector: dict) -> None:
    """One row per family, F1 and recall of each detector side by side."""
    rows = {}
    for det, fams in per_detector.items():
        short = "model" if "model" in det else "classical"
        for f, r in fams.items():
            names = {"F1@2px": "F1", "recall@2px": "recall", "precision@2px": "precision",
                     "recall@2px (mixed crops)": "recall in mix"}
            cells = {f"{short} {names[k]}": v for k, v in r.items() if k in names}
            rows.setdefault(f, {}).update(cells)
    print(title)
    print_table(rows, "family")


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="unscratch eval")
    ap.add_argument("what", choices=("detect", "restore", "real"))
    ap.add_argument("folder", nargs="?", help="eval real: the folder of real photos")
    ap.add_argument("-o", "--out", help="eval real: where the contact sheets go (default: "
                                        "./real-photo-sheets); eval restore: the sheet of "
                                        "opaque-scratch crops (.png or .jpg)")
    ap.add_argument("--per-photo", type=int, default=None)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true",
                    help=f"a small run: the first {QUICK['photos']} photos, "
                         f"{QUICK['per_photo']} crop each, {QUICK['size']} px (not for the card)")
    ap.add_argument("--photos", default="auto",
                    help="photos for the independent damage: a folder or a pool split (default: "
                         "the pool's held-out eval photos, else its test split)")
    ap.add_argument("--side", type=int, default=REAL_SIDE,
                    help="eval real: longest side of each sheet panel, px")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--write-card", action="store_true",
                    help="store these held-out metrics (and, for detect, the val-tuned threshold) "
                         "in the shipped card")
    args = ap.parse_args(argv)
    if args.what == "real":
        if not args.folder:
            ap.error("eval real needs a folder of photos")
        rows = eval_real(args.folder, args.out or "real-photo-sheets", args.side)
        print(f"{len(rows)} photos from {args.folder}; contact sheets in "
              f"{args.out or 'real-photo-sheets'}")
        print_table({r["photo"]: {k: v for k, v in r.items() if k != "photo"} for r in rows},
                    "photo")
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(rows, fh, indent=2)
        return 0
    if args.quick:
        if args.write_card:
            ap.error("--quick figures do not go into the card")
        args.per_photo, args.size = args.per_photo or QUICK["per_photo"], QUICK["size"]
    if args.what == "detect":
        res = eval_detect(args.per_photo or 3, args.size, args.seed, args.quick, args.photos)
        print(f"held-out test split: {res['n_test_images']} damaged crops "
              f"({res['test_megapixels']:.1f} MP, {res['n_specks']} dust specks), "
              f"{res['n_clean_images']} clean crops; thresholds tuned on "
              f"{res['n_val_images']} val crops; tolerance {TOLERANCE_PX} px")
    else:
        res = eval_restore(args.per_photo or 1, args.size, args.seed, args.quick, args.photos,
                           args.out)
        print(f"held-out test split: {res['n_images']} damaged crops ({res['megapixels']:.1f} MP), "
              "oracle masks, every method composited inside the same dilated mask")
    print_table(res["rows"])
    if "fill" in res:
        print(f"fill mode, one {res['fill']['hole diameters px']} px elliptical hole per clean "
              "test crop:")
        print_table(res["fill"]["rows"])
    for key in ("pipeline", "clean input", "pipeline, interactive mask",
                "clean input, interactive mask", "pipeline, infrared plane (simulated)"):
        if key in res:
            _print_pairs(key, res[key])
    if isinstance(res.get("simulator families"), dict):
        _print_families("simulator's test split, one family at a time (each detector's own "
                        "threshold, as shipped):", res["simulator families"])
    elif "simulator families" in res:
        print("simulator's families: " + res["simulator families"])
    ind = res["independent"]
    print("\nINDEPENDENT damage (independent_damage, not the simulator): "
          f"{ind['n_images']} crops of {ind['photos']} photos"
          + (f", {ind['n_clean_images']} clean crops, {ind['n_per_family']} crops per family "
             "alone; each detector's own thresholds (as shipped)" if args.what == "detect"
             else ", true masks"))
    print_table(ind["rows"])
    if args.what == "detect":
        _print_families("independent damage, one family at a time (recall also within the mixed "
                        "crops), each detector's own threshold:",
                        ind["families"])
    else:
        print("independent damage, PSNR inside each family's mask pixels (true masks):")
        print_table(ind["families"], "family")
    for key in ("pipeline", "clean input", "pipeline, interactive mask",
                "clean input, interactive mask"):
        if key in ind:
            _print_pairs(f"independent {key}", ind[key])
    if ind.get("crops"):
        print(f"opaque-scratch crops after each method: {ind['crops']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    if args.write_card:
        write_card(args.what, res, " ".join(
            ["unscratch eval", args.what] + (argv if argv is not None else sys.argv[1:])[1:]))
    return 0


def write_card(task: str, res: dict, command: str) -> None:
    """Put the held-out numbers into the default model's card; the sha256 covers the ONNX file
    only."""
    card = models.default_card(task)
    if card is None:
        raise SystemExit(f"no shipped {task} model to write metrics into")
    data = json.loads(card.path.with_suffix(".json").read_text())
    data["metrics"] = {"command": command.replace(" --write-card", ""), **res}
    # a detector's threshold and growth are chosen on real material: python -m
    # unscratch.train.calibrate
    card.path.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote metrics into {card.path.with_suffix('.json')}")

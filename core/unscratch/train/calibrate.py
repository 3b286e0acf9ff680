"""Choose the repair rule (threshold and growth) of the shipped detector on real material.

    python -m unscratch.train.calibrate [--data ../shared/data] [--onnx CANDIDATE] [--write-card]

A restore the user did not mark by hand must never make a picture worse, and the simulator cannot
say what "worse" is on real scans: the rule is chosen here, on real material, from a small grid
(THRESHOLDS x GROWTHS), by one criterion stated in advance:
  1. candidates: rules that mark at most CLEAN_BUDGET % of every unscratched real old photo and of
     the held-out thin-structure photos on average (picture a detector confuses with damage);
  2. among them, the one whose worst real film scan gains most against its expert's restoration
     (dB, with everything selected), ties to the higher threshold.
Both sides see the rule's mask as restore makes it: the detector's marks at the threshold
(rules.detector_marks, picture lines left). The grid is small on purpose (few scans, few
degrees of freedom); the film scans are also what `unscratch eval real` reports, so other real
scans judge the choice too (see the card).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .. import api, io, models
from ..io import write_atomically
from .eval.real import expert_pairs, photos_in, psnr_db
from .mine import thin_structure_photos
from .pool import shared_data

THRESHOLDS = (0.8, 0.9, 0.95, 0.98, 0.99)
GROWTHS = ((0, 0), (1, 0), (1, 1), (2, 2))
# % of a clean photo's pixels a rule may touch: the issue allows 0.3, but with slanted picture lines
# left alone the rule that fitted 0.3 (0.98, grown 1 px and feathered 1) visibly faded the top of a
# mast on bopbtl_f, which no growth only lightly touches
CLEAN_BUDGET = 0.1


def rule_masks(probability) -> dict:
    """{threshold: the mask restore repairs at it} for every threshold of the grid."""
    return {t: api.detector_marks(probability, t) for t in THRESHOLDS}


def sweep(data: Path, thin_limit: int | None = None) -> dict:
    """Every rule of the grid on the real material under `data`: per rule the dB gain of each film
    scan, the % touched of each unscratched photo, and the mean % touched of the held-out
    thin-structure photos."""
    rules = [(t, g) for t in THRESHOLDS for g in GROWTHS]
    result = {f"{t} grow {d}+{f}": {"threshold": t, "dilate": d, "feather": f, "film dB": {},
                                   "clean %": {}, "thin %": []} for t, (d, f) in rules}
    for name, scan, expert in expert_pairs(data / "real-film-gt"):
        img, ref = io.read(scan), io.read(expert)
        base = psnr_db(ref, img)
        holes = rule_masks(api.detect(img).probability)
        for key, r in result.items():
            fixed = api.restore(img, holes[r["threshold"]], dilate=r["dilate"],
                                feather=r["feather"])
            r["film dB"][name] = psnr_db(ref, fixed) - base
    clean = photos_in(data / "real-old-photos" / "unscratched")
    thin = thin_structure_photos("holdout")[:thin_limit]
    for path in clean + thin:
        holes = rule_masks(api.detect(io.read(path)).probability)
        for r in result.values():
            touched = api.repair_weight(holes[r["threshold"]], r["dilate"], r["feather"]) > 0
            share = 100 * float(touched.mean())
            if path in clean:
                r["clean %"][path.name] = share
            else:
                r["thin %"].append(share)
    for r in result.values():
        r["thin %"] = float(np.mean(r["thin %"])) if r["thin %"] else None
    return result


def choose(result: dict) -> str:
    """The rule the module docstring's criterion picks."""
    def fits(r):
        return (max(r["clean %"].values(), default=0) <= CLEAN_BUDGET
                and (r["thin %"] is None or r["thin %"] <= CLEAN_BUDGET))
    ok = [k for k, r in result.items() if fits(r)] or list(result)
    return max(ok, key=lambda k: (min(result[k]["film dB"].values(), default=0),
                                  result[k]["threshold"]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None, help="the shared data folder (default: ../shared/data "
                                                 "beside the repository)")
    ap.add_argument("--thin-limit", type=int, default=None,
                    help="use only this many held-out thin-structure photos (quick runs)")
    ap.add_argument("--onnx", type=Path, help="a candidate detector instead of the shipped one")
    ap.add_argument("--json", help="also write the sweep here")
    ap.add_argument("--write-card", action="store_true",
                    help="store the chosen threshold and growth in the shipped detector's card")
    args = ap.parse_args(argv)
    data = Path(args.data) if args.data else shared_data()
    if not (data / "real-film-gt").is_dir():
        ap.error(f"{data}: no real-film-gt folder (give --data)")
    if args.onnx and args.write_card:
        ap.error("--write-card stores the shipped detector's rule; ship the candidate first")
    if args.onnx:
        from .compare import candidate
        with candidate(args.onnx):
            result = sweep(data, args.thin_limit)
    else:
        result = sweep(data, args.thin_limit)
    chosen = choose(result)
    print(f"{'rule':22s} {'film dB (each)':>24s} {'worst clean %':>14s} {'thin %':>8s}")
    for key, r in result.items():
        film = " ".join(f"{v:+.2f}" for v in r["film dB"].values())
        thin = f"{r['thin %']:.3f}" if r["thin %"] is not None else "-"
        mark = "  <- chosen" if key == chosen else ""
        print(f"{key:22s} {film:>24s} {max(r['clean %'].values(), default=0):14.3f} "
              f"{thin:>8s}{mark}")
    if args.json:
        Path(args.json).write_text(json.dumps({"chosen": chosen, "sweep": result}, indent=1))
    if args.write_card:
        card = models.default_card("detect")
        r = result[chosen]
        card_path = card.path.with_suffix(".json")
        data_card = json.loads(card_path.read_text())
        data_card["threshold"] = r["threshold"]
        data_card["repair_growth"] = {"dilate": r["dilate"], "feather": r["feather"]}
        data_card["calibration"] = {
            "command": "python -m unscratch.train.calibrate --write-card",
            "criterion": "the rule's mask as restore makes it (picture lines left) touches at "
                         f"most {CLEAN_BUDGET} % of each unscratched real old photo and of the "
                         "held-out thin-structure photos on average; then the best worst-case dB "
                         "against the expert on the real film scans",
            "chosen": chosen, "film dB": r["film dB"], "clean %": r["clean %"],
            "thin %": r["thin %"]}
        data_card.pop("auto_threshold", None)
        write_atomically(card_path,
                         lambda tmp: tmp.write_text(json.dumps(data_card, indent=2) + "\n"))
        print(f"wrote {chosen} into {card_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Compare candidate detectors (ONNX files) on the same held-out sets, before one is shipped.

    python -m unscratch.train.compare runs/gpu/full.onnx models/unscratch-detector.onnx \
        [--real DIR ...]
    python -m unscratch.train.compare --ablations runs/gpu      # scratch.onnx vs no-<family>.onnx

Each candidate gets its threshold tuned on the simulator's val split (as `eval detect` does), then:
the simulator's test split, the independent generator (eval/independent_damage.py) on the held-out
photos, clean photos (false-positive area), each family alone, and on real photos the mask % at its
threshold and the % restore changes at it. `--ablations DIR` reads ablate.py's output: for each
left-out family, F1 of the reference candidate ('scratch', trained on every family) and of the
candidate that never saw that family, on that family alone, from the simulator and from the
independent generator.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .. import api, io, models
from . import pool
from .eval import independent_damage as ed
from .eval.cases import _each, make_cases
from .eval.detect import average_precision, best_threshold, tolerant_prf

# which of the independent generator's families stands for each of the simulator's (sprites are film
# hair, lint and dirt: the generator's hairs; blotches and fibres have no counterpart)
INDEPENDENT_OF = {"cracks": "crack", "creases": "crease", "losses": "loss", "foxing": "foxing",
                  "scuffs": "scuff", "scratches": "scratch", "dust": "dust", "sprites": "hair"}


@contextmanager
def candidate(onnx: Path, threshold: float | None = None):
    """A models folder holding the shipped restorer and `onnx` as the default detector (the
    shipped card's threshold and growth unless `threshold` is given), in use inside."""
    shipped = models.default_card("detect")
    folder = Path(tempfile.mkdtemp(prefix="unscratch-cand-"))
    try:
        for f in models.models_dir().iterdir():
            if f.suffix in (".onnx", ".json") and not f.name.startswith(shipped.name):
                shutil.copy(f, folder / f.name)
        card = dict(shipped.card)
        shutil.copy(onnx, folder / f"{shipped.name}.onnx")
        card["sha256"] = models.sha256_of(folder / f"{shipped.name}.onnx")
        card["threshold"] = shipped.threshold if threshold is None else threshold
        (folder / f"{shipped.name}.json").write_text(json.dumps(card))
        old = os.environ.get("UNSCRATCH_MODELS_DIR")
        os.environ["UNSCRATCH_MODELS_DIR"] = str(folder)
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("UNSCRATCH_MODELS_DIR", None)
            else:
                os.environ["UNSCRATCH_MODELS_DIR"] = old
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _probs(images) -> list[np.ndarray]:
    return [api.detect(img).probability for img in images]


def _f1(probs, truths, th) -> dict:
    p, r, f1 = tolerant_prf([x >= th for x in probs], truths)
    return {"F1": round(f1, 3), "P": round(p, 3), "R": round(r, 3)}


def held_out_sets(size: int, seed: int, photos_limit: int | None) -> dict:
    few = (lambda xs: xs[:photos_limit]) if photos_limit else (lambda xs: xs)
    test_photos, held = few(pool.photo_paths("test")), few(ed.eval_photos("auto"))
    return {"val": make_cases("val", 1, size, seed, photos=few(pool.photo_paths("val"))),
            "test": make_cases("test", 1, size, seed, photos=test_photos),
            "indep": ed.make_samples(held, 1, size, seed),
            "clean": ed.clean_samples(held, size, seed),
            "sim_family": {f: make_cases("test", 1, size, seed, families=[f], photos=test_photos)
                           for f in INDEPENDENT_OF},
            "indep_family": {g: ed.make_samples(held, 1, size, seed, [g])
                             for g in INDEPENDENT_OF.values()}}


def evaluate_candidate(onnx: Path, sets: dict, real: list[Path]) -> dict:
    with candidate(onnx):
        th = best_threshold(_probs([c.damaged for c in sets["val"]]), [c.mask for c in sets["val"]])
    with candidate(onnx, th):
        test_p = _probs([c.damaged for c in sets["test"]])
        ind_p = _probs([s.damaged for s in sets["indep"]])
        clean_p = _probs(sets["clean"])
        row = {"threshold": th,
               "sim test": _f1(test_p, [c.mask for c in sets["test"]], th),
               "sim AP": round(average_precision(test_p, [c.mask for c in sets["test"]]), 3),
               "independent": _f1(ind_p, [s.mask for s in sets["indep"]], th),
               "independent AP": round(average_precision(ind_p, [s.mask for s in sets["indep"]]),
                                       3),
               "clean FP %": round(100 * sum(int((p >= th).sum()) for p in clean_p)
                                   / sum(p.size for p in clean_p), 3),
               "sim family F1": {f: _f1(_probs([c.damaged for c in cs]), [c.mask for c in cs],
                                        th)["F1"]
                                 for f, cs in sets["sim_family"].items()},
               "indep family F1": {g: _f1(_probs([s.damaged for s in ss]), [s.mask for s in ss],
                                          th)["F1"]
                                   for g, ss in sets["indep_family"].items()},
               "real": {}}
        for folder in real:
            for f in sorted(folder.glob("*.png")):
                img = io.read(f)
                fixed = api.restore(img)
                row["real"][f"{folder.name}/{f.stem}"] = {
                    "mask %": round(100 * float(api.detect(img).mask.mean()), 2),
                    "changed %": round(100 * float((fixed != img).any(axis=-1).mean()), 2)}
    return row


def ablation_table(folder: Path, sets: dict) -> dict:
    """F1 on each left-out family alone: the reference (all families) against the candidate
    without it."""
    out = {}
    cache = {}
    for fam, g in INDEPENDENT_OF.items():
        without = folder / f"no-{fam}.onnx"
        if not without.exists():
            continue
        row = {}
        for label, onnx in (("with", folder / "scratch.onnx"), ("without", without)):
            if (onnx, "th") not in cache:
                with candidate(onnx):
                    cache[(onnx, "th")] = best_threshold(_probs([c.damaged for c in sets["val"]]),
                                                         [c.mask for c in sets["val"]])
            th = cache[(onnx, "th")]
            with candidate(onnx, th):
                sim = sets["sim_family"][fam]
                ind = sets["indep_family"][g]
                row[label] = {"sim": _f1(_probs([c.damaged for c in sim]), [c.mask for c in sim],
                                         th)["F1"],
                              "independent": _f1(_probs([s.damaged for s in ind]),
                                                 [s.mask for s in ind], th)["F1"],
                              "threshold": th}
        out[fam] = row
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("onnx", nargs="*", type=Path, help="candidate detectors")
    ap.add_argument("--ablations", type=Path, help="a folder written by unscratch.train.ablate")
    ap.add_argument("--real", type=Path, action="append", default=[],
                    help="a folder of real photos (png)")
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--photos", type=int, default=None,
                    help="at most this many photos per set (quick runs)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    if not args.onnx and not args.ablations:
        ap.error("give candidate .onnx files or --ablations DIR")
    sets = held_out_sets(args.size, args.seed, args.photos)
    result = {"sets": {k: len(v) for k, v in sets.items() if isinstance(v, list)}}
    for onnx in _each(args.onnx, "candidates"):
        result[str(onnx)] = evaluate_candidate(onnx, sets, args.real)
        print(json.dumps({str(onnx): result[str(onnx)]}), flush=True)
    if args.ablations:
        result["ablations"] = ablation_table(args.ablations, sets)
        print(json.dumps({"ablations": result["ablations"]}), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

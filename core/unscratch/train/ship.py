"""Ship a training run: its ONNX file into a models folder, and the run as the next stage of the
card there.

    python -m unscratch.train.ship runs/detector15 --note "eighth fine-tune, ..." [--models models]

A shipped model grows in stages (each `train --init` goes on from the last), so its card lists every
stage's command, steps and wall time. The old model's held-out metrics no longer describe the new
file: they are dropped, and `unscratch eval <task> --write-card` puts the new ones back (and, for a
detector, `python -m unscratch.train.calibrate --write-card` its threshold and growth). Both files
are written to temporary names first, then renamed.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from .. import models
from ..io import write_atomically

# what a stage records besides its note
STAGE_KEYS = ("command", "steps", "wall_seconds", "decoys", "mined")
# the latest run
RUN_KEYS = ("command", "steps", "batch", "crop", "wall_seconds", "threads", "torch", "decoys",
            "mined")
MODEL_KEYS = ("sha256", "params", "onnx_vs_torch_max_abs_error")  # facts about the ONNX file itself


def run_card(run_dir: Path) -> Path:
    """The one model card a training run wrote into its output folder."""
    cards = sorted(Path(run_dir).glob("unscratch-*.json"))
    if len(cards) != 1:
        raise SystemExit(f"{run_dir}: expected one model card (unscratch-*.json), "
                         f"found {len(cards)}")
    return cards[0]


def merged_card(shipped: dict | None, run: dict, note: str) -> dict:
    """The shipped card with `run` added as its next stage (or the run's own card for a first
    model); a stage records `decoys` only when its run trained with them."""
    trained = run["training"]
    stage = {key: trained[key] for key in STAGE_KEYS if key in trained} | {"note": note}
    if shipped is None:
        return run | {"training": trained | {"stages": [stage], "total_steps": stage["steps"]}}
    stages = [*shipped["training"].get("stages", []), stage]
    training = (shipped["training"] | {key: trained[key] for key in RUN_KEYS if key in trained}
                | {"stages": stages, "total_steps": sum(s["steps"] for s in stages)})
    # what was measured on the old file: eval --write-card and calibrate --write-card redo it
    card = {key: value for key, value in shipped.items() if key not in ("metrics", "calibration")}
    return card | {"training": training} | {key: run[key] for key in MODEL_KEYS}


def ship(run_dir: Path, models_dir: Path, note: str) -> tuple[Path, dict]:
    """Copy the run's ONNX file into `models_dir` and merge its card; returns the card's path and
    content."""
    source = run_card(run_dir)
    models.verify(models.read_card(source))  # never ship a file its own card does not describe
    run = json.loads(source.read_text())
    target = Path(models_dir) / source.name
    shipped = json.loads(target.read_text()) if target.exists() else None
    card = merged_card(shipped, run, note)
    write_atomically(target.with_suffix(".onnx"),
                     lambda tmp: shutil.copyfile(source.with_suffix(".onnx"), tmp))
    write_atomically(target, lambda tmp: tmp.write_text(json.dumps(card, indent=2) + "\n"))
    return target, card


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m unscratch.train.ship",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path, help="a training run's --out folder")
    ap.add_argument("--note", required=True, help="what this stage changed, for the card")
    ap.add_argument("--models", type=Path, default=None,
                    help="models folder (default: the one unscratch loads)")
    args = ap.parse_args(argv)
    target, card = ship(args.run_dir, args.models or models.models_dir(), args.note)
    print(f"shipped {args.run_dir} as stage {len(card['training']['stages'])} of {target}; "
          f"now run `unscratch eval {card['task']} --write-card` and bring the card's "
          "limitations up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())

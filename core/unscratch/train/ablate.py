"""Train the detector to ship and its leave-one-family-out ablations on ONE shared stream of pairs.

    python -m unscratch.train.ablate --seconds 420 --workers 14 --out runs/gpu   # on a GPU machine
    python -m unscratch.train.ablate --seconds 5 --workers 0 --size 64 --out /tmp/x   # CI smoke run

Simulated pairs, not the network, are what training costs (a GPU waits for them), so every candidate
learns from the same batches. Candidate "full" starts from `--init` (the shipped detector) and sees
all of them. "scratch" starts from random weights and sees all of them: the reference for the
ablations. "no-<family>" starts from random weights too and is trained only on the pairs of each
batch that hold no damage of that family: how well the detector finds a kind of damage it never
saw. Each candidate is exported as <name>.onnx; summary.json records steps, pairs seen
and losses.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import pool, simulate
from .nets import Detector
from .train import ONNX_INIT_SAMPLE, PairStream, detect_loss, export_onnx


def _load_photos(workers: int) -> list[np.ndarray]:
    from concurrent.futures import ThreadPoolExecutor
    paths = pool.photo_paths("train")
    with ThreadPoolExecutor(max(1, workers)) as ex:
        return list(ex.map(lambda p: np.rint(pool.load_photo(p) * 255).astype(np.uint8), paths))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, required=True,
                    help="training wall time (data start excluded)")
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--workers", type=int, default=max(0, (os.cpu_count() or 2) - 2),
                    help="data processes")
    ap.add_argument("--init", default=None,
                    help="shipped detector (.onnx) the 'full' candidate starts from")
    ap.add_argument("--lr-init", type=float, default=4e-4,
                    help="learning rate of the candidate from --init")
    ap.add_argument("--lr", type=float, default=2e-3,
                    help="learning rate of the candidates from scratch")
    ap.add_argument("--ablate", default="",
                    help="comma list of families to leave out, one candidate each ('all': every "
                         "family)")
    ap.add_argument("--no-scratch", action="store_true",
                    help="skip the from-scratch reference candidate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    import cv2
    # forked data workers inherit it; OpenCV's own pool in each oversubscribes the cores
    cv2.setNumThreads(1)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(args.seed)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    families = list(simulate.FAMILIES)
    ablate = families if args.ablate == "all" else [f for f in args.ablate.split(",") if f]
    unknown = set(ablate) - set(families)
    if unknown:
        ap.error(f"unknown families {sorted(unknown)}; known: {', '.join(families)}")

    t0 = time.time()
    photos = _load_photos(args.workers)
    print(f"{len(photos)} train photos decoded in {time.time() - t0:.1f}s on {dev}", flush=True)
    cands: dict[str, dict] = {}
    if args.init:
        model = Detector()
        init_stream = PairStream("train", args.size, args.seed + 1, photos=photos)
        sample = itertools.islice(iter(init_stream), ONNX_INIT_SAMPLE)
        model.load_onnx(args.init, torch.stack([x for x, _, _ in sample]))
        cands["full"] = {"model": model, "lr": args.lr_init, "skip": None, "warm": False}
    if not args.no_scratch:
        cands["scratch"] = {"model": Detector(), "lr": args.lr, "skip": None, "warm": True}
    for fam in ablate:
        cands[f"no-{fam}"] = {"model": Detector(), "lr": args.lr, "skip": families.index(fam),
                              "warm": True}
    if not cands:
        ap.error("nothing to train: give --init, keep the scratch candidate or --ablate")
    for c in cands.values():
        c["model"] = c["model"].to(dev).train()
        c["opt"] = torch.optim.AdamW(c["model"].parameters(), lr=c["lr"], weight_decay=1e-4)
        c.update(steps=0, pairs=0, loss=None)

    stream = PairStream("train", args.size, args.seed, photos=photos, families=families)
    loader = torch.utils.data.DataLoader(stream, batch_size=args.batch, num_workers=args.workers,
                                         pin_memory=dev.type == "cuda",
                                         prefetch_factor=4 if args.workers else None)
    warm_steps, step, start = 300, 0, None
    present = np.zeros(len(families))
    for x, _, m, fam in loader:
        if start is None:
            start = time.time()
        elapsed = time.time() - start
        if elapsed >= args.seconds:
            break
        frac = min(elapsed / args.seconds, 1.0)
        x, m, fam = x.to(dev, non_blocking=True), m.to(dev, non_blocking=True), fam.to(dev)
        present += fam.sum(0).cpu().numpy()
        for c in cands.values():
            keep = slice(None) if c["skip"] is None else fam[:, c["skip"]] == 0
            xs, ms = x[keep], m[keep]
            if xs.shape[0] == 0:
                continue
            ramp = min(1.0, (step + 1) / warm_steps) if c["warm"] else 1
            lr = c["lr"] * 0.5 * (1 + np.cos(np.pi * frac)) * ramp
            for g in c["opt"].param_groups:
                g["lr"] = lr
            loss = detect_loss(c["model"].logits(xs), ms)
            c["opt"].zero_grad(set_to_none=True)
            loss.backward()
            c["opt"].step()
            c["steps"] += 1
            c["pairs"] += int(xs.shape[0])
            if step % 25 == 0:
                v = loss.item()
                c["loss"] = v if c["loss"] is None else 0.9 * c["loss"] + 0.1 * v
        step += 1
        if step % 200 == 0 or step == 1:
            shown = " ".join(f"{k}={c['loss']:.3f}" for k, c in cands.items()
                             if c["loss"] is not None)
            rate = step * args.batch / max(elapsed, 1e-3)
            print(f"step {step} {elapsed:.0f}s {rate:.0f} pairs/s " + shown, flush=True)
    wall = time.time() - (start or time.time())
    summary = {"command": "python -m unscratch.train.ablate "
               + " ".join(sys.argv[1:] if argv is None else argv),
               "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
               "torch": torch.__version__, "batches": step, "batch": args.batch, "crop": args.size,
               "train_seconds": round(wall), "photos": len(photos),
               "family_share": {f: round(float(present[i]) / max(1, step * args.batch), 4)
                                for i, f in enumerate(families)},
               "candidates": {}}
    for name, c in cands.items():
        model = c["model"].cpu().eval()
        torch.save(model.state_dict(), out / f"{name}.pt")
        err = export_onnx(model, "detect", out / f"{name}.onnx")
        summary["candidates"][name] = {"lr": c["lr"], "from_init": not c["warm"],
                                       "steps": c["steps"], "pairs": c["pairs"],
                                       "final_loss": c["loss"], "onnx_err": err,
                                       "left_out": None if c["skip"] is None
                                       else families[c["skip"]]}
        print("exported", name, c["steps"], "steps", c["pairs"], "pairs", flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

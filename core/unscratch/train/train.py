"""Train the detector or the restorer on simulated damage, export ONNX and write its model card.

    python -m unscratch.train.train detect  --minutes 45 --out models/
    python -m unscratch.train.train restore --minutes 30 --out models/
    python -m unscratch.train.train detect  --steps 3 --size 64 --out /tmp/x   # CI smoke run

Pairs come from the train split of the photo pool (never val/test photos) and the train split of
the damage sprites. The card records the exact command, data, steps, wall time and the sha256.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .. import api, models
from ..api import repair_weight
from ..classical import ClassicalInpainter
from . import pool, simulate
from .damage import negatives
from .nets import Detector, Restorer

TELEA = ClassicalInpainter()

# The card's tiling. Overlap: the least at which tiled and untiled runs agree (shipped detector
# 3.1e-4 at 256, its predecessor 6e-3 at 192; restorer 2/65535 at 192). Tile: the largest whose
# buffers stay within 650-900 MB (onnxruntime's memory pattern off); bigger tiles repeat less of the
# image in their overlaps. min_side: the detector learnt on 160-256 px crops, and on a much smaller
# image its zero-padded borders dominate (a 40x56 noiseless gradient with one full-height scratch: a
# ghost line 15 px beside it at 0.907; reflected out to 128 px, 0.042). Restorer tiles stay as they
# are: they are windows cut around holes, whose fill must equal the whole tile's, also at the
# image's edge.
TILING = {"detect": {"tile": 1536, "overlap": 256, "min_side": 128},
          "restore": {"tile": 1024, "overlap": 192}}

# training crops whose activations set the BatchNorm statistics of an --init from ONNX
ONNX_INIT_SAMPLE = 16


class PairStream(torch.utils.data.IterableDataset):
    """Endless (input, target, mask) crops; photos decoded once and kept as uint8.

    For the restorer the mask is the hole exactly as `restore` builds it (defect grown and
    feathered, > 0), and the input carries the Telea prefill the model corrects. On a `decoys` share
    of restorer pairs the hole also covers the shipped detector's false positives (see
    `decoy_mask`).

    `mined`: crops around real picture the detector marked (`mine.load_mined`); a `mined_share` of
    pairs is cut around one of them, so the network sees real masts, ropes and letters, unlabelled,
    beside the damage drawn over them.

    `drawn_negatives`: the share of crops that get thin picture structure painted in (None: the
    simulator's own, `negatives.HARD_NEGATIVE_P`; see `negatives.pieces`); drawn wires and
    branches look like hairs and scratches, so a detector trained on many doubts real ones.
    """

    def __init__(self, split: str, size: int, seed: int, photos: list[np.ndarray] | None = None,
                 max_photos=None, task: str = "detect", decoys: float = 0.0,
                 vary_hole: bool = False, families=None, mined: list | None = None,
                 mined_share: float = 0.0, drawn_negatives: float | None = None,
                 exact_holes: float = 0.0):
        self.split, self.size, self.seed, self.task = split, size, seed, task
        self.drawn_negatives = drawn_negatives
        self.mined, self.mined_share = mined or [], mined_share
        # when given, each item also carries which of these families it holds
        self.families = families
        self.decoys, self.vary_hole, self.exact_holes = decoys, vary_hole, exact_holes
        self.photos = photos
        self.max_photos = max_photos

    def _load(self):
        if self.photos is None:
            paths = pool.photo_paths(self.split)[: self.max_photos]
            self.photos = [np.rint(pool.load_photo(p) * 255).astype(np.uint8) for p in paths]

    def __iter__(self):
        self._load()
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, info.id if info else 0])
        if self.decoys and info is not None:
            models.configure(threads=1)  # a data worker's detector runs beside training: one thread
        bank = simulate.OverlayBank(split=self.split if self.split in ("train", "val", "test")
                                    else "all")
        while True:
            kw = ({} if self.drawn_negatives is None  # None: as many as the simulator draws
                  else {"hard_negatives": negatives.pieces(rng, self.drawn_negatives)})
            if self.mined and rng.random() < self.mined_share:
                pair = self._mined_pair(rng, bank, **kw)
            else:
                photo = self.photos[rng.integers(len(self.photos))]
                pair = simulate.make_pair(photo, rng, bank, size=self.size, scale_range=(0.25, 1.0),
                                          **kw)
            # scans come in any orientation (film-transport scratches run along the film, which may
            # lie either way), so no direction may be learned as "picture": a random quarter turn
            turn = int(rng.integers(4))
            x, mask, clean = (np.ascontiguousarray(np.rot90(a, turn))
                              for a in (pair.damaged, pair.mask, pair.clean))
            if self.task == "restore":
                if self.decoys and rng.random() < self.decoys:
                    mask = mask | decoy_mask(x, mask)
                # restore() grew a mask by 2 px and feathered 2 more (DETECTED_GROWTH); varied,
                # the hole's margin stops being a cue for where the damage is (a hole cut along a
                # tight selection has almost none)
                grow = ((int(rng.integers(0, 5)), int(rng.integers(0, 4))) if self.vary_hole
                        else api.DETECTED_GROWTH)
                # restore repairs a given mask as it is: an `exact_holes` share of holes have no
                # margin at all, so that every hole pixel is damage (drawn only when asked for,
                # so older commands draw the same pairs)
                if self.exact_holes and rng.random() < self.exact_holes:
                    grow = (0, 0)
                mask = repair_weight(mask, *grow) > 0
                x = restorer_input(x, mask)
            item = (torch.from_numpy(x.transpose(2, 0, 1).copy()),
                    torch.from_numpy(clean.transpose(2, 0, 1).copy()),
                    torch.from_numpy(mask[None].astype(np.float32)))
            if self.families is not None:
                drawn = set(pair.info.get("families", ()))
                item += (torch.tensor([f in drawn for f in self.families], dtype=torch.float32),)
            yield item


    def _mined_pair(self, rng, bank, **kw):
        """A `size` crop holding a mined spot (jittered, any quarter turn later), damaged as
        usual."""
        crop, y, x, side = self.mined[rng.integers(len(self.mined))]
        h, w = crop.shape[:2]
        s = self.size
        if min(h, w) < s:
            crop = cv2.copyMakeBorder(crop, 0, max(0, s - h), 0, max(0, s - w), cv2.BORDER_REFLECT)
            h, w = crop.shape[:2]
        jit = s // 3
        y0 = int(np.clip(y - s // 2 + rng.integers(-jit, jit + 1), 0, h - s))
        x0 = int(np.clip(x - s // 2 + rng.integers(-jit, jit + 1), 0, w - s))
        clean = crop[y0:y0 + s, x0:x0 + s].astype(np.float32) / 255
        if rng.random() < 0.5:
            clean = clean[:, ::-1]
        return simulate.simulate(np.ascontiguousarray(clean), rng, bank,
                                 scale=simulate.resolution_scale(0.7 * side), **kw)


DECOY_THRESHOLD = 0.5  # permissive: more of the detector's typical mistakes than users' masks hold


def decoy_mask(damaged: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Where the shipped detector fires on undamaged picture (at DECOY_THRESHOLD, 2 px clear of real
    damage). In use a hole is not always damage: a restorer that only ever saw damage under its
    holes learns to paint over whatever is there, and wipes out the stars, buttons and rim lights a
    detector mistakes for dust. Decoy holes, whose target is the picture as it is, teach it to keep
    them (in part, so far: see the restorer's card)."""
    fired = api.detect(damaged, method="model", threshold=DECOY_THRESHOLD).mask
    near_truth = cv2.dilate(truth.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return fired & ~near_truth


def restorer_input(rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """HxWx7: damaged RGB, hole, Telea prefill — what the shipped restorer's tile function
    builds."""
    planes = np.concatenate([rgb, hole[:, :, None].astype(np.float32)], axis=2)
    return np.concatenate([planes, TELEA(planes)], axis=2)


def detect_loss(logits, mask):
    """BCE weighted toward the rare defect class + soft Dice: thin structures are a tiny fraction
    of pixels."""
    bce = F.binary_cross_entropy_with_logits(logits, mask,
                                             pos_weight=torch.tensor(4.0, device=logits.device))
    p = torch.sigmoid(logits)
    inter = (p * mask).sum((1, 2, 3))
    dice = 1 - (2 * inter + 1) / (p.sum((1, 2, 3)) + mask.sum((1, 2, 3)) + 1)
    return bce + dice.mean()


def ssim_map(a, b):
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mu_a, mu_b = F.avg_pool2d(a, 7, 1, 3), F.avg_pool2d(b, 7, 1, 3)
    va = F.avg_pool2d(a * a, 7, 1, 3) - mu_a ** 2
    vb = F.avg_pool2d(b * b, 7, 1, 3) - mu_b ** 2
    cov = F.avg_pool2d(a * b, 7, 1, 3) - mu_a * mu_b
    return (((2 * mu_a * mu_b + c1) * (2 * cov + c2))
            / ((mu_a ** 2 + mu_b ** 2 + c1) * (va + vb + c2)))


def grad(x):
    return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]


def restore_loss(out, clean, mask):
    """L1 + (1-SSIM) + gradient L1, weighted to the (dilated) defect area where the output can
    differ."""
    region = F.max_pool2d(mask, 5, 1, 2)
    w = region / (region.mean((1, 2, 3), keepdim=True) + 1e-3)
    l1 = ((out - clean).abs() * w).mean()
    ssim = ((1 - ssim_map(out, clean)) * w).mean()
    gy_o, gx_o = grad(out)
    gy_c, gx_c = grad(clean)
    g = ((gy_o - gy_c).abs() * w[..., 1:, :]).mean() + ((gx_o - gx_c).abs() * w[..., :, 1:]).mean()
    return l1 + 0.5 * ssim + 0.5 * g


def export_onnx(model, task: str, path: Path) -> None:
    """Export with dynamic height/width (opset 17) and check ONNX against torch on a random
    input."""
    import onnxruntime as ort
    model.eval()
    cin = 3 if task == "detect" else 7
    x = torch.rand(1, cin, 96, 128)
    tmp = path.with_suffix(".onnx.part")
    torch.onnx.export(model, x, str(tmp), opset_version=17, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {2: "height", 3: "width"},
                                    "output": {2: "height", 3: "width"}},
                      do_constant_folding=True, dynamo=False)
    os.replace(tmp, path)
    check = torch.rand(1, cin, 136, 200)
    if task == "restore":
        check[:, 3] = (check[:, 3] > 0.8).float()
    with torch.no_grad():
        ref = model(check).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"input": check.numpy()})[0]
    err = float(np.abs(ref - got).max())
    if err > 1e-4:
        raise RuntimeError(f"ONNX and torch disagree by {err}")
    return err


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("task", choices=("detect", "restore"))
    ap.add_argument("--minutes", type=float, default=None, help="train for this wall time")
    ap.add_argument("--steps", type=int, default=None, help="or for this many steps")
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1, help="data processes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-photos", type=int, default=None,
                    help="use only this many train photos (smoke runs)")
    ap.add_argument("--decoys", type=float, default=0.0,
                    help="restorer: share of pairs whose hole also covers the detector's false "
                         "positives")
    ap.add_argument("--vary-hole", action="store_true",
                    help="restorer: grow each training hole by a random 0-4 px and feather 0-3 px "
                         "(default 2 and 2)")
    ap.add_argument("--exact-holes", type=float, default=0.0,
                    help="restorer: share of pairs whose hole is the damage exactly, no margin "
                         "(0-1)")
    ap.add_argument("--mined",
                    help="folder written by unscratch.train.mine: real picture the detector marked")
    ap.add_argument("--mined-share", type=float, default=0.5,
                    help="share of pairs cut around a mined spot")
    ap.add_argument("--drawn-negatives", type=float, default=None,
                    help="share of crops with thin picture structure painted in, 0-1 (default: "
                         "the simulator's, negatives.HARD_NEGATIVE_P)")
    ap.add_argument("--init",
                    help="start from this checkpoint (.pt), or from a shipped model (.onnx)")
    ap.add_argument("--out", default="models", help="folder for <name>.onnx, .json and .pt")
    ap.add_argument("--name", default=None)
    args = ap.parse_args(argv)
    if args.minutes is None and args.steps is None:
        ap.error("give --minutes or --steps")
    if not 0.0 <= args.exact_holes <= 1.0:
        ap.error(f"--exact-holes {args.exact_holes}: a share of pairs, from 0 to 1")
    if args.drawn_negatives is not None and not 0.0 <= args.drawn_negatives <= 1.0:
        ap.error(f"--drawn-negatives {args.drawn_negatives}: a share of crops, from 0 to 1")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    name = args.name or ("unscratch-detector" if args.task == "detect" else "unscratch-restorer")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    decoy_detector = None
    if args.decoys and args.task == "restore":
        decoy_detector = models.default_card("detect")
        if decoy_detector is None:
            ap.error(f"--decoys needs a shipped detector in {models.models_dir()}")
    model = Detector() if args.task == "detect" else Restorer()
    mined = None
    if args.mined:
        from .mine import load_mined
        mined = load_mined(args.mined)
    stream = PairStream("train", args.size, args.seed, max_photos=args.max_photos, task=args.task,
                         decoys=args.decoys, vary_hole=args.vary_hole, mined=mined,
                         mined_share=args.mined_share if mined else 0.0,
                         drawn_negatives=args.drawn_negatives, exact_holes=args.exact_holes)
    if args.init and args.init.endswith(".onnx"):
        sample = itertools.islice(iter(PairStream("train", args.size, args.seed + 1,
                                                  max_photos=args.max_photos, task=args.task)),
                                  ONNX_INIT_SAMPLE)
        model.load_onnx(args.init, torch.stack([x for x, _, _ in sample]))
    elif args.init:
        model.load_grown(torch.load(args.init, map_location="cpu"))
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.workers:
        # forked data workers inherit it; OpenCV's own pool in each oversubscribes the cores
        cv2.setNumThreads(1)
    model = model.to(dev)
    loader = torch.utils.data.DataLoader(stream, batch_size=args.batch, num_workers=args.workers,
                                         persistent_workers=args.workers > 0,
                                         pin_memory=dev.type == "cuda")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    budget_s = args.minutes * 60 if args.minutes is not None else None
    total_steps = args.steps if args.steps is not None else 10 ** 9
    start = time.time()
    step, running = 0, None
    model.train()
    for x, y, m in loader:
        x, y, m = (x.to(dev, non_blocking=True), y.to(dev, non_blocking=True),
                   m.to(dev, non_blocking=True))
        elapsed = time.time() - start
        if step >= total_steps or (budget_s is not None and elapsed >= budget_s):
            break
        frac = elapsed / budget_s if budget_s else step / total_steps
        for g in opt.param_groups:  # cosine decay over the run, by time or by steps
            g["lr"] = args.lr * 0.5 * (1 + np.cos(np.pi * min(frac, 1.0)))
        if args.task == "detect":
            loss = detect_loss(model.logits(x), m)
        else:
            loss = restore_loss(model(x), y, m)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % 50 == 0 or step == 1:
            print(f"step {step} {elapsed / 60:.1f} min loss {running:.4f}", flush=True)
            torch.save(model.state_dict(), out_dir / f"{name}.pt")
    wall = time.time() - start
    model = model.cpu()
    torch.save(model.state_dict(), out_dir / f"{name}.pt")
    onnx_path = out_dir / f"{name}.onnx"
    err = export_onnx(model, args.task, onnx_path)
    card = {
        "name": name, "task": args.task, "default": True,
        "input": {"channels": 3 if args.task == "detect" else 7,
                  "layout": "NCHW float32 in [0,1]; RGB (gray replicated)"
                  + ("" if args.task == "detect" else " + hole mask + Telea prefill of the RGB")},
        **({} if args.task == "detect" else {"prefill": "telea"}),
        "output": "defect probability" if args.task == "detect" else
                  "repaired RGB (the network's fill blended with the damaged pixel by its own "
                  "gate, inside the hole)",
        **TILING[args.task], "multiple": 8,
        "threshold": 0.5 if args.task == "detect" else None,
        "training": {"command": "python -m unscratch.train.train "
                     + " ".join(sys.argv[1:] if argv is None else argv), "steps": step,
                     "batch": args.batch, "crop": args.size, "wall_seconds": round(wall),
                     "threads": args.threads, "torch": torch.__version__,
                     "data": "clean photos: train split of unscratch.train.pool (see pool manifest "
                             "for sources and licences); damage: unscratch.train.simulate with the "
                             "train split of the MIT-licensed FilmDamageSimulator sprites (Ivanova "
                             "et al., CGF 2023) plus procedural damage",
                     **({"mined": {"folder": args.mined, "share": args.mined_share,
                                   "spots": len(mined)}}
                        if mined else {}),
                     **({"decoys": {"share": args.decoys, "threshold": DECOY_THRESHOLD,
                                    "detector_sha256": decoy_detector.sha256}} if decoy_detector
                        else {})},
        "onnx_vs_torch_max_abs_error": err,
        "params": sum(p.numel() for p in model.parameters()),
        "sha256": models.sha256_of(onnx_path),
    }
    card_path = out_dir / f"{name}.json"
    old = json.loads(card_path.read_text()) if card_path.exists() else {}
    for keep in ("metrics", "threshold_tuning", "limitations"):
        if keep in old:
            card[keep] = old[keep]
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {onnx_path} and {card_path} after {step} steps in {wall / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())

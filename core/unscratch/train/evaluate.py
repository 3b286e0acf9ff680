"""Held-out evaluation: `unscratch eval detect` and `unscratch eval restore`.

Test pairs are made from the *test* split of the photo pool and the *test* split of the damage sprites
(neither is ever trained on), deterministically from a seed, so anyone can rerun the numbers. Every
method runs in the same process on the same pairs; baselines get the same masks and compositing.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from .. import api, models
from ..classical import ClassicalInpainter
from ..metrics import psnr, ssim_map
from . import pool, simulate

TOLERANCE_PX = 2
AUTO_CHANGE_BUDGET = 0.0025  # restore(mask=None) may touch at most this share of a clean val photo's pixels
AUTO_FINE = (0.995, 0.996, 0.997, 0.998, 0.999, 0.9995, 0.9999)  # auto_threshold candidates above the 0.01 grid
SPECK_MAX_AREA = 150  # px: a ground-truth component this small and compact counts as a dust speck
CLEAR_DELTA = 0.1     # damage whose |damaged - clean| (max channel, JPEG error included) reaches this is "clear";
                      # about half of what the detector misses changes the picture by less, at film grain's level
CLEAR_RECALL = f"recall@2px, clear damage (>= {CLEAR_DELTA})"


def _each(items, desc: str):
    """`items` with a progress bar on stderr: an evaluation runs for minutes (Ctrl-C cancels it)."""
    from tqdm import tqdm
    return tqdm(items, desc=desc, leave=False, file=sys.stderr)


@dataclass
class Case:
    damaged: np.ndarray
    clean: np.ndarray
    mask: np.ndarray
    opacity: np.ndarray

    @cached_property
    def damaged_ssim(self) -> float:
        """SSIM(damaged, clean): what a repair must not fall below; every method and pipeline compares to it."""
        return float(ssim_map(self.damaged, self.clean).mean())


def make_cases(split: str, n_per_photo: int, size: int, seed: int, jpeg=None) -> list[Case]:
    """Damaged crops of the split's photos at native-ish resolution (scale 0.5–1), damage from that split's sprites."""
    bank = simulate.OverlayBank(split=split)
    rng = np.random.default_rng([seed, {"train": 0, "val": 1, "test": 2}[split]])
    cases = []
    for path in _each(pool.photo_paths(split), f"damaging {split} photos"):
        photo = np.rint(pool.load_photo(path) * 255).astype(np.uint8)
        for _ in range(n_per_photo):
            d = simulate.make_pair(photo, rng, bank, size=min(size, *photo.shape[:2]), scale_range=(0.5, 1.0),
                                   severity=float(rng.uniform(0.15, 0.8)), jpeg=jpeg)
            cases.append(Case(d.damaged, d.clean, d.mask, d.opacity))
    return cases


def clean_crops(split: str, size: int, seed: int) -> list[np.ndarray]:
    """Undamaged photos: each photo's centre crop as-is, and one aged (grain, fade, JPEG) but undamaged crop."""
    rng = np.random.default_rng([seed, 99])
    out = []
    for path in pool.photo_paths(split):
        photo = pool.load_photo(path)
        h, w = photo.shape[:2]
        s = min(size, h, w)
        y, x = (h - s) // 2, (w - s) // 2
        out.append(np.ascontiguousarray(photo[y:y + s, x:x + s]))
        out.append(simulate.simulate(out[-1], rng, None, severity=0.0).damaged)
    return out


# --- detection metrics ---------------------------------------------------------------------------
def _near(mask: np.ndarray, px: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask.astype(np.uint8), k) > 0


def tolerant_counts(pred: np.ndarray, truth: np.ndarray, px: int = TOLERANCE_PX) -> tuple[int, int, int, int]:
    """(predicted pixels near truth, predicted, true pixels near a prediction, true)."""
    return (int((pred & _near(truth, px)).sum()), int(pred.sum()), int((truth & _near(pred, px)).sum()), int(truth.sum()))


def tolerant_prf(preds, truths) -> tuple[float, float, float]:
    """Precision, recall and F1 at TOLERANCE_PX, pooled over pairs of masks."""
    return prf([tolerant_counts(a, b) for a, b in zip(preds, truths)])


def prf(counts) -> tuple[float, float, float]:
    tp_p, n_p, tp_t, n_t = (sum(c[i] for c in counts) for i in range(4))
    p = tp_p / n_p if n_p else 1.0
    r = tp_t / n_t if n_t else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def speck_recall(preds, truths, px: int = TOLERANCE_PX) -> tuple[float, int]:
    found = total = 0
    for pred, truth in zip(preds, truths):
        near_pred = _near(pred, px)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(truth.astype(np.uint8), connectivity=8)
        for i in range(1, n):
            w, h, area = stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT], stats[i, cv2.CC_STAT_AREA]
            if area <= SPECK_MAX_AREA and max(w, h) <= 3 * max(1, min(w, h)):
                total += 1
                found += bool(near_pred[labels == i].any())
    return (found / total if total else float("nan")), total


def average_precision(probs, truths) -> float:
    """Area under the exact-pixel precision–recall curve (step interpolation)."""
    p = np.concatenate([x.ravel() for x in probs])
    t = np.concatenate([x.ravel() for x in truths])
    order = np.argsort(-p, kind="stable")
    t = t[order]
    tp = np.cumsum(t)
    precision = tp / np.arange(1, len(t) + 1)
    return float((precision * t).sum() / max(1, t.sum()))


def best_threshold(probs, truths, grid=None) -> float:
    grid = np.linspace(0.05, 0.95, 19) if grid is None else grid
    scores = [tolerant_prf([pr >= th for pr in probs], truths)[2] for th in grid]
    return float(grid[int(np.argmax(scores))])


def auto_threshold(clean_probs, threshold: float) -> float:
    """The lowest `auto_threshold` (see api.auto_mask) at which restore(mask=None) would change at most
    AUTO_CHANGE_BUDGET of the pixels of clean validation photos (the dilated, feathered repair area)."""
    # the network is confident: false positives on texture reach 0.99, so the grid gets finer toward 1
    for high in sorted(set(np.round(np.arange(threshold, 1.0, 0.01), 2)) | {h for h in AUTO_FINE if h > threshold}):
        changed = np.mean([(api.repair_weight(api.hysteresis(p, high, threshold)) > 0).mean() for p in clean_probs])
        if changed <= AUTO_CHANGE_BUDGET:
            return float(high)
    return 1.0


def _probabilities(method: str, images) -> tuple[list, float]:
    """Probability maps through the public detect() (same tiling as users get) and seconds per MP."""
    start = time.perf_counter()
    out = [api.detect(img, method=method).probability for img in _each(images, f"detect ({method})")]
    mp = sum(i.shape[0] * i.shape[1] for i in images) / 1e6
    return out, (time.perf_counter() - start) / mp


def eval_detect(n_per_photo: int = 3, size: int = 512, seed: int = 0) -> dict:
    detectors = {"classical (median diff.)": "classical"}
    if models.default_card("detect") is not None:
        detectors["unscratch model"] = "model"
    val = make_cases("val", 2, size, seed)
    test = make_cases("test", n_per_photo, size, seed)
    clean = clean_crops("test", 1024, seed)
    truths = [c.mask for c in test]
    clear = [c.mask & (np.abs(c.damaged - c.clean).max(axis=2) >= CLEAR_DELTA) for c in test]
    rows = {}
    for name, det in detectors.items():
        vprobs, _ = _probabilities(det, [c.damaged for c in val])
        th = best_threshold(vprobs, [c.mask for c in val])
        probs, spm = _probabilities(det, [c.damaged for c in test])
        preds = [p >= th for p in probs]
        p, r, f1 = tolerant_prf(preds, truths)
        sr, n_specks = speck_recall(preds, truths)
        cprobs, _ = _probabilities(det, clean)
        fp = sum(int((c >= th).sum()) for c in cprobs) / sum(c.size for c in cprobs)
        rows[name] = {"threshold (tuned on val)": th, "precision@2px": p, "recall@2px": r, "F1@2px": f1,
                      CLEAR_RECALL: tolerant_prf(preds, clear)[1],
                      "speck recall": sr, "AP": average_precision(probs, truths), "clean FP area %": 100 * fp,
                      "s/MP": spm}
        if det == "model":  # the stricter mask restore(mask=None) repairs, tuned on clean val photos
            high = auto_threshold(_probabilities(det, clean_crops("val", 1024, seed))[0], th)
            preds = [api.hysteresis(p, high, th) for p in probs]
            p, r, f1 = tolerant_prf(preds, truths)
            cmasks = [api.hysteresis(c, high, th) for c in cprobs]
            rows[name + ", restore's auto mask"] = {
                "threshold (tuned on val)": high, "precision@2px": p, "recall@2px": r, "F1@2px": f1,
                CLEAR_RECALL: tolerant_prf(preds, clear)[1],
                "speck recall": speck_recall(preds, truths)[0],
                "clean FP area %": 100 * sum(int(m.sum()) for m in cmasks) / sum(m.size for m in cmasks),
                "clean repaired area %": 100 * float(np.mean([(api.repair_weight(m) > 0).mean() for m in cmasks]))}
    return {"rows": rows, "n_test_images": len(test), "n_val_images": len(val), "n_clean_images": len(clean),
            "n_specks": n_specks, "test_megapixels": sum(c.mask.size for c in test) / 1e6}


# --- restoration ---------------------------------------------------------------------------------
class BiharmonicInpainter:
    name, tile, overlap = "skimage biharmonic", 256, 32

    def __call__(self, tile):
        from skimage.restoration import inpaint_biharmonic
        planes, hole = tile[:, :, :-1], tile[:, :, -1] > 0
        return inpaint_biharmonic(planes, hole, channel_axis=-1).astype(np.float32) if hole.any() else planes


class GmicInpainter:
    """G'MIC's patch-based `inpaint` (Daisy et al.) through the PyPI gmic package."""
    name, tile, overlap = "G'MIC patch-based", 512, 64

    def __call__(self, tile):
        import gmic
        planes, hole = tile[:, :, :-1], tile[:, :, -1:]
        if not hole.any():
            return planes
        imgs = [gmic.Image.from_yxc(np.ascontiguousarray(planes * 255)), gmic.Image.from_yxc(np.ascontiguousarray(hole * 255))]
        out = gmic.run("inpaint[0] [1],7,16,0.1,1,1.2,0,0.05,10,1", imgs)
        res = np.asarray(out[0].yxc if not callable(getattr(out[0], "yxc", None)) else out[0].yxc(), np.float32)
        return np.clip(res.reshape(planes.shape) / 255.0, 0, 1)


def inpainters() -> dict:
    out = {}
    if models.default_card("restore") is not None:
        out["unscratch model"] = api.get_inpainter("model")
    out["OpenCV Telea"] = ClassicalInpainter(cv2.INPAINT_TELEA, name="telea")
    out["OpenCV Navier-Stokes"] = ClassicalInpainter(cv2.INPAINT_NS, name="ns")
    out["skimage biharmonic"] = BiharmonicInpainter()
    try:
        import gmic  # noqa: F401
        out["G'MIC patch-based"] = GmicInpainter()
    except ImportError as exc:
        out["G'MIC patch-based"] = f"not run: {exc}"
    return out


SLOW_SUBSET = 4  # biharmonic and G'MIC take minutes per megapixel here: they run on the first images only


def grain_ratio(result: np.ndarray, clean: np.ndarray, where: np.ndarray) -> float:
    """Fine-scale (high-pass, 1 px) standard deviation of luminance inside `where`, result over clean:
    about 1 when a fill keeps the grain, well below 1 for a smooth 'plastic' patch."""
    def hf(x):
        luma = x.mean(axis=2)
        return (luma - cv2.GaussianBlur(luma, (0, 0), 1.0))[where].std()
    return float(hf(result) / max(hf(clean), 1e-6))


def _restore_row(inp, cases, grain: bool = False) -> dict:
    start = time.perf_counter()
    weights = [api.repair_weight(c.mask) for c in cases]
    pairs = _each(list(zip(cases, weights)), getattr(inp, "name", "repair"))
    results = [api.repair(c.damaged, w, inp, grain=grain) for c, w in pairs]
    spm = (time.perf_counter() - start) / (sum(c.mask.size for c in cases) / 1e6)
    inside = [w > 0 for w in weights]
    ssims = [ssim_map(r, c.clean) for r, c in zip(results, cases)]
    return {"images": len(cases),
            "PSNR in mask": float(np.mean([psnr(r, c.clean, m) for r, c, m in zip(results, cases, inside) if m.any()])),
            "SSIM in mask": float(np.mean([s[m].mean() for s, m in zip(ssims, inside) if m.any()])),
            "PSNR image": float(np.mean([psnr(r, c.clean) for r, c in zip(results, cases)])),
            "SSIM image": float(np.mean([s.mean() for s in ssims])),
            # the pipeline's no-image-gets-worse target, with a perfect mask: what the repair alone does
            "images losing SSIM": int(sum(s.mean() < c.damaged_ssim for s, c in zip(ssims, cases))),
            "grain ratio in mask": float(np.mean([grain_ratio(r, c.clean, m) for r, c, m in zip(results, cases, inside) if m.sum() > 50])),
            "s/MP": spm}, [psnr(r, c.clean) for r, c in zip(results, cases)]


def large_holes(cases, seed: int) -> list[np.ndarray]:
    """One ellipse per crop, 64–160 px across, well inside the crop: the selections fill mode must heal."""
    rng = np.random.default_rng([seed, 7])
    holes = []
    for c in cases:
        h, w = c.clean.shape[:2]
        ay, ax = rng.uniform(32, min(80, h / 4)), rng.uniform(32, min(80, w / 4))
        cy, cx = rng.uniform(ay + 16, h - ay - 16), rng.uniform(ax + 16, w - ax - 16)
        hole = np.zeros((h, w), np.uint8)
        cv2.ellipse(hole, (int(cx), int(cy)), (int(ax), int(ay)), float(rng.uniform(0, 180)), 0, 360, 1, -1)
        holes.append(hole > 0)
    return holes


def _border_ratio(result, clean, hole) -> float:
    """Mean gradient magnitude on the hole's boundary (2 px either side), result over clean: about 1
    when the border is invisible, above 1 for a visible seam."""
    ring = cv2.dilate(hole.astype(np.uint8), np.ones((5, 5), np.uint8)) > cv2.erode(hole.astype(np.uint8), np.ones((5, 5), np.uint8))

    def grad(x):
        luma = x.mean(axis=2)
        return np.hypot(cv2.Sobel(luma, cv2.CV_32F, 1, 0), cv2.Sobel(luma, cv2.CV_32F, 0, 1))[ring].mean()
    return float(grad(result) / max(grad(clean), 1e-6))


def eval_fill(cases, seed: int) -> dict:
    """Fill mode on large holes cut into clean test photos, as restore() does it (grain included): our
    restorer against Telea."""
    holes = large_holes(cases, seed)
    methods = {"unscratch model (fill mode)": {}, "OpenCV Telea (method=classical)": {"method": "classical"}}
    rows = {}
    for name, kw in methods.items():
        out = [api.restore(c.clean, region=hole, mode="fill", **kw) for c, hole in _each(list(zip(cases, holes)), name)]
        rows[name] = {
            "PSNR in hole": float(np.mean([psnr(o, c.clean, m) for o, c, m in zip(out, cases, holes)])),
            "SSIM in hole": float(np.mean([ssim_map(o, c.clean)[m].mean() for o, c, m in zip(out, cases, holes)])),
            "border gradient ratio": float(np.mean([_border_ratio(o, c.clean, m) for o, c, m in zip(out, cases, holes)])),
            "colour shift (max channel mean)": float(np.mean([np.abs(o[m].mean(0) - c.clean[m].mean(0)).max()
                                                                for o, c, m in zip(out, cases, holes)])),
            "grain ratio in hole": float(np.mean([grain_ratio(o, c.clean, m) for o, c, m in zip(out, cases, holes)]))}
    return {"rows": rows, "hole diameters px": "64-160"}


def eval_restore(n_per_photo: int = 1, size: int = 512, seed: int = 0) -> dict:
    cases = make_cases("test", n_per_photo, size, seed, jpeg=False)
    mp = sum(c.mask.size for c in cases) / 1e6
    rows, oracle_psnr = {}, []
    methods = inpainters()
    for name, inp in methods.items():
        if isinstance(inp, str):
            rows[name] = {"note": inp}
            continue
        subset = cases[:SLOW_SUBSET] if isinstance(inp, (GmicInpainter, BiharmonicInpainter)) else cases
        rows[name], whole_psnr = _restore_row(inp, subset)
        if name == "unscratch model" or (not oracle_psnr and name == "OpenCV Telea"):
            oracle_psnr = whole_psnr
        if name == "unscratch model":  # what restore() does by default: the same fill with grain added back
            rows[name + " + grain (restore's default)"] = _restore_row(inp, subset, grain=True)[0]
    if "unscratch model" in methods:
        rows[f"unscratch model, first {SLOW_SUBSET} (as biharmonic, G'MIC)"] = _restore_row(methods["unscratch model"], cases[:SLOW_SUBSET])[0]
    rows["Telea, first %d" % SLOW_SUBSET] = _restore_row(methods["OpenCV Telea"], cases[:SLOW_SUBSET])[0]
    clean = clean_crops("test", 512, seed)
    res = {"rows": rows, "n_images": len(cases), "megapixels": mp, "fill": eval_fill(cases, seed)}
    # the full pipeline: our detector, then our restorer, no oracle; with restore's own (auto) mask, and with
    # the interactive mask a user reviews in an editor, whose false positives the restorer must leave intact
    res["pipeline"], res["clean input"] = _pipeline(cases, clean, None)
    res["pipeline"]["PSNR image (restorer, oracle mask)"] = float(np.mean(oracle_psnr))
    interactive = api.get_detector().threshold
    if interactive is not None:
        res["pipeline, interactive mask"], res["clean input, interactive mask"] = _pipeline(cases, clean, interactive)
    res["pipeline, infrared plane (simulated)"] = _infrared_pipeline(cases, seed)
    return res


def _infrared_pipeline(cases, seed: int) -> dict:
    """The full pipeline on the same crops as film scans with an infrared plane (simulate.infrared_plane, a
    model of one, not a measured scanner), no oracle: what restore(detect_method="infrared") repairs, the
    infrared detector having no stricter auto mask than its own."""
    rng = np.random.default_rng([seed, 77])
    full, masks = [], []
    for c in _each(cases, "pipeline, infrared plane"):
        scan = np.dstack([c.damaged, simulate.infrared_plane(c.clean, c.opacity, rng)])
        masks.append(api.detect(scan, method="infrared").mask)
        full.append(api.restore(scan, masks[-1])[:, :, :3])
    d_ssim = np.array([ssim_map(f, c.clean).mean() - c.damaged_ssim for f, c in zip(full, cases)])
    p, r, f1 = tolerant_prf(masks, [c.mask for c in cases])
    return {"PSNR image (detector+restorer)": float(np.mean([psnr(f, c.clean) for f, c in zip(full, cases)])),
            "dSSIM min": float(d_ssim.min()), "dSSIM mean": float(d_ssim.mean()),
            "images with lower SSIM than damaged": int((d_ssim < 0).sum()),
            "mask precision@2px": p, "mask recall@2px": r, "mask F1@2px": f1}


DSSIM_BINS = [-1, -0.01, 0, 0.01, 0.02, 0.05, 0.1, 1]


def error_budget(restored, cases) -> dict:
    """Where the pipeline's error lies, as shares of the damage's squared error (damaged vs clean, pooled
    over the test set): how much of it lies in pixels the pipeline changed (what the mask found), how much
    is left there after the repair, and how much the repair added off the damage (painting over false
    positives). Separates a detector that misses damage from a restorer that repairs it badly."""
    total = found = left = added = 0.0
    for out, c in zip(restored, cases):
        before = ((c.damaged - c.clean) ** 2).sum(2)
        after = ((out - c.clean) ** 2).sum(2)
        changed = (out != c.damaged).any(axis=2)
        off_damage = changed & ~(api.repair_weight(c.mask) > 0)
        total += before.sum()
        found += before[changed].sum()
        left += after[changed & ~off_damage].sum()
        added += after[off_damage].sum() - before[off_damage].sum()
    return {"% damage error in changed pixels": float(100 * found / total),
            "% left there after repair": float(100 * left / total),
            "% added off the damage": float(100 * added / total)}


def _pipeline(cases, clean, threshold) -> tuple[dict, dict]:
    """restore(damaged) against the clean picture (ΔSSIM over the damaged input, as Ivanova et al.), and
    restore(clean) against itself: how much of an undamaged photo the pipeline touches."""
    start = time.perf_counter()
    label = "pipeline, " + ("auto mask" if threshold is None else f"threshold {threshold}")
    full = [api.restore(c.damaged, threshold=threshold) for c in _each(cases, label)]
    spm = (time.perf_counter() - start) / (sum(c.mask.size for c in cases) / 1e6)
    d_ssim = np.array([ssim_map(f, c.clean).mean() - c.damaged_ssim for f, c in zip(full, cases)])
    budget = error_budget(full, cases)
    clean_out = [api.restore(c, threshold=threshold) for c in _each(clean, label + ", clean photos")]
    changed = [float((o != c).any(axis=2).mean()) for o, c in zip(clean_out, clean)]
    return ({"threshold": "auto" if threshold is None else threshold,
             "PSNR image (detector+restorer)": float(np.mean([psnr(f, c.clean) for f, c in zip(full, cases)])),
             "PSNR image (damaged)": float(np.mean([psnr(c.damaged, c.clean) for c in cases])),
             "dSSIM min": float(d_ssim.min()), "dSSIM mean": float(d_ssim.mean()),
             "images with lower SSIM than damaged": int((d_ssim < 0).sum()),
             "dSSIM histogram": np.histogram(d_ssim, bins=DSSIM_BINS)[0].tolist(), "dSSIM bins": DSSIM_BINS,
             "s/MP": spm, **budget},
            {"images": len(clean),
             "mean SSIM(out, in)": float(np.mean([ssim_map(o, c).mean() for o, c in zip(clean_out, clean)])),
             "mean % pixels changed": 100 * float(np.mean(changed)),
             "max % pixels changed": 100 * float(np.max(changed))})


def print_table(rows: dict) -> None:
    cols = []
    for r in rows.values():
        cols += [k for k in r if k not in cols]
    width = max(len(n) for n in rows) + 2
    print("method".ljust(width) + "".join(c.rjust(max(12, len(c) + 2)) for c in cols))
    for name, r in rows.items():
        cells = []
        for c in cols:
            v = r.get(c, "")
            cells.append((f"{v:.4f}" if isinstance(v, float) else str(v)).rjust(max(12, len(c) + 2)))
        print(name.ljust(width) + "".join(cells))


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="unscratch eval")
    ap.add_argument("what", choices=("detect", "restore"))
    ap.add_argument("--per-photo", type=int, default=None)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--write-card", action="store_true",
                    help="store these held-out metrics (and, for detect, the val-tuned threshold) in the shipped card")
    args = ap.parse_args(argv)
    if args.what == "detect":
        res = eval_detect(args.per_photo or 3, args.size, args.seed)
        print(f"held-out test split: {res['n_test_images']} damaged crops ({res['test_megapixels']:.1f} MP, "
              f"{res['n_specks']} dust specks), {res['n_clean_images']} clean crops; thresholds tuned on "
              f"{res['n_val_images']} val crops; tolerance {TOLERANCE_PX} px")
    else:
        res = eval_restore(args.per_photo or 1, args.size, args.seed)
        print(f"held-out test split: {res['n_images']} damaged crops ({res['megapixels']:.1f} MP), oracle masks, "
              "every method composited inside the same dilated mask")
    print_table(res["rows"])
    if "fill" in res:
        print(f"fill mode, one {res['fill']['hole diameters px']} px elliptical hole per clean test crop:")
        print_table(res["fill"]["rows"])
    for key in ("pipeline", "clean input", "pipeline, interactive mask", "clean input, interactive mask",
                "pipeline, infrared plane (simulated)"):
        if key in res:
            print(f"{key}: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in res[key].items()))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    if args.write_card:
        write_card(args.what, res, " ".join(["unscratch eval", args.what] + (argv if argv is not None else sys.argv[1:])[1:]))
    return 0


def write_card(task: str, res: dict, command: str) -> None:
    """Put the held-out numbers into the default model's card; the sha256 covers the ONNX file only."""
    card = models.default_card(task)
    if card is None:
        raise SystemExit(f"no shipped {task} model to write metrics into")
    data = json.loads(card.path.with_suffix(".json").read_text())
    data["metrics"] = {"command": command.replace(" --write-card", ""), **res}
    if task == "detect":
        data["threshold"] = res["rows"]["unscratch model"]["threshold (tuned on val)"]
        data["auto_threshold"] = res["rows"]["unscratch model, restore's auto mask"]["threshold (tuned on val)"]
    card.path.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote metrics into {card.path.with_suffix('.json')}")


if __name__ == "__main__":
    import sys
    sys.exit(main())

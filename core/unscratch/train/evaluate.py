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
from . import eval_damage as ed
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


def make_cases(split: str, n_per_photo: int, size: int, seed: int, jpeg=None, families=None,
               photos=None) -> list[Case]:
    """Damaged crops of the split's photos at native-ish resolution (scale 0.5–1), damage from that split's
    sprites. `families`: only these of the simulator's damage families (see simulator_families)."""
    bank = simulate.OverlayBank(split=split)
    rng = np.random.default_rng([seed, {"train": 0, "val": 1, "test": 2}[split]])
    only = {} if families is None else {"families": list(families)}
    cases = []
    for path in _each(pool.photo_paths(split) if photos is None else photos, f"damaging {split} photos"):
        photo = np.rint(pool.load_photo(path) * 255).astype(np.uint8)
        for _ in range(n_per_photo):
            d = simulate.make_pair(photo, rng, bank, size=min(size, *photo.shape[:2]), scale_range=(0.5, 1.0),
                                   severity=float(rng.uniform(0.15, 0.8)), jpeg=jpeg, **only)
            cases.append(Case(d.damaged, d.clean, d.mask, d.opacity))
    return cases


def clean_crops(split: str, size: int, seed: int, photos=None) -> list[np.ndarray]:
    """Undamaged photos: each photo's centre crop as-is, and one aged (grain, fade, JPEG) but undamaged crop."""
    rng = np.random.default_rng([seed, 99])
    out = []
    for path in pool.photo_paths(split) if photos is None else photos:
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


QUICK = {"photos": 5, "per_photo": 1, "size": 384}  # --quick: a small run, minutes not tens of minutes


def eval_detect(n_per_photo: int = 3, size: int = 512, seed: int = 0, quick: bool = False,
                photos: str = "auto") -> dict:
    """The simulator's test split, the simulator's families one at a time, and the independent generator's
    damage (eval_damage) on `photos`, each with the threshold tuned on the simulator's val split."""
    detectors = {"classical (median diff.)": "classical"}
    if models.default_card("detect") is not None:
        detectors["unscratch model"] = "model"
    few = (lambda xs: xs[:QUICK["photos"]]) if quick else (lambda xs: xs)
    val = make_cases("val", 1 if quick else 2, size, seed, photos=few(pool.photo_paths("val")))
    test = make_cases("test", n_per_photo, size, seed, photos=few(pool.photo_paths("test")))
    clean = clean_crops("test", 1024, seed, photos=few(pool.photo_paths("test")))
    indep = independent_sets(few(ed.eval_photos(photos)), n_per_photo, size, seed)
    sim_photos = _spread(few(pool.photo_paths("test")), FAMILY_PHOTOS)
    sim_sets = {f: (lambda f=f: make_cases("test", 1, size, seed, families=[f], photos=sim_photos))
                for f in (simulator_families() or ())}  # made when used: all at once would not fit in memory
    truths = [c.mask for c in test]
    clear = [c.mask & (np.abs(c.damaged - c.clean).max(axis=2) >= CLEAR_DELTA) for c in test]
    rows, indep_rows, indep_fam, sim_fam = {}, {}, {}, {}
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
        high = None
        if det == "model":  # the stricter mask restore(mask=None) repairs, tuned on clean val photos
            vclean = clean_crops("val", 1024, seed, photos=few(pool.photo_paths("val")))
            high = auto_threshold(_probabilities(det, vclean)[0], th)
            preds = [api.hysteresis(p, high, th) for p in probs]
            p, r, f1 = tolerant_prf(preds, truths)
            cmasks = [api.hysteresis(c, high, th) for c in cprobs]
            rows[name + ", restore's auto mask"] = {
                "threshold (tuned on val)": high, "precision@2px": p, "recall@2px": r, "F1@2px": f1,
                CLEAR_RECALL: tolerant_prf(preds, clear)[1],
                "speck recall": speck_recall(preds, truths)[0],
                "clean FP area %": 100 * sum(int(m.sum()) for m in cmasks) / sum(m.size for m in cmasks),
                "clean repaired area %": 100 * float(np.mean([(api.repair_weight(m) > 0).mean() for m in cmasks]))}
        shipped = api.get_detector(det)  # the thresholds users get, from the card (not retuned here)
        got_rows, indep_fam[name] = independent_detect(name, det, shipped.threshold,
                                                       getattr(shipped, "auto_threshold", None), indep, th)
        indep_rows.update(got_rows)
        if sim_sets:
            sim_fam[name] = {f: _family_row(*_family_probs(det, make()), shipped.threshold)
                             for f, make in sim_sets.items()}
    return {"rows": rows, "n_test_images": len(test), "n_val_images": len(val), "n_clean_images": len(clean),
            "n_specks": n_specks, "test_megapixels": sum(c.mask.size for c in test) / 1e6,
            "independent": {"rows": indep_rows, "families": indep_fam, "photos": indep["photos"],
                            "n_images": len(indep["mixed"]), "n_clean_images": len(indep["clean"]),
                            "n_per_family": indep["n_per_family"],
                            "thresholds": "each detector's own (its card's threshold and auto_threshold)"},
            "simulator families": sim_fam if sim_sets else
            "not available: simulate.make_pair has no families= keyword (or simulate no FAMILIES) yet"}


# --- the independent generator: damage the simulator never drew ---------------------------------------
def simulator_families():
    """The simulator's damage family names, when its make_pair can draw one family alone (families=);
    None until it can."""
    import inspect
    names = getattr(simulate, "FAMILIES", None)
    params = inspect.signature(simulate.make_pair).parameters
    takes = "families" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    return list(names) if names is not None and takes else None


FAMILY_PHOTOS = 20  # one crop of each of at most this many photos per family drawn alone (time and memory)


def _spread(items: list, n: int) -> list:
    """At most n items, evenly spread over the list (photos are sorted by source)."""
    return list(items) if len(items) <= n else [items[int(i * len(items) / n)] for i in range(n)]


def independent_sets(photos, n_per_photo: int, size: int, seed: int, jpeg: bool = True) -> dict:
    """Damaged crops with every family mixed, clean crops, and for each family a maker of crops with that
    family alone (one crop per photo of at most FAMILY_PHOTOS), made when used to bound memory."""
    few = _spread(photos, FAMILY_PHOTOS)
    return {"photos": len(photos), "n_per_family": len(few),
            "mixed": ed.make_samples(photos, n_per_photo, size, seed, jpeg=jpeg,
                                     progress=lambda xs: _each(xs, "independent damage")),
            "families": {f: (lambda f=f: ed.make_samples(few, 1, size, seed, [f], jpeg=jpeg))
                         for f in ed.FAMILIES},
            "clean": ed.clean_samples(photos, size, seed)}


def _family_probs(det: str, cases) -> tuple[list, list]:
    """(probability maps, true masks) of one family's crops (Case or eval_damage.Sample)."""
    return _probabilities(det, [c.damaged for c in cases])[0], [c.mask for c in cases]


def _family_row(probs, truths, th) -> dict:
    p, r, f1 = tolerant_prf([pr >= th for pr in probs], truths)
    return {"F1@2px": f1, "recall@2px": r, "precision@2px": p, "true px": int(sum(t.sum() for t in truths))}


def independent_detect(name: str, det: str, th: float, high, sets: dict, tuned: float | None = None
                       ) -> tuple[dict, dict]:
    """The independent generator's figures for one detector at the thresholds users get: `th` (the
    detector's own, from its card) and, for the model, restore's auto mask (`high`, the card's
    auto_threshold); also at `tuned` (tuned on the simulator's val) when that differs. Returns table rows,
    and per family F1/recall at `th` (each family drawn alone, and within the mixed crops)."""
    mixed = sets["mixed"]
    truths = [s.mask for s in mixed]
    probs, _ = _probabilities(det, [s.damaged for s in mixed])
    cprobs, _ = _probabilities(det, sets["clean"])
    area = sum(c.size for c in cprobs)
    variants = [(f"{name} @ {th:g}", th, None)]
    if high:
        variants.append((f"{name}, restore's auto mask @ {high:g}", th, high))
    if tuned is not None and tuned != th:
        variants.append((f"{name} @ {tuned:g} (tuned on the simulator's val)", tuned, None))
    rows, plain = {}, None
    for label, low, hi in variants:
        def mask_of(p, low=low, hi=hi):
            return api.hysteresis(p, hi, low) if hi else p >= low
        preds = [mask_of(p) for p in probs]
        p, r, f1 = tolerant_prf(preds, truths)
        rows[label] = {"threshold": hi or low, "precision@2px": p, "recall@2px": r, "F1@2px": f1,
                       "speck recall": speck_recall(preds, truths)[0],
                       "clean FP area %": 100 * sum(int(mask_of(c).sum()) for c in cprobs) / area}
        if plain is None:
            rows[label]["AP"] = average_precision(probs, truths)
            plain = preds
    fams = {f: _family_row(*_family_probs(det, make()), th) for f, make in sets["families"].items()}
    for f in ed.FAMILIES:  # and each family's recall where the families are mixed
        fam = [s.family_mask(f) for s in mixed]
        has = any(m.any() for m in fam)
        fams[f]["recall@2px (mixed crops)"] = tolerant_prf(plain, fam)[1] if has else float("nan")
    return rows, fams


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


def _restore_row(inp, cases, grain: bool = False, keep: list | None = None) -> dict:
    """One method's row with oracle masks, and each image's whole-image PSNR; `keep` collects the results."""
    start = time.perf_counter()
    weights = [api.repair_weight(c.mask) for c in cases]
    pairs = _each(list(zip(cases, weights)), getattr(inp, "name", "repair"))
    results = [api.repair(c.damaged, w, inp, grain=grain) for c, w in pairs]
    if keep is not None:
        keep.extend(results)
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


def eval_restore(n_per_photo: int = 1, size: int = 512, seed: int = 0, quick: bool = False,
                 photos: str = "auto", crops: str | None = None) -> dict:
    """The simulator's test split with oracle masks, fill mode, the full pipeline; then the same on the
    independent generator's damage (eval_damage) on `photos`; `crops`: write a sheet of opaque scratches
    after each method there."""
    few = (lambda xs: xs[:QUICK["photos"]]) if quick else (lambda xs: xs)
    cases = make_cases("test", n_per_photo, size, seed, jpeg=False, photos=few(pool.photo_paths("test")))
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
    clean = clean_crops("test", 512, seed, photos=few(pool.photo_paths("test")))
    res = {"rows": rows, "n_images": len(cases), "megapixels": mp, "fill": eval_fill(cases, seed)}
    # the full pipeline: our detector, then our restorer, no oracle; with restore's own (auto) mask, and with
    # the interactive mask a user reviews in an editor, whose false positives the restorer must leave intact
    res["pipeline"], res["clean input"] = _pipeline(cases, clean, None)
    res["pipeline"]["PSNR image (restorer, oracle mask)"] = float(np.mean(oracle_psnr))
    interactive = api.get_detector().threshold
    if interactive is not None:
        res["pipeline, interactive mask"], res["clean input, interactive mask"] = _pipeline(cases, clean, interactive)
    res["pipeline, infrared plane (simulated)"] = _infrared_pipeline(cases, seed)
    indep_photos = few(ed.eval_photos(photos))
    res["independent"] = independent_restore(indep_photos, n_per_photo, size, seed)
    if crops:
        opaque_crops(indep_photos, seed, crops)
        res["independent"]["crops"] = crops
    return res


def restore_methods() -> dict:
    """Our restorer as restore() runs it on defects and in fill mode (the hole's pixels hidden), then
    every baseline, all composited through the same api.repair."""
    out = {}
    if models.default_card("restore") is not None:
        out["restore (defects)"] = api.get_inpainter("model")
        out["restore (mode='fill')"] = api.get_inpainter("model", fill=True)
    out.update((k, v) for k, v in inpainters().items() if k != "unscratch model")
    return out


def independent_restore(photos, n_per_photo: int, size: int, seed: int) -> dict:
    """Oracle-mask repair and the full pipeline on the independent generator's damage (no JPEG, so the
    clean target is exact outside the damage)."""
    samples = ed.make_samples(photos, n_per_photo, size, seed, jpeg=False,
                              progress=lambda xs: _each(xs, "independent damage"))
    cases = [Case(s.damaged, s.clean, s.mask, np.zeros(s.mask.shape, np.float32)) for s in samples]
    rows, oracle, methods, kept = {}, {}, restore_methods(), {}
    for name, inp in methods.items():
        if isinstance(inp, str):
            rows[name] = {"note": inp}
            continue
        subset = cases[:SLOW_SUBSET] if isinstance(inp, (GmicInpainter, BiharmonicInpainter)) else cases
        kept[name] = [] if subset is cases else None
        rows[name if subset is cases else f"{name}, first {SLOW_SUBSET}"], oracle[name] = _restore_row(
            inp, subset, keep=kept[name])
        if name == "restore (defects)":
            grained = _restore_row(inp, subset, grain=True)
            rows[name + " + grain (restore's default)"], oracle["grain"] = grained
    if any(isinstance(v, (GmicInpainter, BiharmonicInpainter)) for v in methods.values()):
        for name in ("restore (defects)", "OpenCV Telea"):  # beside the slow baselines, on their images
            if name in oracle:
                rows[f"{name}, first {SLOW_SUBSET}"] = _restore_row(methods[name], cases[:SLOW_SUBSET])[0]
    clean = ed.clean_samples(photos, size // 2, seed)
    res = {"rows": rows, "n_images": len(cases), "photos": len(photos),
           "families": _family_psnr(samples, {k: v for k, v in kept.items() if v})}
    res["pipeline"], res["clean input"] = _pipeline(cases, clean, None)
    best = oracle.get("grain", oracle.get("restore (defects)", oracle.get("OpenCV Telea")))
    res["pipeline"]["PSNR image (restorer, oracle mask)"] = float(np.mean(best))
    interactive = api.get_detector().threshold
    if interactive is not None:
        both = _pipeline(cases, clean, interactive)
        res["pipeline, interactive mask"], res["clean input, interactive mask"] = both
    return res


def _family_psnr(samples, results: dict) -> dict:
    """PSNR inside each family's own mask pixels (mean over the images that have it), per method: which
    kinds of damage a method repairs worse than another."""
    out = {}
    for i, f in enumerate(ed.FAMILIES):
        has = [j for j, s in enumerate(samples) if (s.family == i).any()]
        if has:
            out[f] = {m: float(np.mean([psnr(res[j], samples[j].clean, samples[j].family == i) for j in has]))
                      for m, res in results.items()}
            out[f]["images"] = len(has)
    return out


CROP = 128  # px: the side of each crop in the opaque-scratch sheet


def opaque_crops(photos, seed: int, path, n: int = 4) -> None:
    """A sheet (rows: crops; columns: damaged, clean, then each method with the true mask) of fully
    opaque scratches and cracks from the independent generator: a ghost line left by a method shows."""
    samples = ed.make_samples(photos[:max(n, 1) * 2], 1, 256, seed + 1, ["scratch"], jpeg=False, opaque=True)
    samples = sorted(samples, key=lambda s: -int(s.mask.sum()))[:n]
    methods = {k: v for k, v in restore_methods().items() if not isinstance(v, (str, GmicInpainter))}
    tiles = []
    for s in samples:
        ys, xs = np.nonzero(s.mask)
        mid = len(ys) // 2
        y0 = int(np.clip(ys[mid] - CROP // 2, 0, s.mask.shape[0] - CROP))
        x0 = int(np.clip(xs[mid] - CROP // 2, 0, s.mask.shape[1] - CROP))
        weight = api.repair_weight(s.mask)
        outs = [s.damaged, s.clean] + [api.repair(s.damaged, weight, inp, grain=name == "restore (defects)")
                                       for name, inp in methods.items()]
        tiles.append([o[y0:y0 + CROP, x0:x0 + CROP] for o in outs])
    short = {"restore (defects)": "restore", "restore (mode='fill')": "restore fill", "OpenCV Telea": "Telea",
             "OpenCV Navier-Stokes": "Navier-Stokes", "skimage biharmonic": "biharmonic"}
    labels = ["damaged", "clean"] + [short.get(k, k) for k in methods]
    _write_sheet(path, tiles, labels)


def _write_sheet(path, tiles, labels, gap: int = 4) -> None:
    """Rows of equal tiles (float RGB in [0, 1]) with a label above each column, written atomically
    (PNG or JPEG by suffix)."""
    import os
    from pathlib import Path
    path = Path(path)
    h, w = tiles[0][0].shape[:2]
    header = 18
    sheet = np.full((header + len(tiles) * (h + gap), len(labels) * (w + gap), 3), 255, np.uint8)
    for j, label in enumerate(labels):
        cv2.putText(sheet, label[:w // 6], (j * (w + gap) + 2, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0),
                    1, cv2.LINE_AA)
    for i, row in enumerate(tiles):
        for j, t in enumerate(row):
            y, x = header + i * (h + gap), j * (w + gap)
            sheet[y:y + h, x:x + w] = np.rint(np.clip(t, 0, 1) * 255).astype(np.uint8)[:, :, ::-1]  # BGR
    path.parent.mkdir(parents=True, exist_ok=True)
    jpeg = path.suffix.lower() in (".jpg", ".jpeg")
    ok, buf = cv2.imencode(path.suffix or ".png", sheet, [cv2.IMWRITE_JPEG_QUALITY, 80] if jpeg else [])
    if not ok:
        raise ValueError(f"{path}: cannot write an image with this suffix (use .png or .jpg)")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buf.tobytes())
    os.replace(tmp, path)


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


# --- real photos ------------------------------------------------------------------------------------
REAL_SIDE = 360  # px: the longest side of each panel of a real photo's contact sheet


def eval_real(folder, out, side: int = REAL_SIDE) -> list[dict]:
    """detect() and restore(image) on every photo of `folder`: per photo the mask % (interactive
    threshold), the % of pixels restore() changes, and a contact sheet in `out` (input | mask over the input
    in red | automatic repair). Real damage has no clean target: the sheets are for looking at."""
    from pathlib import Path
    from .. import io
    folder, out = Path(folder), Path(out)
    exts = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in exts)
    if not files:
        raise ValueError(f"{folder}: no photos (png, jpg, tif) in this folder")
    if out.resolve() == folder.resolve():
        raise ValueError(f"{out}: the sheets must go to another folder than the photos")
    rows = []
    for f in _each(files, "real photos"):
        img = io.read(f)
        detection = api.detect(img)
        fixed = api.restore(img)
        def colour(x):
            return x[:, :, :3] if x.ndim == 3 else x[:, :, None].repeat(3, 2)
        white = np.float32(np.iinfo(img.dtype).max if img.dtype.kind == "u" else 1)
        rgb, rep = (colour(x).astype(np.float32) / white for x in (img, fixed))
        changed = (colour(fixed) != colour(img)).any(axis=2)
        red = rgb.copy()
        red[detection.mask] = 0.3 * red[detection.mask] + 0.7 * np.array([1, 0, 0], np.float32)
        scale = min(1.0, side / max(img.shape[:2]))
        small = [cv2.resize(x, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                 for x in (rgb, red, rep)]
        _write_sheet(out / f"{folder.name}-{f.stem}.jpg", [small], ["input", "mask (red)", "restore(image)"])
        rows.append({"photo": f.name, "mask %": 100 * float(detection.mask.mean()),
                     "changed %": 100 * float(changed.mean())})
    return rows


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
            cells.append((f"{v:.4f}" if isinstance(v, float) else str(v)).rjust(max(12, len(c) + 2)))
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
                                        "./real-photo-sheets); eval restore: the sheet of opaque-scratch "
                                        "crops (.png or .jpg)")
    ap.add_argument("--per-photo", type=int, default=None)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true",
                    help=f"a small run: the first {QUICK['photos']} photos, {QUICK['per_photo']} crop each, "
                         f"{QUICK['size']} px (not for the card)")
    ap.add_argument("--photos", default="auto",
                    help="photos for the independent damage: a folder or a pool split (default: the pool's "
                         "held-out eval photos, else its test split)")
    ap.add_argument("--side", type=int, default=REAL_SIDE,
                    help="eval real: longest side of each sheet panel, px")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--write-card", action="store_true",
                    help="store these held-out metrics (and, for detect, the val-tuned threshold) in the shipped card")
    args = ap.parse_args(argv)
    if args.what == "real":
        if not args.folder:
            ap.error("eval real needs a folder of photos")
        rows = eval_real(args.folder, args.out or "real-photo-sheets", args.side)
        print(f"{len(rows)} photos from {args.folder}; contact sheets in {args.out or 'real-photo-sheets'}")
        print_table({r["photo"]: {k: v for k, v in r.items() if k != "photo"} for r in rows}, "photo")
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
        print(f"held-out test split: {res['n_test_images']} damaged crops ({res['test_megapixels']:.1f} MP, "
              f"{res['n_specks']} dust specks), {res['n_clean_images']} clean crops; thresholds tuned on "
              f"{res['n_val_images']} val crops; tolerance {TOLERANCE_PX} px")
    else:
        res = eval_restore(args.per_photo or 1, args.size, args.seed, args.quick, args.photos, args.out)
        print(f"held-out test split: {res['n_images']} damaged crops ({res['megapixels']:.1f} MP), oracle masks, "
              "every method composited inside the same dilated mask")
    print_table(res["rows"])
    if "fill" in res:
        print(f"fill mode, one {res['fill']['hole diameters px']} px elliptical hole per clean test crop:")
        print_table(res["fill"]["rows"])
    for key in ("pipeline", "clean input", "pipeline, interactive mask", "clean input, interactive mask",
                "pipeline, infrared plane (simulated)"):
        if key in res:
            _print_pairs(key, res[key])
    if isinstance(res.get("simulator families"), dict):
        _print_families("simulator's test split, one family at a time (each detector's own threshold, as "
                        "shipped):", res["simulator families"])
    elif "simulator families" in res:
        print("simulator's families: " + res["simulator families"])
    ind = res["independent"]
    print(f"\nINDEPENDENT damage (eval_damage, not the simulator): {ind['n_images']} crops of "
          f"{ind['photos']} photos"
          + (f", {ind['n_clean_images']} clean crops, {ind['n_per_family']} crops per family alone; each "
             "detector's own thresholds (as shipped)" if args.what == "detect" else ", true masks"))
    print_table(ind["rows"])
    if args.what == "detect":
        _print_families("independent damage, one family at a time (recall also within the mixed crops), "
                        "each detector's own threshold:",
                        ind["families"])
    else:
        print("independent damage, PSNR inside each family's mask pixels (true masks):")
        print_table(ind["families"], "family")
    for key in ("pipeline", "clean input", "pipeline, interactive mask", "clean input, interactive mask"):
        if key in ind:
            _print_pairs(f"independent {key}", ind[key])
    if ind.get("crops"):
        print(f"opaque-scratch crops after each method: {ind['crops']}")
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

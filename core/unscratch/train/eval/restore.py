"""`unscratch eval restore`: the restorer and its baselines (OpenCV, skimage, G'MIC) with oracle
masks, fill mode on large holes, the full detector+restorer pipeline (also with a simulated infrared
plane), the same on the independent generator's damage, and the sheet of opaque-scratch crops."""
from __future__ import annotations

import time

import cv2
import numpy as np

from ... import api, models
from ...classical import ClassicalInpainter
from ...metrics import psnr, ssim_map
from .. import pool, simulate
from . import independent_damage as ed
from .cases import QUICK, Case, _each, clean_crops, make_cases
from .detect import tolerant_prf
from .real import _write_sheet


# --- restoration ---------------------------------------------------------------------------------
class BiharmonicInpainter:
    name, tile, overlap = "skimage biharmonic", 256, 32

    def __call__(self, tile):
        from skimage.restoration import inpaint_biharmonic
        planes, hole = tile[:, :, :-1], tile[:, :, -1] > 0
        return (inpaint_biharmonic(planes, hole, channel_axis=-1).astype(np.float32) if hole.any()
                else planes)


class GmicInpainter:
    """G'MIC's patch-based `inpaint` (Daisy et al.) through the PyPI gmic package."""
    name, tile, overlap = "G'MIC patch-based", 512, 64

    def __call__(self, tile):
        import gmic
        planes, hole = tile[:, :, :-1], tile[:, :, -1:]
        if not hole.any():
            return planes
        imgs = [gmic.Image.from_yxc(np.ascontiguousarray(planes * 255)),
                gmic.Image.from_yxc(np.ascontiguousarray(hole * 255))]
        out = gmic.run("inpaint[0] [1],7,16,0.1,1,1.2,0,0.05,10,1", imgs)
        res = np.asarray(out[0].yxc if not callable(getattr(out[0], "yxc", None)) else out[0].yxc(),
                         np.float32)
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


# biharmonic and G'MIC take minutes per megapixel here: they run on the first images only
SLOW_SUBSET = 4
# the simulator's masks leave out a defect's faint fringe: oracle holes grow by 2 px and feather
# over 2, as the restorer was trained and its card's metrics measured
ORACLE_GROWTH = api.DETECTED_GROWTH
SLOW = (GmicInpainter, BiharmonicInpainter)  # these run on the first SLOW_SUBSET cases only


def _runnable(methods: dict, cases: list, rows: dict):
    """(name, inpainter, the cases it runs on) for each method; a method that cannot run here (a
    string saying why) goes into ``rows`` as a note instead."""
    for name, inp in methods.items():
        if isinstance(inp, str):
            rows[name] = {"note": inp}
        else:
            yield name, inp, cases[:SLOW_SUBSET] if isinstance(inp, SLOW) else cases


def grain_ratio(result: np.ndarray, clean: np.ndarray, where: np.ndarray) -> float:
    """Fine-scale (high-pass, 1 px) standard deviation of luminance inside `where`, result over
    clean: about 1 when a fill keeps the grain, well below 1 for a smooth 'plastic' patch."""
    def hf(x):
        luma = x.mean(axis=2)
        return (luma - cv2.GaussianBlur(luma, (0, 0), 1.0))[where].std()
    return float(hf(result) / max(hf(clean), 1e-6))


def _restore_row(inp, cases, grain: bool = False, keep: list | None = None) -> dict:
    """One method's row with oracle masks, and each image's whole-image PSNR; `keep` collects the
    results."""
    start = time.perf_counter()
    weights = [api.repair_weight(c.mask, *ORACLE_GROWTH) for c in cases]
    pairs = _each(list(zip(cases, weights)), getattr(inp, "name", "repair"))
    results = [api.repair(c.damaged, w, inp, grain=grain) for c, w in pairs]
    if keep is not None:
        keep.extend(results)
    spm = (time.perf_counter() - start) / (sum(c.mask.size for c in cases) / 1e6)
    inside = [w > 0 for w in weights]
    ssims = [ssim_map(r, c.clean) for r, c in zip(results, cases)]
    return {"images": len(cases),
            "PSNR in mask": float(np.mean([psnr(r, c.clean, m)
                                           for r, c, m in zip(results, cases, inside) if m.any()])),
            "SSIM in mask": float(np.mean([s[m].mean() for s, m in zip(ssims, inside) if m.any()])),
            "PSNR image": float(np.mean([psnr(r, c.clean) for r, c in zip(results, cases)])),
            "SSIM image": float(np.mean([s.mean() for s in ssims])),
            # the pipeline's no-image-gets-worse target, with a perfect mask: what the repair
            # alone does
            "images losing SSIM": int(sum(s.mean() < c.damaged_ssim for s, c in zip(ssims, cases))),
            "grain ratio in mask": float(np.mean([grain_ratio(r, c.clean, m)
                                                  for r, c, m in zip(results, cases, inside)
                                                  if m.sum() > 50])),
            "s/MP": spm}, [psnr(r, c.clean) for r, c in zip(results, cases)]


def large_holes(cases, seed: int) -> list[np.ndarray]:
    """One ellipse per crop, 64–160 px across, well inside the crop: the selections fill mode must
    heal."""
    rng = np.random.default_rng([seed, 7])
    holes = []
    for c in cases:
        h, w = c.clean.shape[:2]
        ay, ax = rng.uniform(32, min(80, h / 4)), rng.uniform(32, min(80, w / 4))
        cy, cx = rng.uniform(ay + 16, h - ay - 16), rng.uniform(ax + 16, w - ax - 16)
        hole = np.zeros((h, w), np.uint8)
        cv2.ellipse(hole, (int(cx), int(cy)), (int(ax), int(ay)), float(rng.uniform(0, 180)),
                    0, 360, 1, -1)
        holes.append(hole > 0)
    return holes


def _border_ratio(result, clean, hole) -> float:
    """Mean gradient magnitude on the hole's boundary (2 px either side), result over clean: about 1
    when the border is invisible, above 1 for a visible seam."""
    ring = (cv2.dilate(hole.astype(np.uint8), np.ones((5, 5), np.uint8))
            > cv2.erode(hole.astype(np.uint8), np.ones((5, 5), np.uint8)))

    def grad(x):
        luma = x.mean(axis=2)
        return np.hypot(cv2.Sobel(luma, cv2.CV_32F, 1, 0),
                        cv2.Sobel(luma, cv2.CV_32F, 0, 1))[ring].mean()
    return float(grad(result) / max(grad(clean), 1e-6))


def eval_fill(cases, seed: int) -> dict:
    """Fill mode on large holes cut into clean test photos, as restore() does it (grain included):
    our restorer against Telea."""
    holes = large_holes(cases, seed)
    methods = {"unscratch model (fill mode)": {},
               "OpenCV Telea (method=classical)": {"method": "classical"}}
    rows = {}
    for name, kw in methods.items():
        out = [api.restore(c.clean, region=hole, mode="fill", **kw)
               for c, hole in _each(list(zip(cases, holes)), name)]
        rows[name] = {
            "PSNR in hole": float(np.mean([psnr(o, c.clean, m)
                                           for o, c, m in zip(out, cases, holes)])),
            "SSIM in hole": float(np.mean([ssim_map(o, c.clean)[m].mean()
                                           for o, c, m in zip(out, cases, holes)])),
            "border gradient ratio": float(np.mean([_border_ratio(o, c.clean, m)
                                                    for o, c, m in zip(out, cases, holes)])),
            "colour shift (max channel mean)": float(np.mean(
                [np.abs(o[m].mean(0) - c.clean[m].mean(0)).max()
                 for o, c, m in zip(out, cases, holes)])),
            "grain ratio in hole": float(np.mean([grain_ratio(o, c.clean, m)
                                                  for o, c, m in zip(out, cases, holes)]))}
    return {"rows": rows, "hole diameters px": "64-160"}


def eval_restore(n_per_photo: int = 1, size: int = 512, seed: int = 0, quick: bool = False,
                 photos: str = "auto", crops: str | None = None) -> dict:
    """The simulator's test split with oracle masks, fill mode, the full pipeline; then the same on
    the independent generator's damage (independent_damage) on `photos`; `crops`: write a sheet of
    opaque scratches after each method there."""
    few = (lambda xs: xs[:QUICK["photos"]]) if quick else (lambda xs: xs)
    cases = make_cases("test", n_per_photo, size, seed, jpeg=False,
                       photos=few(pool.photo_paths("test")))
    mp = sum(c.mask.size for c in cases) / 1e6
    rows, oracle_psnr = {}, []
    methods = inpainters()
    for name, inp, subset in _runnable(methods, cases, rows):
        rows[name], whole_psnr = _restore_row(inp, subset)
        if name == "unscratch model" or (not oracle_psnr and name == "OpenCV Telea"):
            oracle_psnr = whole_psnr
        # what restore() does by default: the same fill with grain added back
        if name == "unscratch model":
            rows[name + " + grain (restore's default)"] = _restore_row(inp, subset, grain=True)[0]
    if "unscratch model" in methods:
        rows[f"unscratch model, first {SLOW_SUBSET} (as biharmonic, G'MIC)"] = _restore_row(
            methods["unscratch model"], cases[:SLOW_SUBSET])[0]
    rows[f"Telea, first {SLOW_SUBSET}"] = _restore_row(methods["OpenCV Telea"],
                                                       cases[:SLOW_SUBSET])[0]
    clean = clean_crops("test", 512, seed, photos=few(pool.photo_paths("test")))
    res = {"rows": rows, "n_images": len(cases), "megapixels": mp, "fill": eval_fill(cases, seed)}
    # the full pipeline: our detector, then our restorer, no oracle; with restore's own (auto)
    # mask, and with
    # the interactive mask a user reviews in an editor, whose false positives the restorer must
    # leave intact
    res["pipeline"], res["clean input"] = _pipeline(cases, clean, None)
    res["pipeline"]["PSNR image (restorer, oracle mask)"] = float(np.mean(oracle_psnr))
    interactive = api.get_detector().threshold
    if interactive is not None:
        res["pipeline, interactive mask"], res["clean input, interactive mask"] = _pipeline(
            cases, clean, interactive)
    res["pipeline, infrared plane (simulated)"] = _infrared_pipeline(cases, seed)
    indep_photos = few(ed.eval_photos(photos))
    res["independent"] = independent_restore(indep_photos, n_per_photo, size, seed)
    if crops:
        opaque_crops(indep_photos, seed, crops)
        res["independent"]["crops"] = crops
    return res


def restore_methods() -> dict:
    """Our restorer as restore() runs it on defects and in fill mode (the hole's pixels hidden),
    then every baseline, all composited through the same api.repair."""
    out = {}
    if models.default_card("restore") is not None:
        out["restore (defects)"] = api.get_inpainter("model")
        out["restore (mode='fill')"] = api.get_inpainter("model", fill=True)
    out.update((k, v) for k, v in inpainters().items() if k != "unscratch model")
    return out


def independent_restore(photos, n_per_photo: int, size: int, seed: int) -> dict:
    """Oracle-mask repair and the full pipeline on the independent generator's damage (no JPEG, so
    the clean target is exact outside the damage)."""
    samples = ed.make_samples(photos, n_per_photo, size, seed, jpeg=False,
                              progress=lambda xs: _each(xs, "independent damage"))
    cases = [Case(s.damaged, s.clean, s.mask, np.zeros(s.mask.shape, np.float32)) for s in samples]
    rows, oracle, methods, kept = {}, {}, restore_methods(), {}
    for name, inp, subset in _runnable(methods, cases, rows):
        kept[name] = [] if subset is cases else None
        (rows[name if subset is cases else f"{name}, first {SLOW_SUBSET}"],
         oracle[name]) = _restore_row(inp, subset, keep=kept[name])
        if name == "restore (defects)":
            grained = _restore_row(inp, subset, grain=True)
            rows[name + " + grain (restore's default)"], oracle["grain"] = grained
    if any(isinstance(v, SLOW) for v in methods.values()):
        # beside the slow baselines, on their images
        for name in ("restore (defects)", "OpenCV Telea"):
            if name in oracle:
                rows[f"{name}, first {SLOW_SUBSET}"] = _restore_row(methods[name],
                                                                    cases[:SLOW_SUBSET])[0]
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
    """PSNR inside each family's own mask pixels (mean over the images that have it), per method:
    which kinds of damage a method repairs worse than another."""
    out = {}
    for i, f in enumerate(ed.FAMILIES):
        has = [j for j, s in enumerate(samples) if (s.family == i).any()]
        if has:
            out[f] = {m: float(np.mean([psnr(res[j], samples[j].clean, samples[j].family == i)
                                        for j in has]))
                      for m, res in results.items()}
            out[f]["images"] = len(has)
    return out


CROP = 128  # px: the side of each crop in the opaque-scratch sheet


def opaque_crops(photos, seed: int, path, n: int = 4) -> None:
    """A sheet (rows: crops; columns: damaged, clean, then each method with the true mask) of fully
    opaque scratches and cracks from the independent generator: a ghost line left by a method
    shows."""
    samples = ed.make_samples(photos[:max(n, 1) * 2], 1, 256, seed + 1, ["scratch"], jpeg=False,
                              opaque=True)
    samples = sorted(samples, key=lambda s: -int(s.mask.sum()))[:n]
    methods = {k: v for k, v in restore_methods().items()
               if not isinstance(v, (str, GmicInpainter))}
    tiles = []
    for s in samples:
        ys, xs = np.nonzero(s.mask)
        mid = len(ys) // 2
        y0 = int(np.clip(ys[mid] - CROP // 2, 0, s.mask.shape[0] - CROP))
        x0 = int(np.clip(xs[mid] - CROP // 2, 0, s.mask.shape[1] - CROP))
        weight = api.repair_weight(s.mask, *ORACLE_GROWTH)
        outs = [s.damaged, s.clean] + [
            api.repair(s.damaged, weight, inp, grain=name == "restore (defects)")
            for name, inp in methods.items()]
        tiles.append([o[y0:y0 + CROP, x0:x0 + CROP] for o in outs])
    short = {"restore (defects)": "restore", "restore (mode='fill')": "restore fill",
             "OpenCV Telea": "Telea", "OpenCV Navier-Stokes": "Navier-Stokes",
             "skimage biharmonic": "biharmonic"}
    labels = ["damaged", "clean"] + [short.get(k, k) for k in methods]
    _write_sheet(path, tiles, labels)


def _infrared_pipeline(cases, seed: int) -> dict:
    """The full pipeline on the same crops as film scans with an infrared plane
    (simulate.infrared_plane, a model of one, not a measured scanner), no oracle: what
    restore(detect_method="infrared") repairs."""
    rng = np.random.default_rng([seed, 77])
    full, masks = [], []
    for c in _each(cases, "pipeline, infrared plane"):
        scan = np.dstack([c.damaged, simulate.infrared_plane(c.clean, c.opacity, rng)])
        done = api.restore_and_report(scan, detect_method="infrared", keep_detection=True)
        masks.append(done.detection.mask)
        full.append(done.image[:, :, :3])
    d_ssim = np.array([ssim_map(f, c.clean).mean() - c.damaged_ssim for f, c in zip(full, cases)])
    p, r, f1 = tolerant_prf(masks, [c.mask for c in cases])
    return {"PSNR image (detector+restorer)":
                float(np.mean([psnr(f, c.clean) for f, c in zip(full, cases)])),
            "dSSIM min": float(d_ssim.min()), "dSSIM mean": float(d_ssim.mean()),
            "images with lower SSIM than damaged": int((d_ssim < 0).sum()),
            "mask precision@2px": p, "mask recall@2px": r, "mask F1@2px": f1}


DSSIM_BINS = [-1, -0.01, 0, 0.01, 0.02, 0.05, 0.1, 1]


def error_budget(restored, cases) -> dict:
    """Where the pipeline's error lies, as shares of the damage's squared error (damaged vs clean,
    pooled over the test set): how much of it lies in pixels the pipeline changed (what the mask
    found), how much is left there after the repair, and how much the repair added off the damage
    (painting over false positives). Separates a detector that misses damage from a restorer that
    repairs it badly."""
    total = found = left = added = 0.0
    for out, c in zip(restored, cases):
        before = ((c.damaged - c.clean) ** 2).sum(2)
        after = ((out - c.clean) ** 2).sum(2)
        changed = (out != c.damaged).any(axis=2)
        off_damage = changed & ~(api.repair_weight(c.mask, *ORACLE_GROWTH) > 0)
        total += before.sum()
        found += before[changed].sum()
        left += after[changed & ~off_damage].sum()
        added += after[off_damage].sum() - before[off_damage].sum()
    return {"% damage error in changed pixels": float(100 * found / total),
            "% left there after repair": float(100 * left / total),
            "% added off the damage": float(100 * added / total)}


def _pipeline(cases, clean, threshold) -> tuple[dict, dict]:
    """restore(damaged) against the clean picture (ΔSSIM over the damaged input, as Ivanova et al.),
    and restore(clean) against itself: how much of an undamaged photo the pipeline touches."""
    start = time.perf_counter()
    label = "pipeline, " + ("the card's rule" if threshold is None else f"threshold {threshold}")
    full = [api.restore(c.damaged, threshold=threshold) for c in _each(cases, label)]
    spm = (time.perf_counter() - start) / (sum(c.mask.size for c in cases) / 1e6)
    d_ssim = np.array([ssim_map(f, c.clean).mean() - c.damaged_ssim for f, c in zip(full, cases)])
    budget = error_budget(full, cases)
    clean_out = [api.restore(c, threshold=threshold)
                 for c in _each(clean, label + ", clean photos")]
    changed = [float((o != c).any(axis=2).mean()) for o, c in zip(clean_out, clean)]
    return ({"threshold": "the card's" if threshold is None else threshold,
             "PSNR image (detector+restorer)":
                 float(np.mean([psnr(f, c.clean) for f, c in zip(full, cases)])),
             "PSNR image (damaged)": float(np.mean([psnr(c.damaged, c.clean) for c in cases])),
             "dSSIM min": float(d_ssim.min()), "dSSIM mean": float(d_ssim.mean()),
             "images with lower SSIM than damaged": int((d_ssim < 0).sum()),
             "dSSIM histogram": np.histogram(d_ssim, bins=DSSIM_BINS)[0].tolist(),
             "dSSIM bins": DSSIM_BINS,
             "s/MP": spm, **budget},
            {"images": len(clean),
             "mean SSIM(out, in)":
                 float(np.mean([ssim_map(o, c).mean() for o, c in zip(clean_out, clean)])),
             "mean % pixels changed": 100 * float(np.mean(changed)),
             "max % pixels changed": 100 * float(np.max(changed))})

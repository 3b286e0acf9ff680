"""`unscratch eval detect`: detection metrics (tolerant precision/recall, speck recall, AP), the
val-tuned threshold, and the detectors' figures on the simulator's test split, on
each of its families alone, and on the independent generator's damage (independent_damage)."""
from __future__ import annotations

import time

import cv2
import numpy as np

from ... import api, models
from .. import pool, simulate
from . import independent_damage as ed
from .cases import QUICK, _each, clean_crops, make_cases

TOLERANCE_PX = 2
SPECK_MAX_AREA = 150  # px: a ground-truth component this small and compact counts as a dust speck
# damage whose |damaged - clean| (max channel, JPEG error included) reaches this is "clear";
# about half of what the detector misses changes the picture by less, at film grain's level
CLEAR_DELTA = 0.1
CLEAR_RECALL = f"recall@2px, clear damage (>= {CLEAR_DELTA})"


# --- detection metrics ---------------------------------------------------------------------------
def _near(mask: np.ndarray, px: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask.astype(np.uint8), k) > 0


def tolerant_counts(pred: np.ndarray, truth: np.ndarray, px: int = TOLERANCE_PX
                    ) -> tuple[int, int, int, int]:
    """(predicted pixels near truth, predicted, true pixels near a prediction, true)."""
    return (int((pred & _near(truth, px)).sum()), int(pred.sum()),
            int((truth & _near(pred, px)).sum()), int(truth.sum()))


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
        n, labels, stats, _ = cv2.connectedComponentsWithStats(truth.astype(np.uint8),
                                                               connectivity=8)
        for i in range(1, n):
            w, h, area = (stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT],
                          stats[i, cv2.CC_STAT_AREA])
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


def _probabilities(method: str, images) -> tuple[list, float]:
    """Probability maps through the public detect() (same tiling as users get) and seconds per
    MP."""
    start = time.perf_counter()
    out = [api.detect(img, method=method).probability
           for img in _each(images, f"detect ({method})")]
    mp = sum(i.shape[0] * i.shape[1] for i in images) / 1e6
    return out, (time.perf_counter() - start) / mp


def eval_detect(n_per_photo: int = 3, size: int = 512, seed: int = 0, quick: bool = False,
                photos: str = "auto") -> dict:
    """The simulator's test split, the simulator's families one at a time, and the independent
    generator's damage (independent_damage) on `photos`, each with the threshold tuned on the
    simulator's val split."""
    detectors = {"classical (median diff.)": "classical"}
    if models.default_card("detect") is not None:
        detectors["unscratch model"] = "model"
    few = (lambda xs: xs[:QUICK["photos"]]) if quick else (lambda xs: xs)
    val = make_cases("val", 1 if quick else 2, size, seed, photos=few(pool.photo_paths("val")))
    test = make_cases("test", n_per_photo, size, seed, photos=few(pool.photo_paths("test")))
    clean = clean_crops("test", 1024, seed, photos=few(pool.photo_paths("test")))
    indep = independent_sets(few(ed.eval_photos(photos)), n_per_photo, size, seed)
    sim_photos = _spread(few(pool.photo_paths("test")), FAMILY_PHOTOS)
    # made when used: all at once would not fit in memory
    sim_sets = {f: (lambda f=f: make_cases("test", 1, size, seed, families=[f], photos=sim_photos))
                for f in (simulator_families() or ())}
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
        rows[name] = {"threshold (tuned on val)": th, "precision@2px": p, "recall@2px": r,
                      "F1@2px": f1,
                      CLEAR_RECALL: tolerant_prf(preds, clear)[1],
                      "speck recall": sr, "AP": average_precision(probs, truths),
                      "clean FP area %": 100 * fp,
                      "s/MP": spm}
        # the thresholds users get, from the card (not retuned here)
        shipped = api.get_detector(det)
        got_rows, indep_fam[name] = independent_detect(name, det, shipped.threshold, indep, th)
        indep_rows.update(got_rows)
        if sim_sets:
            sim_fam[name] = {f: _family_row(*_family_probs(det, make()), shipped.threshold)
                             for f, make in sim_sets.items()}
    return {"rows": rows, "n_test_images": len(test), "n_val_images": len(val),
            "n_clean_images": len(clean),
            "n_specks": n_specks, "test_megapixels": sum(c.mask.size for c in test) / 1e6,
            "independent": {"rows": indep_rows, "families": indep_fam, "photos": indep["photos"],
                            "n_images": len(indep["mixed"]), "n_clean_images": len(indep["clean"]),
                            "n_per_family": indep["n_per_family"],
                            "thresholds": "each detector's own (its card's threshold)"},
            "simulator families": sim_fam if sim_sets else
            "not available: simulate.make_pair has no families= keyword "
            "(or simulate no FAMILIES) yet"}


# --- the independent generator: damage the simulator never drew -----------------------------------
def simulator_families():
    """The simulator's damage family names, when its make_pair can draw one family alone
    (families=); None until it can."""
    import inspect
    names = getattr(simulate, "FAMILIES", None)
    params = inspect.signature(simulate.make_pair).parameters
    takes = "families" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    return list(names) if names is not None and takes else None


# one crop of each of at most this many photos per family drawn alone (time and memory)
FAMILY_PHOTOS = 20


def _spread(items: list, n: int) -> list:
    """At most n items, evenly spread over the list (photos are sorted by source)."""
    return list(items) if len(items) <= n else [items[int(i * len(items) / n)] for i in range(n)]


def independent_sets(photos, n_per_photo: int, size: int, seed: int, jpeg: bool = True) -> dict:
    """Damaged crops with every family mixed, clean crops, and for each family a maker of crops with
    that family alone (one crop per photo of at most FAMILY_PHOTOS), made when used to bound
    memory."""
    few = _spread(photos, FAMILY_PHOTOS)
    return {"photos": len(photos), "n_per_family": len(few),
            "mixed": ed.make_samples(photos, n_per_photo, size, seed, jpeg=jpeg,
                                     progress=lambda xs: _each(xs, "independent damage")),
            "families": {f: (lambda f=f: ed.make_samples(few, 1, size, seed, [f], jpeg=jpeg))
                         for f in ed.FAMILIES},
            "clean": ed.clean_samples(photos, size, seed)}


def _family_probs(det: str, cases) -> tuple[list, list]:
    """(probability maps, true masks) of one family's crops (Case or independent_damage.Sample)."""
    return _probabilities(det, [c.damaged for c in cases])[0], [c.mask for c in cases]


def _family_row(probs, truths, th) -> dict:
    p, r, f1 = tolerant_prf([pr >= th for pr in probs], truths)
    return {"F1@2px": f1, "recall@2px": r, "precision@2px": p,
            "true px": int(sum(t.sum() for t in truths))}


def independent_detect(name: str, det: str, th: float, sets: dict, tuned: float | None = None
                       ) -> tuple[dict, dict]:
    """The independent generator's figures for one detector at the threshold users get, `th` (the
    detector's own, from its card), with its best F1 over thresholds beside; also at `tuned` (tuned
    on the simulator's val) when that differs. Returns table rows, and per family F1/recall at `th`
    (each family drawn alone, and within the mixed crops)."""
    mixed = sets["mixed"]
    truths = [s.mask for s in mixed]
    probs, _ = _probabilities(det, [s.damaged for s in mixed])
    cprobs, _ = _probabilities(det, sets["clean"])
    area = sum(c.size for c in cprobs)
    variants = [(f"{name} @ {th:g}", th)]
    if tuned is not None and tuned != th:
        variants.append((f"{name} @ {tuned:g} (tuned on the simulator's val)", tuned))
    rows, plain = {}, None
    for label, low in variants:
        preds = [p >= low for p in probs]
        p, r, f1 = tolerant_prf(preds, truths)
        rows[label] = {"threshold": low, "precision@2px": p, "recall@2px": r, "F1@2px": f1,
                       "speck recall": speck_recall(preds, truths)[0],
                       "clean FP area %": 100 * sum(int((c >= low).sum()) for c in cprobs) / area}
        if plain is None:
            rows[label]["AP"] = average_precision(probs, truths)
            best = best_threshold(probs, truths, np.round(np.arange(0.05, 1.0, 0.05), 2))
            rows[label]["best F1@2px (any threshold)"] = tolerant_prf(
                [p >= best for p in probs], truths)[2]
            rows[label]["best threshold"] = best
            plain = preds
    fams = {f: _family_row(*_family_probs(det, make()), th) for f, make in sets["families"].items()}
    for f in ed.FAMILIES:  # and each family's recall where the families are mixed
        fam = [s.family_mask(f) for s in mixed]
        has = any(m.any() for m in fam)
        fams[f]["recall@2px (mixed crops)"] = tolerant_prf(plain, fam)[1] if has else float("nan")
    return rows, fams

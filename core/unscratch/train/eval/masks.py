"""How the shipped restorer does with masks of different fit, beside Telea and beside the same
network shown none of the hole (every hole pixel hidden, so nothing shows through):

    python -m unscratch.train.eval.masks [--photos auto] [--size 384] [--film DIR]

Rows (PSNR inside the mask, no grain): the independent generator's damage with its true mask as
given (restore repairs a given mask as it is), the same masks grown 2 px (a brush wider than the
damage), the detector's marks at 0.5 on undamaged crops (false marks: the picture kept under them),
and, when `--film` holds real scans with an expert's restoration (`../shared/data/real-film-gt/`),
dB towards the expert with the expert's own mask. The restorer's gate keeps what it takes for
picture; this shows where that helps (loose masks, false marks) and where it keeps damage (exact
masks). Set UNSCRATCH_MODELS_DIR to measure a candidate restorer.
"""
from __future__ import annotations

import argparse
from contextlib import contextmanager, nullcontext
from pathlib import Path

import cv2
import numpy as np

from ... import api, io, operators
from ...metrics import psnr
from ..pool import shared_data
from . import independent_damage as ed
from .real import expert_pairs, expert_truth, psnr_db

FALSE_MARK_THRESHOLD = 0.5   # the detector's marks on undamaged crops at this threshold
BRUSH_MARGIN = 2             # px a loose mask reaches beyond the damage


def psnr_in(out: np.ndarray, clean: np.ndarray, where: np.ndarray) -> float:
    return psnr(clean, out, where, data_range=1.0)


@contextmanager
def _hole_hidden():
    """The shipped restorer with every hole pixel replaced by its prefill before it sees them."""
    shipped = operators.defect_pixels
    operators.defect_pixels = lambda rgb, hole, fill: hole.copy()
    try:
        yield
    finally:
        operators.defect_pixels = shipped


METHODS = ("restorer", "hole hidden", "Telea")


def _restore(method: str, image, mask):
    with _hole_hidden() if method == "hole hidden" else nullcontext():
        return api.restore(image, mask, grain=False,
                           method="classical" if method == "Telea" else "auto")


def evaluate(photos, size: int, film: Path | None) -> dict[str, dict[str, float]]:
    samples = ed.make_samples(photos, 1, size, 0, jpeg=False)
    margin = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * BRUSH_MARGIN + 1,) * 2)
    loose = [cv2.dilate(s.mask.astype(np.uint8), margin) > 0 for s in samples]
    clean = [c.astype(np.float32) for c in ed.clean_samples(photos, size, 0)]
    false = [(c, api.detect(c, threshold=FALSE_MARK_THRESHOLD).mask) for c in clean]
    false = [(c, m) for c, m in false if m.any()]
    pairs = expert_pairs(film) if film is not None and film.is_dir() else []
    scans = []
    for name, scan, expert in pairs:
        img, ref = io.read(scan), io.read(expert)
        scans.append((name, img, ref, expert_truth(img, ref), psnr_db(ref, img)))
    rows = {}
    for method in METHODS:
        row = {
            f"exact masks ({len(samples)})": np.mean([
                psnr_in(_restore(method, s.damaged.astype(np.float32), s.mask), s.clean, s.mask)
                for s in samples]),
            f"grown {BRUSH_MARGIN} px": np.mean([
                psnr_in(_restore(method, s.damaged.astype(np.float32), g), s.clean, g)
                for s, g in zip(samples, loose)]),
            f"false marks kept ({len(false)})": np.mean([
                psnr_in(_restore(method, c, m), c, m) for c, m in false]),
        }
        for name, img, ref, truth, base in scans:
            row[f"{name} dB"] = psnr_db(ref, _restore(method, img, truth)) - base
        rows[method] = {k: float(v) for k, v in row.items()}
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", default="auto", help="as `unscratch eval restore --photos`")
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--film", type=Path, default=shared_data() / "real-film-gt",
                    help="real scans with an expert's restoration (skipped when absent)")
    args = ap.parse_args(argv)
    rows = evaluate(ed.eval_photos(args.photos), args.size, args.film)
    columns = list(next(iter(rows.values())))
    print(f"{'method':<12}" + "".join(f"{c:>24}" for c in columns))
    for method, row in rows.items():
        print(f"{method:<12}" + "".join(f"{row[c]:>24.2f}" for c in columns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`unscratch eval real FOLDER`: the shipped detect() and restore() on real material, which training
never sees.

Two kinds of folder:
- scans with an expert's restoration (`NAME_input.*` beside `NAME_expert.*`, like
  `shared/data/real-film-gt/`): where the two differ by more than EXPERT_DELTA is the real defect
  mask. Per scan: detection precision / recall / F1 against it (per pixel, and within TOLERANCE_PX),
  and PSNR against the expert for the input and the gain (dB) of restore with no selection, with
  everything selected, with the real mask as given and grown by 2 + 2 px, and of OpenCV's Telea on
  that mask;
- real photos with no target (old prints, scratched or not): per photo the % of pixels marked, the %
  restore changes with no selection and with everything selected, and the thin-line energy left
  (white + black top-hats of the result over the input's: 1 = nothing removed; on an unscratched
  photo anything below 1 is picture removed).
Either way a contact sheet per image goes to `out` (input | marks | restore with everything selected
| the expert's, where there is one).
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ... import api
from .cases import _each

EXPERT_DELTA = 8        # of 255: where input and expert differ by more is what the expert repaired
TOLERANCE_PX = 2        # a mark within this distance of real damage counts as found
TOPHAT_PX = 7           # the structuring element of the thin-line energy: lines up to ~5 px wide
REAL_SIDE = 360         # px: the longest side of each panel of a contact sheet
EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def _write_sheet(path, tiles, labels, gap: int = 4) -> None:
    """Rows of equal tiles (float RGB in [0, 1]) with a label above each column, written atomically
    (PNG or JPEG by suffix)."""
    path = Path(path)
    h, w = tiles[0][0].shape[:2]
    header = 18
    sheet = np.full((header + len(tiles) * (h + gap), len(labels) * (w + gap), 3), 255, np.uint8)
    for j, label in enumerate(labels):
        cv2.putText(sheet, label[:w // 6], (j * (w + gap) + 2, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                    (0, 0, 0), 1, cv2.LINE_AA)
    for i, row in enumerate(tiles):
        for j, t in enumerate(row):
            y, x = header + i * (h + gap), j * (w + gap)
            # the tiles are RGB, OpenCV writes BGR
            sheet[y:y + h, x:x + w] = np.rint(np.clip(t, 0, 1) * 255).astype(np.uint8)[:, :, ::-1]
    path.parent.mkdir(parents=True, exist_ok=True)
    jpeg = path.suffix.lower() in (".jpg", ".jpeg")
    ok, buf = cv2.imencode(path.suffix or ".png", sheet,
                           [cv2.IMWRITE_JPEG_QUALITY, 80] if jpeg else [])
    if not ok:
        raise ValueError(f"{path}: cannot write an image with this suffix (use .png or .jpg)")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buf.tobytes())
    os.replace(tmp, path)


def _rgb(x: np.ndarray) -> np.ndarray:
    return x[:, :, :3] if x.ndim == 3 else np.repeat(x[:, :, None], 3, 2)


def _unit(x: np.ndarray) -> np.ndarray:
    white = np.float32(np.iinfo(x.dtype).max if x.dtype.kind == "u" else 1)
    return _rgb(x).astype(np.float32) / white


def psnr_db(reference: np.ndarray, image: np.ndarray) -> float:
    """PSNR of the colour planes, in dB, with the dtype's white as the peak."""
    ref, img = _unit(reference).astype(np.float64), _unit(image).astype(np.float64)
    return float(10 * np.log10(1.0 / max(np.mean((ref - img) ** 2), 1e-12)))


def thin_line_energy(image: np.ndarray) -> float:
    """Mean white + black top-hat of the luminance: how much thin bright and dark line the picture
    holds (scratches, cracks, and also masts and ropes)."""
    gray = cv2.cvtColor(_unit(image), cv2.COLOR_RGB2GRAY)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (TOPHAT_PX, TOPHAT_PX))
    return float((cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, k)
                  + cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, k)).mean())


def detection_scores(marked: np.ndarray, truth: np.ndarray, tolerance: int = 0) -> dict:
    """Precision, recall and F1 of the marks against the real mask; with a tolerance, a mark near
    damage counts for precision and damage near a mark counts for recall."""
    if tolerance:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance + 1,) * 2)
        near_truth = cv2.dilate(truth.astype(np.uint8), k) > 0
        near_mark = cv2.dilate(marked.astype(np.uint8), k) > 0
        hit_p, hit_r = (marked & near_truth).sum(), (truth & near_mark).sum()
    else:
        hit_p = hit_r = (marked & truth).sum()
    p = float(hit_p / max(marked.sum(), 1))
    r = float(hit_r / max(truth.sum(), 1))
    return {"precision": p, "recall": r, "F1": 2 * p * r / max(p + r, 1e-9)}


def photos_in(folder: Path) -> list[Path]:
    """The photos (png, jpg, tif) directly in `folder`, sorted; none when it is not a folder."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTS)


def expert_truth(scan: np.ndarray, expert: np.ndarray) -> np.ndarray:
    """The real defect mask of a scan: where its expert's restoration differs by over
    EXPERT_DELTA."""
    return (np.abs(_unit(scan) - _unit(expert)) > EXPERT_DELTA / 255).any(axis=2)


def expert_pairs(folder: Path) -> list[tuple[str, Path, Path]]:
    """(name, input, expert) for every NAME_input.* with a NAME_expert.* beside it."""
    pairs = []
    for f in sorted(folder.iterdir()):
        if f.suffix.lower() in EXTS and f.stem.endswith("_input"):
            name = f.stem[:-len("_input")]
            expert = [g for g in folder.iterdir()
                      if g.stem == f"{name}_expert" and g.suffix.lower() in EXTS]
            if expert:
                pairs.append((name, f, expert[0]))
    return pairs


def _marks_overlay(rgb: np.ndarray, marks: np.ndarray, truth: np.ndarray | None) -> np.ndarray:
    """Marks in red; with a real mask: found damage green, marked picture red, missed blue."""
    out = rgb.copy()
    if truth is None:
        out[marks] = 0.3 * out[marks] + 0.7 * np.array([1, 0, 0], np.float32)
        return out
    for where, colour in ((marks & truth, (0, 1, 0)), (marks & ~truth, (1, 0, 0)),
                          (~marks & truth, (0, 0, 1))):
        out[where] = 0.3 * out[where] + 0.7 * np.array(colour, np.float32)
    return out


def _sheet(path: Path, panels: list[np.ndarray], labels: list[str], side: int) -> None:
    scale = min(1.0, side / max(panels[0].shape[:2]))
    small = [cv2.resize(p, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) for p in panels]
    _write_sheet(path, [small], labels)


def eval_expert_pair(name: str, scan: Path, expert: Path, out: Path, side: int) -> dict:
    """One scan against its expert's restoration (see the module docstring)."""
    from ... import io
    img, ref = io.read(scan), io.read(expert)
    if _rgb(img).shape != _rgb(ref).shape:
        raise ValueError(f"{expert}: not the size of {scan}")
    truth = expert_truth(img, ref)
    base = psnr_db(ref, img)
    nothing = api.restore_and_report(img)
    everything = api.restore_and_report(img, region=np.ones(img.shape[:2], bool),
                                         keep_detection=True)
    marks = everything.detection.mask
    real_mask = api.restore(img, truth)
    dilate, feather = api.DETECTED_GROWTH  # the margin restore used to add
    grown = api.restore(img, truth, dilate=dilate, feather=feather)
    telea = api.restore(img, truth, method="classical", grain=False)
    row = {"photo": name, "real mask %": 100 * float(truth.mean())}
    row.update({k: v for k, v in detection_scores(marks, truth).items()})
    row.update({f"{k}@{TOLERANCE_PX}px": v
                for k, v in detection_scores(marks, truth, TOLERANCE_PX).items()})
    row.update({"input dB": base,
                "no selection dB": psnr_db(ref, nothing.image) - base,
                "select-all dB": psnr_db(ref, everything.image) - base,
                "real mask dB": psnr_db(ref, real_mask) - base,
                "real mask grown 2+2 dB": psnr_db(ref, grown) - base,
                "Telea real mask dB": psnr_db(ref, telea) - base})
    _sheet(out / f"{scan.parent.name}-{name}.jpg",
           [_unit(img), _marks_overlay(_unit(img), marks, truth), _unit(everything.image),
            _unit(ref)],
           ["input", "marks: found/picture/missed", "restore, all selected", "expert"], side)
    return row


def eval_photo(path: Path, out: Path, side: int) -> dict:
    """One real photo with no target (see the module docstring)."""
    from ... import io
    img = io.read(path)
    nothing = api.restore_and_report(img)
    everything = api.restore_and_report(img, region=np.ones(img.shape[:2], bool),
                                         keep_detection=True)
    marks = everything.detection.mask
    n = img.shape[0] * img.shape[1]
    before = thin_line_energy(img)
    _sheet(out / f"{path.parent.name}-{path.stem}.jpg",
           [_unit(img), _marks_overlay(_unit(img), marks, None), _unit(everything.image)],
           ["input", "marks (red)", "restore, all selected"], side)
    return {"photo": path.name, "mask %": 100 * float(marks.mean()),
            "changed %": 100 * nothing.repaired_pixels / n,
            "select-all changed %": 100 * everything.repaired_pixels / n,
            "thin-line energy left": thin_line_energy(everything.image) / max(before, 1e-12)}


def eval_real(folder, out, side: int = REAL_SIDE) -> list[dict]:
    """Every scan-and-expert pair of `folder`, or else every photo in it; a contact sheet per image
    in `out` (never the folder read)."""
    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    if out.resolve() == folder.resolve():
        raise ValueError(f"{out}: the sheets must go to another folder than the photos")
    pairs = expert_pairs(folder)
    if pairs:
        return [eval_expert_pair(name, scan, expert, out, side)
                for name, scan, expert in _each(pairs, "scans")]
    files = photos_in(folder)
    if not files:
        raise ValueError(f"{folder}: no photos (png, jpg, tif) in this folder")
    return [eval_photo(f, out, side) for f in _each(files, "real photos")]

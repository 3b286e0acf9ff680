"""`unscratch eval real`: detect() and restore() on real old photos, which have no clean target, so
the result is a contact sheet per photo to look at (and _write_sheet, which eval restore's crops use
too)."""
from __future__ import annotations

import cv2
import numpy as np

from .. import api
from .eval.cases import _each


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


# --- real photos ----------------------------------------------------------------------------------
REAL_SIDE = 360  # px: the longest side of each panel of a real photo's contact sheet


def eval_real(folder, out, side: int = REAL_SIDE) -> list[dict]:
    """detect() and restore(image) on every photo of `folder`: per photo the mask % (interactive
    threshold), the % of pixels restore() changes, and a contact sheet in `out` (input | mask over
    the input in red | automatic repair). Real damage has no clean target: the sheets are for
    looking at."""
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
        _write_sheet(out / f"{folder.name}-{f.stem}.jpg", [small],
                     ["input", "mask (red)", "restore(image)"])
        rows.append({"photo": f.name, "mask %": 100 * float(detection.mask.mean()),
                     "changed %": 100 * float(changed.mean())})
    return rows

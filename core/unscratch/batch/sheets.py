"""`unscratch batch --contact-sheet`: a before|after thumbnail per file (written with its other
outputs) and pages of them with captions, 4x5 per page, at the end of a run."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from .. import io
from ..arrays import colour_planes, to_rgb_float
from .manifest import SHEET_DIR

THUMB = 256


def thumbnail_pair(before: np.ndarray, after: np.ndarray, size: int = THUMB) -> np.ndarray:
    """8-bit RGB before|after pair, each fitted into size x size."""
    h, w = before.shape[:2]
    scale = min(1.0, size / max(h, w))
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    pair = []
    for img in (before, after):
        rgb = np.rint(to_rgb_float(colour_planes(img)) * 255).astype(np.uint8)
        pair.append(cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_AREA) if scale < 1 else rgb)
    gap = np.full((th, 4, 3), 255, np.uint8)
    return np.concatenate([pair[0], gap, pair[1]], axis=1)


def write_contact_sheets(out_dir: Path, rows: dict, order: list[str], cols: int = 4,
                         per_page: int = 20) -> list[Path]:
    """Pages of before|after thumbnail pairs with captions, for the done files in `order`."""
    cells = []
    for path in order:
        row = rows.get(path)
        if not row or row["status"] != "done":
            continue
        thumb = json.loads(row["outputs"] or "{}").get("thumb")
        if thumb and (out_dir / thumb).is_file():
            cells.append((path, row, out_dir / thumb))
    folder = out_dir / SHEET_DIR
    folder.mkdir(exist_ok=True)
    cw, ch, cap = 2 * THUMB + 4 + 16, THUMB + 16, 22
    pages = []
    for start in range(0, len(cells), per_page):
        chunk = cells[start:start + per_page]
        rows_n = (len(chunk) + cols - 1) // cols
        sheet = np.full((rows_n * (ch + cap), cols * cw, 3), 255, np.uint8)
        for i, (path, row, thumb) in enumerate(chunk):
            y, x = (i // cols) * (ch + cap), (i % cols) * cw
            pair = io.read(thumb)
            pair = pair if pair.ndim == 3 else np.dstack([pair] * 3)
            sheet[y + 8:y + 8 + pair.shape[0], x + 8:x + 8 + pair.shape[1]] = pair[:, :, :3]
            name = path if len(path) <= 48 else '…' + path[-47:]
            text = f"{name}  {100 * (row['defect_fraction'] or 0):.2f}%"
            cv2.putText(sheet, text, (x + 8, y + ch + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                        (0, 0, 0), 1, cv2.LINE_AA)
        page = folder / f"sheet-{start // per_page + 1:04d}.jpg"
        io.write(page, sheet, jpeg_quality=90)
        pages.append(page)
    for old in folder.glob("sheet-*.jpg"):
        if old not in pages:
            old.unlink(missing_ok=True)
    return pages

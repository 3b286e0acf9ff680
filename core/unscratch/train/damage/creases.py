"""Creases and folds on prints: a long soft band with a light side and a shadow side, often cracked
along its spine (a fold that broke the emulsion)."""

from __future__ import annotations

import cv2
import numpy as np

from .cracks import crack_style, draw_network
from .draw import Canvas, axis, smooth_1d


def draw(cv: Canvas, n: int, scale: float) -> None:
    rng, h, w, side, s = cv.frame(scale)
    for _ in range(n):
        fold = rng.random() < 0.3                  # a fold right across; a crease may stop inside
        length = (rng.uniform(1.2, 2.0) if fold else rng.uniform(0.4, 1.3)) * side
        c = np.array([rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h])
        th = rng.uniform(0, np.pi)
        d, nrm = axis(th)
        m = max(8, int(length / 4))
        t = np.linspace(-0.5, 0.5, m)[:, None]
        bow = rng.normal(0, 0.02) * length * (1 - 4 * t ** 2)
        wob = rng.uniform(0.3, 2.0) * s * smooth_1d(rng, m, int(rng.integers(4, 12)))[:, None]
        spine = c + t * length * d + (bow + wob) * nrm
        band = rng.uniform(1.5, 6.0) * s                # half-width of the soft band
        band_side = rng.random() < 0.85
        if band_side:                # the light and the shadow side of the ridge
            lo = rng.uniform(0.4, 0.7)
            for sign, bright in ((1, True), (-1, False)):
                patch = np.zeros((h, w), np.uint8)
                off = spine + nrm * sign * band * 0.6
                q = np.round(off * 16).astype(np.int32)
                cv2.polylines(patch, [q], False, 255, max(1, int(round(band))), cv2.LINE_AA, 4)
                f = cv2.GaussianBlur(patch.astype(np.float32) * np.float32(1 / 255), (0, 0),
                                     max(0.8, band * 0.5))
                f *= np.float32(np.clip(rng.uniform(0.6, 1.0), 0, 1))
                st = cv.style(bright_p=1.0 if bright else 0.0, faint_p=0.0, opacity=(lo, lo + 0.3))
                st["keep"] = True
                st["strength"] = float(rng.uniform(0.6, 1.0))
                cv.add(0, 0, f, st, "creases")
        # cracked along the spine, with short cracks off it
        if rng.random() < 0.7 or not band_side:
            patch = np.zeros((h, w), np.uint8)
            cut = spine[int(rng.integers(0, m // 3)):]
            step = max(2, len(cut) // int(rng.integers(1, 4)))
            for i in range(0, len(cut) - 1, step):
                seg = cut[i:i + step + 1]
                dd = seg[-1] - seg[0]
                draw_network(cv, patch, seg[0], float(np.arctan2(dd[1], dd[0])),
                             float(np.hypot(*dd)) * 1.05, scale, widen=rng.uniform(0.4, 1.0))
            cv.add(0, 0, patch, crack_style(cv), "creases")

"""Defects from a film scanner's infrared plane (what Digital ICE and VueScan's IR cleaning use).

Film scanners with an infrared lamp (Nikon Coolscan, Plustek, Epson and others) can save a fourth
plane beside R, G and B: VueScan's "64 bit RGBI" raw TIFF, SilverFast's HDRi. Colour dyes are almost
transparent in infrared, while dust, hairs and scratches block or scatter it, so in that plane
defects are dark on an even background whatever the picture shows. This needs no network and does
not confuse a star on a flag with a speck of dust. It does not work on silver black-and-white film
or Kodachrome, whose image itself blocks infrared: there the plane shows the picture.

The cyan dye still absorbs some infrared, so the picture shows faintly in it ("leakage"), and the
infrared plane is often a little blurrier than the colour planes and off them by a pixel. The share
of the red plane in the infrared one is fitted over the whole image, and what is taken out at each
pixel is that share of the red plane's local minimum: a picture edge can then only raise the
corrected plane, never dip it like a defect. A pixel's defect probability grows with how far the
corrected plane falls below its local background (a median over BACKGROUND_PX), relative to the
plane's level: probability 0.5 (the threshold) is a drop of `depth` = max(MIN_DEPTH, NOISE_SIGMAS ×
the plane's noise).
"""
from __future__ import annotations

import cv2
import numpy as np

from .arrays import to_float
from .errors import InputError

BACKGROUND_PX = 124  # the background is a median over this many px:
                     # defects up to about half as wide
REGISTRATION_PX = 5  # infrared may lie this far (px, window) off the colour planes and be blurrier
MIN_DEPTH = 0.08     # a drop in infrared smaller than this share
                     # of the plane's level is never a defect
NOISE_SIGMAS = 5.0   # ... nor one within this many noise deviations of the background
FIT_SAMPLES = 512    # the leakage and noise fit reads about FIT_SAMPLES² pixels, evenly strided
LEAK_MAX = 0.8       # red's share in the infrared, relative to its level,
                     # above which the plane shows the picture
OPAQUE = 0.25        # infrared below this share of the level:
                     # something opaque (dust, or the film holder)
FRAME_SHARE = 0.25   # a detection that runs this share of an image
                     # edge along it is the film holder, not damage


class InfraredDetector:
    """A tile function over R, G, B and infrared planes (float32 in [0, 1]) → defect probability."""
    name = "infrared"
    tile, overlap, multiple = 1024, 192, 4
    threshold = 0.5
    reads_infrared = True  # detect() hands it all four planes, not the colour planes

    def __init__(self):
        self.leak, self.level, self.depth = 0.0, 1.0, MIN_DEPTH

    @property
    def provenance(self) -> dict:
        return {"name": self.name, "sha256": None, "task": "detect",
                "infrared": {"leak": round(self.leak, 5), "level": round(self.level, 5),
                             "depth": round(self.depth, 5)}}

    def fit(self, image) -> None:
        """Leakage (share of red in the infrared plane), the plane's level and its noise, from a
        strided sample of the whole image, so every tile uses the same values (a lazy image is read
        only at those pixels)."""
        if image.ndim != 3 or image.shape[2] != 4:
            planes = 1 if image.ndim == 2 else image.shape[2]
            raise InputError(f"image: the infrared method needs a fourth, infrared plane "
                             f"(R, G, B, IR); this image has {planes}")
        step = max(1, int(max(image.shape[:2]) // FIT_SAMPLES))
        sample = to_float(np.asarray(image[::step, ::step]))
        red, ir = sample[:, :, 0].ravel(), sample[:, :, 3].ravel()
        keep = np.ones(ir.size, bool)
        # least squares, then again without the darkest residuals (the defects themselves)
        for _ in range(3):
            a, b = (np.polyfit(red[keep], ir[keep], 1) if np.ptp(red[keep]) > 1e-6
                    else (0.0, float(ir[keep].mean())))
            residual = ir - (a * red + b)
            keep = residual > np.quantile(residual, 0.05)
        # the dye absorbs infrared where red is dark: never a negative share
        self.leak = float(max(a, 0.0))
        self.level = float(max(np.median(ir), 1e-3))
        # colour dyes leak a little; a silver image blocks infrared itself
        if self.leak > LEAK_MAX * self.level:
            raise InputError(f"image: its infrared plane follows the picture (red's share "
                             f"{self.leak / self.level:.2f} of its level), as on silver "
                             "black-and-white film or Kodachrome, so it cannot tell damage from "
                             "picture; use the network instead (method \"model\": detect --method "
                             "model, restore --detect-method model, batch --method model)")
        plane = (sample[:, :, 3] - self.leak * sample[:, :, 0]).astype(np.float32)
        noise = (1.4826 * float(np.median(np.abs(plane - cv2.medianBlur(plane, 3))))
                 if min(plane.shape) >= 3 else 0.0)
        self.depth = max(MIN_DEPTH, NOISE_SIGMAS * noise / self.level)

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        ir, red = tile[:, :, 3], np.ascontiguousarray(tile[:, :, 0])
        # leakage: subtract the red plane's local minimum (over the infrared's blur and
        # misregistration), so a picture edge can only raise the corrected plane, never dip it like
        # a defect
        red_low = cv2.erode(cv2.GaussianBlur(red, (0, 0), 1.0),
                            np.ones((REGISTRATION_PX, REGISTRATION_PX), np.uint8))
        plane = (ir - self.leak * red_low) / np.float32(self.level)
        h, w = plane.shape
        # background: a median over about BACKGROUND_PX, on a quarter-size copy quantised to 1/250
        # of the level (OpenCV's wide medians take 8-bit): robust to the defects inside it and to
        # what leakage left
        small = cv2.resize(plane, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
        small = np.clip(np.rint(small * 250), 0, 255).astype(np.uint8)
        k = max(3, BACKGROUND_PX // 4 | 1)
        background = cv2.medianBlur(small, k).astype(np.float32) / 250
        background = cv2.resize(background, (w, h), interpolation=cv2.INTER_LINEAR)
        probability = np.clip((background - plane) / np.float32(2 * self.depth), 0.0, 1.0)
        # where almost nothing passes, even inside wide dark areas
        probability[plane < OPAQUE] = 1.0
        return probability[:, :, None]

    def clear_frame(self, probability: np.ndarray) -> None:
        """Zero, in place, detections that run along an image edge: an uncropped scan's film holder
        or frame edge blocks infrared too (it is OPAQUE, so it is one detection from the edge
        inwards), but repairing it would paint picture over the border. A scratch that crosses an
        edge touches it over a few pixels and stays."""
        candidate = (probability >= self.threshold / 2).astype(np.uint8)
        n, labels = cv2.connectedComponents(candidate, connectivity=8, ltype=cv2.CV_32S)
        del candidate
        frame = np.zeros(n, bool)
        for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
            ids, counts = np.unique(edge[edge > 0], return_counts=True)
            frame[ids[counts >= FRAME_SHARE * edge.size]] = True
        if frame.any():
            probability[frame[labels]] = 0.0

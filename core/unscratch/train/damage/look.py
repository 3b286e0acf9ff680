"""The look of old photographs, given to a clean crop before any damage (so it is in input AND
target): monochrome; sepia, selenium and cyanotype toning; an aged colour cast; faded contrast and
lifted blacks; soft focus; halftone screens; paper texture; vignetting; film grain; JPEG. The pool
is modern colour photography; the photos people restore are mostly old monochrome or toned
prints."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .draw import lum, normal, rep3, smooth_noise

# colour modes of the aged photo: name -> share
MODES = {"gray": 0.24, "sepia": 0.16, "selenium": 0.06, "cyanotype": 0.04, "cast": 0.16,
         "autochrome": 0.06, "colour": 0.28}


def _tone(luma: np.ndarray, shadow, light) -> np.ndarray:
    """Monochrome ``luma`` mapped from a shadow colour to a highlight colour, mid-tones pulled a
    little towards the shadow hue (toners act most in the dense parts of the print)."""
    shadow = np.asarray(shadow, np.float32)
    light = np.asarray(light, np.float32)
    luma3 = rep3(luma)
    return luma3 * light + rep3(luma * (1 - luma)) * (np.float32(0.6) * (shadow - light * 0.5))


def _halftone(img: np.ndarray, rng, s: float) -> np.ndarray:
    """A printed halftone screen: dots on a rotated grid whose area follows the luminance."""
    h, w = img.shape[:2]
    period = rng.uniform(3.0, 6.0) * max(1.0, s)
    ang = math.radians(rng.choice([15.0, 45.0, 75.0]) + rng.normal(0, 2))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xx * math.cos(ang) + yy * math.sin(ang)) * np.float32(2 * math.pi / period)
    v = (-xx * math.sin(ang) + yy * math.cos(ang)) * np.float32(2 * math.pi / period)
    screen = (np.cos(u) * np.cos(v) + 1) * np.float32(0.5)              # 0..1
    luma = cv2.GaussianBlur(lum(img), (0, 0), period / 4)
    # soft threshold = anti-aliased dots
    ink = np.clip((screen - luma) * 4 + 0.5, 0, 1)
    dots = cv2.GaussianBlur(1 - ink, (0, 0), rng.uniform(0.4, 0.9))
    mix = np.float32(rng.uniform(0.5, 1.0))
    base = img * (1 - mix)
    return base + rep3(dots) * (img / np.maximum(rep3(luma), 1e-3)).clip(0, 1.5) * mix


def age(img: np.ndarray, rng: np.random.Generator, scale: float, info: dict, *,
        old: bool = True) -> np.ndarray:
    """The clean photo as an old print would show it. ``old=False`` keeps to the mild ageing of
    modern colour: casts, fading and grain only."""
    img = np.array(img, dtype=np.float32, copy=True)
    h, w = img.shape[:2]
    s = max(scale, 0.25)
    sub = img[::3, ::3]
    src_gray = bool(np.abs(sub[:, :, 0] - sub[:, :, 1]).max() < 2e-3
                    and np.abs(sub[:, :, 1] - sub[:, :, 2]).max() < 2e-3)
    names = list(MODES) if old else ["gray", "cast", "colour"]
    p = np.array([MODES[m] for m in names])
    mode = names[int(rng.choice(len(names), p=p / p.sum()))]
    if src_gray and mode in ("cast", "colour", "autochrome"):
        mode = "gray"
    if mode in ("gray", "sepia", "selenium", "cyanotype"):
        luma = lum(img)
        if mode == "gray":
            img = rep3(luma)
        elif mode == "sepia":
            img = _tone(luma, [0.5, 0.3, 0.15],
                        [1.0, rng.uniform(0.8, 0.9), rng.uniform(0.55, 0.72)])
        elif mode == "selenium":         # cool purple-brown shadows, neutral highlights
            img = _tone(luma, [0.42, 0.28, 0.36],
                        [1.0, rng.uniform(0.93, 0.98), rng.uniform(0.9, 0.97)])
        else:                            # cyanotype: Prussian blue
            img = _tone(luma, [0.05, 0.2, 0.45],
                        [rng.uniform(0.55, 0.75), rng.uniform(0.75, 0.88), 1.0])
    elif mode == "cast":                 # aged colour print: yellowing / red-magenta shift
        cast = np.array([1.0, rng.uniform(0.88, 1.0), rng.uniform(0.7, 0.95)], np.float32)
        img *= cast[rng.permutation(3)] if rng.random() < 0.25 else cast
    elif mode == "autochrome":
        # early colour plate: muted colour through a screen of dyed grains
        l3 = rep3(lum(img))
        img = cv2.addWeighted(img, 0.6, l3, 0.4, 0)
        g = max(1.0, rng.uniform(0.8, 1.6) * s)
        dots = cv2.merge([smooth_noise(rng, h, w, g) for _ in range(3)])
        img *= 1 + dots * np.float32(rng.uniform(0.08, 0.2))
    if old and rng.random() < 0.25:      # soft focus: an old lens, or a soft-focus glow
        sig = rng.uniform(0.5, 2.0) * s
        if rng.random() < 0.5:
            img = cv2.GaussianBlur(img, (0, 0), sig)
        else:
            glow = cv2.GaussianBlur(img, (0, 0), sig * 4)
            img = cv2.addWeighted(img, 0.6, np.maximum(img, glow), 0.4, 0)
        info["soft"] = round(sig, 2)
    if old and rng.random() < 0.04:
        img = _halftone(img, rng, s)
        info["halftone"] = True
    if rng.random() < (0.6 if old else 0.4):      # fading: lifted blacks, dimmed whites, gamma
        lift = rng.uniform(0.0, 0.22 if old else 0.12)
        top = 1.0 - rng.uniform(0.0, 0.15)
        gamma = rng.uniform(0.8, 1.25)
        np.clip(img, 0, 1, out=img)
        img = cv2.pow(img, gamma)
        img *= np.float32(top - lift)
        img += np.float32(lift)
        info["fade"] = (round(lift, 3), round(top, 3), round(gamma, 3))
    # paper texture: fine fibres and a broader mottle, multiplicative
    if old and rng.random() < 0.35:
        tex = (smooth_noise(rng, h, w, rng.uniform(1.0, 3.0) * s)
               * np.float32(rng.uniform(0.01, 0.035)))
        tex += smooth_noise(rng, h, w, rng.uniform(20, 60) * s) * np.float32(rng.uniform(0.0, 0.03))
        img *= rep3(1 + tex)
        info["paper"] = True
    # vignetting: darker (or, on studio portraits, lighter) corners
    if old and rng.random() < 0.3:
        yy, xx = np.ogrid[0:h, 0:w]
        cy, cx = h * rng.uniform(0.35, 0.65), w * rng.uniform(0.35, 0.65)
        r = np.sqrt(((yy - cy) / (0.7 * h)) ** 2 + ((xx - cx) / (0.7 * w)) ** 2).astype(np.float32)
        fall = np.minimum(np.clip(r ** 2, 0, 1.5) * np.float32(rng.uniform(0.1, 0.45)),
                          np.float32(0.6))
        if rng.random() < 0.8:
            img *= rep3(1 - fall)
        else:
            img += rep3(fall) * (1 - img)
        info["vignette"] = True
    # an oval or round mat around the picture: its edge is picture too
    if old and rng.random() < 0.06:
        yy, xx = np.ogrid[0:h, 0:w]
        ry, rx = h * rng.uniform(0.4, 0.9), w * rng.uniform(0.4, 0.9)
        r = np.sqrt(((yy - h / 2) / ry) ** 2 + ((xx - w / 2) / rx) ** 2).astype(np.float32)
        inside = np.clip((1 - r) * np.float32(min(ry, rx) / rng.uniform(0.7, 3.0)) + 0.5, 0, 1)
        mat = np.float32(rng.uniform(0.0, 0.15) if rng.random() < 0.7 else rng.uniform(0.8, 0.95))
        img = img * rep3(inside) + mat * rep3(1 - inside)
        info["mat"] = True
    if rng.random() < 0.8:      # film grain, clumped, luminance-dependent (strongest in mid-tones)
        sigma = rng.uniform(0.006, 0.05)
        gs = max(1.0, rng.uniform(0.7, 1.8) * max(scale, 0.5))
        gh, gw = max(2, int(h / gs)), max(2, int(w / gs))
        noise = normal(rng, gh, gw)
        if (gh, gw) != (h, w):
            noise = cv2.resize(noise, (w, h), interpolation=cv2.INTER_LINEAR)
            noise *= np.float32(min(1.6, math.sqrt(gs)))
        luma = np.clip(lum(img), 0, 1)
        amp = (np.float32(0.35) + np.float32(2.6) * luma * (1 - luma)) * np.float32(sigma)
        grain = noise * amp
        # a little chroma grain
        if mode in ("colour", "cast", "autochrome") and rng.random() < 0.7:
            ch = cv2.merge([normal(rng, max(2, h // 3), max(2, w // 3)) for _ in range(3)])
            ch = cv2.resize(ch, (w, h), interpolation=cv2.INTER_LINEAR)
            img += ch * rep3(amp * np.float32(0.4))
        img += rep3(grain)
        info["grain"] = round(sigma, 4)
    np.clip(img, 0, 1, out=img)
    # an old JPEG copy of the print: artefacts are picture, not damage
    if old and rng.random() < 0.12:
        q = int(rng.integers(35, 80))
        img = jpeg(img, q)
        info["look_jpeg"] = q
    info["mode"] = mode
    return img


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    u8 = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(u8, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        return img
    out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out.astype(np.float32) * np.float32(1 / 255)

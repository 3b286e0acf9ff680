"""Shared fixtures: small synthetic scratched images with known truth."""
from __future__ import annotations

import numpy as np
import pytest


def scratched(h=96, w=128, channels=3, dtype=np.uint8, seed=0):
    """(damaged, clean, truth mask): a smooth gradient photo with a bright 2-px scratch and a dark
    speck."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 0.35 + 0.25 * np.sin(xx / 17.0) * np.cos(yy / 23.0)
    clean = (np.dstack([base, base * 0.9 + 0.05, base * 0.8 + 0.1])[:, :, :3]
             + rng.normal(0, 0.01, (h, w, 3)))
    clean = np.clip(clean, 0, 1).astype(np.float32)
    truth = np.zeros((h, w), bool)
    truth[h // 2:h // 2 + 2, w // 8: 7 * w // 8] = True
    truth[h // 4 - 1:h // 4 + 2, w // 3 - 1:w // 3 + 2] = True
    damaged = clean.copy()
    damaged[h // 2:h // 2 + 2, w // 8: 7 * w // 8] = 0.97
    damaged[h // 4 - 1:h // 4 + 2, w // 3 - 1:w // 3 + 2] = 0.03
    return convert(damaged, channels, dtype), convert(clean, channels, dtype), truth


def photo_scratched(h=128, w=160, channels=3, dtype=np.uint8, seed=0, speck=True):
    """(damaged, clean, truth mask) like scratched(), but what a real detector sees as damage: a
    textured photo (soft shading, blotchy tone, grain), a gently curved 2-px scratch whose
    brightness wanders along its length, and a speck of dust. The network tells thin picture
    structure (a perfectly straight line, which a small image's mirrored padding repeats into a
    pattern) from damage, so plug-in tests use this at 128x160 or more. The scratch runs across
    columns w/8 .. 7w/8 within h/2 - h/16 .. h/2 + h/16 + 4; the speck (unless speck=False) sits at
    (h/4, w/3); truth marks every pixel the damage touches."""
    import cv2

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    blotch = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 4)
    base = (0.4 + 0.18 * np.sin(xx / 17.0 + 0.5) * np.cos(yy / 23.0) + 0.08 * (xx / w - yy / h)
            + 0.06 * blotch / (np.abs(blotch).max() + 1e-6))
    clean = np.dstack([base, base * 0.9 + 0.05, base * 0.8 + 0.1]) + rng.normal(0, 0.008, (h, w, 3))
    clean = np.clip(clean, 0, 1).astype(np.float32)
    x = np.linspace(w / 8, 7 * w / 8 - 1, 400)
    t = (x - x[0]) / (x[-1] - x[0])
    y = h / 2 + h / 16 * np.sin(np.pi * (1.3 * t + rng.uniform(0.2, 0.6))) + 3 * t
    opacity = np.zeros((h, w), np.float32)
    cv2.polylines(opacity, [np.round(np.stack([x, y], 1) * 16).astype(np.int32)], False, 0.95, 2,
                  cv2.LINE_AA, 4)
    shade = np.broadcast_to((0.9 + 0.07 * np.sin(xx[0] / 9.0 + rng.uniform(0, 6)))[None, :], (h, w))
    dust = np.zeros((h, w), np.float32)
    if speck:
        cv2.circle(dust, (w // 3, h // 4), 2, 1.0, -1, cv2.LINE_AA)
    damaged = clean * (1 - opacity[:, :, None]) + (shade * opacity)[:, :, None]
    damaged = damaged * (1 - dust[:, :, None]) + 0.93 * dust[:, :, None]
    truth = (opacity > 0.02) | (dust > 0.02)
    return (convert(damaged.astype(np.float32), channels, dtype), convert(clean, channels, dtype),
            truth)


def smooth_photo(size: int = 160, seed: int = 0, dtype=np.float32) -> np.ndarray:
    """A clean size x size RGB photo: soft shading and faint noise, no damage (float32 in [0, 1],
    or uint8)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = 0.45 + 0.25 * np.sin(xx / 13) * np.cos(yy / 19)
    img = np.clip(np.dstack([base, base * 0.9 + 0.05, base * 0.7 + 0.1])
                  + rng.normal(0, 0.01, (size, size, 3)), 0, 1)
    if dtype == np.uint8:
        return np.rint(img * 255).astype(np.uint8)
    return img.astype(np.float32)


def rect_mask(rect, shape) -> np.ndarray:
    """A bool mask of `shape` (h, w), True inside `rect` (x, y, w, h)."""
    x, y, w, h = rect
    m = np.zeros(shape, bool)
    m[y:y + h, x:x + w] = True
    return m


def near(mask: np.ndarray, px: int) -> np.ndarray:
    """Every pixel within `px` (chessboard distance) of a True pixel of `mask`."""
    import cv2

    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)) > 0


def convert(rgb: np.ndarray, channels: int, dtype) -> np.ndarray:
    if channels in (0, 1):
        img = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
        img = img if channels == 0 else img[:, :, None]
    elif channels == 3:
        img = rgb
    else:
        ramp = np.linspace(0.2, 1.0, rgb.shape[1], dtype=np.float32)
        alpha = ramp[None, :, None].repeat(rgb.shape[0], 0)
        img = np.concatenate([rgb, alpha], axis=2)
    if dtype == np.float32:
        return img.astype(np.float32)
    return np.rint(img * np.iinfo(dtype).max).astype(dtype)


def make_overlays(root, per_kind: int = 8, seed: int = 0):
    """A tiny stand-in for the damage-overlay folder (see core/unscratch/train/README.md):
    ``per_kind`` 80x80 RGBA sprites (white RGB, alpha = a stroke and a blob) in a folder per sprite
    kind. Returns root."""
    import cv2

    from unscratch.train.damage.sprites import SPRITE_KINDS

    rng = np.random.default_rng(seed)
    for kind in SPRITE_KINDS:
        (root / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_kind):
            a = np.zeros((80, 80), np.uint8)
            pts = (rng.uniform(5, 75, (4, 2)) * 16).astype(np.int32)
            cv2.polylines(a, [pts], False, 255, int(rng.integers(1, 4)), cv2.LINE_AA, 4)
            centre = (int(rng.integers(10, 70)), int(rng.integers(10, 70)))
            cv2.circle(a, centre, int(rng.integers(2, 8)), 255, -1)
            im = np.dstack([np.full((80, 80, 3), 255, np.uint8), a])
            cv2.imwrite(str(root / kind / f"{kind}-{i:03d}.png"), im)
    return root


@pytest.fixture(scope="session")
def overlays(tmp_path_factory):
    """A folder of a few made-up damage sprites, so that training tests need nothing beside the
    clone."""
    return make_overlays(tmp_path_factory.mktemp("overlays"))


def damaged_photo(seed=0):
    """(damaged, clean, truth) uint8 RGB 256x256: the bundled photo's top-left corner (flag and
    backdrop) with thin bright scratches and dust drawn on it: clear damage for host tests of
    Restore selection.

    Kept where the shipped detector finds much of the damage at its own threshold: on busier parts
    of the photo and on dark or straight scratches it finds far less, which host tests are not
    about."""
    import cv2

    from unscratch.demo import sample_photo
    from unscratch.strokes import curved_stroke

    clean = np.ascontiguousarray(sample_photo()[:256, :256, :3])
    rng = np.random.default_rng(seed)
    h, w = clean.shape[:2]
    opacity = np.zeros((h, w), np.float32)
    for _ in range(6):
        opacity = np.maximum(opacity, curved_stroke(h, w, rng) * 0.95)
    for _ in range(40):
        spot = np.zeros((h, w), np.float32)
        cv2.circle(spot, tuple(int(v) for v in rng.uniform([0, 0], [w, h])),
                   int(rng.integers(1, 4)), 1.0, -1, cv2.LINE_AA)
        opacity = np.maximum(opacity, spot)
    damaged = clean.astype(np.float32) * (1 - opacity[:, :, None]) + 245.0 * opacity[:, :, None]
    return np.rint(damaged).astype(np.uint8), clean, opacity > 0.25


def picture_line_photo(only_line=False):
    """The clean corner of damaged_photo with a long, straight, slanted bright line drawn on it
    (a rope or a sail's edge), which the shipped detector finds at its threshold (uint8 RGB); with
    `only_line`, the line's pixels (bool, 1 px beside it included)."""
    import cv2
    _, clean, _ = damaged_photo()
    if only_line:
        line = np.zeros(clean.shape[:2], np.uint8)
        cv2.line(line, (20, 230), (200, 60), 1, 4)
        return line > 0
    photo = clean.copy()
    cv2.line(photo, (20, 230), (200, 60), (245, 245, 245), 2, cv2.LINE_AA)
    return photo


PHOTO_RECT = (48, 48, 160, 160)  # x, y, w, h: the selection host tests restore in damaged_photo()

"""Shared fixtures: small synthetic scratched images with known truth."""
from __future__ import annotations

import numpy as np
import pytest


def scratched(h=96, w=128, channels=3, dtype=np.uint8, seed=0):
    """(damaged, clean, truth mask): a smooth gradient photo with a bright 2-px scratch and a dark speck."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 0.35 + 0.25 * np.sin(xx / 17.0) * np.cos(yy / 23.0)
    clean = np.dstack([base, base * 0.9 + 0.05, base * 0.8 + 0.1])[:, :, :3] + rng.normal(0, 0.01, (h, w, 3))
    clean = np.clip(clean, 0, 1).astype(np.float32)
    truth = np.zeros((h, w), bool)
    truth[h // 2:h // 2 + 2, w // 8: 7 * w // 8] = True
    truth[h // 4 - 1:h // 4 + 2, w // 3 - 1:w // 3 + 2] = True
    damaged = clean.copy()
    damaged[h // 2:h // 2 + 2, w // 8: 7 * w // 8] = 0.97
    damaged[h // 4 - 1:h // 4 + 2, w // 3 - 1:w // 3 + 2] = 0.03
    return convert(damaged, channels, dtype), convert(clean, channels, dtype), truth


def convert(rgb: np.ndarray, channels: int, dtype) -> np.ndarray:
    if channels in (0, 1):
        img = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
        img = img if channels == 0 else img[:, :, None]
    elif channels == 3:
        img = rgb
    else:
        alpha = np.linspace(0.2, 1.0, rgb.shape[1], dtype=np.float32)[None, :, None].repeat(rgb.shape[0], 0)
        img = np.concatenate([rgb, alpha], axis=2)
    if dtype == np.float32:
        return img.astype(np.float32)
    return np.rint(img * np.iinfo(dtype).max).astype(dtype)


@pytest.fixture
def scratch_image():
    return scratched()

"""Reading the pool's photos for training and evaluation: decoded once into a small LRU cache,
as float RGB, and random scaled crops of them."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from .sources import PoolError

_READ_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()
_READ_CACHE_BYTES = 0
_READ_CACHE_LIMIT = int(os.environ.get("UNSCRATCH_PHOTO_CACHE_MB", "512")) * (1 << 20)
_READ_LOCK = threading.Lock()


def _decode(path: Path) -> np.ndarray:
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise PoolError(f"cannot decode image {path}")
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    elif img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    else:
        img = np.repeat(img[:, :, :1], 3, axis=2)
    if img.dtype not in (np.uint8, np.uint16):
        img = np.clip(img.astype(np.float32), 0, 1)
        img = (img * 65535 + 0.5).astype(np.uint16)
    return np.ascontiguousarray(img)


def read_rgb(path) -> np.ndarray:
    """The photo as RGB uint8 or uint16 HxWx3 (read-only; a small LRU cache keeps recent photos)."""
    global _READ_CACHE_BYTES
    key = str(Path(path).resolve())
    with _READ_LOCK:
        img = _READ_CACHE.get(key)
        if img is not None:
            _READ_CACHE.move_to_end(key)
            return img
    img = _decode(Path(path))
    img.flags.writeable = False
    if img.nbytes <= _READ_CACHE_LIMIT:
        with _READ_LOCK:
            _READ_CACHE[key] = img
            _READ_CACHE_BYTES += img.nbytes
            while _READ_CACHE_BYTES > _READ_CACHE_LIMIT and _READ_CACHE:
                _, old = _READ_CACHE.popitem(last=False)
                _READ_CACHE_BYTES -= old.nbytes
    return img


def _to_float(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img.astype(np.float32) * np.float32(1 / 255)
    if img.dtype == np.uint16:
        return img.astype(np.float32) * np.float32(1 / 65535)
    return np.clip(img.astype(np.float32), 0, 1)


def load_photo(path) -> np.ndarray:
    """The photo as float32 RGB HxWx3 in [0, 1]; gray photos come back as 3 equal channels."""
    return _to_float(read_rgb(path))


def random_crop(image: np.ndarray, size, rng: np.random.Generator, *, scale=(0.3, 1.0),
                augment: bool = True) -> tuple[np.ndarray, float]:
    """A random ``size`` crop of ``image`` after scaling it by a random factor in ``scale``.

    The scaling is done on the crop window only (cheap on big photos). If the photo is too small for
    the lowest factor, the factor is raised (up to upscaling small photos). ``augment`` adds random
    flips / 90-degree turns. Returns (float32 crop HxWx3 in [0, 1], factor applied); the effective
    resolution of the crop's source is ``factor * min(H, W)``.
    """
    th, tw = (size, size) if np.isscalar(size) else (int(size[0]), int(size[1]))
    h, w = image.shape[:2]
    lo = max(float(scale[0]), th / h, tw / w)
    hi = max(float(scale[1]), lo)
    s = float(rng.uniform(lo, hi)) if hi > lo else lo
    wh = min(h, max(1, int(round(th / s))))
    ww = min(w, max(1, int(round(tw / s))))
    y0 = int(rng.integers(0, h - wh + 1))
    x0 = int(rng.integers(0, w - ww + 1))
    patch = image[y0:y0 + wh, x0:x0 + ww]
    if (wh, ww) != (th, tw):
        interp = cv2.INTER_AREA if wh > th else cv2.INTER_CUBIC
        patch = cv2.resize(np.ascontiguousarray(patch), (tw, th), interpolation=interp)
    out = _to_float(patch)
    if augment:
        if rng.random() < 0.5:
            out = out[:, ::-1]
        if th == tw and rng.random() < 0.5:
            out = out.transpose(1, 0, 2)
        if rng.random() < 0.25:
            out = out[::-1]
    return np.ascontiguousarray(out), s

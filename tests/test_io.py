"""unscratch.io: precision round trips, metadata kept, atomic writes, clear errors."""
from __future__ import annotations

import os

import numpy as np
import pytest

from unscratch import InputError, io

ICC = b"\x00\x00\x02\x0cfake-icc-profile-bytes" * 20


def sample(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random(shape).astype(np.float32)
    return x if dtype == np.float32 else (x * np.iinfo(dtype).max).astype(dtype)


@pytest.mark.parametrize("ext,dtype", [(".png", np.uint8), (".png", np.uint16), (".tif", np.uint8),
                                       (".tif", np.uint16), (".tif", np.float32)])
@pytest.mark.parametrize("shape", [(20, 30), (20, 30, 3), (20, 30, 4)])
def test_lossless_round_trip(tmp_path, ext, dtype, shape):
    img = sample(shape, dtype)
    path = io.write(tmp_path / f"x{ext}", img)
    back = io.read(path)
    assert back.dtype == img.dtype and back.shape == img.shape
    np.testing.assert_array_equal(back, img)


def test_float_to_png_is_16_bit(tmp_path):
    img = sample((8, 9, 3), np.float32)
    back = io.read(io.write(tmp_path / "f.png", img))
    assert back.dtype == np.uint16
    assert np.abs(back / 65535.0 - img).max() <= 0.5 / 65535 + 1e-7


def test_jpeg_round_trip_is_close(tmp_path):
    img = np.full((32, 32, 3), 120, np.uint8)
    back = io.read(io.write(tmp_path / "x.jpg", img))
    assert back.shape == img.shape and np.abs(back.astype(int) - 120).max() <= 2


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif"])
def test_icc_and_resolution_survive(tmp_path, ext):
    img = sample((16, 16, 3), np.uint8)
    path = io.write(tmp_path / f"a{ext}", img, info=io.ImageInfo(icc_profile=ICC, dpi=(300.0, 300.0)))
    _, info = io.read_with_info(path)
    assert info.icc_profile == ICC
    assert info.dpi is not None and abs(info.dpi[0] - 300) < 1 and abs(info.dpi[1] - 300) < 1


def test_refuses_to_overwrite_the_input(tmp_path):
    img = sample((8, 8, 3), np.uint8)
    src = io.write(tmp_path / "in.png", img)
    before = src.read_bytes()
    with pytest.raises(InputError, match="refusing to overwrite the input"):
        io.write(src, img * 0, source=src)
    assert src.read_bytes() == before
    io.write(src, img, source=src, overwrite_source=True)  # explicit request is honoured


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    img = sample((8, 8, 3), np.uint8)
    target = tmp_path / "out.tif"
    old = io.write(target, img)
    before = old.read_bytes()

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        io.write(target, img * 0)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


@pytest.mark.parametrize("content,message", [(b"", "not a readable PNG"), (b"\x89PNG\r\n\x1a\nbroken", "not a readable PNG")])
def test_corrupt_files(tmp_path, content, message):
    p = tmp_path / "bad.png"
    p.write_bytes(content)
    with pytest.raises(InputError, match=message):
        io.read(p)


def test_truncated_and_unsupported(tmp_path):
    good = io.write(tmp_path / "g.tif", sample((64, 64, 3), np.uint16))
    (tmp_path / "t.tif").write_bytes(good.read_bytes()[:200])
    with pytest.raises(InputError, match="t.tif"):
        io.read(tmp_path / "t.tif")
    (tmp_path / "x.bmp").write_bytes(b"BM")
    with pytest.raises(InputError, match="unsupported file type"):
        io.read(tmp_path / "x.bmp")
    with pytest.raises(InputError, match="no such file"):
        io.read(tmp_path / "missing.png")

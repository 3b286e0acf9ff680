"""The `unscratch` command: outputs, exit codes, one-line errors."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import scratched
from unscratch import io
from unscratch.cli import main


def test_detect_and_restore(tmp_path, capsys):
    damaged, _, truth = scratched(dtype=np.uint16)
    src = io.write(tmp_path / "in.tif", damaged)
    assert main(["detect", str(src), "-o", str(tmp_path / "mask.png"), "--probability",
                 str(tmp_path / "p.tif"), "-q"]) == 0
    mask = io.read(tmp_path / "mask.png")
    assert mask[truth].mean() > 200
    assert io.read(tmp_path / "p.tif").dtype == np.float32
    assert main(["restore", str(src), "-o", str(tmp_path / "out.tif"), "--mask",
                 str(tmp_path / "mask.png"), "-q"]) == 0
    out = io.read(tmp_path / "out.tif")
    assert out.dtype == np.uint16 and out.shape == damaged.shape
    region = np.zeros(damaged.shape[:2], np.uint8)
    region[40:60, 20:100] = 255
    io.write(tmp_path / "sel.png", region)
    assert main(["restore", str(src), "-o", str(tmp_path / "fill.tif"), "--region",
                 str(tmp_path / "sel.png"), "--fill", "-q"]) == 0
    filled = io.read(tmp_path / "fill.tif")
    assert np.array_equal(filled[region == 0], damaged[region == 0])


def test_user_errors_exit_2_with_one_line(tmp_path, capsys):
    assert main(["restore", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("unscratch: error:") and "no such file" in err and "\n" not in err
    damaged, _, _ = scratched()
    src = io.write(tmp_path / "in.png", damaged)
    assert main(["restore", str(src), "-o", str(src), "-q"]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    io.write(tmp_path / "small.png", np.zeros((5, 5), np.uint8))
    assert main(["restore", str(src), "-o", str(tmp_path / "o.png"), "--region",
                 str(tmp_path / "small.png")]) == 2
    assert "region is 5x5 but the image is 128x96" in capsys.readouterr().err
    assert main(["restore", str(src), "-o", str(tmp_path / "o.png"), "--fill"]) == 2


def test_console_script_and_info():
    exe = subprocess.run([sys.executable, "-m", "unscratch", "info"], capture_output=True,
                         text=True)
    assert exe.returncode == 0 and "onnxruntime providers" in exe.stdout
    assert "jpeglib 1" in exe.stdout
    bad = subprocess.run([sys.executable, "-m", "unscratch", "detect", "nope.png", "-o", "x.png"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_demo(tmp_path):
    assert main(["demo", "-o", str(tmp_path), "-q"]) == 0
    for name in ("input.png", "mask.png", "restored.png", "restored_sensitive.png",
                 "side_by_side.png"):
        assert (tmp_path / name).stat().st_size > 1000
    # the detector's own rule repairs what it is sure of; the raised sensitivity, more of the damage
    img = {n: io.read(tmp_path / f"{n}.png") for n in ("input", "restored", "restored_sensitive")}
    changed = {n: int((img[n] != img["input"]).any(axis=2).sum()) for n in img}
    assert 0 < changed["restored"] < changed["restored_sensitive"]


def test_restore_region_says_what_it_repaired(tmp_path, capsys):
    """A region means the damage is there: the detector's mask at its threshold (or --threshold)
    inside it is repaired, and stderr says how many pixels and by which rule."""
    damaged, _, _ = scratched()
    src = io.write(tmp_path / "in.png", damaged)
    region = np.zeros(damaged.shape[:2], np.uint8)
    region[40:60, 20:100] = 255
    sel = io.write(tmp_path / "sel.png", region)
    out = tmp_path / "out.png"
    argv = ["restore", str(src), "-o", str(out), "--region", str(sel), "--threshold", "0.8"]
    assert main(argv) == 0
    changed = int((io.read(tmp_path / "out.png") != damaged).any(axis=2).sum())
    err = capsys.readouterr().err
    said = (f"Repaired {changed} pixels: the defects the detector found inside the selection at "
            "sensitivity 0.80")
    assert said in err


def test_detect_without_probability_streams_the_mask(tmp_path, monkeypatch):
    """Without --probability the CLI never holds the probability (400 MB at 100 MP): it asks
    for the mask only, and writes the same mask as with it."""
    from unscratch import api
    damaged, _, _ = scratched()
    src = io.write(tmp_path / "in.png", damaged)
    kept = []
    real = api._detect

    def noting(*a, **kw):
        det = real(*a, **kw)
        kept.append(det.probability is not None)
        return det

    monkeypatch.setattr(api, "_detect", noting)
    assert main(["detect", str(src), "-o", str(tmp_path / "a.png"), "-q"]) == 0
    assert main(["detect", str(src), "-o", str(tmp_path / "b.png"), "--probability",
                 str(tmp_path / "p.tif"), "-q"]) == 0
    assert kept == [False, True]
    assert np.array_equal(io.read(tmp_path / "a.png"), io.read(tmp_path / "b.png"))
    with pytest.raises(ValueError, match="without its probability"):
        api.detect(damaged, keep_probability=False).rethreshold(0.5)

"""What a hostile (or careless) user does to the CLI : every case is one line,
exit 2, nothing written, no file the command reads ever touched, no traceback, no decoder noise; and
nothing in a photo changed beyond what the shipped model would repair unless the user asked."""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile

from conftest import scratched
from unscratch import batch, io, models
from unscratch.cli import main

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args, env=None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, PYTHONPATH=str(REPO / "core"), **(env or {}))
    return subprocess.run([sys.executable, "-m", "unscratch", *map(str, args)], capture_output=True,
                          text=True, env=full_env, timeout=120)


def snapshot(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


def one_line(err: str, kind: str = "error") -> str:
    """The one non-blank line of `err`, which must start "unscratch: <kind>:"."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"unscratch: {kind}:"), err
    return lines[0]


@pytest.fixture
def scan(tmp_path):
    """A scratched 8-bit PNG, a mask and a selection of its size, in tmp_path."""
    damaged, _, truth = scratched()
    src = io.write(tmp_path / "in.png", damaged)
    io.write(tmp_path / "m.png", truth.astype(np.uint8) * 255)
    sel = np.zeros(damaged.shape[:2], np.uint8)
    sel[30:70, 10:120] = 255
    io.write(tmp_path / "sel.png", sel)
    return src


@pytest.fixture
def no_work(monkeypatch):
    """Reading the input counts as work: a check that comes after it fails the test."""
    def forbidden(*a, **k):
        raise AssertionError("the input was read before the outputs were checked")
    monkeypatch.setattr(io, "read_with_info", forbidden)


# --- 1. every output checked before any work -----------------------------------------------------
@pytest.mark.parametrize("argv, clobbered", [
    (["restore", "in.png", "--mask", "m.png", "-o", "m.png"], "m.png"),
    (["restore", "in.png", "--region", "sel.png", "-o", "sel.png"], "sel.png"),
    (["restore", "in.png", "--region", "sel.png", "--fill", "-o", "sel.png"], "sel.png"),
    (["detect", "in.png", "--region", "sel.png", "-o", "sel.png"], "sel.png"),
    (["detect", "in.png", "-o", "mask.png", "--probability", "sel.png", "--region", "sel.png"],
     "sel.png"),
    (["detect", "in.png", "-o", "in.png"], "in.png"),
])
def test_no_file_the_command_reads_is_written(tmp_path, scan, capsys, no_work, argv, clobbered):
    before = snapshot(tmp_path)
    assert main([str(tmp_path / a) if a.endswith(".png") else a for a in argv] + ["-q"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "refusing to overwrite" in line and clobbered in line
    assert snapshot(tmp_path) == before


def test_a_link_to_an_input_is_the_input(tmp_path, scan, capsys, no_work):
    os.symlink(tmp_path / "m.png", tmp_path / "soft.png")
    os.link(tmp_path / "m.png", tmp_path / "hard.png")
    before = snapshot(tmp_path)
    for out in ("soft.png", "hard.png"):
        argv = ["restore", str(scan), "--mask", str(tmp_path / "m.png"), "-o", str(tmp_path / out)]
        assert main(argv) == 2
        assert "refusing to overwrite" in one_line(capsys.readouterr().err)
    assert snapshot(tmp_path) == before


def test_two_outputs_may_not_be_one_file(tmp_path, scan, capsys, no_work):
    same = str(tmp_path / "x.tif")
    assert main(["detect", str(scan), "-o", same, "--probability", same]) == 2
    assert "same file as -o" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "x.tif").exists()


@pytest.mark.parametrize("output, message", [
    ("folder", "is a folder"),
    ("missing_dir/x.png", "output folder"),
    ("out.bmp", "unsupported output type '.bmp'"),
    ("out", "unsupported output type ''"),
])
def test_bad_output_paths_fail_before_work(tmp_path, scan, capsys, no_work, output, message):
    (tmp_path / "folder").mkdir()
    before = snapshot(tmp_path)
    assert main(["restore", str(scan), "-o", str(tmp_path / output), "-q"]) == 2
    line = one_line(capsys.readouterr().err)
    assert message in line and output.split("/")[0] in line
    assert snapshot(tmp_path) == before and not any((tmp_path / "folder").iterdir())


def test_an_unwritable_output_folder_fails_before_the_first_output(tmp_path, scan, capsys, no_work,
                                                                    monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: make os.access say what it says to everyone else
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == ro else real(p, mode))
    argv = ["detect", str(scan), "-o", str(tmp_path / "ok.png"), "--probability", str(ro / "p.tif")]
    assert main(argv) == 2
    line = one_line(capsys.readouterr().err)
    assert "--probability" in line and "permission denied" in line
    assert not (tmp_path / "ok.png").exists() and not list(ro.iterdir())


# --- 2. bombs, empty images, folders, full disks -------------------------------------------------
def _png_with_size(width: int, height: int) -> bytes:
    """A small valid PNG whose IHDR then declares another size (CRC fixed, so only the size is
    wrong)."""
    data = bytearray(io.encode(np.zeros((8, 8), np.uint8), ".png", io.ImageInfo(), 95))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


def _jpeg_with_size(width: int, height: int) -> bytes:
    data = bytearray(io.encode(np.zeros((16, 16, 3), np.uint8), ".jpg", io.ImageInfo(), 90))
    for marker, body, start, _ in io.metadata.jpeg_segments(bytes(data)):
        if marker == 0xC0:
            data[start + 5:start + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize("name, data, message", [
    ("bomb.png", _png_with_size(100000, 100000),
     "declares 100000x100000 pixels (10000 MP), over the 1000 MP limit"),
    ("bomb.jpg", _jpeg_with_size(60000, 60000),
     "declares 60000x60000 pixels (3600 MP), over the 1000 MP limit"),
    ("empty.png", _png_with_size(0, 0), "declares an empty 0x0 image"),
])
def test_bombs_and_empty_images_are_one_line_without_decoder_noise(tmp_path, name, data, message):
    (tmp_path / name).write_bytes(data)
    res = run_cli("restore", tmp_path / name, "-o", tmp_path / "out.png")
    assert res.returncode == 2 and "Traceback" not in res.stderr and "libpng" not in res.stderr
    assert message in one_line(res.stderr) and name in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_bomb_tiff_is_refused_from_its_header(tmp_path):
    path = tmp_path / "bomb.tif"
    tifffile.imwrite(path, np.zeros((16, 16), np.uint8))
    with tifffile.TiffFile(path) as tif:  # where ImageWidth and ImageLength are stored
        tags = tif.pages[0].tags
        where = [(tags[code].valueoffset, tags[code].dtype) for code in (256, 257)]
    data = bytearray(path.read_bytes())
    for offset, dtype in where:  # now it declares 40000x40000, without the pixels behind it
        short = int(dtype) == 3
        data[offset:offset + (2 if short else 4)] = struct.pack("<H" if short else "<I", 40000)
    path.write_bytes(bytes(data))
    said = r"40000x40000 pixels \(1600 MP\), over the 1000 MP limit"
    with pytest.raises(io.InputError, match=said):
        io.read(path)


def test_the_pixel_limit_can_be_raised(tmp_path, monkeypatch):
    io.write(tmp_path / "a.png", np.zeros((20, 20), np.uint8))
    monkeypatch.setenv("UNSCRATCH_MAX_MEGAPIXELS", "0.0001")
    with pytest.raises(io.InputError, match="over the 0 MP limit"):
        io.read(tmp_path / "a.png")
    monkeypatch.setenv("UNSCRATCH_MAX_MEGAPIXELS", "1")
    assert io.read(tmp_path / "a.png").shape == (20, 20)


def test_a_corrupt_png_is_one_line_naming_libpngs_reason(tmp_path):
    data = bytearray(_png_with_size(8, 8))
    data[40:48] = b"\xff" * 8  # inside the compressed pixels
    (tmp_path / "bad.png").write_bytes(bytes(data))
    res = run_cli("detect", tmp_path / "bad.png", "-o", tmp_path / "m.png")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    line = one_line(res.stderr)
    assert "not a readable PNG file" in line and "WARN" not in line
    data = bytearray(_png_with_size(8, 8))
    data[29] ^= 0xFF  # the header's checksum
    (tmp_path / "bad.png").write_bytes(bytes(data))
    res = run_cli("detect", tmp_path / "bad.png", "-o", tmp_path / "m.png")
    assert "(corrupt or truncated: libpng error: IHDR: CRC error)" in one_line(res.stderr)


def test_a_folder_as_input_is_one_line(tmp_path):
    (tmp_path / "scan.png").mkdir()
    res = run_cli("restore", tmp_path / "scan.png", "-o", tmp_path / "out.png")
    assert res.returncode == 2 and "is a folder" in one_line(res.stderr)


@pytest.mark.parametrize("name", ["in.png", "in.tif"])
def test_an_unreadable_input_is_one_line(tmp_path, capsys, monkeypatch, name):
    src = io.write(tmp_path / name, scratched()[0])
    if os.geteuid() == 0:  # root reads anything: make opening it fail as it does for everyone else
        real_open = open

        def denied(file, *a, **k):
            if Path(file) == src:
                raise PermissionError(errno.EACCES, "Permission denied", str(file))
            return real_open(file, *a, **k)
        monkeypatch.setattr("builtins.open", denied)
        monkeypatch.setattr(Path, "read_bytes", lambda self: denied(self))
    else:
        src.chmod(0)
    assert main(["detect", str(src), "-o", str(tmp_path / "m.png")]) == 2
    line = one_line(capsys.readouterr().err)
    assert name in line and "cannot be read (permission denied)" in line.lower()


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, scan, capsys, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", full)
    before = snapshot(tmp_path)
    assert main(["restore", str(scan), "-o", str(tmp_path / "out.tif"), "-q"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "out.tif: cannot be written (the disk is full)" in line
    assert snapshot(tmp_path) == before and not list(tmp_path.glob(".*"))


def test_a_disk_that_fills_between_two_outputs_leaves_neither(tmp_path, scan, capsys, monkeypatch):
    real = os.fsync

    def full_for_tiffs(fd):
        if ".tif." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)
    monkeypatch.setattr(os, "fsync", full_for_tiffs)
    before = snapshot(tmp_path)
    argv = ["detect", str(scan), "-o", str(tmp_path / "d.png"), "--probability",
            str(tmp_path / "p.tif"), "-q"]
    assert main(argv) == 2
    assert "p.tif: cannot be written (the disk is full)" in one_line(capsys.readouterr().err)
    assert snapshot(tmp_path) == before and not list(tmp_path.glob(".*"))


def test_an_oserror_nobody_foresaw_is_still_one_line(tmp_path, scan, capsys, monkeypatch):
    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "x"))
    monkeypatch.setattr(io, "remove_stale_temporaries", denied)
    assert main(["restore", str(scan), "-o", str(tmp_path / "out.png"), "-q"]) == 2
    assert "Permission denied" in one_line(capsys.readouterr().err)


def _batch_input(tmp_path) -> Path:
    src = tmp_path / "scans"
    src.mkdir()
    io.write(src / "a.png", scratched(seed=1)[0])
    return src


def test_batch_on_a_full_disk_records_the_failure(tmp_path, monkeypatch):
    src = _batch_input(tmp_path)
    real = os.fsync

    def full(fd):  # the manifest still commits; the output does not fit
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".part"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)
    monkeypatch.setattr(os, "fsync", full)
    summary = batch.run_batch(src, tmp_path / "out", quiet=True, out=open(os.devnull, "w"))
    assert summary.failed == 1 and "the disk is full" in summary.failures[0][1]
    assert not [p for p in (tmp_path / "out").rglob("*")
                if p.name.endswith(".part") or p.name == "a.png"]


def test_batch_into_an_impossible_folder_is_one_line(tmp_path):
    src = _batch_input(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    res = run_cli("batch", src, tmp_path / "afile" / "out", "-q")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "afile" in one_line(res.stderr)


def test_batch_manifest_on_a_full_disk_is_one_line(tmp_path, capsys, monkeypatch):
    src = _batch_input(tmp_path)

    def full(*a, **k):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(batch.Manifest, "record", full)
    assert main(["batch", str(src), str(tmp_path / "out"), "-q"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "database or disk is full" in line and "rerun" in line


# --- 3. scanner TIFFs ---------------------------------------------------------------------------
@pytest.mark.parametrize("compression", ["lzw", "packbits", "zlib", "zstd", "jpeg"])
def test_scanner_tiff_compressions_are_read(tmp_path, compression):
    image = scratched()[0]
    path = tmp_path / f"{compression}.tif"
    tifffile.imwrite(path, image, photometric="rgb", compression=compression)
    back = io.read(path)
    if compression == "jpeg":
        assert back.shape == image.shape and np.abs(back.astype(int) - image).mean() < 3
    else:
        assert np.array_equal(back, image)


@pytest.mark.parametrize("choice, tag", [(None, 8), ("none", 1), ("lzw", 5), ("deflate", 8),
                                         ("zstd", 50000)])
def test_16_bit_tiff_written_with_the_chosen_compression(tmp_path, choice, tag):
    damaged = scratched(dtype=np.uint16)[0]
    src = io.write(tmp_path / "in.tif", damaged)
    argv = ["restore", str(src), "-o", str(tmp_path / "out.tif"), "-q"]
    argv += ["--compression", choice] if choice else []
    assert main(argv) == 0
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert int(tif.pages[0].compression) == tag and tif.pages[0].dtype == np.uint16
    out = io.read(tmp_path / "out.tif")
    assert out.dtype == np.uint16 and (out != damaged).any()


def test_batch_writes_tiffs_with_the_chosen_compression(tmp_path):
    src = _batch_input(tmp_path)
    argv = ["batch", str(src), str(tmp_path / "out"), "--format", "tiff", "--probability", "-q"]
    assert main(argv + ["--compression", "zstd"]) == 0
    for name in ("a.tif", "_probability/a.png.tif"):
        with tifffile.TiffFile(tmp_path / "out" / name) as tif:
            assert int(tif.pages[0].compression) == 50000
    assert main(argv + ["--compression", "lzw"]) == 0  # another compression rewrites the files
    with tifffile.TiffFile(tmp_path / "out" / "a.tif") as tif:
        assert int(tif.pages[0].compression) == 5


def test_compression_without_a_tiff_output_is_refused(tmp_path, scan, capsys):
    argv = ["restore", str(scan), "-o", str(tmp_path / "out.png"), "--compression", "lzw"]
    assert main(argv) == 2
    assert "applies to TIFF outputs" in one_line(capsys.readouterr().err)


# --- 4. permissions -----------------------------------------------------------------------------
def test_outputs_honour_the_umask_and_a_replaced_file_keeps_its_mode(tmp_path, scan):
    old = os.umask(0o022)
    try:
        assert main(["detect", str(scan), "-o", str(tmp_path / "m2.png"), "--probability",
                     str(tmp_path / "p.tif"), "-q"]) == 0
        for name in ("m2.png", "p.tif"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
        (tmp_path / "out.png").write_bytes(b"old")
        (tmp_path / "out.png").chmod(0o444)
        assert main(["restore", str(scan), "-o", str(tmp_path / "out.png"), "-q"]) == 0
        assert stat.S_IMODE((tmp_path / "out.png").stat().st_mode) == 0o444
        assert io.read(tmp_path / "out.png").shape == io.read(scan).shape
        os.umask(0o007)
        summary = batch.run_batch(_batch_input(tmp_path), tmp_path / "out", quiet=True,
                                  settings=batch.Settings(masks=True))
        assert summary.done == 1
        for name in ("a.png", "_masks/a.png.png"):
            assert stat.S_IMODE((tmp_path / "out" / name).stat().st_mode) == 0o660
    finally:
        os.umask(old)


# --- 5. the models folder -----------------------------------------------------------------------
def test_extra_json_in_the_models_folder_is_skipped_and_listed(tmp_path, scan, monkeypatch, capsys):
    folder = tmp_path / "models"
    folder.mkdir()
    for path in models.models_dir().iterdir():
        if path.suffix in (".json", ".onnx"):
            os.symlink(path, folder / path.name)
    (folder / "notes.json").write_text('{"todo": "retrain"}')
    shutil.copy(folder / "unscratch-detector.json", folder / "unscratch-detector backup.json")
    monkeypatch.setenv("UNSCRATCH_MODELS_DIR", str(folder))
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "skipped notes.json: not a model card" in out
    assert "skipped unscratch-detector backup.json: a copy of the card 'unscratch-detector'" in out
    assert "unscratch-detector " in out and "ok" in out
    assert main(["detect", str(scan), "-o", str(tmp_path / "d.png"), "-q"]) == 0
    assert {c.name for c in models.list_cards()} == {"unscratch-detector", "unscratch-restorer"}


def test_a_models_folder_that_does_not_exist_is_said(tmp_path, scan, monkeypatch, capsys):
    """A mistyped UNSCRATCH_MODELS_DIR is said by info (which then exits 2) and stops detect; the
    classical detector runs only when asked for (never in the model's place without a word)."""
    monkeypatch.setenv("UNSCRATCH_MODELS_DIR", str(tmp_path / "modles"))
    assert main(["info"]) == 2
    out = capsys.readouterr().out
    assert "modles (UNSCRATCH_MODELS_DIR) does not exist" in out
    assert main(["detect", str(scan), "-o", str(tmp_path / "d.png"), "-q"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "modles (UNSCRATCH_MODELS_DIR) does not exist" in line and "--method classical" in line
    assert not (tmp_path / "d.png").exists()
    argv = ["detect", str(scan), "-o", str(tmp_path / "d.png"), "-q", "--method", "classical"]
    assert main(argv) == 0


# --- 6. leftovers ---------------------------------------------------------------------------------
def test_a_killed_runs_temporary_is_removed_by_the_next_write(tmp_path, scan):
    stale = tmp_path / ".out.png.k1ll3d00.part"
    live = tmp_path / ".out.png.wr1t1ng0.part"
    other = tmp_path / ".other.png.k1ll3d00.part"
    for path in (stale, live, other):
        path.write_bytes(b"\x89PNG half")
    with open(live, "rb") as held:  # a writer still at work holds its temporary locked
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        assert main(["restore", str(scan), "-o", str(tmp_path / "out.png"), "-q"]) == 0
    assert not stale.exists() and live.exists() and other.exists()


def test_a_sigkilled_write_leaves_a_temporary_the_rerun_removes(tmp_path, scan):
    noise = np.random.default_rng(0).integers(0, 65535, (3000, 3000, 3), np.uint16)
    big = io.write(tmp_path / "big.tif", noise)
    code = ("import os, signal, tifffile\n"
            "real = tifffile.imwrite\n"
            "def killed(*a, **k):\n"
            "    real(*a, **k); os.kill(os.getpid(), signal.SIGKILL)\n"
            "tifffile.imwrite = killed\n"
            "from unscratch import io\n"
            f"io.write({str(tmp_path / 'out.tif')!r}, io.read({str(big)!r}))\n")
    env = dict(os.environ, PYTHONPATH=str(REPO / "core"))
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == -9
    assert [p.name for p in tmp_path.glob(".out.tif.*.part")]
    assert main(["restore", str(scan), "-o", str(tmp_path / "out.tif"), "-q"]) == 0
    assert not list(tmp_path.glob(".*.part"))


def test_sigterm_while_writing_leaves_nothing(tmp_path):
    import signal
    import time
    noise = np.random.default_rng(1).integers(0, 65535, (3000, 3000, 3), np.uint16)
    big = io.write(tmp_path / "big.tif", noise, compression="none")
    env = dict(os.environ, PYTHONPATH=str(REPO / "core"))
    argv = [sys.executable, "-m", "unscratch", "restore", str(big), "-o", str(tmp_path / "out.tif"),
            "-q", "--method", "classical", "--detect-method", "classical", "--compression", "zstd"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.tif.*.part")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    left = sorted(p.name for p in tmp_path.iterdir())
    if "after writing" in stderr or proc.returncode == 0:
        # on a loaded machine the signal can come while the finished file is put in place (held
        # until it is) or after the run ended: then the whole output is there, never part of it
        assert left == ["big.tif", "out.tif"] and io.read(tmp_path / "out.tif").shape == noise.shape
        assert proc.returncode in (0, 143), stderr
        return
    assert proc.returncode == 143, stderr  # 128 + SIGTERM
    assert "interrupted; no output was written" in stderr
    assert left == ["big.tif"]


def test_batch_quiet_is_silent_about_a_broken_png(tmp_path):
    src = _batch_input(tmp_path)
    data = bytearray((src / "a.png").read_bytes())
    data[60:80] = b"\x00" * 20
    (src / "b.png").write_bytes(bytes(data))
    (src / "c.png").write_bytes(_png_with_size(0, 0))
    res = run_cli("batch", src, tmp_path / "out", "-q")
    assert res.returncode == 1 and res.stderr == "", res.stderr
    assert "FAILED b.png" in res.stdout and "FAILED c.png" in res.stdout
    assert "Traceback" not in res.stdout


# --- 7. losses told -------------------------------------------------------------------------------
def test_a_cmyk_jpeg_written_as_jpeg_is_said(tmp_path):
    PIL = pytest.importorskip("PIL.Image")
    rgb = scratched()[0]
    PIL.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=92)
    res = run_cli("restore", tmp_path / "cmyk.jpg", "-o", tmp_path / "out.jpg", "-q")
    assert res.returncode == 0
    assert "is a CMYK JPEG; it is written as RGB" in res.stderr and "re-encoded whole" in res.stderr
    assert io.read(tmp_path / "out.jpg").shape == rgb.shape


@pytest.mark.parametrize("channels, dtype, lost", [
    (3, np.uint16, "16-bit samples are rounded to 8 bits"),
    (4, np.uint8, "alpha channel is dropped"),
    (4, np.uint16, "16-bit samples are rounded to 8 bits and its alpha channel is dropped"),
])
def test_what_jpeg_cannot_hold_is_said(tmp_path, channels, dtype, lost):
    src = io.write(tmp_path / "in.png", scratched(channels=channels, dtype=dtype)[0])
    res = run_cli("restore", src, "-o", tmp_path / "out.jpg", "-q")
    assert res.returncode == 0
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("unscratch: warning:"), res.stderr
    assert lost in lines[0]
    assert "out.jpg" in lines[0]
    assert run_cli("restore", src, "-o", tmp_path / "out.png", "-q").stderr == ""


def test_float_samples_in_0_255_are_refused(tmp_path, capsys):
    damaged = scratched()[0].astype(np.float32)
    tifffile.imwrite(tmp_path / "f.tif", damaged, photometric="rgb")
    assert main(["detect", str(tmp_path / "f.tif"), "-o", str(tmp_path / "m.png")]) == 2
    assert "look like 0-255" in one_line(capsys.readouterr().err)
    tifffile.imwrite(tmp_path / "ok.tif", damaged / 255, photometric="rgb")
    assert main(["detect", str(tmp_path / "ok.tif"), "-o", str(tmp_path / "m.png"), "-q"]) == 0


def test_batch_redoes_a_truncated_output(tmp_path):
    src = _batch_input(tmp_path)
    out = tmp_path / "out"
    assert batch.run_batch(src, out, quiet=True, settings=batch.Settings(masks=True)).done == 1
    good = (out / "a.png").read_bytes()
    db = sqlite3.connect(out / batch.MANIFEST_NAME)
    files = json.loads(db.execute("SELECT output_files FROM files").fetchone()[0])
    db.close()
    assert files["a.png"][0] == len(good) and files["a.png"][2] == hashlib.sha256(good).hexdigest()
    with open(out / "a.png", "r+b") as fh:
        fh.truncate(1000)
    again = batch.run_batch(src, out, quiet=True, settings=batch.Settings(masks=True))
    assert (again.done, again.skipped) == (1, 0) and (out / "a.png").read_bytes() == good
    # same size, new content, mtime put back: the checksum still tells
    mask = out / "_masks" / "a.png.png"
    st = mask.stat()
    data = bytearray(mask.read_bytes())
    data[-20] ^= 0xFF
    mask.write_bytes(bytes(data))
    os.utime(mask, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    third = batch.run_batch(src, out, quiet=True, settings=batch.Settings(masks=True))
    assert (third.done, third.skipped) == (1, 0)
    assert batch.run_batch(src, out, quiet=True, settings=batch.Settings(masks=True)).skipped == 1


def _ctrl_c_as_in_a_terminal():
    """A command run in a terminal's foreground gets Ctrl-C; one this test suite started in the
    background (`nohup .ci/test &`) would inherit SIGINT ignored, and rightly ignore it."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_on_a_local_cluster_is_quiet(tmp_path):
    pytest.importorskip("distributed")
    import signal
    import time
    src = tmp_path / "scans"
    src.mkdir()
    # enough files that a loaded machine cannot finish them all before the signal lands
    for i in range(24):
        io.write(src / f"f{i:02d}.png", scratched(h=600, w=800, seed=i)[0])
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO / "core"))
    argv = [sys.executable, "-m", "unscratch", "batch", str(src), str(out), "--workers", "2", "-q"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True, preexec_fn=_ctrl_c_as_in_a_terminal)
    deadline = time.monotonic() + 120
    # until the workers work
    while not (out.is_dir() and list(out.glob(".*.part")) + list(out.glob("*.png"))):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted; rerun the same command to resume" in stdout
    assert stderr == "", stderr


# --- 8. never destroy silently ------------------------------------------------------------------
def _models_folder(tmp_path, what: str) -> Path:
    """A models folder as a hostile setup leaves it: missing, empty, or holding only stray JSON."""
    folder = tmp_path / "models"
    if what != "missing":
        folder.mkdir()
    if what == "notes only":
        (folder / "notes.json").write_text('{"todo": "retrain"}')
    return folder


@pytest.mark.parametrize("what", ["missing", "empty", "notes only"])
def test_without_models_auto_refuses_instead_of_the_classical_detector(tmp_path, scan, monkeypatch,
                                                                      capsys, what):
    """The classical detector marks many times what the shipped model repairs (13 % of a photo):
    with no usable model, detect and restore stop with one line naming the folder and the opt-in."""
    folder = _models_folder(tmp_path, what)
    monkeypatch.setenv("UNSCRATCH_MODELS_DIR", str(folder))
    before = snapshot(tmp_path)
    for argv in (["detect", str(scan), "-o", str(tmp_path / "d.png")],
                 ["restore", str(scan), "-o", str(tmp_path / "r.png")],
                 ["restore", str(scan), "--mask", str(tmp_path / "m.png"), "-o",
                  str(tmp_path / "r.png")]):
        assert main(argv + ["-q"]) == 2
        line = one_line(capsys.readouterr().err)
        assert str(folder) in line and "--method classical" in line and "model" in line
    assert snapshot(tmp_path) == before
    assert main(["restore", str(scan), "-o", str(tmp_path / "r.png"), "-q", "--method", "classical",
                 "--detect-method", "classical"]) == 0  # asked for: it runs


def test_the_api_without_models_refuses_auto_and_runs_classical_when_asked(tmp_path, monkeypatch):
    from unscratch import api
    monkeypatch.setenv("UNSCRATCH_MODELS_DIR", str(_models_folder(tmp_path, "empty")))
    image = scratched()[0]
    with pytest.raises(models.ModelError, match="no detector model.*method=\"classical\""):
        api.detect(image)
    with pytest.raises(models.ModelError, match="no restorer model"):
        api.restore(image, np.zeros(image.shape[:2], bool))
    assert api.detect(image, method="classical").mask.shape == image.shape[:2]


def test_batch_refuses_to_start_without_its_models_unless_asked(tmp_path, monkeypatch, capsys):
    src = _batch_input(tmp_path)
    monkeypatch.setenv("UNSCRATCH_MODELS_DIR", str(_models_folder(tmp_path, "empty")))
    assert main(["batch", str(src), str(tmp_path / "out"), "-q"]) == 2
    assert "--method classical" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()
    assert main(["batch", str(src), str(tmp_path / "out"), "-q", "--method", "classical"]) == 0
    assert (tmp_path / "out" / "a.png").is_file()


def test_info_exits_2_when_a_model_is_bad(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "models"
    folder.mkdir()
    for path in models.models_dir().iterdir():
        if path.suffix == ".json":
            shutil.copy(path, folder / path.name)
        elif path.suffix == ".onnx":
            data = bytearray(path.read_bytes())
            if path.stem == "unscratch-detector":
                data[len(data) // 2] ^= 0x01  # one flipped bit
            (folder / path.name).write_bytes(bytes(data))
    monkeypatch.setenv("UNSCRATCH_MODELS_DIR", str(folder))
    assert main(["info"]) == 2
    captured = capsys.readouterr()
    assert "BAD: " in captured.out and "unscratch-detector" in captured.out
    assert "models are not usable" in captured.err


FLOAT_CASES = [(255.0, 0.0, "look like 0-255"), (1.5, 0.0, "go above 1, out of 0-1"),
               (0.8, -0.2, "go below 0, out of 0-1")]


@pytest.mark.parametrize("high, low, said", FLOAT_CASES)
def test_float_ranges_are_refused_alike_by_the_api_and_the_cli(tmp_path, capsys, high, low, said):
    """A float image out of 0-1 is refused alike by the API and the CLI, never clipped silently
    (clipped, every repaired scratch would come back black); one in 0-1.5 or -0.2-0.8 is told
    which way it leaves 0-1, not that it looks like 0-255."""
    from unscratch import api
    image = (scratched()[0].astype(np.float32) / 255) * (high - low) + low
    tifffile.imwrite(tmp_path / "f.tif", image, photometric="rgb")
    assert main(["detect", str(tmp_path / "f.tif"), "-o", str(tmp_path / "m.png"), "-q"]) == 2
    cli_line = one_line(capsys.readouterr().err)
    assert said in cli_line and ("0-255" in said or "0-255" not in cli_line)
    cli_words = cli_line.split("f.tif: ", 1)[1]
    everywhere = np.ones(image.shape[:2], bool)
    for call in (lambda: api.detect(image), lambda: api.restore(image, everywhere),
                 lambda: api.restore(image, region=everywhere, mode="fill")):
        with pytest.raises(io.InputError) as caught:
            call()
        assert str(caught.value) == f"image: {cli_words}"
    assert not (tmp_path / "m.png").exists()


@pytest.mark.parametrize("value", ["scan.png", Path("scan.png"), 3.5])
def test_the_api_names_what_is_not_an_image_array(value):
    from unscratch import api
    kind = type(value).__name__
    for call in (lambda: api.detect(value), lambda: api.restore(value)):
        said = f"image: expected an image array, got {kind}"
        with pytest.raises(io.InputError, match=said) as caught:
            call()
        assert "shape ()" not in str(caught.value)
    with pytest.raises(io.InputError, match="region: expected an HxW array, got str"):
        api.detect(scratched()[0], region="sel.png")


def test_an_interrupted_detect_leaves_neither_output(tmp_path, scan, capsys, monkeypatch):
    """Ctrl-C or SIGTERM while the probability map is written leaves neither output (not the mask
    beside the words "no output was written"): both are put in place together at the end."""
    from unscratch.io import writing as io_write
    (tmp_path / "old.png").write_bytes(b"the user's old mask")

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(io_write, "write_tiff", interrupted)
    before = snapshot(tmp_path)
    for mask in ("m2.png", "old.png"):
        argv = ["detect", str(scan), "-o", str(tmp_path / mask), "--probability",
                str(tmp_path / "p.tif"), "-q"]
        assert main(argv) == 130
        assert "interrupted; no output was written" in capsys.readouterr().err
        assert snapshot(tmp_path) == before and not list(tmp_path.glob(".*"))


def test_a_signal_while_outputs_are_put_in_place_waits_for_both(tmp_path, scan, capsys,
                                                                monkeypatch):
    import signal
    real = os.replace
    sent = []

    def replace_then_signal(src, dst):
        real(src, dst)
        if not sent:  # SIGTERM between the two renames: held until both are in place
            sent.append(os.kill(os.getpid(), signal.SIGTERM))
    monkeypatch.setattr(os, "replace", replace_then_signal)
    argv = ["detect", str(scan), "-o", str(tmp_path / "m2.png"), "--probability",
            str(tmp_path / "p.tif"), "-q"]
    assert main(argv) == 143
    err = capsys.readouterr().err
    assert "interrupted; after writing" in err and "m2.png" in err and "p.tif" in err
    assert io.read(tmp_path / "m2.png").dtype == np.uint8
    assert io.read(tmp_path / "p.tif").dtype == np.float32


def _jpeg_with_exif(path: Path, image: np.ndarray, orientation: int = 1) -> Path:
    PIL = pytest.importorskip("PIL.Image")
    exif = PIL.Exif()
    exif[0x010F], exif[0x0110] = "Nikon", "LS-5000"
    exif[0x010E] = "Accession 1987.44.12"
    exif[0x0112] = orientation
    exif.get_ifd(0x8769)[0x9003] = "1987:05:01 10:00:00"  # DateTimeOriginal, in the EXIF sub-IFD
    PIL.fromarray(image).save(path, quality=95, exif=exif.tobytes())
    return path


def test_a_jpeg_restored_to_tiff_keeps_its_exif_text_and_says_what_it_drops(tmp_path):
    src = _jpeg_with_exif(tmp_path / "in.jpg", scratched()[0])
    res = run_cli("restore", src, "-o", tmp_path / "out.tif", "-q")
    assert res.returncode == 0, res.stderr
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        tags = tif.pages[0].tags
        assert (tags["Make"].value, tags["Model"].value) == ("Nikon", "LS-5000")
        assert tags["ImageDescription"].value == "Accession 1987.44.12"
    line = one_line(res.stderr, "warning")
    assert "out.tif" in line and "not the EXIF camera settings" in line


def test_a_multi_page_tiff_and_an_animated_png_say_only_the_first_is_used(tmp_path):
    PIL = pytest.importorskip("PIL.Image")
    image = scratched()[0]
    with tifffile.TiffWriter(tmp_path / "pages.tif") as tif:
        for k in range(3):
            tif.write(image // (k + 1), photometric="rgb", metadata=None)
    res = run_cli("restore", tmp_path / "pages.tif", "-o", tmp_path / "out.tif", "-q")
    assert res.returncode == 0
    assert "pages.tif: has 3 pages; only the first is used" in one_line(res.stderr, "warning")
    frames = [PIL.fromarray(image), PIL.fromarray(image // 2)]
    frames[0].save(tmp_path / "anim.png", save_all=True, append_images=frames[1:], duration=100)
    res = run_cli("restore", tmp_path / "anim.png", "-o", tmp_path / "out.png", "-q")
    assert res.returncode == 0
    said = "anim.png: is an animated PNG of 2 frames; only the first is used"
    assert said in one_line(res.stderr, "warning")
    assert run_cli("restore", tmp_path / "out.png", "-o", tmp_path / "again.png", "-q").stderr == ""


@pytest.mark.parametrize("colour, channels", [((0, 255, 0), 3), ((255, 0, 0), 4), ((0, 0, 255), 3)])
def test_a_mask_painted_in_colour_counts_as_painted(tmp_path, scan, colour, channels):
    """A mask stroke in pure green has nothing in its first channel: it must still count as
    painted (not read as empty, repairing nothing without a word)."""
    truth = io.read(tmp_path / "m.png") > 0
    painted = np.zeros(truth.shape + (channels,), np.uint8)
    if channels == 4:
        painted[:, :, 3] = 255  # an opaque layer: the colour is the stroke
    painted[truth, :3] = colour
    io.write(tmp_path / "green.png", painted)
    for mask, out in (("green.png", "a.png"), ("m.png", "b.png")):
        argv = ["restore", str(scan), "--mask", str(tmp_path / mask), "-o", str(tmp_path / out)]
        argv.append("-q")
        assert main(argv) == 0
    repaired = io.read(tmp_path / "a.png")
    assert (repaired != io.read(scan)).any()
    assert np.array_equal(repaired, io.read(tmp_path / "b.png"))


def test_a_batch_stopped_by_a_signal_says_what_is_done_and_exits_128_plus_it(tmp_path):
    import signal
    import time
    src = tmp_path / "scans"
    src.mkdir()
    n = 60  # enough files that a loaded machine cannot finish them all before the signal lands
    for i in range(n):
        io.write(src / f"f{i:02d}.png", scratched(h=300, w=400, seed=i)[0])
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        out = tmp_path / f"out{code}"
        env = dict(os.environ, PYTHONPATH=str(REPO / "core"))
        argv = [sys.executable, "-m", "unscratch", "batch", str(src), str(out), "--method",
                "classical"]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, preexec_fn=_ctrl_c_as_in_a_terminal)
        deadline = time.monotonic() + 120
        while not (out.is_dir() and len(list(out.glob("f*.png"))) >= 2):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == code, (stdout, stderr)
        assert f"interrupted; rerun the same command to resume. {n} files:" in stdout
        done = int(stdout.split(f"{n} files: ")[1].split(" restored")[0])
        assert done >= 1 and "Traceback" not in stderr, stdout
        assert "%|" not in stderr  # stderr is a pipe: no progress bar in it


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path, scan):
    res = run_cli("restore", scan, "-o", tmp_path / "out.png", "--method", "classical",
                  "--detect-method", "classical")
    assert res.returncode == 0 and "%|" not in res.stderr and "restore:" not in res.stderr
    res = run_cli("detect", scan, "-o", tmp_path / "d.png",
                  env={"UNSCRATCH_MODELS_DIR": str(tmp_path / "no")})
    assert res.returncode == 2 and res.stderr.startswith("unscratch: error:"), res.stderr


def test_a_short_write_says_the_disk_is_full(tmp_path, scan, capsys, monkeypatch):
    """numpy's short write ("786432 requested and 204544 written") carries no errno."""
    def short(self, *a, **k):
        raise OSError("786432 requested and 204544 written")
    monkeypatch.setattr(tifffile.FileHandle, "write_array", short)
    before = snapshot(tmp_path)
    argv = ["restore", str(scan), "--mask", str(tmp_path / "m.png"), "-o",
            str(tmp_path / "out.tif"), "--compression", "none", "-q"]
    assert main(argv) == 2
    line = one_line(capsys.readouterr().err)
    assert "out.tif: cannot be written (the disk is full)" in line
    assert snapshot(tmp_path) == before and not list(tmp_path.glob(".*"))


def test_a_mask_in_the_stored_geometry_of_a_turned_jpeg_names_the_orientation(tmp_path, capsys):
    stored = scratched()[0]  # 96 rows x 128 columns as stored; shown upright as 128 x 96
    src = _jpeg_with_exif(tmp_path / "turned.jpg", stored, orientation=6)
    assert io.read(src).shape[:2] == (128, 96)
    io.write(tmp_path / "m.png", np.zeros(stored.shape[:2], np.uint8))
    argv = ["restore", str(src), "--mask", str(tmp_path / "m.png"), "-o", str(tmp_path / "o.png")]
    assert main(argv) == 2
    line = one_line(capsys.readouterr().err)
    assert "mask is 128x96 but the image is 96x128" in line and "EXIF orientation 6" in line


def test_an_output_that_is_a_symlink_writes_through_to_its_target(tmp_path, scan):
    (tmp_path / "archive").mkdir()
    target = tmp_path / "archive" / "restored.png"
    target.write_bytes(b"old version")
    os.symlink(target, tmp_path / "link.png")
    argv = ["restore", str(scan), "--mask", str(tmp_path / "m.png"), "-o",
            str(tmp_path / "link.png")]
    assert main(argv + ["-q"]) == 0
    assert (tmp_path / "link.png").is_symlink()
    assert os.readlink(tmp_path / "link.png") == str(target)
    assert io.read(target).shape == io.read(scan).shape
    assert not list(tmp_path.glob(".*")) and not list((tmp_path / "archive").glob(".*"))


def test_another_users_read_only_file_is_refused_and_a_writable_one_keeps_its_owner(
        tmp_path, scan, capsys, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file to another user")
    tmp_path.chmod(0o1777)  # a world-writable (sticky) folder, as /tmp
    theirs = tmp_path / "theirs.png"
    theirs.write_bytes(b"their file")
    os.chown(theirs, 65534, 65534)
    theirs.chmod(0o444)
    real = os.access  # root may write anything: make os.access say what it says to everyone else
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == theirs and mode & os.W_OK
                        else real(p, mode))
    repair = ["restore", str(scan), "--mask", str(tmp_path / "m.png"), "-q", "-o"]
    assert main(repair + [str(theirs)]) == 2
    assert "belongs to another user and is read-only" in one_line(capsys.readouterr().err)
    assert theirs.read_bytes() == b"their file" and theirs.stat().st_uid == 65534
    shared = tmp_path / "shared.png"
    shared.write_bytes(b"a shared file")
    os.chown(shared, 65534, 65534)
    shared.chmod(0o666)
    assert main(repair + [str(shared)]) == 0
    st = shared.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (65534, 0o666)
    assert io.read(shared).shape == io.read(scan).shape and not list(tmp_path.glob(".*"))


def test_a_batch_records_the_pages_it_left_out_in_the_manifest(tmp_path, capsys):
    src = tmp_path / "scans"
    src.mkdir()
    with tifffile.TiffWriter(src / "pages.tif") as tif:
        for k in range(2):
            tif.write(scratched()[0] // (k + 1), photometric="rgb", metadata=None)
    summary = batch.run_batch(src, tmp_path / "out", quiet=True,
                              settings=batch.Settings(method="classical"))
    assert summary.done == 1 and capsys.readouterr().err == ""
    db = sqlite3.connect(tmp_path / "out" / batch.MANIFEST_NAME)
    notes = db.execute("SELECT notes FROM files").fetchone()[0]
    db.close()
    assert "pages.tif: has 2 pages; only the first is used" in notes


def test_a_tiff_restored_to_jpeg_keeps_its_text_tags_as_exif_and_says_what_it_drops(tmp_path):
    """The other way round: a TIFF's description, make and model become EXIF in a JPEG or PNG;
    what neither holds (the TIFF's IPTC, a JPEG's comments in a TIFF) is said."""
    PIL = pytest.importorskip("PIL.Image")
    image = scratched()[0]
    tags = [(270, 2, 0, b"Accession 1987.44.12", True), (271, 2, 0, b"Nikon", True),
            (272, 2, 0, b"LS-5000", True), (33723, 4, 2, (0x1C020500, 0x03414243), True)]
    tifffile.imwrite(tmp_path / "in.tif", image, photometric="rgb", extratags=tags, metadata=None)
    for out in ("out.jpg", "out.png"):
        res = run_cli("restore", tmp_path / "in.tif", "-o", tmp_path / out, "-q")
        assert res.returncode == 0
        said = "cannot hold the source's TIFF IPTC and host-computer tags"
        assert said in one_line(res.stderr, "warning")
        with PIL.open(tmp_path / out) as shown:
            exif = shown.getexif()
            assert (exif[0x010F], exif[0x0110]) == ("Nikon", "LS-5000")
            assert exif[0x010E] == "Accession 1987.44.12"
    commented = tmp_path / "commented.jpg"
    PIL.fromarray(image).save(commented, quality=95, comment=b"scanned 1987")
    res = run_cli("restore", commented, "-o", tmp_path / "c.tif", "-q")
    assert res.returncode == 0
    assert "cannot hold the source's JPEG IPTC data and comments" in one_line(res.stderr, "warning")

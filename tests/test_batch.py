"""`unscratch batch`: resume after kill -9, cluster == single process, bad files, nothing outside
OUT_DIR, one large image split across workers == single process."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import convert, scratched
from unscratch import api, batch, grain, io
from unscratch.classical import ClassicalDetector, ClassicalInpainter
from unscratch.cli import main
from unscratch.demo import add_demo_damage, sample_photo
from unscratch.split import _plans, split_restore

REPO = Path(__file__).resolve().parents[1]


def photo(h: int, w: int, seed: int = 0, lines: int | None = None) -> np.ndarray:
    """8-bit RGB photo of size h x w: the demo damage, or `lines` short bright scratches (sparse
    damage)."""
    resample = cv2.INTER_AREA if w <= 512 else cv2.INTER_CUBIC
    clean = cv2.resize(sample_photo(), (w, h), interpolation=resample)
    if lines is None:
        return add_demo_damage(np.roll(clean, 31 * seed, axis=1), seed=seed)[0]
    rng = np.random.default_rng(seed)
    for _ in range(lines):
        p = rng.integers([0, 0], [w, h])
        q = p + rng.integers(-120, 120, 2)
        cv2.line(clean, tuple(int(v) for v in p), tuple(int(v) for v in q), (250, 250, 250), 1,
                 cv2.LINE_AA)
    return clean


def manifest_rows(out: Path) -> dict:
    db = sqlite3.connect(out / batch.MANIFEST_NAME)
    db.row_factory = sqlite3.Row
    try:
        return {r["path"]: dict(r) for r in db.execute("SELECT * FROM files")}
    finally:
        db.close()


def tree(root: Path) -> dict:
    """Every file under root with its size, mtime and sha256 (a snapshot to compare
    before/after)."""
    snap = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st = p.stat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            snap[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns, digest)
        else:
            snap[str(p.relative_to(root)) + "/"] = None
    return snap


def temporaries(root: Path) -> list:
    return [p for p in root.rglob("*") if p.name.endswith(".part") or p.name == batch.DASK_DIR]


def check_consistent(in_dir: Path, out: Path, expect_done: set) -> dict:
    """Every done row: its input's sha256, all its outputs present and decodable; no temporaries."""
    rows = manifest_rows(out)
    assert {p for p, r in rows.items() if r["status"] == "done"} == expect_done
    for path, row in rows.items():
        if row["status"] != "done":
            continue
        assert row["sha256"] == hashlib.sha256((in_dir / path).read_bytes()).hexdigest()
        for kind, rel in json.loads(row["outputs"]).items():
            img = io.read(out / rel)
            assert img.shape[:2] == (row["height"], row["width"]) or kind == "thumb"
    assert temporaries(out) == []
    return rows


# --- resume after kill -9 ------------------------------------------------------------------------
def test_resume_after_kill_9(tmp_path):
    src, out = tmp_path / "scans", tmp_path / "out"
    (src / "roll").mkdir(parents=True)
    names = [f"roll/f{i}.png" if i % 2 else f"f{i}.{'tif' if i == 4 else 'png'}" for i in range(6)]
    for i, name in enumerate(names):
        io.write(src / name, photo(256, 256, seed=i))
    env = dict(os.environ, PYTHONPATH=str(REPO / "core"))
    cmd = [sys.executable, "-m", "unscratch", "batch", str(src), str(out), "--masks", "-q"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    first = [out / n for n in names]
    while not any(p.exists() for p in first):
        assert proc.poll() is None, "batch finished before any output was seen"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_at_kill = []
    if (out / batch.MANIFEST_NAME).exists():
        done_at_kill = [p for p, r in manifest_rows(out).items() if r["status"] == "done"]
    assert len(done_at_kill) < len(names), "the run was not interrupted"
    # what a kill during a write leaves: a hidden temporary beside the output; the rerun removes it
    (out / "roll").mkdir(exist_ok=True)
    (out / "roll" / ".f1.png.k1ll3d00.part").write_bytes(b"\x89PNG\r\n half")

    assert main(["batch", str(src), str(out), "--masks", "-q"]) == 0
    rows = check_consistent(src, out, set(names))
    # every output is the full single-process result, and there is exactly one of each
    for name in names:
        image = io.read(src / name)
        assert np.array_equal(io.read(out / name), api.restore(image))
    outputs = sorted(str(p.relative_to(out)) for p in out.rglob("*")
                     if p.is_file() and not p.name.startswith("."))
    assert outputs == sorted(names + [f"_masks/{n}.png" for n in names])

    before = tree(out)
    summary = batch.run_batch(src, out, settings=batch.Settings(masks=True), quiet=True)
    assert (summary.skipped, summary.done, summary.failed) == (6, 0, 0)
    assert {k: v for k, v in tree(out).items() if "manifest" not in k} == \
        {k: v for k, v in before.items() if "manifest" not in k}
    assert all(r["attempts"] == rows[p]["attempts"] for p, r in manifest_rows(out).items())


# --- cluster == one process; one large image split across the workers ----------------------------
def test_local_cluster_matches_single_process_and_splits_a_large_image(tmp_path):
    pytest.importorskip("distributed")
    src = tmp_path / "scans"
    (src / "sub").mkdir(parents=True)
    damaged, _, _ = scratched(h=120, w=160)
    io.write(src / "gray16.tif", convert(damaged.astype(np.float32) / 255, 0, np.uint16))
    io.write(src / "sub" / "rgba.png", convert(damaged.astype(np.float32) / 255, 4, np.uint8))
    io.write(src / "sub" / "photo.jpg", photo(200, 240, seed=3))
    # 2.56 MP: split in 2x2 chunks on the cluster
    io.write(src / "large.png", scratched(h=1600, w=1600, seed=5)[0])
    one, two = tmp_path / "one", tmp_path / "two"
    before = tree(src)
    s1 = batch.run_batch(src, one, settings=batch.Settings(masks=True, probability=True),
                         quiet=True)
    s2 = batch.run_batch(src, two, workers=2, quiet=True,
                         settings=batch.Settings(masks=True, probability=True, split_mp=2.0,
                                                 split_chunk=1024))
    assert (s1.done, s2.done, s1.failed, s2.failed) == (4, 4, 0, 0)
    r1, r2 = manifest_rows(one), manifest_rows(two)
    assert r2["large.png"]["split"] == 1 and r1["large.png"]["split"] == 0
    assert len({r["worker"] for r in r2.values()} - {r["worker"] for r in r1.values()}) >= 1
    for path in r1:
        for key in ("sha256", "defect_pixels", "changed_pixels", "params_key", "outputs", "status"):
            assert r1[path][key] == r2[path][key], (path, key)
        for rel in json.loads(r1[path]["outputs"]).values():
            assert np.array_equal(io.read(one / rel), io.read(two / rel)), rel
            assert (one / rel).read_bytes() == (two / rel).read_bytes(), rel
    assert temporaries(two) == [] and tree(src) == before
    # Dask's scratch stayed in OUT_DIR
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "scans", "two"]


def test_existing_scheduler(tmp_path):
    distributed = pytest.importorskip("distributed")
    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):
        io.write(src / f"s{i}.png", scratched(seed=i)[0])
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        s = batch.run_batch(src, tmp_path / "out", scheduler=cluster.scheduler_address, quiet=True,
                            settings=batch.Settings(masks=True))
    assert (s.done, s.failed) == (2, 0)
    for i in range(2):
        expected = api.restore(io.read(src / f"s{i}.png"))
        assert np.array_equal(io.read(tmp_path / "out" / f"s{i}.png"), expected)


# --- bad files fail with their reason; nothing outside OUT_DIR is written -------------------------
def test_bad_files_are_recorded_and_nothing_outside_out_dir_changes(tmp_path):
    root = tmp_path / "archive"
    src, out, sibling, sel = root / "scans", root / "restored", root / "other", root / "selections"
    (src / "box1").mkdir(parents=True)
    sibling.mkdir()
    (sibling / "keep.txt").write_text("not ours")
    good = {"a.png": scratched(seed=1)[0], "box1/b.tif": scratched(seed=2, dtype=np.uint16)[0],
            "box1/c.png": scratched(seed=3)[0]}
    for name, img in good.items():
        io.write(src / name, img)
    io.write(sibling / "ok.jpg", good["a.png"])
    jpeg = (sibling / "ok.jpg").read_bytes()
    (src / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(300))
    (src / "box1" / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    tif = (src / "box1" / "b.tif").read_bytes()
    (src / "box1" / "truncated.tif").write_bytes(tif[: len(tif) // 2])
    (src / "empty.png").write_bytes(b"")
    (src / "notes.txt").write_text("scanned 1987")
    (src / "scan.bmp").write_bytes(b"BM" + bytes(100))
    (src / ".DS_Store").write_bytes(b"\0")  # hidden: not an input
    selection = np.zeros(good["box1/c.png"].shape[:2], np.uint8)
    selection[10:30, 20:60] = 255
    (sel / "box1").mkdir(parents=True)
    # c.png is healed inside its selection, the others get detection
    io.write(sel / "box1" / "c.png", selection)

    before_src, before_sibling, before_sel = tree(src), tree(sibling), tree(sel)
    rc = main(["batch", str(src), str(out), "--masks", "--probability", "--contact-sheet",
               "--fill-region", str(sel), "-q"])
    assert rc == 1
    assert tree(src) == before_src and tree(sibling) == before_sibling and tree(sel) == before_sel
    assert sorted(p.name for p in root.iterdir()) == ["other", "restored", "scans", "selections"]

    rows = check_consistent(src, out, set(good))
    reasons = {p: r["error"] for p, r in rows.items() if r["status"] == "failed"}
    assert set(reasons) == {"corrupt.png", "box1/truncated.jpg", "box1/truncated.tif", "empty.png",
                            "notes.txt", "scan.bmp"}
    for name in ("corrupt.png", "box1/truncated.jpg", "empty.png"):
        assert "corrupt or truncated" in reasons[name]
    assert "not a readable TIFF" in reasons["box1/truncated.tif"]
    assert "unsupported file type" in reasons["notes.txt"]
    assert "unsupported file type" in reasons["scan.bmp"]
    assert all(str(src) in reason for reason in reasons.values())  # each names its file
    assert rows["box1/c.png"]["mode"] == "fill" and rows["box1/c.png"]["region_sha256"]
    healed = io.read(out / "box1" / "c.png")
    assert np.array_equal(healed, api.restore(good["box1/c.png"], region=selection, mode="fill"))
    assert np.array_equal(io.read(out / "a.png"), api.restore(good["a.png"]))
    expected = (set(good) | {f"_masks/{n}.png" for n in good}
                | {f"_probability/{n}.tif" for n in good if n != "box1/c.png"}
                | {f"_contact-sheet/thumbs/{n}.jpg" for n in good}
                | {"_contact-sheet/sheet-0001.jpg"})
    written = {str(p.relative_to(out)) for p in out.rglob("*")
               if p.is_file() and not p.name.startswith(".")}
    assert written == expected
    hidden = {p.name for p in out.iterdir() if p.name.startswith(".")}
    assert hidden == {batch.MANIFEST_NAME, batch.LOCK_NAME}

    # a rerun retries the failed files only
    summary = batch.run_batch(src, out, fill_region=sel, quiet=True,
                              settings=batch.Settings(masks=True, probability=True,
                                                      contact_sheet=True))
    assert (summary.skipped, summary.failed) == (3, 6)
    for row in manifest_rows(out).values():
        assert row["attempts"] == (2 if row["status"] == "failed" else 1)


def test_rerun_redoes_changed_inputs_and_parameters_without_duplicates(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(3):
        io.write(src / f"s{i}.png", scratched(seed=i)[0])
    assert batch.run_batch(src, out, quiet=True).done == 3
    # touched, same bytes: not recomputed
    os.utime(src / "s0.png", ns=(time.time_ns(), time.time_ns() + 10**9))
    io.write(src / "s1.png", scratched(seed=7)[0])  # new content: recomputed
    s = batch.run_batch(src, out, quiet=True)
    assert (s.skipped, s.reused, s.done) == (1, 1, 2)
    rows = manifest_rows(out)
    assert [rows[f"s{i}.png"]["attempts"] for i in range(3)] == [1, 2, 1]
    # new parameters: all redone
    s = batch.run_batch(src, out, quiet=True, settings=batch.Settings(threshold=0.5))
    assert (s.skipped, s.reused, s.done) == (0, 0, 3)
    s = batch.run_batch(src, out, quiet=True, settings=batch.Settings(threshold=0.5, format="tiff"))
    shown = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert shown == ["s0.tif", "s1.tif", "s2.tif"]
    with pytest.raises(Exception, match="must not be IN_DIR"):
        batch.run_batch(src, src, quiet=True)
    with pytest.raises(Exception, match="must not be IN_DIR or contain it"):
        batch.run_batch(src, tmp_path, quiet=True)


# --- splitting one image: identical pixels -------------------------------------------------------
@pytest.fixture
def small_tiles(monkeypatch):
    """Tiles small enough that a ~300 px image spans several tiles and several chunks."""
    monkeypatch.setattr(ClassicalDetector, "tile", 64)
    monkeypatch.setattr(ClassicalDetector, "overlap", 16)
    # restore's chunk edges need grain.MARGIN (71 px) of context: its (balanced) tiles must be
    # ≥ 142 px
    monkeypatch.setattr(ClassicalInpainter, "tile", 200)
    monkeypatch.setattr(ClassicalInpainter, "overlap", 24)


@pytest.mark.parametrize("shape,channels,dtype", [((270, 300), 3, np.uint8),
                                                  ((281, 323), 0, np.uint16),
                                                  ((150, 400), 4, np.float32),
                                                  ((97, 300), 1, np.uint8)])
def test_split_image_equals_single_process(small_tiles, shape, channels, dtype):
    pytest.importorskip("dask.array")
    image = convert(photo(*shape, seed=1, lines=12).astype(np.float32) / 255, channels, dtype)
    # the classical methods, whose tiles small_tiles shrinks: a ~300 px image then spans many tiles
    # and chunks
    det = api.detect(image, method="classical")
    whole = api.restore(image, method="classical", detect_method="classical")
    assert (whole != image).any()
    for chunk in (1, 60):
        whole_image = (0, shape[0], 0, shape[1])
        py, px = _plans(ClassicalDetector(), shape, whole_image, chunk)
        size = py.layout[0][1]
        assert len(py.chunks) * len(px.chunks) >= 4 and py.depth == size - size // 2  # half a tile
        restore_plans = _plans(ClassicalInpainter(), shape, whole_image, chunk,
                               context=grain.MARGIN)
        assert max(len(p.chunks) for p in restore_plans) >= 2  # the repair is split too
        restored, probability, mask = split_restore(image, chunk=chunk, scheduler="sync",
                                                    method="classical", detect_method="classical")
        assert np.array_equal(probability, det.probability)
        assert np.array_equal(mask, det.mask)
        assert np.array_equal(restored, whole) and restored.dtype == whole.dtype
    selection = np.zeros(shape, np.uint8)
    selection[20:60, 30:200] = 255
    selection[80:90, :] = 128  # soft: blends
    healed, _, _ = split_restore(image, region=selection, mode="fill", chunk=40,
                                 scheduler="threads", method="classical")
    expected = api.restore(image, region=selection, mode="fill", method="classical")
    assert np.array_equal(healed, expected)


def test_halo_of_only_the_tile_overlap_is_not_enough(small_tiles):
    """Why the split needs a halo of half a tile: running the engine per block with depth = overlap
    (plus the repair dilation) moves the tile grid and so changes the detector's output near chunk
    edges."""
    da = pytest.importorskip("dask.array")
    image = photo(200, 260, seed=1, lines=12)
    whole = api.detect(image).probability
    arr = da.from_array(image, chunks=(100, 130, 3))
    naive = arr.map_overlap(lambda b: api.detect(b).probability[:, :, None],
                            depth={0: 16 + 4, 1: 16 + 4, 2: 0}, boundary="none",
                            dtype=np.float32).compute(scheduler="sync")[:, :, 0]
    assert not np.array_equal(naive, whole)
    restored, probability, _ = split_restore(image, chunk=100, scheduler="sync")
    assert np.array_equal(probability, whole)

"""Fast tests of the clean photo pool (unscratch.train.pool); no network: a fake cache folder."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest

from unscratch.train import pool
from unscratch.train.pool import cache as pool_cache
from unscratch.train.pool import fetch as pool_fetch
from unscratch.train.pool import sources as pool_sources
from unscratch.train.pool import unpack as pool_unpack


def _entry(source, name, w, h, group=None):
    e = {"file": f"{source}/{name}.jpg", "source": source, "name": name, "width": w, "height": h}
    if group:
        e["group"] = group
    return e


def _fake_manifest(n_small=180, n_large=20):
    rng = np.random.default_rng(0)
    photos = [_entry(f"src{i % 4}", f"small{i:03d}", int(rng.integers(300, 900)),
                     int(rng.integers(300, 900)))
              for i in range(n_small)]
    photos += [_entry("big", f"large{i:02d}", 3000, 2000) for i in range(n_large)]
    photos += [_entry("opencv", "aloeL", 1282, 1110), _entry("opencv", "aloeR", 1282, 1110)]
    return photos


def test_split_is_deterministic_complete_and_disjoint():
    photos = _fake_manifest()
    a = pool.make_split(photos)
    b = pool.make_split(list(reversed(photos)))
    assert a == b
    files = [f for s in pool.SPLITS for f in a[s]]
    assert sorted(files) == sorted(e["file"] for e in photos)      # every photo exactly once
    n = len(photos)                                   # all but aloe are "later" sources: 80/10/10
    assert 0.70 < len(a["train"]) / n < 0.90
    assert 0.04 < len(a["val"]) / n < 0.18 and 0.04 < len(a["test"]) / n < 0.18
    first = [dict(e, source="opencv") for e in photos]     # a first-pool source: 70/15/15
    a = pool.make_split(first)
    assert 0.60 < len(a["train"]) / n < 0.80
    assert 0.08 < len(a["val"]) / n < 0.24 and 0.08 < len(a["test"]) / n < 0.24


def test_groups_stay_together():
    a = pool.make_split(_fake_manifest())
    where = {f: s for s in pool.SPLITS for f in a[s]}
    assert where["opencv/aloeL.jpg"] == where["opencv/aloeR.jpg"]
    photos = [_entry("x", f"p{i}", 500, 500, group=f"x/scene{i // 3}") for i in range(60)]
    a = pool.make_split(photos)
    where = {f: s for s in pool.SPLITS for f in a[s]}
    for g in range(20):
        assert len({where[f"x/p{i}.jpg"] for i in range(3 * g, 3 * g + 3)}) == 1


@pytest.mark.parametrize("n_large", [9, 12, 30])
def test_every_split_gets_large_photos(n_large):
    photos = _fake_manifest(n_small=60, n_large=n_large)
    a = pool.make_split(photos)
    for s in pool.SPLITS:
        n = sum(f.startswith("big/") for f in a[s])
        assert n >= pool.MIN_LARGE_PER_SPLIT, (s, n)


def _write_fake_cache(root):
    """A tiny cache: a few generated photos (colour, gray, RGBA, 16-bit) + manifest, like fetch
    writes."""
    rng = np.random.default_rng(1)
    specs = [("a", "colour", (60, 80, 3), np.uint8), ("a", "gray", (50, 70), np.uint8),
             ("b", "rgba", (64, 64, 4), np.uint8), ("b", "deep", (40, 90, 3), np.uint16),
             ("c", "aloeL", (30, 30, 3), np.uint8), ("c", "aloeR", (30, 30, 3), np.uint8)]
    photos = []
    for src, name, shape, dtype in specs:
        (root / src).mkdir(parents=True, exist_ok=True)
        img = (rng.random(shape) * np.iinfo(dtype).max).astype(dtype)
        path = root / src / f"{name}.png"
        cv2.imwrite(str(path), img)
        photos.append(pool.describe(path, root, src, name, "CC0-1.0", "test"))
    manifest = {"version": 1,
                "sources": {s: {"complete": True, "max_side": pool.MAX_SIDE} for s in "abc"},
                "photos": photos}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def test_cache_roundtrip_and_loading(tmp_path):
    manifest = _write_fake_cache(tmp_path)
    e = {x["name"]: x for x in manifest["photos"]}
    assert e["gray"]["channels"] == 1 and e["rgba"]["channels"] == 4 and e["colour"]["width"] == 80
    assert len(e["colour"]["sha256"]) == 64
    split = pool.write_split(tmp_path)
    assert (tmp_path / "split.json").is_file()
    every = pool.photo_paths("all", tmp_path)
    assert len(every) == 6
    assert sum(len(pool.photo_paths(s, tmp_path)) for s in pool.SPLITS) == 6
    assert sum(split["counts"].values()) == 6
    with pytest.raises(ValueError):
        pool.photo_paths("nope", tmp_path)
    for p in every:
        img = pool.load_photo(p)
        assert img.dtype == np.float32 and img.ndim == 3 and img.shape[2] == 3
        assert 0 <= img.min() and img.max() <= 1
    gray = pool.load_photo(tmp_path / "a/gray.png")
    np.testing.assert_array_equal(gray[:, :, 0], gray[:, :, 2])
    deep = pool.load_photo(tmp_path / "b/deep.png")
    assert deep.shape == (40, 90, 3) and len(np.unique(deep)) > 256      # 16-bit precision kept


def test_random_crop(tmp_path):
    rng = np.random.default_rng(0)
    img = (rng.random((300, 200, 3)) * 255).astype(np.uint8)
    for _ in range(10):
        crop, f = pool.random_crop(img, 64, rng)
        assert crop.shape == (64, 64, 3) and crop.dtype == np.float32
        assert 0.3 <= f <= 1.0
    small = np.zeros((20, 30, 3), np.uint8)
    crop, f = pool.random_crop(small, 64, rng)       # upscales photos smaller than the crop
    assert crop.shape == (64, 64, 3) and f >= 64 / 20


def test_missing_pool_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="pool fetch"):
        pool.photo_paths("train", tmp_path / "empty")


def test_fetch_is_idempotent_when_everything_is_present(tmp_path, monkeypatch):
    _write_fake_cache(tmp_path)
    monkeypatch.setattr(pool_fetch, "SOURCES",
                        tuple(pool.Source(s, "wheel", "x", "CC0", lambda r: []) for s in "abc"))

    def boom(*a, **k):
        raise AssertionError("nothing should be downloaded")
    monkeypatch.setattr(pool_fetch._Fetcher, "unpack", boom)
    before = (tmp_path / "manifest.json").read_text()
    pool_fetch.fetch(tmp_path, log=None)
    assert (tmp_path / "manifest.json").read_text() == before
    assert (tmp_path / "split.json").is_file()


def test_missing_tools_are_clear_errors(monkeypatch):
    monkeypatch.setattr(pool_fetch.shutil, "which", lambda name: None)
    with pytest.raises(pool.PoolError, match="apt"):
        pool_fetch._need_apt()
    monkeypatch.setattr(pool_fetch.subprocess, "run",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("no")))
    monkeypatch.setattr(pool_fetch, "sys", type("S", (), {"executable": "/nonexistent/python"}))
    with pytest.raises(pool.PoolError, match="pip"):
        pool_fetch._pip_cmd()


def test_repo_root_and_default_cache(monkeypatch):
    monkeypatch.delenv("UNSCRATCH_PHOTOS", raising=False)
    root = pool.repo_root()
    assert (root / "pyproject.toml").is_file()
    assert pool.default_cache() == root / ".cache" / "photos"


# --- later sources, the holdout split, export -----------------------------------------------------

def test_first_pool_split_does_not_move_when_sources_are_added():
    """Earlier figures stay comparable: adding (or holding out) sources never moves a first-pool
    photo."""
    rng = np.random.default_rng(3)
    first = [_entry(src, f"p{i:03d}", int(rng.integers(400, 4000)), int(rng.integers(400, 3000)))
             for i, src in enumerate(sorted(pool.FIRST_POOL) * 10)]
    before = pool.make_split(first)
    later = [_entry("newsrc", f"n{i:03d}", 3840, 2160) for i in range(40)]
    later += [_entry(next(iter(pool.HOLDOUT_SOURCES)), f"h{i:02d}", 640, 480) for i in range(25)]
    after = pool.make_split(first + later)
    for s in pool.SPLITS:
        assert [f for f in after[s] if not f.startswith("newsrc/")] == before[s], s


def test_holdout_sources_are_never_in_train_val_or_test():
    held = sorted(pool.HOLDOUT_SOURCES)
    assert held, "at least one source must be held out"
    photos = [_entry(h, f"x{i}", 3000, 2000) for h in held for i in range(8)]
    photos += _fake_manifest()
    a = pool.make_split(photos)
    assert sorted(a[pool.HOLDOUT]) == sorted(e["file"] for e in photos if e["source"] in held)
    pooled = {f for s in pool.SPLITS for f in a[s]}
    assert not pooled & set(a[pool.HOLDOUT])
    assert pooled | set(a[pool.HOLDOUT]) == {e["file"] for e in photos}


def test_downscaled_photo_still_counts_as_large():
    e = _entry("big", "x", 2560, 1440)
    e.update(orig_width=3840, orig_height=2160)
    assert pool_cache._short_side(e) == 2160 >= pool.LARGE_SIDE


def test_every_source_states_a_licence():
    names = [s.name for s in pool.SOURCES]
    assert len(names) == len(set(names))
    for s in pool.SOURCES:
        assert s.licence.strip() and s.kind in ("bookworm", "trixie", "wheel"), s.name
        assert not re.search(r"non.?commercial|research only|\bNC\b", s.licence, re.I), s.name


def _fake_sources(root):
    """Two fake sources ('a' pooled, 'held' held out) whose unpacked roots hold generated photos."""
    rng = np.random.default_rng(5)
    (root / "a").mkdir(parents=True)
    (root / "held").mkdir(parents=True)
    cv2.imwrite(str(root / "a/huge.png"), (rng.random((1500, 3000, 3)) * 255).astype(np.uint8))
    cv2.imwrite(str(root / "a/small.jpg"), (rng.random((200, 300, 3)) * 255).astype(np.uint8))
    cv2.imwrite(str(root / "held/h1.png"), (rng.random((100, 120, 3)) * 255).astype(np.uint8))
    return (pool.Source("a", "wheel", "x", "CC0-1.0",
                        lambda r: [("huge", r / "huge.png", "CC0-1.0"),
                                   ("small", r / "small.jpg", "CC-BY-4.0")]),
            pool.Source("held", "wheel", "y", "public domain",
                        lambda r: [("h1", r / "h1.png", "public domain", "a note")], holdout=True))


@pytest.fixture
def fake_sources(tmp_path, monkeypatch):
    """The fetcher sees only _fake_sources, already unpacked under tmp_path; returns the cache
    folder."""
    monkeypatch.setattr(pool_fetch, "SOURCES", _fake_sources(tmp_path / "unpacked"))
    monkeypatch.setattr(pool_cache, "HOLDOUT_SOURCES", frozenset({"held"}))
    monkeypatch.setattr(pool_fetch._Fetcher, "unpack",
                        lambda self, src: tmp_path / "unpacked" / src.name)
    return tmp_path / "cache"


def test_fetch_downscales_records_licences_and_holds_out(tmp_path, fake_sources):
    cache = fake_sources
    manifest = pool_fetch.fetch(cache, log=None)
    e = {x["name"]: x for x in manifest["photos"]}
    assert set(e) == {"huge", "small", "h1"}
    assert all(x["licence"] and x["origin"] for x in manifest["photos"])
    assert e["small"]["licence"] == "CC-BY-4.0" and "(a note)" in e["h1"]["origin"]
    assert max(e["huge"]["width"], e["huge"]["height"]) == pool.MAX_SIDE
    assert (e["huge"]["orig_width"], e["huge"]["orig_height"]) == (3000, 1500)
    assert e["huge"]["file"].endswith(".jpg")
    small = (tmp_path / "unpacked/a/small.jpg").read_bytes()
    assert (cache / e["small"]["file"]).read_bytes() == small
    assert [p.name for p in pool.photo_paths(pool.HOLDOUT, cache)] == ["h1.png"]
    assert "held/h1.png" not in {p.relative_to(cache).as_posix()
                                 for p in pool.photo_paths("all", cache)}


def test_export_is_a_usable_compact_cache(tmp_path, monkeypatch, fake_sources):
    cache = fake_sources
    pool_fetch.fetch(cache, log=None)
    want = {p.relative_to(cache).with_suffix(".jpg").as_posix()
            for p in pool.photo_paths("all", cache)}
    out = tmp_path / "out"
    pool_fetch.export(out, splits=pool.SPLITS, cache=cache, max_side=64, log=None)
    got = pool.photo_paths("all", out)
    assert got and {p.relative_to(out).as_posix() for p in got} == want
    assert pool.photo_paths(pool.HOLDOUT, out) == []
    for p in got:
        img = cv2.imread(str(p))
        assert max(img.shape[:2]) <= 64
    m = pool.read_manifest(out)
    assert m["photos"] and all(x["licence"] and x["orig_width"] >= x["width"] for x in m["photos"])
    monkeypatch.setenv("UNSCRATCH_PHOTOS", str(out))
    assert pool.photo_paths("all") == got
    with pytest.raises(pool.PoolError, match="not an empty folder"):
        pool_fetch.export(out, cache=cache, log=None)


def test_real_pool_if_fetched():
    """On a machine with the fetched pool: licences everywhere, holdout apart and big enough."""
    cache = pool.default_cache()
    if not (cache / "manifest.json").is_file():
        pytest.skip(f"photo pool not fetched: no {cache / 'manifest.json'} "
                    "(python -m unscratch.train.pool fetch)")
    manifest = pool.read_manifest(cache)
    split = pool.read_split(cache)
    assert all(e["licence"].strip() for e in manifest["photos"])
    pooled = {f for s in pool.SPLITS for f in split[s]}
    held = set(split.get(pool.HOLDOUT, []))
    assert not pooled & held
    if any(info.get("holdout") for info in manifest.get("sources", {}).values()):
        assert len(held) >= 20


def _tiny_rcc(files: dict[str, bytes], compress: set[str] = frozenset()) -> bytes:
    """A Qt resource bundle (format 2) holding ``files`` in one folder, for the reader's test."""
    import struct
    import zlib
    folder = "res"
    names = b""
    name_off = {}
    for n in [folder, *files]:
        name_off[n] = len(names)
        names += struct.pack(">HI", len(n), 0) + n.encode("utf-16-be")
    payload = b""
    data_off = {}
    for n, blob in files.items():
        if n in compress:
            blob = struct.pack(">I", len(blob)) + zlib.compress(blob)
        data_off[n] = len(payload)
        payload += struct.pack(">I", len(blob)) + blob
    node = 22
    tree = struct.pack(">IHII", 0, 2, 1, 1) + b"\0" * 8                   # root: one child
    tree += struct.pack(">IHII", name_off[folder], 2, len(files), 2) + b"\0" * 8
    for n in files:
        tree += struct.pack(">IHHHI", name_off[n], 1 if n in compress else 0, 0, 0,
                            data_off[n]) + b"\0" * 8
    assert len(tree) == node * (2 + len(files))
    head = 20
    return (b"qres" + struct.pack(">IIII", 2, head, head + len(tree),
                                  head + len(tree) + len(payload))
            + tree + payload + names)


def test_rcc_reader_and_readme_licences():
    readme = (b"Copyright: A. Person\nLicense: CC-BY-SA 4.0\nSource: https://example.org/a\n"
              b"Files:\nx.webp\n\n"
              b"Copyright: B\nLicense: Public Domain\nFiles: y.webp\n\nCopyright: C\nLicense: "
              b"CC-BY-NC 2.0\n"
              b"Files:\nz.webp\n")
    files = pool_sources._rcc_files(_tiny_rcc({"README": readme, "x.webp": b"X" * 50},
                                              compress={"README"}))
    assert files == {"res/README": readme, "res/x.webp": b"X" * 50}
    lic = pool_unpack.readme_licences(readme.decode())
    assert lic["x.webp"] == ("CC-BY-SA-4.0", "A. Person, https://example.org/a")
    assert lic["y.webp"][0] == "public domain"
    permissive = pool_unpack.PERMISSIVE
    assert permissive.match(lic["x.webp"][0]) and permissive.match(lic["y.webp"][0])
    # non-commercial: left out
    assert not pool_unpack.PERMISSIVE.match(lic["z.webp"][0])
    assert pool_unpack.licence_name("GPLv3") == "GPL-3.0"
    with pytest.raises(pool.PoolError):
        pool_sources._rcc_files(b"nope" + b"\0" * 30)

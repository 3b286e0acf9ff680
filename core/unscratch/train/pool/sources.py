"""Where the pool's photos come from: each source (a Debian package or a PyPI wheel), how its
photos are picked out of the unpacked package and under which licence, and which photos belong
together (GROUPS). Only permissively licensed photos that can be had offline (``models/README.md``
lists them); charts, text, logos, paintings, renders, vector art and lena are left out. Fetching
them is fetch.py; the split is cache.py."""

from __future__ import annotations

import bz2
import configparser
import pickle
import re
import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from . import unpack

_IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".tga"}


class PoolError(RuntimeError):
    """The photo pool cannot be fetched or read; the message says why and what to do."""


# (source, name) -> group: photos of one scene (stereo pairs, near duplicates) share a split.
GROUPS = {
    ("opencv", "aloeL"): "aloe", ("opencv", "aloeR"): "aloe",
    ("opencv", "leuvenA"): "leuven", ("opencv", "leuvenB"): "leuven",
    ("opencv", "basketball1"): "basketball", ("opencv", "basketball2"): "basketball",
    ("opencv", "rubberwhale1"): "rubberwhale", ("opencv", "rubberwhale2"): "rubberwhale",
    ("opencv", "left"): "books", ("opencv", "right"): "books",
    ("opencv", "aero1"): "aero", ("opencv", "aero3"): "aero",
    ("skimage", "motorcycle_left"): "motorcycle", ("skimage", "motorcycle_right"): "motorcycle",
    **{("kphotoalbum", f"{n}{s}"): n
       for n in ("bar55", "donna", "jesper", "pool", "skagen", "spiff")
       for s in ("", "_2")},
    **{("kphotoalbum", f"{n}_{i}"): n for n in ("grand_canyon", "new_wave") for i in (1, 2, 3)},
}

# render, painting, vector
BUDGIE_SKIP = {"saturnian-profile", "ocean-waves", "valley-midnight", "waves-midnight"}
PLASMA_PHOTOS = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow",
                 "FallenLeaf", "Grey", "Kite", "OneStandsOut", "Path", "Volna", "summer_1am")
LOMIRI_SKIP = {"umang_by_Abhishek_Mudgal"}          # abstract colour gradient render
OPENCV_PHOTOS = ("aero1", "aero3", "aloeL", "aloeR", "apple", "baboon", "basketball1",
                 "basketball2", "board", "box_in_scene", "building", "butterfly", "chicky_512",
                 "ela_original", "fruits", "home", "left", "right", "leuvenA", "leuvenB", "messi5",
                 "orange", "rubberwhale1", "rubberwhale2", "squirrel_cls", "stuff")
SKIMAGE_PHOTOS = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png", "rocket.jpg",
                  "motorcycle_left.png", "motorcycle_right.png", "brick.png", "grass.png",
                  "gravel.png")


@dataclass(frozen=True)
class Source:
    name: str            # folder under the cache
    kind: str            # "bookworm" | "trixie" | "wheel"
    package: str         # Debian package or PyPI requirement ("scipy==1.9.3")
    licence: str         # licence(s) of its photos, as its copyright file states them
    pick: Callable[[Path], list]  # unpacked root -> [(name, file, licence)]
                                  # or [(name, file, licence, note)]
    holdout: bool = False          # all its photos go to the eval-only "holdout" split


def _stem_files(folder: Path, pattern: str = "*") -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(pattern)
                  if p.is_file() and p.suffix.lower() in _IMAGE_EXTS)


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
    return [(p.stem, p, "GPL-2.0-or-later")
            for p in _stem_files(root / "usr/share/backgrounds/mate/nature")]


def _pick_lomiri(root: Path) -> list:
    lic = unpack.debian_copyright_licences(root / "usr/share/doc/lomiri-wallpapers-16.04/copyright")
    return [(p.stem, p, lic.get(p.name, "CC-BY-4.0 or CC-BY-SA-4.0 (see package copyright)"))
            for p in _stem_files(root / "usr/share/backgrounds", "*.jpg")
            if p.stem not in LOMIRI_SKIP]


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


# opencv-doc's debian/copyright names no licence for samples/data, so its "Files: *" applies (lena
# is removed)
OPENCV_LICENCE = "Apache-2.0 AND BSD-3-Clause (opencv-doc copyright, Files: *)"


def _pick_opencv(root: Path) -> list:
    folder = root / "usr/share/doc/opencv-doc/examples/data"
    have = {p.stem: p for p in _stem_files(folder)}
    return [(n, have[n], OPENCV_LICENCE) for n in OPENCV_PHOTOS if n in have]


# not Dunes, Flat-*, Squiggle-*
ENLIGHTENMENT_PHOTOS = ("Bamboo", "Foggy-Trees", "God-Rays", "Green-Maple", "Lichen-Branches",
                        "Mountain", "Peaks", "Red-Maple", "Sea-of-Lanterns", "Snow-Trees",
                        "Spruce-Needles", "Sunset-Clouds", "White-Flower", "Yellow-Flower")
# lxqt-themes' wallpapers/License credits these to stefonarch under CC-BY-SA-3.0 (debian/copyright:
# LGPL-2.1+ for Files: *); Valendas, cloud and Butterfly-Kenneth-Wimer have no credit there, so they
# are left out.
LXQT_PHOTOS = ("appleflower.png", "beam.png", "butterfly.png", "drop.png", "flowers.png",
               "after-the-rain.jpg", "fog.jpg", "this-is-not-windows.jpg")
GRUB2_SKIP = {"Glasses_800_edit"}   # a POV-Ray render
LOMIRI2004_PHOTOS = ("Kleiber_by_Lukas_Baubkus.jpg",)   # the others are renders and vector art


def _pick_enlightenment(root: Path) -> list:
    folder = root / "usr/share/enlightenment/data/backgrounds"
    out = []
    for name in ENLIGHTENMENT_PHOTOS:
        edj = folder / f"{name}.edj"
        if edj.is_file():
            png = unpack.largest_embedded_jpeg(edj, root / "_extracted" / f"{name}.png")
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
    lic = unpack.debian_copyright_licences(root / "usr/share/doc/lomiri-wallpapers-20.04/copyright")
    folder = root / "usr/share/backgrounds"
    return [(Path(n).stem, folder / n, lic[n]) for n in LOMIRI2004_PHOTOS
            if (folder / n).is_file() and n in lic]


def _pick_jigsaw(root: Path) -> list:
    return [(p.stem, p, "CC0-1.0", "Pexels")
            for p in _stem_files(root / "usr/share/puzzle-jigsaw/samples")]


class _NoGlobals(pickle.Unpickler):
    """Unpickles plain lists and numbers only (scipy's ascent.dat); refuses any class or
    function."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing {module}.{name}")


def _pick_scipy_misc(root: Path) -> list:
    """scipy <= 1.9 bundled two public-domain photos as raw data: face.dat (bz2 RGB) and
    ascent.dat."""
    folder = root / "scipy/misc"
    out_dir = root / "_extracted"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    if (folder / "face.dat").is_file():
        raw = bz2.decompress((folder / "face.dat").read_bytes())
        rgb = np.frombuffer(raw, np.uint8).reshape(768, 1024, 3)
        cv2.imwrite(str(out_dir / "face.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        out.append(("face", out_dir / "face.png", "public domain",
                    "raccoon, public-domain-image.com"))
    if (folder / "ascent.dat").is_file():
        with open(folder / "ascent.dat", "rb") as f:
            gray = np.asarray(_NoGlobals(f).load(), dtype=np.float64)
        cv2.imwrite(str(out_dir / "ascent.png"), np.clip(gray, 0, 255).astype(np.uint8))
        out.append(("ascent", out_dir / "ascent.png", "public domain",
                    "people on stairs, public-domain-image.com"))
    return out


# 21 photos by Bill Kendrick (AUTHORS.txt), GPL-2+
TUXPAINT_TEMPLATES = "usr/share/tuxpaint/templates"
KPHOTOALBUM_SKIP = {"qt-logo"}
# GCompris (gcompris-qt-data 3.1) keeps its activities' files in Qt resource bundles (.rcc), with a
# README beside the photos giving each one's author, Wikimedia source and licence. Paintings
# (details), drawings (lang, babyshapes) and puzzle pieces are left out.
GCOMPRIS_LARGE = ("erase", "explore_monuments", "explore_world_animals", "explore_farm_animals",
                  "explore_world_music", "clickgame")                       # 500..1920 px
# photos that no README lists, with their licence from gcompris-qt-data's debian/copyright (the
# README beside them lists clickgame's fish, which are drawings)
GCOMPRIS_LISTED = {"clickgame": ([f"sea{i}.webp" for i in range(1, 7)], "GPL-3.0",
                                 "debian/copyright: 2000, 2008 Bruno Coudoin and others")}
GCOMPRIS_SMALL = ("categorization/images/fishes", "categorization/images/monuments",
                  "categorization/images/others", "categorization/images/renewable",
                  "categorization/images/tools")                           # ~320 px
_GCOMPRIS_LICENCES = "public domain / CC0 / CC-BY / CC-BY-SA / GPL (per file, README beside it)"
def _rcc_files(data: bytes) -> dict[str, bytes]:
    """path -> bytes of every file in a Qt resource bundle (.rcc, format 1-3; zlib-compressed
    entries)."""
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
            readmes = {k[:-len("README")]: unpack.readme_licences(v.decode("utf-8", "replace"))
                       for k, v in files.items() if k.startswith(prefix) and k.endswith("/README")}
            if activity in GCOMPRIS_LISTED:
                names, lic, note = GCOMPRIS_LISTED[activity]
                readmes = {prefix: {n: (lic, note) for n in names}}
            for rdir, listed in sorted(readmes.items()):
                for rel, (lic, note) in sorted(listed.items()):
                    key = rdir + rel
                    if Path(rel).suffix.lower() not in (".webp", ".jpg", ".jpeg") \
                            or key not in files:
                        continue
                    if not unpack.PERMISSIVE.match(lic):
                        continue
                    dest = root / "_extracted" / key
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(files[key])
                    name = f"{activity}-{Path(rel).stem}" if activity != "categorization" else \
                        f"{Path(rdir).name}-{Path(rel).stem}"
                    out.append((name, dest, lic,
                                f"{activity}.rcc:{key[len('gcompris/'):]}; {note}"))
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
        return [(Path(n).stem, root / prefix / n, licence) for n in names
                if (root / prefix / n).is_file()]
    return pick


SOURCES: tuple[Source, ...] = (
    Source("budgie", "trixie", "budgie-backgrounds", "CC0-1.0", _pick_budgie),
    Source("plasma", "bookworm", "plasma-workspace-wallpapers", "LGPL-3.0", _pick_plasma),
    Source("mate", "bookworm", "mate-backgrounds", "GPL-2.0-or-later", _pick_mate),
    Source("lomiri", "bookworm", "lomiri-wallpapers-16.04", "CC-BY-4.0 / CC-BY-SA-4.0",
           _pick_lomiri),
    Source("palapeli", "bookworm", "palapeli-data", "Public Domain / GFDL", _pick_palapeli),
    Source("opencv", "bookworm", "opencv-doc", "Apache-2.0 AND BSD-3-Clause", _pick_opencv),
    Source("skimage", "wheel", "scikit-image", "CC0 / public domain",
           _pick_members("skimage/data", SKIMAGE_PHOTOS, "CC0 / public domain")),
    Source("matplotlib", "wheel", "matplotlib", "public domain",
           _pick_members("matplotlib/mpl-data/sample_data", ["grace_hopper.jpg"], "public domain")),
    Source("sklearn", "wheel", "scikit-learn", "CC-BY",
           _pick_members("sklearn/datasets/images", ["china.jpg", "flower.jpg"], "CC-BY")),
    # later sources: split among themselves, so the split of FIRST_POOL's sources above never moves
    Source("enlightenment", "bookworm", "enlightenment-data", "BSD-2-Clause", _pick_enlightenment),
    Source("lomiri2004", "bookworm", "lomiri-wallpapers-20.04", "CC-BY-SA-3.0", _pick_lomiri2004),
    Source("lxqt", "bookworm", "lxqt-themes", "CC-BY-SA-3.0", _pick_lxqt),
    Source("tuxpaint", "trixie", "tuxpaint-data", "GPL-2.0-or-later", _pick_tuxpaint),
    Source("gcompris", "bookworm", "gcompris-qt-data", _GCOMPRIS_LICENCES,
           _pick_gcompris(GCOMPRIS_LARGE)),
    Source("gcompris-small", "bookworm", "gcompris-qt-data", _GCOMPRIS_LICENCES,
           _pick_gcompris(GCOMPRIS_SMALL)),
    # ---- held out: never in train/val/test, for evaluation on photos outside the pool (people,
    # ---- buildings, machines, animals, landscapes)
    Source("kphotoalbum", "bookworm", "kphotoalbum", "GPL-2.0-or-later", _pick_kphotoalbum,
           holdout=True),
    Source("grub2", "trixie", "grub2-splashimages", "public domain / GFDL-1.2-or-later",
           _pick_grub2, holdout=True),
    Source("jigsaw", "bookworm", "puzzle-jigsaw", "CC0-1.0", _pick_jigsaw, holdout=True),
    Source("scipy", "wheel", "scipy==1.9.3", "public domain", _pick_scipy_misc, holdout=True),
)

HOLDOUT_SOURCES = frozenset(s.name for s in SOURCES if s.holdout)
# The sources of the first pool; their photos keep the train/val/test split they had (see
# make_split).
FIRST_POOL = frozenset({"budgie", "plasma", "mate", "lomiri", "palapeli", "opencv", "skimage",
                        "matplotlib", "sklearn"})

# wheel -> (folder inside it to unpack, extra file endings to unpack beside images)
_WHEEL_PREFIX = {"scikit-image": ("skimage/data/", ()),
                 "matplotlib": ("matplotlib/mpl-data/sample_data/", ()),
                 "scikit-learn": ("sklearn/datasets/images/", ()),
                 "scipy": ("scipy/misc/", (".dat",))}
# old wheels (scipy 1.9, which still bundled its photos) are fetched for a fixed platform: we only
# unzip them
_WHEEL_PLATFORM = ["--python-version", "3.11", "--platform", "manylinux2014_x86_64",
                   "--implementation", "cp"]

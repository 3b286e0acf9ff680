"""The pool's cache and what describes it: where it lives, manifest.json (every photo with its
source, licence and size) and split.json (train / val / test / holdout by photo group).

The split is by photo *group* (a photo, or a stereo/near-duplicate pair of photos), decided by a
hash of ``source/group``, so all crops of one photo always land in the same split. The sources of
the first pool (``FIRST_POOL``) are split among themselves, so adding sources never moves one of
their photos and figures measured on them stay comparable; later sources are split among
themselves by the same rule. Sources marked
``holdout`` go to the "holdout" split, which no training, validation or test split ever contains:
photos outside the pool, for evaluation only.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

import cv2

from ...models import sha256_of
from .sources import FIRST_POOL, GROUPS, HOLDOUT_SOURCES, PoolError

SPLITS = ("train", "val", "test")     # the pool: what training, threshold tuning and `eval` draw on
HOLDOUT = "holdout"                   # photos of held-out sources, for independent evaluation only
ALL_SPLITS = SPLITS + (HOLDOUT,)
MAX_SIDE = 2560            # cached photos are downscaled to at most this on the long side ...
CACHE_JPEG_QUALITY = 92    # ... and then stored as JPEG of this quality
EXPORT_MAX_SIDE = 1024     # defaults of `export` (a compact copy to ship to a GPU machine)
EXPORT_JPEG_QUALITY = 90
SPLIT_FRACTIONS = (0.70, 0.15, 0.15)         # train / val / test of the first pool's sources
LATER_SPLIT_FRACTIONS = (0.80, 0.10, 0.10)   # ... of later sources: val and test had enough
                                             # photos already
LARGE_SIDE = 1500          # a photo whose short side is at least this is "large"
MIN_LARGE_PER_SPLIT = 3    # every split gets at least this many large photo groups
                           # (when the pool has them)
MANIFEST_VERSION = 1
_SPLIT_SALT = "unscratch-split-v1:"


# ------------------------------------------------------------------------------------------- paths

def repo_root() -> Path:
    """The folder holding ``pyproject.toml`` above this file."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    return here.parents[3]


def shared_data() -> Path:
    """`../shared/data` beside the repository: damage sprites, the real photos for checking, and the
    thin-structure photos."""
    return repo_root().parent / "shared" / "data"


def default_cache() -> Path:
    env = os.environ.get("UNSCRATCH_PHOTOS")
    return Path(env) if env else repo_root() / ".cache" / "photos"


def _cache(cache) -> Path:
    return Path(cache) if cache is not None else default_cache()


# ---------------------------------------------------------------------------------------- manifest

def describe(path: Path, cache: Path, source: str, name: str, licence: str, origin: str = "",
             original_size: tuple[int, int] | None = None) -> dict:
    """A manifest entry for a photo already in the cache; ``original_size`` (w, h) before
    downscaling."""
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


# ------------------------------------------------------------------------------------------- split

def _unit_hash(key: str) -> float:
    d = hashlib.sha256((_SPLIT_SALT + key).encode()).digest()
    return int.from_bytes(d[:8], "big") / 2.0 ** 64


def _group_of(e: dict) -> str:
    return e.get("group") or f"{e['source']}/{GROUPS.get((e['source'], e['name']), e['name'])}"


def _short_side(e: dict) -> int:
    """Short side of the photo as its source had it (before the cache downscaled it)."""
    return min(e.get("orig_width", e["width"]), e.get("orig_height", e["height"]))


def make_split(photos: list[dict], *, fractions=SPLIT_FRACTIONS,
               later_fractions=LATER_SPLIT_FRACTIONS,
               large_side: int = LARGE_SIDE, min_large: int = MIN_LARGE_PER_SPLIT,
               holdout_sources: Iterable[str] | None = None,
               first_pool: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Assign every photo (manifest entries) to train/val/test/holdout.

    Photos of ``holdout_sources`` (default: sources marked ``holdout``) all go to "holdout". The
    rest is split in two parts, each on its own: the sources of ``first_pool`` (default
    ``FIRST_POOL``), so that adding sources never moves a photo of the first pool, and all later
    sources (``later_fractions``). Within a part a group's split comes from a hash of
    ``source/group``; then, if val or test (or train) holds fewer than ``min_large`` large groups
    (short side >= ``large_side`` as fetched), large groups are moved to it from the split with the
    most, by hash order, so each split sees some high-resolution photos. All photos of a group stay
    together.
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


def _split_part(photos: list[dict], fractions, large_side: int,
                min_large: int) -> dict[str, list[str]]:
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
        donor = max((s for s in SPLITS if s != target),
                    key=lambda s: (len(larges(s)), s == "train"))
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
        "rule": (f"sources {sorted(HOLDOUT_SOURCES)} -> holdout; the rest by "
                 f"sha256('{_SPLIT_SALT}' + source/group) into {SPLIT_FRACTIONS} for the first "
                 f"pool's sources and {LATER_SPLIT_FRACTIONS} for later ones, each part on its "
                 "own; at least "
                 f"{MIN_LARGE_PER_SPLIT} groups with short side >= {LARGE_SIDE} px (as fetched) "
                 "per split"),
        "counts": {s: len(split[s]) for s in ALL_SPLITS},
        "large": {s: sum(_short_side(by_file[f]) >= LARGE_SIDE for f in split[s])
                  for s in ALL_SPLITS},
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
    """Paths of the photos in ``split``: "train", "val", "test", "holdout", or "all" (train + val
    + test, never the holdout). ``cache`` may also be a folder written by ``export`` (it holds
    only the splits exported); default: ``$UNSCRATCH_PHOTOS`` or ``<repo>/.cache/photos``."""
    cache = _cache(cache)
    if split not in (*ALL_SPLITS, "all"):
        raise ValueError(f"split must be one of {ALL_SPLITS + ('all',)}, not {split!r}")
    data = read_split(cache)
    files = [f for s in SPLITS for f in data.get(s, [])] if split == "all" else data.get(split, [])
    return [cache / f for f in sorted(files) if (cache / f).is_file()]

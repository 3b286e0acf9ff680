"""The pool of clean photographs the damage simulator is trained on.

Only permissively licensed photos that can be had offline are used (see ``shared/data/SOURCES.md``):
Debian wallpaper/data packages (bookworm, plus some from trixie through private apt options) and the
sample images inside a few PyPI wheels. Charts, text, logos, paintings, renders, vector art and lena
are left out; every photo's licence and origin is recorded in the manifest (``info`` prints them per
source).

    python -m unscratch.train.pool fetch  [--cache DIR]    # download, cache, manifest + split
    python -m unscratch.train.pool split  [--cache DIR]    # rebuild split.json from manifest.json
    python -m unscratch.train.pool info   [--cache DIR]    # counts per split / source / licence
    python -m unscratch.train.pool export [--cache DIR] [--split train] [--max-side 1024] OUT_DIR
                                          # a compact JPEG copy of some splits, usable as a cache

Layout of the cache (default ``<repo>/.cache/photos`` or ``$UNSCRATCH_PHOTOS``; photos are never
committed)::

    CACHE/<source>/<name>.<ext>   photos over MAX_SIDE on the long side are downscaled (JPEG q92)
    CACHE/manifest.json     every photo: file, source, name, group, licence, width, height,
                            orig_width, orig_height, bytes, sha256, origin
    CACHE/split.json        train / val / test / holdout lists of files

The split is by photo group, held-out sources apart (manifest.py says how). The pool's parts, each
importing only those before it: sources.py (where photos come from, under which licence), photos.py
(reading, crops), manifest.py (the cache, manifest.json, split.json), fetch.py (download, store,
export); this module gathers their names and is the command line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# the pool's names, as callers have always imported them from here
from .fetch import (_Fetcher, _apt_has_candidate, _need_apt, _pip_cmd, _read_any,  # noqa: F401
                    _run, _source_complete, _store, _trixie_opts, export, fetch)
from .manifest import (ALL_SPLITS, CACHE_JPEG_QUALITY, EXPORT_JPEG_QUALITY,  # noqa: F401
                       EXPORT_MAX_SIDE, HOLDOUT, LARGE_SIDE, LATER_SPLIT_FRACTIONS,
                       MANIFEST_VERSION, MAX_SIDE, MIN_LARGE_PER_SPLIT, SPLIT_FRACTIONS, SPLITS,
                       _cache, _group_of, _short_side, _split_part, _unit_hash, _write_json,
                       default_cache, describe, make_split, photo_paths, read_manifest, read_split,
                       repo_root, write_split)
from .photos import load_photo, random_crop, read_rgb  # noqa: F401
from .sources import (FIRST_POOL, GROUPS, HOLDOUT_SOURCES, SOURCES, _PERMISSIVE,  # noqa: F401
                      PoolError, Source, _licence_name, _rcc_files, _readme_licences)


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
    ap = argparse.ArgumentParser(prog="python -m unscratch.train.pool",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["fetch", "split", "info", "export"])
    ap.add_argument("out", nargs="?", type=Path, help="export: the new folder to write")
    ap.add_argument("--cache", type=Path, default=None,
                    help=f"cache folder (default {default_cache()})")
    ap.add_argument("--split", action="append", default=None,
                    help="export: a split to copy (repeatable; default train)")
    ap.add_argument("--max-side", type=int, default=EXPORT_MAX_SIDE,
                    help="export: long side at most (px)")
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

"""The pool of clean photographs: the command line (``python -m unscratch.train.pool``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cache import (
    ALL_SPLITS,
    EXPORT_JPEG_QUALITY,
    EXPORT_MAX_SIDE,
    HOLDOUT,
    LARGE_SIDE,
    _cache,
    _short_side,
    default_cache,
    read_manifest,
    read_split,
    write_split,
)
from .fetch import export, fetch
from .sources import PoolError


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
                                 description="The pool of clean photographs the damage simulator "
                                             "is trained on.")
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

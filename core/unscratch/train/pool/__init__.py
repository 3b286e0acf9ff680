"""The pool of clean photographs the damage simulator is trained on.

Only permissively licensed photos that can be had offline are used (``models/README.md`` lists
them): Debian wallpaper/data packages (bookworm, plus some from trixie through private apt options)
and the sample images inside a few PyPI wheels. Charts, text, logos, paintings, renders, vector art
and lena are left out; every photo's licence and origin is recorded in the manifest (``info`` prints
them per source).

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

The split is by photo group, held-out sources apart (cache.py says how). The pool's parts, each
importing only those before it: unpack.py (licences and images read out of a package), sources.py
(where photos come from, under which licence), photos.py (reading, crops), cache.py (the cache,
manifest.json, split.json), fetch.py (download, store, export), cli.py (the command line). The names
the rest of training uses are gathered here; fetching and exporting are ``pool.fetch.fetch`` and
``pool.fetch.export``.
"""

from .cache import (
    ALL_SPLITS,
    HOLDOUT,
    LARGE_SIDE,
    MAX_SIDE,
    MIN_LARGE_PER_SPLIT,
    SPLITS,
    default_cache,
    describe,
    make_split,
    photo_paths,
    read_manifest,
    read_split,
    repo_root,
    shared_data,
    write_split,
)
from .photos import load_photo, random_crop, read_rgb
from .sources import FIRST_POOL, GROUPS, HOLDOUT_SOURCES, SOURCES, PoolError, Source

__all__ = [
    "ALL_SPLITS", "FIRST_POOL", "GROUPS", "HOLDOUT", "HOLDOUT_SOURCES", "LARGE_SIDE", "MAX_SIDE",
    "MIN_LARGE_PER_SPLIT", "SOURCES", "SPLITS", "PoolError", "Source", "default_cache", "describe",
    "load_photo", "make_split", "photo_paths", "random_crop", "read_manifest",
    "read_rgb", "read_split", "repo_root", "shared_data", "write_split",
]

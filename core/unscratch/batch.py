"""`unscratch batch IN_DIR OUT_DIR`: restore a whole archive, resumably, in one process or on Dask.

Layout of OUT_DIR
-----------------
    OUT_DIR/<same relative path as the input>         the restored image (same format; --format png|tiff)
    OUT_DIR/_masks/<relative path>.png                 --masks: defect mask (255 = repaired)
    OUT_DIR/_probability/<relative path>.tif           --probability: float32 defect probability
    OUT_DIR/_contact-sheet/sheet-0001.jpg …            --contact-sheet: before/after thumbnails, 4x5 per page
    OUT_DIR/_contact-sheet/thumbs/<relative path>.jpg  the per-file before|after pairs the pages are made of
    OUT_DIR/.unscratch-manifest.sqlite                 the manifest (table `files`, one row per input; `runs`)

Inputs are the regular files under IN_DIR matching --glob (default `**/*`, i.e. everything, recursively;
case-sensitive on Linux); hidden files and folders (name starting with '.') and OUT_DIR itself, when it
lies inside IN_DIR, are left out. A matched file that is not a PNG/JPEG/TIFF is recorded as failed
("unsupported file type"); narrow --glob (e.g. `**/*.tif`) to leave sidecar files out.

Never touching originals: OUT_DIR may not be IN_DIR nor contain it, every write goes through
`io.write` (temporary file in the destination folder, fsync, rename; refuses to replace its source),
and nothing is written outside OUT_DIR (Dask's scratch space goes to OUT_DIR/.unscratch-dask, removed
at the end; SQLite keeps its temporary data in memory).

Manifest and resume
-------------------
Only the coordinating process writes the manifest, and it records a file as `done` after its outputs
have been renamed into place. A `kill -9` at any moment therefore leaves each output either complete
or absent (plus, at worst, hidden `.*.part` temporaries, which the next run deletes before it starts),
and a rerun reprocesses exactly the files not recorded as done. A file is skipped when its row is
`done` with the same parameters and models (`params_key`), the same input (size and mtime unchanged;
when they changed, the sha256 is recomputed and a matching file is not reprocessed), the same
selection file, and all outputs asked for present and intact: each output's size, mtime and sha256 are
recorded when it is written, and an output whose size differs (truncated) or whose content no longer
hashes the same is redone. Failed files are retried on every run. When a file
is reprocessed, outputs of its previous row that are no longer produced are deleted, so the tree
never holds two versions of one result. `--force` reprocesses everything. One run at a time per
OUT_DIR (an advisory lock on OUT_DIR/.unscratch-manifest.lock).

--fill-region PATH
------------------
A selection image (white/nonzero = heal) in either of two forms: one file, used for every input (all
inputs must then have its size; e.g. a scanner-glass scratch at a fixed place), or a folder mirroring
IN_DIR, in which `PATH/<relative path>` or the same relative path with a .png/.tif/.tiff/.jpg/.jpeg
suffix is the selection for that input. An input with a selection is healed inside it exactly like
`unscratch restore --fill --region SEL` (no detection); an input without one gets the usual defect
detection and repair. Soft (gray) selections blend. The selection's path and sha256 are in the manifest.

Execution
---------
--workers 1 (default) runs in this process, without Dask. --workers N (N >= 2) starts a dask
LocalCluster of N single-threaded worker processes; --scheduler tcp://host:8786 uses an existing
cluster instead (its workers must run the same unscratch and models, and see IN_DIR and OUT_DIR at the
same paths; they read inputs and write outputs themselves, the coordinator only writes the manifest).
Each worker process loads the models once (the core caches verified ONNX sessions per process; the
cluster is warmed up before the first file). On a cluster an image of at least --split-mp megapixels
(default 64; 0 = never) is itself split across the workers with dask.array `map_overlap` over the
tiled engine (see `split_restore`), giving the same pixels as the single-process result.

Exit status: 0 when every file is done, 1 when some failed (listed in the summary and the manifest),
2 for a usage error, 130 when interrupted (a rerun resumes).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import sys
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterator, NamedTuple

import cv2
import numpy as np

from . import __version__, api, grain, io
from .arrays import bbox, check_image, check_plane, colour_planes, plane_weight, to_rgb_float
from .engine import run_tiled, span, taper as engine_taper, tile_layout
from .errors import InputError, ModelError

MANIFEST_NAME = ".unscratch-manifest.sqlite"
LOCK_NAME = ".unscratch-manifest.lock"
DASK_DIR = ".unscratch-dask"
MASKS_DIR, PROB_DIR, SHEET_DIR = "_masks", "_probability", "_contact-sheet"
RESERVED = (MASKS_DIR, PROB_DIR, SHEET_DIR)
FORMATS = {"same": None, "png": ".png", "tiff": ".tif"}
REGION_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
JPEG_QUALITY = 95
THUMB = 256
_PART = re.compile(r"^\..+\.[a-z0-9_]{8}\.part$")  # io.write's temporaries: .<name>.<8 random>.part


# --- settings, jobs and results ------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """Everything a run is asked to do. Only `params()` decides the pixels (and so the manifest key)."""
    method: str = "auto"
    threshold: float | None = None
    dilate: int = 2
    feather: int = 2
    format: str = "same"
    masks: bool = False
    probability: bool = False
    contact_sheet: bool = False
    split_mp: float = 64.0
    split_chunk: int = 4096  # target chunk side (px) when splitting one image; rounded to the tile grid
    threads: int | None = None
    compression: str | None = None  # of TIFF outputs (io.TIFF_COMPRESSIONS); None: io's default (deflate)

    def params(self, detector) -> dict:
        """The settings that decide the pixels, with the detector's defaults filled in (no --threshold:
        restore's auto mask, so its auto_threshold counts too)."""
        threshold = api.resolve_threshold(detector, self.threshold)
        auto = getattr(detector, "auto_threshold", None) if self.threshold is None else None
        params = {"method": self.method, "threshold": threshold, "auto_threshold": auto,
                  "dilate": self.dilate, "feather": self.feather, "format": self.format, "jpeg_quality": JPEG_QUALITY}
        if self.compression:  # not the pixels, but the files: a rerun with another one rewrites them
            params["compression"] = self.compression
        return params


@dataclass
class Job:
    """One input file, with where its outputs go (paths relative to OUT_DIR, '/'-separated)."""
    path: str                       # relative to IN_DIR
    source: str                     # absolute input path
    out_dir: str
    outputs: dict                   # kind -> relative path, for every output this job must produce
    size: int = 0
    mtime_ns: int = 0
    region: str | None = None       # absolute selection path (fill mode) or None
    region_size: int | None = None
    region_mtime_ns: int | None = None
    known: dict | None = None       # sha256s of a done row with the same parameters: reuse when unchanged
    error: str | None = None        # a reason found before processing (name clash, reserved folder)


@dataclass
class Config:
    """What every worker needs besides the job: picklable, small."""
    settings: Settings
    models: dict
    cv_threads: int | None = None
    quiet_opencv: bool = False  # processes we own (CLI, LocalCluster): OpenCV's decoder warnings would
                                # garble the progress bar; the reason a file failed is in the manifest


@dataclass
class Summary:
    total: int = 0
    done: int = 0
    reused: int = 0
    skipped: int = 0
    failed: int = 0
    megapixels: float = 0.0
    seconds: float = 0.0
    temporaries_removed: int = 0
    failures: list = field(default_factory=list)
    interrupted: bool = False
    manifest: str = ""

    @property
    def exit_code(self) -> int:
        return 130 if self.interrupted else (1 if self.failed else 0)


# --- discovery -----------------------------------------------------------------------------------
def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _hidden(rel: PurePosixPath) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def find_region(region: Path | None, rel: PurePosixPath) -> Path | None:
    """The selection for input `rel`: the --fill-region file itself, or its mirrored file in a folder."""
    if region is None:
        return None
    if region.is_file():
        return region
    exact = region / rel
    if exact.is_file():
        return exact
    base = region / rel.parent / rel.stem
    for ext in REGION_SUFFIXES + tuple(e.upper() for e in REGION_SUFFIXES):
        cand = base.with_name(base.name + ext)
        if cand.is_file():
            return cand
    return None


def output_paths(rel: PurePosixPath, settings: Settings, fill: bool) -> dict:
    suffix = FORMATS[settings.format]
    out = {"image": str(rel.with_suffix(suffix) if suffix else rel)}
    if settings.masks:
        out["mask"] = f"{MASKS_DIR}/{rel}.png"
    if settings.probability and not fill:
        out["probability"] = f"{PROB_DIR}/{rel}.tif"
    if settings.contact_sheet:
        out["thumb"] = f"{SHEET_DIR}/thumbs/{rel}.jpg"
    return out


def discover(in_dir: Path, out_dir: Path, pattern: str, settings: Settings,
             region: Path | None = None) -> list[Job]:
    """Jobs for the files under in_dir matching `pattern`, sorted by relative path."""
    found = []
    try:
        matches = list(in_dir.glob(pattern))
    except (ValueError, NotImplementedError) as exc:
        raise InputError(f"--glob {pattern!r}: {exc}") from None
    for p in matches:
        rel = PurePosixPath(p.relative_to(in_dir).as_posix())
        if _hidden(rel) or _inside(p, out_dir) or (region is not None and region.is_dir() and _inside(p, region)):
            continue
        if p.is_file():
            found.append((rel, p))
    found.sort(key=lambda item: str(item[0]))
    jobs, claimed = [], {}
    for rel, p in found:
        sel = find_region(region, rel)
        st = p.stat()
        job = Job(path=str(rel), source=str(p), out_dir=str(out_dir), outputs=output_paths(rel, settings, sel is not None),
                  size=st.st_size, mtime_ns=st.st_mtime_ns)
        if sel is not None:
            rst = sel.stat()
            job.region, job.region_size, job.region_mtime_ns = str(sel), rst.st_size, rst.st_mtime_ns
        if rel.parts[0] in RESERVED:
            job.error = (f"{p}: its output would land in OUT_DIR/{rel.parts[0]}, which is reserved for "
                         f"{'/'.join(RESERVED)}; rename that input folder")
        elif job.outputs["image"] in claimed:
            job.error = (f"{p}: its output {job.outputs['image']} would overwrite the output of "
                         f"{claimed[job.outputs['image']]}; use --format same or rename one of them")
        else:
            claimed[job.outputs["image"]] = str(rel)
        jobs.append(job)
    return jobs


# --- the per-file work (runs in this process or on a Dask worker) ---------------------------------
_READY: dict = {}


def _setup_process(cfg: Config) -> dict:
    """Once per process: thread settings and model sessions (cached by the core), then report them."""
    key = (cfg.settings.threads, cfg.cv_threads, cfg.settings.method)
    if cfg.quiet_opencv:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    if key not in _READY:
        threads = cfg.settings.threads or cfg.cv_threads
        if threads:
            from .models import configure
            configure(threads=threads)
            cv2.setNumThreads(threads)
        detector, inpainter = api.get_detector(cfg.settings.method), api.get_inpainter(cfg.settings.method)
        _READY[key] = {"detector": detector.provenance, "inpainter": inpainter.provenance}
    return {"version": __version__, "models": _READY[key], "host": socket.gethostname(), "pid": os.getpid()}


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def output_fingerprint(path: Path) -> list:
    """[size, mtime_ns, sha256] of a finished output, for the manifest: a rerun checks it is intact."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, sha256_file(path)]


def output_intact(path: Path, fingerprint: list | None) -> bool:
    """Whether `path` is the output the manifest recorded: same size, and the same sha256 unless the mtime
    is unchanged too. An output recorded before fingerprints existed only has to be a file."""
    try:
        st = path.stat()
    except OSError:
        return False
    if not fingerprint:
        return path.is_file()
    size, mtime_ns, digest = fingerprint
    if st.st_size != size:
        return False
    return st.st_mtime_ns == mtime_ns or sha256_file(path) == digest


def read_selection(path, shape, image_path) -> np.ndarray:
    """A selection image as a 2-D plane of the image's size (alpha of RGBA, else the first channel)."""
    try:
        plane = io.read(path)
    except InputError as exc:
        raise InputError(f"{image_path}: its selection is unusable: {exc}") from None
    if plane.ndim == 3:
        plane = plane[:, :, 3] if plane.shape[2] == 4 else plane[:, :, 0]
    if plane.shape != tuple(shape):
        raise InputError(f"{image_path}: is {shape[1]}x{shape[0]} but its selection {path} is "
                         f"{plane.shape[1]}x{plane.shape[0]}")
    return plane


def thumbnail_pair(before: np.ndarray, after: np.ndarray, size: int = THUMB) -> np.ndarray:
    """8-bit RGB before|after pair, each fitted into size x size."""
    h, w = before.shape[:2]
    scale = min(1.0, size / max(h, w))
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    pair = []
    for img in (before, after):
        rgb = np.rint(to_rgb_float(colour_planes(img)) * 255).astype(np.uint8)
        pair.append(cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_AREA) if scale < 1 else rgb)
    gap = np.full((th, 4, 3), 255, np.uint8)
    return np.concatenate([pair[0], gap, pair[1]], axis=1)


def _in_dask_worker() -> bool:
    if "distributed" not in sys.modules:
        return False
    try:
        from distributed import get_worker
        get_worker()
        return True
    except (ImportError, ValueError):
        return False


def process_file(job: Job, cfg: Config) -> dict:
    """Restore one file and write its outputs atomically; never raises for a bad file."""
    t0 = time.perf_counter()
    res = {"path": job.path, "source": job.source, "status": "failed", "error": None, "trace": None,
           "size": job.size, "mtime_ns": job.mtime_ns, "region": job.region, "region_size": job.region_size,
           "region_mtime_ns": job.region_mtime_ns, "mode": "fill" if job.region else "defects",
           "outputs": {}, "timings": {}, "reused": False, "split": False,
           "worker": f"{socket.gethostname()}:{os.getpid()}"}
    timings = res["timings"]
    src = Path(job.source)
    try:
        if job.error:
            raise InputError(job.error)
        info_ = _setup_process(cfg)
        if info_["models"] != cfg.models:
            raise ModelError(f"{src}: worker {res['worker']} has models {info_['models']}, not the coordinator's "
                             f"{cfg.models}; install the same unscratch and models on every worker")
        if src.suffix.lower() not in io.READABLE:
            raise InputError(f"{src}: unsupported file type '{src.suffix}'; use .png, .jpg, .jpeg, .tif or .tiff")
        st = src.stat()
        res["size"], res["mtime_ns"] = st.st_size, st.st_mtime_ns
        t = time.perf_counter()
        res["sha256"] = sha256_file(src)
        if job.region:
            rst = Path(job.region).stat()
            res["region_size"], res["region_mtime_ns"] = rst.st_size, rst.st_mtime_ns
            res["region_sha256"] = sha256_file(job.region)
        timings["hash"] = time.perf_counter() - t
        known = job.known
        if (known and known.get("sha256") == res["sha256"] and known.get("region_sha256") == res.get("region_sha256")
                and all(output_intact(Path(job.out_dir) / p, (job.known.get("files") or {}).get(p))
                        for p in job.outputs.values())):
            res.update(status="done", reused=True)
            return res
        t = time.perf_counter()
        image, info = io.read_with_info(src)
        selection = read_selection(job.region, image.shape[:2], src) if job.region else None
        timings["read"] = time.perf_counter() - t
        H, W = image.shape[:2]
        res.update(width=W, height=H, channels=1 if image.ndim == 2 else image.shape[2], dtype=str(image.dtype))
        s = cfg.settings
        detect_method = api.detect_method_for(s.method, info.infrared)
        res["detect_method"] = None if job.region else detect_method
        # the infrared detector fits its leakage over the whole image first, so an RGBI scan is not split
        split = (s.split_mp > 0 and H * W >= s.split_mp * 1e6 and min(H, W) > 1 and _in_dask_worker()
                 and detect_method != "infrared")
        t = time.perf_counter()
        if split:
            from distributed import worker_client
            with worker_client() as client:
                restored, probability, hole = split_restore(
                    image, region=selection, mode="fill" if job.region else "defects", threshold=s.threshold,
                    method=s.method, detect_method=detect_method, dilate=s.dilate, feather=s.feather,
                    chunk=s.split_chunk, scheduler=client)
            res["split"] = True
            timings["restore"] = time.perf_counter() - t
        elif job.region:
            probability = None
            hole = plane_weight(check_plane(selection, (H, W), "selection")) > 0
            restored = api.restore(image, region=selection, mode="fill", method=s.method)
            timings["restore"] = time.perf_counter() - t
        else:
            det = api.detect(image, threshold=s.threshold, method=detect_method)
            probability = det.probability
            hole = api.auto_mask(det, api.get_detector(detect_method), s.threshold)  # what restore(image) repairs
            timings["detect"] = time.perf_counter() - t
            t = time.perf_counter()
            restored = api.restore(image, hole, method=s.method, dilate=s.dilate, feather=s.feather)
            timings["restore"] = time.perf_counter() - t
        changed = (restored != image).reshape(H, W, -1).any(axis=2)
        res.update(defect_pixels=int(hole.sum()), defect_fraction=float(hole.mean()), changed_pixels=int(changed.sum()))
        t = time.perf_counter()
        out_root = Path(job.out_dir)
        with warnings.catch_warnings(record=True) as losses:  # what a format cannot hold: in the manifest
            warnings.simplefilter("always", io.LossWarning)
            for kind, rel in job.outputs.items():
                path = out_root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                if kind == "image":
                    io.write(path, restored, info=info, source=src, jpeg_quality=JPEG_QUALITY,
                             compression=s.compression)
                elif kind == "mask":
                    io.write(path, hole.astype(np.uint8) * 255, info=info, source=src)
                elif kind == "probability":
                    io.write(path, probability.astype(np.float32), info=info, source=src,
                             compression=s.compression)
                elif kind == "thumb":
                    io.write(path, thumbnail_pair(image, restored), source=src, jpeg_quality=90)
                res["outputs"][kind] = rel
                res.setdefault("output_files", {})[rel] = output_fingerprint(path)
        notes = [str(w.message) for w in losses if issubclass(w.category, io.LossWarning)]
        res["notes"] = "; ".join(notes) or None
        timings["write"] = time.perf_counter() - t
        res["status"] = "done"
    except (InputError, ModelError) as exc:
        res["error"] = str(exc)
    except MemoryError:
        res["error"] = f"{src}: out of memory; run with fewer --workers or on a machine with more memory"
    except Exception as exc:  # a bad file must never stop the run; keep the traceback for the manifest
        res["error"] = f"{src}: internal error: {type(exc).__name__}: {exc}"
        res["trace"] = traceback.format_exc()
    finally:
        timings["total"] = time.perf_counter() - t0
    return res


# --- the manifest ----------------------------------------------------------------------------------
_COLUMNS = {
    "path": "TEXT PRIMARY KEY", "source": "TEXT", "size": "INTEGER", "mtime_ns": "INTEGER", "sha256": "TEXT",
    "region": "TEXT", "region_size": "INTEGER", "region_mtime_ns": "INTEGER", "region_sha256": "TEXT",
    "mode": "TEXT", "detect_method": "TEXT", "params": "TEXT", "params_key": "TEXT", "models": "TEXT", "status": "TEXT", "error": "TEXT",
    "trace": "TEXT", "width": "INTEGER", "height": "INTEGER", "channels": "INTEGER", "dtype": "TEXT",
    "defect_pixels": "INTEGER", "defect_fraction": "REAL", "changed_pixels": "INTEGER", "outputs": "TEXT",
    "t_hash": "REAL", "t_read": "REAL", "t_detect": "REAL", "t_restore": "REAL", "t_write": "REAL", "t_total": "REAL",
    "worker": "TEXT", "split": "INTEGER", "attempts": "INTEGER", "version": "TEXT", "run_id": "INTEGER",
    "finished_at": "TEXT",
    "output_files": "TEXT",  # {relative path: [size, mtime_ns, sha256]} of each output as written
    "notes": "TEXT",         # what the output format could not hold (io.LossWarning), or NULL
}


class Manifest:
    """SQLite manifest in OUT_DIR; written only by the coordinating process, one transaction per file."""

    def __init__(self, path: Path):
        self.path = path
        self.db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        # a rollback journal (not WAL, which needs shared memory that network file systems lack) and a
        # full sync per commit: a kill -9 mid-commit is rolled back when the manifest is next opened
        self.db.execute("PRAGMA journal_mode=DELETE")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA temp_store=MEMORY")
        cols = ", ".join(f"{k} {v}" for k, v in _COLUMNS.items())
        self.db.execute(f"CREATE TABLE IF NOT EXISTS files ({cols})")
        have = {r["name"] for r in self.db.execute("PRAGMA table_info(files)")}
        for name in (c for c in _COLUMNS if c not in have):  # a manifest from an older version gains new columns
            self.db.execute(f"ALTER TABLE files ADD COLUMN {name} {_COLUMNS[name]}")
        self.db.execute("CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT, "
                        "finished_at TEXT, in_dir TEXT, argv TEXT, version TEXT, params TEXT, models TEXT, "
                        "total INTEGER, done INTEGER, reused INTEGER, skipped INTEGER, failed INTEGER, "
                        "megapixels REAL, seconds REAL, interrupted INTEGER)")

    def rows(self) -> dict:
        cols = ", ".join(c for c in _COLUMNS if c != "trace")  # tracebacks stay on disk
        return {r["path"]: dict(r) for r in self.db.execute(f"SELECT {cols} FROM files")}

    def start_run(self, in_dir: Path, params: dict, models: dict) -> int:
        cur = self.db.execute("INSERT INTO runs (started_at, in_dir, argv, version, params, models) VALUES (?,?,?,?,?,?)",
                              (_now(), str(in_dir), json.dumps(sys.argv), __version__, json.dumps(params),
                               json.dumps(models)))
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, s: Summary) -> None:
        self.db.execute("UPDATE runs SET finished_at=?, total=?, done=?, reused=?, skipped=?, failed=?, megapixels=?, "
                        "seconds=?, interrupted=? WHERE id=?",
                        (_now(), s.total, s.done, s.reused, s.skipped, s.failed, s.megapixels, s.seconds,
                         int(s.interrupted), run_id))

    def record(self, res: dict, previous: dict | None, params: dict, key: str, models: dict, run_id: int) -> None:
        t = res.get("timings", {})
        row = dict(previous) if (res.get("reused") and previous) else {}
        row.update({
            "path": res["path"], "source": res["source"], "size": res.get("size"), "mtime_ns": res.get("mtime_ns"),
            "region": res.get("region"), "region_size": res.get("region_size"),
            "region_mtime_ns": res.get("region_mtime_ns"), "status": res["status"], "run_id": run_id,
            "finished_at": _now(), "worker": res.get("worker"),
        })
        if not res.get("reused"):
            row.update({
                "sha256": res.get("sha256"), "region_sha256": res.get("region_sha256"), "mode": res.get("mode"),
                "detect_method": res.get("detect_method"),
                "params": json.dumps(params, sort_keys=True), "params_key": key,
                "models": json.dumps(models, sort_keys=True), "error": res.get("error"), "trace": res.get("trace"),
                "width": res.get("width"), "height": res.get("height"), "channels": res.get("channels"),
                "dtype": res.get("dtype"), "defect_pixels": res.get("defect_pixels"),
                "defect_fraction": res.get("defect_fraction"), "changed_pixels": res.get("changed_pixels"),
                "outputs": json.dumps(res.get("outputs", {}), sort_keys=True),
                "output_files": json.dumps(res.get("output_files", {}), sort_keys=True),
                "notes": res.get("notes"),
                "t_hash": t.get("hash"), "t_read": t.get("read"), "t_detect": t.get("detect"),
                "t_restore": t.get("restore"), "t_write": t.get("write"), "t_total": t.get("total"),
                "split": int(bool(res.get("split"))), "version": __version__,
                "attempts": ((previous or {}).get("attempts") or 0) + 1,
            })
        cols = list(_COLUMNS)
        self.db.execute(f"INSERT OR REPLACE INTO files ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                        [row.get(c) for c in cols])

    def close(self) -> None:
        self.db.close()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def params_key(params: dict, models: dict) -> str:
    return hashlib.sha256(json.dumps({"params": params, "models": models}, sort_keys=True).encode()).hexdigest()


def _outputs_present(out_dir: Path, row: dict, wanted: dict) -> bool:
    """Every wanted output recorded in the row and still as it was written (see `output_intact`)."""
    have = json.loads(row.get("outputs") or "{}")
    files = json.loads(row.get("output_files") or "{}")
    return all(have.get(kind) == rel and output_intact(out_dir / rel, files.get(rel))
               for kind, rel in wanted.items())


def plan(jobs: list[Job], rows: dict, key: str, out_dir: Path, force: bool) -> tuple[list[Job], list[Job]]:
    """(to process, to skip). A done row with this key and unchanged fingerprints is skipped."""
    todo, skip = [], []
    for job in jobs:
        row = rows.get(job.path)
        same_setup = (not force and job.error is None and row is not None and row["status"] == "done"
                      and row["params_key"] == key and row["source"] == job.source and row["region"] == job.region
                      and _outputs_present(out_dir, row, job.outputs))
        if same_setup and row["size"] == job.size and row["mtime_ns"] == job.mtime_ns and \
                row["region_size"] == job.region_size and row["region_mtime_ns"] == job.region_mtime_ns:
            skip.append(job)
            continue
        if same_setup:
            job.known = {"sha256": row["sha256"], "region_sha256": row["region_sha256"],
                         "files": json.loads(row.get("output_files") or "{}")}
        todo.append(job)
    return todo, skip


def _remove_stale_outputs(out_dir: Path, previous: dict | None, res: dict, owners: dict) -> None:
    """Delete outputs of this file's previous row that the new result does not vouch for, so that the
    tree never holds two versions of one result (e.g. after --format changed, or the file now fails);
    never a path another current input writes to (`owners`: output path -> input path)."""
    if not previous or res.get("reused"):
        return
    keep = set(res.get("outputs", {}).values())
    for rel in json.loads(previous.get("outputs") or "{}").values():
        if rel not in keep and owners.get(rel, res["path"]) == res["path"]:
            (out_dir / rel).unlink(missing_ok=True)


def remove_temporaries(out_dir: Path, jobs: list[Job]) -> int:
    """Delete Dask's scratch folder and the hidden `.<name>.<random>.part` files that a write killed
    midway leaves behind, in the folders this run writes to (and nowhere else)."""
    shutil.rmtree(out_dir / DASK_DIR, ignore_errors=True)
    folders = {(out_dir / rel).parent for job in jobs for rel in job.outputs.values()} | {out_dir / SHEET_DIR}
    removed = 0
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if _PART.match(name):
                (folder / name).unlink(missing_ok=True)
                removed += 1
    return removed


class _Lock:
    def __init__(self, path: Path):
        self.fh = open(path, "a+")
        try:
            import fcntl
        except ImportError:  # no advisory locks on this platform: trust the user
            return
        try:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.close()
            raise InputError(f"{path.parent}: another `unscratch batch` is writing to this folder") from None

    def release(self):
        self.fh.close()


# --- executors -------------------------------------------------------------------------------------
def _run_local(jobs: list[Job], cfg: Config) -> Iterator[tuple[Job, dict]]:
    for job in jobs:
        yield job, process_file(job, cfg)


@contextlib.contextmanager
def _workers_ignore_ctrl_c():
    """Start worker processes with SIGINT ignored (a child keeps an ignored signal, and Python then installs
    no KeyboardInterrupt handler): Ctrl-C reaches the whole process group, and only this process should
    act on it, closing the cluster, instead of each worker printing a 30-line traceback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _DaskRunner:
    """LocalCluster of N processes or an existing scheduler; keeps a bounded number of files in flight."""

    def __init__(self, out_dir: Path, workers: int, scheduler: str | None, cfg: Config):
        import logging
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise InputError("--workers N>1 and --scheduler need dask.distributed: pip install 'unscratch[batch]'") from None
        self.cluster = None
        self.local_dir = out_dir / DASK_DIR
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="30s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise InputError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
            cfg.quiet_opencv = False  # not our processes: leave their logging alone
        else:
            self.local_dir.mkdir(exist_ok=True)
            with dask.config.set({"temporary-directory": str(self.local_dir)}), _workers_ignore_ctrl_c():
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=logging.ERROR,
                                            local_directory=str(self.local_dir))
            self.client = Client(self.cluster)
            cfg.cv_threads = max(1, (os.cpu_count() or 1) // workers)
            cfg.quiet_opencv = True
        hello = self.client.run(_setup_process, cfg)
        for addr, h in hello.items():
            if h["version"] != __version__ or h["models"] != cfg.models:
                raise ModelError(f"worker {addr} runs unscratch {h['version']} with models {h['models']}; this "
                                 f"process runs {__version__} with {cfg.models}; install the same on every worker")
        self.slots = max(2, 2 * sum(self.client.nthreads().values()))

    def run(self, jobs: list[Job], cfg: Config) -> Iterator[tuple[Job, dict]]:
        from distributed import as_completed
        pending = iter(jobs)
        flying = {}  # future key -> (future, job)

        def submit():
            job = next(pending, None)
            if job is None:
                return None
            fut = self.client.submit(process_file, job, cfg, pure=False,
                                     key=f"unscratch-batch-{time.time_ns()}-{job.path}")
            flying[fut.key] = (fut, job)
            return fut

        ac = as_completed([f for f in (submit() for _ in range(self.slots)) if f is not None])
        try:
            for fut in ac:
                _, job = flying.pop(fut.key)
                try:
                    res = fut.result()
                except Exception as exc:  # the worker died (KilledWorker) or the task could not run
                    res = {"path": job.path, "source": job.source, "status": "failed", "size": job.size,
                           "mtime_ns": job.mtime_ns, "region": job.region, "outputs": {}, "timings": {},
                           "error": f"{job.source}: worker failed: {type(exc).__name__}: {exc}"}
                fut.release()
                nxt = submit()
                if nxt is not None:
                    ac.add(nxt)
                yield job, res
        finally:
            if flying:
                self.client.cancel([f for f, _ in flying.values()])

    def close(self):
        try:
            if self.cluster is not None:  # our own workers: their shutdown chatter is not the user's business
                with contextlib.suppress(Exception):
                    self.client.run(_quiet_dask_logs)
                _quiet_dask_logs()
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()
        finally:
            shutil.rmtree(self.local_dir, ignore_errors=True)


def _quiet_dask_logs() -> None:
    """Only critical messages from dask from now on: while a cluster shuts down (at the end, or after
    Ctrl-C) a worker's heartbeat can miss the closed scheduler and log an error with its traceback."""
    import logging
    for name in ("distributed", "distributed.worker", "distributed.nanny", "distributed.core",
                 "distributed.comm", "distributed.scheduler"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


# --- the run ---------------------------------------------------------------------------------------
def run_batch(in_dir, out_dir, *, glob: str = "**/*", workers: int = 1, scheduler: str | None = None,
              settings: Settings = Settings(), fill_region=None, force: bool = False, quiet: bool = False,
              out=None, quiet_opencv: bool = False) -> Summary:
    """Restore every matching file under in_dir into out_dir; see the module docstring."""
    started = time.perf_counter()
    in_dir = Path(in_dir).expanduser().resolve()
    out_dir = Path(out_dir).expanduser().resolve()
    region = Path(fill_region).expanduser().resolve() if fill_region else None
    if not in_dir.is_dir():
        raise InputError(f"{in_dir}: no such folder")
    if _inside(in_dir, out_dir):
        raise InputError(f"{out_dir}: OUT_DIR must not be IN_DIR or contain it (originals are never written to)")
    if region is not None:
        if not region.exists():
            raise InputError(f"{region}: --fill-region: no such file or folder")
        if _inside(region, out_dir):
            raise InputError(f"{region}: --fill-region must not lie inside OUT_DIR")
    if settings.format not in FORMATS:
        raise InputError(f"--format: {settings.format!r} is not one of {', '.join(FORMATS)}")
    if settings.compression is not None and settings.compression not in io.TIFF_COMPRESSIONS:
        choices = ", ".join(io.TIFF_COMPRESSIONS)
        raise InputError(f"--compression: {settings.compression!r} is not one of {choices}")
    if workers < 1:
        raise InputError(f"--workers: {workers} must be at least 1")
    if workers > 1 and scheduler:
        raise InputError("use either --workers N (a local cluster) or --scheduler ADDRESS, not both")
    detector, inpainter = api.get_detector(settings.method), api.get_inpainter(settings.method)
    models = {"detector": detector.provenance, "inpainter": inpainter.provenance}
    params = settings.params(detector)
    key = params_key(params, models)
    cfg = Config(settings=settings, models=models, quiet_opencv=quiet_opencv)

    out_dir.mkdir(parents=True, exist_ok=True)
    lock = _Lock(out_dir / LOCK_NAME)
    summary = Summary(manifest=str(out_dir / MANIFEST_NAME))
    runner = None
    results = None
    manifest = None
    bar = None
    try:
        jobs = discover(in_dir, out_dir, glob, settings, region)
        summary.temporaries_removed = remove_temporaries(out_dir, jobs)
        manifest = Manifest(out_dir / MANIFEST_NAME)
        rows = manifest.rows()
        todo, skipped = plan(jobs, rows, key, out_dir, force)
        owners = {rel: j.path for j in jobs if j.error is None for rel in j.outputs.values()}
        summary.total, summary.skipped = len(jobs), len(skipped)
        run_id = manifest.start_run(in_dir, params, models)
        if todo and (workers > 1 or scheduler):
            runner = _DaskRunner(out_dir, workers, scheduler, cfg)
            results = runner.run(todo, cfg)
        else:
            results = _run_local(todo, cfg)
        bar = _progress_bar(todo, quiet)
        try:
            for job, res in results:
                previous = rows.get(job.path)
                # stale outputs go first: a kill in between leaves the old row with outputs missing, which
                # a rerun redoes; the other order could leave two versions of a result behind
                _remove_stale_outputs(out_dir, previous, res, owners)
                manifest.record(res, previous, params, key, models, run_id)
                if res["status"] == "done":
                    summary.done += 1
                    summary.reused += bool(res.get("reused"))
                    if not res.get("reused"):
                        summary.megapixels += (res.get("width") or 0) * (res.get("height") or 0) / 1e6
                else:
                    summary.failed += 1
                    summary.failures.append((job.path, res.get("error")))
                if bar is not None:
                    bar.update(max(job.size, 1))
                    bar.set_postfix_str(f"{summary.done} done, {summary.failed} failed", refresh=False)
        except KeyboardInterrupt:
            summary.interrupted = True
        if bar is not None:
            bar.close()
            bar = None
        if settings.contact_sheet and not summary.interrupted:
            write_contact_sheets(out_dir, manifest.rows(), [j.path for j in jobs])
        summary.seconds = time.perf_counter() - started
        manifest.finish_run(run_id, summary)
    except sqlite3.Error as exc:  # e.g. "database or disk is full": one line, and a rerun resumes
        raise InputError(f"{out_dir / MANIFEST_NAME}: cannot record progress ({exc}); free some space and "
                         "rerun the same command to resume") from None
    finally:
        if bar is not None:
            bar.close()
        if results is not None:
            results.close()  # now, while the client is open: it cancels the files still in flight
        if runner is not None:
            runner.close()
        if manifest is not None:
            manifest.close()
        shutil.rmtree(out_dir / DASK_DIR, ignore_errors=True)
        lock.release()
    if not quiet or summary.failed or summary.interrupted:
        print_summary(summary, out or sys.stdout)
    return summary


def _progress_bar(todo: list[Job], quiet: bool):
    if quiet or not todo:
        return None
    from tqdm import tqdm
    return tqdm(total=sum(max(j.size, 1) for j in todo), unit="B", unit_scale=True, unit_divisor=1024,
                desc=f"batch ({len(todo)} files)", file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def print_summary(s: Summary, out=None) -> None:
    out = out or sys.stdout
    rate = s.megapixels / s.seconds if s.seconds > 0 else 0.0
    head = "interrupted; rerun the same command to resume. " if s.interrupted else ""
    print(f"batch: {head}{s.total} files: {s.done - s.reused} restored, {s.skipped + s.reused} already done, "
          f"{s.failed} failed; {s.megapixels:.1f} MP in {s.seconds:.1f} s ({rate:.2f} MP/s)", file=out)
    if s.temporaries_removed:
        print(f"batch: removed {s.temporaries_removed} partial file(s) left by an interrupted run", file=out)
    for path, error in s.failures[:20]:
        print(f"  FAILED {path}: {error}", file=out)
    if len(s.failures) > 20:
        print(f"  … and {len(s.failures) - 20} more", file=out)
    print(f"batch: manifest {s.manifest}", file=out)


# --- contact sheets --------------------------------------------------------------------------------
def write_contact_sheets(out_dir: Path, rows: dict, order: list[str], cols: int = 4, per_page: int = 20) -> list[Path]:
    """Pages of before|after thumbnail pairs with captions, for the done files in `order`."""
    cells = []
    for path in order:
        row = rows.get(path)
        if not row or row["status"] != "done":
            continue
        thumb = json.loads(row["outputs"] or "{}").get("thumb")
        if thumb and (out_dir / thumb).is_file():
            cells.append((path, row, out_dir / thumb))
    folder = out_dir / SHEET_DIR
    folder.mkdir(exist_ok=True)
    cw, ch, cap = 2 * THUMB + 4 + 16, THUMB + 16, 22
    pages = []
    for start in range(0, len(cells), per_page):
        chunk = cells[start:start + per_page]
        rows_n = (len(chunk) + cols - 1) // cols
        sheet = np.full((rows_n * (ch + cap), cols * cw, 3), 255, np.uint8)
        for i, (path, row, thumb) in enumerate(chunk):
            y, x = (i // cols) * (ch + cap), (i % cols) * cw
            pair = io.read(thumb)
            pair = pair if pair.ndim == 3 else np.dstack([pair] * 3)
            sheet[y + 8:y + 8 + pair.shape[0], x + 8:x + 8 + pair.shape[1]] = pair[:, :, :3]
            text = f"{path if len(path) <= 48 else '…' + path[-47:]}  {100 * (row['defect_fraction'] or 0):.2f}%"
            cv2.putText(sheet, text, (x + 8, y + ch + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        page = folder / f"sheet-{start // per_page + 1:04d}.jpg"
        io.write(page, sheet, jpeg_quality=90)
        pages.append(page)
    for old in folder.glob("sheet-*.jpg"):
        if old not in pages:
            old.unlink(missing_ok=True)
    return pages


# --- one large image split across a cluster -------------------------------------------------------
@dataclass(frozen=True)
class AxisPlan:
    """One axis of a tiled run split into chunks so that each chunk's pixels come out bit-identical.

    `layout` is the engine's tile layout over the whole run (the ROI grown by the overlap). Chunk edges
    sit at tile centres, and each chunk runs exactly the tiles that touch it (`window`), so its blend
    weights equal the whole run's on the chunk (the sub-run's outer tapers, which the engine omits at an
    image edge, fall outside the chunk). So each block needs a halo of about half a tile, not just the
    tile overlap: a chunk edge always lies inside some tile, and that tile needs all its pixels.
    """
    length: int
    overlap: int
    layout: tuple  # (start, size) of each tile, in image coordinates
    edges: tuple   # 0 = e0 < e1 < ... < en = length
    depth: int

    @property
    def chunks(self) -> tuple:
        return tuple(b - a for a, b in zip(self.edges[:-1], self.edges[1:]))

    def window(self, i: int) -> tuple[int, int, int, tuple] | None:
        """For chunk i: (block start, run start, run end, the run's tiles relative to its start) in image
        coordinates, or None when no tile touches it."""
        c0, c1 = self.edges[i], self.edges[i + 1]
        ks = [k for k, (g, n) in enumerate(self.layout) if g < c1 and g + n > c0]
        block0 = c0 - self.depth if i > 0 else 0
        if not ks:
            return None
        s0, s1 = self.layout[ks[0]][0], sum(self.layout[ks[-1]])
        taper = sum(engine_taper(self.overlap))
        block1 = c1 + self.depth if i + 1 < len(self.edges) - 1 else self.length
        ok = (block0 <= s0 and s1 <= block1
              and (ks[0] == 0 or c0 >= s0 + taper) and (ks[-1] == len(self.layout) - 1 or c1 <= s1 - taper))
        if not ok:
            raise RuntimeError(f"split plan misaligned at chunk {i} ({c0}:{c1}) of {self}")
        return block0, s0, s1, tuple((self.layout[k][0] - s0, self.layout[k][1]) for k in ks)


def plan_axis(length: int, r0: int, r1: int, tile: int, overlap: int, target: int, multiple: int = 1,
              context: int = 0) -> AxisPlan:
    """Chunk edges at tile centres about `target` px apart, for a run over ROI [r0, r1) grown by overlap.
    `context`: px of the run each chunk edge needs on both sides (the repair's grain); with tiles too
    small to give it, the axis is not split."""
    start, end = span(length, r0, r1, overlap, multiple)
    layout = tuple((start + s, n) for s, n in tile_layout(end - start, tile, overlap, multiple))
    starts = [g for g, _ in layout]
    t = layout[0][1]  # every tile but the last is this size
    half = t // 2
    taper = sum(engine_taper(overlap))  # a chunk edge must fall where its tile has full weight
    target = max(target, t - half)  # every chunk at least as wide as the halo (dask needs that)
    edges = [0]
    if min(half, t - half) >= max(taper, context):
        for m, g in enumerate(starts):
            b = g + half
            if m > 0 and starts[m - 1] + t > b:
                continue
            if m + 1 < len(starts) and starts[m + 1] < b:
                continue
            if b - edges[-1] >= target and length - b >= t - half:
                edges.append(b)
    edges.append(length)
    depth = 0
    for i in range(len(edges) - 1):
        c0, c1 = edges[i], edges[i + 1]
        ks = [k for k, (g, n) in enumerate(layout) if g < c1 and g + n > c0]
        if ks:
            if i > 0:
                depth = max(depth, c0 - starts[ks[0]])
            if i + 2 < len(edges):
                depth = max(depth, sum(layout[ks[-1]]) - c1)
    plan = AxisPlan(length, overlap, layout, tuple(edges), depth)
    if len(edges) > 2 and depth > min(plan.chunks):
        raise RuntimeError(f"split plan has a halo ({depth}) larger than a chunk: {plan}")
    for i in range(len(edges) - 1):
        plan.window(i)  # validate now, not on a worker
    return plan


def _plans(op, shape: tuple[int, int], roi: tuple[int, int, int, int], chunk: int,
           context: int = 0) -> tuple[AxisPlan, AxisPlan]:
    """Row and column plans for running `op` (detector or inpainter) over `roi` of an image of `shape`."""
    return tuple(plan_axis(n, r0, r1, op.tile, op.overlap, chunk, _multiple(op), context)
                 for n, r0, r1 in ((shape[0], roi[0], roi[1]), (shape[1], roi[2], roi[3])))


def _multiple(op) -> int:
    """The grid a network's tiles must start on (1 for the classical methods)."""
    return getattr(op, "multiple", 1)


class BlockRun(NamedTuple):
    """A block's share of a split run: the run's rows/columns inside the block, its tiles (relative to
    the run) and where the run starts in the image."""
    y0: int
    y1: int
    x0: int
    x1: int
    layout: tuple[list, list]
    origin: tuple[int, int]


def _block_run(py: AxisPlan, px: AxisPlan, block_id) -> BlockRun | None:
    wy, wx = py.window(block_id[0]), px.window(block_id[1])
    if wy is None or wx is None:
        return None
    (by, sy0, sy1, ys), (bx, sx0, sx1, xs) = wy, wx
    return BlockRun(sy0 - by, sy1 - by, sx0 - bx, sx1 - bx, (list(ys), list(xs)), (sy0, sx0))


def _detect_block(block: np.ndarray, *, py: AxisPlan, px: AxisPlan, method: str, block_id=None) -> np.ndarray:
    out = np.zeros(block.shape[:2], np.float32)
    run = _block_run(py, px, block_id)
    if run is None:
        return out
    y0, y1, x0, x1 = run.y0, run.y1, run.x0, run.x1
    detector = api.get_detector(method)
    planes = colour_planes(block)[y0:y1, x0:x1]
    prob = out[y0:y1, x0:x1]

    def source(a, b, c, d):
        return to_rgb_float(planes[a:b, c:d])

    def sink(a, b, c, d, tile):
        prob[a:b, c:d] = np.clip(tile[:, :, 0], 0.0, 1.0)

    run_tiled(detector, source, sink, shape=(y1 - y0, x1 - x0), out_channels=1, tile=detector.tile,
              overlap=detector.overlap, multiple=_multiple(detector), layout=run.layout)
    return out


def _restore_block(block: np.ndarray, alpha: np.ndarray, *, py: AxisPlan, px: AxisPlan, method: str,
                   n_planes: int, fill: bool = False, block_id=None) -> np.ndarray:
    """`api.repair` over this block's run of the single-process tiles (its share of the plan's layout,
    not tiles laid out over the block's own alpha bounding box, which would differ)."""
    result = block.copy()
    run = _block_run(py, px, block_id)
    if run is None:
        return result
    y0, y1, x0, x1 = run.y0, run.y1, run.x0, run.x1
    a_all = alpha[y0:y1, x0:x1, 0]
    if not (a_all > 0).any():
        return result
    result[y0:y1, x0:x1] = api.repair(block[y0:y1, x0:x1], a_all, api.get_inpainter(method, fill=fill),
                                      layout=run.layout, grain=True, origin=run.origin)
    return result


def _to_dask(array: np.ndarray, chunks: tuple, scheduler):
    """A dask array of `array`; on a distributed client the data is scattered once, not put in the graph."""
    import dask.array as da
    if hasattr(scheduler, "scatter"):
        future = scheduler.scatter(array)
        return da.from_delayed(future, shape=array.shape, dtype=array.dtype).rechunk(chunks)
    return da.from_array(array, chunks=chunks)


def split_restore(image, *, region=None, mode: str = "defects", threshold: float | None = None,
                  method: str = "auto", detect_method: str = "auto", dilate: int = 2, feather: int = 2,
                  chunk: int = 4096, scheduler=None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """`api.restore` of one image split into chunks computed by dask (`scheduler`: a distributed Client,
    "threads", "sync", ...): returns (restored, probability or None in fill mode, repaired-area mask),
    pixel for pixel equal to `api.detect` + `api.restore` in one process.

    Two `map_overlap` passes over the tiled engine, each on chunks aligned to its own tile grid (see
    AxisPlan): the detector over the whole image, then (after the mask is thresholded and grown, which
    is cheap and global, to know the repair ROI the single-process tile grid depends on) the inpainter.
    A region is only supported in fill mode (batch's --fill-region).
    """
    import dask
    import dask.array as da
    img = check_image(image)
    if mode not in api.MODES:
        raise InputError(f"mode: {mode!r} is not one of {', '.join(api.MODES)}")
    H, W = img.shape[:2]
    cube = img if img.ndim == 3 else img[:, :, None]
    n_planes = colour_planes(img).shape[2]
    probability = None
    if mode == "fill":
        if region is None:
            raise InputError("region: fill mode needs a region (the selection to heal)")
        alpha = plane_weight(check_plane(region, (H, W), "region"))
        hole = alpha > 0
    else:
        if region is not None:
            raise InputError("split_restore: a region is only supported in fill mode")
        detector = api.get_detector(detect_method)
        chosen = api.resolve_threshold(detector, threshold)
        if min(H, W) > 1:
            py, px = _plans(detector, (H, W), (0, H, 0, W), chunk)
            arr = _to_dask(cube, (py.chunks, px.chunks, (cube.shape[2],)), scheduler)
            lazy = da.map_overlap(_detect_block, arr, depth={0: py.depth, 1: px.depth, 2: 0}, boundary="none",
                                  dtype=np.float32, drop_axis=2, allow_rechunk=False,
                                  meta=np.empty((0, 0), np.float32), py=py, px=px, method=detect_method)
            (probability,) = dask.compute(lazy, scheduler=scheduler)
        else:
            probability = np.zeros((H, W), np.float32)
        hole = api.auto_mask(api.Detection(probability, api.threshold_mask(probability, chosen), chosen), detector,
                             threshold)
        alpha = api.repair_weight(hole, dilate, feather)
    roi = bbox(alpha > 0)
    if roi is None or min(H, W) == 1:
        return img.copy(), probability, hole
    inpainter = api.get_inpainter(method)
    py, px = _plans(inpainter, (H, W), roi, chunk, context=grain.MARGIN)  # edges keep the grain's context
    chunks = (py.chunks, px.chunks)
    arr = _to_dask(cube, chunks + ((cube.shape[2],),), scheduler)
    weights = _to_dask(alpha[:, :, None], chunks + ((1,),), scheduler)
    lazy = da.map_overlap(_restore_block, arr, weights, depth={0: py.depth, 1: px.depth, 2: 0}, boundary="none",
                          dtype=cube.dtype, allow_rechunk=False, meta=np.empty((0, 0, 0), cube.dtype),
                          py=py, px=px, method=method, n_planes=n_planes, fill=mode == "fill")
    (restored,) = dask.compute(lazy, scheduler=scheduler)
    return (restored if img.ndim == 3 else restored[:, :, 0]), probability, hole


# --- command line (the parser is in cli.py) ----------------------------------------------------------------------------------
def main(args) -> int:
    settings = Settings(method=args.method, threshold=args.threshold, format=args.format, masks=args.masks,
                        probability=args.probability, contact_sheet=args.contact_sheet, split_mp=args.split_mp,
                        threads=getattr(args, "threads", None),
                        compression=getattr(args, "compression", None))
    summary = run_batch(args.in_dir, args.out_dir, glob=args.glob, workers=args.workers, scheduler=args.scheduler,
                        settings=settings, fill_region=args.fill_region, force=args.force, quiet=args.quiet,
                        quiet_opencv=True)
    return summary.exit_code

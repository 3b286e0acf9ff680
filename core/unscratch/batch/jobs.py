"""What a batch run is asked to do (Settings), and its jobs: the input files found under IN_DIR,
where each one's outputs go, and which of them a rerun can skip (see docs/batch.md)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .. import api
from ..errors import InputError
from .manifest import MASKS_DIR, PROB_DIR, RESERVED, SHEET_DIR, outputs_present

FORMATS = {"same": None, "png": ".png", "tiff": ".tif"}
REGION_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
JPEG_QUALITY = 95


@dataclass(frozen=True)
class Settings:
    """Everything a run is asked to do. Only `params()` decides the pixels (and so the manifest
    key)."""
    method: str = "auto"
    threshold: float | None = None
    format: str = "same"
    masks: bool = False
    probability: bool = False
    contact_sheet: bool = False
    split_mp: float = 64.0
    split_chunk: int = 4096  # target chunk side (px) splitting one image; rounded to the tile grid
    threads: int | None = None
    compression: str | None = None  # of TIFF outputs (io.TIFF_COMPRESSIONS); None: io's (deflate)

    def params(self, detector) -> dict:
        """The settings that decide the pixels, with the detector's defaults filled in (its
        threshold and growth: a new calibration redoes the files)."""
        rule = api.repair_rule("defects", detector=detector, threshold=self.threshold)
        params = {"method": self.method, "threshold": rule.threshold, "dilate": rule.dilate,
                  "feather": rule.feather, "format": self.format, "jpeg_quality": JPEG_QUALITY}
        if self.compression:  # not the pixels but the files: a rerun with another one rewrites them
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
    known: dict | None = None       # sha256s of a done row with the same parameters: reuse if same
    error: str | None = None        # a reason found before processing (name clash, reserved folder)


@dataclass
class Config:
    """What every worker needs besides the job: picklable, small."""
    settings: Settings
    models: dict
    cv_threads: int | None = None
    # processes we own (CLI, LocalCluster): OpenCV's decoder warnings would garble the progress
    # bar; the reason a file failed is in the manifest
    quiet_opencv: bool = False


def inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _hidden(rel: PurePosixPath) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def find_region(region: Path | None, rel: PurePosixPath) -> Path | None:
    """The selection for input `rel`: the --fill-region file itself, or its mirrored file in a
    folder."""
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
        in_region_folder = region is not None and region.is_dir() and inside(p, region)
        if _hidden(rel) or inside(p, out_dir) or in_region_folder:
            continue
        if p.is_file():
            found.append((rel, p))
    found.sort(key=lambda item: str(item[0]))
    jobs, claimed = [], {}
    for rel, p in found:
        sel = find_region(region, rel)
        st = p.stat()
        job = Job(path=str(rel), source=str(p), out_dir=str(out_dir),
                  outputs=output_paths(rel, settings, sel is not None), size=st.st_size,
                  mtime_ns=st.st_mtime_ns)
        if sel is not None:
            rst = sel.stat()
            job.region, job.region_size = str(sel), rst.st_size
            job.region_mtime_ns = rst.st_mtime_ns
        if rel.parts[0] in RESERVED:
            job.error = (f"{p}: its output would land in OUT_DIR/{rel.parts[0]}, which is reserved "
                         f"for {'/'.join(RESERVED)}; rename that input folder")
        elif job.outputs["image"] in claimed:
            job.error = (f"{p}: its output {job.outputs['image']} would overwrite the output of "
                         f"{claimed[job.outputs['image']]}; use --format same or rename one of "
                         "them")
        else:
            claimed[job.outputs["image"]] = str(rel)
        jobs.append(job)
    return jobs


def plan(jobs: list[Job], rows: dict, key: str, out_dir: Path,
         force: bool) -> tuple[list[Job], list[Job]]:
    """(to process, to skip). A done row with this key and unchanged fingerprints is skipped."""
    todo, skip = [], []
    for job in jobs:
        row = rows.get(job.path)
        same_setup = (not force and job.error is None and row is not None
                      and row["status"] == "done" and row["params_key"] == key
                      and row["source"] == job.source and row["region"] == job.region
                      and outputs_present(out_dir, row, job.outputs))
        unchanged = (same_setup and row["size"] == job.size and row["mtime_ns"] == job.mtime_ns
                     and row["region_size"] == job.region_size
                     and row["region_mtime_ns"] == job.region_mtime_ns)
        if unchanged:
            skip.append(job)
            continue
        if same_setup:
            job.known = {"sha256": row["sha256"], "region_sha256": row["region_sha256"],
                         "files": json.loads(row.get("output_files") or "{}")}
        todo.append(job)
    return todo, skip

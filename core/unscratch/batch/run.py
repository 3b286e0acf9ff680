"""One `unscratch batch` run: check the arguments, find and plan the jobs, run them here or on
Dask, record each result in the manifest as it arrives, and sum up (see docs/batch.md)."""
from __future__ import annotations

import shutil
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import api, io
from ..choices import check_choice
from ..errors import InputError, exit_status, interrupt_signal
from ..progress import end_line, tqdm_bar
from .jobs import FORMATS, Config, Job, Settings, discover, inside, plan
from .manifest import (
    DASK_DIR,
    LOCK_NAME,
    MANIFEST_NAME,
    Lock,
    Manifest,
    params_key,
    remove_stale_outputs,
    remove_temporaries,
)
from .runners import DaskRunner, run_local
from .sheets import write_contact_sheets


@dataclass
class Summary:
    """What a run did, for the closing lines, the manifest's `runs` row and the exit status."""
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
    signal: int = 2  # what interrupted it: SIGINT (Ctrl-C) or SIGTERM (15)
    manifest: str = ""

    @property
    def exit_code(self) -> int:
        """128 + the signal when interrupted (130 Ctrl-C, 143 SIGTERM), 1 when files failed."""
        return exit_status(self.signal) if self.interrupted else (1 if self.failed else 0)


def run_batch(in_dir, out_dir, *, glob: str = "**/*", workers: int = 1,
              scheduler: str | None = None, settings: Settings = Settings(), fill_region=None,
              force: bool = False, quiet: bool = False, out=None,
              quiet_opencv: bool = False) -> Summary:
    """Restore every matching file under in_dir into out_dir; see docs/batch.md."""
    started = time.perf_counter()
    in_dir = Path(in_dir).expanduser().resolve()
    out_dir = Path(out_dir).expanduser().resolve()
    region = Path(fill_region).expanduser().resolve() if fill_region else None
    if not in_dir.is_dir():
        raise InputError(f"{in_dir}: no such folder")
    if inside(in_dir, out_dir):
        raise InputError(f"{out_dir}: OUT_DIR must not be IN_DIR or contain it (originals are "
                         "never written to)")
    if region is not None:
        if not region.exists():
            raise InputError(f"{region}: --fill-region: no such file or folder")
        if inside(region, out_dir):
            raise InputError(f"{region}: --fill-region must not lie inside OUT_DIR")
    check_choice("--format", settings.format, FORMATS)
    if settings.compression is not None:
        check_choice("--compression", settings.compression, io.TIFF_COMPRESSIONS)
    if workers < 1:
        raise InputError(f"--workers: {workers} must be at least 1")
    if workers > 1 and scheduler:
        raise InputError("use either --workers N (a local cluster) or --scheduler ADDRESS, not "
                         "both")
    detector, inpainter = api.get_detector(settings.method), api.get_inpainter(settings.method)
    models = {"detector": detector.provenance, "inpainter": inpainter.provenance}
    params = settings.params(detector)
    key = params_key(params, models)
    cfg = Config(settings=settings, models=models, quiet_opencv=quiet_opencv)

    out_dir.mkdir(parents=True, exist_ok=True)
    lock = Lock(out_dir / LOCK_NAME)
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
            runner = DaskRunner(out_dir, workers, scheduler, cfg)
            results = runner.run(todo, cfg)
        else:
            results = run_local(todo, cfg)
        bar = _progress_bar(todo, quiet)
        try:
            for job, res in results:
                previous = rows.get(job.path)
                # stale outputs go first: a kill in between leaves the old row with outputs
                # missing, which a rerun redoes; the other order could leave two versions of a
                # result behind
                remove_stale_outputs(out_dir, previous, res, owners)
                manifest.record(res, previous, params, key, models, run_id)
                if res["status"] == "done":
                    summary.done += 1
                    summary.reused += bool(res.get("reused"))
                    if not res.get("reused"):
                        pixels = (res.get("width") or 0) * (res.get("height") or 0)
                        summary.megapixels += pixels / 1e6
                else:
                    summary.failed += 1
                    summary.failures.append((job.path, res.get("error")))
                if bar is not None:
                    bar.update(max(job.size, 1))
                    bar.set_postfix_str(f"{summary.done} done, {summary.failed} failed",
                                        refresh=False)
        except KeyboardInterrupt as exc:
            summary.interrupted, summary.signal = True, interrupt_signal(exc)
        if bar is not None:
            bar.close()
            bar = None
        if settings.contact_sheet and not summary.interrupted:
            write_contact_sheets(out_dir, manifest.rows(), [j.path for j in jobs])
        summary.seconds = time.perf_counter() - started
        manifest.finish_run(run_id, summary)
    except KeyboardInterrupt as exc:  # before the first result or while closing: still say so
        summary.interrupted, summary.signal = True, interrupt_signal(exc)
        summary.seconds = time.perf_counter() - started
    except sqlite3.Error as exc:  # e.g. "database or disk is full": one line, and a rerun resumes
        raise InputError(f"{out_dir / MANIFEST_NAME}: cannot record progress ({exc}); free some "
                         "space and rerun the same command to resume") from None
    finally:
        if bar is not None:
            bar.close()
        if results is not None:
            results.close()  # now, while the client is open: it cancels the files in flight
        if runner is not None:
            runner.close()
        if manifest is not None:
            manifest.close()
        shutil.rmtree(out_dir / DASK_DIR, ignore_errors=True)
        lock.release()
    if not quiet or summary.failed or summary.interrupted:
        end_line()
        print_summary(summary, out or sys.stdout)
    return summary


def _progress_bar(todo: list[Job], quiet: bool):
    """A bar over the bytes to do, on a terminal's stderr only (progress.tqdm_bar)."""
    if not todo:
        return None
    return tqdm_bar(quiet=quiet, total=sum(max(j.size, 1) for j in todo), unit="B",
                    unit_scale=True, unit_divisor=1024, desc=f"batch ({len(todo)} files)",
                    dynamic_ncols=True, smoothing=0.1)


def print_summary(s: Summary, out=None) -> None:
    out = out or sys.stdout
    rate = s.megapixels / s.seconds if s.seconds > 0 else 0.0
    head = "interrupted; rerun the same command to resume. " if s.interrupted else ""
    print(f"batch: {head}{s.total} files: {s.done - s.reused} restored, "
          f"{s.skipped + s.reused} already done, {s.failed} failed; {s.megapixels:.1f} MP in "
          f"{s.seconds:.1f} s ({rate:.2f} MP/s)", file=out)
    if s.temporaries_removed:
        print(f"batch: removed {s.temporaries_removed} partial file(s) left by an interrupted run",
              file=out)
    for path, error in s.failures[:20]:
        print(f"  FAILED {path}: {error}", file=out)
    if len(s.failures) > 20:
        print(f"  … and {len(s.failures) - 20} more", file=out)
    print(f"batch: manifest {s.manifest}", file=out)


def main(args) -> int:
    """`unscratch batch` with the options cli.py parsed."""
    settings = Settings(method=args.method, threshold=args.threshold, format=args.format,
                        masks=args.masks, probability=args.probability,
                        contact_sheet=args.contact_sheet, split_mp=args.split_mp,
                        threads=getattr(args, "threads", None),
                        compression=getattr(args, "compression", None))
    summary = run_batch(args.in_dir, args.out_dir, glob=args.glob, workers=args.workers,
                        scheduler=args.scheduler, settings=settings, fill_region=args.fill_region,
                        force=args.force, quiet=args.quiet, quiet_opencv=True)
    return summary.exit_code

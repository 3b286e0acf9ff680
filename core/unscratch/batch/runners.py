"""The per-file work of `unscratch batch` (`process_file`: read, detect, restore, write every
output atomically) and where it runs: in this process, or on a Dask cluster with a bounded number
of files in flight."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from .. import __version__, api, io
from ..arrays import region_weight
from ..errors import InputError, ModelError
from ..models import sha256_of
from ..split import split_restore
from .jobs import JPEG_QUALITY, Config, Job
from .manifest import DASK_DIR, output_fingerprint, output_intact
from .sheets import thumbnail_pair

_READY: dict = {}


def _setup_process(cfg: Config) -> dict:
    """Once per process: thread settings and model sessions (cached by the core), then report
    them."""
    key = (cfg.settings.threads, cfg.cv_threads, cfg.settings.method)
    if cfg.quiet_opencv:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    if key not in _READY:
        threads = cfg.settings.threads or cfg.cv_threads
        if threads:
            from ..models import configure
            configure(threads=threads)
            cv2.setNumThreads(threads)
        method = cfg.settings.method
        detector, inpainter = api.get_detector(method), api.get_inpainter(method)
        _READY[key] = {"detector": detector.provenance, "inpainter": inpainter.provenance}
    return {"version": __version__, "models": _READY[key], "host": socket.gethostname(),
            "pid": os.getpid()}


def _read_selection(path: str, shape, src: Path, orientation: int = 1):
    """The --fill-region selection for `src`; its error names the input first, as the manifest's
    other errors do."""
    try:
        return io.read_plane(path, shape, "selection", orientation=orientation)
    except InputError as exc:
        raise InputError(f"{src}: its selection is unusable: {exc}") from None


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
           "size": job.size, "mtime_ns": job.mtime_ns, "region": job.region,
           "region_size": job.region_size, "region_mtime_ns": job.region_mtime_ns,
           "mode": "fill" if job.region else "defects",
           "outputs": {}, "timings": {}, "reused": False, "split": False,
           "worker": f"{socket.gethostname()}:{os.getpid()}"}
    timings = res["timings"]
    src = Path(job.source)
    try:
        if job.error:
            raise InputError(job.error)
        info_ = _setup_process(cfg)
        if info_["models"] != cfg.models:
            raise ModelError(f"{src}: worker {res['worker']} has models {info_['models']}, not "
                             f"the coordinator's {cfg.models}; install the same unscratch and "
                             "models on every worker")
        if src.suffix.lower() not in io.READABLE:
            raise InputError(f"{src}: unsupported file type '{src.suffix}'; use .png, .jpg, .jpeg, "
                             ".tif or .tiff")
        st = src.stat()
        res["size"], res["mtime_ns"] = st.st_size, st.st_mtime_ns
        t = time.perf_counter()
        res["sha256"] = sha256_of(src)
        if job.region:
            rst = Path(job.region).stat()
            res["region_size"], res["region_mtime_ns"] = rst.st_size, rst.st_mtime_ns
            res["region_sha256"] = sha256_of(job.region)
        timings["hash"] = time.perf_counter() - t
        known = job.known
        if (known and known.get("sha256") == res["sha256"]
                and known.get("region_sha256") == res.get("region_sha256")
                and all(output_intact(Path(job.out_dir) / p, (known.get("files") or {}).get(p))
                        for p in job.outputs.values())):
            res.update(status="done", reused=True)
            return res
        t = time.perf_counter()
        # what reading leaves out (a TIFF's other pages, an APNG's frames) goes into the manifest
        with warnings.catch_warnings(record=True) as unread:
            warnings.simplefilter("always", io.LossWarning)
            image, info = io.read_with_info(src)
        selection = None
        if job.region:
            selection = _read_selection(job.region, image.shape[:2], src, info.orientation)
        timings["read"] = time.perf_counter() - t
        H, W = image.shape[:2]
        res.update(width=W, height=H, channels=1 if image.ndim == 2 else image.shape[2],
                   dtype=str(image.dtype))
        s = cfg.settings
        detect_method = api.detect_method_for(s.method, info.infrared)
        res["detect_method"] = None if job.region else detect_method
        # the infrared detector fits its leakage over the whole image first, so an RGBI scan is not
        # split
        split = (s.split_mp > 0 and H * W >= s.split_mp * 1e6 and min(H, W) > 1
                 and _in_dask_worker() and detect_method != "infrared")
        t = time.perf_counter()
        if split:
            from distributed import worker_client
            with worker_client() as client:
                restored, probability, hole = split_restore(
                    image, region=selection, mode="fill" if job.region else "defects",
                    threshold=s.threshold, method=s.method, detect_method=detect_method,
                    chunk=s.split_chunk, scheduler=client)
            res["split"] = True
            timings["restore"] = time.perf_counter() - t
            changed = api.changed_pixels(restored, image)
        elif job.region:
            probability = None
            hole = region_weight(selection, (H, W), "selection") > 0
            done = api.restore_and_report(image, region=selection, mode="fill", method=s.method)
            restored, changed = done.image, done.repaired_pixels
            timings["restore"] = time.perf_counter() - t
        else:
            # the mask restore(image) repairs
            scan = api.detect_and_mask(image, threshold=s.threshold, method=detect_method)
            probability, hole, rule = scan.detection.probability, scan.repair_mask, scan.rule
            del scan
            timings["detect"] = time.perf_counter() - t
            t = time.perf_counter()
            done = api.restore_and_report(image, hole, method=s.method, dilate=rule.dilate,
                                          feather=rule.feather)
            restored, changed = done.image, done.repaired_pixels  # counted while compositing
            timings["restore"] = time.perf_counter() - t
        res.update(defect_pixels=int(hole.sum()), defect_fraction=float(hole.mean()),
                   changed_pixels=changed)
        t = time.perf_counter()
        out_root = Path(job.out_dir)
        # what a format cannot hold goes into the manifest
        with warnings.catch_warnings(record=True) as losses:
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
        notes = [str(w.message) for w in unread + losses if issubclass(w.category, io.LossWarning)]
        res["notes"] = "; ".join(notes) or None
        timings["write"] = time.perf_counter() - t
        res["status"] = "done"
    except (InputError, ModelError) as exc:
        res["error"] = str(exc)
    except MemoryError:
        res["error"] = (f"{src}: out of memory; run with fewer --workers or on a machine with more "
                        "memory")
    except Exception as exc:  # a bad file must never stop the run; the manifest keeps the traceback
        res["error"] = f"{src}: internal error: {type(exc).__name__}: {exc}"
        res["trace"] = traceback.format_exc()
    finally:
        timings["total"] = time.perf_counter() - t0
    return res


def run_local(jobs: list[Job], cfg: Config) -> Iterator[tuple[Job, dict]]:
    for job in jobs:
        yield job, process_file(job, cfg)


@contextlib.contextmanager
def _workers_ignore_ctrl_c():
    """Start worker processes with SIGINT ignored (a child keeps an ignored signal, and Python then
    installs no KeyboardInterrupt handler): Ctrl-C reaches the whole process group, and only this
    process should act on it, closing the cluster, instead of each worker printing a 30-line
    traceback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class DaskRunner:
    """LocalCluster of N processes or an existing scheduler; keeps a bounded number of files in
    flight."""

    def __init__(self, out_dir: Path, workers: int, scheduler: str | None, cfg: Config):
        import logging
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise InputError("--workers N>1 and --scheduler need dask.distributed: "
                             "pip install 'unscratch[batch]'") from None
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
            scratch = dask.config.set({"temporary-directory": str(self.local_dir)})
            with scratch, _workers_ignore_ctrl_c():
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=logging.ERROR,
                                            local_directory=str(self.local_dir))
            self.client = Client(self.cluster)
            cfg.cv_threads = max(1, (os.cpu_count() or 1) // workers)
            cfg.quiet_opencv = True
        hello = self.client.run(_setup_process, cfg)
        for addr, h in hello.items():
            if h["version"] != __version__ or h["models"] != cfg.models:
                raise ModelError(f"worker {addr} runs unscratch {h['version']} with models "
                                 f"{h['models']}; this process runs {__version__} with "
                                 f"{cfg.models}; install the same on every worker")
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
                    res = {"path": job.path, "source": job.source, "status": "failed",
                           "size": job.size, "mtime_ns": job.mtime_ns, "region": job.region,
                           "outputs": {}, "timings": {},
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
            # our own workers: their shutdown chatter is not the user's business
            if self.cluster is not None:
                with contextlib.suppress(Exception):
                    self.client.run(_quiet_dask_logs)
                _quiet_dask_logs()
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()
        finally:
            shutil.rmtree(self.local_dir, ignore_errors=True)


def _quiet_dask_logs() -> None:
    """Only critical messages from dask from now on: while a cluster shuts down (at the end, or
    after Ctrl-C) a worker's heartbeat can miss the closed scheduler and log an error with its
    traceback."""
    import logging
    for name in ("distributed", "distributed.worker", "distributed.nanny", "distributed.core",
                 "distributed.comm", "distributed.scheduler"):
        logging.getLogger(name).setLevel(logging.CRITICAL)

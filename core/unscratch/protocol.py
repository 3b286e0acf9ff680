"""The plug-in ↔ worker protocol. Standard library only: host Pythons (GIMP's, Krita's) import it
without numpy or onnxruntime; `unscratch install` copies this file next to each plug-in.

A job is a private temporary folder holding `request.json` and the input arrays as `.npy` at full
precision. The host runs `PYTHON -m unscratch.worker JOBDIR` with every PYTHON* variable removed
(the host's PYTHONPATH would make the worker import the host's incompatible packages). The worker
prints `progress F` lines, writes the outputs as `.npy`, then `result.json` last and atomically.
Cancel kills the worker; a crash or hang in inference never takes the host down.

What a host reports comes back in result["info"]: detect gives `threshold` and `defect_pixels`;
restore and fill give `repaired_pixels` (pixels that differ from the input) and the repair rule
applied (unscratch.api.RepairRule.as_dict): `rule` is "mask" (the mask sent ∩ region, repaired as
given; `mask_pixels`), "selection" (the detector's mask at `threshold` inside the region, grown by
`dilate`), "threshold" (the same on the whole image) or "fill". `describe` (no arrays) gives the
detector's `threshold`, `dilate`, `feather` and `detector` for a host's controls (`described`
asks once per worker and keeps the answer). hostkit.summary puts the info into words.
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import struct
import subprocess
import tempfile
import time

PROTOCOL_VERSION = 1
DTYPES = {"uint8": "|u1", "uint16": "<u2", "float32": "<f4"}
ITEMSIZE = {"|u1": 1, "<u2": 2, "<f4": 4}
IMAGE_OPS = ("detect", "restore", "fill")   # the jobs a host runs on a layer
OPS = IMAGE_OPS + ("describe",)              # describe: the detector's thresholds, no image
# params["method"]: unscratch.api.METHODS (the worker checks it)
METHODS = ("auto", "model", "classical")


class WorkerError(RuntimeError):
    """The worker refused the job (bad input) or failed; the message is for the user."""


class WorkerCancelled(RuntimeError):
    """The user cancelled; the worker was stopped and nothing was produced."""


def write_npy(path: str, data: bytes, shape: tuple, dtype: str) -> None:
    """Write raw C-order `data` as a version-1 .npy file. dtype: uint8, uint16 or float32."""
    descr = DTYPES.get(dtype, dtype)
    dims = repr(tuple(int(s) for s in shape))
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}"
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    expected = ITEMSIZE[descr]
    for s in shape:
        expected *= int(s)
    if len(data) != expected:
        raise ValueError(f"{path}: {len(data)} bytes do not fill shape {shape} of {dtype}")
    with open(path, "wb") as fh:
        fh.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        fh.write(data)


def read_npy(path: str) -> tuple[bytes, tuple, str]:
    """(raw bytes, shape, dtype name) of a C-order .npy file written by numpy or write_npy."""
    with open(path, "rb") as fh:
        magic = fh.read(8)
        if magic[:6] != b"\x93NUMPY":
            raise WorkerError(f"{path}: not a .npy file")
        if magic[6] == 1:
            hlen = struct.unpack("<H", fh.read(2))[0]
        else:
            hlen = struct.unpack("<I", fh.read(4))[0]
        header = ast.literal_eval(fh.read(hlen).decode("latin1"))
        data = fh.read()
    names = {v: k for k, v in DTYPES.items()}
    names["<u1"] = names["|u1"] = "uint8"
    names["|b1"] = "bool"
    if header["fortran_order"] or header["descr"] not in names:
        raise WorkerError(f"{path}: unsupported array layout {header}")
    return data, tuple(header["shape"]), names[header["descr"]]


DESCRIBED: dict = {}   # the worker's `describe` info, once asked in this host process
DESCRIBED_KEYS = ("threshold", "dilate", "feather", "detector")


def described(python: str) -> dict:
    """The detector's facts for a host's controls (DESCRIBED_KEYS), asked of the worker once (about
    a second) and kept in DESCRIBED; WorkerError when it fails. A host may note the threshold a run
    reported there first (Krita's docker shows it), so the worker is asked until every fact is
    known."""
    if not all(key in DESCRIBED for key in DESCRIBED_KEYS):
        DESCRIBED.update(run_job(python, "describe", {})[0].get("info", {}))
    return dict(DESCRIBED)


def output(outputs: dict, name: str, shape: tuple, dtype: str, host: str = "<gimp|krita>") -> bytes:
    """The raw bytes of the worker's output `name`, once it is known to be the `shape` and `dtype`
    the host expects (a worker of another unscratch version could send otherwise): else WorkerError
    naming the fix."""
    if name not in outputs:
        raise WorkerError(f"unscratch's worker sent no {name}. Fix: reinstall the plug-in with  "
                          f"python -m unscratch install {host}")
    data, got_shape, got_dtype = outputs[name]
    if tuple(got_shape) != tuple(shape) or got_dtype != dtype:
        raise WorkerError(f"unscratch's worker sent a {name} of shape {tuple(got_shape)} "
                          f"({got_dtype}) for a {tuple(shape)} ({dtype}) layer. Fix: reinstall the "
                          f"plug-in with  python -m unscratch install {host}")
    return data


def worker_env(environ=None) -> dict:
    """The host's environment without PYTHON* variables."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items() if not k.startswith("PYTHON")}


def run_job(python: str, op: str, arrays: dict, params: dict | None = None, *, progress=None,
            cancel=None, timeout: float | None = None) -> tuple[dict, dict]:
    """Run one job in a worker process; return (result info, output arrays as (bytes, shape,
    dtype)).

    `arrays` maps input names (image, region, mask) to (bytes, shape, dtype). `progress(f)` receives
    fractions in [0, 1]; `cancel()` returning true stops the worker and raises WorkerCancelled.
    """
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}")
    if not python or not os.path.exists(python):
        raise WorkerError(f"unscratch's Python interpreter {python!r} was not found")
    job = tempfile.mkdtemp(prefix="unscratch-job-")  # mode 0700: private to this user
    try:
        request = {"version": PROTOCOL_VERSION, "op": op, "params": params or {}, "inputs": {}}
        for name, (data, shape, dtype) in arrays.items():
            if data is None:
                continue
            write_npy(os.path.join(job, name + ".npy"), data, shape, dtype)
            request["inputs"][name] = name + ".npy"
        with open(os.path.join(job, "request.json"), "w") as fh:
            json.dump(request, fh)
        _run_worker(python, job, progress, cancel, timeout)
        result_path = os.path.join(job, "result.json")
        if not os.path.exists(result_path):
            raise WorkerError("the unscratch worker stopped without a result (see the log above)")
        with open(result_path) as fh:
            result = json.load(fh)
        if not result.get("ok"):
            raise WorkerError(result.get("error", "the unscratch worker failed"))
        outputs = {name: read_npy(os.path.join(job, fname))
                   for name, fname in result.get("outputs", {}).items()}
        return result, outputs
    finally:
        shutil.rmtree(job, ignore_errors=True)


def _run_worker(python, job, progress, cancel, timeout):
    cmd = [python, "-m", "unscratch.worker", job]
    log_path = os.path.join(job, "worker.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, env=worker_env(),
                                stdin=subprocess.DEVNULL, bufsize=0)
    start = time.monotonic()
    if os.name != "nt":  # read progress without blocking; Windows pipes have no non-blocking mode
        os.set_blocking(proc.stdout.fileno(), False)
    pending = b""
    try:
        while True:
            chunk = _read_available(proc)
            if chunk:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    parts = line.decode("utf-8", "replace").split()
                    if len(parts) == 2 and parts[0] == "progress" and progress is not None:
                        try:
                            progress(min(1.0, max(0.0, float(parts[1]))))
                        except ValueError:
                            pass
            if proc.poll() is not None and not chunk:
                break
            if cancel is not None and cancel():
                raise WorkerCancelled("cancelled")
            if timeout is not None and time.monotonic() - start > timeout:
                raise WorkerError(f"the unscratch worker took longer than {timeout:.0f} s and was "
                                  "stopped")
            if not chunk:
                time.sleep(0.05)
    except BaseException:
        _stop(proc)
        raise
    if proc.returncode != 0 and not os.path.exists(os.path.join(job, "result.json")):
        with open(log_path, "rb") as fh:
            tail = fh.read()[-2000:].decode("utf-8", "replace").strip()
        raise WorkerError(f"the unscratch worker exited with code {proc.returncode}: "
                          f"{tail.splitlines()[-1] if tail else 'no output'}")


def _read_available(proc) -> bytes:
    try:
        return proc.stdout.read(65536) or b""
    except (BlockingIOError, TypeError):
        return b""


def _stop(proc) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def load_config(plugin_dir: str) -> dict:
    """The settings `unscratch install` recorded beside a plug-in (notably the worker's Python)."""
    path = os.path.join(plugin_dir, "unscratch_config.json")
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def worker_python(plugin_dir: str) -> str:
    """The recorded worker interpreter, or WorkerError saying how to record it."""
    python = os.environ.get("UNSCRATCH_PYTHON") or load_config(plugin_dir).get("python")
    if not python or not os.path.exists(python):
        raise WorkerError(
            "unscratch's Python is not installed or has moved"
            + (f" (recorded: {python})" if python else "")
            + ". Fix: run  python -m unscratch install <gimp|krita>  with the Python that has "
              "unscratch installed.")
    return python

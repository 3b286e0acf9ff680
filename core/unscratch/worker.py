"""`python -m unscratch.worker JOBDIR`: run one plug-in job (see protocol.py) and exit.

Errors a user can fix (InputError, ModelError) are reported in result.json with their message;
anything else is reported as an internal error with its traceback in the log.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import traceback

import numpy as np

from . import __version__, detect
from .api import picture_lines_out, restore_and_report, settings
from .errors import Cancelled, InputError, ModelError
from .protocol import PROTOCOL_VERSION

# The host process that started us. A host can die mid-job without stopping us: GIMP kills a plug-in
# whose progress bar the user cancels. Then nobody wants the result; stop at the next tile and
# remove the job folder.
_PARENT = os.getppid() if os.name == "posix" else None


def _host_gone() -> bool:
    return _PARENT is not None and os.getppid() != _PARENT


def _progress(fraction: float) -> None:
    sys.stdout.write(f"progress {fraction:.4f}\n")
    sys.stdout.flush()


def _write_json(path: str, payload: dict) -> None:
    tmp = path + ".part"
    with open(tmp, "w") as fh:
        json.dump(payload, fh)
    os.replace(tmp, path)


def split_gray_alpha(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """GIMP and Krita gray layers with alpha arrive as HxWx2; the core repairs the gray plane and
    the alpha goes back untouched (the core's own layouts are HxW, HxWx1, HxWx3 and HxWx4)."""
    if image.ndim == 3 and image.shape[2] == 2:
        return image[:, :, 0], image[:, :, 1]
    return image, None


def run(job: str) -> dict:
    with open(os.path.join(job, "request.json")) as fh:
        request = json.load(fh)
    if request.get("version") != PROTOCOL_VERSION:
        raise InputError(f"protocol version {request.get('version')} is not {PROTOCOL_VERSION}; "
                         "reinstall the plug-in")
    op = request["op"]
    params = request.get("params", {})
    info = {"version": __version__}
    if op == "describe":
        return {"ok": True, "outputs": {},
                "info": dict(info, **describe(params.get("method", "auto")))}
    inputs = {k: np.load(os.path.join(job, v)) for k, v in request["inputs"].items()}
    if "image" not in inputs:
        raise InputError("no image was sent")
    image, alpha = split_gray_alpha(inputs["image"])
    outputs = {}
    if op == "detect":
        det = detect(image, region=inputs.get("region"), threshold=params.get("threshold"),
                     progress=_progress, cancel=_host_gone, method=params.get("method", "auto"))
        # the host re-thresholds this in pure Python: slanted picture lines are taken out of it,
        # so its marks at any sensitivity leave them as restore does (rules.picture_lines_out)
        stored = (picture_lines_out(det.probability, det.threshold, det.region) if det.picture
                  else det.probability)
        np.save(os.path.join(job, "probability.npy"), stored)
        np.save(os.path.join(job, "mask.npy"), det.mask.astype(np.uint8) * 255)
        outputs = {"probability": "probability.npy", "mask": "mask.npy"}
        info.update(det.provenance, defect_pixels=int(det.mask.sum()))
    elif op in ("restore", "fill"):
        done = restore_and_report(image, inputs.get("mask"), region=inputs.get("region"),
                                  mode="fill" if op == "fill" else "defects",
                                  threshold=params.get("threshold"), progress=_progress,
                                  cancel=_host_gone, method=params.get("method", "auto"),
                                  detect_method=params.get("detect_method", "auto"))
        result = done.image
        np.save(os.path.join(job, "restored.npy"),
                result if alpha is None else np.dstack([result, alpha]))
        outputs = {"restored": "restored.npy"}
        info.update(done.rule.as_dict(), repaired_pixels=done.repaired_pixels)
    else:
        raise InputError(f"unknown operation {op!r}")
    return {"ok": True, "outputs": outputs, "info": info}


def describe(method: str = "auto") -> dict:
    """What a host shows before any run: the detector's own threshold and how restore grows the
    holes it detects."""
    own = settings(method)
    return {"threshold": own.threshold, "dilate": own.dilate, "feather": own.feather,
            "detector": own.detector}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m unscratch.worker JOBDIR", file=sys.stderr)
        return 2
    job = argv[0]
    try:
        payload = run(job)
    except Cancelled:
        if _host_gone():
            shutil.rmtree(job, ignore_errors=True)
            return 3
        payload = {"ok": False, "error": "cancelled", "kind": "Cancelled"}
    except (InputError, ModelError) as exc:
        payload = {"ok": False, "error": str(exc), "kind": type(exc).__name__}
    except Exception as exc:  # reported to the host, never a crash it must parse
        traceback.print_exc()
        payload = {"ok": False, "error": f"internal error in the unscratch worker: {exc}",
                   "kind": "internal"}
    _write_json(os.path.join(job, "result.json"), payload)
    return 0 if payload["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

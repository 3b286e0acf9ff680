"""What every module of the plug-in shares: the core's standard-library modules (protocol: the
worker runner; hostkit: action and layer names, job parameters, summaries in words, stored
detections), the error a user can act on, the log, and the detector's thresholds once known."""

from __future__ import annotations

import os
import sys

try:  # the copies `unscratch install krita` put beside us
    from . import hostkit, protocol  # type: ignore[attr-defined]
except ImportError:  # this package run from the source tree (the unit tests): the core's own
    try:
        from unscratch import hostkit, protocol
    except ImportError:
        raise ImportError(
            "the unscratch plug-in is incomplete (protocol.py or hostkit.py is "
            "missing); reinstall it with: python -m unscratch install krita"
        ) from None

PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))
TITLES = hostkit.ACTIONS  # op -> the name every host shows ("Detect scratches", ...)


class UnscratchError(RuntimeError):
    """A problem the user can act on; the message names it."""


def log(*args) -> None:
    print("[unscratch]", *args, file=sys.stderr, flush=True)


def worker_python(python: str | None = None) -> str:
    return python or protocol.worker_python(PLUGIN_DIR)


# the detector's own facts ("threshold", ...), once a worker reported them (the docker shows them)
known_thresholds: dict = protocol.DESCRIBED


def detector_thresholds(python: str | None = None) -> dict:
    """The detector's facts (its "threshold" above all), asked of the worker once (about a
    second)."""
    return protocol.described(worker_python(python))

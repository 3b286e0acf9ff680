"""Shipped ONNX models: their cards, checksum verification and cached onnxruntime sessions.

A model is `models/<name>.onnx` beside `models/<name>.json`. The card says what the model does
(`task`: "detect" or "restore"), how to tile it, its default threshold and where it came from.
The loader refuses a file whose sha256 differs from its card: a corrupt model must fail loudly,
never produce quietly wrong masks.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ModelError

_PACKAGE_DIR = Path(__file__).resolve().parent
_options = {"threads": None, "providers": None}
_sessions: dict = {}
_verified: dict = {}
_lock = threading.Lock()


def configure(*, threads: int | None = None, providers: list[str] | None = None) -> None:
    """Set onnxruntime's intra-op thread count and execution providers for sessions made from now
    on."""
    _options["threads"] = threads
    _options["providers"] = providers


def models_dir() -> Path:
    """UNSCRATCH_MODELS_DIR, else the repository's models/ (editable install), else the installed
    copy."""
    env = os.environ.get("UNSCRATCH_MODELS_DIR")
    if env:
        return Path(env)
    repo_models = _PACKAGE_DIR.parents[1] / "models"
    if repo_models.is_dir():
        return repo_models
    return _PACKAGE_DIR / "models"


@dataclass(frozen=True)
class ModelCard:
    name: str
    task: str
    path: Path
    sha256: str
    tile: int
    overlap: int
    multiple: int
    min_side: int  # smaller tiles are reflected out to this many px first (0: only to `multiple`)
    threshold: float | None
    input_channels: int
    card: dict = field(hash=False, compare=False, repr=False)

    @property
    def provenance(self) -> dict:
        return {"name": self.name, "sha256": self.sha256, "task": self.task}


def read_card(json_path: Path) -> ModelCard:
    json_path = Path(json_path)
    try:
        card = json.loads(json_path.read_text())
        return ModelCard(
            name=card["name"], task=card["task"], path=json_path.with_suffix(".onnx"),
            sha256=card["sha256"], tile=int(card["tile"]), overlap=int(card["overlap"]),
            multiple=int(card.get("multiple", 1)), min_side=int(card.get("min_side", 0)),
            threshold=card.get("threshold"), input_channels=int(card["input"]["channels"]),
            card=card)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{json_path}: not a valid model card ({exc})") from None


def missing_model(task: str) -> str | None:
    """Why there is no model for `task` ("detect" or "restore"), as one line for the user that
    names the folder and what is missing and says that the classical methods exist; None when a
    card marked default is there (whether its file matches is `verify`'s business). Method "auto"
    refuses to run without it: the classical detector marks many times what the shipped model
    repairs, so it runs only when asked for."""
    if default_card(task) is not None:
        return None
    folder = models_dir()
    named = str(folder)
    if os.environ.get("UNSCRATCH_MODELS_DIR"):
        named += " (UNSCRATCH_MODELS_DIR)"
    noun = "detector" if task == "detect" else "restorer"
    if not folder.is_dir():
        why = f"the models folder {named} does not exist"
    elif not list_cards(folder):
        why = f"the models folder {named} holds no model cards (.json beside .onnx)"
    else:
        why = f"the models folder {named} has no card for task {task!r} marked default"
    return (f"no {noun} model: {why}; reinstall unscratch or point UNSCRATCH_MODELS_DIR at its "
            "models folder. The classical methods run only when asked for: --method classical "
            "(restore: --detect-method classical for its detection), method=\"classical\" in "
            "Python")


def scan_cards(directory: Path | None = None) -> tuple[list[ModelCard], list[tuple[Path, str]]]:
    """(the model cards in the folder, [(path, why it was skipped)] for its other .json files).

    A folder may hold other JSON (notes, a backup copy of a card): what is not a card is skipped,
    and so is a copy of a card whose model file is not beside it and whose name belongs to another
    file (a real card with its model missing is kept, so that `verify` says so loudly)."""
    directory = Path(directory) if directory else models_dir()
    if not directory.is_dir():
        return [], []
    cards, skipped = [], []
    for path in sorted(directory.glob("*.json")):
        try:
            card = read_card(path)
        except ModelError as exc:
            skipped.append((path, f"not a model card ({str(exc).split('(', 1)[-1].rstrip(')')})"))
            continue
        if not card.path.exists() and card.name != path.stem:
            reason = f"a copy of the card {card.name!r} without its model file {card.path.name}"
            skipped.append((path, reason))
            continue
        cards.append(card)
    return cards, skipped


def list_cards(directory: Path | None = None) -> list[ModelCard]:
    """The model cards in the folder (other .json files are skipped; `scan_cards` says which)."""
    return scan_cards(directory)[0]


def default_card(task: str) -> ModelCard | None:
    """The card marked default for this task, or None when no trained model is shipped."""
    cards = [c for c in list_cards() if c.task == task and c.card.get("default", False)]
    return cards[0] if cards else None


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(card: ModelCard) -> None:
    """Raise ModelError unless the ONNX file exists and matches the card's sha256 (cached per file
    state)."""
    try:
        st = card.path.stat()
    except OSError:
        raise ModelError(f"{card.path}: model file missing; reinstall unscratch or restore models/ "
                         "from git") from None
    key = (str(card.path), st.st_size, st.st_mtime_ns, card.sha256)
    if _verified.get(key):
        return
    actual = sha256_of(card.path)
    if actual != card.sha256:
        raise ModelError(f"{card.path}: sha256 {actual} does not match its card ({card.sha256}); "
                         "the file is corrupt or was replaced; restore it from git or reinstall "
                         "unscratch")
    _verified[key] = True


def providers() -> list[str]:
    """CUDA or DirectML when onnxruntime offers them, else CPU (or what configure() set)."""
    import onnxruntime as ort
    if _options["providers"]:
        return list(_options["providers"])
    available = ort.get_available_providers()
    chosen = [p for p in ("CUDAExecutionProvider", "DmlExecutionProvider") if p in available]
    return chosen + ["CPUExecutionProvider"]


def session(card: ModelCard):
    """One cached onnxruntime session per (model file, options)."""
    import onnxruntime as ort
    verify(card)
    threads = _options["threads"] or int(os.environ.get("UNSCRATCH_THREADS", "0") or 0)
    key = (str(card.path), card.sha256, threads, tuple(providers()))
    with _lock:
        sess = _sessions.get(key)
        if sess is None:
            opts = ort.SessionOptions()
            if threads:
                opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            # tiles vary in size, and a memory pattern planned per shape holds every intermediate at
            # once: without it the restorer's 1024-px tile needs 650 MB instead of 1.2 GB, at the
            # same speed
            opts.enable_mem_pattern = False
            sess = ort.InferenceSession(str(card.path), opts, providers=list(key[3]))
            _sessions[key] = sess
    return sess


def _padded(length: int, multiple: int, min_side: int) -> int:
    """The side a tile of `length` px is reflected out to: at least min_side, a multiple of
    `multiple`."""
    n = max(length, min_side)
    return n + (-n) % multiple


class OnnxTileFn:
    """Callable mapping an HxWxC float32 tile to the model's HxWxK output; pads (by reflection) to
    the model's multiple and to its card's min_side."""

    def __init__(self, card: ModelCard):
        self.card = card
        self.sess = session(card)
        self.input_name = self.sess.get_inputs()[0].name

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        h, w = tile.shape[:2]
        m = self.card.multiple
        ph, pw = _padded(h, m, self.card.min_side) - h, _padded(w, m, self.card.min_side) - w
        if ph or pw:
            tile = np.pad(tile, ((0, ph), (0, pw), (0, 0)), mode="reflect")
        x = np.ascontiguousarray(tile.transpose(2, 0, 1)[None], dtype=np.float32)
        y = self.sess.run(None, {self.input_name: x})[0][0]
        return y.transpose(1, 2, 0)[:h, :w]

    def release_memory(self) -> None:
        """Hand the session's buffer arena back to the system after a whole image. A cached
        session otherwise keeps its largest tile's buffers (about 900 MB for the detector's 1536-px
        tiles) while the next model runs, and in an editor's idle worker. Measured: the shrink takes
        30 ms, and regrowing costs the next image's first tile about 40 ms."""
        import onnxruntime as ort
        options = ort.RunOptions()
        options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        channels = self.sess.get_inputs()[0].shape[1]
        m = self.card.multiple
        self.sess.run(None, {self.input_name: np.zeros((1, channels, m, m), np.float32)}, options)

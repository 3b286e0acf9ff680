"""What `unscratch batch` keeps in OUT_DIR besides the restored tree: the SQLite manifest (one row
per input, one per run), the lock that allows one run at a time, each output's fingerprint, and the
clean-up of stale outputs and of temporaries a killed run left behind (see docs/batch.md)."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import sys
import time
from pathlib import Path

from .. import __version__
from ..errors import InputError
from ..models import sha256_of

# OUT_DIR's own names (the restored images mirror IN_DIR beside them)
MANIFEST_NAME = ".unscratch-manifest.sqlite"
LOCK_NAME = ".unscratch-manifest.lock"
DASK_DIR = ".unscratch-dask"
MASKS_DIR, PROB_DIR, SHEET_DIR = "_masks", "_probability", "_contact-sheet"
RESERVED = (MASKS_DIR, PROB_DIR, SHEET_DIR)
_PART = re.compile(r"^\..+\.[a-z0-9_]{8}\.part$")  # io.write's temporaries: .<name>.<8 random>.part


def output_fingerprint(path: Path) -> list:
    """[size, mtime_ns, sha256] of a finished output, for the manifest: a rerun checks it is
    intact."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, sha256_of(path)]


def output_intact(path: Path, fingerprint: list | None) -> bool:
    """Whether `path` is the output the manifest recorded: same size, and the same sha256 unless the
    mtime is unchanged too. An output recorded before fingerprints existed only has to be a file."""
    try:
        st = path.stat()
    except OSError:
        return False
    if not fingerprint:
        return path.is_file()
    size, mtime_ns, digest = fingerprint
    if st.st_size != size:
        return False
    return st.st_mtime_ns == mtime_ns or sha256_of(path) == digest


def outputs_present(out_dir: Path, row: dict, wanted: dict) -> bool:
    """Every wanted output recorded in the row and still as it was written (see `output_intact`)."""
    have = json.loads(row.get("outputs") or "{}")
    files = json.loads(row.get("output_files") or "{}")
    return all(have.get(kind) == rel and output_intact(out_dir / rel, files.get(rel))
               for kind, rel in wanted.items())


_COLUMNS = {
    "path": "TEXT PRIMARY KEY", "source": "TEXT", "size": "INTEGER", "mtime_ns": "INTEGER",
    "sha256": "TEXT", "region": "TEXT", "region_size": "INTEGER", "region_mtime_ns": "INTEGER",
    "region_sha256": "TEXT", "mode": "TEXT", "detect_method": "TEXT", "params": "TEXT",
    "params_key": "TEXT", "models": "TEXT", "status": "TEXT", "error": "TEXT", "trace": "TEXT",
    "width": "INTEGER", "height": "INTEGER", "channels": "INTEGER", "dtype": "TEXT",
    "defect_pixels": "INTEGER", "defect_fraction": "REAL", "changed_pixels": "INTEGER",
    "outputs": "TEXT", "t_hash": "REAL", "t_read": "REAL", "t_detect": "REAL", "t_restore": "REAL",
    "t_write": "REAL", "t_total": "REAL", "worker": "TEXT", "split": "INTEGER",
    "attempts": "INTEGER", "version": "TEXT", "run_id": "INTEGER", "finished_at": "TEXT",
    "output_files": "TEXT",  # {relative path: [size, mtime_ns, sha256]} of each output as written
    "notes": "TEXT",         # what reading left out or an output could not hold, or NULL
}


class Manifest:
    """SQLite manifest in OUT_DIR; written only by the coordinating process, one transaction per
    file."""

    def __init__(self, path: Path):
        self.path = path
        self.db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        # a rollback journal (not WAL, which needs shared memory that network file systems lack)
        # and a full sync per commit: a kill -9 mid-commit is rolled back when the manifest is
        # next opened
        self.db.execute("PRAGMA journal_mode=DELETE")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA temp_store=MEMORY")
        cols = ", ".join(f"{k} {v}" for k, v in _COLUMNS.items())
        self.db.execute(f"CREATE TABLE IF NOT EXISTS files ({cols})")
        have = {r["name"] for r in self.db.execute("PRAGMA table_info(files)")}
        # a manifest from an older version gains new columns
        for name in (c for c in _COLUMNS if c not in have):
            self.db.execute(f"ALTER TABLE files ADD COLUMN {name} {_COLUMNS[name]}")
        self.db.execute("CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                        "started_at TEXT, finished_at TEXT, in_dir TEXT, argv TEXT, version TEXT, "
                        "params TEXT, models TEXT, total INTEGER, done INTEGER, reused INTEGER, "
                        "skipped INTEGER, failed INTEGER, megapixels REAL, seconds REAL, "
                        "interrupted INTEGER)")

    def rows(self) -> dict:
        cols = ", ".join(c for c in _COLUMNS if c != "trace")  # tracebacks stay on disk
        return {r["path"]: dict(r) for r in self.db.execute(f"SELECT {cols} FROM files")}

    def start_run(self, in_dir: Path, params: dict, models: dict) -> int:
        cur = self.db.execute("INSERT INTO runs (started_at, in_dir, argv, version, params, "
                              "models) VALUES (?,?,?,?,?,?)",
                              (_now(), str(in_dir), json.dumps(sys.argv), __version__,
                               json.dumps(params), json.dumps(models)))
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, s) -> None:
        """Close the run's row with its Summary's counts."""
        self.db.execute("UPDATE runs SET finished_at=?, total=?, done=?, reused=?, skipped=?, "
                        "failed=?, megapixels=?, seconds=?, interrupted=? WHERE id=?",
                        (_now(), s.total, s.done, s.reused, s.skipped, s.failed, s.megapixels,
                         s.seconds, int(s.interrupted), run_id))

    def record(self, res: dict, previous: dict | None, params: dict, key: str, models: dict,
               run_id: int) -> None:
        t = res.get("timings", {})
        row = dict(previous) if (res.get("reused") and previous) else {}
        row.update({
            "path": res["path"], "source": res["source"], "size": res.get("size"),
            "mtime_ns": res.get("mtime_ns"), "region": res.get("region"),
            "region_size": res.get("region_size"), "region_mtime_ns": res.get("region_mtime_ns"),
            "status": res["status"], "run_id": run_id, "finished_at": _now(),
            "worker": res.get("worker"),
        })
        if not res.get("reused"):
            row.update({
                "sha256": res.get("sha256"), "region_sha256": res.get("region_sha256"),
                "mode": res.get("mode"), "detect_method": res.get("detect_method"),
                "params": json.dumps(params, sort_keys=True), "params_key": key,
                "models": json.dumps(models, sort_keys=True), "error": res.get("error"),
                "trace": res.get("trace"),
                "width": res.get("width"), "height": res.get("height"),
                "channels": res.get("channels"), "dtype": res.get("dtype"),
                "defect_pixels": res.get("defect_pixels"),
                "defect_fraction": res.get("defect_fraction"),
                "changed_pixels": res.get("changed_pixels"),
                "outputs": json.dumps(res.get("outputs", {}), sort_keys=True),
                "output_files": json.dumps(res.get("output_files", {}), sort_keys=True),
                "notes": res.get("notes"),
                "t_hash": t.get("hash"), "t_read": t.get("read"), "t_detect": t.get("detect"),
                "t_restore": t.get("restore"), "t_write": t.get("write"), "t_total": t.get("total"),
                "split": int(bool(res.get("split"))), "version": __version__,
                "attempts": ((previous or {}).get("attempts") or 0) + 1,
            })
        cols = list(_COLUMNS)
        self.db.execute(f"INSERT OR REPLACE INTO files ({', '.join(cols)}) "
                        f"VALUES ({', '.join('?' * len(cols))})", [row.get(c) for c in cols])

    def close(self) -> None:
        self.db.close()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def params_key(params: dict, models: dict) -> str:
    blob = json.dumps({"params": params, "models": models}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def remove_stale_outputs(out_dir: Path, previous: dict | None, res: dict, owners: dict) -> None:
    """Delete outputs of this file's previous row that the new result does not vouch for, so that
    the tree never holds two versions of one result (e.g. after --format changed, or the file now
    fails); never a path another current input writes to (`owners`: output path -> input path)."""
    if not previous or res.get("reused"):
        return
    keep = set(res.get("outputs", {}).values())
    for rel in json.loads(previous.get("outputs") or "{}").values():
        if rel not in keep and owners.get(rel, res["path"]) == res["path"]:
            (out_dir / rel).unlink(missing_ok=True)


def remove_temporaries(out_dir: Path, jobs: list) -> int:
    """Delete Dask's scratch folder and the hidden `.<name>.<random>.part` files that a write killed
    midway leaves behind, in the folders this run's jobs write to (and nowhere else)."""
    shutil.rmtree(out_dir / DASK_DIR, ignore_errors=True)
    folders = {(out_dir / rel).parent for job in jobs for rel in job.outputs.values()}
    removed = 0
    for folder in folders | {out_dir / SHEET_DIR}:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if _PART.match(name):
                (folder / name).unlink(missing_ok=True)
                removed += 1
    return removed


class Lock:
    """One run at a time per OUT_DIR: an advisory lock on OUT_DIR/.unscratch-manifest.lock."""

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
            raise InputError(f"{path.parent}: another `unscratch batch` is writing to this "
                             "folder") from None

    def release(self):
        self.fh.close()

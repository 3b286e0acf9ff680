"""Atomic outputs: every file is written to a locked temporary beside its destination, then put in
place in one step, so an interrupted write leaves the old file or the new one, never half of one; a
temporary left by a killed run is removed by the next write of the same file. `Outputs` commits
several files together (a mask and its probability map): all of them or none.

Where a destination already is: a symlink is followed and its target replaced, the link kept (as
`cp` and editors do); a file of another user is written in place, keeping its owner, and one that
user keeps read-only is refused, as `cp` without -f refuses it. A replaced file keeps its mode; a
new one gets what the umask allows.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError


def destination(path) -> Path:
    """The file writing `path` replaces: a symlink's target (the link is kept), else `path`."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _foreign(st: os.stat_result) -> bool:
    """Whether a file belongs to another user than the one running (root: any other)."""
    return hasattr(os, "geteuid") and st.st_uid != os.geteuid()


def check_replaceable(path) -> None:
    """Refuse to replace a file another user owns and keeps read-only (cp without -f refuses it)."""
    target = destination(path)
    try:
        st = target.stat()
    except OSError:
        return
    if stat.S_ISREG(st.st_mode) and _foreign(st) and not os.access(target, os.W_OK):
        shown = f"{path} (a link to {target})" if target != Path(path) else str(path)
        raise InputError(f"{shown}: belongs to another user and is read-only; not replaced "
                         "(remove it or choose another output)")


def _part_pattern(name: str) -> re.Pattern:
    """Names of the temporaries for a file called `name` (mkstemp's 8 random chars)."""
    return re.compile(rf"^\.{re.escape(name)}\.[a-z0-9_]{{8}}\.part$")


def remove_stale_temporaries(path) -> int:
    """Delete the temporaries a killed write of `path` (or its symlink's target) left beside it; one
    still being written is held locked by its writer and is left alone. Returns how many were
    removed."""
    path = destination(path)
    pattern = _part_pattern(path.name)
    removed = 0
    try:
        names = [n for n in os.listdir(path.parent) if pattern.match(n)]
    except OSError:
        return 0
    for name in names:
        tmp = path.parent / name
        try:
            with open(tmp, "rb") as fh:
                if not _try_lock(fh.fileno()):
                    continue  # a live writer holds it
            tmp.unlink()
            removed += 1
        except OSError:
            continue
    return removed


def _try_lock(fd: int) -> bool:
    """An exclusive advisory lock on `fd` without waiting; True where the platform has none."""
    try:
        import fcntl
    except ImportError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _umask() -> int:
    """The process umask, read without changing it where /proc allows (changing it races other
    threads)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def signals_held():
    """Hold SIGINT and SIGTERM while the block runs (creating a temporary, putting outputs in
    place), then act on one that came: a step that must not be cut in half is not. Only the main
    thread handles signals; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, lambda signum, frame: came.append(signum))
        except (ValueError, OSError):  # an embedded interpreter that owns its signals
            pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if came:
            handler = previous.get(came[0])
            if callable(handler):
                handler(came[0], None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), came[0])


@dataclass
class Staged:
    """A written, synced temporary waiting to become `path`."""
    path: Path        # the destination (a symlink's target)
    tmp: Path
    fd: int
    in_place: bool    # another user's file: copied over, so that it keeps its owner


def stage(path, write_tmp) -> Staged:
    """`write_tmp(tmp)` writes a temporary beside `path`'s destination, locked while it is written
    (so that a later write can tell a killed run's leftover from a live one), synced, with the
    replaced file's mode or else what the umask allows (mkstemp's own is 0600)."""
    target = destination(path)
    check_replaceable(path)
    remove_stale_temporaries(target)
    try:
        st = target.stat()
        mode, in_place = stat.S_IMODE(st.st_mode), _foreign(st)
    except OSError:
        mode, in_place = 0o666 & ~_umask(), False
    staged = None
    try:
        with signals_held():
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part",
                                            dir=target.parent)
            staged = Staged(target, Path(tmp_name), fd, in_place)
        _try_lock(staged.fd)
        write_tmp(staged.tmp)
        with open(staged.tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(staged.tmp, mode)
    except BaseException:
        if staged is not None:
            discard([staged])
        raise
    return staged


def discard(staged: list[Staged]) -> None:
    """Remove temporaries that will not be committed."""
    for s in staged:
        s.tmp.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            os.close(s.fd)


def commit(staged: list[Staged]) -> list[Path]:
    """Put every staged file in place, with SIGINT and SIGTERM held until all are; returns the
    destinations. A failure discards the temporaries not yet in place."""
    done: list[Path] = []
    try:
        with signals_held():
            for s in staged:
                if s.in_place:
                    shutil.copyfile(s.tmp, s.path)
                    s.tmp.unlink()
                else:
                    os.replace(s.tmp, s.path)
                done.append(s.path)
    except BaseException as exc:
        discard([s for s in staged if s.path not in done])
        if done:
            exc.written = done  # what is in place, for the caller's message
        raise
    for s in staged:
        with contextlib.suppress(OSError):
            os.close(s.fd)
    return done


def write_atomically(path, write_tmp) -> None:
    """`write_tmp(tmp)` writes a temporary file beside `path`, which then replaces `path` in one
    step: a crash leaves the old file or the new one, never half of one."""
    commit([stage(path, write_tmp)])


class Outputs:
    """Several outputs of one command, committed together: `io.write(..., outputs=this)` stages a
    file; leaving the `with` block normally puts them all in place, leaving it by an exception (an
    error, Ctrl-C, SIGTERM) leaves none of them. `written` lists what was put in place."""

    def __init__(self):
        self.staged: list[Staged] = []
        self.written: list[Path] = []

    def add(self, staged: Staged) -> None:
        self.staged.append(staged)

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        staged, self.staged = self.staged, []
        if kind is None:
            self.written = commit(staged)
        else:
            discard(staged)
        return False

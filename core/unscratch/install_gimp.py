"""`unscratch install gimp [--dir DIR]` / `unscratch uninstall gimp`.

Copies the GIMP 3 plug-in (gimp_plugin/unscratch_gimp/: unscratch_gimp.py, gimpfu_shim.py,
gimpfu_types.py, gimpfu_gimp.py) with protocol.py and hostkit.py to
`<GIMP3_DIRECTORY>/plug-ins/unscratch_gimp/` (the folder and the main file share the name and the
main file is executable, as GIMP 3 requires) and records this interpreter as the worker's Python in
unscratch_config.json. A copy installed by an earlier version under plug-ins/unscratch/ is removed
(both would register the same procedures).

GIMP's folder: DIR when given (used as GIMP3_DIRECTORY), else $GIMP3_DIRECTORY, else GIMP 3.0's user
folder (~/.config/GIMP/3.0 on Linux, %APPDATA%\\GIMP\\3.0 on Windows, ~/Library/Application
Support/GIMP/3.0 on macOS). Without DIR, any other existing GIMP 3.x user folder next to it (e.g.
3.2) gets the plug-in too.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

from . import __version__
from .errors import InputError

PLUGIN_NAME = "unscratch_gimp"
PLUGIN_FILES = ("unscratch_gimp.py", "gimpfu_shim.py", "gimpfu_types.py", "gimpfu_gimp.py")
CORE_FILES = ("protocol.py", "hostkit.py")     # copied from this package, beside the plug-in
OLD_NAME = "unscratch"                          # the folder earlier versions installed into
MARKER = "unscratch_config.json"


def plugin_source() -> Path:
    """gimp_plugin/unscratch_gimp of the source tree (editable install), or the copy a wheel ships
    in the package."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parents[1] / "gimp_plugin" / PLUGIN_NAME,
                      here / "gimp_plugin" / PLUGIN_NAME):
        if all((candidate / f).is_file() for f in PLUGIN_FILES):
            return candidate
    raise InputError(f"the GIMP plug-in files were not found next to {here}; reinstall unscratch "
                     "(pip install unscratch, or pip install -e . in its source checkout) and run "
                     "this again")


def _user_root() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "GIMP"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "GIMP"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "GIMP"


def gimp_directories(directory: str | None = None) -> list[Path]:
    """GIMP 3 user folders to install into; the first one is the one reported."""
    if directory:
        return [Path(directory).expanduser().absolute()]
    env = os.environ.get("GIMP3_DIRECTORY")
    if env:
        return [Path(env).expanduser().absolute()]
    root = _user_root()
    dirs = [root / "3.0"]
    if root.is_dir():
        for child in sorted(root.iterdir()):
            if child.is_dir() and child.name.startswith("3.") and child != dirs[0]:
                dirs.append(child)
    return dirs


def _install_into(gimp_dir: Path, source: Path) -> Path:
    target = gimp_dir / "plug-ins" / PLUGIN_NAME
    staging = target.with_name(PLUGIN_NAME + ".installing")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for name in PLUGIN_FILES:
        shutil.copy2(source / name, staging / name)
    for name in CORE_FILES:
        shutil.copy2(Path(__file__).resolve().parent / name, staging / name)
    main = staging / PLUGIN_FILES[0]
    main.chmod(main.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
               | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    config = {"python": sys.executable, "version": __version__, "host": "gimp"}
    (staging / MARKER).write_text(json.dumps(config, indent=2) + "\n")
    if target.exists() or target.is_symlink():
        _remove(target)
    os.replace(staging, target)
    _remove_old(gimp_dir)
    return target


def _remove_old(gimp_dir: Path) -> Path | None:
    """Remove plug-ins/unscratch/ when an earlier version of this installer made it."""
    old = gimp_dir / "plug-ins" / OLD_NAME
    if (old / MARKER).is_file() and not old.is_symlink():
        shutil.rmtree(old)
        return old
    return None


def _remove(target: Path) -> None:
    if target.is_symlink() or target.is_file():
        target.unlink()
        return
    ours = (target / PLUGIN_FILES[0]).exists() or (target / MARKER).exists()
    if not ours and any(target.iterdir()):
        raise InputError(f"{target} exists but does not hold the unscratch plug-in; move it away "
                         "and run again")
    shutil.rmtree(target)


def install(directory: str | None = None) -> Path:
    """Install the plug-in; returns its folder (in the first GIMP folder)."""
    if not sys.executable:
        raise InputError("cannot tell which Python is running this; run  python -m unscratch "
                         "install gimp")
    source = plugin_source()
    installed = [_install_into(d, source) for d in gimp_directories(directory)]
    return installed[0]


def uninstall(directory: str | None = None) -> Path | None:
    """Remove the plug-in; returns the folder removed (the first one), or None when none was
    installed."""
    removed = []
    for d in gimp_directories(directory):
        target = d / "plug-ins" / PLUGIN_NAME
        if target.exists() or target.is_symlink():
            _remove(target)
            removed.append(target)
        staging = target.with_name(PLUGIN_NAME + ".installing")
        if staging.exists():
            shutil.rmtree(staging)
        old = _remove_old(d)
        if old is not None:
            removed.append(old)
    return removed[0] if removed else None

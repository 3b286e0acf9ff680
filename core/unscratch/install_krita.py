"""`unscratch install krita` / `unscratch uninstall krita`.

Install puts the pykrita plug-in into Krita's pykrita folder:

    pykrita/unscratch_krita.desktop
    pykrita/unscratch_krita/           the package from krita_plugin/unscratch_krita
    .../protocol.py, hostkit.py        copies of the core's (stdlib only)
    .../unscratch_config.json          {"python": this interpreter}: the worker's Python

and enables it in kritarc (group [python], enable_unscratch_krita=true); without that flag Krita
silently does not load a new plug-in. The package is not called `unscratch`, so it never shadows
the core package; an older install under that name (pykrita/unscratch, enable_unscratch) is
removed by install and uninstall alike. Paths follow Krita (Qt's standard locations):

    Linux & co.  $XDG_DATA_HOME/krita/pykrita (~/.local/share/krita/pykrita),
                 $XDG_CONFIG_HOME/kritarc (~/.config/kritarc)
    macOS        ~/Library/Application Support/krita/pykrita, ~/Library/Preferences/kritarc
    Windows      %APPDATA%\\krita\\pykrita, %LOCALAPPDATA%\\kritarc

`directory` (the CLI's --dir) replaces the pykrita folder, e.g. for a custom resource folder;
kritarc is still the user's. Uninstall removes the files and the flag and leaves the rest of kritarc
as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from .errors import InputError

NAME = "unscratch_krita"
FLAG = f"enable_{NAME}"
LEGACY = "unscratch"  # the package's earlier name: removed when found, if it is ours
CORE_FILES = ("protocol.py", "hostkit.py")  # stdlib-only core modules copied beside the plug-in
SECTION = "[python]"
PACKAGE_FILES = ("*.py", "*.html")
_PACKAGE_DIR = Path(__file__).resolve().parent


def _home() -> Path:
    return Path(os.environ.get("HOME") or Path.home())


def _xdg(var: str, default: str) -> Path:
    value = os.environ.get(var)
    # the XDG spec: relative paths are invalid and must be ignored
    return Path(value) if value and os.path.isabs(value) else _home() / default


def pykrita_dir() -> Path:
    """Where Krita looks for the user's Python plug-ins."""
    if sys.platform == "win32":
        return (
            Path(os.environ.get("APPDATA") or _home() / "AppData" / "Roaming") / "krita" / "pykrita"
        )
    if sys.platform == "darwin":
        return _home() / "Library" / "Application Support" / "krita" / "pykrita"
    return _xdg("XDG_DATA_HOME", ".local/share") / "krita" / "pykrita"


def kritarc_path() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or _home() / "AppData" / "Local") / "kritarc"
    if sys.platform == "darwin":
        return _home() / "Library" / "Preferences" / "kritarc"
    return _xdg("XDG_CONFIG_HOME", ".config") / "kritarc"


def plugin_source() -> Path:
    """krita_plugin/ of the source tree unscratch runs from (editable install), or a wheel's
    copy."""
    env = os.environ.get("UNSCRATCH_KRITA_PLUGIN_SRC")
    for candidate in ([Path(env)] if env else []) + [
        _PACKAGE_DIR.parents[1] / "krita_plugin",
        _PACKAGE_DIR / "krita_plugin",
    ]:
        if (candidate / f"{NAME}.desktop").is_file() and (
            candidate / NAME / "__init__.py"
        ).is_file():
            return candidate
    raise InputError(
        "the Krita plug-in's files (krita_plugin/) were not found next to this unscratch; "
        "reinstall unscratch (pip install unscratch, or pip install -e . in its source tree) and "
        "run this again"
    )


# ------------------------------------------------------------------------------------- kritarc
def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines(keepends=True)
    except FileNotFoundError:
        return []


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _section_bounds(lines: list[str], header: str) -> tuple[int, int] | None:
    """(index of the header line, index just past the section's last line)."""
    start = next((i for i, line in enumerate(lines) if line.strip() == header), None)
    if start is None:
        return None
    end = start + 1
    while end < len(lines) and not lines[end].lstrip().startswith("["):
        end += 1
    return start, end


def _is_key(line: str, key: str) -> bool:
    if "=" not in line:
        return False
    name = line.split("=", 1)[0].strip()
    return name == key or name.startswith(key + "[")  # KConfig: key[$e], key[locale]


def set_kritarc_flag(path: Path, key: str, value: str | None) -> bool:
    """Set `key=value` in [python] (value None: remove it). Returns whether the file changed.
    Only that one line is touched; every other byte of kritarc stays as it was."""
    lines = _read_lines(path)
    before = "".join(lines)
    bounds = _section_bounds(lines, SECTION)
    if value is None:
        if bounds is None:
            return False
        start, end = bounds
        kept = [line for line in lines[start + 1 : end] if not _is_key(line, key)]
        if not any(line.strip() for line in kept):  # the section held only our flag: drop it
            lines[start:end] = []
            if start > 0 and start == len(lines) and lines[start - 1].strip() == "":
                lines.pop()  # the blank line that separated the removed section
        else:
            lines[start + 1 : end] = kept
    else:
        entry = f"{key}={value}\n"
        if bounds is None:
            if lines and not lines[-1].endswith("\n"):
                lines[-1] += "\n"
            if lines and lines[-1].strip():
                lines.append("\n")
            lines += [SECTION + "\n", entry]
        else:
            start, end = bounds
            existing = [i for i in range(start + 1, end) if _is_key(lines[i], key)]
            if existing:
                lines[existing[0]] = entry
                for i in reversed(existing[1:]):
                    del lines[i]
            else:
                last = end
                while last > start + 1 and not lines[last - 1].strip():
                    last -= 1
                if not lines[last - 1].endswith("\n"):
                    lines[last - 1] += "\n"
                lines.insert(last, entry)
    after = "".join(lines)
    if after == before:
        return False
    _write_atomic(path, after)
    return True


def kritarc_flag(path: Path, key: str = FLAG) -> str | None:
    lines = _read_lines(path)
    bounds = _section_bounds(lines, SECTION)
    if bounds is None:
        return None
    for line in lines[bounds[0] + 1 : bounds[1]]:
        if _is_key(line, key):
            return line.split("=", 1)[1].strip()
    return None


# ------------------------------------------------------------------------------------- install
def install(directory: str | None = None) -> Path:
    """Install (or update) the plug-in; returns the pykrita folder it went into."""
    src = plugin_source()
    target = Path(directory).expanduser() if directory else pykrita_dir()
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{NAME}-new-", dir=target))
    try:
        for pattern in PACKAGE_FILES:
            for f in sorted((src / NAME).glob(pattern)):
                shutil.copy2(f, staging / f.name)
        for name in CORE_FILES:
            shutil.copy2(_PACKAGE_DIR / name, staging / name)
        from . import __version__

        config = {"python": sys.executable, "version": __version__, "source": str(src)}
        (staging / "unscratch_config.json").write_text(
            json.dumps(config, indent=2) + "\n", encoding="utf-8"
        )
        os.chmod(staging, 0o755)
        package = target / NAME
        if package.is_symlink() or package.is_file():
            package.unlink()
        elif package.exists():
            shutil.rmtree(package)
        os.replace(staging, package)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.copy2(src / f"{NAME}.desktop", target / f"{NAME}.desktop")
    _remove_legacy(target)
    set_kritarc_flag(kritarc_path(), FLAG, "true")
    return target


def _remove_legacy(target: Path) -> bool:
    """Remove an install made under the old name `unscratch` (only when its .desktop is ours)."""
    desktop = target / f"{LEGACY}.desktop"
    try:
        text = desktop.read_text(encoding="utf-8")
    except OSError:
        return False
    if f"X-KDE-Library={LEGACY}\n" not in text or "Name=Unscratch" not in text:
        return False
    set_kritarc_flag(kritarc_path(), f"enable_{LEGACY}", None)
    desktop.unlink()
    package = target / LEGACY
    if package.is_symlink() or package.is_file():
        package.unlink()
    elif package.is_dir():
        shutil.rmtree(package)
    return True


def uninstall(directory: str | None = None) -> Path | None:
    """Remove the plug-in and its kritarc flag; returns the pykrita folder, or None if nothing was
    there."""
    target = Path(directory).expanduser() if directory else pykrita_dir()
    removed = False
    desktop = target / f"{NAME}.desktop"
    if desktop.exists() or desktop.is_symlink():
        desktop.unlink()
        removed = True
    package = target / NAME
    if package.is_symlink() or package.is_file():
        package.unlink()
        removed = True
    elif package.is_dir():
        shutil.rmtree(package)
        removed = True
    if set_kritarc_flag(kritarc_path(), FLAG, None):
        removed = True
    if _remove_legacy(target):
        removed = True
    return target if removed else None

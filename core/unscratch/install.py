"""`unscratch install|uninstall gimp|krita`: dispatch to each editor's installer (install_gimp,
install_krita)."""
from __future__ import annotations

from pathlib import Path


def install(host: str, directory: str | None = None) -> Path:
    if host == "gimp":
        from .install_gimp import install as run
    elif host == "krita":
        from .install_krita import install as run
    else:
        raise ValueError(host)
    return run(directory)


def uninstall(host: str, directory: str | None = None) -> Path | None:
    if host == "gimp":
        from .install_gimp import uninstall as run
    elif host == "krita":
        from .install_krita import uninstall as run
    else:
        raise ValueError(host)
    return run(directory)

"""napari plug-in for unscratch: detect scratches as an editable Labels layer, restore, score.

Discovered by napari through the `napari.manifest` entry point (`unscratch_napari:napari.yaml`).
"""
from unscratch import __version__

__all__ = ["__version__", "DetectWidget", "RestoreWidget", "MetricsWidget"]


def __getattr__(name):  # the widgets import Qt; load them only when asked for
    if name in ("DetectWidget", "RestoreWidget", "MetricsWidget"):
        from . import _widgets
        return getattr(_widgets, name)
    raise AttributeError(name)

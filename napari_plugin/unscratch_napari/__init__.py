"""napari plug-in for unscratch: detect scratches as an editable Labels layer, restore, score.

Discovered by napari through the `napari.manifest` entry point (`unscratch_napari:napari.yaml`).
"""
from unscratch import __version__

__all__ = ["__version__", "DetectWidget", "RestoreWidget", "MetricsWidget"]


_WIDGETS = {"DetectWidget": "_detect", "RestoreWidget": "_restore", "MetricsWidget": "_metrics"}


def __getattr__(name):  # the widgets import Qt; load them only when asked for
    if name in _WIDGETS:
        from importlib import import_module

        return getattr(import_module(f".{_WIDGETS[name]}", __name__), name)
    raise AttributeError(name)

"""unscratch for Krita: Detect scratches, Restore selection and Fill selection, plus a docker.

The repair itself runs in a separate Python process (the unscratch worker; see protocol.py), so
this plug-in needs only Krita's own Python and PyQt5.
"""

from krita import DockWidgetFactory, DockWidgetFactoryBase, Krita

from .docker import DOCKER_ID, UnscratchDocker
from .extension import UnscratchExtension

_app = Krita.instance()
_app.addExtension(UnscratchExtension(_app))
_app.addDockWidgetFactory(
    DockWidgetFactory(DOCKER_ID, DockWidgetFactoryBase.DockRight, UnscratchDocker)
)

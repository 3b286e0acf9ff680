"""unscratch: find and repair scratches, dust, hairs and cracks on scanned photographs and film."""
from .api import Detection, Patch, detect, restore, restore_patches
from .errors import Cancelled, InputError, ModelError
from .models import configure

__version__ = "0.1.0"
__all__ = ["detect", "restore", "restore_patches", "Detection", "Patch", "InputError", "ModelError",
           "Cancelled", "configure", "__version__"]

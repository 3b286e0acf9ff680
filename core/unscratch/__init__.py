"""unscratch: find and repair scratches, dust, hairs and cracks on scanned photographs and film."""
from .api import Detection, detect, restore
from .errors import Cancelled, InputError, ModelError
from .models import configure

__version__ = "0.1.0"
__all__ = ["detect", "restore", "Detection", "InputError", "ModelError", "Cancelled", "configure", "__version__"]

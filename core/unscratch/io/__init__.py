"""Read and write PNG, JPEG and TIFF at full precision, atomically, keeping the file's metadata.

OpenCV does the pixel coding for PNG and JPEG; the ICC profile (iCCP / APP2), resolution (pHYs /
JFIF density), EXIF (eXIf / APP1), XMP (iTXt / APP1) and the format's own text (PNG text chunks,
JPEG IPTC and comments) are carried across by hand (`metadata`) because OpenCV drops them. TIFF
goes through tifffile (`tiff`), which keeps 16-bit and float samples; its ICC, resolution, XMP, IPTC
and text tags are carried too, and a JPEG's or PNG's EXIF text tags (description, make, model, ...)
become the TIFF's own. A file's orientation flag (EXIF or TIFF Orientation) is applied on reading,
as editors and viewers do, so masks and selections drawn on what the user sees line up; outputs are
written upright with the flag reset. Every write goes to a temporary file in the destination folder
and is renamed into place (`atomic`), so an interrupted write leaves nothing behind; `Outputs`
commits several files together.

A file's header is read before its pixels, and one declaring more than `max_pixels()` (1000 MP
unless UNSCRATCH_MAX_MEGAPIXELS says otherwise) is refused, so a decompression bomb never reaches a
decoder. What is lost is said with a `LossWarning`: a TIFF's other pages or an animated PNG's other
frames on reading; 16-bit or alpha into JPEG, float into PNG, a CMYK JPEG's colours, EXIF data a
TIFF cannot hold on writing.

Modules, each importing only those before it: `metadata` (bytes beside the pixels), `pixels`
(size guard, decoding, orientation, conventions), `tiff`, `atomic`, `jpeg` (block-wise
re-encoding), `reading`, `writing`.
"""
from ..errors import InputError
from .atomic import Outputs, destination, remove_stale_temporaries, signals_held, write_atomically
from .metadata import JPEG_SUFFIXES, PNG_SIG, PNG_XMP, ImageInfo, LossWarning
from .pixels import MAX_MEGAPIXELS, READABLE, max_pixels
from .reading import read, read_plane, read_with_info
from .tiff import DEFAULT_COMPRESSION, TIFF_CARRIED, TIFF_COMPRESSIONS
from .writing import check_output, encode, same_file, why_not_written, write

__all__ = ["DEFAULT_COMPRESSION", "ImageInfo", "InputError", "JPEG_SUFFIXES", "LossWarning",
           "MAX_MEGAPIXELS", "Outputs", "PNG_SIG", "PNG_XMP", "READABLE", "TIFF_CARRIED",
           "TIFF_COMPRESSIONS", "check_output", "destination", "encode", "max_pixels", "read",
           "read_plane", "read_with_info", "remove_stale_temporaries", "same_file",
           "signals_held", "why_not_written", "write", "write_atomically"]

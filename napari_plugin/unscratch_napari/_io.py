"""TIFF reader and writers that keep the bit depth: uint8, uint16 and float stay what they are.

Single images go through `unscratch.io` (atomic writes, ICC profile and resolution kept, planar and
min-is-white TIFFs handled). A multi-page TIFF opens as a stack (leading axis = page) and a stack
layer is saved as a multi-page TIFF.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SUFFIXES = (".tif", ".tiff")


def _is_tiff(path) -> bool:
    return isinstance(path, (str, Path)) and str(path).lower().endswith(SUFFIXES)


def get_reader(path):
    """npe2 reader hook: a reader function for one .tif/.tiff path, else None."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    if not _is_tiff(path):
        return None
    return read_tiff


def read_tiff(path) -> list:
    import tifffile

    from unscratch import io

    if isinstance(path, list):
        path = path[0]
    path = Path(path)
    with tifffile.TiffFile(path) as tif:
        pages = len(tif.pages)
    infrared = None
    if pages <= 1:
        data, info = io.read_with_info(path)
        if info.infrared:  # a film scan's fourth plane is infrared, not alpha: its own layer
            data, infrared = data[:, :, :3], data[:, :, 3]
        rgb = data.ndim == 3
    else:
        data = tifffile.imread(path)
        rgb = data.ndim == 4 and data.shape[-1] in (3, 4)
    meta = {"unscratch": {"file": str(path), "dtype": str(data.dtype)}}
    layers = [(data, {"name": path.stem, "rgb": rgb, "metadata": meta}, "image")]
    if infrared is not None:
        about = {"unscratch": dict(meta["unscratch"], infrared=True)}
        layers.append((infrared, {"name": f"{path.stem} infrared", "colormap": "gray",
                                  "visible": False, "metadata": about}, "image"))
    return layers


def _target(path: str) -> Path:
    p = Path(path)
    return p if p.suffix.lower() in SUFFIXES else p.with_name(p.name + ".tif")


def _write(path: Path, data: np.ndarray, colour: bool) -> None:
    import tifffile

    from unscratch import InputError, io

    single = data.ndim == 2 or (colour and data.ndim == 3)
    if single:
        try:
            io.write(path, data)
            return
        except InputError:  # e.g. float64, int32: fall back to tifffile, which keeps any dtype
            pass
    photometric = "rgb" if colour else "minisblack"
    extrasamples = ("unassalpha",) if colour and data.shape[-1] == 4 else None
    tifffile.imwrite(path, data, photometric=photometric, extrasamples=extrasamples,
                     compression="zlib")


def write_image(path: str, data, meta: dict) -> list[str]:
    """npe2 writer hook for one image layer: TIFF in the layer's own dtype (a stack →
    multi-page)."""
    if isinstance(data, list):  # multiscale: the full-resolution level
        data = data[0]
    arr = np.asarray(data)
    target = _target(path)
    _write(target, arr, bool(meta.get("rgb", False)) and arr.shape[-1] in (3, 4))
    return [str(target)]


def write_labels(path: str, data, meta: dict) -> list[str]:
    """npe2 writer hook for one labels layer (e.g. an edited mask): uint8 TIFF, uint16 if labels
    exceed 255."""
    if isinstance(data, list):
        data = data[0]
    arr = np.asarray(data)
    top = int(arr.max()) if arr.size else 0
    if top > 65535 or arr.min(initial=0) < 0:
        raise ValueError(f"labels range {arr.min()}..{top} does not fit a uint16 TIFF")
    arr = arr.astype(np.uint8 if top <= 255 else np.uint16)
    target = _target(path)
    _write(target, arr, False)
    return [str(target)]

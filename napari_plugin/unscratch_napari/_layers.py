"""From napari layers to the planes `unscratch.detect/restore` take, and back to layer data.

Everything here runs on the main thread except `ImageSource.plane`/`work_plane` and the patch
overlays, which the worker calls: they only read the array captured when the job was prepared. A
lazy (dask, zarr …) layer is never materialised: the core reads it tile by tile, restoration returns
only the changed pixels (`unscratch.restore_patches`), and the restored and difference layers are
dask arrays that overlay those pixels on the untouched input, chunk by chunk, as napari draws them.

Stacks: an image layer is (leading axes ..., H, W) for gray or (leading ..., H, W, C) with `rgb`. A
*slice index* is the tuple of leading indices; a plain 2-D image has the single index ().
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from unscratch import InputError


def unwrap(obj):
    """The napari object behind a PublicOnlyProxy (napari hands plug-ins proxies of its objects)."""
    return getattr(obj, "__wrapped__", obj)


def is_lazy(data) -> bool:
    return not isinstance(data, np.ndarray)


@dataclass
class ImageSource:
    """An image layer's pixels as the core sees them: planes of shape (H, W) or (H, W, C)."""
    name: str
    data: Any            # numpy, dask, zarr …: full-resolution level, never written to
    rgb: bool
    leading: tuple       # shape of the leading (stack) axes; () for one image
    plane_shape: tuple   # (H, W)

    @property
    def full_shape(self) -> tuple:
        return tuple(self.leading) + tuple(self.plane_shape)

    def plane(self, index: tuple) -> np.ndarray:
        """Materialise one slice (for dask: compute only that slice)."""
        return np.asarray(self.data[index] if index else self.data)

    def lazy_plane(self, index: tuple):
        """One slice of lazy data as a dask array, never computed here."""
        plane = lazy_view(self, chunks="auto")
        return plane[index] if index else plane

    def work_plane(self, index: tuple):
        """One slice as the core should read it: the ndarray for in-memory data; for lazy data a
        dask array that the core computes tile by tile as it reads (float64 → float32 lazily). A
        slice that is a single dask chunk is computed once instead: each tile would compute the
        whole chunk again."""
        if not self.lazy:
            return to_core(self.plane(index))
        plane = self.lazy_plane(index)
        if all(len(c) == 1 for c in plane.chunks):
            return to_core(np.asarray(plane))
        if plane.dtype.kind == "f":
            import dask

            # one streaming pass
            _check_unit_range(*(float(v) for v in dask.compute(plane.min(), plane.max())))
            if plane.dtype == np.float64:
                plane = plane.astype(np.float32)
        return plane

    @property
    def lazy(self) -> bool:
        return is_lazy(self.data)


def image_source(layer) -> ImageSource:
    """Check an Image layer and describe it; InputError names what is wrong."""
    import napari.layers

    if layer is None:
        raise InputError("no image layer: open an image (File › Open, or File › Open Sample › "
                         "damaged sample) "
                         "and choose it in the widget")
    if not isinstance(layer, napari.layers.Image):
        raise InputError(f"layer '{layer.name}' is a {type(layer).__name__} layer, not an image")
    data = layer.data[0] if layer.multiscale else layer.data
    rgb = bool(layer.rgb)
    spatial = 3 if rgb else 2
    if data.ndim < spatial:
        raise InputError(f"image '{layer.name}': data of shape {data.shape} has fewer than 2 "
                         "spatial axes")
    lead = data.ndim - spatial
    shape = tuple(int(s) for s in data.shape)
    if 0 in shape:
        raise InputError(f"image '{layer.name}' is empty (shape {shape})")
    return ImageSource(layer.name, data, rgb, shape[:lead], shape[lead:lead + 2])


def current_index(viewer, layer, src: ImageSource) -> tuple:
    """Leading-axes index of the slice the viewer shows for `layer`."""
    if not src.leading:
        return ()
    pos = layer.world_to_data(viewer.dims.point)
    return tuple(int(np.clip(round(float(p)), 0, n - 1))
                 for p, n in zip(pos[:len(src.leading)], src.leading))


def slice_indices(src: ImageSource, current: tuple, all_slices: bool) -> list[tuple]:
    if not src.leading:
        return [()]
    if all_slices:
        return list(np.ndindex(*src.leading))
    return [current]


def _per_slice(layer, src: ImageSource, indices, role: str, convert) -> dict:
    """{slice index: convert(plane)} from a layer the size of the image's planes (one plane for
    every slice, converted once) or of its whole stack; InputError when it is neither."""
    data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    shape = tuple(int(s) for s in data.shape)
    if shape == tuple(src.plane_shape):
        plane = convert(np.asarray(data))
        return {idx: plane for idx in indices}
    if shape == src.full_shape:
        return {idx: convert(np.asarray(data[idx])) for idx in indices}
    want = f"{tuple(src.plane_shape)}" + (f" or {src.full_shape}" if src.leading else "")
    raise InputError(f"{role} layer '{layer.name}' has shape {shape}, which does not match the "
                     "image "
                     f"'{src.name}': expected {want}")


def _labels_planes(layer, src: ImageSource, indices, role: str) -> dict:
    # label ids are not weights: any nonzero label selects the pixel fully (the core reads uint8 as
    # a soft 0..255 selection). `> 0` also makes a snapshot, so painting during the run changes
    # nothing.
    return _per_slice(layer, src, indices, role, lambda plane: plane > 0)


def _shapes_planes(layer, image_layer, src: ImageSource, indices, role: str) -> dict:
    """Rasterise the Shapes layer's shapes into (H, W) bool planes, in the image's pixel grid.

    A 2-D Shapes layer applies to every slice of a stack; an n-D one applies each shape to the slice
    it was drawn on. Vertices go through world coordinates, so differently scaled/translated layers
    line up.
    """
    import napari.layers

    if len(layer.data) == 0:
        raise InputError(f"{role} layer '{layer.name}' has no shapes: draw a rectangle or polygon, "
                         "or choose no region")
    n_lead = len(src.leading)
    groups: dict = {}  # slice index (or None = every slice) -> [(vertices HxW coords, shape type)]
    for verts, kind in zip(layer.data, layer.shape_type):
        mapped = np.array([image_layer.world_to_data(layer.data_to_world(v))
                           for v in np.asarray(verts)])
        key = None
        if layer.ndim > 2 and n_lead:
            lead = np.round(mapped[:, :n_lead]).astype(int)
            key = tuple(int(v) for v in lead[0])
        groups.setdefault(key, []).append((mapped[:, -2:], kind))

    def raster(items) -> np.ndarray:
        tmp = napari.layers.Shapes([v for v, _ in items], shape_type=[k for _, k in items])
        return np.asarray(tmp.to_masks(mask_shape=tuple(src.plane_shape))).any(axis=0)

    everywhere = raster(groups.pop(None)) if None in groups else None
    planes = {}
    for idx in indices:
        plane = everywhere
        if idx in groups:
            own = raster(groups[idx])
            plane = own if plane is None else (plane | own)
        planes[idx] = plane if plane is not None else np.zeros(tuple(src.plane_shape), bool)
    return planes


def selection_planes(layer, image_layer, src: ImageSource, indices, role: str) -> dict | None:
    """{slice index: (H, W) plane} from a Shapes or Labels layer, or None when no layer is
    chosen."""
    import napari.layers

    if layer is None:
        return None
    if isinstance(layer, napari.layers.Shapes):
        return _shapes_planes(layer, image_layer, src, indices, role)
    if isinstance(layer, napari.layers.Labels):
        return _labels_planes(layer, src, indices, role)
    raise InputError(f"{role} layer '{layer.name}' is a {type(layer).__name__} layer; use a "
                     "Shapes or Labels layer")


def infrared_planes(layer, src: ImageSource, indices) -> dict | None:
    """{slice index: (H, W) plane} of a film scan's infrared layer (a gray Image layer the size
    of the image's planes or of its whole stack), or None when none is chosen."""
    import napari.layers

    if layer is None:
        return None
    if not isinstance(layer, napari.layers.Image) or layer.rgb:
        raise InputError(f"infrared layer '{layer.name}' must be a gray image layer (the "
                         "scanner's infrared plane)")
    return _per_slice(layer, src, indices, "infrared", to_core)


def with_infrared(plane, infrared: np.ndarray) -> np.ndarray:
    """R, G, B and infrared as one float32 image, what unscratch.detect(method="infrared") reads."""
    from unscratch.arrays import colour_planes, to_float, to_rgb_float

    return np.dstack([to_rgb_float(colour_planes(np.asarray(plane))), to_float(infrared)])


def require_nonempty(planes: dict | None, layer, role: str, hint: str) -> None:
    if planes is None:
        return
    if not any(np.any(p) for p in planes.values()):
        where = " on this slice" if len(planes) == 1 and () not in planes else ""
        raise InputError(f"{role} layer '{layer.name}' selects no pixels{where}; {hint}")


def to_core(plane: np.ndarray) -> np.ndarray:
    """The core takes uint8, uint16 and float32 in [0, 1]; napari often holds float64: compute in
    float32.

    Float data outside [0, 1] (e.g. raw microscope counts) is refused rather than silently clipped.
    """
    if plane.dtype.kind == "f" and plane.size:
        _check_unit_range(float(np.nanmin(plane)), float(np.nanmax(plane)))
    if plane.dtype == np.float64:
        return plane.astype(np.float32)
    return plane


def _check_unit_range(lo: float, hi: float) -> None:
    if lo < 0.0 or hi > 1.0:
        raise InputError(f"float image values must lie in [0, 1], this one spans {lo:g}..{hi:g}; "
                         "rescale it (or convert to uint16) first")


def from_core(result: np.ndarray, original: np.ndarray, work: np.ndarray) -> np.ndarray:
    """Back to the layer's dtype; for float64, pixels the core left alone keep their exact
    float64 value."""
    if original.dtype == np.float64:
        out = original.copy()
        changed = result != work
        out[changed] = result[changed]
        return out
    return result


def difference(original: np.ndarray, restored: np.ndarray) -> np.ndarray:
    """|restored − original| per pixel, the largest over the colour planes (alpha ignored), in
    the input dtype."""
    a, b = original, restored
    if a.ndim == 3:
        a, b = a[..., :3], b[..., :3]
    wide = np.float64 if a.dtype.kind == "f" else np.int64
    d = np.abs(b.astype(wide) - a.astype(wide))
    if d.ndim == 3:
        d = d.max(axis=2)
    return d.astype(original.dtype)


def overlay(plane, patches: list):
    """The restored plane of a lazy source: a dask array whose chunks are the input's chunks with
    the repaired pixels written over them (nothing is computed until napari draws a chunk)."""
    import dask.array as da

    def chunk(block, block_info=None):
        (y0, _), (x0, _) = block_info[0]["array-location"][:2]
        block = block.copy()
        for patch in patches:
            patch.apply(block, y0, x0)
        return block

    if plane.ndim == 3:
        plane = plane.rechunk({2: -1})  # a patch writes all colour planes of a pixel at once
    return da.map_blocks(chunk, plane, dtype=plane.dtype)


def patch_difference(plane, patches: list):
    """|restored − original| (largest over the colour planes) of a lazy restoration, as a lazy
    (H, W) array in the input's dtype: zero except at the patches' pixels, so no input chunk is
    read."""
    import dask.array as da

    shape, dtype = tuple(plane.shape[:2]), np.dtype(plane.dtype)
    wide = np.float64 if dtype.kind == "f" else np.int64

    def chunk(block, block_info=None):
        (y0, y1), (x0, x1) = block_info[0]["array-location"]
        out = block.copy()
        for p in patches:
            inside = (p.rows >= y0) & (p.rows < y1) & (p.cols >= x0) & (p.cols < x1)
            if inside.any():
                d = np.abs(p.values[inside].astype(wide) - p.old[inside].astype(wide)).max(axis=1)
                out[p.rows[inside] - y0, p.cols[inside] - x0] = d.astype(dtype)
        return out

    return da.map_blocks(chunk, da.zeros(shape, dtype=dtype, chunks=plane.chunks[:2]), dtype=dtype)


def patch_stats(patches: list) -> tuple[float, int]:
    """(largest change, number of pixels changed) of a patch list, for the status line and
    contrast."""
    top, changed = 0.0, 0
    for p in patches:
        d = np.abs(p.values.astype(np.float64) - p.old.astype(np.float64)).max(axis=1)
        if d.size:
            top, changed = max(top, float(d.max())), changed + int(np.count_nonzero(d))
    return top, changed


def compose(base, updates: dict, leading: tuple):
    """Layer data for a stack output: `base` with the given slices replaced.

    numpy `base` is modified in place and returned (callers pass an array they own). Anything else
    (dask, zarr) stays lazy: the result is a dask array whose processed slices are the new in-memory
    planes and whose other slices still read from `base` on demand.
    """
    if not leading:
        return updates[()]
    if isinstance(base, np.ndarray):
        for idx, plane in updates.items():
            base[idx] = plane
        return base
    import dask.array as da

    if not isinstance(base, da.Array):
        base = da.from_array(base, chunks=(1,) * len(leading) + tuple(base.shape[len(leading):]))
    flat = []
    for idx in np.ndindex(*leading):
        if idx in updates:
            plane = updates[idx]
            if not isinstance(plane, da.Array):
                plane = da.from_array(plane, chunks=plane.shape)
            flat.append(plane)
        else:
            flat.append(base[idx])
    return da.stack(flat).reshape(tuple(leading) + tuple(base.shape[len(leading):]))


def lazy_view(src: ImageSource, chunks=None):
    """The source as a dask array (numpy input is wrapped, not copied); dask data keeps its own
    chunks, anything else is chunked one slice per chunk, or by `chunks` (e.g. "auto": tiles of a
    huge plane)."""
    import dask.array as da

    if isinstance(src.data, da.Array):
        return src.data
    if chunks is None:
        chunks = (1,) * len(src.leading) + tuple(src.data.shape[len(src.leading):])
    return da.from_array(src.data, chunks=chunks)


def zeros_like_stack(src: ImageSource, plane_shape: tuple, dtype, *, lazy: bool | None = None):
    """Zeros of (leading + plane_shape): numpy, or lazy dask zeros for a lazy source (nothing
    allocated)."""
    lazy = src.lazy if lazy is None else lazy
    shape = tuple(src.leading) + tuple(plane_shape)
    if lazy and src.leading:
        import dask.array as da
        return da.zeros(shape, dtype=dtype, chunks=(1,) * len(src.leading) + tuple(plane_shape))
    return np.zeros(shape, dtype=dtype)

"""The layers and words of a Restore (Restore selection, _restore.py): the provenance its output
layers carry (`meta`), the sentence shown after it (`summary_text`), and the image's first result
and difference layers, placed directly above the image (`add_layers`)."""
from __future__ import annotations

from unscratch.hostkit import marks_name, result_name, summary

from . import _marks
from ._job import index_list, layer_kwargs, provenance
from ._layers import compose, lazy_view, unwrap, zeros_like_stack


def meta(job, output: str, models: dict, slices, repairs: int) -> dict:
    """The provenance a Restore output layer carries (metadata['unscratch'])."""
    detector = models.get("detector")
    if detector is None and job.mask_provenance:
        detector = job.mask_provenance.get("detector")
    used = [m for m in (detector, models.get("inpainter")) if m]
    mask_threshold = job.mask_provenance.get("threshold") if job.mask_provenance else None
    if job.detected:
        mask_threshold = models["rule"].get("threshold")
    return provenance(
        operation="restore", output=output, source_layer=job.src.name, models=used,
        inpainter=models.get("inpainter"), detector=detector, threshold=mask_threshold,
        mask_provenance=job.mask_provenance,
        parameters={"mode": job.mode, "mask_layer": job.mask_name,
                    "region_layer": job.region_name,
                    "method": "auto",
                    "dilate": models["rule"]["dilate"],
                    "feather": models["rule"]["feather"],
                    "grain": True,
                    "slices": index_list(sorted(slices)),
                    "rule": models["rule"].get("rule"), "repairs": repairs,
                    "mask": "detected (the one rule)"
                    if job.detected
                    else ("layer" if job.mode == "defects" else "region is the hole")})


def summary_text(job, models: dict, changed: int, viewer, elapsed) -> str:
    """The sentence the widget shows after a Restore."""
    info = dict(models["rule"], repaired_pixels=changed)
    op = "fill" if job.mode == "fill" else "restore"
    missing = unused = None
    if op == "restore" and job.masks is None:
        marks = _marks.of_image(job.image, viewer)
        if marks is None:
            missing = marks_name(job.src.name)
        else:
            unused = marks.labels().name
    text = summary(op, info, elapsed, marks=job.mask_name, missing=missing,
                   fill_hint="mode 'fill region'")
    if unused is not None:
        text += f" (mask -----: the marks in '{unused}' were not used.)"
    return text


def add_layers(viewer, job, restored: dict, diffs: dict, top: float, models: dict):
    """The image's result and difference layers, directly above the image (under the marks
    and selections drawn over it)."""
    src, image = job.src, job.image
    lead = tuple(src.leading)
    # a stack: unprocessed slices read the input lazily (a view that is never written to)
    data = compose(lazy_view(src), restored, lead) if lead else restored[()]
    first = diffs[next(iter(diffs))]
    dzero = zeros_like_stack(src, first.shape, first.dtype, lazy=True)
    ddata = compose(dzero, diffs, lead) if lead else diffs[()]
    kwargs = layer_kwargs(image)
    # shown as the original is: an additive channel of a multichannel view stays additive
    extra = {"blending": image.blending, "opacity": image.opacity, "gamma": image.gamma}
    if not image.rgb:
        extra["colormap"] = image.colormap.name
    taken = [x.name for x in viewer.layers]
    name = result_name(image.name, "restore", taken)
    # with their provenance from the start: other widgets pick new outputs up by it
    diff_layer = unwrap(viewer.add_image(
        ddata, name=f"{name[:-1]} difference)", colormap="magma", visible=False,
        contrast_limits=(0, max(top, 1e-6)),
        metadata=meta(job, "difference", models, set(restored), 1), **kwargs))
    out_layer = unwrap(viewer.add_image(
        data, name=name, rgb=image.rgb, contrast_limits=tuple(image.contrast_limits),
        metadata=meta(job, "restored", models, set(restored), 1), **extra, **kwargs))
    layers = [unwrap(x) for x in viewer.layers]
    above = layers.index(image) + 1
    for layer in (diff_layer, out_layer):
        viewer.layers.move(layers.index(layer), above)
        layers = [unwrap(x) for x in viewer.layers]
        above = layers.index(layer) + 1
    return out_layer, diff_layer

"""The "Restoration metrics" dock widget: PSNR and SSIM of an image against a reference, inside
and outside a mask, on the slice on screen."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unscratch import InputError
from unscratch import metrics as _metrics

from ._job import JobWidget, layer_combo, output_kind
from ._layers import current_index, image_source, selection_planes


@dataclass
class _MetricsJob:
    reference: np.ndarray
    image: np.ndarray
    mask: np.ndarray | None
    names: tuple


class MetricsWidget(JobWidget):
    """PSNR and SSIM of an image against a reference, inside and outside a mask (on the slice on
    screen)."""
    title = "Restoration metrics"
    run_text = "Compute"
    cancellable = False

    def __init__(self, napari_viewer):
        from napari.layers import Image, Labels

        reference = layer_combo(napari_viewer, "reference", Image,
                                "the clean image to compare against")
        image = layer_combo(napari_viewer, "image", Image, "the image to score (e.g. a restored "
                            "result)")
        mask = layer_combo(napari_viewer, "mask", Labels,
                           "Labels layer: report inside and outside it", nullable=True)
        self.result: dict | None = None
        super().__init__(napari_viewer, [reference, image, mask])
        for layer in self._layers(Image):
            if "reference" in layer.name.lower():
                self.reference.value = layer
                break

    def _on_inserted(self, layer) -> None:
        kind = output_kind(layer)
        try:
            if kind == "restored":
                self.image.value = layer
            elif kind == "mask":
                self.mask.value = layer
        except ValueError:
            pass

    def _prepare(self) -> _MetricsJob:
        viewer = self.viewer
        ref_layer, img_layer, mask_layer = self.reference.value, self.image.value, self.mask.value
        if ref_layer is None or img_layer is None:
            raise InputError("choose a reference image and an image to score")
        ref_src, img_src = image_source(ref_layer), image_source(img_layer)
        if ref_src.full_shape != img_src.full_shape or ref_src.rgb != img_src.rgb:
            raise InputError(f"image '{img_src.name}' has shape {tuple(img_src.data.shape)}, the "
                             f"reference '{ref_src.name}' {tuple(ref_src.data.shape)}: they must "
                             "match")
        idx = current_index(viewer, img_layer, img_src)
        mask = None
        if mask_layer is not None:
            mask = selection_planes(mask_layer, img_layer, img_src, [idx], "mask")[idx]
        return _MetricsJob(ref_src.plane(idx), img_src.plane(idx), mask,
                           (ref_src.name, img_src.name,
                            mask_layer.name if mask_layer is not None else None))

    @staticmethod
    def _compute(job: _MetricsJob, progress, cancel) -> dict:
        ref, img = job.reference, job.image
        rng = _metrics.data_range_for(ref.dtype)
        if ref.dtype.kind == "f" and img.dtype.kind == "f":
            rng = 1.0
        result = _metrics.compare(ref, img, job.mask, data_range=rng)
        progress(1.0)
        return result

    def _apply(self, job: _MetricsJob, result: dict) -> str:
        self.result = dict(result, reference=job.names[0], image=job.names[1], mask=job.names[2])
        self.outputs = {"metrics": self.result}

        def f(v, digits):
            return "—" if v is None or v != v else ("∞" if v == float("inf") else f"{v:.{digits}f}")

        rows = [("PSNR (dB)", "psnr", 2), ("SSIM", "ssim", 4)]
        if job.mask is not None:
            head = "<tr><th></th><th>inside mask</th><th>outside</th><th>all</th></tr>"
            body = "".join(f"<tr><td>{t}</td><td>{f(result[k + '_inside'], d)}</td>"
                           f"<td>{f(result[k + '_outside'], d)}</td><td>{f(result[k], d)}</td></tr>"
                           for t, k, d in rows)
            body += (f"<tr><td>pixels</td><td>{result['pixels_inside']}</td>"
                     f"<td>{result['pixels_outside']}</td><td>{result['pixels']}</td></tr>")
        else:
            head = "<tr><th></th><th>all</th></tr>"
            body = "".join(f"<tr><td>{t}</td><td>{f(result[k], d)}</td></tr>" for t, k, d in rows)
        return (f"<b>{job.names[1]}</b> vs <b>{job.names[0]}</b>"
                f"<table cellspacing='6'>{head}{body}</table>")

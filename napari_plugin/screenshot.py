"""Save docs/napari.png: the damaged sample with a Shapes selection and the detected marks, the
restored image beside it, and the "Detect scratches", "Restore selection" and "Restoration
metrics" widgets docked. (The step-by-step walkthrough, docs/napari-walkthrough/, is taken by
tests/test_napari.py::test_walkthrough_screenshots.)

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python napari_plugin/screenshot.py [out.png]

Everything goes through the plug-in as a user would: File › Open Sample › damaged sample, a
rectangle drawn in a Shapes layer as the selection, the card's default threshold, then the widgets'
buttons. Only the display is arranged for the picture: the restored layer is shifted to the right
of the original.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

# (row, col) corners: sky, rocket, long scratch
REGION = [[0, 280], [0, 511], [180, 511], [180, 280]]


def main(out: Path) -> Path:
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(title="unscratch in napari", show=True)
    viewer.window.resize(1700, 900)
    viewer.open_sample("unscratch", "damaged")
    viewer.add_shapes([np.array(REGION, float)], shape_type="rectangle", name="selection",
                      edge_color="yellow", face_color="transparent", edge_width=3)
    _, detect = viewer.window.add_plugin_dock_widget("unscratch", "Detect scratches")
    _, restore = viewer.window.add_plugin_dock_widget("unscratch", "Restore selection",
                                                      tabify=False)
    _, metrics = viewer.window.add_plugin_dock_widget("unscratch", "Restoration metrics",
                                                      tabify=False)

    detect.image.value = viewer.layers["damaged sample"]
    detect.region.value = viewer.layers["selection"]
    detect.buttons.run_button.native.click()
    detect.wait()
    restore.region.value = viewer.layers["selection"]
    restore.buttons.run_button.native.click()
    restore.wait()
    metrics.buttons.run_button.native.click()
    metrics.wait()

    # side by side: damaged + selection + mask on the left, restored on the right
    damaged = viewer.layers["damaged sample"]
    restored = restore.outputs["restored"]
    width = damaged.data.shape[1]
    restored.translate = (0, width + 24)
    detect.outputs["mask"].opacity = 0.6
    detect.outputs["mask"].visible = True  # Restore selection hid the marks it used
    text = viewer.canvas.overlays["text"]
    text.visible = True
    text.text = ("left: damaged sample, selection (Shapes), detected marks (red Labels)     "
                 "right: restored")
    text.font_size = 11
    # the same rectangle drawn over the restored image, to show where it changed (display only)
    viewer.add_shapes([np.array(REGION, float) + [0, width + 24]], shape_type="rectangle",
                      name="selection (shown on restored)", edge_color="yellow",
                      face_color="transparent", edge_width=3)
    viewer.layers.selection.active = detect.outputs["mask"]
    viewer.reset_view()
    for _ in range(20):
        QApplication.processEvents()
    # close toasts (e.g. napari's PyQt5 deprecation notice)
    for widget in QApplication.allWidgets():
        if type(widget).__name__ == "NapariQtNotification":
            widget.close()
    for _ in range(20):
        QApplication.processEvents()
    out.parent.mkdir(parents=True, exist_ok=True)
    shot = viewer.screenshot(path=str(out), canvas_only=False, flash=False)
    print(f"saved {out} {shot.shape}")
    print("detect:", detect.status.value)
    print("restore:", restore.status.value)
    print("metrics:", {k: (round(v, 4) if isinstance(v, float) else v)
                       for k, v in metrics.result.items()})
    assert np.asarray(shot).std() > 5, "the screenshot is blank"
    viewer.close()
    return out


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else root / "docs" / "napari.png")

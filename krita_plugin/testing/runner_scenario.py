"""Scenario for `kritarunner -s runner_scenario -f main` (real Krita, no window, no X server).

Runs the installed plug-in's host logic (unscratch_krita.host, from the pykrita folder on
PYTHONPATH) on real Krita documents at every supported depth and colour model, and on the cases that
must fail with a message. kritarunner exits 0 even when a script raises, so everything is caught and
the facts go to $UNSCRATCH_KRITA_OUT/result.json plus raw pixel dumps; tests/test_krita_host.py
judges.
"""

import json
import os
import sys
import time
import traceback

OUT = os.environ.get("UNSCRATCH_KRITA_OUT", ".")
PROFILES = {"RGBA": "sRGB-elle-V2-srgbtrc.icc", "GRAYA": "Gray-D50-elle-V2-srgbtrc.icc"}


def main(*args):
    result = {"cases": {}, "errors": [], "python": sys.version.split()[0]}
    try:
        _main(result)
    except BaseException:
        result["errors"].append("main: " + traceback.format_exc())
    with open(os.path.join(OUT, "result.json.part"), "w") as fh:
        json.dump(result, fh, indent=1)
    os.replace(os.path.join(OUT, "result.json.part"), os.path.join(OUT, "result.json"))


def _main(result):
    from krita import Krita, Selection

    import unscratch_krita.host as host

    app = Krita.instance()
    app.setBatchmode(True)
    result["krita"] = app.version()
    result["plugin"] = host.__file__
    rect = [int(v) for v in os.environ["UNSCRATCH_KRITA_RECT"].split(",")]

    def dump(name, data, doc, node):
        with open(os.path.join(OUT, name + ".bin"), "wb") as fh:
            fh.write(bytes(data))
        model, depth = ("A", "U8") if node is None else (node.colorModel(), node.colorDepth())
        return {
            "file": name + ".bin",
            "w": doc.width(),
            "h": doc.height(),
            "model": model,
            "depth": depth,
        }

    def open_doc(path, model=None, depth=None):
        doc = app.openDocument(path)
        if doc is None:
            raise RuntimeError("cannot open " + path)
        doc.setBatchmode(True)
        doc.waitForDone()
        if model and (model, depth) != (doc.colorModel(), doc.colorDepth()):
            if not doc.setColorSpace(model, depth, PROFILES.get(model, "")):
                raise RuntimeError(f"cannot convert to {model}/{depth}")
            doc.waitForDone()
        return doc

    def paint_layer(doc):
        return [n for n in doc.topLevelNodes() if n.type() == "paintlayer"][0]

    def case(
        name, path, op="restore", model=None, depth=None, select=255, settings=None, prepare=None
    ):
        t0 = time.monotonic()
        try:
            doc = open_doc(path, model, depth)
            node = paint_layer(doc)
            if prepare:
                node = prepare(doc, node) or node
            if select is not None:
                s = Selection()
                s.select(rect[0], rect[1], rect[2], rect[3], select)
                doc.setSelection(s)
            w, h = doc.width(), doc.height()
            info = {"doc": [doc.colorModel(), doc.colorDepth(), doc.colorProfile()]}
            info["source"] = dump(name + "_source", node.pixelData(0, 0, w, h), doc, node)
            count = len(doc.topLevelNodes())
            r = host.run(
                op, doc, node=None if prepare is None else node, settings=settings, ui=host.NullUI()
            )
            info["result"] = r.as_dict()
            info["layers"] = [
                (n.name(), n.type(), n.colorModel(), n.colorDepth()) for n in doc.topLevelNodes()
            ]
            info["layers_added"] = len(doc.topLevelNodes()) - count
            if r.layer is not None:
                info["new"] = dump(name + "_new", r.layer.pixelData(0, 0, w, h), doc, r.layer)
                parent = r.layer.parentNode()
                siblings = [n.name() for n in parent.childNodes()]  # bottom first
                info["above_source"] = (
                    siblings.index(r.layer.name()) == siblings.index(node.name()) + 1
                )
            doc.refreshProjection()
            doc.waitForDone()
            info["projection"] = dump(name + "_projection", doc.pixelData(0, 0, w, h), doc, doc)
            info["source_after"] = dump(
                name + "_source_after", node.pixelData(0, 0, w, h), doc, node
            )
            sel = doc.selection()
            if sel is not None:
                info["selection"] = dump(name + "_selection", sel.pixelData(0, 0, w, h), doc, None)
            info["seconds"] = round(time.monotonic() - t0, 3)
            result["cases"][name] = info
            doc.setModified(False)
            doc.close()
        except BaseException:
            result["errors"].append(f"{name}: " + traceback.format_exc())

    in8, in16 = os.environ["UNSCRATCH_KRITA_IN8"], os.environ["UNSCRATCH_KRITA_IN16"]
    case("rgba_u8", in8)
    case("rgba_u16", in16)
    case("rgba_f16", in16, model="RGBA", depth="F16")
    case("rgba_f32", in16, model="RGBA", depth="F32")
    case("graya_u8", in8, model="GRAYA", depth="U8")
    case("graya_u16", in16, model="GRAYA", depth="U16")
    case("graya_f32", in16, model="GRAYA", depth="F32")
    case("soft_selection", in8, select=128)
    case("fill_u16", in16, op="fill")
    case("detect_layer", in8, op="detect")
    case("detect_selection", in8, op="detect", settings=host.Settings(detect_output="selection"))
    case("detect_threshold_1", in8, op="detect", settings=host.Settings(threshold=1.0))
    case("cmyk_refused", in8, model="CMYKA", depth="U8")
    case("fill_without_selection", in8, op="fill", select=None)

    def in_group(doc, node):
        group = doc.createGroupLayer("group")
        doc.rootNode().addChildNode(group, None)
        copy = node.duplicate()
        copy.setName("inner")
        group.addChildNode(copy, None)
        node.setVisible(False)
        return copy

    case("layer_in_group", in8, prepare=in_group)

    # a damaged photo with a rectangle selected, nothing detected beforehand: the selection says
    # where the damage is
    photo = os.environ["UNSCRATCH_KRITA_PHOTO"]
    rect[:] = [int(v) for v in os.environ["UNSCRATCH_KRITA_PHOTO_RECT"].split(",")]
    case("photo_selection", photo)

    def detected(path):
        """(doc, its paint layer, the marks layer Detect made on it, w, h, facts) for `path`."""
        doc = open_doc(path)
        node = paint_layer(doc)
        info = {"detect": host.run("detect", doc, node=node, ui=host.NullUI()).as_dict()}
        marks = [n for n in doc.topLevelNodes() if n.name().endswith("(scratches)")][0]
        return doc, node, marks, doc.width(), doc.height(), info

    # Detect, erase the left half of its marks, Restore with Detect's layer active: what is left
    # is repaired
    try:
        doc, node, marks, w, h, info = detected(photo)
        info["marks_detected"] = dump(
            "edit_marks_detected", marks.pixelData(0, 0, w, h), doc, marks
        )
        data = bytearray(marks.pixelData(0, 0, w, h))
        for y in range(
            h
        ):  # the user erases the marks on the left half (8-bit BGRA: 4 bytes a pixel)
            data[y * w * 4 : (y * w + w // 2) * 4] = bytes(w // 2 * 4)
        marks.setPixelData(bytes(data), 0, 0, w, h)
        info["marks"] = dump("edit_marks", marks.pixelData(0, 0, w, h), doc, marks)
        info["source"] = dump("edit_source", node.pixelData(0, 0, w, h), doc, node)
        doc.setActiveNode(marks)
        r = host.run("restore", doc, ui=host.NullUI())
        info["result"] = r.as_dict()
        info["marks_visible"] = marks.visible()
        if r.layer is not None:
            info["new"] = dump("edit_new", r.layer.pixelData(0, 0, w, h), doc, r.layer)
        marks.setPixelData(bytes(len(data)), 0, 0, w, h)  # every mark erased: nothing to repair
        count = len(doc.topLevelNodes())
        ui = host.NullUI()
        r = host.run("restore", doc, node=node, ui=ui)
        info["none"] = dict(r.as_dict(), layers_added=len(doc.topLevelNodes()) - count)
        result["cases"]["detect_edit_restore"] = info
        doc.setModified(False)
        doc.close()
    except BaseException:
        result["errors"].append("detect_edit_restore: " + traceback.format_exc())

    # a clean photo with a rope-like slanted line: Detect, then Restore with Detect's marks as they
    # are; and in a second copy Restore with no marks (the detector's own rule)
    line = os.environ["UNSCRATCH_KRITA_LINE"]
    try:
        doc, node, marks, w, h, info = detected(line)
        info["marks"] = dump("line_marks", marks.pixelData(0, 0, w, h), doc, marks)
        info["source"] = dump("line_source", node.pixelData(0, 0, w, h), doc, node)
        doc.setActiveNode(marks)
        r = host.run("restore", doc, ui=host.NullUI())
        info["result"] = r.as_dict()
        info["new"] = dump("line_new", r.layer.pixelData(0, 0, w, h), doc, r.layer)
        doc.setModified(False)
        doc.close()
        doc = open_doc(line)
        node = paint_layer(doc)
        r = host.run("restore", doc, node=node, ui=host.NullUI())
        info["unmarked"] = r.as_dict()
        info["unmarked_new"] = dump("line_unmarked_new", r.layer.pixelData(0, 0, w, h), doc,
                                    r.layer)
        result["cases"]["picture_line"] = info
        doc.setModified(False)
        doc.close()
    except BaseException:
        result["errors"].append("picture_line: " + traceback.format_exc())

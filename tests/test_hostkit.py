"""hostkit: what GIMP and Krita share without numpy (re-thresholding a stored detection)."""
from __future__ import annotations

import array

from unscratch import hostkit


def _prob(values):
    return array.array("f", values).tobytes()


def test_remark_keeps_erasures_and_a_mark_painted_back_over_one():
    """Four pixels, all detected at 0.5. The user erases pixel 1: re-thresholding keeps it erased.
    Then the user paints pixel 1 back: the next re-threshold keeps the painted mark."""
    det = hostkit.Detection(_prob([0.9, 0.9, 0.9, 0.2]), bytes([255, 255, 255, 0]), bytes(4), 0.5)
    region = bytes([255] * 4)
    erased_one = bytes([255, 0, 255, 0])
    marks, det, _, _ = hostkit.remark(det, erased_one, region, 0.5)
    assert marks == erased_one
    marks, det, _, _ = hostkit.remark(det, erased_one, region, 0.1)
    assert marks == bytes([255, 0, 255, 255]), "a lower sensitivity adds pixel 3, never pixel 1"
    painted_back = bytes([255, 255, 255, 255])
    marks, det, _, _ = hostkit.remark(det, painted_back, region, 0.5)
    assert marks[1] == 255, "the mark the user painted back stays"
    marks, det, _, _ = hostkit.remark(det, marks, region, 0.95)
    assert marks == bytes([0, 255, 0, 0]), "above its probability, only the user keeps pixel 1"
    marks, det, _, _ = hostkit.remark(det, marks, region, 0.5)
    assert marks == bytes([255, 255, 255, 0])


def test_remark_keep_out_does_not_creep():
    """A row of 12 pixels, all detected; the user erases pixel 0. New marks keep ERASED_REACH px
    away from it, and re-thresholding again and again keeps that distance (the pixels kept out
    are not taken for erased ones)."""
    n, reach = 12, hostkit.ERASED_REACH
    det = hostkit.Detection(_prob([0.9] * n), b"\xff" * n, bytes(n), 0.5)
    marks = bytes(1) + b"\xff" * (n - 1)
    for t in (0.3, 0.5, 0.3, 0.5):
        marks, det, _, _ = hostkit.remark(det, marks, b"\xff" * n, t, width=n)
        assert marks == bytes(reach + 1) + b"\xff" * (n - reach - 1), t


def test_remark_planes_is_the_same_rule_on_numpy():
    """napari uses the same function on bool arrays: the same marks as on bytes."""
    import numpy as np
    rng = np.random.default_rng(3)
    fresh, cur, old, erased, reg = (rng.random((5, 64)) < 0.5 for _ in range(5))
    want = hostkit.remark_planes(fresh, cur, old, erased, reg)

    def as_int(a):
        return int.from_bytes((a * 255).astype(np.uint8).tobytes(), "little")

    got = hostkit.remark_planes(*map(as_int, (fresh, cur, old, erased, reg)))
    assert [as_int(w) for w in want] == list(got)


def test_remark_the_users_pixels_win_at_every_threshold():
    """Pixel 3 (probability 0.2) painted by the user stays when a low sensitivity finds it and a
    high one drops it; pixel 0 painted back over an erasure, then erased again, stays erased."""
    det = hostkit.Detection(_prob([0.9, 0.9, 0.9, 0.2]), bytes([255, 255, 255, 0]), bytes(4), 0.5)
    region = bytes([255] * 4)
    marks, det, _, _ = hostkit.remark(det, bytes([255, 255, 255, 255]), region, 0.1)
    marks, det, _, _ = hostkit.remark(det, marks, region, 0.5)
    assert marks == bytes([255, 255, 255, 255]), "the painted pixel 3 stays"
    marks, det, _, _ = hostkit.remark(det, bytes([0, 255, 255, 255]), region, 0.5)
    marks, det, _, _ = hostkit.remark(det, bytes([255, 255, 255, 255]), region, 0.95)
    assert marks == bytes([255, 0, 0, 255]), "painted back: the user's at 0.95"
    marks, det, _, _ = hostkit.remark(det, bytes([0, 0, 0, 255]), region, 0.5)
    assert marks == bytes([0, 255, 255, 255]), "erased again: stays erased"

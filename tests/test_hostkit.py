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

"""strokes: the Bezier strokes the simulator, demo.py and the tests draw."""
from __future__ import annotations

import numpy as np

from unscratch.strokes import bezier, curved_stroke


def test_bezier_runs_from_the_first_control_point_to_the_last():
    ctrl = np.array([[0.0, 0.0], [10.0, 40.0], [30.0, -20.0], [50.0, 5.0]])
    pts = bezier(ctrl, 9)
    assert pts.shape == (9, 2)
    np.testing.assert_allclose(pts[0], ctrl[0])
    np.testing.assert_allclose(pts[-1], ctrl[3])
    straight = bezier(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]), 7)
    np.testing.assert_allclose(straight[:, 0], straight[:, 1])


def test_a_curved_stroke_is_thin_and_seeded():
    a = curved_stroke(64, 80, np.random.default_rng(3))
    b = curved_stroke(64, 80, np.random.default_rng(3))
    assert a.shape == (64, 80) and a.dtype == np.float32 and np.array_equal(a, b)
    assert 0 < (a > 0.5).mean() < 0.2 and a.max() <= 1.0

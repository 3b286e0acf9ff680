"""choices.check_choice: the one check for a setting that takes one of a few words."""
from __future__ import annotations

import numpy as np
import pytest

from unscratch.choices import check_choice
from unscratch.errors import InputError
from unscratch.strokes import bezier, curved_stroke


def test_a_word_outside_the_choices_is_named_with_them():
    check_choice("mode", "fill", ("defects", "fill"))
    with pytest.raises(InputError, match=r"^mode: 'fil' is not one of defects, fill$"):
        check_choice("mode", "fil", ("defects", "fill"))
    with pytest.raises(InputError, match="--format: None is not one of tif, png"):
        check_choice("--format", None, iter(["tif", "png"]))


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

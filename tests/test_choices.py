"""choices.check_choice: the one check for a setting that takes one of a few words."""
from __future__ import annotations

import pytest

from unscratch.choices import check_choice
from unscratch.errors import InputError


def test_a_word_outside_the_choices_is_named_with_them():
    check_choice("mode", "fill", ("defects", "fill"))
    with pytest.raises(InputError, match=r"^mode: 'fil' is not one of defects, fill$"):
        check_choice("mode", "fil", ("defects", "fill"))
    with pytest.raises(InputError, match="--format: None is not one of tif, png"):
        check_choice("--format", None, iter(["tif", "png"]))

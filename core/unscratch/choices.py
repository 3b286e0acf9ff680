"""One check for a setting that takes one of a few words (a method, a mode, a format)."""
from __future__ import annotations

from collections.abc import Iterable

from .errors import InputError


def check_choice(name: str, value, choices: Iterable[str]) -> None:
    """Raise InputError "NAME: 'VALUE' is not one of A, B, C" unless ``value`` is one of
    ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise InputError(f"{name}: {value!r} is not one of {', '.join(choices)}")

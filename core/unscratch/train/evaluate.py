"""``unscratch eval``: cli.py imports the command from here; it lives in ``eval/cli.py``."""
from .eval.cli import main

__all__ = ["main"]

"""The command line's progress bars (cli, demo and batch): fed with fractions, as api's `progress`
calls give them. Drawn only when stderr is a terminal: in a log file or a pipe a bar is noise, and
the error line after it would not start a line of its own."""
from __future__ import annotations

import sys

_drawn = [False]  # a bar was drawn and may have left the cursor inside a line


def wanted(quiet: bool = False) -> bool:
    """Whether to draw bars: not asked to be quiet, and stderr is a terminal."""
    try:
        return not quiet and sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced stderr
        return False


def end_line() -> None:
    """Make sure what is printed next on stderr starts a line (after a bar was drawn)."""
    if _drawn[0]:
        _drawn[0] = False
        print(file=sys.stderr, end="\r\033[K" if wanted() else "\n")


def tqdm_bar(**kwargs):
    """A tqdm bar on stderr, or None when bars are not wanted (see `wanted`)."""
    if not wanted(kwargs.pop("quiet", False)):
        return None
    from tqdm import tqdm
    _drawn[0] = True
    return tqdm(file=sys.stderr, **kwargs)


class Bar:
    """A tqdm progress bar fed with fractions; a no-op when bars are not wanted."""

    def __init__(self, desc: str, quiet: bool):
        self.bar = tqdm_bar(quiet=quiet, total=1000, desc=desc, unit="‰", leave=False,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")

    def __call__(self, fraction: float) -> None:
        if self.bar is not None:
            self.bar.update(int(fraction * 1000) - self.bar.n)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            end_line()

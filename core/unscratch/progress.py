"""The command line's progress bar (cli and demo): fed with fractions, as api's `progress` calls
give them."""
from __future__ import annotations

import sys


class Bar:
    """A tqdm progress bar fed with fractions; a no-op when stderr is not wanted."""

    def __init__(self, desc: str, quiet: bool):
        self.bar = None
        if not quiet:
            from tqdm import tqdm
            self.bar = tqdm(total=1000, desc=desc, unit="‰", leave=False, file=sys.stderr,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")

    def __call__(self, fraction: float) -> None:
        if self.bar is not None:
            self.bar.update(int(fraction * 1000) - self.bar.n)

    def close(self):
        if self.bar is not None:
            self.bar.close()

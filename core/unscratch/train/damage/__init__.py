"""Damage families of the simulator, one module each, and the table of their shares.

A damaged sample draws a few families (by share, without replacement) and each draws its defects
onto a :class:`~.draw.Canvas`. ``FAMILIES`` = {name: share}: the weight with which a family is drawn
for a damaged sample. Print families (cracks ... scuffs) make the medium a print; film families
happen on any medium.

    sprites    film damage scanned from real film (overlay folder): scratches, hair, dots, lint,
               dirt, stains
    scratches  long Bezier scratches and vertical film-transport scratches
    dust       specks, mostly tiny, of one or two polarities
    fibres     short fibres and hairs
    blotches   water stains and emulsion blotches with a tide line
    cracks     branching jagged crack networks, paper-bright or dirt-dark, flakes of emulsion
               along them
    creases    creases and folds: a light and a shadow side, often cracked along the spine
    losses     emulsion loss (emulsion.py), torn edges and corners: large opaque areas of paper
               (or background) colour
    foxing     foxing (rust-brown spot clusters) and mould colonies
    scuffs     bundles of fine light lines
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from . import blotches, cracks, creases, dust, emulsion, fibres, foxing, scratches, scuffs, sprites
from .draw import Canvas

FAMILIES = {
    "sprites": 0.18, "scratches": 0.13, "dust": 0.13, "fibres": 0.06, "blotches": 0.05,
    "cracks": 0.18, "creases": 0.07, "losses": 0.07, "foxing": 0.06, "scuffs": 0.07,
}
PRINT_FAMILIES = ("cracks", "creases", "losses", "foxing", "scuffs")
# drawing order: large areas first, fine things last (dust lies on top of everything)
ORDER = ("losses", "blotches", "foxing", "creases", "cracks", "scratches", "scuffs", "sprites",
         "fibres", "dust")


def _pois(rng, lam, least=1) -> int:
    return max(least, int(rng.poisson(lam)))


# family -> number of defects for severity s and area factor af (more on bigger crops)
COUNTS: dict[str, Callable[[np.random.Generator, float, float], int]] = {
    "sprites": lambda rng, s, af: _pois(rng, (0.5 + 5.0 * s) * af),
    "scratches": lambda rng, s, af: _pois(rng, (0.2 + 2.5 * s) * min(af, 2)),
    "dust": lambda rng, s, af: _pois(rng, (2 + 60.0 * s ** 1.5) * af, 3),
    "fibres": lambda rng, s, af: _pois(rng, (0.3 + 3.0 * s) * af),
    "blotches": lambda rng, s, af: 1,
    "cracks": lambda rng, s, af: 1 + int(rng.poisson(0.8 * s * min(af, 2))),
    "creases": lambda rng, s, af: 1 + int(rng.random() < 0.3 * s),
    "losses": lambda rng, s, af: 1 + int(rng.poisson(0.8 * s)),
    "foxing": lambda rng, s, af: 1 + int(rng.poisson(2.0 * s * af)),
    "scuffs": lambda rng, s, af: 1 + int(rng.poisson(1.5 * s * af)),
}

_DRAW = {"scratches": scratches.draw, "dust": dust.draw, "fibres": fibres.draw,
         "blotches": blotches.draw, "cracks": cracks.draw, "creases": creases.draw,
         "losses": emulsion.draw, "foxing": foxing.draw, "scuffs": scuffs.draw}


def allowed(families: Iterable[str] | str | None = None,
            exclude: Iterable[str] | str | None = None) -> list[str]:
    """The families a sample may draw from: ``families`` (all when None) less ``exclude``."""
    def _names(x):
        names = [x] if isinstance(x, str) else list(x)
        bad = [n for n in names if n not in FAMILIES]
        if bad:
            raise ValueError(f"unknown damage family {bad[0]!r}; known: {', '.join(FAMILIES)}")
        return names
    keep = list(FAMILIES) if families is None else _names(families)
    drop = set() if exclude is None else set(_names(exclude))
    out = [f for f in FAMILIES if f in keep and f not in drop]
    if not out:
        raise ValueError("no damage family left to draw")
    return out


def pick(rng: np.random.Generator, severity: float, pool: list[str], has_bank: bool) -> list[str]:
    """The families of one damaged sample: 1-4 of ``pool``, by share, without replacement."""
    pool = [f for f in pool if has_bank or f != "sprites"] or list(pool)
    k = min(len(pool), 1 + int(rng.binomial(3, 0.25 + 0.35 * severity)))
    w = np.array([FAMILIES[f] for f in pool])
    idx = rng.choice(len(pool), size=k, replace=False, p=w / w.sum())
    return [pool[i] for i in sorted(idx)]


def draw(cv: Canvas, family: str, n: int, scale: float, bank) -> None:
    if family == "sprites":
        sprites.draw(cv, n, scale, bank)
    else:
        _DRAW[family](cv, n, scale)

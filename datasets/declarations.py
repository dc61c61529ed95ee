"""What the shipper declares: HS codes drawn from the library, and a share outside it."""

from __future__ import annotations

from typing import Any

import numpy as np

from quayscan.datasets.commodities import EMPTY, class_names, library, outside_examples


def declare(commodity: str, rng: np.random.Generator) -> dict[str, Any]:
    """An honest declaration of ``commodity``: an HS code under one of its prefixes, and a description."""
    c = library()[commodity]
    if commodity == EMPTY:
        return {"hs_code": None, "commodity": EMPTY, "description": str(rng.choice(c.descriptions))}
    prefix = str(rng.choice(c.prefixes))
    hs = prefix + "".join(str(d) for d in rng.integers(0, 10, 6 - len(prefix)))
    return {"hs_code": hs, "commodity": commodity, "description": str(rng.choice(c.descriptions))}


def declare_outside(rng: np.random.Generator) -> tuple[dict[str, Any], str]:
    """A declaration whose HS code is not in the library; returns it and the class its goods look like."""
    ex = outside_examples()[int(rng.integers(len(outside_examples())))]
    return {"hs_code": ex["hs"], "commodity": None, "description": ex["description"]}, ex["looks_like"]


def other_commodity(rng: np.random.Generator, *exclude: str | None, allow_empty: bool = False) -> str:
    """A class different from all of ``exclude``."""
    choices = [n for n in class_names() if n not in exclude and (allow_empty or n != EMPTY)]
    return str(rng.choice(choices))

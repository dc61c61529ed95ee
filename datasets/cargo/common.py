"""How far a load fills its hold."""

from __future__ import annotations

import numpy as np

from quayscan.datasets.scene import Box


def fill_length(rng: np.random.Generator, region: Box, lo: float = 0.4, hi: float = 1.0) -> Box:
    """The part of the region a load occupies: from the front, a random share of its length.

    Loads start at the front wall (stuffed from the doors) with a small random gap.
    """
    share = float(rng.uniform(lo, hi))
    gap = float(rng.uniform(0, 150))
    x1 = min(region.x1, region.x0 + gap + share * region.w)
    return Box(region.x0 + gap, region.y0, x1, region.y1)

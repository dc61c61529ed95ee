"""Cargo builders: one per commodity class of the library (DESIGN.md section 4).

A builder paints one commodity into a region of a hold and returns the boxes it filled, which the
anomaly builders use to hide things inside the load:

    build(canvas, rng, region, width_cm) -> list[Box]

``region`` is the part of the hold to fill (floor to ceiling, some length along x); ``width_cm`` is the
beam's path across the hold. Each builder draws its own fill level, arrangement, packing density and
position from ``rng``, so that two scans of one class never look alike.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from quayscan.datasets.scene import Box, Canvas

Builder = Callable[[Canvas, np.random.Generator, Box, float], list[Box]]

from quayscan.datasets.cargo import bulk, goods, heavy  # noqa: E402

BUILDERS: dict[str, Builder] = {
    "empty": lambda c, rng, region, width_cm: [],
    "wood_pulp": bulk.wood_pulp,
    "tires": goods.tires,
    "machinery": heavy.machinery,
    "garments": goods.garments,
    "grain_bags": bulk.grain_bags,
    "vehicles": heavy.vehicles,
    "beverages": goods.beverages,
    "steel_coils": heavy.steel_coils,
    "electronics": goods.electronics,
    "furniture": goods.furniture,
    "plastic_pellets": bulk.plastic_pellets,
}


def build_cargo(commodity: str, c: Canvas, rng: np.random.Generator, region: Box, width_cm: float) -> list[Box]:
    """Paint ``commodity`` into ``region``; returns the filled boxes (empty list for an empty box)."""
    try:
        builder = BUILDERS[commodity]
    except KeyError:
        raise ValueError(f"no cargo builder for commodity {commodity!r}; known: {sorted(BUILDERS)}") from None
    return builder(c, rng, region, width_cm)

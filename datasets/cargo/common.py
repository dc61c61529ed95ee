"""Pieces many loads share: pallets, cartons, straps, and how far a load fills its hold."""

from __future__ import annotations

import numpy as np

from quayscan.datasets.scene import Box, Canvas


def fill_length(rng: np.random.Generator, region: Box, lo: float = 0.4, hi: float = 1.0) -> Box:
    """The part of the region a load occupies: from the front, a random share of its length.

    Loads start at the front wall (stuffed from the doors) with a small random gap.
    """
    share = float(rng.uniform(lo, hi))
    gap = float(rng.uniform(0, 150))
    x1 = min(region.x1, region.x0 + gap + share * region.w)
    return Box(region.x0 + gap, region.y0, x1, region.y1)


def pallet(c: Canvas, x0: float, x1: float, floor: float, width_cm: float, rng: np.random.Generator) -> float:
    """A wooden pallet (stringers and deck boards) across the beam; returns its top height (mm)."""
    depth = width_cm * float(rng.uniform(0.85, 0.95))
    c.add("cellulose", Box(x0, floor + 120, x1, floor + 144), depth, density=0.55)
    c.add("cellulose", Box(x0, floor, x1, floor + 22), depth, density=0.55)
    for xs in np.linspace(x0, x1 - 90, 3):
        c.add("cellulose", Box(xs, floor + 22, xs + 90, floor + 120), depth, density=0.55)
    return floor + 144


def cartons(
    c: Canvas,
    rng: np.random.Generator,
    area: Box,
    width_cm: float,
    material: str,
    density: tuple[float, float],
    size_mm: tuple[float, float],
) -> list[Box]:
    """A wall of cartons filling ``area``: a grid of boxes whose density varies carton to carton.

    Thin gaps between cartons show as faint lines; depth along the beam is a few rows of cartons, so
    each pixel sums several of them (their mean density is what the image shows).
    """
    cw = float(rng.uniform(*size_mm))
    ch = float(rng.uniform(*size_mm))
    nx = max(1, int(area.w // cw))
    ny = max(1, int(area.h // ch))
    cw, ch = area.w / nx, area.h / ny
    fill = float(rng.uniform(0.8, 0.97))  # share of the width actually filled by cartons
    out = []
    for i in range(nx):
        for j in range(ny):
            rho = float(rng.uniform(*density))
            b = Box(area.x0 + i * cw + 6, area.y0 + j * ch + 4, area.x0 + (i + 1) * cw - 6, area.y0 + (j + 1) * ch - 4)
            c.add(material, b, width_cm * fill, density=rho)
            c.add("cellulose", Box(b.x0, b.y0, b.x1, b.y0 + 5), width_cm * fill, density=0.6)  # carton board
            out.append(b)
    return out


def strap(c: Canvas, x: float, area: Box, depth_cm: float) -> None:
    """A 19 x 0.8 mm steel strap around a bale of ``depth_cm`` along the beam.

    Its faces across the beam add twice the strap's thickness; where it runs along the beam over the
    top and under the bottom of the bale, the beam travels its whole length.
    """
    c.add("iron", Box(x, area.y0, x + 19.0, area.y1), 2 * 0.08)
    c.add("iron", Box(x, area.y1 - 0.8, x + 19.0, area.y1), depth_cm)
    c.add("iron", Box(x, area.y0, x + 19.0, area.y0 + 0.8), depth_cm)

"""Dual-energy material discrimination: organic, inorganic or metal from the high/low ratio.

The ratio R = ln(T_low) / ln(T_high) depends on the atomic number of what the beam crossed and, through
beam hardening, on how much it crossed. The class boundaries are therefore curves, computed from the same
physics the generator uses for the scanner's energy pair: for each high-energy attenuation, the midpoint
between the organic (cellulose) and inorganic (aluminium) curves, and between inorganic and iron.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from quayscan.datasets.physics import MATERIAL_INDEX, MATERIALS, transmission

ORGANIC, INORGANIC, METAL, UNKNOWN = 1, 2, 3, 0
#: below this high-energy attenuation there is too little matter to tell; above it too few photons
MIN_ATTENUATION, MAX_ATTENUATION = 0.25, 6.5
#: BGR display colours, as on cargo image-review workstations
COLOURS = {ORGANIC: (0, 140, 255), INORGANIC: (60, 200, 60), METAL: (255, 120, 30)}


@lru_cache(maxsize=8)
def boundaries(energies_mev: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(attenuation grid, organic/inorganic boundary, inorganic/metal boundary) of R for an energy pair."""
    grid = np.linspace(MIN_ATTENUATION, MAX_ATTENUATION, 120)
    curves = []
    for name in ("cellulose", "aluminium", "iron"):
        areal = np.geomspace(0.5, 600, 600).astype(np.float32)
        maps = np.zeros((len(MATERIALS), 1, areal.size), np.float32)
        maps[MATERIAL_INDEX[name], 0] = areal
        t = transmission(maps, energies_mev)[:, 0]
        lh, ll = -np.log(t[0]), -np.log(t[1])
        curves.append(np.interp(grid, lh, ll / lh))
    org, ino, met = curves
    return grid, (org + ino) / 2, (ino + met) / 2


def classify(high: np.ndarray, low: np.ndarray, air_value: float, energies_mev: tuple[float, float]) -> np.ndarray:
    """Per-pixel material class (uint8: UNKNOWN, ORGANIC, INORGANIC, METAL) of a dual-energy scan."""
    eps = 1.0 / air_value
    lh = -np.log(np.clip(high.astype(np.float32) / air_value, eps, 1.0))
    ll = -np.log(np.clip(low.astype(np.float32) / air_value, eps, 1.0))
    # average a few pixels first: the ratio of two noisy logs is noisy
    lh = cv2.blur(lh, (5, 5))
    ll = cv2.blur(ll, (5, 5))
    ratio = ll / np.maximum(lh, 1e-6)
    grid, b_org, b_met = boundaries(tuple(float(e) for e in energies_mev))
    org_edge = np.interp(lh, grid, b_org)
    met_edge = np.interp(lh, grid, b_met)
    out = np.full(high.shape, INORGANIC, np.uint8)
    out[ratio >= org_edge] = ORGANIC
    out[ratio < met_edge] = METAL
    out[(lh < MIN_ATTENUATION) | (lh > MAX_ATTENUATION)] = UNKNOWN
    return out


def colourise(high: np.ndarray, low: np.ndarray | None, air_value: float,
              energies_mev: tuple[float, ...] = (6.0, 3.0), max_attenuation: float = 7.0) -> np.ndarray:
    """A BGR uint8 picture: brightness from log attenuation, hue from the material class.

    Brightness falls with the square root of the attenuation, so thin walls stay visible next to
    dense cargo, as on a review workstation's default window.
    """
    lh = -np.log(np.clip(high.astype(np.float32) / air_value, 1.0 / air_value, 1.0))
    value = np.clip(1.0 - np.sqrt(lh / max_attenuation), 0, 1)
    grey = (value * 255).astype(np.uint8)
    bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR).astype(np.float32)
    if low is not None and len(energies_mev) == 2:
        cls = classify(high, low, air_value, (float(energies_mev[0]), float(energies_mev[1])))
        for k, colour in COLOURS.items():
            mask = cls == k
            tint = np.array(colour, np.float32) / 255.0
            bgr[mask] = bgr[mask] * (0.35 + 0.65 * tint)
    return np.clip(bgr, 0, 255).astype(np.uint8)

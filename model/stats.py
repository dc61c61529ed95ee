"""Interval estimates shared by calibration (training) and the audit figures (serving); numpy only."""

from __future__ import annotations

import numpy as np


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion ``k / n`` (95 % two-sided by default; z = 1.6449 makes
    either end a one-sided 95 % bound); None when ``n`` is 0.

    Unlike ``p +- z * se`` it stays inside [0, 1] and is not empty at k = 0 or k = n, which matters here:
    a few hundred audited releases with no miss still leave a miss rate of up to ~1 % possible.
    """
    if n <= 0:
        return None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * float(np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)))
    return max(0.0, centre - half), min(1.0, centre + half)

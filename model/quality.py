"""Image-quality checks: scans quayscan should not trust, whatever the model says."""

from __future__ import annotations

import numpy as np

from quayscan.datasets.scan import Scan

#: share of pixels with (almost) no signal beyond which the scan is under-penetrated
MAX_STARVED = 0.5
#: share of pixels above the air value beyond which the air value or the exposure is wrong
MAX_OVER_AIR = 0.25
#: shortest and longest plausible objects in the beam, metres
LENGTH_RANGE_M = (2.0, 40.0)


def check_quality(scan: Scan) -> list[str]:
    """Problems found (empty list: fine). Each item is a short machine-readable code."""
    problems = []
    sample = scan.high[::4, ::4]
    starved = float(np.mean(sample < scan.air_value * np.exp(-8.0)))
    if starved > MAX_STARVED:
        problems.append("underexposed")
    over = float(np.mean(sample > scan.air_value * 1.08))
    if over > MAX_OVER_AIR:
        problems.append("air_value_mismatch")
    length = scan.shape[1] * scan.pitch_mm[0] / 1000
    if not LENGTH_RANGE_M[0] <= length <= LENGTH_RANGE_M[1]:
        problems.append("implausible_length")
    return problems

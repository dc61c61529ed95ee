"""Detector effects: from ideal transmission to the 16-bit counts a scanner sends.

In order: broad scatter, detector/focal-spot blur, per-column dose (linac pulse-to-pulse), photon noise
(Poisson where few photons arrive, its Gaussian limit elsewhere), per-row detector gain left after
calibration, electronic noise, then the 16-bit range: saturation at the top, starvation at the bottom
where very dense regions let almost nothing through.
"""

from __future__ import annotations

import cv2
import numpy as np

from quayscan.datasets.profiles import Profile

#: below this many expected photons the Gaussian approximation is poor: draw real Poisson counts
POISSON_BELOW = 30.0


def _scatter(t: np.ndarray, fraction: float) -> np.ndarray:
    """Mix in a broad, low-resolution copy of the signal: forward scatter reaching the detector."""
    if fraction <= 0:
        return t
    h, w = t.shape
    small = cv2.resize(t, (max(1, w // 16), max(1, h // 16)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 2.0)
    broad = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return (1 - fraction) * t + fraction * broad


def detect(transmission: np.ndarray, profile: Profile, rng: np.random.Generator) -> list[np.ndarray]:
    """Turn ideal transmission into detector images.

    Args:
        transmission: (n_energies, H, W) float32 in (0, 1], high energy first.
        profile: the scanner's noise, blur and dose parameters.
        rng: the only source of randomness.

    Returns:
        One uint16 (H, W) image per energy.
    """
    n, h, w = transmission.shape
    out = []
    column_dose = 1.0 + profile.column_dose_sigma * rng.standard_normal(w, dtype=np.float32)
    for e in range(n):
        photons = profile.photons_per_pixel * (1.0 if e == 0 else profile.low_dose_fraction)
        t = _scatter(transmission[e], profile.scatter_fraction)
        if profile.blur_sigma_px > 0:
            t = cv2.GaussianBlur(t, (0, 0), profile.blur_sigma_px)
        expected = t * (photons * column_dose)[None, :]  # photons per pixel
        # one normal draw covers photon noise (its Gaussian limit) and electronic noise together
        scale = profile.air_value / photons
        z = rng.standard_normal((h, w), dtype=np.float32)
        var = expected * (scale * scale) + profile.electronic_noise**2
        counts = expected * scale + np.sqrt(var) * z
        starved = expected < POISSON_BELOW
        if starved.any():
            lam = expected[starved]
            counts[starved] = rng.poisson(lam).astype(np.float32) * scale + profile.electronic_noise * z[starved]
        row_gain = 1.0 + profile.row_gain_sigma * rng.standard_normal(h, dtype=np.float32)
        counts *= row_gain[:, None]
        out.append(np.clip(np.rint(counts), 0, 65535).astype(np.uint16))
    return out

"""Detector effects: from ideal transmission to the 16-bit counts a scanner sends.

In order: broad scatter, detector/focal-spot blur, per-column dose (linac pulse-to-pulse), photon noise
(Poisson where few photons arrive, its Gaussian limit elsewhere), per-row detector gain left after
calibration, electronic noise, then the 16-bit range: saturation at the top, starvation at the bottom
where very dense regions let almost nothing through.
"""

from __future__ import annotations

from functools import lru_cache
from statistics import NormalDist

import cv2
import numpy as np

from quayscan.datasets.profiles import Profile

#: below this many expected photons the Gaussian approximation is poor: draw real Poisson counts
POISSON_BELOW = 30.0


@lru_cache(maxsize=1)
def _normal_quantiles() -> np.ndarray:
    """The standard normal's 65,536 quantiles at (i + 0.5) / 65536: tails reach +-4.3 sigma."""
    inv = NormalDist().inv_cdf
    return np.array([inv((i + 0.5) / 65536) for i in range(65536)], np.float32)


def standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Gaussian noise by inverse-CDF lookup of uniform 16-bit draws.

    Several times faster than ``rng.standard_normal`` for the millions of draws a scan needs, from the
    same injected generator; truncation beyond 4.3 sigma is invisible under 16-bit quantisation.
    """
    return _normal_quantiles()[rng.integers(0, 65536, size=shape, dtype=np.uint16)]


def _scatter(t: np.ndarray, fraction: float) -> np.ndarray:
    """Mix in a broad, low-resolution copy of the signal: forward scatter reaching the detector."""
    if fraction <= 0:
        return t
    h, w = t.shape
    # sampling (not averaging) on the way down is fine: the copy is blurred over ~30 pixels anyway
    small = cv2.resize(t, (max(1, w // 16), max(1, h // 16)), interpolation=cv2.INTER_LINEAR)
    small = cv2.GaussianBlur(small, (0, 0), 2.0)
    broad = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.addWeighted(t, 1.0 - fraction, broad, fraction, 0.0)


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
    # the same detector element sees both energies: its gain error is common to them; the linac's
    # high- and low-energy pulses are separate, so each energy has its own pulse-to-pulse dose
    row_gain = 1.0 + profile.row_gain_sigma * rng.standard_normal(h, dtype=np.float32)
    e_noise2 = np.float32(profile.electronic_noise**2)
    for e in range(n):
        column_dose = 1.0 + profile.column_dose_sigma * rng.standard_normal(w, dtype=np.float32)
        photons = profile.photons_per_pixel * (1.0 if e == 0 else profile.low_dose_fraction)
        scale = np.float32(profile.air_value / photons)  # output counts per detected photon
        t = _scatter(transmission[e], profile.scatter_fraction)
        if profile.blur_sigma_px > 0:
            t = cv2.GaussianBlur(t, (0, 0), profile.blur_sigma_px)
        expected = t * (photons * column_dose)[None, :]  # photons per pixel, with the pulse's dose
        # one normal draw covers photon noise (in its Gaussian limit) and electronic noise together
        z = standard_normal(rng, (h, w))
        std = cv2.sqrt(cv2.scaleAdd(expected, float(scale * scale), np.full_like(expected, e_noise2)))
        counts = cv2.scaleAdd(cv2.multiply(std, z), 1.0, expected * scale)
        starved = expected < POISSON_BELOW
        if starved.any():
            lam = expected[starved]
            counts[starved] = rng.poisson(lam).astype(np.float32) * scale + profile.electronic_noise * z[starved]
        counts *= row_gain[:, None]
        # saturation at the top of the 16-bit range; starvation (nothing left) at zero
        out.append(np.clip(counts, 0, 65535).round().astype(np.uint16))
    return out

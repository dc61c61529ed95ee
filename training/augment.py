"""Augmentations that make sense for radiographs, on the preprocessed log-attenuation frame.

What varies between real scans of the same load: direction of travel (flip along x), where the truck
stopped (shift along x), its speed against the linac's pulse rate (scale along x), the dose and so the
noise, detector gain streaks, and the scanner's energy (how much attenuation a given load shows, and the
low/high ratio). Nothing photometric from natural images (colour jitter, rotations, vertical flips):
gravity and the beam geometry do not change.

    train_tf = TrainTransform(max_attenuation=8.0)
    x, mask = train_tf(x, mask, rng)
"""

from __future__ import annotations

import cv2
import numpy as np


class TrainTransform:
    """Random radiograph augmentation of one sample.

    Args:
        max_attenuation: the preprocessing's log-attenuation scale (channel value 1.0).
        p_flip: probability of a flip along x.
        x_scale: range of the stretch along x.
        atten_scale: range of the factor on attenuation (energy and calibration differences).
        ratio_jitter: sigma of the relative change of the low channel (detector response).
        photons: range of air photons per pixel for the added dose noise (log-uniform).
        streak_sigma: sigma of per-row and per-column log-attenuation offsets.
    """

    def __init__(self, *, max_attenuation: float, p_flip: float = 0.5, x_scale: tuple[float, float] = (0.9, 1.1),
                 atten_scale: tuple[float, float] = (0.8, 1.2), ratio_jitter: float = 0.03,
                 photons: tuple[float, float] = (2e4, 1e6), streak_sigma: float = 0.006):
        self.lmax = max_attenuation
        self.p_flip, self.x_scale, self.atten_scale = p_flip, x_scale, atten_scale
        self.ratio_jitter, self.photons, self.streak_sigma = ratio_jitter, photons, streak_sigma

    def __call__(self, x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        x = x.astype(np.float32, copy=True)
        c, h, w = x.shape
        if rng.random() < self.p_flip:
            x, mask = x[:, :, ::-1].copy(), mask[:, ::-1].copy()
        s = float(rng.uniform(*self.x_scale))
        nw = max(32, int(round(w * s)))
        if nw != w:
            x = np.stack([cv2.resize(x[i], (nw, h), interpolation=cv2.INTER_LINEAR) for i in range(c)])
            mask = cv2.resize(mask, (nw, h), interpolation=cv2.INTER_NEAREST)
        dual = x[2, 0, 0] > 0.5
        a = float(rng.uniform(*self.atten_scale))
        x[0] *= a
        x[1] *= a * (1.0 + self.ratio_jitter * float(rng.standard_normal())) if dual else a
        # dose noise: sigma of a log-attenuation measurement is 1 / sqrt(photons * transmission)
        n_air = float(np.exp(rng.uniform(np.log(self.photons[0]), np.log(self.photons[1]))))
        for i in (0, 1) if dual else (0,):
            sigma = np.exp(np.minimum(x[i] * self.lmax, 8.0) / 2) / np.sqrt(n_air) / self.lmax
            x[i] += sigma * rng.standard_normal(x[i].shape, dtype=np.float32)
            x[i] += (self.streak_sigma / self.lmax) * rng.standard_normal((h, 1), dtype=np.float32)
            x[i] += (self.streak_sigma / self.lmax) * rng.standard_normal((1, x.shape[2]), dtype=np.float32)
        if not dual:
            x[1] = x[0]
        np.clip(x[:2], 0.0, 1.0, out=x[:2])
        return x, mask


def place(x: np.ndarray, mask: np.ndarray, width: int, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
    """Put a sample into a fixed-width frame: padded with air, at a random offset when training."""
    c, h, w = x.shape
    out = np.zeros((c, h, width), np.float32)
    out[2] = x[2, 0, 0]
    m = np.zeros((h, width), np.uint8)
    if w <= width:
        off = int(rng.integers(0, width - w + 1)) if rng is not None else 0
        out[:, :, off : off + w] = x
        m[:, off : off + w] = mask
    else:
        off = int(rng.integers(0, w - width + 1)) if rng is not None else 0
        out[:] = x[:, :, off : off + width]
        m[:] = mask[:, off : off + width]
    return out, m

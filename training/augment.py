"""Augmentations that make sense for radiographs, on the preprocessed log-attenuation frame.

What varies between real scans of the same load: direction of travel (flip along x), where the truck
stopped (shift along x), its speed against the linac's pulse rate (scale along x), the dose and so the
noise, detector gain streaks, and the scanner's energy (how much attenuation a given load shows, and the
low/high ratio). Nothing photometric from natural images (colour jitter, rotations, vertical flips):
gravity and the beam geometry do not change.

    train_tf = TrainTransform(max_attenuation=8.0)
    x, mask = train_tf(x, mask, rng)
    paste = PasteDense(max_attenuation=8.0, p=0.3)
    x, mask, pasted = paste(x, mask, rng)        # before train_tf: the object gets flipped and noised too
    x, mask, shows = crop(x, mask, 384, rng)     # a window of the scan; no anomaly box is cut
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


def crop(x: np.ndarray, mask: np.ndarray, width: int, rng: np.random.Generator,
         p_anomaly: float = 0.8) -> tuple[np.ndarray, np.ndarray, bool | None]:
    """A random window of ``width`` columns of a training frame, cheaper to learn from than the whole scan.

    The window never cuts an anomaly box (the columns a box spans are in it entirely or not at all), and
    when the scan has boxes it holds at least one of them with probability ``p_anomaly``, so positives stay
    positives most of the time. Frames no wider than ``width`` are returned as they are.

    Returns:
        (x, mask, shows): ``shows`` is whether the window holds an anomaly box, or None when the scan has
        no boxes (the label is then the scan's own).
    """
    w = x.shape[2]
    cols = mask.any(axis=0)
    if w <= width:
        return x, mask, True if cols.any() else None
    edges = np.flatnonzero(np.diff(np.concatenate([[0], cols.astype(np.int8), [0]])))
    runs = edges.reshape(-1, 2)  # [start, end) of each run of columns with a box in it
    off = np.arange(w - width + 1)
    whole = np.zeros((len(runs), len(off)), bool)
    ok = np.ones(len(off), bool)
    for k, (a, b) in enumerate(runs):
        whole[k] = (off <= a) & (off + width >= b)
        ok &= whole[k] | (off >= b) | (off + width <= a)
    holding = ok & whole.any(axis=0)
    if len(runs) and holding.any() and rng.random() < p_anomaly:
        choices = np.flatnonzero(holding)
    elif ok.any():
        choices = np.flatnonzero(ok)
    else:  # a box wider than the window: cut it, and let what is left of it decide the label
        choices = off
    o = int(rng.choice(choices))
    m = mask[:, o : o + width]
    return x[:, :, o : o + width], m, bool(m.any()) if len(runs) else None


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


class PasteDense:
    """Conceal a compact dense object (iron or lead, 10-35 cm) in a scan, in its log-attenuation frame.

    Small dense objects are the rarest and hardest anomaly the generator makes (about 3% of scans); pasting
    more of them into training scans lets the network see thousands instead of a hundred. The object adds
    attenuation (log attenuations of stacked matter add), both energies with an iron/lead-like low/high
    ratio, on a 4x supersampled outline (block, ellipsoid or cylinder) averaged down as the preprocessing's
    area resize does; the scatter floor the detector adds (a share of a broad blur of the transmission)
    is kept, so an object over dense cargo is as faint as the generator would make it.

    Args:
        max_attenuation: the preprocessing's log-attenuation scale (channel value 1.0).
        pitch_mm: the preprocessing's pitch.
        p: probability of pasting an object into a scan.
        size_mm: range of the object's long side.
        iron_cm: range (log-uniform) of the solid-iron-equivalent depth along the beam.
        att_per_cm: range of the high-energy log attenuation per cm of iron (6 to 9 MV beams: ~0.3).
        ratio: range of the low/high attenuation ratio (dual energy).
        scatter: range of the scatter share of the transmission.
        rows: rows of the frame an object may occupy (inside the hold of any container height and deck).
    """

    def __init__(self, *, max_attenuation: float, pitch_mm: float = 20.0, p: float = 0.3,
                 size_mm: tuple[float, float] = (100.0, 350.0), iron_cm: tuple[float, float] = (1.5, 30.0),
                 att_per_cm: tuple[float, float] = (0.28, 0.36), ratio: tuple[float, float] = (1.02, 1.3),
                 scatter: tuple[float, float] = (0.01, 0.025), rows: tuple[int, int] = (36, 146)):
        self.lmax, self.pitch, self.p = max_attenuation, pitch_mm, p
        self.size_mm, self.iron_cm, self.att_per_cm = size_mm, iron_cm, att_per_cm
        self.ratio, self.scatter, self.rows = ratio, scatter, rows

    def outline(self, rng: np.random.Generator) -> np.ndarray:
        """Thickness profile (h, w) in [0, 1] of one object, area-averaged from 4x supersampling."""
        long = float(rng.uniform(*self.size_mm)) / self.pitch
        short = max(40.0 / self.pitch, long * float(rng.uniform(0.25, 1.0)))
        w, h = (long, short) if rng.random() < 0.5 else (short, long)
        fx, fy = float(rng.random()), float(rng.random())  # sub-pixel position
        sub = 4
        W, H = int(np.ceil(fx + w)), int(np.ceil(fy + h))
        X = ((np.arange(W * sub) + 0.5) / sub - fx - w / 2) / (w / 2)  # -1..1 across the object
        Y = ((np.arange(H * sub) + 0.5) / sub - fy - h / 2) / (h / 2)
        shape = str(rng.choice(["block", "ellipsoid", "cylinder"]))
        inside = (np.abs(X)[None, :] <= 1) & (np.abs(Y)[:, None] <= 1)
        if shape == "block":
            t = inside.astype(np.float32)
        elif shape == "ellipsoid":
            t = np.sqrt(np.clip(1 - X[None, :] ** 2 - Y[:, None] ** 2, 0, 1)).astype(np.float32)
        else:  # lying along x: the beam crosses a circle's chord
            t = (inside * np.sqrt(np.clip(1 - Y[:, None] ** 2, 0, 1))).astype(np.float32)
        return cv2.resize(t, (W, H), interpolation=cv2.INTER_AREA)

    def __call__(self, x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, bool]:
        """(x, mask, pasted): a copy with the object and its box in the mask when one was pasted."""
        if rng.random() >= self.p:
            return x, mask, False
        r_lo, r_hi = self.rows
        # columns inside a container: its side walls attenuate every row of the hold a little
        inside = np.median(x[0, r_lo:r_hi].astype(np.float32), axis=0) > 0.004
        t = self.outline(rng)
        h, w = t.shape
        starts = np.flatnonzero(np.convolve(inside, np.ones(w), mode="valid") >= w)
        if len(starts) == 0 or r_hi - r_lo <= h:
            return x, mask, False
        c0 = int(rng.choice(starts))
        r0 = int(rng.integers(r_lo, r_hi - h))
        x = x.astype(np.float32, copy=True)
        mask = mask.copy()
        dual = x[2, 0, 0] > 0.5
        d_high = float(np.exp(rng.uniform(*np.log(self.iron_cm)))) * float(rng.uniform(*self.att_per_cm))
        f = float(rng.uniform(*self.scatter))
        for i, d in ((0, d_high), (1, d_high * float(rng.uniform(*self.ratio)))) if dual else ((0, d_high),):
            trans = np.exp(-self.lmax * x[i])
            broad = cv2.GaussianBlur(trans, (0, 0), 8.0)[r0 : r0 + h, c0 : c0 + w]
            patch = trans[r0 : r0 + h, c0 : c0 + w]
            patch = np.maximum(patch - f * broad, 1e-6) * np.exp(-d * t) + f * broad
            x[i, r0 : r0 + h, c0 : c0 + w] = np.clip(-np.log(patch) / self.lmax, 0.0, 1.0)
        if not dual:
            x[1] = x[0]
        mask[r0 : r0 + h, c0 : c0 + w] = 1
        return x, mask, True

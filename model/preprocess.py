"""The one preprocessing: scan -> model input, in numpy/OpenCV. Training, evaluation and serving call it.

A scan is resampled to one isotropic physical pitch (20 mm by default), so a 20 ft and a 40 ft box, or two
scanners with different pitches, show objects at the same size in pixels, and small objects are not
squeezed away by a fixed output width. The frame is cut or padded (with air) to a fixed height from the
top. Channels: log attenuation at the high energy, at the low energy (the high one again for a
single-energy scan), and a flag that is 1 for dual energy.

    x = preprocess(scan)                       # (3, 192, W) float32, W ~ length / 20 mm
    batch = pad_batch([x1, x2], width=736)     # (2, 3, 192, 736)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from quayscan.datasets.scan import Scan

#: the network's total stride: widths are padded to a multiple of it
STRIDE = 32


@dataclass(frozen=True)
class PreprocessConfig:
    """Preprocessing parameters; stored in the model file so serving reproduces them exactly.

    Attributes:
        pitch_mm: isotropic output pitch.
        height: output height in pixels from the top of the frame (3.84 m at 20 mm: the container on its
            chassis; cut or padded with air below).
        max_attenuation: log attenuation mapped to 1.0 (beyond it the detector is starved).
        max_width: longest output accepted, in pixels (longer scans are cut; rail wagons at 20 mm are ~1,200).
    """

    pitch_mm: float = 20.0
    height: int = 192
    max_attenuation: float = 8.0
    max_width: int = 2048

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PreprocessConfig:
        return cls(**{k: d[k] for k in ("pitch_mm", "height", "max_attenuation", "max_width") if k in d})


def _log_attenuation(image: np.ndarray, size: tuple[int, int], air: float, cfg: PreprocessConfig) -> np.ndarray:
    # average intensities (as a bigger detector pixel would), then take the log on the small image
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    np.maximum(small, np.float32(air * np.exp(-cfg.max_attenuation)), out=small)
    att = cv2.log(small * np.float32(1.0 / air))
    return np.clip(att * np.float32(-1.0 / cfg.max_attenuation), 0.0, 1.0)


def preprocess(scan: Scan, cfg: PreprocessConfig = PreprocessConfig()) -> np.ndarray:
    """Turn a scan into the network's input.

    Returns:
        (3, cfg.height, W) float32 in [0, 1]; W = scan length / cfg.pitch_mm, at least STRIDE.
    """
    h, w = scan.shape
    px, py = scan.pitch_mm
    out_w = int(np.clip(round(w * px / cfg.pitch_mm), STRIDE, cfg.max_width))
    out_h = max(1, int(round(h * py / cfg.pitch_mm)))
    high = _log_attenuation(scan.high, (out_w, out_h), scan.air_value, cfg)
    low = _log_attenuation(scan.low, (out_w, out_h), scan.air_value, cfg) if scan.low is not None else high
    x = np.zeros((3, cfg.height, out_w), np.float32)  # zero attenuation: air below a short frame
    rows = min(cfg.height, out_h)
    x[0, :rows] = high[:rows]
    x[1, :rows] = low[:rows]
    x[2] = 1.0 if scan.low is not None else 0.0
    return x


def pad_batch(inputs: list[np.ndarray], width: int | None = None) -> np.ndarray:
    """Stack inputs of different widths, padding with air on the right (and the dual flag copied).

    Args:
        inputs: arrays from :func:`preprocess`.
        width: common width (default: the widest, rounded up to a multiple of STRIDE); wider inputs are cut.
    """
    if not inputs:
        raise ValueError("pad_batch needs at least one input")
    if width is None:
        widest = max(x.shape[2] for x in inputs)
        width = -(-widest // STRIDE) * STRIDE
    c, h = inputs[0].shape[:2]
    out = np.zeros((len(inputs), c, h, width), np.float32)
    for i, x in enumerate(inputs):
        n = min(width, x.shape[2])
        out[i, :, :, :n] = x[:, :, :n]
        out[i, 2, :, n:] = x[2, 0, 0]
    return out

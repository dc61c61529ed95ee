"""The scan data type: what a scanner sends (DESIGN.md section 3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quayscan.datasets.errors import BitDepthError, ChannelError, DimensionError, EnergyMismatchError

#: accepted image sizes, (height, width) in pixels, both bounds inclusive
MIN_SHAPE = (64, 64)
MAX_SHAPE = (4096, 8192)
DEFAULT_PITCH_MM = (5.0, 5.0)
#: the air value assumed when neither the scanner nor the file says it
DEFAULT_AIR_VALUE = 60000


def check_image(image: np.ndarray, name: str = "high") -> np.ndarray:
    """Validate one energy image: 2-D, uint16, within the accepted size range.

    Args:
        image: the array to check.
        name: which energy it is, for the error message.

    Returns:
        The same array, C-contiguous.

    Raises:
        ChannelError, BitDepthError, DimensionError: naming the offending value.
    """
    if not isinstance(image, np.ndarray):
        raise BitDepthError(f"{name} image must be a numpy array, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] in (3, 4):
        raise ChannelError(f"{name} image has {image.shape[2]} colour channels; a scan is one grayscale channel")
    if image.ndim != 2:
        raise DimensionError(f"{name} image must be 2-D (height, width), got shape {image.shape}")
    if image.dtype != np.uint16:
        bits = image.dtype.itemsize * 8
        raise BitDepthError(f"{name} image must be 16-bit unsigned (uint16), got {image.dtype} ({bits}-bit)")
    h, w = image.shape
    check_size(name, w, h)
    return np.ascontiguousarray(image)


def check_size(name: str, width: int, height: int) -> None:
    """Refuse an empty, too small or too large image (also from a file header, before decoding).

    Raises:
        DimensionError: naming the size and the accepted range.
    """
    if width <= 0 or height <= 0:
        raise DimensionError(f"{name} image is empty ({width} x {height} px)")
    if height < MIN_SHAPE[0] or width < MIN_SHAPE[1]:
        raise DimensionError(
            f"{name} image is {width} x {height} px; the smallest accepted is {MIN_SHAPE[1]} x {MIN_SHAPE[0]}"
        )
    if height > MAX_SHAPE[0] or width > MAX_SHAPE[1]:
        raise DimensionError(
            f"{name} image is {width} x {height} px; the largest accepted is {MAX_SHAPE[1]} x {MAX_SHAPE[0]}"
        )


@dataclass
class Scan:
    """One radiograph of a container: transmitted intensity at one or two energies.

    Attributes:
        high: high-energy transmission image, uint16 (height, width); x runs along the container.
        low: low-energy image of the same shape, or None for a single-energy scanner.
        pitch_mm: pixel pitch (x, y) in millimetres.
        air_value: the unattenuated beam's value (0 means fully blocked).
        meta: everything else the scanner said (container id, declaration, scanner id, time, ...).
    """

    high: np.ndarray
    low: np.ndarray | None = None
    pitch_mm: tuple[float, float] = DEFAULT_PITCH_MM
    air_value: float = DEFAULT_AIR_VALUE
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.high = check_image(self.high, "high")
        if self.low is not None:
            self.low = check_image(self.low, "low")
            if self.low.shape != self.high.shape:
                raise EnergyMismatchError(
                    f"high image is {self.high.shape[1]} x {self.high.shape[0]} px but low image is "
                    f"{self.low.shape[1]} x {self.low.shape[0]} px; both energies must have the same size"
                )
        pitch = tuple(float(p) for p in self.pitch_mm)
        if len(pitch) != 2 or not all(0.1 <= p <= 100.0 for p in pitch):
            raise DimensionError(f"pixel pitch must be two values in [0.1, 100] mm, got {self.pitch_mm!r}")
        self.pitch_mm = pitch  # type: ignore[assignment]
        if not 1 <= float(self.air_value) <= 65535:
            raise DimensionError(f"air value must be in [1, 65535], got {self.air_value!r}")
        self.air_value = float(self.air_value)

    @property
    def dual_energy(self) -> bool:
        return self.low is not None

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return self.high.shape  # type: ignore[return-value]

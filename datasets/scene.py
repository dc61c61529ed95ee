"""The scene a generator paints: per-material areal-density maps on the scan's pixel grid.

Geometry is in millimetres in the scanner's frame: x along the direction of travel from the first
scanned column, y up from the road, the beam crossing the vehicle horizontally (its path is "depth").
Every object adds density x path length (g/cm^2) of its material to the pixels it covers, so objects
that overlap along the beam add up as Beer-Lambert says. Shape helpers return the path length (cm)
through a solid over a grid of pixel-centre coordinates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from quayscan.datasets.physics import MATERIALS, material_index

#: a path-length function: (X_mm, Y_mm) pixel-centre grids -> path through the solid (cm)
PathFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle in scene millimetres."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def w(self) -> float:
        return self.x1 - self.x0

    @property
    def h(self) -> float:
        return self.y1 - self.y0

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


class Canvas:
    """Areal-density maps, one per material, (n_materials, H, W) float32 in g/cm^2.

    Args:
        width_px, height_px: image size.
        pitch_mm: (x, y) pixel pitch.
        y_top_mm: height above the road of the image's top edge.
    """

    def __init__(self, width_px: int, height_px: int, pitch_mm: tuple[float, float], y_top_mm: float):
        self.width, self.height = int(width_px), int(height_px)
        self.pitch = (float(pitch_mm[0]), float(pitch_mm[1]))
        self.y_top = float(y_top_mm)
        self.maps = np.zeros((len(MATERIALS), self.height, self.width), np.float32)
        self.used: set[int] = set()  # materials painted so far; the others stay all zero

    # -- coordinates -------------------------------------------------------------------------
    def col(self, x_mm: float) -> float:
        return x_mm / self.pitch[0]

    def row(self, y_mm: float) -> float:
        return (self.y_top - y_mm) / self.pitch[1]

    def to_pixels(self, box: Box) -> list[int]:
        """[x0, y0, x1, y1] pixel bbox (image convention, y down), clipped to the image."""
        x0 = int(np.floor(self.col(box.x0)))
        x1 = int(np.ceil(self.col(box.x1)))
        y0 = int(np.floor(self.row(box.y1)))
        y1 = int(np.ceil(self.row(box.y0)))
        return [max(0, x0), max(0, y0), min(self.width, x1), min(self.height, y1)]

    def _grid(self, box: Box) -> tuple[slice, slice, np.ndarray, np.ndarray] | None:
        x0, y0, x1, y1 = self.to_pixels(box)
        if x1 <= x0 or y1 <= y0:
            return None
        xs = (np.arange(x0, x1, dtype=np.float32) + 0.5) * self.pitch[0]
        ys = self.y_top - (np.arange(y0, y1, dtype=np.float32) + 0.5) * self.pitch[1]
        return slice(y0, y1), slice(x0, x1), xs[None, :], ys[:, None]

    # -- painting ----------------------------------------------------------------------------
    def add(self, material: str, box: Box, path_cm: PathFn | float, density: float | None = None) -> None:
        """Add a solid of one material: density (g/cm^3) x path length (cm) over the box.

        Args:
            material: a name from ``physics.MATERIALS``.
            box: the solid's extent in scene millimetres.
            path_cm: a constant path length, or a function of the pixel-centre grids.
            density: bulk density in g/cm^3 (default: the material's solid density).
        """
        m = material_index(material)
        rho = MATERIALS[m].density if density is None else float(density)
        grid = self._grid(box)
        if grid is None:
            return
        rows, cols, X, Y = grid
        self.used.add(m)
        if callable(path_cm):
            path = np.broadcast_to(path_cm(X, Y), (rows.stop - rows.start, cols.stop - cols.start))
            self.maps[m, rows, cols] += rho * np.clip(path, 0.0, None)
        else:
            self.maps[m, rows, cols] += rho * float(path_cm) * self._coverage(box, rows, cols)

    def _coverage(self, box: Box, rows: slice, cols: slice) -> np.ndarray:
        """Fractional pixel coverage of a rectangle, so thin plates keep their true mass."""
        px, py = self.pitch
        c = np.arange(cols.start, cols.stop, dtype=np.float32) * px
        r = self.y_top - np.arange(rows.start, rows.stop, dtype=np.float32) * py  # top edge of each row
        fx = np.clip((np.minimum(c + px, box.x1) - np.maximum(c, box.x0)) / px, 0, 1)
        fy = np.clip((np.minimum(r, box.y1) - np.maximum(r - py, box.y0)) / py, 0, 1)
        return fy[:, None] * fx[None, :]

    def region(self, box: Box) -> tuple[slice, slice]:
        """Pixel slices of a box, for builders that edit maps directly."""
        x0, y0, x1, y1 = self.to_pixels(box)
        return slice(y0, y1), slice(x0, x1)


# -- path-length functions (cm) for common solids --------------------------------------------------
def _chord(r: float, d: np.ndarray) -> np.ndarray:
    return 2.0 * np.sqrt(np.clip(r * r - d * d, 0.0, None))


def cylinder_along_x(cy: float, radius: float) -> PathFn:
    """A cylinder lying along x (a pipe or a coil seen from the side): chord in y."""
    return lambda X, Y: _chord(radius, Y - cy) / 10.0


def cylinder_upright(cx: float, radius: float, inner: float = 0.0) -> PathFn:
    """A vertical cylinder or tube (bottle, drum, tyre stack): chord in x, hollow inside ``inner``."""
    return lambda X, Y: (_chord(radius, X - cx) - _chord(inner, X - cx)) / 10.0


def disk_along_beam(cx: float, cy: float, radius: float, depth_cm: float, inner: float = 0.0) -> PathFn:
    """A cylinder whose axis is the beam (a wheel, a coil eye-to-side): ``depth_cm`` inside the ring."""

    def path(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        r2 = (X - cx) ** 2 + (Y - cy) ** 2
        return np.where((r2 <= radius * radius) & (r2 >= inner * inner), np.float32(depth_cm), np.float32(0))

    return path


def ellipsoid(cx: float, cy: float, ax: float, ay: float, depth_cm: float) -> PathFn:
    """An ellipsoid with half-axes ax, ay (mm) in the image and full depth ``depth_cm`` along the beam."""
    return lambda X, Y: depth_cm * np.sqrt(np.clip(1 - ((X - cx) / ax) ** 2 - ((Y - cy) / ay) ** 2, 0, None))


def rounded_slab(box: Box, depth_cm: float, radius_mm: float) -> PathFn:
    """A slab with rounded ends in x and y (bags, bales): full depth inside, falling off at the rim."""

    def path(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        dx = np.clip(np.minimum(X - box.x0, box.x1 - X) / radius_mm, 0, 1)
        dy = np.clip(np.minimum(Y - box.y0, box.y1 - Y) / radius_mm, 0, 1)
        return depth_cm * np.sqrt(dx * (2 - dx)) * np.sqrt(dy * (2 - dy))

    return path

"""The vehicle in the beam: ISO containers on a trailer chassis, with the tractor's rear under its front.

Builds, in steel and plywood, what a real container scan shows around the cargo: corrugated side walls
(the beam crosses both), corner posts and castings, front wall and doors with locking bars, roof and
roof rails, floor on cross-members, bottom side rails; below it the chassis rails, landing legs,
axles and wheels. Returns the interior holds the cargo builders fill.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quayscan.datasets.scene import Box, Canvas, cylinder_upright, disk_along_beam

#: internal width of an ISO container: the beam's path through the cargo space (cm)
INTERIOR_WIDTH_CM = 235.2
FLOOR_MM = 150  # cross-members (122) + plywood (28): interior floor above the container's bottom
ROOF_MM = 70  # roof sheet and rails: interior height below the container's top
LENGTH_MM = {"20ft": 6058.0, "40ft": 12192.0}
HEIGHT_MM = {"standard": 2591.0, "high_cube": 2896.0}
#: container layouts on one chassis
LAYOUTS = {"20ft": ("20ft",), "40ft": ("40ft",), "2x20ft": ("20ft", "20ft")}
#: image frame: top of the picture and the lowest height the detector column sees (mm above the road)
FRAME_TOP_MM = 4450.0
FRAME_BOTTOM_MM = 500.0


@dataclass(frozen=True)
class Hold:
    """The cargo space of one container: interior box (mm) and the beam's path across it (cm)."""

    box: Box
    width_cm: float = INTERIOR_WIDTH_CM


@dataclass(frozen=True)
class Vehicle:
    """Where the containers sit on the chassis, in scene millimetres, and their holds."""

    layout: str
    deck_mm: float  # height of the containers' bottoms above the road
    height_mm: float  # container height (standard or high cube)
    containers: tuple[Box, ...]
    holds: tuple[Hold, ...]
    length_mm: float  # image length needed, margins included


def hold_of(container: Box) -> Hold:
    """The cargo space inside a container outline."""
    return Hold(Box(container.x0 + 60, container.y0 + FLOOR_MM, container.x1 - 70, container.y1 - ROOF_MM))


def plan_vehicle(layout: str, rng: np.random.Generator) -> Vehicle:
    """Choose margins, deck height, container height and positions for a layout (paints nothing)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown container layout {layout!r}; known: {sorted(LAYOUTS)}")
    lead = float(rng.uniform(600, 1400))  # air and the tractor's tail before the first box
    tail = float(rng.uniform(250, 900))
    deck = float(rng.uniform(1180, 1350))
    height = HEIGHT_MM["high_cube"] if (layout == "40ft" and rng.random() < 0.5) else HEIGHT_MM["standard"]
    boxes, x = [], lead
    for i, size in enumerate(LAYOUTS[layout]):
        boxes.append(Box(x, deck, x + LENGTH_MM[size], deck + height))
        x += LENGTH_MM[size] + (float(rng.uniform(60, 300)) if i == 0 and len(LAYOUTS[layout]) > 1 else 0)
    return Vehicle(layout, deck, height, tuple(boxes), tuple(hold_of(b) for b in boxes), x + tail)


def _corrugated_side_walls(c: Canvas, box: Box, t_mm: float) -> None:
    """Two corrugated side walls: the beam crosses both; inclined segments show as stripes."""
    pitch, flat_out, flat_in, slope = 278.0, 72.0, 68.0, 69.0
    depth = 36.0
    factor = np.hypot(slope, depth) / slope  # longer path through the inclined segments

    def path(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        u = np.mod(X - box.x0, pitch)
        inclined = ((u >= flat_out) & (u < flat_out + slope)) | (u >= flat_out + slope + flat_in)
        return np.where(inclined, 2 * t_mm / 10 * factor, 2 * t_mm / 10).astype(np.float32)

    c.add("iron", box, path)


def _box_tube(c: Canvas, box: Box, wall_mm: float, n: int = 2, across_cm: float = 6.0) -> None:
    """n hollow rectangular tubes along x (rails): thin walls across, full width at top and bottom."""
    c.add("iron", box, n * 2 * wall_mm / 10)
    c.add("iron", Box(box.x0, box.y1 - wall_mm, box.x1, box.y1), n * across_cm - n * 2 * wall_mm / 10)
    c.add("iron", Box(box.x0, box.y0, box.x1, box.y0 + wall_mm), n * across_cm - n * 2 * wall_mm / 10)


def build_container(c: Canvas, rng: np.random.Generator, box: Box) -> Hold:
    """Paint one ISO container with outline ``box`` (mm); returns its hold."""
    x0, x1, bottom, top = box.x0, box.x1, box.y0, box.y1
    size = "20ft" if box.w < 9000 else "40ft"
    w = INTERIOR_WIDTH_CM
    sheet = 2.0 if size == "20ft" else 1.6
    _corrugated_side_walls(c, Box(x0 + 150, bottom + 160, x1 - 150, top - 60), sheet)
    # top rails (60x60x4 tubes) and bottom rails (C-sections, web across the beam, flanges along it)
    _box_tube(c, Box(x0, top - 60, x1, top), 4.0)
    c.add("iron", Box(x0, bottom, x1, bottom + 160), 2 * 0.45)
    for y in (bottom, bottom + 155.5):
        c.add("iron", Box(x0, y, x1, y + 4.5), 2 * 5.0)
    # roof: a corrugated sheet spanning the width, a dark line at the top of the hold
    c.add("iron", Box(x0 + 100, top - 35, x1 - 100, top - 15), w * 0.2 / 2.0)
    # floor: plywood across the full width, on C-section cross-members that run along the beam
    c.add("cellulose", Box(x0, bottom + 122, x1, bottom + FLOOR_MM), w, density=0.7)
    spacing = float(rng.uniform(280, 320))
    for xm in np.arange(x0 + 200, x1 - 150, spacing):
        c.add("iron", Box(xm, bottom, xm + 4.5, bottom + 122), w)
        c.add("iron", Box(xm, bottom + 117.5, xm + 45, bottom + 122), w)
        c.add("iron", Box(xm, bottom, xm + 45, bottom + 4.5), w)
    # corner posts (both sides) and castings at the eight corners
    for px0, px1 in ((x0, x0 + 150), (x1 - 150, x1)):
        c.add("iron", Box(px0, bottom, px1, top), 2 * 2 * 0.6)
        inner = Box(px1 - 12, bottom, px1, top) if px0 == x0 else Box(px0, bottom, px0 + 12, top)
        c.add("iron", inner, 2 * 11.0)
        for y in (bottom, top - 118):
            c.add("iron", Box(px0 + (0 if px0 == x0 else -28), y, px0 + 178 - (0 if px0 == x0 else 28), y + 118), 2 * 8.0)
    # front end wall: a corrugated sheet across the beam, spread over its corrugation depth
    c.add("iron", Box(x0 + 8, bottom + 120, x0 + 53, top - 40), w * 0.2 / 45.0 * 2.0)
    # doors: two corrugated leaves, header and sill across the width, four locking bars outside
    c.add("iron", Box(x1 - 60, bottom + 120, x1 - 18, top - 40), w * 0.2 / 42.0 * 2.2)
    c.add("iron", Box(x1 - 150, top - 120, x1 - 10, top - 40), w * 0.08)
    c.add("iron", Box(x1 - 150, bottom + 10, x1 - 10, bottom + 130), w * 0.1)
    for cx in (x1 - 14, x1 - 9):
        c.add("iron", Box(cx - 14, bottom + 60, cx + 14, top - 60), cylinder_upright(cx, 13.5), 7.87 * 2)
    return hold_of(box)


def _wheel_set(c: Canvas, cx: float, radius: float, tyres: int) -> None:
    """An axle seen along the beam: rubber tyres, steel belts, rims, hubs and the axle tube."""
    c.add("polyethylene", Box(cx - radius, 0, cx + radius, 2 * radius),
          disk_along_beam(cx, radius, radius, tyres * 28.0, inner=radius - 35), density=1.15)
    c.add("polyethylene", Box(cx - radius, 0, cx + radius, 2 * radius),
          disk_along_beam(cx, radius, radius - 35, tyres * 3.0, inner=290), density=1.15)
    c.add("iron", Box(cx - radius, 0, cx + radius, 2 * radius), disk_along_beam(cx, radius, radius - 8, tyres * 0.4, inner=radius - 30))
    c.add("iron", Box(cx - 290, radius - 290, cx + 290, radius + 290), disk_along_beam(cx, radius, 290, tyres * 1.0, inner=240))
    c.add("iron", Box(cx - 210, radius - 210, cx + 210, radius + 210), disk_along_beam(cx, radius, 210, tyres * 4.0))
    c.add("iron", Box(cx - 65, radius - 65, cx + 65, radius + 65), disk_along_beam(cx, radius, 65, 60.0))


def build_chassis(c: Canvas, rng: np.random.Generator, x0: float, x1: float, deck: float) -> None:
    """Trailer chassis under [x0, x1], tandem/tridem axles at the rear, tractor drive axles in front."""
    # two I-beam main rails, deeper in the middle (gooseneck), flanges along the beam
    c.add("iron", Box(x0 - 200, deck - 330, x1, deck), 2 * 0.6)
    for y in (deck - 330, deck - 12):
        c.add("iron", Box(x0 - 200, y, x1, y + 12), 2 * 12.0)
    for xm in np.arange(x0, x1, float(rng.uniform(550, 700))):
        c.add("iron", Box(xm, deck - 200, xm + 8, deck - 60), 240.0 * 0.5)
    radius = float(rng.uniform(490, 530))
    n_axles = 3 if x1 - x0 > 9000 else 2
    rear = x1 - float(rng.uniform(1300, 1900))
    for k in range(n_axles):
        _wheel_set(c, rear - k * 1310.0, radius, tyres=4)
    # landing legs, then the tractor's tandem drive axles under the trailer's front
    legs = x0 + float(rng.uniform(1900, 2400))
    c.add("iron", Box(legs, 250, legs + 110, deck - 330), 2 * 2 * 0.5)
    c.add("iron", Box(legs - 60, 180, legs + 170, 250), 2 * 4.0)
    drive = x0 + float(rng.uniform(300, 900))
    for k in range(2):
        _wheel_set(c, drive - k * 1350.0, radius, tyres=4)
    c.add("iron", Box(x0 - 1500, deck - 480, drive + 700, deck - 340), 2 * 0.8)


def paint_vehicle(c: Canvas, rng: np.random.Generator, vehicle: Vehicle) -> None:
    """Paint chassis and containers of a planned vehicle."""
    for box in vehicle.containers:
        build_container(c, rng, box)
    build_chassis(c, rng, vehicle.containers[0].x0, vehicle.containers[-1].x1, vehicle.deck_mm)

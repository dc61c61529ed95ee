"""What must be flagged (DESIGN.md section 5), inserted as matter in the scene, not pasted as pixels.

Concealed objects displace the cargo they sit in: the cargo's areal density along their depth is removed
before theirs is added, so an organic brick among organic goods shows only its real density contrast.
Size, depth, material and placement are drawn wide enough to include the hard cases: a 10 cm steel
object inside machinery or steel coils, organic bricks among grain or garments, a partial false wall.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quayscan.datasets.scene import Box, Canvas, cylinder_along_x, ellipsoid, rounded_slab

TYPES = ("dense_concealment", "organic_concealment", "undeclared_goods", "manifest_mismatch", "hidden_compartment")
#: the anomalies that paint an object into the load (the others change what the load is)
CONCEALMENTS = ("dense_concealment", "organic_concealment")


@dataclass
class Anomaly:
    """One flagged finding: its type, its extent in scene mm, and how it was made."""

    type: str
    box: Box
    detail: dict[str, Any] = field(default_factory=dict)


def _place(rng: np.random.Generator, hold: Box, items: list[Box], w: float, h: float) -> Box:
    """A spot for a w x h mm object: inside a cargo item when there is one, else on the floor."""
    if items and rng.random() < 0.9:
        item = items[int(rng.integers(len(items)))]
        x0 = item.x0 + float(rng.uniform(0, max(1.0, item.w - w)))
        y0 = item.y0 + float(rng.uniform(0, max(1.0, item.h - h)))
    else:
        x0 = hold.x0 + float(rng.uniform(0, max(1.0, hold.w - w)))
        y0 = hold.y0 if rng.random() < 0.7 else hold.y0 + float(rng.uniform(0, max(1.0, hold.h - h)))
    x0 = min(max(x0, hold.x0), hold.x1 - w)
    y0 = min(max(y0, hold.y0), hold.y1 - h)
    return Box(x0, y0, x0 + w, y0 + h)


def displace(c: Canvas, box: Box, depth_cm: float, width_cm: float) -> None:
    """Remove the cargo that an object of ``depth_cm`` along the beam pushes aside."""
    rows, cols = c.region(box)
    c.maps[:, rows, cols] *= max(0.0, 1.0 - depth_cm / width_cm)


def dense_concealment(c: Canvas, rng: np.random.Generator, hold: Box, items: list[Box], width_cm: float) -> Anomaly:
    """A compact dense or metal object (weapon, ammunition, a shielded box), 10-60 cm long."""
    size = float(rng.uniform(100, 600))
    shape = str(rng.choice(["block", "elongated", "cylinder", "irregular"]))
    material = "lead" if rng.random() < 0.25 else "iron"
    fill = float(rng.uniform(0.35, 1.0))  # a gun or an ammunition box is not solid metal
    depth = float(rng.uniform(3, 30))
    if shape == "elongated":
        w, h = size, max(40.0, size * float(rng.uniform(0.12, 0.3)))
    elif shape == "cylinder":
        w, h = size, size * float(rng.uniform(0.25, 0.6))
    else:
        w, h = size, size * float(rng.uniform(0.5, 1.0))
    if rng.random() < 0.5:  # standing up
        w, h = h, w
    w, h = min(w, hold.w * 0.5), min(h, hold.h * 0.9)
    box = _place(rng, hold, items, w, h)
    displace(c, box, depth, width_cm)
    rho = {"iron": 7.87, "lead": 11.35}[material] * fill
    if shape == "cylinder" and w >= h:
        c.add(material, box, cylinder_along_x(box.cy, h / 2), density=rho)
    elif shape == "irregular":
        c.add(material, box, ellipsoid(box.cx, box.cy, w / 2, h / 2, depth), density=rho)
    else:
        c.add(material, box, depth, density=rho)
    return Anomaly("dense_concealment", box, {"material": material, "shape": shape, "size_mm": round(max(w, h)),
                                               "depth_cm": round(depth, 1), "fill": round(fill, 2)})


def bricks(c: Canvas, rng: np.random.Generator, area: Box, depth_cm: float, material: str, density: float) -> None:
    """Wrapped bricks stacked in a grid: each a rounded slab, gaps of wrapping between them."""
    bw, bh = float(rng.uniform(180, 320)), float(rng.uniform(50, 120))
    nx, ny = max(1, int(round(area.w / bw))), max(1, int(round(area.h / bh)))
    bw, bh = area.w / nx, area.h / ny

    def path(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        u = np.mod(X - area.x0, bw)
        v = np.mod(Y - area.y0, bh)
        inner = Box(0, 0, bw, bh)
        return rounded_slab(inner, depth_cm, 12.0)(u, v)

    c.add(material, area, path, density=density)
    c.add("polyethylene", area, depth_cm * 0.01, density=0.92)  # wrapping film


def organic_concealment(c: Canvas, rng: np.random.Generator, hold: Box, items: list[Box], width_cm: float) -> Anomaly:
    """A block of bricks (narcotics, cigarettes) whose density and texture differ from the cargo."""
    kind = str(rng.choice(["narcotics", "cigarettes", "resin"]))
    material, density = {
        "narcotics": ("protein", float(rng.uniform(1.0, 1.35))),
        "cigarettes": ("cellulose", float(rng.uniform(0.25, 0.45))),
        "resin": ("polyethylene", float(rng.uniform(0.9, 1.1))),
    }[kind]
    w = float(rng.uniform(250, 1200))
    h = float(rng.uniform(120, 800))
    depth = float(rng.uniform(20, 120)) if kind != "cigarettes" else float(rng.uniform(60, 200))
    depth = min(depth, width_cm * 0.9)
    box = _place(rng, hold, items, min(w, hold.w * 0.5), min(h, hold.h * 0.9))
    displace(c, box, depth, width_cm)
    bricks(c, rng, box, depth, material, density)
    return Anomaly("organic_concealment", box, {"kind": kind, "material": material, "density": round(density, 2),
                                                 "size_mm": round(max(box.w, box.h)), "depth_cm": round(depth, 1)})


def plan_compartment(rng: np.random.Generator, hold: Box) -> tuple[str, Box, Box]:
    """Choose a false wall, floor or roof: returns (variant, compartment box, what is left for cargo)."""
    variant = str(rng.choice(["false_wall", "false_wall", "partial_wall", "false_floor", "false_roof"]))
    if variant in ("false_wall", "partial_wall"):
        d = float(rng.uniform(300, 1200))
        top = hold.y1 if variant == "false_wall" else hold.y0 + hold.h * float(rng.uniform(0.4, 0.8))
        return variant, Box(hold.x0, hold.y0, hold.x0 + d, top), Box(hold.x0 + d + 10, hold.y0, hold.x1, hold.y1)
    length = hold.w * float(rng.uniform(0.25, 0.9))
    x0 = hold.x0 + float(rng.uniform(0, hold.w - length))
    d = float(rng.uniform(80, 220))
    if variant == "false_floor":
        return variant, Box(x0, hold.y0, x0 + length, hold.y0 + d), Box(hold.x0, hold.y0 + d + 5, hold.x1, hold.y1)
    return variant, Box(x0, hold.y1 - d, x0 + length, hold.y1), Box(hold.x0, hold.y0, hold.x1, hold.y1 - d - 5)


def hidden_compartment(c: Canvas, rng: np.random.Generator, variant: str, box: Box, width_cm: float) -> Anomaly:
    """Extra steel and a packed cavity: a false wall (full or partial), floor or roof."""
    plate = float(rng.uniform(1.5, 4.0))  # mm of steel in the false panel
    packed = float(rng.uniform(0.5, 0.95))  # share of the cavity's width the contraband fills
    if variant in ("false_wall", "partial_wall"):
        # a panel across the beam: the beam runs along it, spread over its few mm
        c.add("iron", Box(box.x1 - plate, box.y0, box.x1, box.y1), width_cm)
        c.add("iron", Box(box.x1 - 40, box.y0, box.x1 - 30, box.y1), width_cm * 0.05)  # stiffener
    elif variant == "false_floor":
        c.add("iron", Box(box.x0, box.y1 - plate, box.x1, box.y1), width_cm)
    else:
        c.add("iron", Box(box.x0, box.y0, box.x1, box.y0 + plate), width_cm)
    material, density = (("protein", float(rng.uniform(0.9, 1.3))) if rng.random() < 0.6
                         else ("cellulose", float(rng.uniform(0.3, 0.6))))
    if variant.endswith("wall"):
        inner = Box(box.x0 + 5, box.y0 + 5, box.x1 - plate - 5, box.y1 - 5)
    elif variant == "false_floor":
        inner = Box(box.x0 + 20, box.y0 + 5, box.x1 - 20, box.y1 - plate - 5)
    else:
        inner = Box(box.x0 + 20, box.y0 + plate + 5, box.x1 - 20, box.y1 - 5)
    if inner.w > 20 and inner.h > 20:
        bricks(c, rng, inner, width_cm * packed, material, density)
    return Anomaly("hidden_compartment", box, {"variant": variant, "plate_mm": round(plate, 1),
                                                "material": material, "size_mm": round(max(box.w, box.h))})


def union(boxes: list[Box]) -> Box:
    return Box(min(b.x0 for b in boxes), min(b.y0 for b in boxes), max(b.x1 for b in boxes), max(b.y1 for b in boxes))

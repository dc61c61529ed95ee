"""Heavy goods: machinery on skids, cars, steel coils.

These loads are mostly air around a few dense things, so their pieces are painted one by one; the
large, smooth ones (car panels, coils) with path functions that keep a single image-sized temporary.
"""

from __future__ import annotations

import numpy as np

from quayscan.datasets.cargo.paint import (PAYLOAD_KG, annulus, blocks, chord, clip, curve, fill_between, paint, radial, rects,
                                          stamp)
from quayscan.datasets.cargo.common import fill_length
from quayscan.datasets.scene import Box, Canvas, cylinder_along_x, cylinder_upright, ellipsoid


def _boxes(boxes: list[Box], region: Box) -> list[Box]:
    return [b for b in (clip(b, region) for b in boxes) if b]


# -- machinery --------------------------------------------------------------------------------------
def _housing(x0: float, y0: float, x1: float, y1: float, wall: float, dz: float, rho: float) -> tuple[list, list]:
    """A hollow cast box (gearbox, pump body): two walls across the beam, four along it."""
    bx = [[x0, y0, x1, y1], [x0, y1 - wall, x1, y1], [x0, y0, x1, y0 + wall], [x0, y0, x0 + wall, y1], [x1 - wall, y0, x1, y1]]
    along = rho * (dz - 2 * wall / 10)
    return bx, [rho * 2 * wall / 10, along, along, along, along]


def machinery(c: Canvas, rng: np.random.Generator, region: Box, width_cm: float) -> list[Box]:
    """Machines on timber skids, some crated: cast housings, motors, shafts, castings, frames.

    Each machine is a random assembly of iron (some aluminium) parts on a skid; sizes, counts and
    densities vary widely, as real machinery loads do. Walls are thick cast iron, so a housing shows
    a dark outline around a lighter inside.
    """
    load = fill_length(rng, region, 0.3, 1.0)
    x, out = load.x0 + float(rng.uniform(0, 200)), []
    sheets: dict[str, tuple[list, list]] = {}

    def add(mat: str, bx: list, ar: list) -> None:
        acc = sheets.setdefault(mat, ([], []))
        acc[0].extend(bx)
        acc[1].extend(ar)

    while x < load.x1 - 500 or not out:  # at least one machine, if the region holds one
        L = min(float(rng.uniform(600, 3200)), max(load.x1, region.x0 + 600) - x, region.x1 - x)
        if L < 300:
            break
        H = float(rng.uniform(400, max(450, min(2100, region.h - 250))))
        dz = float(rng.uniform(60, width_cm * 0.9))
        skid = float(rng.uniform(100, 160))
        add("cellulose", [[x, region.y0, x + L, region.y0 + skid], [x, region.y0, x + 100, region.y0 + skid],
                          [x + L - 100, region.y0, x + L, region.y0 + skid]], [0.55 * 20, 0.55 * dz, 0.55 * dz])
        base, top = region.y0 + skid, min(region.y0 + skid + H, region.y1 - 20)
        placed: list[Box] = []
        for _ in range(int(rng.integers(2, 7))):
            kind = str(rng.choice(["housing", "housing", "motor", "shaft", "casting", "frame", "gear", "alu"]))
            cap = {"motor": 700.0, "casting": 1100.0, "gear": 900.0}.get(kind, 2500.0)  # solid parts stay compact
            pw = min(float(rng.uniform(0.2, 0.8)) * L, cap)
            ph = min(float(rng.uniform(0.25, 0.9)) * H, cap * 0.8, top - base)
            px0 = x + float(rng.uniform(0, L - pw))
            under = [p for p in placed if p.x0 < px0 + pw and p.x1 > px0 and p.y1 + ph <= top]
            py0 = under[int(rng.integers(len(under)))].y1 if under and rng.random() < 0.5 else base  # on the base or on a part
            pz = float(rng.uniform(0.3, 1.0)) * dz
            b = Box(px0, py0, px0 + pw, py0 + ph)
            placed.append(b)
            if kind in ("housing", "alu"):
                mat, rho = ("iron", 7.2) if kind == "housing" else ("aluminium", 2.7)
                add(mat, *_housing(b.x0, b.y0, b.x1, b.y1, float(rng.uniform(8, 30)), pz, rho))
            elif kind in ("motor", "shaft"):  # a part-filled cylinder (stator, rotor) or a solid one, along x
                rad = min(ph, pw) / 2 if kind == "motor" else float(rng.uniform(30, 120))
                x0, x1 = (b.x0, b.x1) if kind == "motor" else (x + 0.05 * L, x + 0.95 * L)
                fill = float(rng.uniform(0.4, 0.6)) if kind == "motor" else 1.0
                paint(c, "iron", Box(x0, b.y0, x1, b.y0 + 2 * rad), region, cylinder_along_x(b.y0 + rad, rad), 7.87 * fill)
            elif kind == "casting":
                pz = min(pz, max(pw, ph) / 10 * float(rng.uniform(0.5, 1.0)))  # as deep as it is wide, cored
                paint(c, "iron", b, region, ellipsoid(b.cx, b.cy, pw / 2, ph / 2, pz), 7.2 * float(rng.uniform(0.3, 0.6)))
            elif kind == "gear":
                rad = min(pw, ph) / 2
                gear = annulus(b.cx, b.y0 + rad, rad, 0, float(rng.uniform(4, 20)))
                paint(c, "iron", Box(b.cx - rad, b.y0, b.cx + rad, b.y0 + 2 * rad), region, gear, 7.87)
            else:  # welded frame of I-beams: flanges along the beam, webs across
                fl = float(rng.uniform(8, 16))
                add("iron", [[b.x0, b.y1 - fl, b.x1, b.y1], [b.x0, b.y0, b.x1, b.y0 + fl],
                             [b.x0, b.y0, b.x0 + 120, b.y1], [b.x1 - 120, b.y0, b.x1, b.y1]],
                    [7.87 * pz, 7.87 * pz, 7.87 * 2 * fl / 10, 7.87 * 2 * fl / 10])
        crate = Box(x, base, x + L, top)
        if rng.random() < 0.35:  # a crate: boards on top and ends along the beam, sheathing across it
            add("cellulose", [[crate.x0, crate.y1 - 22, crate.x1, crate.y1], [crate.x0, crate.y0, crate.x0 + 22, crate.y1],
                              [crate.x1 - 22, crate.y0, crate.x1, crate.y1], [crate.x0, crate.y0, crate.x1, crate.y1]],
                [0.5 * dz, 0.5 * dz, 0.5 * dz, 0.5 * 2 * 2.2])
        out.append(Box(x, region.y0, x + L, top))
        x += L + float(rng.uniform(50, 600))
    for mat, (bx, ar) in sheets.items():
        rects(c, mat, region, bx, ar)
    return _boxes(out, region)


# -- vehicles ---------------------------------------------------------------------------------------
#: side profiles: x along the car (share of length), roof-line height (share of height), and the
#: knot where the roof ends (windscreen from knot 2 to 3, rear window from the roof's end to the next)
CARS = {
    "sedan": ((0, .02, .27, .42, .68, .83, .97, 1), (.42, .58, .66, 1, 1, .70, .66, .45), 4),
    "hatchback": ((0, .02, .28, .44, .86, .96, 1), (.45, .60, .68, 1, .97, .60, .45), 4),
    "suv": ((0, .02, .23, .36, .93, .99, 1), (.50, .64, .70, 1, .98, .60, .50), 4),
}


def _table(radius: float, rings: list[tuple[float, float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Radial profile (1 mm steps) summing rings (inner, outer, g/cm^2)."""
    r = np.arange(0.0, radius + 2.0)
    return r, sum(v * ((r >= a) & (r < b)) for a, b, v in rings)


def _join(pieces: list[tuple]) -> tuple[np.ndarray, ...]:
    """Concatenate knot sets of parts that do not overlap in x, with zero between them."""
    out = [[], [], [], []]
    for xk, lo, hi, ar in sorted(pieces, key=lambda p: p[0][0]):
        for o, v, pad in zip(out, (xk, lo, hi, ar), ((xk[0] - 0.5, xk[-1] + 0.5), (lo[0], lo[-1]), (hi[0], hi[-1]), (0, 0))):
            o.append(np.concatenate([[pad[0]], np.asarray(v, float), [pad[1]]]))
    return tuple(np.concatenate(o) for o in out)


def _car(c: Canvas, rng: np.random.Generator, region: Box, x0: float, L: float, H: float, raise_mm: float,
         front: bool, parts: dict[str, list]) -> Box:
    """Plan one car from the side, front at ``x0``, into ``parts`` (painted for all cars at once);
    ``raise_mm`` lifts its front or rear wheels onto a rack. Wheels are stamped here.

    The tilt is drawn as a vertical shear (each column shifted), a close match to a rotation of a few
    degrees that keeps every part a cheap function of x.
    """
    xs, ys, k = CARS[str(rng.choice(list(CARS)))]
    R = float(rng.uniform(300, 340))
    fo, ro = L * float(rng.uniform(0.17, 0.22)), L * float(rng.uniform(0.2, 0.25))
    wf, wr = x0 + fo, x0 + L - ro  # wheel centres
    tilt, floor = raise_mm / (wr - wf), region.y0
    def off(x):  # height of the car's ground line at x: the floor, sheared by the tilt
        return floor + tilt * ((wr - np.asarray(x, float)) if front else (np.asarray(x, float) - wf))

    kx, top = x0 + np.asarray(xs) * L, np.asarray(ys) * H
    sill, belt, W = 0.5 * R, H * float(rng.uniform(0.58, 0.65)), float(rng.uniform(170, 185))
    fine = np.linspace(x0, x0 + L, 60)
    up, roof = off(fine), np.interp(fine, kx, top)
    bot = np.interp(fine, [x0, x0 + 0.05 * L, x0 + 0.95 * L, x0 + L], [1.7 * sill, sill, sill, 1.9 * sill])
    # doors and side panels (skins, inner panels, intrusion beams: ~25 kg a door, both sides)
    parts["body"].append((fine, up + bot, up + np.minimum(roof, belt), np.full(60, 7.87 * 0.9)))
    uk = np.array([wf - R, wf - R + 1, wr + R - 1, wr + R])  # floor cross-members, exhaust, tank, suspension
    parts["under"].append((uk, off(uk) + sill, off(uk) + sill + 200, np.array([0, 20.0, 20.0, 0])))
    glass = (fine > kx[2]) & (fine < kx[k + 1])
    parts["glass"].append((fine, up + np.minimum(roof, belt), up + roof - 15, 2.5 * 0.8 * glass))
    for p in (kx[2] + 0.3 * (kx[3] - kx[2]), x0 + 0.52 * L, kx[k + 1] - 0.4 * (kx[k + 1] - kx[k])):  # A, B, C pillars
        parts["iron"].append(([p - 50, float(off(p)) + belt, p + 50, float(off(p) + np.interp(p, kx, top))], 7.87 * 0.8))
    # bonnet, roof, boot lid and end panels span the car's width (dark lines); so do the windows
    parts["roof"].append((kx, top + off(kx), np.isin(np.arange(len(kx) - 1), [2, k]), W))
    fk = np.array([wf - R, wr + R])
    parts["floor"].append((fk, off(fk) + sill + 80, np.array([False]), W))
    ex = wf + float(rng.uniform(-80, 120))  # engine over the front axle, gearbox beside it, lead battery
    ey = float(off(ex)) + R + 180
    parts["engine"].append((ex - 290, ex + 290, ey - 220, ey + 220))
    parts["gearbox"].append((ex + 100, ex + 400, ey - 200, ey + 60))
    parts["lead"].append([wf + 250, ey + 120, wf + 480, ey + 290])
    dash = kx[2] + 120
    parts["iron"] += [([x0 + 40, float(off(x0)) + 350, x0 + 140, float(off(x0)) + 450], 7.87 * W * 0.1),  # crash beams
                      ([x0 + L - 140, float(off(x0 + L)) + 400, x0 + L - 40, float(off(x0 + L)) + 500], 7.87 * W * 0.1),
                      ([dash, float(off(dash)) + belt - 120, dash + 60, float(off(dash)) + belt - 60], 7.87 * W * 0.12)]  # dash beam
    parts["aluminium"].append(([x0 + 160, float(off(x0)) + 330, x0 + 200, float(off(x0)) + 730], 2.7 * 60 * 0.15))  # radiator
    # front seats and rear bench (foam, two across) on steel frames: cushion and backrest in one outline
    seats = [x0 + 0.45 * L, x0 + 0.66 * L]
    sk = np.array([[sx - 251, sx - 250, sx + 150, sx + 260, sx + 261] for sx in seats]).ravel()
    cushion = off(sk) + sill + 150
    back = np.tile([0, 250, 250, 0, 0], 2) + np.tile([0, 0, 1, 1, 0], 2) * (belt - sill - 150)
    parts["seats"].append((sk, cushion, cushion + back + 1, np.tile([0, 8.0, 8.0, 8.0, 0], 2)))  # foam, trim, springs
    parts["iron"] += [([sx - 250, float(off(sx)) + sill + 140, sx + 250, float(off(sx)) + sill + 160], 7.87 * 1.2)
                      for sx in seats]
    if raise_mm > 0:  # rack posts and the cross beam under the raised wheels
        wx = wf if front else wr
        parts["iron"] += [([wx - 160, floor, wx - 100, floor + raise_mm], 7.87 * 1.6),
                          ([wx + 100, floor, wx + 160, floor + raise_mm], 7.87 * 1.6),
                          ([wx - 200, floor + raise_mm - 80, wx + 200, floor + raise_mm], 7.87 * 0.2 * W)]
    # wheels, left and right overlapping: tyres (sidewalls, tread), rims (disc, barrel), brakes, shafts
    alloy, rim = rng.random() < 0.6, R * float(rng.uniform(0.6, 0.7))
    r, tyre = _table(R, [(rim, R - 15, 1.15 * 4.0), (R - 15, R, 1.15 * 40.0)])
    rho = 2.7 if alloy else 7.87
    wheel = _table(R, [(0, rim, rho * 2 * (1.2 if alloy else 0.4)), (rim - 5, rim, rho * 36.0)])[1]
    steel = _table(R, [(0, 150, 7.87 * 4.4), (0, 16, 7.87 * 120.0)])[1]
    centres = [(wf, R + float(off(wf))), (wr, R + float(off(wr)))]
    for mat, patch in zip(("polyethylene", "aluminium" if alloy else "iron", "iron"), radial(c, R, r, tyre, wheel, steel)):
        stamp(c, mat, region, patch, centres)
    return Box(x0, floor, x0 + L, min(floor + H + 0.9 * raise_mm, region.y1))


def _paint_cars(c: Canvas, region: Box, parts: dict[str, list]) -> None:
    """Paint the planned parts of cars that do not overlap in x: one call per kind of part."""
    for name, mat in (("body", "iron"), ("under", "iron"), ("glass", "glass")):
        fill_between(c, mat, region, *_join(parts[name]))
    for seats in parts["seats"]:  # small: one call per car beats one call over all the air between
        fill_between(c, "polyethylene", region, *seats)
    for name in ("roof", "floor"):  # polylines joined by massless segments
        lines = sorted(parts[name], key=lambda p: p[0][0])
        xk, yk = np.concatenate([p[0] for p in lines]), np.concatenate([p[1] for p in lines])
        window = np.concatenate([np.append(p[2], True) for p in lines])[:-1]
        gap = np.concatenate([np.append(np.zeros(len(p[2]), bool), True) for p in lines])[:-1]
        W = np.concatenate([np.full(len(p[2]) + 1, p[3]) for p in lines])[:-1]
        curve(c, "iron", region, xk, yk, np.where(window | gap, 0, 7.87 * 0.08 * W * (0.85 if name == "roof" else 1.0)))
        if name == "roof":
            curve(c, "glass", region, xk, yk, np.where(window & ~gap, 2.5 * 0.5 * W * 0.8, 0))
    for name, mat, areal in (("engine", "iron", 7.87 * 0.37 * 55), ("gearbox", "aluminium", 2.7 * 0.5 * 40)):
        b = np.array(parts[name])
        fn = blocks(b[:, 0], b[:, 1], b[:, 2], b[:, 3], areal, float((b[0, 1] - b[0, 0]) / 2), float((b[0, 3] - b[0, 2]) / 2))
        paint(c, mat, Box(b[:, 0].min(), b[:, 2].min(), b[:, 1].max(), b[:, 3].max()), region, fn)
    rects(c, "lead", region, parts["lead"], 11.35 * 0.35 * 17)
    for mat in ("iron", "aluminium"):
        rects(c, mat, region, [p[0] for p in parts[mat]], [p[1] for p in parts[mat]])


def vehicles(c: Canvas, rng: np.random.Generator, region: Box, width_cm: float) -> list[Box]:
    """One to three cars from the side: sheet-steel body, glass, engine, seats and wheels.

    Cars drive in one behind the other; a region under 2.8 x 1.45 m holds none (returns []). When
    three would not fit on the floor, the first rides on a rack with its rear raised and the third
    with its front raised, their ends over the middle car's bonnet and boot (as car racks load a
    high-cube box).
    """
    if region.w < 2800 or region.h < 1450:  # not even a city car fits
        return []
    L = np.minimum(rng.uniform(4200, 4900, 3), region.w - 100)  # a short region holds a smaller car
    H = np.minimum(rng.uniform(1450, 1700, 3), region.h - 20)
    gap, overlap = float(rng.uniform(150, 400)), float(rng.uniform(900, 1200))
    raise_mm = np.minimum(rng.uniform(700, 1000, 3), (region.h - H - 40) / 0.95)
    racked = rng.random() < 0.6 and raise_mm[[0, 2]].min() > 600 and L.sum() + 2 * (gap - overlap) < region.w - 100
    if racked:
        n, raise_mm = 3, raise_mm * [1, 0, 1]
    else:
        fit = max(1, int(np.searchsorted(np.cumsum(L + gap), region.w - 100, side="right")))
        n, raise_mm = max(1, int(rng.integers(max(1, fit - 1), fit + 1))), raise_mm * 0
    x, out = region.x0 + float(rng.uniform(50, 150)), []
    kinds = ("body", "under", "glass", "seats", "roof", "floor", "engine", "gearbox", "lead", "iron", "aluminium")
    groups = [{k: [] for k in kinds} for _ in range(2)]
    for i in range(n):  # racked cars overlap their neighbours: paint odd and even cars separately
        out.append(_car(c, rng, region, x, float(L[i]), float(H[i]), float(raise_mm[i]), i == 2, groups[i % 2 if racked else 0]))
        x += L[i] + gap - (overlap if racked and i < 2 else 0)
    for parts in groups:
        if parts["body"]:
            _paint_cars(c, region, parts)
    return _boxes(out, region)


# -- steel coils ------------------------------------------------------------------------------------
def steel_coils(c: Canvas, rng: np.random.Generator, region: Box, width_cm: float) -> list[Box]:
    """Two to six coils of sheet steel, weight-limited, spread along the floor on timber or steel cradles.

    Eye to the side (axis along the beam) a coil is an opaque ring of its full width; eye along the
    container it is a rectangle, darkest at top and bottom; eye to the sky it stands on a skid.
    Lashing chains run from the eye to the floor.
    """
    mode = str(rng.choice(["side", "side", "along", "sky"]))
    n = int(rng.integers(2, 7))
    eye = float(rng.choice([254.0, 305.0]))  # 508 / 610 mm inner diameter
    budget = float(rng.uniform(*PAYLOAD_KG)) / n  # kg per coil
    width = float(rng.uniform(1000, 1500)) if n <= 3 else float(rng.uniform(600, 1200))
    width = min(width, width_cm * 10 * 0.75)
    R = np.sqrt(budget / (7870 * np.pi * width / 1000) + (eye / 1000) ** 2) * 1000  # the weight decides the size
    R = float(np.clip(R * rng.uniform(0.85, 1.0), 500, 900))
    size_x = width if mode == "along" else 2 * R
    cradle = 120.0 if mode == "sky" else 0.0
    R = min(R, (region.h - cradle - 60) / 2) if mode != "sky" else R
    if mode == "sky":
        width = min(width, region.h - cradle - 20)
    n = int(min(n, max(1, (region.w - 100) // (size_x + 300))))
    if R <= eye + 50 or size_x > region.w:
        return []
    span_x = min(region.w - size_x - 100, n * (size_x + float(rng.uniform(300, 1500))))
    start = region.x0 + 50 + (region.w - 100 - size_x - span_x) * float(rng.uniform(0.2, 0.8))
    xs = start + (np.linspace(0, span_x, n) if n > 1 else np.array([span_x / 2]))
    xs += rng.uniform(-50, 50, n) * (n > 1)
    out, floor = [], region.y0
    wood = rng.random() < 0.7
    for x in xs:
        cx = x + size_x / 2
        if mode == "side":
            cy = floor + R + 40
            paint(c, "iron", Box(cx - R, cy - R, cx + R, cy + R), region, annulus(cx, cy, R, eye, width / 10), 7.87)
            for s in (-1, 1):  # wedges both sides of the coil's bottom, along the beam
                wx = np.array([cx + s * 0.25 * R, cx + s * 0.7 * R])[:: s]
                hi = floor + np.array([40, 0.35 * R])[:: s]
                areal = 0.6 * width / 10 if wood else 7.87 * 4.0  # timber wedge, or a steel saddle's two plates
                fill_between(c, "cellulose" if wood else "iron", region, wx, [floor] * 2, hi, [areal] * 2)
            rects(c, "cellulose", region, [[cx - 0.8 * R, floor, cx + 0.8 * R, floor + 40]], 0.6 * 2 * 15)
            box = Box(cx - R, floor, cx + R, cy + R)
            anchor = (cx, cy + eye * 0.6)
        elif mode == "along":
            cy = floor + R + 80
            paint(c, "iron", Box(x, cy - R, x + width, cy + R), region, lambda X, Y, cy=cy: chord(R, Y - cy) - chord(eye, Y - cy), 7.87)
            rects(c, "cellulose", region, [[x - 100, floor, x + width + 100, floor + 80],  # bearers and side wedges
                                           [x, floor + 80, x + width, floor + 80 + 0.3 * R]], [0.6 * 2 * 15, 0.6 * 2 * 20])
            box, anchor = Box(x, floor, x + width, cy + R), (cx, cy)
        else:
            base = floor + cradle
            paint(c, "iron", Box(cx - R, base, cx + R, base + width), region, cylinder_upright(cx, R, inner=eye), 7.87)
            rects(c, "cellulose", region, [[cx - R, floor, cx + R, base]], 0.55 * 2 * R / 10 * 0.6)
            box, anchor = Box(cx - R, floor, cx + R, base + width), (cx, base + width)
        for s in (-1, 1):  # lashing chains from the eye down to the floor's lashing points
            fx = anchor[0] + s * float(rng.uniform(0.9, 1.3)) * (box.w / 2 + 150)
            kx = np.array(sorted([anchor[0], fx]))
            ky = np.array([anchor[1] - floor, 20.0])[:: s]
            curve(c, "iron", region, kx, floor + ky, 44.0)  # two 10 mm chains, ~2.2 kg/m each
        out.append(box)
    return _boxes(out, region)

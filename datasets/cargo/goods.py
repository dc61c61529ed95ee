"""Packaged goods: tyres, garments, beverages, electronics, furniture.

Each builder paints whole rows of identical pieces at once (a row of cartons, a pallet layer of
bottles, a tier of tyres) from 1-D profiles along x and y, because a load holds hundreds of them.
"""

from __future__ import annotations

import numpy as np

from quayscan.datasets.cargo.paint import PAYLOAD_KG, chord, clip, grid, layer, profile, radial, rects, stamp
from quayscan.datasets.cargo.common import fill_length
from quayscan.datasets.scene import Box, Canvas

#: tyre classes: outer diameter, section width, rim diameter (mm) ranges; tread rubber and belt steel (mm)
TYRES = {
    "car": ((590, 700), (165, 245), (380, 460), 13.0, 0.4),
    "light_truck": ((700, 800), (205, 275), (400, 460), 16.0, 0.8),
    "truck": ((950, 1100), (275, 315), (560, 575), 22.0, 1.6),
}


def _cover(v: np.ndarray, pitch: float, spans: list[tuple[float, float]]) -> np.ndarray:
    """Share of each pixel row (centres ``v``, mm) inside the given spans."""
    return sum(np.clip(np.minimum(v + pitch / 2, b) - np.maximum(v - pitch / 2, a), 0, None) for a, b in spans) / pitch


def tires(c: Canvas, rng: np.random.Generator, region: Box, width_cm: float) -> list[Box]:
    """Tyres stacked flat in columns (rings seen edge-on) or standing in nested rows (rings face-on).

    Rubber (1.15 g/cm^3) in tread and sidewalls, steel in the belts under the tread and in the bead
    wires at the rim. Stacked flat, each tyre shows its tread walls as two dark side lines and its
    sidewalls as bands; standing, the beam runs along the tread, so rings of full depth stand out.
    """
    kind = str(rng.choice(["car", "car", "light_truck", "truck"]))
    (d_lo, d_hi), (w_lo, w_hi), (r_lo, r_hi), tread, belt = TYRES[kind]
    D, w, rim = (float(rng.uniform(lo, hi)) for lo, hi in ((d_lo, d_hi), (w_lo, w_hi), (r_lo, r_hi)))
    if D > min(region.w, region.h) - 20:  # a short or low region takes smaller tyres, or none
        D, w, rim = min(region.w, region.h) - 20, min(w, 0.35 * D), min(rim, 0.65 * D)
        if D < 550:
            return []
    load = fill_length(rng, region, 0.5, 1.0)
    load = Box(load.x0, load.y0, max(load.x1, min(region.x1, load.x0 + D + 40)), load.y1)
    depth_mm = width_cm * 10 * float(rng.uniform(0.85, 0.98))
    R, r, side = D / 2, rim / 2, tread * 0.65
    out: list[Box] = []
    if rng.random() < 0.55 and w < region.h:  # stacked flat: axis vertical
        n_deep = max(1, int(depth_mm // D))
        pitch = D + float(rng.uniform(0, 40))
        n_max = max(1, int(region.h * float(rng.uniform(0.85, 0.99)) // w))
        g = grid(c, Box(load.x0, region.y0, load.x1, region.y0 + 1), region)
        if g is None:
            return []
        cols, X = g[1], g[2][0]
        deep = []  # per row of stacks across the beam: tyres per column, and 1-D profiles (cm) of
        # tread, sidewall (spread over a 25 mm band), belt and bead wire
        for d in range(n_deep):
            stagger = (pitch / 2 if rng.random() < 0.5 else 0.0) if d else 0.0  # rows behind: in line or in the gaps
            cx = load.x0 + R + stagger + float(rng.uniform(0, 40)) + np.arange(0, load.w, pitch)
            cx = cx[cx + R <= load.x1]
            if not len(cx):
                continue
            n = np.clip(n_max - (rng.random(len(cx)) < 0.25) * rng.integers(1, 4, len(cx)), 1, n_max)
            k = np.minimum(np.searchsorted(cx + R, X), len(cx) - 1)  # the stack each column may cross
            u = X - cx[k]
            deep.append((n[k], np.stack([chord(R, u) - chord(R - tread, u), (chord(R - tread, u) - chord(r, u)) * side / 25,
                                         chord(R - tread, u) - chord(R - tread - belt, u), chord(r + 6, u) - chord(r, u)])))
            out += [Box(x - R, region.y0, x + R, region.y0 + m * w) for x, m in zip(cx, n)]
        for i in range(n_max):
            strip = grid(c, Box(load.x0, region.y0 + i * w, load.x1, region.y0 + (i + 1) * w), region)
            if strip is None:
                continue
            rows, Y = strip[0], strip[3][:, 0]
            v = Y - (region.y0 + i * w)
            tier = sum((p * (n > i) for n, p in deep), np.zeros((4, len(X)), np.float32))  # stacks reaching this tier
            py = c.pitch[1]  # rows covered by: the tread, sidewalls, belt, bead wires
            bands = np.stack([_cover(v, py, [(0, w)]), _cover(v, py, [(0, 25), (w - 25, w)]),
                              _cover(v, py, [(0.12 * w, 0.88 * w)]), _cover(v, py, [(8, 13), (w - 13, w - 8)])], 1)
            layer(c, "polyethylene")[rows, cols] += 1.15 * (bands[:, :2] @ tier[:2])
            layer(c, "iron")[rows, cols] += 7.87 * (bands[:, 2:] @ tier[2:])
        return [b for b in (clip(b, region) for b in out) if b]
    # standing on the tread: axis along the beam; upper tiers nest into the gaps of the lower ones
    n_deep = max(1, int(depth_mm // w))
    nested = rng.random() < 0.6
    vs = D * (float(rng.uniform(0.8, 0.9)) if nested else 1.0)
    n_tiers = max(1, int((region.h - D) // vs) + 1)
    rr = np.arange(0.0, R + 2.0)

    def ring(a: float, b: float) -> np.ndarray:
        return ((rr >= a) & (rr < b)).astype(np.float32)

    rubber = 1.15 * n_deep * (ring(r, R - tread) * 2 * side / 10 + ring(R - tread, R) * w / 10)
    steel = 7.87 * n_deep * (ring(R - tread - 1 - belt, R - tread - 1) * 0.76 * w / 10 + ring(r, r + 6) * 2 * 0.5)
    rubber, steel = radial(c, R, rr, rubber, steel, ring_mm=4.0)  # rows of them: keep the thin rings' mass
    centres, end = [], load.x1
    for j in range(n_tiers):
        off = R + (D / 2 if nested and j % 2 else 0) + float(rng.uniform(0, 20))
        xs = load.x0 + off + np.arange(0, load.w, D + 5)
        xs = xs[xs + R <= end + (R if nested and j else 0)]  # a tyre rests on the tier below
        if j and rng.random() < 0.2:  # an upper tier left short
            xs = xs[: int(len(xs) * float(rng.uniform(0.3, 1.0)))]
        cy = region.y0 + R + j * vs
        if not len(xs) or cy + R > region.y1:
            break
        centres += [(x, cy) for x in xs]
        end = xs[-1] + R
    stamp(c, "polyethylene", region, rubber, centres)
    stamp(c, "iron", region, steel, centres)
    return [b for b in (clip(Box(x - R, y - R, x + R, y + R), region) for x, y in centres) if b]


def carton_wall(c: Canvas, rng: np.random.Generator, area: Box, region: Box, depth_cm: float, material: str,
                density: tuple[float, float], width_mm: tuple[float, float], height_mm: tuple[float, float]) -> list[tuple]:
    """Cartons stacked in layers filling ``area``, column-stacked or brick-bonded, the top layer maybe
    incomplete. The beam sums several cartons, so each drawn carton carries their mean density (a
    faint carton-to-carton texture); thin gaps between cartons show as light lines.

    A layer's cartons share a height, so each layer is one outer product of a y and an x profile.
    Returns the layers as (x0s, x1s, y0, y1) of their cartons.
    """
    cw, ch = float(rng.uniform(*width_mm)), min(float(rng.uniform(*height_mm)), area.h)
    ny = max(1, int(area.h // ch))
    ch = area.h / ny
    brick = rng.random() < 0.4
    out = []
    for j in range(ny):
        x0 = area.x0 - (cw / 2 if brick and j % 2 else 0)
        xs = np.arange(x0, area.x1 - 60, cw)
        if j == ny - 1 and ny > 1 and rng.random() < 0.5:
            xs = xs[: max(1, int(len(xs) * float(rng.uniform(0.3, 1.0))))]
        x0s, x1s = np.maximum(xs, area.x0) + 4, np.minimum(xs + cw, area.x1) - 4
        y0, y1 = area.y0 + j * ch + 3, area.y0 + (j + 1) * ch - 3 - float(rng.uniform(0, 10))
        g = grid(c, Box(float(x0s[0]), y0, float(x1s[-1]), y1), region)
        if g is not None:
            rows, cols, X, Y = g
            fx = profile(X[0], x0s, x1s, depth_cm * rng.uniform(*density, len(xs)), 6.0)
            fy = profile(Y[:, 0], [y0], [y1], 1.0, 6.0)
            layer(c, material)[rows, cols] += np.outer(fy, fx)
        out.append((x0s, x1s, y0, y1))
    return out


def _boxes(layers: list[tuple], region: Box) -> list[Box]:
    """The cartons of :func:`carton_wall` as boxes inside the region."""
    boxes = (Box(float(a), y0, float(b), y1) for x0s, x1s, y0, y1 in layers for a, b in zip(x0s, x1s))
    return [b for b in (clip(b, region) for b in boxes) if b]


def garments(c: Canvas, rng: np.random.Generator, region: Box, width_cm: float) -> list[Box]:
    """Cartons of clothing (0.12-0.25 g/cm^3) stuffed nearly to the roof: a faint, even grid."""
    load = fill_length(rng, region, 0.55, 1.0)
    area = Box(load.x0, region.y0, load.x1, region.y1 - float(rng.uniform(0, min(400, region.h * 0.3))))
    depth = width_cm * float(rng.uniform(0.85, 0.97))
    return _boxes(carton_wall(c, rng, area, region, depth, "cellulose", (0.12, 0.25), (380, 650), (270, 520)), region)


#: bottle profiles: (height fractions, radius fractions) of the outside, fill height fraction
SHAPES = {
    "pet": ((0, 0.02, 0.6, 0.8, 0.86, 1.0), (0.9, 1.0, 1.0, 0.55, 0.32, 0.32), 0.86),
    "glass": ((0, 0.6, 0.72, 0.78, 1.0), (1.0, 1.0, 0.55, 0.38, 0.38), 0.8),
    "can": ((0, 0.04, 0.92, 1.0), (0.9, 1.0, 1.0, 0.85), 0.9),
}
#: container: diameter, height (mm), wall material, wall (mm), wall density
CONTAINERS = {
    "pet": ((60, 95), (200, 330), "polyethylene", 0.35, 1.38),
    "glass": ((62, 80), (230, 310), "glass", 3.5, 2.5),
    "can": ((53, 67), (115, 168), "aluminium", 0.12, 2.7),
}


def beverages(c: Canvas, rng: np.random.Generator, region: Box, width_cm: float) -> list[Box]:
    """Pallets of bottles or cans in layers on slip sheets: rows of liquid-filled shapes.

    Bottles stand in a square grid, so the beam meets a row of them at every x: each column of the
    image is a chord of the same bottle profile times the bottles in the row. Liquid is water.
    """
    kind = str(rng.choice(list(SHAPES)))
    (dl, dh), (hl, hh), wall_mat, wall, wall_rho = CONTAINERS[kind]
    d, h = float(rng.uniform(dl, dh)), float(rng.uniform(hl, hh))
    vs, rs, fill = SHAPES[kind]
    pal_x = min(float(rng.choice([1000.0, 1200.0])), region.w - 20)  # 1000 x 1200 mm pallets
    across = 2200 - pal_x if rng.random() < 0.5 else pal_x  # two across the beam, turned either way
    depth = min(width_cm * 10 * 0.95, 2 * across)
    n_deep = max(1, int(depth // d))
    n_row = max(1, int(pal_x // d))
    step = h + 4  # layers separated by slip sheets
    levels = 2 if region.h > 2 * (144 + 4 * step) + 60 and rng.random() < 0.5 else 1
    n_layers = max(1, int((region.h / levels - 144 - 40) * float(rng.uniform(0.6, 1.0)) // step))
    if region.h < 144 + h + 10 or region.w < d * 3:
        return []
    pallet_kg = n_row * n_deep * n_layers * np.pi * (d / 20) ** 2 * h / 10 * fill / 1000 * levels
    load = fill_length(rng, region, 0.6, 1.0)  # the weight usually decides first
    n = int(np.clip(float(rng.uniform(*PAYLOAD_KG)) // max(pallet_kg, 1), 1, max(1, load.w // (pal_x + 40))))
    xs = load.x0 + np.arange(n) * (pal_x + float(rng.uniform(10, 40)))
    out = []
    for lev in range(levels):
        floor = region.y0 + lev * (144 + n_layers * step + 20)
        deck = [[x, floor + 120, x + pal_x, floor + 144] for x in xs] + [[x, floor, x + pal_x, floor + 22] for x in xs]
        posts = [[s, floor + 22, s + 90, floor + 120] for x in xs for s in np.linspace(x, x + pal_x - 90, 3)]
        rects(c, "cellulose", region, deck + posts, depth / 10 * 0.55)
        base = floor + 144
        sheets = [[x, base + k * step + h, x + pal_x, base + k * step + h + 3] for x in xs for k in range(n_layers)]
        rects(c, "cellulose", region, sheets, depth / 10 * 0.7)
        g = grid(c, Box(xs[0], base, xs[-1] + pal_x, base + n_layers * step), region)
        if g is not None:
            rows, cols, X, Y = g
            starts = xs + (pal_x - n_row * d) / 2
            k = np.clip(np.searchsorted(starts, X[0], side="right") - 1, 0, len(starts) - 1)
            u = X[0] - starts[k]  # offset from the axis of the bottle row each column crosses
            u = np.where((u >= 0) & (u < n_row * d), np.mod(u, d) - d / 2, 1e4)
            v = np.mod(Y[:, 0] - base, step)
            # every pixel row has one outer radius: chords for each distinct radius (a small table),
            # then the image is those rows gathered (walls: outer minus inner chord; liquid: inner)
            level, row = np.unique(np.round(np.interp(v / h, vs, rs) * d / 2 * 4) / 4, return_inverse=True)
            outer = chord(level[:, None], u[None, :])
            inner = chord(np.maximum(level - wall, 0)[:, None], u[None, :])
            walls, liquid = (outer - inner) * (n_deep * wall_rho), np.vstack([inner * n_deep, np.zeros_like(u)])
            layer(c, wall_mat)[rows, cols] += walls.astype(np.float32)[row]
            layer(c, "water")[rows, cols] += liquid.astype(np.float32)[np.where(v < fill * h, row, len(level))]
        out += [Box(x, floor, x + pal_x, base + n_layers * step) for x in xs]
    return [b for b in (clip(b, region) for b in out) if b]


def _along(rho: float, t_mm: float, depth_mm: float, band_mm: float) -> float:
    """g/cm^2 of a sheet lying along the beam (``t_mm`` thick, ``depth_mm`` deep) drawn as a band."""
    return rho * depth_mm / 10 * t_mm / band_mm


def _product(kind: str, rng: np.random.Generator) -> tuple[float, float, float, list[tuple]]:
    """Carton (w, h, depth mm) and contents of one product: (material, x0, y0, x1, y1 as carton
    fractions, g/cm^2 per carton)."""
    if kind == "computer":  # steel case, power supply, board with heat sink, drive
        w, h, d = rng.uniform(430, 520), rng.uniform(480, 580), rng.uniform(220, 260)
        lid = _along(7.87, 0.8, d, 0.02 * h)
        return w, h, d, [("iron", .08, .08, .92, .92, 7.87 * .16), ("iron", .08, .90, .92, .92, lid),
                         ("iron", .08, .08, .92, .10, lid), ("iron", .10, .70, .45, .88, 12.5), ("glass", .15, .25, .85, .68, .5),
                         ("aluminium", .40, .42, .56, .58, 8.6), ("iron", .60, .74, .88, .84, 8.0)]
    if kind == "television":  # glass panel on a steel back plate, aluminium frame, stand, power board
        w, h, d = rng.uniform(900, 1400), rng.uniform(580, 850), rng.uniform(130, 170)
        return w, h, d, [("glass", .04, .14, .96, .92, .9), ("iron", .04, .14, .96, .92, .47),
                         ("aluminium", .04, .14, .05, .92, 8.0), ("aluminium", .95, .14, .96, .92, 8.0),
                         ("aluminium", .04, .91, .96, .92, 8.0), ("iron", .36, .03, .64, .09, 7.9),
                         ("iron", .60, .30, .78, .44, 4.0)]
    if kind == "microwave":  # steel case, transformer, magnetron, glass turntable, door
        w, h, d = rng.uniform(480, 560), rng.uniform(330, 400), rng.uniform(380, 450)
        lid = _along(7.87, 0.6, d, 0.02 * h)
        return w, h, d, [("iron", .04, .06, .96, .94, .94), ("iron", .04, .92, .96, .94, lid), ("iron", .04, .06, .96, .08, lid),
                         ("iron", .68, .10, .92, .34, 47.0), ("iron", .70, .46, .88, .62, 25.0),
                         ("glass", .10, .15, .62, .17, _along(2.5, 5.0, 300, 0.02 * h)), ("glass", .05, .12, .62, .88, 2.0)]
    # phones or tablets in gift boxes: casings and screens (aluminium and glass attenuate alike), batteries
    w, h, d = rng.uniform(380, 460), rng.uniform(280, 360), rng.uniform(300, 400)
    cells = [(i / 2 + .03, j / 2 + .04, (i + 1) / 2 - .03, (j + 1) / 2 - .04) for i in range(2) for j in range(2)]
    return w, h, d, [p for x0, y0, x1, y1 in cells
                     for p in (("aluminium", x0, y0, x1, y1, 5.0), ("iron", x0 + .05, y0 + .1, x1 - .05, y0 + .3, 3.0))]


def electronics(c: Canvas, rng: np.random.Generator, region: Box, width_cm: float) -> list[Box]:
    """Cartons of one product (computers, televisions, microwaves, phones): light packaging around
    small dense parts (transformers, chassis sheet, screens, batteries) repeated carton after carton.

    The cartons across the beam line up, so each part's path is that of one part times their number.
    Each part is painted per layer of cartons as an outer product of its row and column coverages.
    """
    kind = str(rng.choice(["computer", "television", "microwave", "phones"]))
    w, h, d, parts = _product(kind, rng)
    load = fill_length(rng, region, 0.5, 1.0)
    area = Box(load.x0, region.y0, load.x1, region.y1 - float(rng.uniform(0, min(500, region.h * 0.3))))
    n_deep = max(1, int(width_cm * 10 * float(rng.uniform(0.85, 0.97)) // d))
    size = (min(w, area.w), min(w * 1.05, area.w)), (h, h * 1.05)
    layers = carton_wall(c, rng, area, region, n_deep * d / 10, "cellulose", (0.05, 0.1), *size)  # foam, board, air
    px, py = c.pitch
    for x0s, x1s, y0, y1 in layers:
        g = grid(c, Box(float(x0s[0]), y0, float(x1s[-1]), y1), region)
        if g is None:
            continue
        rows, cols, X, Y = g
        x, ch = X[0], y1 - y0
        k = np.clip(np.searchsorted(x0s, x, side="right") - 1, 0, len(x0s) - 1)
        cw = (x1s[k] - x0s[k]).astype(np.float32)
        ua, ub = (x - px / 2 - x0s[k]) / cw, (x + px / 2 - x0s[k]) / cw
        flip = (rng.random(len(x0s)) < 0.5)[k]  # cartons stand either way round
        shift = rng.uniform(-0.02, 0.02, len(x0s)).astype(np.float32)[k]
        ua, ub = np.where(flip, 1 - ub, ua) + shift, np.where(flip, 1 - ua, ub) + shift
        fac = (rng.uniform(0.85, 1.1, len(x0s)) * n_deep).astype(np.float32)[k] / (ub - ua)
        va, vb = (Y[:, 0] - py / 2 - y0) / ch, (Y[:, 0] + py / 2 - y0) / ch
        for (mat, a0, b0, a1, b1, ar) in parts:  # pixel coverage of each part, over its own rows only
            cy = np.clip(np.minimum(vb, b1) - np.maximum(va, b0), 0, None) / (vb - va)
            on = np.flatnonzero(cy)
            if len(on):
                cx = np.clip(np.minimum(ub, a1) - np.maximum(ua, a0), 0, None) * (fac * ar)
                layer(c, mat)[rows.start + on[0] : rows.start + on[-1] + 1, cols] += np.outer(cy[on[0] : on[-1] + 1], cx)
    return _boxes(layers, region)


def _item(kind: str, rng: np.random.Generator, dz: float) -> tuple[float, float, list[tuple]]:
    """One piece of furniture seen from the side: (length, height, parts) with parts as
    (material, x0, y0, x1, y1 mm from its front-bottom corner, g/cm^2 for one piece ``dz`` cm deep)."""
    wood = 0.65  # hardwood, particle board
    if kind == "chair":
        L, seat, H = rng.uniform(420, 520), rng.uniform(430, 470), rng.uniform(800, 950)
        if rng.random() < 0.5:  # wooden: 40 mm legs, seat board, slatted back, stretcher
            return L, H, [("cellulose", 0, 0, 40, H, wood * 8), ("cellulose", L - 40, 0, L, seat, wood * 8),
                          ("cellulose", 0, seat - 20, L, seat, wood * dz),
                          ("cellulose", 40, seat + 150, 60, H - 40, wood * dz * .6), ("cellulose", 40, 140, L - 40, 170, wood * 4)]
        # tubular steel legs (a tube under the seat runs along the beam), plywood seat and back
        return L, H, [("iron", 0, 0, 22, H, 7.87 * .6), ("iron", L - 22, 0, L, seat, 7.87 * .6),
                      ("cellulose", 0, seat - 10, L, seat, wood * dz), ("cellulose", 10, seat + 200, 30, H - 20, wood * dz * .5),
                      ("iron", L - 22, seat - 22, L, seat, 7.87 * dz * .17)]
    if kind == "table":  # top along the beam, 60 mm legs, apron
        L, H, top = rng.uniform(1200, 2000), rng.uniform(720, 760), rng.uniform(25, 40)
        return L, H, [("cellulose", 0, H - top, L, H, wood * dz), ("cellulose", 30, 0, 90, H - top, wood * 12),
                      ("cellulose", L - 90, 0, L - 30, H - top, wood * 12),
                      ("cellulose", 90, H - top - 80, L - 90, H - top, wood * 4)]
    if kind == "shelving":  # steel uprights, shelves of 0.8 mm sheet with folded lips
        L, H = rng.uniform(900, 1300), rng.uniform(1500, 2000)
        shelves = [("iron", 40, y, L - 40, y + 30, _along(7.87, 0.8, dz * 10, 30) + 7.87 * .16 / 3)
                   for y in np.linspace(100, H - 30, int(rng.integers(4, 7)))]
        return L, H, [("iron", 0, 0, 40, H, 7.87 * .6), ("iron", L - 40, 0, L, H, 7.87 * .6)] + shelves
    if kind == "cabinet":  # 18 mm board: sides and shelves along the beam, doors and back across it
        L, H, t = rng.uniform(600, 1200), rng.uniform(800, 2000), 18.0
        shelves = [("cellulose", t, y, L - t, y + t, wood * dz) for y in np.linspace(60, H - t, int(rng.integers(2, 6)))]
        return L, H, [("cellulose", 0, 0, t, H, wood * dz), ("cellulose", L - t, 0, L, H, wood * dz),
                      ("cellulose", t, 0, L - t, H, wood * 1.8 + .85 * .3),
                      ("iron", L * .45, H * .5, L * .55, H * .5 + 25, 7.87 * 2)] + shelves
    L, H = rng.uniform(1600, 2400), rng.uniform(750, 900)  # sofa: foam on a wooden frame, sprung seat, feet
    return L, H, [("polyethylene", 0, 120, L, H * .55, .03 * dz), ("polyethylene", 0, H * .55, L * .25, H, .03 * dz * .8),
                  ("cellulose", 0, 100, L, 160, wood * 8), ("cellulose", 0, 100, 60, H * .7, wood * 8),
                  ("cellulose", L - 60, 100, L, H * .7, wood * 8), ("iron", 60, H * .45, L - 60, H * .45 + 8, 7.87 * dz * .02),
                  ("cellulose", 30, 0, 90, 100, wood * 10), ("cellulose", L - 90, 0, L - 30, 100, wood * 10)]


#: furniture kinds and their depth along the beam (cm)
FURNITURE = {"chair": (42, 52), "table": (70, 100), "shelving": (40, 60), "cabinet": (40, 60), "sofa": (80, 100)}


def furniture(c: Canvas, rng: np.random.Generator, region: Box, width_cm: float) -> list[Box]:
    """Chairs, tables, shelving, cabinets and sofas: thin wooden or steel frames, mostly air.

    One to three kinds per load, packed in bays along the container; chairs stack, tables and sofas
    go two high (the upper one upside down), and stacks of chairs ride on tables and cabinets where
    there is headroom. Identical pieces side by side across the beam line up, so their legs and
    boards add; boards lying along the beam show as dark lines.
    """
    kinds = list(rng.choice(list(FURNITURE), size=int(rng.integers(1, 4)), replace=False))
    load = fill_length(rng, region, 0.6, 1.0)
    x, out = load.x0, []
    by_mat: dict[str, tuple[list, list]] = {}

    def place(kind: str, x: float, y: float, room: float, end: float) -> tuple[float, float]:
        """A stack of one kind at (x, y) within ``room`` mm of height, ending before ``end``; returns
        its length and height (0 if it does not fit)."""
        dz = float(rng.uniform(*FURNITURE[kind]))
        L, H, parts = _item(kind, rng, dz)
        if H > room or x + L > end:
            return L, 0.0
        n_across = max(1, int(width_cm * float(rng.uniform(0.75, 0.95)) // dz))
        step = float(rng.uniform(60, 110)) if kind == "chair" else H + 10
        most = {"chair": 10, "table": int(rng.integers(1, 3)), "sofa": int(rng.integers(1, 3))}.get(kind, 1)
        n_up = max(1, min(int((room - H) // step) + 1, most))
        for k in range(n_up):
            flipped = kind in ("table", "sofa") and k % 2 == 1
            for mat, a, b, e, f, areal in parts:
                b, f = (H - f, H - b) if flipped else (b, f)
                acc = by_mat.setdefault(mat, ([], []))
                acc[0].append([x + a, y + k * step + b, x + e, y + k * step + f])
                acc[1].append(areal * n_across)
        return L, (n_up - 1) * step + H

    misses = 0
    while x < load.x1 - 300 and misses < 4:
        kind = str(rng.choice(kinds if misses < 2 else list(FURNITURE)))
        L, H = place(kind, x, region.y0, region.h, load.x1 if out else region.x1)
        if H == 0:
            misses += 1  # too tall or too long here: try another piece
            continue
        flat_top = kind == "cabinet" or (kind == "table" and H < 1000)  # a cabinet, or one table upright
        if flat_top and region.h - H > 600 and rng.random() < 0.6:  # with a stack of chairs on it
            H += place("chair", x + float(rng.uniform(0, max(1.0, L - 520))), region.y0 + H, region.h - H - 10, x + L)[1]
        out.append(Box(x, region.y0, x + L, region.y0 + H))
        x += L + float(rng.uniform(20, 80))
    for mat, (rs, ars) in by_mat.items():
        rects(c, mat, region, np.array(rs), np.array(ars))
    return [b for b in (clip(b, region) for b in out) if b]

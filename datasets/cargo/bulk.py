"""Bulk loads: pressed wood-pulp bales, sacks of grain, big bags of plastic pellets."""

from __future__ import annotations

import numpy as np

from quayscan.datasets.cargo.common import fill_length
from quayscan.datasets.cargo.paint import PAYLOAD_KG, blocks, clip, grid, layer, paint, profile, rects
from quayscan.datasets.scene import Box, Canvas


# -- builders ----------------------------------------------------------------------------------------
def wood_pulp(c: Canvas, rng: np.random.Generator, region: Box, width_cm: float) -> list[Box]:
    """Units of pressed pulp bales (2 x 2 bales each, wired), stacked two high, weight-limited.

    Bales are ~0.9-1.0 g/cm^3; two or three units side by side fill most of the beam's path. A full
    40 ft box would weigh twice the payload, so the units cover part of the floor: one tight block
    from the front, or spread in groups with dunnage gaps to share the weight along the floor.
    """
    bw, bh = float(rng.uniform(760, 860)), float(rng.uniform(470, 530))
    per_x = 2 if region.w >= 2 * bw + 60 else 1
    rows = 2 if region.h >= 2 * bh + 20 else 1
    tiers = 2 if region.h >= 2 * rows * bh + 40 else 1
    if region.w < bw * 0.5 or region.h < bh * 0.5:
        return []
    bw, bh = min(bw, region.w - 20), min(bh, region.h - 10)
    depth, rho = width_cm * float(rng.uniform(0.78, 0.93)), float(rng.uniform(0.9, 1.0))
    unit_w = per_x * bw + 10
    col_kg = unit_w / 10 * (tiers * rows * bh) / 10 * depth * rho / 1000
    fit = max(1, int((region.w - 30) // (unit_w + 25)))
    n = int(np.clip(float(rng.uniform(*PAYLOAD_KG)) // col_kg, 1, fit))
    free = region.w - n * unit_w - 10
    gaps = np.concatenate([[rng.uniform(0, 150)], rng.uniform(5, 40, n - 1)])  # from the front wall, then tight
    if rng.random() < 0.4 and n > 1 and free > 600:  # or spread in groups along the floor
        gaps[rng.choice(np.arange(1, n), size=min(n - 1, 2), replace=False)] += free * float(rng.uniform(0.3, 0.9)) / 2
    xs = region.x0 + np.cumsum(gaps * min(1.0, max(free, 0) / gaps.sum())) + np.arange(n) * unit_w
    full = rng.random(n) > (0.15 if tiers == 2 else 1.0)  # some columns stand one unit high
    units, bales = [], []
    for tier in range(tiers):
        for i, x in enumerate(xs):
            if tier == 1 and not full[i]:
                continue
            y0 = region.y0 + tier * (rows * bh + 8)
            units.append(Box(x, y0, x + unit_w - 10, y0 + rows * bh))
            for r in range(rows):
                for j in range(per_x):
                    dx, dy = rng.uniform(-6, 6, 2)  # bales sit a little askew
                    bales.append((x + j * bw + dx, y0 + r * bh, x + (j + 1) * bw - 4 + dx, y0 + (r + 1) * bh - 3 + dy))
    bales_a = np.array(bales)
    layer = np.round((bales_a[:, 1] - region.y0) / bh).astype(int)
    areal = depth * rho * rng.uniform(0.95, 1.05, len(bales_a))  # bale-to-bale pressing varies
    for L in np.unique(layer):
        s = layer == L
        b = bales_a[s]
        box = Box(b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())
        paint(c, "cellulose", box, region, blocks(b[:, 0], b[:, 2], b[:, 1], b[:, 3], areal[s], 25.0, 20.0))
    # 2.5 mm wires, two loops round each bale: the beam crosses them twice per bale across its path
    # (faint lines) and runs along them at the bale's ends (dark dots); bales across the beam line up
    n_deep = max(1, round(depth / 85))
    wy = bales_a[:, 1:2] + bh * np.array([[0.3, 0.7]])
    lines = np.stack([np.repeat(bales_a[:, 0], 2), wy.ravel(), np.repeat(bales_a[:, 2], 2), wy.ravel() + 2.5], 1)
    rects(c, "iron", region, lines, 7.87 * 2 * 0.2 * n_deep)
    ends = np.concatenate([lines[:, [0, 1, 0, 3]] + [0, 0, 2.5, 0], lines[:, [2, 1, 2, 3]] - [2.5, 0, 0, 0]])
    rects(c, "iron", region, ends, 7.87 * depth * 0.8)
    # and two 19 x 0.8 mm steel straps round each unit, up its faces and along the beam over and under it
    u = np.array([[b.x0, b.y0, b.x1, b.y1] for b in units])
    sx = u[:, 0:1] + (u[:, 2:3] - u[:, 0:1]) * np.array([[0.25, 0.75]])
    faces = np.stack([sx.ravel(), np.repeat(u[:, 1], 2), sx.ravel() + 19, np.repeat(u[:, 3], 2)], 1)
    rects(c, "iron", region, faces, 7.87 * 2 * 0.08 * n_deep)
    runs = np.concatenate([faces[:, [0, 3, 2, 3]] + [0, -0.8, 0, 0], faces[:, [0, 1, 2, 1]] + [0, 0, 0, 0.8]])
    rects(c, "iron", region, runs, 7.87 * depth)
    return [b for b in (clip(b, region) for b in units) if b]


def grain_bags(c: Canvas, rng: np.random.Generator, region: Box, width_cm: float) -> list[Box]:
    """Layers of 25-50 kg sacks of cereal or flour, brick-bonded, with irregular stepped tops.

    Each sack is a pillow (rounded in x and y); the beam crosses several, so each layer is drawn as
    two staggered rows (front and back half of the load) whose ends blur into each other. Contents are
    starch-like organic matter (cellulose's composition), bulk 0.6-0.8 g/cm^3, some with more protein.
    """
    load = fill_length(rng, region, 0.5, 1.0)
    rho = float(rng.uniform(0.6, 0.8))
    material = "protein" if rng.random() < 0.2 else "cellulose"
    depth = width_cm * float(rng.uniform(0.82, 0.96))
    layer_h = float(rng.uniform(140, 210))
    height = float(rng.uniform(*PAYLOAD_KG)) / (load.w / 10 * depth * rho * 0.85 / 1000) * 10
    n_layers = max(1, int(min(height, region.h * float(rng.uniform(0.75, 0.97))) // layer_h))
    n_layers = min(n_layers, max(1, int(region.h // layer_h)))
    lengthwise, crosswise = float(rng.uniform(750, 950)), float(rng.uniform(430, 560))
    x_end = np.full(n_layers, float(load.x1))
    x_start = np.full(n_layers, float(load.x0))
    steps = int(rng.integers(0, min(5, n_layers) + 1))  # upper layers stop short: a stepped, ragged top
    for i in range(n_layers - steps, n_layers):
        x_end[i:] -= float(rng.uniform(0.3, 1.5)) * lengthwise
        x_start[i:] += float(rng.uniform(0, 0.6)) * lengthwise * (rng.random() < 0.4)
    out = []
    for i in range(n_layers):
        y0 = region.y0 + i * layer_h * 0.97  # sacks settle into the layer below
        if x_end[i] - x_start[i] < crosswise or y0 + layer_h > region.y1 + 1:
            break
        g = grid(c, Box(x_start[i], y0 - 0.1 * layer_h, x_end[i], y0 + layer_h * 1.12), region)
        if g is None:
            break
        rows, cols, X, Y = g
        length = lengthwise if i % 2 == 0 else crosswise
        fx, fy = [], []  # each half: per-sack profile along x, pillow profile in y (one matmul below)
        for half in range(2):
            xs = np.arange(x_start[i] - float(rng.uniform(0, length)), x_end[i], length)
            x0s, x1s = np.maximum(xs, x_start[i]), np.minimum(xs + length, x_end[i])
            keep = x1s - x0s > 120
            areal = depth / 2 * rho * rng.uniform(0.85, 1.1, int(keep.sum()))
            fx.append(profile(X[0], x0s[keep], x1s[keep], areal, length * 0.15))
            top = min(y0 + layer_h * float(rng.uniform(0.95, 1.1)), region.y1)  # full sacks bulge into the layer above
            fy.append(profile(Y[:, 0], [y0 - (0.05 * layer_h if i else 0)], [top], 1.0, layer_h * 0.38))
        layer(c, material)[rows, cols] += np.stack(fy, 1) @ np.stack(fx)
        out.append(Box(x_start[i], y0, x_end[i], min(y0 + layer_h, region.y1)))
    return out


def plastic_pellets(c: Canvas, rng: np.random.Generator, region: Box, width_cm: float) -> list[Box]:
    """Big bags (FIBCs) of polyethylene pellets: ~1 m cubes, bulging, two across, one or two high.

    Pellets pour like a liquid, so the bags bulge into rounded blocks with domed tops; bulk density
    0.5-0.6 g/cm^3, uniform. Some loads stand on pallets; lifting loops of woven tape sit on top.
    """
    on_pallets = rng.random() < 0.5
    base = 144.0 if on_pallets else 0.0
    bw = float(rng.uniform(900, 1100))
    double = region.h >= 2 * (base + 950) + 150 and rng.random() < 0.6
    tiers = 2 if double else 1
    avail = region.h / tiers - base - 60
    bh = min(float(rng.uniform(950, 1150)) if double else float(rng.uniform(1100, 1800)), avail)
    if bh < 300 or region.w < 400:
        return []
    bw = min(bw, region.w - 40)
    rho, depth = float(rng.uniform(0.5, 0.6)), width_cm * float(rng.uniform(0.8, 0.92))
    bag_kg = bw / 10 * bh / 10 * depth * rho * 0.8 / 1000
    load = fill_length(rng, region, 0.6, 1.0)
    n = int(np.clip(float(rng.uniform(*PAYLOAD_KG)) // (bag_kg * tiers), 1, max(1, (load.w - 20) // (bw + 30))))
    out = []
    for tier in range(tiers):
        n_t = n if tier == 0 else int(rng.integers(max(1, n // 2), n + 1))
        xs = load.x0 + np.arange(n_t) * (bw + 30) + rng.uniform(0, 25, n_t)
        floor = region.y0 + tier * (base + bh + 40)
        if on_pallets:  # deck boards top and bottom, three blocks between
            deck = [[x, floor + y, x + bw, floor + y + t] for x in xs for y, t in ((0, 22), (120, 24))]
            posts = [[p, floor + 22, p + 90, floor + 120] for x in xs for p in np.linspace(x, x + bw - 90, 3)]
            rects(c, "cellulose", region, deck + posts, width_cm * float(rng.uniform(0.85, 0.95)) * 0.55)
        top = floor + base + bh * rng.uniform(0.93, 1.0, n_t)
        areal = depth * rho * rng.uniform(0.93, 1.05, n_t)
        r = float(rng.uniform(120, 260))
        fn = blocks(xs, xs + bw, np.full(n_t, floor + base), top, areal, r, r * 0.8, dome=float(rng.uniform(40, 140)))
        paint(c, "polyethylene", Box(xs[0], floor + base, xs[-1] + bw, top.max()), region, fn)
        loops = [[x + f * bw, t - 10, x + f * bw + 50, min(t + 120, region.y1)] for x, t in zip(xs, top) for f in (0.12, 0.8)]
        rects(c, "polyethylene", region, loops, 0.4 * 2 * 0.94)
        out += [Box(x, floor, x + bw, t) for x, t in zip(xs, top)]
    return out

"""Bulk loads: pressed wood-pulp bales, sacks of grain, big bags of plastic pellets.

Also the painting helpers the cargo modules share. A scan holds hundreds of bales, bags, cartons or
bottles; one ``Canvas.add`` per piece would cost more than the rest of the scan, so :func:`blocks`
paints a whole row of similar pieces with one vectorised path function and :func:`rects` adds many
small rectangles with plain slice additions. Path functions keep a single image-sized temporary and
work on it in place: on some hosts a second live temporary of that size costs fresh page faults that
are slower than the arithmetic itself.
"""

from __future__ import annotations

import math

import numpy as np

from quayscan.datasets.cargo.common import fill_length
from quayscan.datasets.physics import material_index
from quayscan.datasets.scene import Box, Canvas, PathFn

#: a 40 ft container's payload is ~26.5 t; loads are drawn somewhat below it (kg)
PAYLOAD_KG = (18000.0, 26500.0)


# -- painting helpers shared by the cargo modules ----------------------------------------------------
def layer(c: Canvas, material: str) -> np.ndarray:
    """The canvas map of one material, for direct painting; records it as used (rendering skips
    materials never painted)."""
    m = material_index(material)
    c.used.add(m)
    return c.maps[m]


def clip(box: Box, region: Box) -> Box | None:
    """The part of ``box`` inside ``region``, or None."""
    b = Box(max(box.x0, region.x0), max(box.y0, region.y0), min(box.x1, region.x1), min(box.y1, region.y1))
    return b if b.x1 > b.x0 and b.y1 > b.y0 else None


def grid(c: Canvas, box: Box, region: Box) -> tuple[slice, slice, np.ndarray, np.ndarray] | None:
    """Pixel slices and pixel-centre coordinates (X (1, w), Y (h, 1), mm) of ``box`` within ``region``."""
    b = clip(box, region)
    if b is None:
        return None
    rows, cols = c.region(b)
    if rows.stop <= rows.start or cols.stop <= cols.start:
        return None
    X = ((np.arange(cols.start, cols.stop, dtype=np.float32) + 0.5) * c.pitch[0])[None, :]
    Y = (c.y_top - (np.arange(rows.start, rows.stop, dtype=np.float32) + 0.5) * c.pitch[1])[:, None]
    return rows, cols, X, Y


def paint(c: Canvas, material: str, box: Box, region: Box, path: PathFn, density: float = 1.0) -> None:
    """Add ``density`` x ``path(X, Y)`` (a new non-negative array, scaled here in place) within ``region``."""
    g = grid(c, box, region)
    if g is None:
        return
    rows, cols, X, Y = g
    p = path(X, Y)
    target = layer(c, material)[rows, cols]
    if density != 1.0:
        if p.shape == target.shape:
            p *= np.float32(density)
        else:
            p = p * np.float32(density)
    target += p


def rects(c: Canvas, material: str, region: Box, boxes: np.ndarray | list, areal: np.ndarray | float) -> None:
    """Add many rectangles (N x [x0, y0, x1, y1] mm), each of uniform areal density (g/cm^2).

    Edges snap to the nearest pixel edge (at least one pixel) and the value is rescaled so that every
    rectangle keeps its true mass: thin plates and wires stay faint lines rather than vanishing.
    """
    if len(boxes) < 40:  # plain Python is cheaper than a dozen numpy calls on tiny arrays
        _few_rects(c, material, region, boxes, areal)
        return
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    a = np.broadcast_to(np.asarray(areal, np.float64), (len(b),))
    x0, x1 = np.maximum(b[:, 0], region.x0), np.minimum(b[:, 2], region.x1)
    y0, y1 = np.maximum(b[:, 1], region.y0), np.minimum(b[:, 3], region.y1)
    keep = (x1 > x0) & (y1 > y0) & (a > 0)
    px, py = c.pitch
    fx0, fx1 = x0[keep] / px, x1[keep] / px
    fr0, fr1 = (c.y_top - y1[keep]) / py, (c.y_top - y0[keep]) / py
    i0 = np.floor(fx0 + 0.5)
    i1 = np.maximum(np.floor(fx1 + 0.5), i0 + 1)
    j0 = np.floor(fr0 + 0.5)
    j1 = np.maximum(np.floor(fr1 + 0.5), j0 + 1)
    v = a[keep] * (fx1 - fx0) / (i1 - i0) * (fr1 - fr0) / (j1 - j0)
    lim = c.to_pixels(region)
    i0, i1 = np.clip(i0, lim[0], lim[2]).astype(int), np.clip(i1, lim[0], lim[2]).astype(int)
    j0, j1 = np.clip(j0, lim[1], lim[3]).astype(int), np.clip(j1, lim[1], lim[3]).astype(int)
    m = layer(c, material)
    for r0, r1, q0, q1, val in zip(j0.tolist(), j1.tolist(), i0.tolist(), i1.tolist(), v.tolist()):
        m[r0:r1, q0:q1] += val


def _few_rects(c: Canvas, material: str, region: Box, boxes, areal) -> None:
    """:func:`rects` for a handful of rectangles, the same arithmetic in plain Python."""
    m = layer(c, material)
    px, py = c.pitch
    lim = c.to_pixels(region)
    areal = [float(areal)] * len(boxes) if np.ndim(areal) == 0 else [float(a) for a in areal]
    for (bx0, by0, bx1, by1), a in zip(boxes, areal):
        x0, x1, y0, y1 = max(bx0, region.x0), min(bx1, region.x1), max(by0, region.y0), min(by1, region.y1)
        if x1 <= x0 or y1 <= y0 or a <= 0:
            continue
        fx0, fx1, fr0, fr1 = x0 / px, x1 / px, (c.y_top - y1) / py, (c.y_top - y0) / py
        i0, j0 = math.floor(fx0 + 0.5), math.floor(fr0 + 0.5)
        i1, j1 = max(math.floor(fx1 + 0.5), i0 + 1), max(math.floor(fr1 + 0.5), j0 + 1)
        v = a * (fx1 - fx0) / (i1 - i0) * (fr1 - fr0) / (j1 - j0)
        i0, i1 = min(max(i0, lim[0]), lim[2]), min(max(i1, lim[0]), lim[2])
        j0, j1 = min(max(j0, lim[1]), lim[3]), min(max(j1, lim[1]), lim[3])
        m[j0:j1, i0:i1] += v


def profile(x: np.ndarray, x0s, x1s, areal, r: float) -> np.ndarray:
    """Side-by-side rounded pieces along one axis (sorted, not overlapping): ``areal`` inside each,
    falling off over ``r`` mm at its ends as the chord of a rounded solid does (zero outside)."""
    x0s, x1s, areal = (np.asarray(v, np.float32) for v in (x0s, x1s, areal))
    if x0s.size == 1:  # one piece: no search
        d = np.minimum(x - x0s.item(), x1s.item() - x)
        a = areal.item() if areal.size == 1 else areal
    else:
        k = np.maximum(np.searchsorted(x0s, x, side="right") - 1, 0)
        d = np.minimum(x - x0s[k], x1s[k] - x)
        a = np.broadcast_to(areal, x0s.shape)[k]
    d *= np.float32(1 / r)
    np.clip(d, 0, 1, out=d)  # distance to the nearer end in radii; negative (outside) gives zero
    return a * np.sqrt(d * (2 - d))


def blocks(x0s, x1s, y0s, y1s, areal, rx: float, ry: float, dome: float = 0.0) -> PathFn:
    """A row of rounded blocks side by side along x (bales, bags, cartons) as one path function.

    Blocks must not overlap in x. ``areal`` is each block's density x depth (g/cm^2, so use density 1
    when painting); edges fall off over ``rx``/``ry`` mm as through a rounded solid; ``dome`` (mm)
    lowers the top towards the x-edges, as on a filled bag.
    """
    order = np.argsort(np.asarray(x0s, np.float32))
    x0s, x1s = (np.asarray(v, np.float32)[order] for v in (x0s, x1s))
    y0s, y1s, ar = (np.broadcast_to(np.asarray(v, np.float32), order.shape)[order] for v in (y0s, y1s, areal))

    def path(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        x = X[0]
        k = np.clip(np.searchsorted(x0s, x, side="right") - 1, 0, len(x0s) - 1)
        across = profile(x, x0s, x1s, ar, rx)
        t = 2 * (x - x0s[k]) / np.maximum(x1s[k] - x0s[k], 1) - 1
        top = y1s[k] - dome * t * t
        a = Y - (top + y0s[k]) / 2  # the one image-sized temporary; all else in place
        np.abs(a, out=a)
        np.subtract((top - y0s[k]) / 2, a, out=a)
        a *= np.float32(1 / ry)
        np.clip(a, 0, 1, out=a)
        a -= 1
        a *= a
        np.subtract(1, a, out=a)
        np.sqrt(a, out=a)
        a *= across
        return a

    return path


def chord(r: float, u: np.ndarray) -> np.ndarray:
    """Chord (cm) of a circle of radius r (mm) at offset u (mm)."""
    return 0.2 * np.sqrt(np.clip(r * r - u * u, 0, None))


def stamp(c: Canvas, material: str, region: Box, patch: np.ndarray, centres: list[tuple[float, float]]) -> None:
    """Add one pixel patch (odd size, centred) at many centres, snapped to the nearest pixel."""
    m = layer(c, material)
    ny, nx = patch.shape[0] // 2, patch.shape[1] // 2
    lim = c.to_pixels(region)
    for cx, cy in centres:
        ci, ri = int(c.col(cx)), int(c.row(cy))
        r0, r1, c0, c1 = max(ri - ny, lim[1]), min(ri + ny + 1, lim[3]), max(ci - nx, lim[0]), min(ci + nx + 1, lim[2])
        if r1 > r0 and c1 > c0:
            m[r0:r1, c0:c1] += patch[r0 - ri + ny : r1 - ri + ny, c0 - ci + nx : c1 - ci + nx]


def between(xk, lo, hi, areal, soft: float = 4.0) -> PathFn:
    """Areal density ``areal(x)`` (g/cm^2) where ``lo(x) < y < hi(x)``, all piecewise linear on knots
    ``xk`` (zero outside them): panels, seats, wedges, a tilted car's parts. Edges soften over ``soft`` mm."""
    xk, lo, hi, areal = (np.asarray(v, np.float32) for v in (xk, lo, hi, areal))

    def path(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        x = X[0]
        a0, a1 = np.interp(x, xk, lo), np.interp(x, xk, hi)
        ar = np.interp(x, xk, areal, left=0, right=0).astype(np.float32)
        a = Y - ((a0 + a1) / 2).astype(np.float32)  # the one image-sized temporary
        np.abs(a, out=a)
        np.subtract(((a1 - a0) / 2).astype(np.float32), a, out=a)
        a *= np.float32(1 / soft)
        np.clip(a, 0, 1, out=a)
        a *= ar
        return a

    return path


def fill_between(c: Canvas, material: str, region: Box, xk, lo, hi, areal, soft: float = 4.0) -> None:
    """Paint :func:`between` over just its own extent."""
    box = Box(float(np.min(xk)), float(np.min(lo)), float(np.max(xk)), float(np.max(hi)))
    paint(c, material, box, region, between(xk, lo, hi, areal, soft))


def curve(c: Canvas, material: str, region: Box, xk, yk, mass_cm) -> None:
    """A sheet spanning the beam (roof, bonnet, windscreen, a chain) along the curve (xk, yk) in side view.

    ``mass_cm`` is density x thickness x extent along the beam (g/cm^2 x cm), one value or one per
    segment. Each pixel column gets the sheet's true mass (longer where it is steep), spread over the
    rows the curve crosses there.
    """
    xk, yk = np.asarray(xk, float), np.asarray(yk, float)
    lim = c.to_pixels(region)
    i0, i1 = max(int(np.ceil(c.col(min(xk)) - 0.5)), lim[0]), min(int(np.floor(c.col(max(xk)) - 0.5)) + 1, lim[2])
    if i1 <= i0:
        return
    px, py = c.pitch
    x = (np.arange(i0, i1) + 0.5) * px
    y = np.interp(x, xk, yk)
    slope = np.abs(np.interp(x, xk[:-1] + np.diff(xk) / 2, np.diff(yk) / np.maximum(np.diff(xk), 1e-6))) if len(xk) > 1 else 0 * x
    half = np.maximum(py, slope * px) / 2
    top, bot = np.floor(c.row(y + half)).astype(int), np.floor(c.row(y - half)).astype(int)
    n = np.maximum(bot - top + 1, 1)
    seg = np.clip(np.searchsorted(xk, x) - 1, 0, len(xk) - 2)
    mass = np.broadcast_to(np.asarray(mass_cm, float), (len(xk) - 1,))[seg]
    vals = np.repeat(mass * np.sqrt(1 + slope**2) / (n * py / 10), n)
    cols = np.repeat(np.arange(i0, i1), n)
    rows = np.repeat(top - np.cumsum(n) + n, n) + np.arange(n.sum())  # top, top + 1, ... per column
    ok = (rows >= lim[1]) & (rows < lim[3]) & (vals > 0)
    layer(c, material)[rows[ok], cols[ok]] += vals[ok].astype(np.float32)


def annulus(cx: float, cy: float, radius: float, inner: float, depth_cm: float, soft: float = 3.0) -> PathFn:
    """A ring (or disk, inner=0) whose axis is the beam, ``depth_cm`` deep, edges anti-aliased."""
    mid, half = (radius + inner) / 2, (radius - inner) / 2

    def path(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        a = (Y - cy) ** 2 + (X - cx) ** 2  # the one image-sized temporary
        np.sqrt(a, out=a)
        a -= np.float32(mid)
        np.abs(a, out=a)
        np.subtract(np.float32(half), a, out=a)
        a *= np.float32(1 / soft)
        np.clip(a, 0, 1, out=a)
        a *= np.float32(depth_cm)
        return a

    return path


def radial(c: Canvas, radius: float, knots, *values, ring_mm: float = 8.0) -> list[np.ndarray]:
    """Pixel patches of a round part whose axis is the beam, for :func:`stamp`: each of ``values``
    (g/cm^2) is given at the evenly spaced radii ``knots`` (mm), zero beyond. Pixels average
    sub-samples about ``ring_mm`` apart, so rings that thin (tread, rim, belt) keep their mass."""
    px, py = c.pitch
    nx, ny = int(np.ceil(radius / px)), int(np.ceil(radius / py))
    k = int(np.clip(np.ceil(max(px, py) / ring_mm), 1, 4))  # sub-samples per pixel and axis
    sub = (np.arange(k) + 0.5) / k - 0.5
    X = ((np.arange(-nx, nx + 1)[:, None] + sub[None, :]).ravel() * px).astype(np.float32)[None, :]
    Y = ((np.arange(ny, -ny - 1, -1)[:, None] - sub[None, :]).ravel() * py).astype(np.float32)[:, None]
    step = float(knots[1] - knots[0])  # uniform knots: a table look-up instead of a search
    idx = np.minimum(np.sqrt(X * X + Y * Y) / step + 0.5, len(knots)).astype(np.intp)
    shape = (2 * ny + 1, k, 2 * nx + 1, k)
    return [np.append(np.asarray(v, np.float32), np.float32(0))[idx].reshape(shape).mean(axis=(1, 3)) for v in values]


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

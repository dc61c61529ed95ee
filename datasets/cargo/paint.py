"""Painting helpers the cargo builders share.

A scan holds hundreds of bales, bags, cartons or bottles; one ``Canvas.add`` per piece would cost more
than the rest of the scan, so :func:`blocks` paints a whole row of similar pieces with one vectorised
path function and :func:`rects` adds many small rectangles with plain slice additions. Path functions
keep a single image-sized temporary and work on it in place: on some hosts a second live temporary of
that size costs fresh page faults that are slower than the arithmetic itself.
"""

from __future__ import annotations

import math

import numpy as np

from quayscan.datasets.physics import material_index
from quayscan.datasets.scene import Box, Canvas, PathFn

#: a 40 ft container's payload is ~26.5 t; loads are drawn somewhat below it (kg)
PAYLOAD_KG = (18000.0, 26500.0)


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

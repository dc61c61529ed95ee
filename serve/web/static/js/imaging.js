// Pure image arithmetic on 16-bit scans: histograms, windowing tables, edge enhancement, material classes,
// heatmap colouring. No DOM here; viewer.js draws.

/** Values at the given percentiles (0..100) of a Uint16Array, from a full 65,536-bin histogram. */
export function percentiles(src, ps, step = 1) {
  const hist = new Uint32Array(65536);
  for (let i = 0, n = src.length; i < n; i += step) hist[src[i]]++;
  const total = Math.ceil(src.length / step);
  const targets = ps.map((p) => Math.max(0, Math.min(total - 1, Math.floor((p / 100) * total))));
  const out = new Array(ps.length);
  let acc = 0;
  let k = 0;
  const order = targets.map((t, i) => [t, i]).sort((a, b) => a[0] - b[0]);
  for (let v = 0; v < 65536 && k < order.length; v++) {
    acc += hist[v];
    while (k < order.length && acc > order[k][0]) out[order[k++][1]] = v;
  }
  while (k < order.length) out[order[k++][1]] = 65535;
  return out;
}

/** Cumulative share of pixels at or below each 16-bit value (sampled every ``step`` pixels). */
export function cumulative(src, step = 2) {
  const hist = new Uint32Array(65536);
  for (let i = 0, n = src.length; i < n; i += step) hist[src[i]]++;
  const out = new Float32Array(65536);
  const total = Math.ceil(src.length / step);
  let acc = 0;
  for (let v = 0; v < 65536; v++) out[v] = (acc += hist[v]) / total;
  return out;
}

/**
 * Grey level (0..255) of every 16-bit value for a window [lo, hi] in raw counts; outside it clips.
 * Inside, the ramp is logarithmic in transmission (X-ray attenuation is exponential, so equal steps of
 * material look like equal steps of grey), blended with the window's own histogram (``cdf``, weight
 * ``equalise``) so that light cargo close to the air value keeps its contrast too.
 */
export function windowTable(lo, hi, invert = false, out = new Uint8Array(65536), cdf = null, equalise = 0.5) {
  lo = Math.max(1, lo);
  hi = Math.max(lo + 1, hi);
  const a = Math.log(lo);
  const span = Math.log(hi) - a;
  const ilo = Math.floor(lo);
  const ihi = Math.min(65536, Math.ceil(hi));
  const c0 = cdf ? cdf[Math.min(65535, ilo)] : 0;
  const cspan = cdf ? cdf[Math.min(65535, ihi - 1)] - c0 : 0;
  const w = cdf && cspan > 1e-6 ? equalise : 0;
  out.fill(invert ? 255 : 0, 0, Math.min(65536, ilo + 1));
  for (let v = ilo + 1; v < ihi; v++) {
    const ramp = (Math.log(v) - a) / span;
    const eq = w ? (cdf[v] - c0) / cspan : 0;
    const g = Math.round(255 * Math.min(1, Math.max(0, (1 - w) * ramp + w * eq)));
    out[v] = invert ? 255 - g : g;
  }
  if (ihi < 65536) out.fill(invert ? 0 : 255, ihi);
  return out;
}

/** RGBA (little-endian packed) grey for each 16-bit value. */
export function greyLut(table8, out = new Uint32Array(65536)) {
  for (let v = 0; v < 65536; v++) {
    const g = table8[v];
    out[v] = 0xff000000 | (g << 16) | (g << 8) | g;
  }
  return out;
}

/** Separable box blur of a Float32Array image (radius r), running sums: O(pixels) whatever r is. */
export function boxBlur(src, w, h, r) {
  const tmp = new Float32Array(src.length);
  const out = new Float32Array(src.length);
  const norm = 1 / (2 * r + 1);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    let acc = src[row] * (r + 1);
    for (let x = 1; x <= r; x++) acc += src[row + Math.min(x, w - 1)];
    for (let x = 0; x < w; x++) {
      tmp[row + x] = acc * norm;
      acc += src[row + Math.min(x + r + 1, w - 1)] - src[row + Math.max(x - r, 0)];
    }
  }
  for (let x = 0; x < w; x++) {
    let acc = tmp[x] * (r + 1);
    for (let y = 1; y <= r; y++) acc += tmp[Math.min(y, h - 1) * w + x];
    for (let y = 0; y < h; y++) {
      out[y * w + x] = acc * norm;
      acc += tmp[Math.min(y + r + 1, h - 1) * w + x] - tmp[Math.max(y - r, 0) * w + x];
    }
  }
  return out;
}

/** -ln(I / air) per pixel, floored at one count. */
export function attenuation(src, air) {
  const out = new Float32Array(src.length);
  const la = Math.log(air);
  for (let i = 0; i < src.length; i++) out[i] = la - Math.log(src[i] > 1 ? src[i] : 1);
  return out;
}

/**
 * Unsharp mask in the attenuation domain, returned as 16-bit counts again so the same window table
 * applies: fine structure (straps, edges of a concealed object) stands out in dense and light areas alike.
 */
export function enhanceEdges(src, w, h, air, { radius = 4, amount = 1.6 } = {}) {
  const att = attenuation(src, air);
  const blur = boxBlur(att, w, h, radius);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const a = att[i] + amount * (att[i] - blur[i]);
    const v = air * Math.exp(-a);
    out[i] = v < 0 ? 0 : v > 65535 ? 65535 : v;
  }
  return out;
}

export const UNKNOWN = 0, ORGANIC = 1, INORGANIC = 2, METAL = 3;
/** organic orange, inorganic green, metal blue (as on cargo review workstations), unknown grey */
export const MATERIAL_RGB = [[150, 150, 150], [255, 150, 30], [70, 205, 70], [60, 130, 255]];

/**
 * Material class per pixel from R = ln T_low / ln T_high, compared with boundary curves that depend on
 * the high-energy attenuation (beam hardening); the curves come from the same physics as the generator.
 */
export function classifyMaterial(high, low, w, h, air, curves) {
  const lh = boxBlur(attenuation(high, air), w, h, 2);
  const ll = boxBlur(attenuation(low, air), w, h, 2);
  const { attenuation: grid, organic_edge: org, metal_edge: met, min_attenuation: amin, max_attenuation: amax } = curves;
  // tabulate the edges on a fine uniform grid so the per-pixel lookup is one multiply
  const N = 512;
  const g0 = grid[0], g1 = grid[grid.length - 1];
  const orgT = new Float32Array(N), metT = new Float32Array(N);
  for (let k = 0, j = 0; k < N; k++) {
    const a = g0 + ((g1 - g0) * k) / (N - 1);
    while (j < grid.length - 2 && grid[j + 1] < a) j++;
    const t = Math.min(1, Math.max(0, (a - grid[j]) / (grid[j + 1] - grid[j])));
    orgT[k] = org[j] + t * (org[j + 1] - org[j]);
    metT[k] = met[j] + t * (met[j + 1] - met[j]);
  }
  const scale = (N - 1) / (g1 - g0);
  const out = new Uint8Array(high.length);
  for (let i = 0; i < out.length; i++) {
    const a = lh[i];
    if (a < amin || a > amax) continue;
    const k = Math.min(N - 1, Math.max(0, Math.round((a - g0) * scale)));
    const r = ll[i] / a;
    out[i] = r >= orgT[k] ? ORGANIC : r < metT[k] ? METAL : INORGANIC;
  }
  return out;
}

/** Packed RGBA for (class << 8 | grey): the class's hue at the brightness the window gives. */
export function materialPalette(out = new Uint32Array(4 * 256)) {
  for (let c = 0; c < 4; c++) {
    const [r, g, b] = MATERIAL_RGB[c];
    for (let v = 0; v < 256; v++) {
      const s = 0.15 + (0.85 * v) / 255; // keep a trace of hue in the darkest areas
      out[(c << 8) | v] = 0xff000000 | (Math.round(b * s) << 16) | (Math.round(g * s) << 8) | Math.round(r * s);
    }
  }
  return out;
}

/** Colour an 8-bit heat image (RGBA data, heat in R) in place: transparent when cold, red to yellow when hot. */
export function colourHeat(rgba) {
  for (let i = 0; i < rgba.length; i += 4) {
    const h = rgba[i] / 255;
    const a = h < 0.12 ? 0 : Math.min(1, (h - 0.12) / 0.4);
    rgba[i] = 255;
    rgba[i + 1] = Math.round(255 * Math.min(1, Math.max(0, (h - 0.35) / 0.5)));
    rgba[i + 2] = Math.round(60 * Math.max(0, h - 0.8) / 0.2);
    rgba[i + 3] = Math.round(255 * a);
  }
  return rgba;
}

/**
 * Bounding boxes [x0, y0, x1, y1] of the hottest connected regions on a coarse grid of cells: heat at least
 * ``floor`` and within ``relative`` of the image's peak, so a box marks where the model looked hardest.
 */
export function heatBoxes(rgba, w, h, { floor = 0.4, relative = 0.8, cell = 4, minCells = 4, max = 3 } = {}) {
  const gw = Math.ceil(w / cell), gh = Math.ceil(h / cell);
  let top = 0;
  for (let i = 0; i < rgba.length; i += 4) if (rgba[i] > top) top = rgba[i];
  const thr = Math.max(255 * floor, relative * top);
  if (top === 0) return [];
  const hot = new Uint8Array(gw * gh);
  for (let gy = 0; gy < gh; gy++)
    for (let gx = 0; gx < gw; gx++) {
      const x = Math.min(w - 1, gx * cell + (cell >> 1)), y = Math.min(h - 1, gy * cell + (cell >> 1));
      hot[gy * gw + gx] = rgba[(y * w + x) * 4] >= thr ? 1 : 0;
    }
  const boxes = [];
  const stack = [];
  for (let s = 0; s < hot.length; s++) {
    if (hot[s] !== 1) continue;
    let x0 = gw, y0 = gh, x1 = 0, y1 = 0, n = 0, peak = 0;
    hot[s] = 2;
    stack.push(s);
    while (stack.length) {
      const c = stack.pop();
      const cx = c % gw, cy = (c - cx) / gw;
      n++;
      x0 = Math.min(x0, cx); x1 = Math.max(x1, cx); y0 = Math.min(y0, cy); y1 = Math.max(y1, cy);
      peak = Math.max(peak, rgba[(Math.min(h - 1, cy * cell) * w + Math.min(w - 1, cx * cell)) * 4]);
      for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
        const nx = cx + dx, ny = cy + dy;
        if (nx >= 0 && ny >= 0 && nx < gw && ny < gh && hot[ny * gw + nx] === 1) {
          hot[ny * gw + nx] = 2;
          stack.push(ny * gw + nx);
        }
      }
    }
    if (n >= minCells) boxes.push({ box: [x0 * cell, y0 * cell, Math.min(w, (x1 + 1) * cell), Math.min(h, (y1 + 1) * cell)], peak: peak / 255, n });
  }
  return boxes.sort((a, b) => b.peak - a.peak || b.n - a.n).slice(0, max);
}

/** Linear interpolation of y(x) on a rising grid, clamped at the ends. */
export function interp(x, xs, ys) {
  if (x <= xs[0]) return ys[0];
  for (let i = 1; i < xs.length; i++) if (x <= xs[i]) return ys[i - 1] + ((x - xs[i - 1]) / (xs[i] - xs[i - 1])) * (ys[i] - ys[i - 1]);
  return ys[ys.length - 1];
}

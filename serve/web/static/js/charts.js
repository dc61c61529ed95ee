// Small canvas charts for the dashboard: stacked bars, lines, horizontal bars. No library.

const C = { grid: "#2c333d", text: "#8a94a3", ok: "#3ecf6e", warn: "#f0b43c", accent: "#4ea1ff", bad: "#ff5a4e" };
export const COLOURS = C;
const PAD = { l: 44, r: 10, t: 10, b: 26 };

/** A canvas sized to its CSS box at the device pixel ratio; returns [ctx, width, height] in CSS px. */
function surface(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = w * dpr;
  canvas.height = h * dpr;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.font = "11px system-ui, sans-serif";
  return [ctx, w, h];
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
}

function axes(ctx, w, h, max, fmt = (v) => String(v)) {
  ctx.strokeStyle = C.grid;
  ctx.fillStyle = C.text;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (let i = 0; i <= 4; i++) {
    const y = PAD.t + ((h - PAD.t - PAD.b) * (4 - i)) / 4;
    ctx.beginPath();
    ctx.moveTo(PAD.l, y + 0.5);
    ctx.lineTo(w - PAD.r, y + 0.5);
    ctx.stroke();
    ctx.fillText(fmt((max * i) / 4), PAD.l - 6, y);
  }
}

function xLabels(ctx, w, h, labels) {
  ctx.fillStyle = C.text;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const n = labels.length;
  const step = Math.max(1, Math.ceil(n / Math.max(1, Math.floor((w - PAD.l - PAD.r) / 48))));
  for (let i = 0; i < n; i += step) ctx.fillText(labels[i], PAD.l + ((i + 0.5) * (w - PAD.l - PAD.r)) / n, h - PAD.b + 6);
}

function empty(ctx, w, h) {
  ctx.fillStyle = C.text;
  ctx.textAlign = "center";
  ctx.fillText("no data in this period", w / 2, h / 2);
}

/** Bars of stacked series: series = [{values, colour}], one value per label. */
export function stackedBars(canvas, labels, series, fmt) {
  const [ctx, w, h] = surface(canvas);
  const totals = labels.map((_, i) => series.reduce((s, x) => s + (x.values[i] || 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  axes(ctx, w, h, max, fmt);
  const bw = (w - PAD.l - PAD.r) / labels.length;
  const scale = (h - PAD.t - PAD.b) / max;
  labels.forEach((_, i) => {
    let y = h - PAD.b;
    for (const s of series) {
      const v = s.values[i] || 0;
      ctx.fillStyle = s.colour;
      ctx.fillRect(PAD.l + i * bw + bw * 0.15, y - v * scale, bw * 0.7, v * scale);
      y -= v * scale;
    }
  });
  xLabels(ctx, w, h, labels);
  if (!totals.some((t) => t > 0)) empty(ctx, w, h);
}

/** Lines over labels: series = [{values (null for gaps), colour}] on a fixed [0, max] scale. */
export function lines(canvas, labels, series, max, fmt) {
  const [ctx, w, h] = surface(canvas);
  axes(ctx, w, h, max, fmt);
  const n = labels.length;
  const x = (i) => PAD.l + ((i + 0.5) * (w - PAD.l - PAD.r)) / n;
  const y = (v) => h - PAD.b - (v / max) * (h - PAD.t - PAD.b);
  let any = false;
  for (const s of series) {
    ctx.strokeStyle = ctx.fillStyle = s.colour;
    ctx.lineWidth = 2;
    ctx.beginPath();
    let pen = false;
    s.values.forEach((v, i) => {
      if (v == null) return void (pen = false);
      any = true;
      pen ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v));
      pen = true;
    });
    ctx.stroke();
    s.values.forEach((v, i) => { if (v != null) ctx.fillRect(x(i) - 2, y(v) - 2, 4, 4); });
  }
  xLabels(ctx, w, h, labels);
  if (!any) empty(ctx, w, h);
}

/** Horizontal bars: items = [[label, value]]. */
export function hbars(canvas, items, colour = C.bad) {
  const [ctx, w, h] = surface(canvas);
  if (!items.length) return empty(ctx, w, h);
  const left = 170, max = niceMax(Math.max(...items.map((x) => x[1])));
  const bh = Math.min(26, (h - 10) / items.length);
  items.forEach(([name, v], i) => {
    const y = 5 + i * bh;
    ctx.fillStyle = C.text;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ctx.fillText(name, left - 8, y + bh / 2);
    ctx.fillStyle = colour;
    const len = ((w - left - 40) * v) / max;
    ctx.fillRect(left, y + bh * 0.18, len, bh * 0.64);
    ctx.fillStyle = "#d9dee5";
    ctx.textAlign = "left";
    ctx.fillText(String(v), left + len + 6, y + bh / 2);
  });
}

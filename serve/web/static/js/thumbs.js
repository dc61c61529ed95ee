// Small previews of reference scans, windowed from their own 16-bit data.

import { api } from "./common.js";
import { cumulative, percentiles, windowTable } from "./imaging.js";

const WIDTH = 260;

export async function thumbnail(url, pitch = [5, 5]) {
  const r = await api(url);
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  const w = +r.headers.get("X-Width"), h = +r.headers.get("X-Height");
  const src = new Uint16Array(await r.arrayBuffer());
  const tw = Math.min(WIDTH, w);
  const th = Math.max(1, Math.round((tw / w) * h * ((pitch && pitch[1] / pitch[0]) || 1)));
  const [lo, hi] = percentiles(src, [0.5, 99.5], 5);
  const table = windowTable(lo, Math.max(hi, lo + 2), false, undefined, cumulative(src, 5));
  const canvas = document.createElement("canvas");
  canvas.width = tw;
  canvas.height = th;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(tw, th);
  const px = new Uint32Array(img.data.buffer);
  for (let y = 0; y < th; y++) {
    const sy = Math.min(h - 1, Math.floor(((y + 0.5) * h) / th));
    for (let x = 0; x < tw; x++) {
      const sx = Math.min(w - 1, Math.floor(((x + 0.5) * w) / tw));
      const g = table[src[sy * w + sx]];
      px[y * tw + x] = 0xff000000 | (g << 16) | (g << 8) | g;
    }
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

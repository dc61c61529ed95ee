// The scan viewer: 16-bit data windowed through a lookup table, zoom and pan, window/level by mouse,
// high / low / material views, edge enhancement, invert, heatmap overlay, boxes, density under the cursor.

import { classifyMaterial, colourHeat, cumulative, enhanceEdges, greyLut, heatBoxes, interp, materialPalette,
  percentiles, windowTable } from "./imaging.js";

const MU_STEEL_PER_CM = 0.3; // ~6 MV; used only when the physics table is unavailable
const MAX_ZOOM = 24;

export class Viewer {
  /**
   * @param {HTMLCanvasElement} canvas the visible canvas (sized by its container)
   * @param {{onHover?: Function, onChange?: Function, onBox?: Function}} hooks
   */
  constructor(canvas, hooks = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.hooks = hooks;
    this.view = "high";
    this.edges = false;
    this.invert = false;
    this.heatOn = false;
    this.heatOpacity = 0.45;
    this.equalise = 0.4; // share of histogram equalisation in the grey ramp (0: pure log window)
    this.boxes = [];
    this.pendingBox = null;
    this.boxMode = false;
    this.physics = null;
    this.stats = { paintMs: 0, composeMs: 0, updates: 0 };
    this.table8 = new Uint8Array(65536);
    this.lut32 = new Uint32Array(65536);
    this.palette = materialPalette();
    this.cache = {};
    this.frame = 0;
    this.wire();
    new ResizeObserver(() => this.resize()).observe(canvas.parentElement);
  }

  /** Show a scan: high (and low) Uint16Arrays of w x h, the air value, the pitch [x, y] in mm. */
  setImage({ high, low = null, w, h, air, pitch = [5, 5] }) {
    Object.assign(this, { high, low, w, h, pitch });
    this.air = air || percentiles(high, [99.9], 7)[0] || 65535;
    this.aspect = pitch[1] / pitch[0];
    this.cache = {};
    this.bitmap = new OffscreenCanvas(w, h);
    this.bctx = this.bitmap.getContext("2d");
    this.image = this.bctx.createImageData(w, h);
    this.out32 = new Uint32Array(this.image.data.buffer);
    this.preset("auto", false);
    this.resize();
    this.fit();
    this.paint();
  }

  setPhysics(physics) {
    this.physics = physics;
    delete this.cache.material;
    if (this.view === "material") this.paint();
  }

  // -- what is shown ----------------------------------------------------------------------------------
  sourceKey() {
    return (this.edges ? "edges-" : "") + (this.view === "low" && this.low ? "low" : "high");
  }

  source() {
    const base = this.view === "low" && this.low ? "low" : "high";
    if (!this.edges) return this[base];
    return (this.cache[this.sourceKey()] ||= enhanceEdges(this[base], this.w, this.h, this.air));
  }

  /** The shown data's cumulative histogram, for the equalising part of the grey ramp. */
  cdf() {
    return (this.cache["cdf-" + this.sourceKey()] ||= cumulative(this.source()));
  }

  materialClasses() {
    if (!this.low || !this.physics) return null;
    return (this.cache.material ||= classifyMaterial(this.high, this.low, this.w, this.h, this.air, this.physics.material));
  }

  /** Window [lo, hi] in raw counts. */
  setWindow(lo, hi) {
    this.lo = Math.max(1, Math.min(65534, lo));
    this.hi = Math.max(this.lo + 1, Math.min(65535 * 4, hi));
    this.paint();
  }

  preset(name, paint = true) {
    const src = this.view === "low" && this.low ? this.low : this.high;
    const [p02, p05, p40, p995] = percentiles(src, [0.2, 0.5, 40, 99.5], 3);
    const ranges = {
      auto: [p05, Math.max(Math.min(p995, this.air), p05 + 2)],
      dense: [p02, Math.max(p40, p02 * 4)], // stretch the darkest part: what dense cargo hides
      light: [Math.max(1, p40 * 0.8), this.air * 1.02], // stretch the bright part: thin goods, cartons
    };
    this.presetName = name;
    [this.lo, this.hi] = ranges[name] || ranges.auto;
    if (paint) this.paint();
  }

  set(option, value) {
    this[option] = value;
    if (option === "view" && value !== "material") this.preset(this.presetName || "auto", false);
    if (option === "heatOn" || option === "heatOpacity") this.compose();
    else this.paint();
  }

  /** Run the lookup table over every 16-bit pixel into the full-resolution bitmap, then compose. */
  paint() {
    if (!this.high) return;
    const t0 = performance.now();
    const src = this.source();
    windowTable(this.lo, this.hi, this.invert, this.table8, this.cdf(), this.equalise);
    const out = this.out32;
    const n = src.length;
    const classes = this.view === "material" ? this.materialClasses() : null;
    if (classes) {
      const t8 = this.table8, pal = this.palette;
      for (let i = 0; i < n; i++) out[i] = pal[(classes[i] << 8) | t8[src[i]]];
    } else {
      const lut = greyLut(this.table8, this.lut32);
      for (let i = 0; i < n; i++) out[i] = lut[src[i]];
    }
    this.bctx.putImageData(this.image, 0, 0);
    this.stats.paintMs = performance.now() - t0;
    this.stats.updates++;
    this.compose();
  }

  /** Draw the bitmap at the current zoom and pan, then the heatmap and boxes. */
  compose() {
    if (!this.bitmap) return;
    const t0 = performance.now();
    const { ctx, canvas } = this;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#0b0d10";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const sx = this.zoom * dpr, sy = this.zoom * this.aspect * dpr;
    ctx.setTransform(sx, 0, 0, sy, this.panX * dpr, this.panY * dpr);
    ctx.imageSmoothingEnabled = this.zoom < 2;
    ctx.imageSmoothingQuality = "medium";
    ctx.drawImage(this.bitmap, 0, 0);
    if (this.heatOn && this.heat) {
      ctx.globalAlpha = this.heatOpacity;
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(this.heat, 0, 0);
      ctx.globalAlpha = 1;
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    for (const b of this.boxes) this.drawBox(b);
    if (this.pendingBox) this.drawBox({ box: this.pendingBox, kind: "pending", label: "your box" });
    this.stats.composeMs = performance.now() - t0;
    this.hooks.onChange?.(this);
  }

  drawBox({ box, kind, label }) {
    const [x0, y0, x1, y1] = box;
    const [ax, ay] = this.toScreen(x0, y0), [bx, by] = this.toScreen(x1, y1);
    const { ctx } = this;
    const colour = { model: "#ff5a4e", officer: "#3fd0ff", pending: "#ffd23f" }[kind] || "#fff";
    ctx.lineWidth = kind === "pending" ? 2 : 1.5;
    ctx.setLineDash(kind === "model" ? [6, 4] : []);
    ctx.strokeStyle = colour;
    ctx.strokeRect(ax, ay, bx - ax, by - ay);
    ctx.setLineDash([]);
    if (label) {
      ctx.font = "11px system-ui, sans-serif";
      const tw = ctx.measureText(label).width + 6;
      ctx.fillStyle = "rgba(0,0,0,0.7)";
      ctx.fillRect(ax, ay - 15, tw, 14);
      ctx.fillStyle = colour;
      ctx.fillText(label, ax + 3, ay - 4);
    }
  }

  // -- heatmap ----------------------------------------------------------------------------------------
  /** The model's 8-bit heat image (scan-sized): coloured once, and its hot regions become model boxes. */
  setHeat(img) {
    const c = new OffscreenCanvas(this.w, this.h);
    const g = c.getContext("2d", { willReadFrequently: true });
    g.drawImage(img, 0, 0, this.w, this.h);
    const data = g.getImageData(0, 0, this.w, this.h);
    const found = heatBoxes(data.data, this.w, this.h);
    colourHeat(data.data);
    g.putImageData(data, 0, 0);
    this.heat = c;
    this.modelBoxes = found.map((b) => ({ box: b.box, kind: "model", label: `model ${b.peak.toFixed(2)}` }));
    return this.modelBoxes;
  }

  setBoxes(boxes) {
    this.boxes = boxes;
    this.compose();
  }

  // -- geometry ---------------------------------------------------------------------------------------
  resize() {
    const dpr = window.devicePixelRatio || 1;
    const r = this.canvas.parentElement.getBoundingClientRect();
    this.cw = Math.max(50, Math.floor(r.width));
    this.ch = Math.max(50, Math.floor(r.height));
    this.canvas.width = this.cw * dpr;
    this.canvas.height = this.ch * dpr;
    this.canvas.style.width = this.cw + "px";
    this.canvas.style.height = this.ch + "px";
    if (this.fitted) this.fit();
    else this.compose();
  }

  fit() {
    if (!this.w) return;
    this.zoom = Math.min(this.cw / this.w, this.ch / (this.h * this.aspect)) * 0.98;
    this.panX = (this.cw - this.w * this.zoom) / 2;
    this.panY = (this.ch - this.h * this.zoom * this.aspect) / 2;
    this.fitted = true;
    this.compose();
  }

  zoomAt(mx, my, factor) {
    const minZoom = Math.min(this.cw / this.w, this.ch / (this.h * this.aspect)) * 0.5;
    const z = Math.max(minZoom, Math.min(MAX_ZOOM, this.zoom * factor));
    const [ix, iy] = this.toImage(mx, my);
    this.zoom = z;
    this.panX = mx - ix * z;
    this.panY = my - iy * z * this.aspect;
    this.fitted = false;
    this.compose();
  }

  pan(dx, dy) {
    this.panX += dx;
    this.panY += dy;
    this.fitted = false;
    this.compose();
  }

  toImage(sx, sy) {
    return [(sx - this.panX) / this.zoom, (sy - this.panY) / (this.zoom * this.aspect)];
  }

  toScreen(x, y) {
    return [this.panX + x * this.zoom, this.panY + y * this.zoom * this.aspect];
  }

  // -- readout ----------------------------------------------------------------------------------------
  /** What is under image pixel (x, y): counts, transmission, steel-equivalent thickness, material. */
  probe(x, y) {
    x = Math.floor(x);
    y = Math.floor(y);
    if (!this.high || x < 0 || y < 0 || x >= this.w || y >= this.h) return null;
    const i = y * this.w + x;
    const v = this.high[i];
    const t = Math.max(v, 1) / this.air;
    const att = -Math.log(Math.min(1, t));
    const steelMm = this.physics ? interp(att, this.physics.steel_mm.attenuation, this.physics.steel_mm.mm)
      : (att / MU_STEEL_PER_CM) * 10;
    const cls = this.cache.material ? this.cache.material[i] : null;
    return { x, y, high: v, low: this.low ? this.low[i] : null, transmission: t, steelMm, material: cls,
      metres: (x * this.pitch[0]) / 1000 };
  }

  // -- mouse ------------------------------------------------------------------------------------------
  wire() {
    const c = this.canvas;
    c.addEventListener("contextmenu", (e) => e.preventDefault());
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      const r = c.getBoundingClientRect();
      this.zoomAt(e.clientX - r.left, e.clientY - r.top, Math.exp(-e.deltaY * 0.0015));
    }, { passive: false });
    c.addEventListener("mousedown", (e) => {
      c.focus();
      const r = c.getBoundingClientRect();
      const mode = e.button === 2 || e.shiftKey ? "wl" : this.boxMode ? "box" : "pan";
      this.drag = { mode, x: e.clientX, y: e.clientY, lo: this.lo, hi: this.hi, r,
        start: this.toImage(e.clientX - r.left, e.clientY - r.top) };
      e.preventDefault();
    });
    window.addEventListener("mousemove", (e) => this.onMove(e));
    window.addEventListener("mouseup", () => this.onUp());
    c.addEventListener("mouseleave", () => this.hooks.onHover?.(null));
  }

  onMove(e) {
    const r = this.canvas.getBoundingClientRect();
    const d = this.drag;
    if (!d) {
      if (e.target === this.canvas) this.hooks.onHover?.(this.probe(...this.toImage(e.clientX - r.left, e.clientY - r.top)));
      return;
    }
    const dx = e.clientX - d.x, dy = e.clientY - d.y;
    if (d.mode === "pan") {
      this.pan(e.clientX - (d.px ?? d.x), e.clientY - (d.py ?? d.y));
      d.px = e.clientX;
      d.py = e.clientY;
    } else if (d.mode === "wl") {
      // window/level in log counts: right = wider window, down = darker (higher level)
      const center = 0.5 * (Math.log(d.lo) + Math.log(d.hi)) + dy * 0.01;
      const width = Math.max(0.05, (Math.log(d.hi) - Math.log(d.lo)) * Math.exp(dx * 0.006));
      this.presetName = null;
      this.scheduleWindow(Math.exp(center - width / 2), Math.exp(center + width / 2));
    } else if (d.mode === "box") {
      const [x, y] = this.toImage(e.clientX - r.left, e.clientY - r.top);
      const [sx, sy] = d.start;
      const cl = (v, m) => Math.max(0, Math.min(m, Math.round(v)));
      this.pendingBox = [cl(Math.min(sx, x), this.w), cl(Math.min(sy, y), this.h), cl(Math.max(sx, x), this.w), cl(Math.max(sy, y), this.h)];
      this.compose();
    }
  }

  onUp() {
    const d = this.drag;
    this.drag = null;
    if (d && d.mode === "box" && this.pendingBox) {
      const [x0, y0, x1, y1] = this.pendingBox;
      if (x1 - x0 < 2 || y1 - y0 < 2) this.pendingBox = null;
      this.boxMode = false;
      this.hooks.onBox?.(this.pendingBox);
      this.compose();
    }
  }

  /** Coalesce window/level changes to one paint per animation frame while dragging. */
  scheduleWindow(lo, hi) {
    this.nextWindow = [lo, hi];
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.setWindow(...this.nextWindow);
    });
  }
}

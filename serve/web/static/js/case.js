// The case page: loads the case and its 16-bit images into the viewer, fills the side panel, claims the case,
// records the decision (or the inspection outcome) and moves on to the next case of the queue.

import { $, ago, api, el, errorOf, fmtTime, getJSON, label, me, session } from "./common.js";
import { thumbnail } from "./thumbs.js";
import { Viewer } from "./viewer.js";

const main = $("main.case");
const caseId = main.dataset.caseId;
const readOnly = new URLSearchParams(location.search).has("ref");
const MATERIAL_NAMES = ["—", "organic", "inorganic", "metal"];
const state = { case: null, claimed: false, done: false, box: null, busy: false };

const viewer = new Viewer($("#view"), {
  onHover: showReadout,
  onChange: showViewState,
  onBox: (box) => {
    state.box = box;
    $("#boxinfo").textContent = box ? `Box x ${box[0]}–${box[2]}, y ${box[1]}–${box[3]} px (Esc removes)` : "";
    document.querySelector('[data-toggle="box"]').classList.toggle("on", false);
  },
});
window.quayscanViewer = viewer; // for the browser tests and for poking from the console

// -- loading ------------------------------------------------------------------------------------------
async function raw(energy) {
  const r = await api(`/v1/cases/${caseId}/images/${energy}?format=raw`);
  if (!r.ok) throw await errorOf(r);
  const w = +r.headers.get("X-Width"), h = +r.headers.get("X-Height");
  const air = +r.headers.get("X-Air-Value") || 0;
  return { pixels: new Uint16Array(await r.arrayBuffer()), w, h, air };
}

async function load() {
  session(); // fetch the CSRF token early: the claim and the pagehide release need it
  const highP = raw("high");
  let c;
  try {
    c = await getJSON(`/v1/cases/${caseId}`);
  } catch (e) {
    banner(e.status === 404 ? "No such case." : `Could not load the case: ${e.message}`, "error");
    $("#loading").textContent = "";
    return;
  }
  state.case = c;
  fillPanel(c);
  claim(c).catch((e) => banner(`Could not claim the case: ${e.message}`, "error"));
  const physicsP = getJSON(`/review/physics.json`).catch(() => null);
  const lowP = c.images.low ? raw("low").catch(() => null) : Promise.resolve(null);
  const high = await highP;
  const low = await lowP;
  viewer.setImage({ high: high.pixels, low: low && low.pixels, w: high.w, h: high.h, air: high.air,
    pitch: c.pixel_pitch_mm || [5, 5] });
  $("#loading").hidden = true;
  document.querySelector('[data-view="low"]').disabled = !low;
  document.querySelector('[data-view="material"]').disabled = !low;
  main.dataset.ready = "1";
  physicsP.then((p) => p && viewer.setPhysics(p));
  if (c.heatmap) loadHeat(c.heatmap);
  else document.querySelector('[data-toggle="heat"]').disabled = true;
  loadHistory();
  loadReferences(c);
}

function loadHeat(url) {
  const img = new Image();
  img.onload = () => {
    viewer.setHeat(img);
    refreshBoxes();
    main.dataset.heat = "1";
  };
  img.src = url;
}

// -- side panel ---------------------------------------------------------------------------------------
function fillPanel(c) {
  document.title = `${c.container_id || c.case_id} · quayscan`;
  $("#container").textContent = c.container_id || "(no container id)";
  const st = $("#status");
  st.textContent = label(c.status);
  st.className = `chip status-${c.status}`;
  $("#decision").textContent = c.decision ? `model: ${c.decision}` : "";
  $("#scanner").textContent = c.scanner_id || "—";
  $("#scanned").textContent = `${fmtTime(c.scanned_at || c.created_at)} (${ago(c.scanned_at || c.created_at)})`;
  const pitch = c.pixel_pitch_mm || [];
  $("#size").textContent = `${c.width_px} × ${c.height_px} px at ${pitch[0]} × ${pitch[1]} mm` +
    (c.width_px && pitch[0] ? ` · ${((c.width_px * pitch[0]) / 1000).toFixed(2)} m` : "");
  $("#model").textContent = c.model_version || "—";
  const score = $("#score");
  score.replaceChildren(
    el("span", { class: c.score >= c.threshold ? "hot" : "" }, c.score == null ? "—" : c.score.toFixed(3)),
    c.threshold == null ? "" : ` (threshold ${c.threshold.toFixed(3)})`,
  );
  const decl = $("#declared");
  decl.replaceChildren(...(c.declared || []).map((d) => el("div", { class: "hs" }, el("code", {}, d.hs_code || "—"), " ", d.description || "")));
  if (!c.declared || !c.declared.length) decl.textContent = c.declared_empty ? "declared empty" : "no declaration";
  if (c.declared_commodity) decl.append(el("div", { class: "muted" }, "class: ", label(c.declared_commodity)));
  const com = c.commodity || {};
  const pred = $("#predicted");
  pred.replaceChildren(
    el("div", { class: "big" }, label(com.predicted) || "—"),
    com.confidence == null ? "" : el("div", { class: "conf" }, el("meter", { min: 0, max: 1, value: com.confidence }), ` ${(100 * com.confidence).toFixed(0)} %`),
    com.match == null ? "" : el("div", { class: com.match ? "ok" : "bad" }, com.match ? "matches the declaration" : "does not match the declaration"),
  );
  const reasons = $("#reasons");
  reasons.replaceChildren(...(c.reasons || []).map((r) => el("li", { class: "chip reason" }, label(r))));
  if (!(c.reasons || []).length) reasons.append(el("li", { class: "muted" }, "none: the model released it"));
  showForms(c);
}

function showForms(c) {
  const decidable = ["decided", "cleared"].includes(c.status);
  $("#decide").hidden = readOnly || !decidable;
  $("#outcome").hidden = readOnly || !["inspection", "closed"].includes(c.status);
  $("#skip").hidden = readOnly;
  if (readOnly) banner("Reference scan: read only.", "info");
  else if (c.status === "cleared" || c.status === "closed") banner(`Already reviewed${c.reviewed_by ? " by " + c.reviewed_by : ""}: a decision now is a correction, kept beside the earlier one.`, "info");
}

function banner(text, kind = "warn") {
  const b = $("#banner");
  b.hidden = !text;
  b.className = `banner ${kind}`;
  b.textContent = text || "";
}

function setDecisionsEnabled(on) {
  for (const b of document.querySelectorAll("[data-decide], [data-outcome]")) b.disabled = !on;
}

function showReadout(p) {
  const out = $("#readout");
  if (!p) return void (out.textContent = "—");
  const parts = [`x ${p.x} y ${p.y} (${p.metres.toFixed(2)} m)`, `high ${p.high}`];
  if (p.low !== null) parts.push(`low ${p.low}`);
  parts.push(`I/air ${(100 * p.transmission).toFixed(p.transmission < 0.01 ? 2 : 1)} %`);
  parts.push(`steel-eq. ≈ ${p.steelMm.toFixed(0)} mm (approx.)`);
  if (p.material !== null) parts.push(MATERIAL_NAMES[p.material]);
  out.textContent = parts.join(" · ");
}

function showViewState(v) {
  $("#wl").textContent = `window ${Math.round(v.lo)}–${Math.round(v.hi)} (log)${v.presetName ? " · " + v.presetName : ""}`;
  $("#zoom").textContent = `zoom ${(v.zoom * 100).toFixed(0)} %`;
  for (const b of document.querySelectorAll("[data-view]")) b.classList.toggle("on", b.dataset.view === v.view);
  for (const b of document.querySelectorAll("[data-preset]")) b.classList.toggle("on", b.dataset.preset === v.presetName);
  const t = { edges: v.edges, invert: v.invert, heat: v.heatOn, box: v.boxMode };
  for (const b of document.querySelectorAll("[data-toggle]")) b.classList.toggle("on", !!t[b.dataset.toggle]);
}

// -- history and references ---------------------------------------------------------------------------
let officerBoxes = [];
function refreshBoxes() {
  viewer.setBoxes([...(viewer.modelBoxes || []), ...officerBoxes]);
}

async function loadHistory() {
  let items = [];
  try {
    items = (await getJSON(`/v1/cases/${caseId}/reviews`)).items || [];
  } catch {
    return;
  }
  const list = $("#history");
  if (items.length) list.replaceChildren(...items.map((r) => el("li", {},
    el("b", {}, label(r.action)), ` by ${r.user} · ${fmtTime(r.created_at)}`,
    r.category ? el("div", {}, "category: ", label(r.category)) : "",
    r.note ? el("div", { class: "note" }, r.note) : "")));
  officerBoxes = items.filter((r) => r.box).map((r) => ({ box: r.box, kind: "officer", label: `${r.user}: ${label(r.action)}` }));
  refreshBoxes();
}

async function loadReferences(c) {
  const strip = $("#refs");
  let items = [];
  try {
    items = (await getJSON(`/v1/cases/${caseId}/references?limit=4`)).items || [];
  } catch {
    strip.replaceChildren(el("span", { class: "muted" }, "References unavailable."));
    return;
  }
  if (!items.length) {
    strip.replaceChildren(el("span", { class: "muted" }, `No earlier released scans of ${label(c.declared_commodity) || "this commodity"} yet.`));
    return;
  }
  strip.replaceChildren(...items.map((r) => {
    const box = el("a", { class: "ref", href: `/review/cases/${r.case_id}?ref=1`, target: "_blank", title: "Open beside this case" },
      el("div", { class: "thumb" }), el("span", {}, `${r.container_id || r.case_id.slice(0, 8)} · ${label(r.status)} · ${fmtTime(r.scanned_at || r.created_at)}`));
    thumbnail(`/v1/cases/${r.case_id}/images/high?format=raw`, r.pixel_pitch_mm).then((cv) => box.firstChild.append(cv)).catch(() => {});
    return box;
  }));
}

// -- claim, decision, next case -------------------------------------------------------------------------
async function claim(c) {
  if (readOnly || !["decided", "inspection"].includes(c.status)) return;
  const r = await api(`/v1/cases/${caseId}/claim`, { method: "POST" });
  if (r.ok) {
    state.claimed = true;
    setInterval(() => api(`/v1/cases/${caseId}/claim`, { method: "POST" }), 5 * 60 * 1000); // renew
    return;
  }
  const e = await errorOf(r);
  if (r.status === 409) {
    banner(e.by ? `Taken by ${e.by}: they are reviewing this case.` : e.message, "taken");
    main.dataset.taken = e.by || "1";
    setDecisionsEnabled(false);
  }
}

function releaseClaim() {
  if (!state.claimed || state.done) return;
  state.claimed = false;
  session().then((s) => fetch(`/v1/cases/${caseId}/claim`, { method: "DELETE", keepalive: true, credentials: "same-origin",
    headers: { "X-CSRF-Token": s.csrf_token || "" } }));
}
window.addEventListener("pagehide", releaseClaim);

async function record(action, note, extra = {}) {
  if (state.busy || !state.case) return;
  state.busy = true;
  setDecisionsEnabled(false);
  const body = { action, expected_status: state.case.status, ...extra };
  if (note) body.note = note;
  if (state.box && action !== "no_finding") body.box = state.box;
  try {
    const r = await api(`/v1/cases/${caseId}/reviews`, { method: "POST", json: body });
    if (r.status === 201) {
      state.done = action !== "comment";
      const out = await r.json();
      if (action === "comment") {
        $("#note").value = "";
        loadHistory();
      } else {
        banner(`${label(action)} recorded.`, "ok");
        state.case = out.case || state.case;
        return void goNext(action);
      }
    } else {
      const e = await errorOf(r);
      banner(r.status === 409 ? `Not recorded: ${e.message}` : `Not recorded: ${e.message}`, r.status === 409 ? "taken" : "error");
    }
  } catch (e) {
    banner(`Not recorded: ${e.message}`, "error");
  } finally {
    state.busy = false;
    if (!state.done) setDecisionsEnabled(true);
  }
}

async function goNext(action) {
  const inspection = action === "finding" || action === "no_finding";
  const q = new URLSearchParams(sessionStorage.getItem("quayscan.queue") || "order=oldest");
  q.set("limit", "10");
  try {
    const url = inspection ? `/v1/cases?status=inspection&order=oldest&limit=10` : `/v1/queue?${q}`;
    const items = (await getJSON(url)).items || [];
    const next = items.find((c) => c.case_id !== caseId && (!c.claimed_by || c.claimed_by === me()));
    if (next) return void location.assign(`/review/cases/${next.case_id}`);
  } catch { /* fall back to the queue */ }
  location.assign(inspection ? "/review#inspection" : "/review?empty=1");
}

function decide(action) {
  record(action, $("#note").value.trim());
}

function recordOutcome(action) {
  const category = $("#category").value;
  if (action === "finding" && !category) {
    banner("A finding needs a category.", "error");
    $("#category").focus();
    return;
  }
  record(action, $("#outcome-note").value.trim(), action === "finding" ? { category } : {});
}

// -- controls and keys --------------------------------------------------------------------------------
for (const b of document.querySelectorAll("[data-decide]")) b.addEventListener("click", () => decide(b.dataset.decide));
for (const b of document.querySelectorAll("[data-outcome]")) b.addEventListener("click", () => recordOutcome(b.dataset.outcome));
for (const b of document.querySelectorAll("[data-view]")) b.addEventListener("click", () => viewer.set("view", b.dataset.view));
for (const b of document.querySelectorAll("[data-preset]")) b.addEventListener("click", () => viewer.preset(b.dataset.preset));
const toggles = { edges: () => viewer.set("edges", !viewer.edges), invert: () => viewer.set("invert", !viewer.invert),
  heat: () => viewer.set("heatOn", !viewer.heatOn), box: () => { viewer.boxMode = !viewer.boxMode; viewer.compose(); } };
for (const b of document.querySelectorAll("[data-toggle]")) b.addEventListener("click", () => toggles[b.dataset.toggle]());
const actions = { fit: () => viewer.fit(), "zoom-in": () => viewer.zoomAt(viewer.cw / 2, viewer.ch / 2, 1.25),
  "zoom-out": () => viewer.zoomAt(viewer.cw / 2, viewer.ch / 2, 0.8) };
for (const b of document.querySelectorAll("[data-action]")) b.addEventListener("click", () => actions[b.dataset.action]());
$("#heat-opacity").addEventListener("input", (e) => {
  viewer.heatOpacity = e.target.value / 100;
  if (!viewer.heatOn) viewer.heatOn = true;
  viewer.compose();
});
$("#skip").addEventListener("click", () => { releaseClaim(); goNext("skip"); });

function clearBox() {
  viewer.pendingBox = null;
  viewer.boxMode = false;
  viewer.hooks.onBox(null);
  viewer.compose();
}

const KEYS = {
  c: () => !$("#decide").hidden && decide("clear"),
  i: () => !$("#decide").hidden && decide("inspect"),
  n: () => ($("#decide").hidden ? $("#outcome-note") : $("#note")).focus(),
  b: () => toggles.box(), s: () => !readOnly && $("#skip").click(),
  1: () => viewer.set("view", "high"), 2: () => viewer.low && viewer.set("view", "low"),
  3: () => viewer.low && viewer.set("view", "material"),
  a: () => viewer.preset("auto"), d: () => viewer.preset("dense"), l: () => viewer.preset("light"),
  e: toggles.edges, v: toggles.invert, h: toggles.heat, f: actions.fit, 0: actions.fit,
  "+": actions["zoom-in"], "=": actions["zoom-in"], "-": actions["zoom-out"],
  arrowleft: () => viewer.pan(viewer.cw * 0.1, 0), arrowright: () => viewer.pan(-viewer.cw * 0.1, 0),
  arrowup: () => viewer.pan(0, viewer.ch * 0.1), arrowdown: () => viewer.pan(0, -viewer.ch * 0.1),
  escape: clearBox,
};
document.addEventListener("keydown", (e) => {
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(e.target.tagName);
  if (typing) {
    if (e.key === "Escape") e.target.blur();
    return;
  }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const fn = KEYS[e.key.toLowerCase()];
  if (!fn || !state.case || (main.dataset.taken && "ci".includes(e.key.toLowerCase()))) return;
  e.preventDefault();
  fn();
});

load();

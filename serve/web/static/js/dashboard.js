// The supervisor's dashboard: throughput, release rate, flag reasons, backlog, time to review, scores over
// time, the release-side recall estimated from the random audit sample, the webhook deliveries waiting or
// failing (with "Resend now"), and each model's score drift (PSI) against its card's validation histogram.

import { $, ago, api, el, errorOf, fmtTime, getJSON, label } from "./common.js";
import { COLOURS, hbars, lines, stackedBars } from "./charts.js";

const REFRESH_MS = 30000;
const OUTBOX_LIMIT = 50;
let data = null;
let drift = [];

const hourLabel = (iso) => `${String(new Date(iso).getHours()).padStart(2, "0")}:00`;
const minutes = (m) => (m == null ? "—" : m < 90 ? `${m.toFixed(m < 10 ? 1 : 0)} min` : `${(m / 60).toFixed(1)} h`);
const pct = (v) => (v == null ? "—" : `${(100 * v).toFixed(1)} %`);
const interval = (ci) => (ci && ci[0] != null && ci[1] != null ? `${pct(ci[0])} – ${pct(ci[1])}` : "—");

// The audit sample's estimate of the model's recall on the release side, with its 95 % interval.
function showAudit(a) {
  $("#t-recall").textContent = pct(a.release_side_recall_estimate);
  $("#t-audit").textContent = a.reviewed
    ? `95 % ${interval(a.release_side_recall_ci95)}; misses ${a.found}/${a.reviewed} audited ` +
      `(${pct(a.release_side_miss_rate)}, ${interval(a.ci95)})`
    : `${a.sampled} sampled, none reviewed yet`;
}

// When a waiting event is tried next: "due now" once the time has passed.
function nextAttempt(iso) {
  if (!iso) return "—";
  const s = (new Date(iso).getTime() - Date.now()) / 1000;
  if (s <= 1) return "due now";
  return s < 90 ? `in ${Math.round(s)} s` : s < 5400 ? `in ${Math.round(s / 60)} min` : `in ${(s / 3600).toFixed(1)} h`;
}

function deliveryMessage(text, kind) {
  const m = $("#d-message");
  m.textContent = text;
  m.className = `banner ${kind}`;
  m.hidden = !text;
}

async function resend(button, e) {
  button.disabled = true;
  try {
    const r = await api(`/v1/outbox/${encodeURIComponent(e.event_id)}/redeliver`, { method: "POST" });
    if (!r.ok) throw await errorOf(r);
    deliveryMessage(`${e.kind} for case ${e.case_id}: sent again now.`, "ok");
    await loadOutbox();
  } catch (err) {
    button.disabled = false;
    if (err.status !== 401) deliveryMessage(`Could not resend ${e.kind} for case ${e.case_id}: ${err.message}`, "error");
  }
}

// Each receiver hears a case's events in order: a later one waits while an earlier one is undelivered.
function waitsFor(e, events) {
  return e.attempts === 0 && events.some((o) => o.case_id === e.case_id && o.created_at < e.created_at);
}

function eventRow(e, events) {
  const waits = waitsFor(e, events);
  const button = el("button", { type: "button", class: "resend", disabled: waits,
    title: waits ? "sent once the earlier event of this case is delivered" : null }, "Resend now");
  button.addEventListener("click", () => resend(button, e));
  return el("tr", { dataset: { event: e.event_id, state: e.state } },
    el("td", {}, el("span", { class: `chip state-${e.state}` }, e.state), " ", e.kind),
    el("td", {}, e.case_id ? el("a", { href: `/review/cases/${encodeURIComponent(e.case_id)}` }, e.case_id) : "—"),
    el("td", { title: fmtTime(e.created_at) }, ago(e.created_at)),
    el("td", { class: "num" }, String(e.attempts)),
    el("td", { class: "err" }, e.last_error || "—"),
    el("td", { title: fmtTime(e.next_attempt_at) },
      waits ? "after the earlier event of this case" : nextAttempt(e.next_attempt_at)),
    el("td", {}, button));
}

// Counts, receivers and the events not yet acknowledged by every receiver.
function showOutbox(o) {
  const s = o.summary;
  $("#d-delivered").textContent = s.delivered;
  $("#d-pending").textContent = s.pending;
  $("#d-failing").textContent = s.failing;
  $("#d-failing-tile").classList.toggle("alert", s.failing > 0);
  $("#d-oldest").textContent = s.oldest_pending_at ? ago(s.oldest_pending_at) : "—";
  $("#d-oldest").title = fmtTime(s.oldest_pending_at);
  const configured = o.webhooks.length > 0;
  $("#d-none").hidden = configured;
  $("#d-none").textContent = configured ? "" : "No webhook is configured: final decisions are not sent anywhere. " +
    (s.pending ? `${s.pending} are kept in the outbox and will be sent once a webhook is configured.` : "");
  $("#d-receivers").hidden = !configured;
  $("#d-urls").replaceChildren(...o.webhooks.flatMap((u, i) => [i ? ", " : "", el("code", {}, u)]));
  $("#d-table").hidden = !configured || !o.events.length;
  $("#d-rows").replaceChildren(...o.events.map((e) => eventRow(e, o.events)));
  $("#d-shown").textContent = !configured ? "" : !o.events.length ? "Every decision has been delivered."
    : o.events.length < s.pending ? `The ${o.events.length} newest of ${s.pending} waiting.` : "";
  $("#d-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function loadOutbox() {
  try {
    showOutbox(await getJSON(`/v1/outbox?pending=true&limit=${OUTBOX_LIMIT}`));
  } catch (e) {
    $("#d-updated").textContent = `could not load: ${e.message}`;
  }
}

// PSI as commonly read: below 0.1 stable, 0.1 to 0.25 worth watching, above 0.25 the scores have shifted.
const band = (v) => (v < 0.1 ? ["stable", "ok"] : v <= 0.25 ? ["watch", "warn"] : ["shifted", "bad"]);
const shares = (counts) => {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (total ? c / total : null));
};

// One tile per model (deciding, shadow): its PSI, coloured by band, and live against reference score shares.
function showDrift(models) {
  drift = models;
  const tiles = models.map((m) => {
    const b = m.psi == null ? null : band(m.psi);
    return el("figure", { class: "drift-tile", dataset: { version: m.version, role: m.role } },
      el("figcaption", {}, `${m.version} `, el("span", { class: "chip" }, m.role === "current" ? "deciding" : "shadow"),
        m.reference ? el("i", { class: "key validation" }, "validation") : null,
        m.live ? el("i", { class: "key scores" }, "live") : null),
      el("div", { class: "psi" },
        el("b", { class: `psi-value ${b ? b[1] : "muted"}` }, m.psi == null ? "—" : m.psi.toFixed(3)),
        el("span", {}, b ? `PSI · ${b[0]}` : "PSI"),
        el("span", { class: "muted" }, `${m.n_scores} live scores (last ${m.window})`)),
      m.note ? el("p", { class: "note muted" }, m.note) : null,
      m.reference || m.live ? el("canvas", { class: "drift-chart" }) : null);
  });
  $("#drift-tiles").replaceChildren(...(tiles.length ? tiles : [el("p", { class: "muted" }, "No model is registered.")]));
  drawDrift();
}

// Share of scores per bin, validation against live, on a scale whose quarter lines are round percentages.
function drawDrift() {
  drift.forEach((m, i) => {
    const canvas = document.querySelectorAll("#drift-tiles figure")[i]?.querySelector("canvas");
    if (!canvas) return;
    const series = [];
    if (m.reference) series.push({ values: shares(m.reference), colour: COLOURS.text });
    if (m.live) series.push({ values: shares(m.live), colour: COLOURS.accent });
    const n = (m.reference || m.live || []).length || 10;
    const top = Math.max(...series.flatMap((s) => s.values.filter((v) => v != null)));
    const max = [0.2, 0.4, 0.6, 0.8, 1].find((x) => x >= top) || 1;
    const labels = Array.from({ length: n }, (_, k) => (k / n).toFixed(1));
    lines(canvas, labels, series, max, (v) => `${Math.round(100 * v)} %`);
  });
}

async function loadDrift() {
  try {
    showDrift((await getJSON("/v1/models/drift")).models);
  } catch (e) {
    $("#drift-tiles").replaceChildren(el("p", { class: "error" }, `could not load: ${e.message}`));
  }
}

function draw() {
  drawDrift();
  if (!data) return;
  const hours = data.scans_per_hour;
  const labels = hours.map((h) => hourLabel(h.hour));
  stackedBars($("#c-hourly"), labels, [
    { values: hours.map((h) => h.released), colour: COLOURS.ok },
    { values: hours.map((h) => h.inspected), colour: COLOURS.warn },
  ]);
  const rate = hours.map((h) => (h.released + h.inspected ? h.released / (h.released + h.inspected) : null));
  lines($("#c-rate"), labels, [{ values: rate, colour: COLOURS.ok }], 1, (v) => `${Math.round(100 * v)} %`);
  hbars($("#c-reasons"), Object.entries(data.reasons || {}).map(([k, v]) => [label(k), v]));
  const hist = data.score_histogram;
  const histLabels = hist.counts.map((_, i) => hist.edges[i].toFixed(1));
  stackedBars($("#c-hist"), histLabels, [{ values: hist.counts, colour: COLOURS.accent }]);
  lines($("#c-drift"), labels, [
    { values: data.score_by_hour.map((h) => h.p50), colour: COLOURS.accent },
    { values: data.score_by_hour.map((h) => h.p90), colour: COLOURS.bad },
  ], 1, (v) => v.toFixed(2));
}

async function loadDashboard() {
  try {
    data = await getJSON(`/v1/dashboard?hours=${$("#hours").value}`);
  } catch (e) {
    $("#updated").textContent = `could not load: ${e.message}`;
    return;
  }
  const scans = data.scans_per_hour.reduce((s, h) => s + h.scans, 0);
  $("#t-scans").textContent = scans;
  $("#t-release").textContent = pct(data.release_rate);
  $("#t-backlog").textContent = data.backlog;
  $("#t-p50").textContent = minutes(data.time_to_review_minutes.p50);
  $("#t-p90").textContent = minutes(data.time_to_review_minutes.p90);
  showAudit(data.audit);
  $("#updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  draw();
}

async function load() {
  await Promise.all([loadDashboard(), loadOutbox(), loadDrift()]);
  document.body.dataset.loaded = "1";
}

$("#hours").addEventListener("change", loadDashboard);
window.addEventListener("resize", draw);
setInterval(load, REFRESH_MS);
load();

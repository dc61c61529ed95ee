// The supervisor's dashboard: throughput, release rate, flag reasons, backlog, time to review, score drift,
// and the release-side recall estimated from the random audit sample.

import { $, getJSON, label } from "./common.js";
import { COLOURS, hbars, lines, stackedBars } from "./charts.js";

const REFRESH_MS = 30000;
let data = null;

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

function draw() {
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

async function load() {
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
  document.body.dataset.loaded = "1";
}

$("#hours").addEventListener("change", load);
window.addEventListener("resize", draw);
setInterval(load, REFRESH_MS);
load();

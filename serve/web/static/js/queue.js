// The review queue: flagged cases not yet reviewed (or awaiting an inspection outcome), filtered, with
// counts, refreshed every few seconds so new scans appear without a reload.

import { $, ago, bindFilters, el, fmtTime, formQuery, getJSON, label, me } from "./common.js";

const POLL_MS = 4000;
const form = $("#filters");
const rows = $("#rows");
let tab = location.hash === "#inspection" ? "inspection" : "review";
let seen = null; // case ids shown by the previous refresh; null before the first
let timer = null;
let current = [];

function url() {
  const q = formQuery(form);
  sessionStorage.setItem("quayscan.queue", q.toString()); // the case page follows the same queue
  q.set("limit", "100");
  if (tab === "review") return `/v1/queue?${q}`;
  q.set("status", "inspection");
  q.set("order", q.get("order") === "score" ? "score" : "oldest");
  if (q.has("commodity")) q.delete("commodity"); // not a filter of /v1/cases
  return `/v1/cases?${q}`;
}

function scoreCell(c) {
  if (c.score == null) return el("td", {}, "—");
  const bar = el("span", { class: "scorebar", title: `threshold ${c.threshold}` }, el("i"), el("b"));
  bar.firstChild.style.width = `${Math.round(100 * c.score)}%`;
  if (c.threshold != null) bar.lastChild.style.left = `${Math.round(100 * c.threshold)}%`;
  return el("td", {}, bar, c.score.toFixed(3));
}

function row(c, now, fresh) {
  const com = c.commodity || {};
  const declared = (c.declared || []).map((d) => el("div", { class: "hs" }, el("code", {}, d.hs_code || ""), " ", d.description || ""));
  const claimed = c.claimed_by && c.claimed_by !== me() ? el("span", { class: "chip claimed" }, `taken by ${c.claimed_by}`) : "";
  const tr = el("tr", { class: "case-row" + (fresh ? " new" : ""), dataset: { caseId: c.case_id } },
    el("td", { title: fmtTime(c.scanned_at || c.created_at) }, ago(c.scanned_at || c.created_at, now)),
    el("td", {}, el("a", { href: `/review/cases/${c.case_id}` }, c.container_id || c.case_id.slice(0, 10))),
    el("td", {}, c.scanner_id || "—"),
    el("td", {}, declared.length ? declared : el("span", { class: "muted" }, c.declared_empty ? "empty" : "—")),
    el("td", {}, label(com.predicted) || "—", com.confidence == null ? "" : el("span", { class: "muted" }, ` ${(100 * com.confidence).toFixed(0)} %`)),
    scoreCell(c),
    el("td", {}, el("div", { class: "chips" }, (c.reasons || []).map((r) => el("span", { class: "chip reason" }, label(r))))),
    el("td", { class: "muted" }, c.model_version || "—"),
    el("td", {}, el("span", { class: `chip status-${c.status}` }, label(c.status)), " ", claimed),
  );
  tr.addEventListener("click", (e) => { if (e.target.tagName !== "A") location.assign(`/review/cases/${c.case_id}`); });
  return tr;
}

function setLive(ok, text) {
  $("#live-dot").className = ok ? "ok" : "bad";
  $("#live-text").textContent = text;
}

async function refresh() {
  clearTimeout(timer);
  try {
    const data = await getJSON(url());
    const now = Date.now();
    current = data.items;
    const ids = new Set(data.items.map((c) => c.case_id));
    rows.replaceChildren(...data.items.map((c) => row(c, now, seen !== null && !seen.has(c.case_id))));
    if (!data.items.length) {
      const msg = tab === "review" ? "Nothing to review: every flagged case has been decided." : "No case is waiting for an inspection outcome.";
      rows.append(el("tr", { class: "empty" }, el("td", { colspan: 9 }, msg)));
    }
    seen = ids;
    $("#shown").textContent = `showing ${data.items.length} of ${data.total}`;
    if (data.counts) {
      $("#count-queue").textContent = data.counts.queue;
      $("#count-inspection").textContent = data.counts.inspection;
      $("#count-reviewed").textContent = data.counts.reviewed_today;
    }
    setLive(true, `live · updated ${new Date().toLocaleTimeString()}`);
    document.body.dataset.loaded = "1";
  } catch (e) {
    setLive(false, `not updating: ${e.message}`);
  }
  timer = setTimeout(refresh, POLL_MS);
}

async function counts() {
  // the inspection tab lists /v1/cases, which has no counts: take them from the queue
  if (tab !== "inspection") return;
  try {
    const q = await getJSON("/v1/queue?limit=1");
    $("#count-queue").textContent = q.counts.queue;
    $("#count-inspection").textContent = q.counts.inspection;
    $("#count-reviewed").textContent = q.counts.reviewed_today;
  } catch { /* shown by the live indicator */ }
}

function selectTab(name) {
  tab = name;
  history.replaceState(null, "", location.pathname + location.search + (name === "inspection" ? "#inspection" : ""));
  for (const b of document.querySelectorAll("[data-tab]")) b.classList.toggle("on", b.dataset.tab === name);
  seen = null;
  refresh().then(counts);
}

for (const b of document.querySelectorAll("[data-tab]")) b.addEventListener("click", () => selectTab(b.dataset.tab));
document.addEventListener("keydown", (e) => {
  if (["INPUT", "TEXTAREA", "SELECT"].includes(e.target.tagName)) return;
  if (e.key === "Enter" && current.length) location.assign(`/review/cases/${current[0].case_id}`);
});
document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
bindFilters(form, () => { seen = null; refresh(); });
selectTab(tab);

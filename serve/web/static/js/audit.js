// The audit trail: every review entry, newest first, filtered by user, action, case and day.

import { $, bindFilters, el, fmtTime, formQuery, getJSON, label } from "./common.js";

const PAGE = 100;
const form = $("#filters");
let offset = 0;

function boxText(b) {
  return b ? `${b.map((v) => Math.round(v)).join(", ")}` : "";
}

async function load() {
  const q = formQuery(form);
  q.set("limit", PAGE);
  q.set("offset", offset);
  const rows = $("#rows");
  try {
    const data = await getJSON(`/v1/audit?${q}`);
    rows.replaceChildren(...data.items.map((r) => el("tr", {},
      el("td", { title: r.created_at }, fmtTime(r.created_at)),
      el("td", {}, r.user),
      el("td", {}, el("span", { class: `chip action-${r.action}` }, label(r.action))),
      el("td", {}, el("a", { href: `/review/cases/${r.case_id}?ref=1` }, r.case_id.slice(0, 12))),
      el("td", { class: "muted" }, `${label(r.from_status)} → ${label(r.to_status)}`),
      el("td", {}, r.model_version || "—"),
      el("td", {}, label(r.category) || ""),
      el("td", {}, r.note || ""),
      el("td", { class: "muted" }, boxText(r.box)),
    )));
    if (!data.items.length) rows.append(el("tr", { class: "empty" }, el("td", { colspan: 9 }, "No entries.")));
    $("#shown").textContent = data.items.length ? `entries ${offset + 1}–${offset + data.items.length}` : "";
    $("#older").disabled = data.items.length < PAGE;
    $("#newer").disabled = offset === 0;
    document.body.dataset.loaded = "1";
  } catch (e) {
    rows.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: 9 }, `Could not load the audit: ${e.message}`)));
  }
}

$("#older").addEventListener("click", () => { offset += PAGE; load(); });
$("#newer").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); load(); });
bindFilters(form, () => { offset = 0; load(); });
load();

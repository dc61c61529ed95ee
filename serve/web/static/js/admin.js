// The admin page: add, disable and enable users; create keys (token shown once) and revoke them;
// see the model versions and roll back.

import { $, api, el, errorOf, fmtTime, getJSON, me } from "./common.js";

const failure = $("#admin-error");

function showError(e) {
  failure.textContent = e.message || String(e);
  failure.hidden = false;
}

function clearError() {
  failure.hidden = true;
  failure.textContent = "";
}

/** POST ``json`` to ``path``; the answer's JSON, or an ApiError. */
async function post(path, json) {
  const r = await api(path, { method: "POST", json });
  if (!r.ok) throw await errorOf(r);
  return r.json();
}

/** A button that runs ``action`` and reloads, showing any error on the page. */
function actionButton(text, action, attrs = {}) {
  return el("button", {
    type: "button", ...attrs,
    onclick: async (e) => {
      e.currentTarget.disabled = true;
      clearError();
      try {
        await action();
      } catch (err) {
        showError(err);
      }
      await loadAll();
    },
  }, text);
}

function empty(colspan, text) {
  return el("tr", { class: "empty" }, el("td", { colspan }, text));
}

// -- users ----------------------------------------------------------------------------------------------
async function loadUsers() {
  const rows = $("#users");
  const { users } = await getJSON("/v1/users");
  rows.replaceChildren(...users.map((u) => el("tr", { dataset: { user: u.name } },
    el("td", {}, u.name),
    el("td", {}, el("span", { class: "chip" }, u.role)),
    el("td", {}, u.disabled ? el("span", { class: "chip state-off" }, "disabled") : "active"),
    el("td", { title: u.created_at }, fmtTime(u.created_at)),
    el("td", {}, u.name === me() ? el("span", { class: "muted" }, "you") : u.disabled
      ? actionButton("Enable", () => post(`/v1/users/${encodeURIComponent(u.name)}/enable`), { class: "enable" })
      : actionButton("Disable", () => post(`/v1/users/${encodeURIComponent(u.name)}/disable`), { class: "disable" })),
  )));
  if (!users.length) rows.append(empty(5, "No users."));
}

$("#user-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.currentTarget;
  clearError();
  try {
    await post("/v1/users", Object.fromEntries(new FormData(form)));
    form.reset();
  } catch (err) {
    showError(err);
  }
  await loadAll();
});

// -- API keys -------------------------------------------------------------------------------------------
async function loadKeys() {
  const rows = $("#keys");
  const all = $("#show-revoked").checked ? "?all=true" : "";
  const { keys } = await getJSON(`/v1/keys${all}`);
  rows.replaceChildren(...keys.map((k) => el("tr", { dataset: { prefix: k.prefix }, class: k.revoked_at ? "revoked" : null },
    el("td", {}, el("code", {}, k.prefix)),
    el("td", {}, k.name),
    el("td", {}, el("span", { class: "chip" }, k.role)),
    el("td", { title: k.created_at }, fmtTime(k.created_at)),
    el("td", { title: k.revoked_at || "" }, k.revoked_at ? fmtTime(k.revoked_at) : "—"),
    el("td", {}, k.revoked_at ? "" : actionButton("Revoke", () => {
      if (!confirm(`Revoke key ${k.prefix} (${k.name})? Whatever uses it stops working at once.`)) return null;
      return post(`/v1/keys/${encodeURIComponent(k.prefix)}/revoke`);
    }, { class: "revoke" })),
  )));
  if (!keys.length) rows.append(empty(6, "No keys."));
}

$("#key-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.currentTarget;
  clearError();
  try {
    const key = await post("/v1/keys", Object.fromEntries(new FormData(form)));
    $("#new-key-name").textContent = `${key.name} (${key.role}, ${key.prefix})`;
    $("#new-key-token").value = key.token;
    $("#new-key").hidden = false;
    $("#new-key-token").select();
    form.reset();
  } catch (err) {
    showError(err);
  }
  await loadAll();
});

$("#copy-key").addEventListener("click", async () => {
  const input = $("#new-key-token");
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
    $("#copy-key").textContent = "Copied";
  } catch {
    $("#copy-key").textContent = "Press Ctrl+C";  // no clipboard access (plain http): the text is selected
  }
});

$("#dismiss-key").addEventListener("click", () => {
  $("#new-key-token").value = "";
  $("#new-key").hidden = true;
  $("#copy-key").textContent = "Copy";
});

$("#show-revoked").addEventListener("change", () => loadKeys().catch(showError));

// -- models ---------------------------------------------------------------------------------------------
function byWhom(who, when) {
  return who || when ? [who || "?", el("br"), el("small", { class: "muted", title: when || "" }, fmtTime(when))] : "—";
}

async function loadModels() {
  const rows = $("#models");
  const data = await getJSON("/v1/models");
  $("#serving").textContent = data.serving ? `this worker serves ${data.serving}` : "no model loaded";
  rows.replaceChildren(...data.models.map((m) => {
    const last = (m.events || []).at(-1);
    const flags = [m.current && el("span", { class: "chip status-cleared" }, "current"),
      m.shadow && el("span", { class: "chip claimed" }, "shadow"), m.loaded && el("span", { class: "chip" }, "loaded")]
      .filter(Boolean);
    return el("tr", { dataset: { version: m.version }, class: m.current ? "current" : null },
      el("td", {}, el("code", {}, m.version)),
      el("td", {}, flags.length ? flags : el("span", { class: "muted" }, "—")),
      el("td", {}, byWhom(m.registered_by, m.registered_at)),
      el("td", {}, m.promoted_at || m.promoted_by ? byWhom(m.promoted_by, m.promoted_at) : "—"),
      el("td", {}, last ? `${last.action} by ${last.user || "?"}${last.reason ? `: ${last.reason}` : ""}` : "—"),
    );
  }));
  if (!data.models.length) rows.append(empty(5, "No models registered."));
}

$("#rollback").addEventListener("click", async () => {
  const reason = prompt("Roll back to the previously promoted model. Reason (it is logged):");
  if (reason === null) return;
  clearError();
  try {
    const m = await post("/v1/models/rollback", { reason: reason.trim() || null });
    $("#serving").textContent = `rolled back: ${m.version} decides`;
  } catch (err) {
    showError(err);
  }
  await loadModels().catch(showError);
});

// -------------------------------------------------------------------------------------------------------
async function loadAll() {
  const results = await Promise.allSettled([loadUsers(), loadKeys(), loadModels()]);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) showError(failed.reason);
  document.body.dataset.loaded = "1";
}

loadAll();

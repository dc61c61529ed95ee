// Shared by every page: JSON calls with the session's CSRF token, the logout button, small DOM helpers.

let csrfPromise = null;

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || "";
    this.by = e.by || null;
  }
}

/** The logged-in user, role and CSRF token (GET /v1/session), fetched once per page. */
export function session() {
  if (!csrfPromise) {
    csrfPromise = fetch("/v1/session", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : { user: null, role: null, csrf_token: "" }))
      .catch(() => ({ user: null, role: null, csrf_token: "" }));
  }
  return csrfPromise;
}

function toLogin() {
  location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
}

/** fetch() with the CSRF header on unsafe methods; a 401 sends the browser to the login page. */
export async function api(path, { method = "GET", json, keepalive = false, signal } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = (await session()).csrf_token || "";
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  const r = await fetch(path, { method, headers, body, keepalive, signal, credentials: "same-origin" });
  if (r.status === 401) {
    toLogin();
    throw new ApiError(401, null);
  }
  return r;
}

export async function getJSON(path, opts) {
  const r = await api(path, opts);
  if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => null));
  return r.json();
}

export async function errorOf(r) {
  return new ApiError(r.status, await r.json().catch(() => null));
}

export function $(sel, root = document) {
  return root.querySelector(sel);
}

/** el("td", {class: "x", title: "y"}, "text", childNode, ...) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
}

export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function ago(iso, now = Date.now()) {
  if (!iso) return "—";
  const s = Math.max(0, (now - new Date(iso).getTime()) / 1000);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export const label = (code) => String(code || "").replaceAll("_", " ");

/** A date input's value (local day) as an ISO instant; end=true gives the start of the next day. */
export function dayToIso(value, end = false) {
  if (!value) return "";
  const d = new Date(value + "T00:00:00");
  if (end) d.setDate(d.getDate() + 1);
  return d.toISOString();
}

/** Query string of a filter form's non-empty fields (dates turned into instants). */
export function formQuery(form) {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData(form)) {
    if (!v) continue;
    if (k === "since") q.set(k, dayToIso(v));
    else if (k === "until") q.set(k, dayToIso(v, true));
    else q.set(k, v);
  }
  return q;
}

/** Restore a filter form from the page URL, and keep the URL in step with the form. */
export function bindFilters(form, onChange) {
  const params = new URLSearchParams(location.search);
  for (const field of form.elements) if (field.name && params.has(field.name)) field.value = params.get(field.name);
  const changed = () => {
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
    history.replaceState(null, "", location.pathname + (q.toString() ? "?" + q : "") + location.hash);
    onChange();
  };
  form.addEventListener("change", changed);
  form.addEventListener("input", (e) => { if (e.target.tagName === "INPUT" && e.target.type === "text") debounce(changed)(); });
  form.addEventListener("submit", (e) => { e.preventDefault(); changed(); });
  form.addEventListener("reset", () => setTimeout(changed));
}

let debounceTimer = null;
function debounce(fn, ms = 300) {
  return () => { clearTimeout(debounceTimer); debounceTimer = setTimeout(fn, ms); };
}

function wireLogout() {
  const form = document.getElementById("logout");
  if (!form) return;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const token = (await session()).csrf_token || "";
    await fetch("/logout", {
      method: "POST", credentials: "same-origin", redirect: "manual",
      headers: { "X-CSRF-Token": token, "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf_token: token }),
    }).catch(() => null);
    location.assign("/login");
  });
}

export const me = () => document.querySelector(".who .user")?.dataset.user || "";

wireLogout();

"""HTML pages of the review desk, each checking the caller's role before it is served.

    GET /login                      the login form (POST /login and /logout belong to the session API)
    GET /review                     queue of flagged cases (officer)
    GET /review/cases/{case_id}     the case viewer and decision panel (officer)
    GET /review/audit               every review entry (supervisor)
    GET /review/dashboard           throughput, release rate, backlog, score drift (supervisor)
    GET /review/admin               users, API keys and model versions (admin)
    GET /review/physics.json        material-class boundaries and steel-equivalent curve for the viewer
    GET /review/static/{file}       the pages' scripts and styles

A visitor who is not logged in is sent to ``/login?next=...``; a logged-in user without the role, or a
scanner key, gets a 403 page.
"""

from __future__ import annotations

import html
import json
import mimetypes
from functools import cache, lru_cache
from pathlib import Path
from string import Template
from urllib.parse import quote

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from quayscan.datasets.commodities import class_names
from quayscan.serve.auth import AuthError, Principal, admits, authenticate

router = APIRouter(include_in_schema=False)
HERE = Path(__file__).parent
STATIC = HERE / "static"
#: served files, fixed at import: a request can name nothing else
STATIC_FILES = {p.relative_to(STATIC).as_posix(): p for p in STATIC.rglob("*") if p.is_file()}
#: everything the pages load comes from quayscan itself
CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "Cache-Control": "no-store"}
REASONS = ("anomaly_score", "commodity_mismatch", "not_empty", "commodity_not_in_library", "missing_declaration",
           "image_quality", "model_unavailable")
#: what a physical inspection can find (design section 5), and "other"
FINDINGS = ("dense_concealment", "organic_concealment", "undeclared_goods", "manifest_mismatch",
            "hidden_compartment", "other")


@cache
def _template(name: str) -> Template:
    return Template((HERE / "templates" / name).read_text())


def _html(name: str, status: int = 200, **values: str) -> HTMLResponse:
    body = _template("base.html").substitute(
        title=values.pop("title"), page=name.removesuffix(".html"), nav=values.pop("nav", ""),
        content=_template(name).substitute(**values),
    )
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def _nav(p: Principal, here: str) -> str:
    links = [("/review", "Queue", "officer"), ("/review/audit", "Audit", "supervisor"),
             ("/review/dashboard", "Dashboard", "supervisor"), ("/review/admin", "Admin", "admin")]
    items = "".join(
        f'<a href="{href}"{" class=here" if href == here else ""}>{label}</a>'
        for href, label, role in links if admits(role, p.role)
    )
    return (f'<nav>{items}</nav><div class="who"><span class="user" data-user="{html.escape(p.name)}" '
            f'data-role="{p.role}">{html.escape(p.name)} <small>{p.role}</small></span>'
            '<form method="post" action="/logout" id="logout"><button type="submit">Log out</button></form></div>')


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _guard(request: Request, role: str) -> Principal | Response:
    """The caller if their role admits ``role``; otherwise the login redirect or a 403 page.

    A browser (``Accept: text/html``) is sent to the login page or shown a 403 page; any other client gets
    the API's JSON 401/403, as from ``require(role)``.
    """
    try:
        principal = authenticate(request)
    except AuthError:
        if not _wants_html(request):
            raise
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    if not admits(role, principal.role):
        if not _wants_html(request):
            raise AuthError(403, "forbidden", f"this needs the {role} role; {principal.name!r} is {principal.role}")
        who = "API keys cannot open review pages" if principal.kind == "key" else \
            f"{principal.name} is {principal.role}; this page needs the {role} role"
        nav = _nav(principal, "") if principal.kind == "user" else ""
        return _html("forbidden.html", 403, title="Not allowed", nav=nav, message=html.escape(who))
    return principal


def _options(values) -> str:
    return "".join(f'<option value="{html.escape(v)}">{html.escape(v.replace("_", " "))}</option>' for v in values)


def _safe_next(target: str | None) -> str:
    # only paths on this site: never "//host" or "https://host"
    return target if target and target.startswith("/") and not target.startswith("//") else "/review"


@router.get("/login")
def login_page(next: str | None = None, error: str | None = None) -> Response:
    message = '<p class="error" role="alert">Wrong user name or password.</p>' if error else ""
    return _html("login.html", title="Log in", error=message, next=html.escape(_safe_next(next)))


@router.get("/review")
def queue_page(request: Request) -> Response:
    p = _guard(request, "officer")
    if isinstance(p, Response):
        return p
    return _html("queue.html", title="Queue", nav=_nav(p, "/review"), reasons=_options(REASONS),
                 commodities=_options(class_names()))


@router.get("/review/cases/{case_id}")
def case_page(request: Request, case_id: str) -> Response:
    p = _guard(request, "officer")
    if isinstance(p, Response):
        return p
    return _html("case.html", title=f"Case {html.escape(case_id[:12])}", nav=_nav(p, ""),
                 case_id=html.escape(case_id), findings=_options(FINDINGS))


def _simple_page(role: str, template: str, title: str, path: str):
    """A page whose data its own script fetches: only the guard and the shell are served here."""

    def page(request: Request) -> Response:
        p = _guard(request, role)
        if isinstance(p, Response):
            return p
        return _html(template, title=title, nav=_nav(p, path))

    page.__name__ = f"{template.removesuffix('.html')}_page"
    router.add_api_route(path, page, methods=["GET"])
    return page


audit_page = _simple_page("supervisor", "audit.html", "Audit", "/review/audit")
dashboard_page = _simple_page("supervisor", "dashboard.html", "Dashboard", "/review/dashboard")
admin_page = _simple_page("admin", "admin.html", "Admin", "/review/admin")


@lru_cache(maxsize=8)
def _physics(high_mev: float, low_mev: float) -> bytes:
    from quayscan.datasets.material import MAX_ATTENUATION, MIN_ATTENUATION, boundaries
    from quayscan.datasets.physics import steel_equivalent_mm

    grid, organic_edge, metal_edge = boundaries((high_mev, low_mev))
    attenuation = np.linspace(0.0, 9.0, 91)
    steel = steel_equivalent_mm(np.exp(-attenuation), high_mev)
    return json.dumps({
        "energies_mev": [high_mev, low_mev],
        "material": {"attenuation": grid.round(4).tolist(), "organic_edge": organic_edge.round(4).tolist(),
                     "metal_edge": metal_edge.round(4).tolist(), "min_attenuation": MIN_ATTENUATION,
                     "max_attenuation": MAX_ATTENUATION},
        "steel_mm": {"attenuation": attenuation.round(3).tolist(), "mm": steel.round(2).tolist()},
    }).encode()


@router.get("/review/physics.json")
def physics(request: Request, high_mev: float = Query(6.0, gt=0.5, le=20), low_mev: float = Query(3.0, gt=0.5, le=20)):
    """Material boundaries of R = ln T_low / ln T_high and iron thickness per attenuation, for one energy pair."""
    p = _guard(request, "officer")
    if isinstance(p, Response):
        return p
    return Response(_physics(high_mev, low_mev), media_type="application/json",
                    headers={"Cache-Control": "private, max-age=86400"})


@router.get("/review/static/{name:path}")
def static(name: str) -> Response:
    path = STATIC_FILES.get(name)
    if path is None:
        return Response("not found", status_code=404, media_type="text/plain")
    media = "text/javascript" if path.suffix == ".js" else mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media, headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

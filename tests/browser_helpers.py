"""Steps and checks the review-page browser tests share: log in, open a case, read the canvas, check the
dashboard against the API."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from serve_fixtures import model_copy

#: every test user's password
PASSWORD = "correct horse battery"


def login(browser, desk, user: str, path: str = "/review"):
    """A fresh browser context logged in as ``user``, showing ``path``."""
    context = browser.new_context(viewport={"width": 1600, "height": 900}, base_url=desk["server"].url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    page.goto(path)
    page.wait_for_url("**/login?next=*")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path}")
    return page


def open_case(page, case_id: str):
    page.goto(f"/review/cases/{case_id}")
    page.wait_for_selector("main.case[data-ready='1']", timeout=30_000)


def queue_ids(desk, officer_headers=None) -> list[str]:
    headers = officer_headers or {"Authorization": f"Bearer {desk['keys']['officer']}"}
    return [c["case_id"] for c in desk["api"].get("/v1/queue?limit=100", headers=headers).json()["items"]]


def canvas_pixels(page) -> list[int]:
    """A coarse sample of the visible canvas (RGB of a 64 x 16 grid)."""
    return page.evaluate("""() => {
        const c = document.getElementById('view');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const out = [];
        for (let gy = 0; gy < 16; gy++) for (let gx = 0; gx < 64; gx++) {
            const x = Math.floor((gx + 0.5) * c.width / 64), y = Math.floor((gy + 0.5) * c.height / 16);
            const i = (y * c.width + x) * 4;
            out.push(d[i], d[i + 1], d[i + 2]);
        }
        return out;
    }""")


def changed(a: list[int], b: list[int]) -> float:
    """Share of sampled channel values that differ."""
    return sum(x != y for x, y in zip(a, b)) / len(a)


def stage_centre(page) -> tuple[float, float]:
    box = page.locator("#view").bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def psi_band(value: float) -> str:
    return "ok" if value < 0.1 else "warn" if value <= 0.25 else "bad"


def untried(events: list[dict]) -> list[dict]:
    """Waiting events never tried, though no earlier event of their case waits before them (those wait
    for it to be delivered first)."""
    oldest = {}
    for e in sorted(events, key=lambda e: e["created_at"]):
        oldest.setdefault(e["case_id"], e["event_id"])
    return [e for e in events if e["attempts"] == 0 and oldest[e["case_id"]] == e["event_id"]]


def check_dashboard(page, desk, artifacts):
    """Throughput tiles, webhook deliveries (all failing: nothing listens) with "Resend now", and a drift
    tile per model: the deciding one against its card's histogram, a shadow whose card has none."""
    from quayscan.model.card import read_card
    from quayscan.model.runner import DEFAULT_MODEL

    api = desk["api"]
    admin = {"Authorization": f"Bearer {desk['keys']['admin']}"}
    supervisor = {"Authorization": f"Bearer {desk['keys']['supervisor']}"}
    # the shipped model under another version, its card without a validation score histogram
    card = read_card(DEFAULT_MODEL)
    evaluation = {k: {kk: vv for kk, vv in v.items() if kk != "score_histogram"} if isinstance(v, dict) else v
                  for k, v in card.evaluation.items() if k != "score_histogram"}
    with tempfile.TemporaryDirectory() as folder:
        body = model_copy(Path(folder), "no-reference", evaluation=evaluation).read_bytes()
    r = api.post("/v1/models", headers=admin, content=body)
    assert r.status_code in (200, 201), r.text
    shadow = r.json()["version"]
    assert api.post(f"/v1/models/{shadow}/shadow", headers=admin, json={}).status_code == 200
    deadline = time.monotonic() + 20  # every event tried that can be: the counts hold still while the page loads
    while untried(api.get("/v1/outbox?pending=true&limit=500", headers=supervisor).json()["events"]):
        assert time.monotonic() < deadline, "the dispatcher did not try every due event"
        time.sleep(0.2)
    try:
        page.goto("/review/dashboard")
        page.wait_for_selector("body[data-loaded='1']")
        outbox = api.get("/v1/outbox?pending=true&limit=50", headers=supervisor).json()
        drift = {m["role"]: m for m in api.get("/v1/models/drift", headers=supervisor).json()["models"]}
        assert page.inner_text("#t-scans") != "–"

        # deliveries: the counts, failing highlighted, the receiver, one row per waiting event
        summary = outbox["summary"]
        assert 0 < summary["failing"] <= summary["pending"] and summary["delivered"] == 0
        assert [page.inner_text(f"#d-{k}") for k in ("delivered", "pending", "failing")] == \
            [str(summary[k]) for k in ("delivered", "pending", "failing")]
        assert "alert" in page.get_attribute("#d-failing-tile", "class")
        assert page.inner_text("#d-urls") == desk["webhook"] and page.locator("#d-none").is_hidden()
        rows = page.locator("#d-rows tr")
        assert rows.count() == len(outbox["events"]) == min(summary["pending"], 50)
        event = next(e for e in outbox["events"] if e["state"] == "failing")
        first = page.locator(f"#d-rows tr[data-event='{event['event_id']}']")
        assert event["kind"] in first.inner_text() and "failing" in first.inner_text()
        assert first.locator("a").get_attribute("href") == f"/review/cases/{event['case_id']}"
        assert first.locator("td.err").inner_text() not in ("", "—")

        # score drift: the deciding model's PSI in its band's colour, the shadow's note for a missing reference
        current, shadowing = drift["current"], drift["shadow"]
        assert current["version"] == "desk-1" and current["psi"] is not None and current["n_scores"] > 0
        tile = page.locator("figure.drift-tile[data-role=current]")
        assert tile.locator(".psi-value").inner_text() == f"{current['psi']:.3f}"
        assert psi_band(current["psi"]) in tile.locator(".psi-value").get_attribute("class")
        assert f"{current['n_scores']} live scores" in tile.inner_text()
        tile = page.locator("figure.drift-tile[data-role=shadow]")
        assert shadowing["psi"] is None and tile.get_attribute("data-version") == shadow
        assert tile.locator(".psi-value").inner_text() == "—" and shadowing["note"] in tile.locator(".note").inner_text()
        page.screenshot(path=str(artifacts / "dashboard.png"))
        page.locator("section.ops").screenshot(path=str(artifacts / "dashboard-delivery-drift.png"))

        # "Resend now" makes the event due again, with the session's CSRF token
        with page.expect_response(lambda r: r.url.endswith(f"/v1/outbox/{event['event_id']}/redeliver")) as sent:
            first.locator("button.resend").click()
        assert sent.value.status == 200
        page.wait_for_selector("#d-message.ok")
        assert event["case_id"] in page.inner_text("#d-message")

        # without a webhook the page says so plainly, and lists nothing to resend
        def unconfigured(route):
            body = route.fetch().json()
            route.fulfill(json={**body, "webhooks": []})

        page.route("**/v1/outbox?*", unconfigured)
        page.reload()
        page.wait_for_selector("body[data-loaded='1']")
        assert "No webhook is configured" in page.inner_text("#d-none")
        assert page.locator("#d-table").is_hidden() and page.locator("#d-receivers").is_hidden()
    finally:
        assert api.delete("/v1/models/shadow", headers=admin).status_code == 200

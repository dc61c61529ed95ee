"""Webhooks: every final decision, delivered from the durable outbox to the configured URLs, signed.

    QUAYSCAN_WEBHOOK_SECRET=... quayscan serve --webhook https://tos.example/quayscan/events
    quayscan serve --webhook https://tos.example/hook --webhook https://single-window.example/hook \\
        --webhook-secret-file /run/secrets/quayscan-webhook

    dispatcher = Dispatcher(["https://tos.example/hook"], secret, db)   # refuses bad URLs and a missing secret
    dispatcher.start()      # a thread: every second, and right after a decision, deliver what is due
    dispatcher.stop()       # finishes the round in flight, so no event stays leased

Each event (``case.released``, ``case.cleared``, ``case.inspection_ordered``, ``case.inspection_completed``)
is one ``POST`` of its JSON payload (the body's ``event_id`` equals the header) with these headers::

    Content-Type: application/json
    X-Quayscan-Event-Id: 01J...            stable across retries: de-duplicate on it
    X-Quayscan-Event: case.released
    X-Quayscan-Attempt: 1                  1 on the first try, more on retries
    X-Quayscan-Timestamp: 1795334400       Unix seconds when this attempt was signed
    X-Quayscan-Signature: sha256=<hex>     HMAC-SHA256(secret, timestamp + "." + body)

To verify, a receiver recomputes the HMAC over the timestamp header, one ``.`` and the exact body bytes,
compares in constant time, and refuses a timestamp more than 5 minutes from its clock (a captured request
cannot be replayed later; a legitimate retry is signed afresh)::

    signed = headers["X-Quayscan-Timestamp"].encode() + b"." + body
    good = hmac.compare_digest("sha256=" + hmac.new(secret, signed, hashlib.sha256).hexdigest(),
                               headers["X-Quayscan-Signature"])

(:func:`verify` does exactly this.) A 2xx answer acknowledges the event for that URL; anything else, a
redirect, a timeout or a refused connection is a failed attempt, retried with exponential back-off
(capped, forever) and only to the URLs that have not acknowledged it yet. Delivery is at least once.
Each URL hears the events of one case in the order they were decided: an event waits for a URL while an
earlier event of its case has not reached that URL (a correction "inspection_ordered" after "cleared" must
never overtake it). Events of different cases are independent.

A secret is required when webhooks are configured: the service refuses to start rather than send
unsigned decisions. URLs must be ``http(s)://host...`` without credentials (the signature authenticates
the sender). Proxies are not used.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import NamedTuple
from urllib.parse import urlsplit

from sqlalchemy import event as sa_event
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from quayscan.serve.storage.db import begin_write, fresh, utcnow
from quayscan.serve.storage.errors import NotFoundError
from quayscan.serve.storage.models import OutboxEvent
from quayscan.serve.storage.outbox import (
    BACKOFF_BASE_S, BACKOFF_CAP_S, due_events, mark_delivered, mark_failed, outbox_summary,
)

log = logging.getLogger(__name__)

MIN_SECRET_CHARS = 16
SIGNATURE_TOLERANCE_S = 300
#: longest an event waiting for an earlier one of its case goes without looking again
DEFER_MAX_S = 10.0
USER_AGENT = "quayscan-webhooks/0.1"
_WAKE_KEY = "quayscan_outbox_new"


class WebhookConfigError(ValueError):
    """Webhooks are configured in a way the service refuses to run with."""


def check_config(urls: Iterable[str], secret: str | None) -> list[str]:
    """The URLs, checked: each ``http(s)://host[:port]/path`` without credentials, and a secret set.

    Raises:
        WebhookConfigError: naming the bad URL, or the missing/short secret.
    """
    urls = list(urls)
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WebhookConfigError(f"webhook URL must be http:// or https:// with a host, got {url!r}")
        if parts.username or parts.password:
            raise WebhookConfigError(f"webhook URL must not carry credentials (requests are signed instead): "
                                     f"{parts.scheme}://...@{parts.hostname}")
        try:
            parts.port  # noqa: B018  # raises on a malformed port
        except ValueError:
            raise WebhookConfigError(f"webhook URL has a bad port: {url!r}") from None
    if len(set(urls)) != len(urls):
        raise WebhookConfigError(f"webhook URLs are listed twice: {urls}")
    if urls and not secret:
        raise WebhookConfigError("webhooks are configured but no secret is set: set QUAYSCAN_WEBHOOK_SECRET or "
                                 "pass --webhook-secret-file (decisions are never sent unsigned)")
    if urls and len(secret or "") < MIN_SECRET_CHARS:
        raise WebhookConfigError(f"the webhook secret has {len(secret or '')} characters; use at least "
                                 f"{MIN_SECRET_CHARS} (e.g. python -c 'import secrets; print(secrets.token_hex(32))')")
    return urls


def sign(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Quayscan-Signature`` value of ``body`` sent at ``timestamp`` (Unix seconds, as sent)."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str | bytes, headers: Mapping[str, str], body: bytes, *,
           tolerance_s: float = SIGNATURE_TOLERANCE_S, now: float | None = None) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    lower = {k.lower(): v for k, v in headers.items()}
    timestamp, signature = lower.get("x-quayscan-timestamp", ""), lower.get("x-quayscan-signature", "")
    if not timestamp.isdigit():
        return False
    fresh_enough = abs((time.time() if now is None else now) - int(timestamp)) <= tolerance_s
    return fresh_enough and hmac.compare_digest(sign(secret, timestamp, body), signature)


def post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> None:
    """POST once; returns on a 2xx answer, raises ``OSError`` or ``http.client.HTTPException`` otherwise."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout_s, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    try:
        conn.request("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), body, headers)
        response = conn.getresponse()
        answer = response.read(2000)
    finally:
        conn.close()
    if not 200 <= response.status < 300:
        text = answer.decode("utf-8", "replace").strip()[:200]
        raise http.client.HTTPException(f"HTTP {response.status} {response.reason}" + (f": {text}" if text else ""))


class Dispatcher:
    """Delivers due outbox events to ``urls`` from a background thread (one per process; replicas share
    the outbox through leases).

    Attributes:
        poll_s: how often to look for due events when no decision wakes the thread.
        timeout_s: connect + answer timeout of one POST.
        backoff_base_s, backoff_cap_s: retry delays: base, 2 x base, 4 x base, ... up to the cap.
        batch: events leased per round.
    """

    def __init__(self, urls: Iterable[str], secret: str | None, db: sessionmaker, *, metrics=None,
                 poll_s: float = 1.0, timeout_s: float = 5.0, backoff_base_s: float = BACKOFF_BASE_S,
                 backoff_cap_s: float = BACKOFF_CAP_S, batch: int = 20) -> None:
        self.urls = check_config(urls, secret)
        self.secret = (secret or "").encode()
        self.db = db
        self.metrics = metrics
        self.poll_s, self.timeout_s, self.batch = poll_s, timeout_s, batch
        self.backoff_base_s, self.backoff_cap_s = backoff_base_s, backoff_cap_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._gauges_at = 0.0
        self.gauges_every_s = 5.0  # the counts scan the outbox: not every round

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread, and wake it whenever this process commits a new outbox event."""
        sa_event.listen(self.db, "after_flush", _note_new_events)
        sa_event.listen(self.db, "after_commit", self._after_commit)
        sa_event.listen(self.db, "after_soft_rollback", _forget_new_events)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="quayscan-webhooks", daemon=True)
        self._thread.start()
        log.info("delivering decisions to %d webhook URL(s): %s", len(self.urls), ", ".join(self.urls))

    def stop(self) -> None:
        """Stop after the round in flight (at most one POST timeout per URL left to wait)."""
        for name, fn in (("after_flush", _note_new_events), ("after_commit", self._after_commit),
                         ("after_soft_rollback", _forget_new_events)):
            if sa_event.contains(self.db, name, fn):
                sa_event.remove(self.db, name, fn)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s * max(1, len(self.urls)) + 5)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(_WAKE_KEY, False):
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while not self._stop.is_set() and self.deliver_due() >= self.batch:
                    pass  # a full batch: more may be due
                self._update_gauges()
            except Exception:  # a failing round (database down) is logged and retried; the thread must not die
                log.exception("webhook delivery round failed")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    # -- one round --------------------------------------------------------------------------------
    def deliver_due(self, now: datetime | None = None) -> int:
        """Lease the due events, POST each to the URLs it has not reached, record the outcome.

        A URL that an earlier event of the same case has not reached yet is skipped (the event waits for
        it, without counting an attempt), so each receiver hears a case's decisions in order.

        Returns:
            How many events were leased.
        """
        now = now or utcnow()
        lease_s = self.batch * len(self.urls) * self.timeout_s + 30  # outlasts the round, even all timeouts
        with self.db() as session:
            events = sorted(due_events(session, limit=self.batch, lease_s=lease_s, now=now), key=lambda e: e.id)
            if not events:
                return 0
            earlier = _undelivered_of_cases(session, events)
            down: dict[str, str] = {}  # URL -> its error this round: not tried again until the next round
            for event in events:
                blockers = [b for b in earlier.get(event.case_id, ()) if b.id < event.id]
                blocked = {u for b in blockers for u in self.urls if u not in b.reached} - set(event.delivered_to)
                acked, errors = self._send(event, down, skip=blocked)
                reached = {*event.delivered_to, *acked}
                if errors:
                    row = mark_failed(session, event.event_id, "; ".join(errors), delivered_to=acked, now=now,
                                      base_s=self.backoff_base_s, cap_s=self.backoff_cap_s)
                    due = row.next_attempt_at
                    log.warning("webhook %s %s attempt %d failed: %s", event.kind, event.event_id, row.attempts,
                                row.last_error)
                elif blocked:
                    due = min(min(b.due for b in blockers), now + timedelta(seconds=DEFER_MAX_S))
                    _defer(session, event.event_id, due, reached)
                else:
                    mark_delivered(session, event.event_id, delivered_to=acked, now=now)
                    continue
                if event.case_id:
                    earlier.setdefault(event.case_id, []).append(_Pending(event.id, due, frozenset(reached)))
            return len(events)

    def _send(self, event: OutboxEvent, down: dict[str, str], skip: set[str]) -> tuple[list[str], list[str]]:
        body = json.dumps(event.payload, separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json", "User-Agent": USER_AGENT,
            "X-Quayscan-Event-Id": event.event_id, "X-Quayscan-Event": event.kind,
            "X-Quayscan-Attempt": str(event.attempts + 1), "X-Quayscan-Timestamp": timestamp,
            "X-Quayscan-Signature": sign(self.secret, timestamp, body),
        }
        acked, errors = [], []
        for url in self.urls:
            if url in event.delivered_to or url in skip:
                continue
            if url in down:
                errors.append(f"{url}: not tried, it failed moments ago ({down[url]})")
                continue
            try:
                post(url, body, headers, self.timeout_s)
            except (OSError, http.client.HTTPException) as exc:
                down[url] = str(exc) or type(exc).__name__
                errors.append(f"{url}: {down[url]}")
            else:
                acked.append(url)
        return acked, errors

    def _update_gauges(self) -> None:
        if self.metrics is None or time.monotonic() - self._gauges_at < self.gauges_every_s:
            return
        with self.db() as session:
            summary = outbox_summary(session)
        self.metrics.set_outbox(summary["pending"], summary["failing"])
        self._gauges_at = time.monotonic()


def _note_new_events(session: Session, _context) -> None:
    if any(isinstance(obj, OutboxEvent) for obj in session.new):
        session.info[_WAKE_KEY] = True


def _forget_new_events(session: Session, _previous) -> None:
    session.info.pop(_WAKE_KEY, None)


class _Pending(NamedTuple):
    """An undelivered event of a case: later events of the case wait for it at the URLs it has not reached."""

    id: int
    due: datetime
    reached: frozenset[str]


def _undelivered_of_cases(session: Session, events: list[OutboxEvent]) -> dict[str, list[_Pending]]:
    """The other undelivered events of the cases of ``events`` (leased by this round or not), by case."""
    case_ids = {e.case_id for e in events if e.case_id}
    if not case_ids:
        return {}
    rows = session.execute(
        select(OutboxEvent.case_id, OutboxEvent.id, OutboxEvent.next_attempt_at, OutboxEvent.delivered_to)
        .where(OutboxEvent.case_id.in_(case_ids), OutboxEvent.delivered_at.is_(None),
               OutboxEvent.id.not_in([e.id for e in events]))
    ).all()
    session.commit()
    out: dict[str, list[_Pending]] = {}
    for case_id, row_id, due, reached in rows:
        out.setdefault(case_id, []).append(_Pending(row_id, due, frozenset(reached or ())))
    return out


def _defer(session: Session, event_id: str, until: datetime, reached: set[str]) -> None:
    """Put an event back until an earlier event of its case reaches the URLs (no attempt is counted)."""
    begin_write(session)
    session.execute(
        update(OutboxEvent).where(OutboxEvent.event_id == event_id, OutboxEvent.delivered_at.is_(None))
        .values(next_attempt_at=until, delivered_to=sorted(reached))
        .execution_options(synchronize_session=False)
    )
    session.commit()


def redeliver_event(session: Session, event_id: str) -> OutboxEvent:
    """A supervisor's "send again": a pending event is due now; a delivered one goes again to every URL.

    Raises:
        NotFoundError: no such event.
    """
    begin_write(session)
    event = session.scalar(fresh(select(OutboxEvent).where(OutboxEvent.event_id == event_id)))
    if event is None:
        session.rollback()
        raise NotFoundError(f"no outbox event with id {event_id!r}")
    if event.delivered_at is not None:
        event.delivered_to = []
    event.delivered_at = None
    event.next_attempt_at = utcnow()
    session.commit()
    return event

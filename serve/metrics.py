"""Prometheus metrics of one service process, in its own registry (several apps can live in one test).

    metrics = Metrics()
    metrics.decisions.labels(decision="inspect").inc()
    body = metrics.render()          # text exposition format for GET /metrics

The HTTP middleware records every request by route template (``/v1/cases/{case_id}``, never the raw path,
so ids do not explode the label set). Score drift (``quayscan_score_psi``) is read from the database when
scraped (:meth:`Metrics.watch_drift`), so every worker and replica reports the same figure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 1.0, 2.5, 5.0, 10.0)
SCORE_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 20)) + (0.99,)
PSI_BINS = 10  # equal bins on [0, 1], as the model card's score_histogram
PSI_FLOOR = 1e-4  # an empty bin counts as this share: ln(0) would make any gap infinite


def score_histogram(scores: Sequence[float], bins: int = PSI_BINS) -> list[int]:
    """Counts of ``scores`` in ``bins`` equal bins on [0, 1] (1.0 falls in the last bin)."""
    counts, _ = np.histogram(np.clip(np.asarray(scores, dtype=float), 0.0, 1.0), bins=bins, range=(0.0, 1.0))
    return [int(c) for c in counts]


def psi(reference: Sequence[float], live: Sequence[float]) -> float:
    """Population stability index of the ``live`` histogram against ``reference`` (counts or shares, same
    bins): sum over bins of (live - ref) * ln(live / ref), on shares. Below 0.1 is usually read as
    stable, above 0.25 as a real shift.

    Raises:
        ValueError: the histograms differ in length, or one of them is empty.
    """
    ref, cur = np.asarray(reference, dtype=float), np.asarray(live, dtype=float)
    if ref.shape != cur.shape or ref.ndim != 1:
        raise ValueError(f"histograms must have the same bins, got {ref.shape} and {cur.shape}")
    if ref.sum() <= 0 or cur.sum() <= 0:
        raise ValueError("an empty histogram has no distribution to compare")
    p = np.maximum(ref / ref.sum(), PSI_FLOOR)
    q = np.maximum(cur / cur.sum(), PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


class DriftCollector(Collector):
    """``quayscan_score_psi`` per model version, computed at scrape time by ``read`` (rows of
    ``{"version", "role", "psi", "n_scores"}``; psi None when the model has no reference histogram)."""

    def __init__(self, read: Callable[[], list[dict[str, Any]]]) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        value = GaugeMetricFamily("quayscan_score_psi", "PSI of the last live anomaly scores against the model "
                                  "card's validation score histogram (10 bins on [0, 1])", labels=["version", "role"])
        count = GaugeMetricFamily("quayscan_score_psi_scores", "Live scores the PSI was computed on",
                                  labels=["version", "role"])
        try:
            rows = self.read()
        except Exception:  # a scrape must not fail because the database is slow to answer
            log.exception("could not compute score drift")
            rows = []
        for row in rows:
            if row.get("psi") is None:
                continue
            value.add_metric([row["version"], row["role"]], row["psi"])
            count.add_metric([row["version"], row["role"]], row["n_scores"])
        yield value
        yield count

    def describe(self) -> list:
        return []  # no collect() at registration: the database may not be there yet


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("quayscan_http_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("quayscan_http_request_duration_seconds", "HTTP request latency by route",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("quayscan_http_in_flight", "HTTP requests being handled", registry=r)
        self.decisions = Counter("quayscan_decisions", "Decisions made on posted scans", ["decision"], registry=r)
        self.reasons = Counter("quayscan_decision_reasons", "Reasons given for inspect decisions", ["reason"],
                               registry=r)
        self.scores = Histogram("quayscan_score", "Anomaly scores of posted scans", buckets=SCORE_BUCKETS, registry=r)
        self.inference_seconds = Histogram("quayscan_inference_seconds", "Preprocess + model run per scan",
                                           buckets=LATENCY_BUCKETS, registry=r)
        self.queue = Gauge("quayscan_inference_queue", "Scans waiting for or in a model run", registry=r)
        self.model = Gauge("quayscan_model_info", "The model version that decides (value 1)", ["version"], registry=r)
        self.recovered = Counter("quayscan_recovered_cases", "Undecided cases decided after a restart", registry=r)
        self.outbox_pending = Gauge("quayscan_webhook_events_pending", "Decision events not yet delivered to every "
                                    "webhook URL", registry=r)
        self.outbox_failing = Gauge("quayscan_webhook_events_failing", "Undelivered events with a failed attempt",
                                    registry=r)
        self.shadow_scored = Counter("quayscan_shadow_scored", "Live scans scored by the shadow model", registry=r)
        self.shadow_skipped = Counter("quayscan_shadow_skipped", "Live scans the shadow model skipped because "
                                      "its backlog was full (deciding comes first)", registry=r)
        self.shadow_failed = Counter("quayscan_shadow_failures", "Shadow scorings that failed", registry=r)
        self._version: str | None = None

    def watch_drift(self, read: Callable[[], list[dict[str, Any]]]) -> None:
        """Export score drift, computed by ``read`` at each scrape (see :class:`DriftCollector`)."""
        self.registry.register(DriftCollector(read))

    def set_model(self, version: str) -> None:
        if self._version is not None:
            self.model.remove(self._version)
        self.model.labels(version=version).set(1)
        self._version = version

    def set_outbox(self, pending: int, failing: int) -> None:
        self.outbox_pending.set(pending)
        self.outbox_failing.set(failing)

    def record_decision(self, decision: str, reasons: list[str], score: float | None) -> None:
        self.decisions.labels(decision=decision).inc()
        for reason in reasons:
            self.reasons.labels(reason=reason).inc()
        if score is not None:
            self.scores.observe(score)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        t0 = time.perf_counter()
        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.in_flight.dec()
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(template, scope["method"], str(status["code"])).inc()
            self.metrics.latency.labels(template, scope["method"]).observe(time.perf_counter() - t0)

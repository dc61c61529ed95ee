"""Prometheus metrics of one service process, in its own registry (several apps can live in one test).

    metrics = Metrics()
    metrics.decisions.labels(decision="inspect").inc()
    body = metrics.render()          # text exposition format for GET /metrics

The HTTP middleware records every request by route template (``/v1/cases/{case_id}``, never the raw path,
so ids do not explode the label set).
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 1.0, 2.5, 5.0, 10.0)
SCORE_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 20)) + (0.99,)


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
        self._version: str | None = None

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

"""The FastAPI application of ``quayscan serve``.

    app = create_app(Settings(db_url="sqlite:///var/q.db", blobs_dir="var/blobs"))
    uvicorn.run(app, host="127.0.0.1", port=8000)

At start: migrate the database, load the model the registry says decides (the shipped default on a new
database), then decide any case a previous process stored but did not decide. While running: follow the
registry (promote and rollback from any replica take effect within ``model_poll_s``) and sweep cases left
undecided by a replica that died; deliver final decisions to the webhooks, if any (``serve/webhooks.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from fastapi import Depends, FastAPI

from quayscan.serve import errors
from quayscan.serve.api import admin, cases, health, models, oip, outbox, reviews, scans
from quayscan.serve.auth import require
from quayscan.serve.engine import Engine
from quayscan.serve.metrics import Metrics, MetricsMiddleware
from quayscan.serve.pipeline import Services, recover
from quayscan.serve.settings import Settings
from quayscan.serve.storage.blobs import LocalBlobStore
from quayscan.serve.storage.db import make_engine, make_session_factory
from quayscan.serve.storage.schema import migrate
from quayscan.serve.web import pages as web_pages
from quayscan.serve.web_sessions import WebSessions
from quayscan.serve.webhooks import Dispatcher

log = logging.getLogger(__name__)
SWEEP_EVERY_S = 30.0
#: threads for blocking work off the event loop (image decoding is gated to one per CPU separately)
IO_THREADS = 32


async def _every(seconds: float, what: str, fn) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await fn()
        except Exception:  # a failing round is logged and retried; the loop must not die
            log.exception("background %s failed", what)


def build_services(settings: Settings) -> Services:
    """Storage, model engine and metrics for ``settings`` (migrates the database; loads nothing yet)."""
    migrate(settings.db_url)
    db = make_session_factory(make_engine(settings.db_url))
    blobs = LocalBlobStore(settings.blobs_dir)
    metrics = Metrics()
    return Services(settings, db, blobs, Engine(settings, db, blobs, metrics), metrics)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    services = build_services(settings)
    # refuses non-http(s) URLs and a missing secret here, before anything serves
    webhooks = Dispatcher(settings.webhook_urls, settings.webhook_secret, services.db, metrics=services.metrics) \
        if settings.webhook_urls else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.gate = asyncio.Semaphore(services.engine.workers)
        # Storing a scan waits on fsync far more than it computes: with asyncio's default pool (CPUs + 4
        # threads) a burst of scans queues behind its own disk waits while the cores idle.
        io_pool = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="quayscan-io")
        asyncio.get_running_loop().set_default_executor(io_pool)
        await asyncio.to_thread(services.engine.start)
        recovered = await recover(services)
        if recovered:
            log.info("decided %d case(s) a previous process had stored but not decided", recovered)
        tasks = [
            asyncio.create_task(_every(settings.model_poll_s, "model sync",
                                       lambda: asyncio.to_thread(services.engine.sync))),
            asyncio.create_task(_every(SWEEP_EVERY_S, "recovery sweep",
                                       lambda: recover(services, settings.recovery_age_s))),
        ]
        if webhooks is not None:
            webhooks.start()
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            if webhooks is not None:
                await asyncio.to_thread(webhooks.stop)
            services.engine.close()

    # no open documentation routes: only health checks answer without credentials
    app = FastAPI(title="quayscan", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None, description="Triage of X-ray scans of shipping containers: release or inspect.")
    app.state.services = services
    app.state.db = services.db
    app.state.webhooks = webhooks
    app.state.web_sessions = WebSessions(services.db)
    errors.install(app)
    for module in (scans, cases, models, health, oip, reviews, outbox, admin, web_pages):
        app.include_router(module.router)

    @app.get("/v1/openapi.json", dependencies=[Depends(require("officer"))], include_in_schema=False)
    def openapi() -> dict:
        return app.openapi()

    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (each worker process of ``quayscan serve --workers N``)."""
    return create_app(Settings.from_env())

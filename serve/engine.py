"""The serving engine: the model that decides, run off the event loop, swapped without a failed request.

    engine = Engine(settings, session_factory, blobs, metrics)
    engine.start()                       # load the registry's current model (warm), start the pool
    outcome = await engine.triage(scan, declared, declared_empty=False)
    engine.sync()                        # a promote or rollback in the registry: load the new one, then swap
    engine.shadow_score(case_id, scan, declared)   # after the answer: the shadow model scores it, in background

A swap loads and warms the new onnxruntime session first and then replaces one reference; a request
holds the model it started with to the end, so nothing in flight fails. Any model failure or a run
longer than the timeout decides ``inspect`` with reason ``model_unavailable`` (fail closed).

The shadow model (if the registry names one) scores live scans on its own low-priority thread, after the
deciding model has answered; its answers go to ``shadow_scores`` and never touch the case. When its
backlog is full it skips scans (``quayscan_shadow_skipped_total``) rather than hold CPU or memory that
deciding needs, and a failure is logged and counted, never raised.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import sessionmaker

from quayscan.datasets.scan import Scan
from quayscan.model.policy import Decision, Thresholds, decide
from quayscan.model.quality import check_quality
from quayscan.model.preprocess import PreprocessConfig
from quayscan.model.runner import Prediction, Runner, usable_cpus
from quayscan.serve.metrics import Metrics
from quayscan.serve.registry import artifact_path, drift_report, ensure_current
from quayscan.serve.settings import Settings
from quayscan.serve.storage.blobs import LocalBlobStore
from quayscan.serve.storage.models import ModelVersion
from quayscan.serve.storage.registry import current_model, get_model, promote_model, record_shadow_score, shadow_model

log = logging.getLogger(__name__)
SHADOW_BACKLOG = 8  # scans waiting for the shadow model; more are skipped (deciding comes first)
SHADOW_NICE = 10  # the shadow thread's niceness: the OS runs deciding threads first


def _lower_priority() -> None:
    try:  # on Linux, niceness is per thread
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SHADOW_NICE)
    except (AttributeError, OSError):  # not Linux, or not allowed: the backlog bound still protects deciding
        pass


class ModelUnavailable(RuntimeError):
    """No model is loaded (the registry's model could not be loaded)."""


@dataclass
class LoadedModel:
    version: str
    runner: Runner
    artifact_sha256: str | None


@dataclass
class Outcome:
    """What the engine decided for one scan."""

    decision: Decision
    prediction: Prediction | None
    model_version: str | None
    thresholds: Thresholds | None
    inference_s: float
    preprocess: PreprocessConfig | None = None  # of the model that ran: maps its heatmap onto the scan


class Engine:
    def __init__(self, settings: Settings, factory: sessionmaker, blobs: LocalBlobStore, metrics: Metrics):
        self.settings = settings
        self.factory = factory
        self.blobs = blobs
        self.metrics = metrics
        cpus = usable_cpus()
        self.workers = settings.inference_threads or cpus
        # one scan per worker at a time, each on its share of the cores: more threads than cores only
        # makes onnxruntime's spinning threads fight each other
        self.ort_threads = max(1, cpus // self.workers)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="quayscan-infer")
        self._swap_lock = threading.Lock()
        self._current: LoadedModel | None = None
        self._previous: LoadedModel | None = None  # kept loaded: a rollback is instant
        self._shadow: LoadedModel | None = None
        self._shadow_pool = ThreadPoolExecutor(1, thread_name_prefix="quayscan-shadow", initializer=_lower_priority)
        self._shadow_pending = 0
        self._shadow_idle = threading.Condition()
        self.queued = 0
        metrics.watch_drift(self.drift)

    # -- models ----------------------------------------------------------------------------------
    @property
    def current(self) -> LoadedModel | None:
        return self._current

    @property
    def shadow(self) -> LoadedModel | None:
        return self._shadow

    def start(self) -> None:
        """Load the model the registry says decides (registering the default on a new database)."""
        ensure_current(self.factory, self.blobs, self.settings.model)
        self.sync()

    def _load(self, row: ModelVersion, threads: int | None = None) -> LoadedModel:
        threads = threads or self.ort_threads
        cache = [self._current, self._previous] + ([self._shadow] if threads == 1 else [])
        for cached in cache:
            if cached is not None and cached.version == row.version and cached.artifact_sha256 == row.artifact_sha256:
                return cached
        t0 = time.perf_counter()
        runner = Runner(artifact_path(self.blobs, row.artifact), threads=threads)
        if runner.version != row.version:
            raise ModelUnavailable(f"model file {row.artifact} declares version {runner.version!r}, "
                                   f"registered as {row.version!r}")
        cfg = runner.card.preprocess
        runner.run(np.zeros((1, 3, cfg.height, 64), np.float32))  # warm: the first real scan pays no set-up
        log.info("loaded model %s in %.0f ms", row.version, 1000 * (time.perf_counter() - t0))
        return LoadedModel(row.version, runner, row.artifact_sha256)

    def sync(self) -> bool:
        """Follow the registry: if another model is current now, load it and swap; load, change or drop the
        shadow model likewise. True if the deciding model was swapped."""
        with self._swap_lock:  # read and swap under one lock: a promote in between cannot be undone
            with self.factory() as session:
                row = current_model(session)
                shadow_row = shadow_model(session)
            self._sync_shadow(shadow_row)
            if row is None or (self._current is not None and self._current.version == row.version):
                return False
            loaded = self._load(row)  # before the swap: requests keep using the old model meanwhile
            self._previous, self._current = self._current, loaded
        self.metrics.set_model(loaded.version)
        log.info("model %s now decides (was %s)", loaded.version, self._previous.version if self._previous else None)
        return True

    def _sync_shadow(self, row: ModelVersion | None) -> None:
        if row is None:
            if self._shadow is not None:
                log.info("model %s no longer shadows", self._shadow.version)
            self._shadow = None
            return
        if self._shadow is not None and self._shadow.version == row.version:
            return
        try:  # one thread: the shadow must never take a core's worth of threads from deciding
            self._shadow = self._load(row, threads=1)
        except Exception:  # a shadow that cannot load is logged; the deciding model is unaffected
            log.exception("shadow model %s could not be loaded", row.version)
            self._shadow = None
            return
        log.info("model %s now shadows", row.version)

    def promote(self, version: str, *, by: str | None = None, reason: str | None = None, forced: bool = False,
                details: dict[str, Any] | None = None, action: str = "promote") -> ModelVersion:
        """Make ``version`` decide: load and warm it, then flip the registry, then swap (no failed request).

        A model that cannot be loaded is refused before the registry changes. The change is logged in the
        registry's audit trail (see :func:`promote_model`).
        """
        with self.factory() as session:
            row = get_model(session, version)
        with self._swap_lock:
            loaded = self._load(row)
            with self.factory() as session:
                row = promote_model(session, version, by=by, reason=reason, forced=forced, details=details,
                                    action=action)
            if self._shadow is not None and self._shadow.version == version:
                self._shadow = None  # it decides now
            if self._current is None or self._current.version != loaded.version:
                self._previous, self._current = self._current, loaded
        self.metrics.set_model(loaded.version)
        log.info("model %s promoted", version)
        return row

    # -- inference -------------------------------------------------------------------------------
    def _run(self, model: LoadedModel, scan: Scan) -> tuple[Prediction, float]:
        t0 = time.perf_counter()
        pred = model.runner.predict([scan])[0]
        return pred, time.perf_counter() - t0

    async def triage(self, scan: Scan, declared: list[dict[str, Any]], *, declared_empty: bool = False) -> Outcome:
        """Decide one scan with the current model; never raises for a model problem (fail closed)."""
        model = self._current
        quality = check_quality(scan)
        pred, seconds, failure = None, 0.0, None
        if model is None:
            failure = "no model loaded"
        else:
            self.queued += 1
            self.metrics.queue.set(self.queued)
            try:
                fut = asyncio.get_running_loop().run_in_executor(self._pool, self._run, model, scan)
                pred, seconds = await asyncio.wait_for(fut, self.settings.inference_timeout_s)
            except asyncio.TimeoutError:
                failure = f"inference took longer than {self.settings.inference_timeout_s} s"
            except Exception as exc:  # fail closed, whatever broke
                log.exception("model %s failed on a scan", model.version)
                failure = f"{type(exc).__name__}: {exc}"
            finally:
                self.queued -= 1
                self.metrics.queue.set(self.queued)
        if failure:
            log.warning("deciding inspect (model_unavailable): %s", failure)
        else:
            self.metrics.inference_seconds.observe(seconds)
        card = model.runner.card if model else None
        decision = decide(
            pred.anomaly_prob if pred else None, pred.commodity_probs if pred else None,
            card.class_names if card else [], declared, card.thresholds if card else Thresholds(),
            declared_empty=declared_empty, quality_problems=quality,
        )
        return Outcome(decision, pred, model.version if model else None, card.thresholds if card else None, seconds,
                       card.preprocess if card else None)

    # -- shadow and drift -------------------------------------------------------------------------
    def shadow_score(self, case_id: str, scan: Scan, declared: list[dict[str, Any]], *,
                     declared_empty: bool = False) -> bool:
        """Queue ``scan`` for the shadow model, if there is one and its backlog has room; never raises.

        Returns whether it was queued. Call it after the case is decided: the shadow never delays an answer.
        """
        model = self._shadow
        if model is None:
            return False
        with self._shadow_idle:
            if self._shadow_pending >= SHADOW_BACKLOG:
                self.metrics.shadow_skipped.inc()
                return False
            self._shadow_pending += 1
        try:
            self._shadow_pool.submit(self._score_shadow, model, case_id, scan, declared, declared_empty)
        except RuntimeError:  # shutting down
            self._shadow_done()
            return False
        return True

    def _score_shadow(self, model: LoadedModel, case_id: str, scan: Scan, declared: list[dict[str, Any]],
                      declared_empty: bool) -> None:
        try:
            pred = model.runner.predict([scan])[0]
            card = model.runner.card
            d = decide(pred.anomaly_prob, pred.commodity_probs, card.class_names, declared, card.thresholds,
                       declared_empty=declared_empty, quality_problems=check_quality(scan))
            with self.factory() as session:
                record_shadow_score(session, case_id, model.version, score=d.score, commodity=d.commodity,
                                    decision=d.decision, reasons=d.reasons)
            self.metrics.shadow_scored.inc()
        except Exception:
            log.exception("shadow model %s failed on case %s", model.version, case_id)
            self.metrics.shadow_failed.inc()
        finally:
            self._shadow_done()

    def _shadow_done(self) -> None:
        with self._shadow_idle:
            self._shadow_pending -= 1
            self._shadow_idle.notify_all()

    def wait_shadow(self, timeout: float = 30.0) -> bool:
        """Wait until every queued shadow scoring is stored; False on timeout."""
        with self._shadow_idle:
            return self._shadow_idle.wait_for(lambda: self._shadow_pending == 0, timeout)

    def drift(self) -> list[dict[str, Any]]:
        """Score drift of the deciding and shadow models (see :func:`drift_report`)."""
        with self.factory() as session:
            return drift_report(session)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._shadow_pool.shutdown(wait=False, cancel_futures=True)

"""The scanner path: validate, store (committed), infer, decide, answer; and deciding stored cases later.

The order is what makes "nothing acknowledged is lost" hold: the image bytes are synced (while they are
decoded) before the case row is committed, the row is committed (while the model runs) before the decision,
and the answer goes out only after the decision is committed. A process that dies in between leaves at
worst a ``received`` case, which :func:`decide_stored` decides on restart (or the periodic sweep of another
replica does), or bytes without a case, which nobody was told about. The first decision committed wins, so every path that decides
a case answers the same.
"""

from __future__ import annotations

import asyncio
import io
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.orm import sessionmaker

from quayscan.datasets.readers import read_scan_bytes
from quayscan.datasets.scan import Scan
from quayscan.model.policy import MODEL_UNAVAILABLE, Decision
from quayscan.serve.auth import Principal
from quayscan.serve.engine import Engine, Outcome
from quayscan.serve.intake import (
    BadRequest, Form, ScanMeta, decode_scan, file_extension, fingerprint, parse_meta, parse_multipart,
)
from quayscan.serve.metrics import Metrics
from quayscan.serve.settings import Settings
from quayscan.serve.storage.blobs import LocalBlobStore, heatmap_key, scan_key
from quayscan.serve.storage.cases import create_case, decide_case, find_case_by_idempotency_key, undecided_cases
from quayscan.serve.storage.db import new_id, utcnow
from quayscan.serve.storage.errors import IdempotencyKeyReusedError
from quayscan.serve.storage.models import Case, CaseStatus

log = logging.getLogger(__name__)
FIELDS = ("high", "low", "meta")
MAX_IDEMPOTENCY_KEY = 200
#: the reason of a would-be release sent to review at random (``Settings.audit_share``)
AUDIT_SAMPLE = "audit_sample"


@dataclass
class Services:
    """What the request handlers share (``app.state.services``)."""

    settings: Settings
    db: sessionmaker
    blobs: LocalBlobStore
    engine: Engine
    metrics: Metrics
    gate: asyncio.Semaphore | None = None  # made in the serving event loop (app lifespan)
    audit_rng: random.Random = field(default_factory=random.Random)  # tests seed it


def case_json(case: Case) -> dict[str, Any]:
    """A case as the API shows it."""
    base = f"/v1/cases/{case.id}"
    return {
        "case_id": case.id,
        "status": case.status,
        "decision": case.decision,
        "reasons": list(case.reasons or []),
        "score": case.score,
        "threshold": case.threshold,
        "commodity": case.commodity or {"declared": None, "predicted": None, "confidence": None, "match": None},
        "model_version": case.model_version,
        "latency_ms": case.latency_ms,
        "heatmap": f"{base}/heatmap.png" if case.heatmap_blob_key else None,
        "images": {"high": f"{base}/images/high", "low": f"{base}/images/low" if case.low_blob_key else None},
        "container_id": case.container_id,
        "scanner_id": case.scanner_id,
        "scanned_at": case.scanned_at.isoformat() if case.scanned_at else None,
        "declared": case.declared,
        "declared_empty": case.declared_empty,
        "declared_commodity": case.declared_commodity,
        "width_px": case.width_px,
        "height_px": case.height_px,
        "pixel_pitch_mm": [case.pitch_x_mm, case.pitch_y_mm],
        "created_at": case.created_at.isoformat() if case.created_at else None,
        "decided_at": case.decided_at.isoformat() if case.decided_at else None,
        "reviewed_by": case.reviewed_by,
        "reviewed_at": case.reviewed_at.isoformat() if case.reviewed_at else None,
        "outcome": case.outcome,
        "outcome_category": case.outcome_category,
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "claimed_by": case.claimed_by,
        "claimed_at": case.claimed_at.isoformat() if case.claimed_at else None,
    }


def _heatmap_npz(outcome: Outcome) -> bytes:
    pred, cfg = outcome.prediction, outcome.preprocess
    assert pred is not None and cfg is not None
    buf = io.BytesIO()
    np.savez(buf, heatmap=pred.heatmap.astype(np.float16), input_width=np.int32(pred.input_width),
             height=np.int32(cfg.height), pitch_mm=np.float32(cfg.pitch_mm))
    return buf.getvalue()


@dataclass
class Staged:
    """A scan's image bytes on their way to the blob store, under keys that contain the case id to be."""

    case_id: str
    created_at: datetime
    keys: dict[str, str]  # energy -> blob key
    writes: list[asyncio.Future]
    blobs: LocalBlobStore

    async def written(self) -> None:
        """Wait until every write is done; if one failed, remove what the others wrote and re-raise."""
        results = await asyncio.gather(*self.writes, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            await self.discard()
            raise failed[0]

    async def discard(self) -> None:
        """Remove the bytes (bad input, a lost race): nothing half-written stays behind."""
        await asyncio.gather(*self.writes, return_exceptions=True)
        for key in self.keys.values():
            await asyncio.to_thread(self.blobs.delete, key)


def stage(svc: Services, form: Form) -> Staged:
    """Start writing the image files (each synced on its own thread) while the caller decodes them."""
    case_id, now = new_id(), utcnow()
    keys = {energy: scan_key(case_id, energy, now, file_extension(form.parts[energy]))
            for energy in ("high", "low") if form.get(energy)}
    writes = [asyncio.ensure_future(asyncio.to_thread(svc.blobs.put, key, form.parts[energy]))
              for energy, key in keys.items()]
    return Staged(case_id, now, keys, writes, svc.blobs)


def _create(svc: Services, staged: Staged, meta: ScanMeta, scan: Scan, key: str | None,
            digest: str | None) -> tuple[Case, bool]:
    """Commit the case row (its image bytes are already durable)."""
    with svc.db() as session:
        return create_case(
            session, case_id=staged.case_id, now=staged.created_at, scanner_id=meta.scanner_id,
            container_id=meta.container_id, high_blob_key=staged.keys["high"], low_blob_key=staged.keys.get("low"),
            pitch_mm=scan.pitch_mm, declared=meta.declared, declared_empty=meta.declared_empty,
            declared_commodity=meta.declared_commodity, scanned_at=meta.scanned_at, air_value=meta.air_value,
            meta=meta.raw, width_px=scan.shape[1], height_px=scan.shape[0],
            source_format=scan.meta["file"]["high"].get("format"), idempotency_key=key, request_sha256=digest,
        )


async def _store(svc: Services, staged: Staged, meta: ScanMeta, scan: Scan, key: str | None,
                 digest: str | None) -> tuple[Case, bool]:
    """The bytes synced, then the case committed; on any failure nothing stays behind."""
    await staged.written()
    try:
        case, created = await asyncio.to_thread(_create, svc, staged, meta, scan, key, digest)
    except BaseException:
        await staged.discard()
        raise
    if not created:  # a concurrent retry won the race: its case stands, these bytes go
        await staged.discard()
    return case, created


def audit_sample(decision: Decision, share: float, rng: random.Random) -> Decision:
    """Send a would-be release to review with probability ``share``, independently for each scan.

    Officers only see flagged containers; reviewing a random share of releases too is what lets the
    model's misses be counted (see ``api.reviews.audit_figures``). It only ever turns a release into an
    inspect, so it cannot weaken fail-closed. The score stays with the case, so the release it replaced
    is visible.
    """
    if decision.decision != "release" or share <= 0.0 or rng.random() >= share:
        return decision
    return Decision("inspect", [AUDIT_SAMPLE], decision.score, decision.commodity)


def _decide(svc: Services, case: Case, outcome: Outcome, t0: float) -> Case:
    hkey = None
    if outcome.prediction is not None:
        try:
            hkey = heatmap_key(case.id, case.created_at, "npz")
            svc.blobs.put(hkey, _heatmap_npz(outcome), durable=False)
        except OSError:
            log.exception("could not store the heatmap of case %s", case.id)
            hkey = None
    d = audit_sample(outcome.decision, svc.settings.audit_share, svc.audit_rng)
    with svc.db() as session:
        decided = decide_case(
            session, case.id, decision=d.decision, reasons=d.reasons, score=d.score,
            threshold=outcome.thresholds.inspect if outcome.thresholds else None, commodity=d.commodity,
            model_version=outcome.model_version, heatmap_blob_key=hkey, latency_ms=1000 * (time.perf_counter() - t0),
        )
    if decided.decided_at is not None and decided.model_version == outcome.model_version:
        svc.metrics.record_decision(decided.decision, decided.reasons, decided.score)
    return decided


def _find_by_key(svc: Services, key: str) -> Case | None:
    with svc.db() as session:
        return find_case_by_idempotency_key(session, key)


def _read_stored(svc: Services, case: Case) -> Scan:
    high = svc.blobs.get(case.high_blob_key)
    low = svc.blobs.get(case.low_blob_key) if case.low_blob_key else None
    return read_scan_bytes(high, low, pitch_mm=(case.pitch_x_mm, case.pitch_y_mm), air_value=case.air_value,
                           parallel=True)


async def post_scan(svc: Services, principal: Principal, body: bytes, content_type: str | None,
                    idempotency_key: str | None) -> tuple[Case, bool]:
    """Handle ``POST /v1/scans``; returns the decided case and whether this request created it.

    Raises:
        BadRequest, ScanError: bad input (nothing stored).
        IdempotencyKeyReusedError: the key came before with a different scan.
    """
    t0 = time.perf_counter()
    form = parse_multipart(body, content_type)
    unknown = sorted(set(form.parts) - set(FIELDS))
    if unknown:
        raise BadRequest("unknown_field", f"unknown field(s) {unknown}; send high, optional low, and meta")
    meta_text = form.text("meta")
    meta = parse_meta(meta_text)
    key = digest = None
    if idempotency_key is not None:
        if not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
            raise BadRequest("bad_idempotency_key", f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} characters")
        key = f"{principal.id}:{idempotency_key}"  # scoped per API key: scanners cannot collide
        digest = fingerprint(form, meta_text or "")
        existing = await asyncio.to_thread(_find_by_key, svc, key)
        if existing is not None:
            if existing.request_sha256 and existing.request_sha256 != digest:
                raise IdempotencyKeyReusedError(
                    f"Idempotency-Key {idempotency_key!r} was already used for a different scan (case {existing.id})")
            if existing.status != CaseStatus.RECEIVED:
                return existing, False
    # The files are written and synced while they are decoded, and the case is committed while the model
    # runs; the answer waits for all of it, so a scan is on disk before anyone hears about it, and the
    # cores are not idle during the fsyncs. Bytes that fail to decode are removed again.
    staged = stage(svc, form)
    try:
        async with svc.gate:  # at most one decode per CPU: more would only queue inside the OS, holding memory
            scan = await asyncio.to_thread(decode_scan, form, meta)
    except BaseException:
        await staged.discard()
        raise
    store = asyncio.ensure_future(_store(svc, staged, meta, scan, key, digest))
    infer = asyncio.ensure_future(svc.engine.triage(scan, meta.declared, declared_empty=meta.declared_empty))
    try:
        case, created = await store
    except BaseException:
        infer.cancel()
        raise
    if case.status != CaseStatus.RECEIVED:  # a concurrent retry's case, already decided
        infer.cancel()
        return case, created
    outcome = await infer
    decided = await asyncio.to_thread(_decide, svc, case, outcome, t0)
    # the shadow model (if any) scores it on its own thread, after the decision is committed
    svc.engine.shadow_score(case.id, scan, meta.declared, declared_empty=meta.declared_empty)
    return decided, created


async def decide_stored(svc: Services, case: Case) -> Case:
    """Decide a case that was stored but never decided (its process died), from its stored bytes."""
    t0 = time.perf_counter()
    try:
        scan = await asyncio.to_thread(_read_stored, svc, case)
    except Exception:  # the bytes were checked before they were stored; if they fail now, fail closed
        log.exception("stored scan of case %s cannot be read; deciding inspect", case.id)
        scan = None
    if scan is None:
        outcome = Outcome(Decision("inspect", [MODEL_UNAVAILABLE], None, {}), None, None, None, 0.0)
    else:
        outcome = await svc.engine.triage(scan, case.declared, declared_empty=case.declared_empty)
    decided = await asyncio.to_thread(_decide, svc, case, outcome, t0)
    svc.metrics.recovered.inc()
    log.info("decided case %s left undecided by a previous process: %s", case.id, decided.decision)
    return decided


def _undecided(svc: Services, cutoff: datetime) -> list[Case]:
    with svc.db() as session:
        return undecided_cases(session, older_than=cutoff, limit=50)


async def recover(svc: Services, older_than_s: float | None = None) -> int:
    """Decide every undecided case (created before now - ``older_than_s``); returns how many."""
    count = 0
    while True:
        cutoff = utcnow() - timedelta(seconds=older_than_s or 0.0)
        batch = await asyncio.to_thread(_undecided, svc, cutoff)
        for case in batch:
            await decide_stored(svc, case)
            count += 1
        if len(batch) < 50:
            return count

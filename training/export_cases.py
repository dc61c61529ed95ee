"""Reviewed cases of the service as a dataset folder: what officers and inspections established becomes labels.

    quayscan dataset export --db sqlite:///var/quayscan.db --blobs var/blobs --out data/port-2026-11
    quayscan dataset export --db postgresql+psycopg://q@db/quayscan --blobs /data/blobs --out data/port \\
        --since 2026-11-01 --until 2026-11-30
    quayscan train --init runs/base/best.pt --data data/synth --data data/port-2026-11 --out runs/ft

The folder has the generator's format (``datasets/folder.py``), so ``quayscan train`` and ``quayscan evaluate``
read it unchanged. A case's label comes from its latest state:

============================  ===========  ==========================================================
case state                    label        truth
============================  ===========  ==========================================================
officer cleared it            release      declared commodity, confirmed
inspection found nothing      release      declared commodity, confirmed
inspection found something    inspect      anomaly of the finding's category, the officer's last box
ordered opened, no outcome    (excluded)   not known yet
never reviewed                (excluded)   the model's own decision is not a label
============================  ===========  ==========================================================

Officers only review flagged cases, plus the random audit sample of would-be releases (reason
``audit_sample``); an audited case an officer reviewed is labelled like any other and marked as such, so a
training or evaluation run can tell the unbiased sample of releases apart. Every record carries its
``provenance``: who decided, with which action, when, the review ids, and the model that decided the case.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from collections import Counter
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import make_url
from tqdm import tqdm

from quayscan.datasets.folder import RECIPE, write_images, write_labels
from quayscan.datasets.readers import read_scan_bytes
from quayscan.serve.pipeline import AUDIT_SAMPLE
from quayscan.serve.storage.blobs import LocalBlobStore
from quayscan.serve.storage.db import describe_url, make_engine, make_session_factory, utcnow
from quayscan.serve.storage.errors import NotFoundError
from quayscan.serve.storage.models import Case, CaseStatus, Review

log = logging.getLogger(__name__)
EXPORT_VERSION = "1"
BATCH = 200
#: label source -> (label, the review action that decided it)
SOURCES = {
    "officer_clear": ("release", "clear"),
    "inspection_no_finding": ("release", "no_finding"),
    "inspection_finding": ("inspect", "finding"),
}


def parse_when(value: str | None, name: str, *, end_of_day: bool = False) -> datetime | None:
    """An ISO date or time as an aware UTC datetime; a time without zone is UTC.

    A date alone means the start of that day, or with ``end_of_day`` the start of the next one (so
    ``--until 2026-11-30`` includes the 30th).
    """
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time(), timezone.utc)
            return day + timedelta(days=1) if end_of_day else day
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} must be a date (2026-11-22) or an ISO time (2026-11-22T08:00:00Z), "
                         f"got {value!r}") from None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def _box(box: list[float] | None, width: int, height: int) -> tuple[list[int], bool]:
    """The officer's box in whole scan pixels, or the whole scan when none was drawn (and False)."""
    if not box:
        return [0, 0, width, height], False
    x0, y0, x1, y1 = box
    return [max(0, math.floor(x0)), max(0, math.floor(y0)), min(width, math.ceil(x1)), min(height, math.ceil(y1))], True


def _last(reviews: list[Review], action: str) -> Review | None:
    return next((r for r in reversed(reviews) if r.action == action), None)


def label_source(case: Case) -> tuple[str | None, str]:
    """Which label source a case's latest state gives, or None and why it is left out."""
    if case.status == CaseStatus.CLEARED:
        return "officer_clear", ""
    if case.status == CaseStatus.CLOSED:
        return ("inspection_finding" if case.outcome == "finding" else "inspection_no_finding"), ""
    if case.status == CaseStatus.INSPECTION:
        return None, "awaiting_inspection"
    return None, "not_reviewed"


def case_record(case: Case, reviews: list[Review], source: str, width: int, height: int) -> dict[str, Any]:
    """The label record of a reviewed case (images under ``scans/<case id>_{high,low}.png``)."""
    label, action = SOURCES[source]
    decided = _last(reviews, action)
    if decided is None:
        raise ValueError(f"case {case.id} is {case.status} but has no {action!r} review entry")
    anomalies = []
    if label == "inspect":
        boxed = next((r.box for r in reversed(reviews) if r.box), None)
        bbox, drawn = _box(boxed, width, height)
        anomalies.append({"type": case.outcome_category or decided.category, "bbox": bbox, "bbox_drawn": drawn})
    first = case.declared[0] if case.declared else {}
    ordered = _last(reviews, "inspect")
    return {
        "id": case.id,
        "files": {"high": f"scans/{case.id}_high.png", "low": None},  # low filled in when the scan has one
        "container": (case.meta or {}).get("container"),
        "container_id": case.container_id,
        "container_ids": [case.container_id],
        "pixel_pitch_mm": [case.pitch_x_mm, case.pitch_y_mm],
        "air_value": None,  # filled in from the decoded scan
        "declared": {"hs_code": first.get("hs_code"), "commodity": case.declared_commodity,
                     "description": first.get("description", "")},
        "declared_items": list(case.declared or []),
        # The declaration is confirmed when the container was let go; after a finding it is not known.
        "truth": {"commodity": case.declared_commodity, "commodity_confirmed": label == "release",
                  "anomalies": anomalies},
        "label": label,
        "profile": case.scanner_id,
        "scanner_id": case.scanner_id,
        "scanned_at": case.scanned_at.isoformat() if case.scanned_at else None,
        "provenance": {
            "source": source,
            "action": action,
            "decided_by": decided.user_name,
            "decided_at": decided.created_at.isoformat(),
            "inspection_ordered_by": ordered.user_name if ordered else None,
            "review_ids": [r.id for r in reviews],
            "audit_sample": AUDIT_SAMPLE in (case.reasons or []),
            "case_id": case.id,
            "case_created_at": case.created_at.isoformat(),
            "model_version": case.model_version,
            "model_decision": case.decision,
            "model_reasons": list(case.reasons or []),
            "score": case.score,
            "threshold": case.threshold,
        },
    }


def _open(db_url: str, blobs_dir: str | Path) -> tuple[Any, LocalBlobStore]:
    url = make_url(db_url)
    sqlite_file = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if sqlite_file and not Path(url.database).is_file():  # make_engine would create an empty one
        raise FileNotFoundError(f"database file not found: {url.database}")
    if not Path(blobs_dir).is_dir():
        raise FileNotFoundError(f"blob folder not found: {blobs_dir}")
    engine = make_engine(db_url)
    if not inspect(engine).has_table(Case.__tablename__):
        engine.dispose()
        raise ValueError(f"{describe_url(db_url)} is not a quayscan database (no {Case.__tablename__} table)")
    return engine, LocalBlobStore(blobs_dir)


def _finish(tmp: Path, out: Path, overwrite: bool) -> None:
    """Move the complete folder into place; an old export is replaced only once the new one is whole."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old)


def export_cases(
    db_url: str,
    blobs_dir: str | Path,
    out: str | Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Write the reviewed cases created in ``[since, until)`` to the dataset folder ``out``.

    The folder is built beside ``out`` and renamed into place at the end, so ``out`` is either absent,
    the previous export, or complete.

    Returns:
        The recipe written to ``dataset.json`` (counts per label, label source and reason left out).

    Raises:
        FileNotFoundError: no such database file or blob folder.
        FileExistsError: ``out`` exists and ``overwrite`` is False.
        ValueError: the URL is not a quayscan database, or since is not before until.
    """
    out = Path(out)
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists; pass --overwrite to replace it")
    if since and until and since >= until:
        raise ValueError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    engine, blobs = _open(db_url, blobs_dir)
    factory = make_session_factory(engine)
    window = [c for c in (Case.created_at >= since if since else None,
                          Case.created_at < until if until else None) if c is not None]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    excluded: Counter[str] = Counter()
    records: list[dict[str, Any]] = []
    try:
        (tmp / "scans").mkdir()
        with factory() as session:
            for status, n in session.execute(select(Case.status, func.count()).where(*window).group_by(Case.status)):
                if status in (CaseStatus.RECEIVED, CaseStatus.DECIDED):
                    excluded["not_reviewed"] += n
                elif status == CaseStatus.INSPECTION:
                    excluded["awaiting_inspection"] += n
            reviewed = [CaseStatus.CLEARED, CaseStatus.CLOSED]
            query = select(Case).where(*window, Case.status.in_(reviewed)).order_by(Case.created_at, Case.id)
            total = session.scalar(select(func.count()).select_from(Case).where(*window, Case.status.in_(reviewed)))
            bar = tqdm(total=total, desc=f"export {out.name}", unit="case", disable=not progress)
            for batch in session.scalars(query).partitions(BATCH):
                entries: dict[str, list[Review]] = {c.id: [] for c in batch}
                for r in session.scalars(select(Review).where(Review.case_id.in_(list(entries))).order_by(Review.id)):
                    entries[r.case_id].append(r)
                for case in batch:
                    record = _export_one(case, entries[case.id], blobs, tmp, excluded)
                    if record is not None:
                        records.append(record)
                    bar.update()
            bar.close()
        recipe = _recipe(db_url, blobs_dir, since, until, records, excluded)
        (tmp / RECIPE).write_text(json.dumps(recipe, indent=2, sort_keys=True) + "\n")
        write_labels(tmp, records)  # last: a folder with labels.jsonl is complete
        _finish(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        engine.dispose()
    return recipe


def _export_one(case: Case, reviews: list[Review], blobs: LocalBlobStore, out: Path,
                excluded: Counter[str]) -> dict[str, Any] | None:
    source, why = label_source(case)
    if source is None:
        excluded[why] += 1
        return None
    if case.declared_commodity is None:  # outside the library, mixed or missing: no class to learn
        excluded["commodity_not_in_library"] += 1
        return None
    try:
        high = blobs.get(case.high_blob_key)
        low = blobs.get(case.low_blob_key) if case.low_blob_key else None
        scan = read_scan_bytes(high, low, pitch_mm=(case.pitch_x_mm, case.pitch_y_mm), air_value=case.air_value)
    except (OSError, ValueError, NotFoundError) as exc:  # one lost or damaged blob must not stop the export
        log.warning("case %s left out: its stored scan cannot be read (%s)", case.id, exc)
        excluded["unreadable_scan"] += 1
        return None
    record = case_record(case, reviews, source, scan.shape[1], scan.shape[0])
    record["air_value"] = scan.air_value
    if scan.low is not None:
        record["files"]["low"] = f"scans/{case.id}_low.png"
    write_images(out, record, [scan.high] + ([scan.low] if scan.low is not None else []))
    return record


def _recipe(db_url: str, blobs_dir: str | Path, since: datetime | None, until: datetime | None,
            records: list[dict[str, Any]], excluded: Counter[str]) -> dict[str, Any]:
    return {
        "source": "review_export",
        "export_version": EXPORT_VERSION,
        "exported_at": utcnow().isoformat(),
        "db": describe_url(db_url),
        "blobs": str(Path(blobs_dir).resolve()),
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "count": len(records),
        "labels": dict(sorted(Counter(r["label"] for r in records).items())),
        "label_sources": dict(sorted(Counter(r["provenance"]["source"] for r in records).items())),
        "audit_samples": sum(r["provenance"]["audit_sample"] for r in records),
        "excluded": dict(sorted(excluded.items())),
    }


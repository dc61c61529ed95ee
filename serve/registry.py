"""Model files for the registry: an uploaded or packaged ONNX file checked, stored as a blob, registered.

    row = register_file(Session, blobs, "runs/exp1/model.onnx", by="alice")
    promote_model(session, row.version)         # storage.registry: the engines pick it up

The ONNX file is read with onnxruntime before anything is stored, so a file without quayscan's
metadata (or not an ONNX model at all) is refused with a message, never registered.

Score drift (:func:`drift_report`): the last live scores of the deciding and the shadow model against
the validation score histogram in each one's card (``evaluation.validation.score_histogram``, else
``evaluation.score_histogram``), as PSI. A card without one has no reference: its PSI is None, never a
made-up baseline.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from quayscan.model.card import ModelCard, ModelCardError, read_card
from quayscan.model.runner import DEFAULT_MODEL
from quayscan.serve.metrics import PSI_BINS, psi, score_histogram
from quayscan.serve.storage.blobs import LocalBlobStore
from quayscan.serve.storage.errors import ConflictError, NotFoundError
from quayscan.serve.storage.models import ModelVersion
from quayscan.serve.storage.registry import (
    current_model,
    get_model,
    list_models,
    promote_model,
    recent_scores,
    register_model,
    shadow_model,
)

DRIFT_WINDOW = 500  # live scores the PSI looks at


def artifact_path(blobs: LocalBlobStore, artifact: str) -> Path:
    """The file of a registered model (a blob key, or an absolute path registered by hand)."""
    return Path(artifact) if os.path.isabs(artifact) else blobs.path(artifact)


def card_of_bytes(data: bytes) -> ModelCard:
    """The card of an ONNX file given as bytes; raises ModelCardError for anything else."""
    with tempfile.NamedTemporaryFile(suffix=".onnx") as tmp:
        tmp.write(data)
        tmp.flush()
        return read_card(tmp.name)


def register_bytes(session: Session, blobs: LocalBlobStore, data: bytes, *, by: str | None) -> ModelVersion:
    """Check, store and register an ONNX model; its version comes from its own metadata.

    Raises:
        ModelCardError: not an ONNX model with quayscan metadata.
        ConflictError: the version is already registered (with a different file).
    """
    if not data:
        raise ModelCardError("the model file is empty")
    card = card_of_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    existing = _same_file(session, card.model_version, digest)
    if existing is not None:
        return existing
    key = f"models/{card.model_version}-{digest[:12]}.onnx"
    blobs.put(key, data)
    try:
        return register_model(session, card.model_version, key, card=card.to_dict(), artifact_sha256=digest,
                              registered_by=by)
    except ConflictError:
        # another process registered it in between (workers starting together on a new database)
        existing = _same_file(session, card.model_version, digest)
        if existing is None:
            raise
        return existing


def _same_file(session: Session, version: str, digest: str) -> ModelVersion | None:
    """The registered version if it is this very file; None if unknown; ConflictError if another file."""
    try:
        existing = get_model(session, version)
    except NotFoundError:
        return None
    if existing.artifact_sha256 != digest:
        raise ConflictError(f"model version {version!r} is already registered with a different file; "
                            "export the new model under a new version")
    return existing


def register_file(session: Session, blobs: LocalBlobStore, path: str | Path, *, by: str | None) -> ModelVersion:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    return register_bytes(session, blobs, path.read_bytes(), by=by)


def ensure_current(factory: sessionmaker, blobs: LocalBlobStore, model: str | None) -> ModelVersion:
    """Make sure a model decides: ``model`` (registered and promoted if not already current), else the
    registry's current model, else the shipped default (registered and promoted on a new database)."""
    with factory() as session:
        current = current_model(session)
        if model is None and current is not None:
            return current
        try:
            row = register_file(session, blobs, model or DEFAULT_MODEL, by="quayscan serve")
        except ModelCardError as exc:
            raise ValueError(str(exc)) from None
        if model is None:
            current = current_model(session)  # another worker starting beside this one may have done it
            if current is not None:
                return current
        if current is None or current.version != row.version:
            # nothing to gate against on a new database; --model is the operator's explicit choice
            forced, reason = (False, "first model of a new database") if current is None else \
                (True, f"quayscan serve --model {model}: made current at start, without a gate")
            row = promote_model(session, row.version, by="quayscan serve", reason=reason, forced=forced)
        return row


def previous_model(session: Session) -> ModelVersion | None:
    """The version promoted before the current one (what a rollback returns to), if any."""
    promoted = [m for m in list_models(session) if m.promoted_at is not None and not m.is_current]
    return max(promoted, key=lambda m: m.promoted_at, default=None)


def reference_histogram(card: dict[str, Any]) -> list[float] | None:
    """The validation score histogram (10 bins on [0, 1]) a card carries, or None."""
    evaluation = card.get("evaluation") or {}
    for where in (evaluation.get("validation") or {}, evaluation):
        hist = where.get("score_histogram") if isinstance(where, dict) else None
        if isinstance(hist, dict):
            hist = hist.get("counts")
        if isinstance(hist, list) and len(hist) == PSI_BINS and sum(hist) > 0:
            return [float(x) for x in hist]
    return None


def drift_report(session: Session, window: int = DRIFT_WINDOW) -> list[dict[str, Any]]:
    """Score drift of the deciding and the shadow model: PSI of their last ``window`` live scores against
    their card's validation histogram, with both histograms (None where there is no reference or no score)."""
    out = []
    for role, row in (("current", current_model(session)), ("shadow", shadow_model(session))):
        if row is None:
            continue
        deciding, shadow = recent_scores(session, row.version, window)
        live = deciding if role == "current" else shadow
        reference = reference_histogram(row.card or {})
        hist = score_histogram(live) if live else None
        out.append({
            "version": row.version, "role": role, "n_scores": len(live), "window": window,
            "psi": psi(reference, hist) if reference is not None and hist is not None else None,
            "reference": reference, "live": hist,
            "note": None if reference is not None else "no reference: the model card has no validation score_histogram",
        })
    return out


__all__ = ["DRIFT_WINDOW", "ModelCardError", "artifact_path", "card_of_bytes", "drift_report", "ensure_current",
           "previous_model", "reference_histogram", "register_bytes", "register_file"]

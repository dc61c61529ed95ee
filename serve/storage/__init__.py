"""Storage of the triage service: database (SQLAlchemy + Alembic), blob store, credentials.

Torch-free. Nothing connects at import time: build an engine from a URL, migrate, then make sessions::

    from quayscan.serve import storage
    storage.migrate("sqlite:///var/quayscan.db")          # create or upgrade the schema
    engine = storage.make_engine("sqlite:///var/quayscan.db")
    Session = storage.make_session_factory(engine)
    blobs = storage.LocalBlobStore("var/blobs")

Modules: ``db`` (engines, sessions, UTC timestamps, ids), ``models`` (tables), ``schema`` (Alembic migrations),
``cases`` (store, decide, list), ``reviews`` (audit trail, claims), ``outbox`` (webhook events),
``credentials`` and ``security`` (users, API keys, hashing), ``registry`` (model versions), ``blobs``.
"""

from quayscan.serve.storage.blobs import BlobStore, LocalBlobStore, heatmap_key, scan_key
from quayscan.serve.storage.cases import (
    CaseFilters,
    CasePage,
    create_case,
    decide_case,
    find_case_by_idempotency_key,
    get_case,
    list_cases,
    review_queue,
    undecided_cases,
)
from quayscan.serve.storage.credentials import (
    ROLES,
    USER_ROLES,
    authenticate_api_key,
    authenticate_user,
    create_api_key,
    create_user,
    get_user,
    list_api_keys,
    list_users,
    revoke_api_key,
    set_password,
    set_user_disabled,
)
from quayscan.serve.storage.db import DEFAULT_DB_URL, begin_write, make_engine, make_session_factory, new_id, utcnow
from quayscan.serve.storage.errors import (
    BlobKeyError,
    ConflictError,
    IdempotencyKeyReusedError,
    InvalidValueError,
    NotFoundError,
    ReviewConflictError,
    StorageError,
)
from quayscan.serve.storage.models import ApiKey, Base, Case, CaseStatus, ModelVersion, OutboxEvent, Review, User
from quayscan.serve.storage.outbox import (
    backoff_delay,
    due_events,
    enqueue_event,
    list_events,
    mark_delivered,
    mark_failed,
    outbox_summary,
    redeliver,
)
from quayscan.serve.storage.registry import (
    current_model,
    get_model,
    list_models,
    promote_model,
    register_model,
    set_shadow_model,
    shadow_model,
)
from quayscan.serve.storage.reviews import append_review, audit_log, claim_case, release_claim, reviews_for_case
from quayscan.serve.storage.schema import current_revision, head_revision, migrate, schema_differences

__all__ = [
    "DEFAULT_DB_URL", "ROLES", "USER_ROLES", "ApiKey", "append_review", "audit_log", "authenticate_api_key",
    "authenticate_user", "backoff_delay", "Base", "begin_write", "BlobKeyError", "BlobStore", "Case",
    "CaseFilters", "CasePage", "CaseStatus", "claim_case", "ConflictError", "create_api_key", "create_case",
    "create_user", "current_model", "current_revision", "decide_case", "due_events", "enqueue_event",
    "find_case_by_idempotency_key", "get_case", "get_model", "get_user", "head_revision", "heatmap_key",
    "IdempotencyKeyReusedError", "InvalidValueError", "list_api_keys", "list_cases", "list_events",
    "list_models", "list_users", "LocalBlobStore", "make_engine", "make_session_factory", "mark_delivered",
    "mark_failed", "migrate", "ModelVersion", "new_id", "NotFoundError", "outbox_summary", "OutboxEvent",
    "promote_model", "redeliver", "register_model", "release_claim", "Review", "review_queue",
    "ReviewConflictError", "reviews_for_case", "revoke_api_key", "scan_key", "schema_differences",
    "set_password", "set_shadow_model", "set_user_disabled", "shadow_model", "StorageError",
    "undecided_cases", "User", "utcnow",
]

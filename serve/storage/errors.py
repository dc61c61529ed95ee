"""Specific exceptions of the storage layer.

Each carries a short machine-readable ``code`` and a message naming the offending value, so that the HTTP
API can map it to an exact 4xx answer and the command line can print it on one line. Errors caused by bad
input subclass :class:`ValueError` (the CLI reports those without a traceback).
"""


class StorageError(Exception):
    """Base class for everything the storage layer raises on purpose."""

    code = "storage_error"


class NotFoundError(StorageError, LookupError):
    """A case, user, key, model or blob that does not exist."""

    code = "not_found"


class ConflictError(StorageError, ValueError):
    """The request contradicts what is stored (a duplicate name, a stale review, a reused key)."""

    code = "conflict"


class IdempotencyKeyReusedError(ConflictError):
    """The same idempotency key came with a different request body."""

    code = "idempotency_key_reused"


class ReviewConflictError(ConflictError):
    """The case changed since the officer opened it: someone else decided or claimed it.

    Attributes:
        status: the case's current status.
        by: who decided it or holds it, if known.
    """

    code = "review_conflict"

    def __init__(self, message: str, *, status: str, by: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.by = by


class InvalidValueError(StorageError, ValueError):
    """A field value the storage layer refuses (unknown role, weak password, malformed box, ...)."""

    code = "invalid_value"


class BlobKeyError(InvalidValueError):
    """A blob key that could escape the store's root or is otherwise malformed."""

    code = "bad_blob_key"

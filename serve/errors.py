"""Every failure the API reports, as one JSON shape: ``{"error": {"code": ..., "message": ...}}``.

Bad input is a 4xx whose message names the problem; an unexpected error is a 500 that says nothing
internal (the traceback goes to the log).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from quayscan.datasets.errors import ScanError, UnsupportedFormatError
from quayscan.model.card import ModelCardError
from quayscan.serve.auth import AuthError
from quayscan.serve.intake import BadRequest
from quayscan.serve.storage.errors import ConflictError, InvalidValueError, NotFoundError

log = logging.getLogger(__name__)


class PayloadTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"request body is larger than the limit of {limit / 2**20:.0f} MiB")


#: routes of the Open Inference Protocol, whose clients expect ``{"error": "message"}``
OIP_PREFIX = "/v2"


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None,
          request: Request | None = None, **extra) -> JSONResponse:
    """The error answer; ``extra`` fields (e.g. ``by``) go beside code and message."""
    if request is not None and request.url.path.startswith(OIP_PREFIX):
        body = {"error": message, "code": code, **extra}
    else:
        body = {"error": {"code": code, "message": message, **extra}}
    return JSONResponse(body, status_code=status, headers=headers)


#: exceptions that map to one status and code, the message being the exception's own
SIMPLE = {
    PayloadTooLarge: (413, "payload_too_large"),
    NotFoundError: (404, "not_found"),
    InvalidValueError: (422, "invalid_value"),
    ModelCardError: (422, "bad_model"),
}


def _simple(status: int, code: str):
    async def handler(request: Request, exc: Exception):
        return error(status, code, str(exc), request=request)

    return handler


def install(app: FastAPI) -> None:
    @app.exception_handler(AuthError)
    async def _auth(request: Request, exc: AuthError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error(exc.status, exc.code, str(exc), headers, request=request)

    @app.exception_handler(BadRequest)
    async def _bad(request: Request, exc: BadRequest):
        return error(exc.status, exc.code, str(exc), request=request)

    @app.exception_handler(ScanError)
    async def _scan(request: Request, exc: ScanError):
        return error(415 if isinstance(exc, UnsupportedFormatError) else 422, exc.code, str(exc), request=request)

    @app.exception_handler(ConflictError)
    async def _conflict(request: Request, exc: ConflictError):
        # A review conflict names who decided or holds the case, so the page can tell the officer.
        by = getattr(exc, "by", None)
        return error(409, "conflict", str(exc), **({"by": by} if by else {}), request=request)

    for cls, (status, code) in SIMPLE.items():
        app.add_exception_handler(cls, _simple(status, code))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return error(422, "invalid_request", problems, request=request)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        return error(exc.status_code, "http_error", str(exc.detail), getattr(exc, "headers", None), request=request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error(500, "internal_error", "internal error; the server log has the details", request=request)

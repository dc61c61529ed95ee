"""Scan requests: the multipart body and its ``meta`` JSON, checked before anything is stored.

    form = parse_multipart(body, request.headers["content-type"])
    meta = parse_meta(form.text("meta"))          # BadRequest naming the field on any problem
    scan = decode_scan(form, meta)               # ScanError naming the image problem

The body is parsed in memory with ``bytes.find`` (a scan is 1-20 MB and the service caps the size), so a
part is copied once and never spooled to a temporary file.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from quayscan.datasets.commodities import EMPTY, commodity_for_hs, normalize_hs
from quayscan.datasets.iso6346 import ContainerIdError, validate
from quayscan.datasets.readers import PNG_MAGIC, TIFF_MAGICS, read_scan_bytes
from quayscan.datasets.scan import Scan

MAX_DECLARED = 200
_TOKEN = re.compile(r'([a-zA-Z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))')


class BadRequest(ValueError):
    """The request is malformed; ``code`` is machine-readable, the message names the problem."""

    def __init__(self, code: str, message: str, status: int = 422):
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass
class Form:
    """Parts of a multipart body by field name: bytes, and the file name the client gave."""

    parts: dict[str, bytes] = field(default_factory=dict)
    filenames: dict[str, str | None] = field(default_factory=dict)

    def get(self, name: str) -> bytes | None:
        return self.parts.get(name)

    def text(self, name: str) -> str | None:
        data = self.parts.get(name)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("bad_meta", f"field {name!r} is not UTF-8 text") from None


def _params(header: str) -> tuple[str, dict[str, str]]:
    kind, _, rest = header.partition(";")
    return kind.strip().lower(), {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
                                  for m in _TOKEN.finditer(rest)}


def parse_multipart(body: bytes, content_type: str | None) -> Form:
    """Split a ``multipart/form-data`` body into its parts.

    Raises:
        BadRequest: not multipart, no boundary, a malformed part, or a field sent twice.
    """
    kind, params = _params(content_type or "")
    if kind != "multipart/form-data" or not params.get("boundary"):
        raise BadRequest("not_multipart", "send the scan as multipart/form-data with fields high, low and meta",
                         status=415)
    delimiter = b"--" + params["boundary"].encode("latin-1")
    form = Form()
    pos = body.find(delimiter)
    if pos < 0:
        raise BadRequest("bad_multipart", "multipart body has no part boundary", status=400)
    while True:
        pos += len(delimiter)
        if body[pos : pos + 2] == b"--":
            return form
        head_end = body.find(b"\r\n\r\n", pos)
        end = body.find(b"\r\n" + delimiter, head_end + 4) if head_end >= 0 else -1
        if head_end < 0 or end < 0:
            raise BadRequest("bad_multipart", "multipart body is truncated (a part has no closing boundary)",
                             status=400)
        headers = body[pos:head_end].decode("latin-1").split("\r\n")
        disposition = next((h.split(":", 1)[1] for h in headers if h.lower().startswith("content-disposition:")), "")
        _, dparams = _params("x;" + disposition.partition(";")[2])
        name = dparams.get("name")
        if not name:
            raise BadRequest("bad_multipart", "a multipart part has no field name", status=400)
        if name in form.parts:
            raise BadRequest("duplicate_field", f"field {name!r} was sent twice")
        form.parts[name] = body[head_end + 4 : end]
        form.filenames[name] = dparams.get("filename")
        pos = end + 2


@dataclass
class ScanMeta:
    """The scanner's ``meta``, checked."""

    container_id: str
    scanner_id: str
    scanned_at: datetime
    declared: list[dict[str, str]]
    declared_empty: bool
    declared_commodity: str | None
    pitch_mm: tuple[float, float] | None
    air_value: float | None
    raw: dict[str, Any]


def _require(meta: dict[str, Any], name: str) -> Any:
    if name not in meta or meta[name] is None:
        raise BadRequest("missing_field", f"meta.{name} is required")
    return meta[name]


def _pitch(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    pair = [value, value] if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    if not isinstance(pair, list) or len(pair) != 2 or not all(
            isinstance(p, (int, float)) and not isinstance(p, bool) and 0.1 <= p <= 100 for p in pair):
        raise BadRequest("bad_pixel_pitch", f"meta.pixel_pitch_mm must be a number or [x, y] between 0.1 and 100 mm, "
                                            f"got {value!r}")
    return float(pair[0]), float(pair[1])


def _declared(meta: dict[str, Any]) -> tuple[list[dict[str, str]], bool, str | None]:
    empty = meta.get("declared_empty", False)
    if not isinstance(empty, bool):
        raise BadRequest("bad_declaration", f"meta.declared_empty must be true or false, got {empty!r}")
    if "declared" not in meta and not empty:
        raise BadRequest("missing_field", "meta.declared is required (a list of {hs_code, description}), "
                                          "or meta.declared_empty: true")
    items = meta.get("declared") or []
    if not isinstance(items, list) or len(items) > MAX_DECLARED:
        raise BadRequest("bad_declaration", f"meta.declared must be a list of at most {MAX_DECLARED} items")
    if empty and items:
        raise BadRequest("bad_declaration", "meta.declared_empty is true but meta.declared lists goods")
    declared, classes = [], []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("hs_code"), str):
            raise BadRequest("bad_declaration", f"meta.declared[{i}] must be an object with a string hs_code")
        try:
            hs = normalize_hs(item["hs_code"])
        except ValueError as exc:
            raise BadRequest("bad_hs_code", f"meta.declared[{i}].hs_code: {exc}") from None
        desc = item.get("description", "")
        if not isinstance(desc, str) or len(desc) > 1000:
            raise BadRequest("bad_declaration", f"meta.declared[{i}].description must be text of at most 1000 characters")
        declared.append({"hs_code": hs, "description": desc})
        classes.append(commodity_for_hs(hs))
    if empty:
        commodity = EMPTY
    elif classes and all(c is not None for c in classes) and len(set(classes)) == 1:
        commodity = classes[0]
    else:
        commodity = None  # nothing declared, mixed classes or codes outside the library
    return declared, empty, commodity


def parse_meta(text: str | None) -> ScanMeta:
    """Check the ``meta`` field; every problem is a :class:`BadRequest` naming the field."""
    if text is None:
        raise BadRequest("missing_field", "field 'meta' (JSON) is required")
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest("bad_meta", f"meta is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise BadRequest("bad_meta", "meta must be a JSON object")
    raw_id = _require(meta, "container_id")
    try:
        container_id = validate(raw_id)
    except ContainerIdError as exc:
        raise BadRequest("bad_container_id", f"meta.container_id: {exc}") from None
    scanner_id = _require(meta, "scanner_id")
    if not isinstance(scanner_id, str) or not 0 < len(scanner_id) <= 128:
        raise BadRequest("bad_scanner_id", "meta.scanner_id must be a non-empty string of at most 128 characters")
    raw_time = _require(meta, "scanned_at")
    try:
        scanned_at = datetime.fromisoformat(str(raw_time).replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("bad_scanned_at", f"meta.scanned_at must be an ISO 8601 time, got {raw_time!r}") from None
    if scanned_at.tzinfo is None:
        raise BadRequest("bad_scanned_at", f"meta.scanned_at needs a time zone (e.g. ...Z), got {raw_time!r}")
    air = meta.get("air_value")
    if air is not None and (isinstance(air, bool) or not isinstance(air, (int, float)) or not 0 < air <= 65535):
        raise BadRequest("bad_air_value", f"meta.air_value must be a number in (0, 65535], got {air!r}")
    declared, empty, commodity = _declared(meta)
    return ScanMeta(container_id, scanner_id, scanned_at, declared, empty, commodity,
                    _pitch(meta.get("pixel_pitch_mm")), None if air is None else float(air), meta)


def decode_scan(form: Form, meta: ScanMeta) -> Scan:
    """Decode and check the images (PNG, TIFF or DICOS DX); raises ScanError or BadRequest."""
    high = form.get("high")
    if not high:
        raise BadRequest("missing_field", "file field 'high' (the high-energy image) is required")
    low = form.get("low") or None
    scan = read_scan_bytes(high, low, pitch_mm=meta.pitch_mm, air_value=meta.air_value, parallel=True)
    if meta.pitch_mm is None and "pitch_mm" not in scan.meta.get("file", {}).get("high", {}):
        raise BadRequest("missing_field", "meta.pixel_pitch_mm is required (the file does not carry a pixel spacing)")
    return scan


def file_extension(data: bytes) -> str:
    """The blob extension of a scan file by its magic bytes (checked properly when it is decoded)."""
    if data.startswith(PNG_MAGIC):
        return "png"
    if data[:4] in TIFF_MAGICS:
        return "tiff"
    return "dcm"


def fingerprint(form: Form, meta_text: str) -> str:
    """A digest that tells a retry of the same request from a different request under the same key.

    It covers the meta, every part's size and 16 spread samples of each file (a full SHA-256 of 10 MB
    costs more than the rest of the request; two different scans differ everywhere).
    """
    h = hashlib.sha256(meta_text.encode())
    for name in sorted(form.parts):
        data = form.parts[name]
        h.update(f"{name}:{len(data)};".encode())
        step = max(1, len(data) // 16)
        for start in range(0, len(data), step):
            h.update(data[start : start + 4096])
    return h.hexdigest()

"""Service settings: defaults that run out of the box, overridden by environment variables or flags.

    settings = Settings.from_env()            # QUAYSCAN_DB, QUAYSCAN_BLOBS, QUAYSCAN_MODEL, ...
    settings = Settings(db_url="sqlite:///var/test.db", blobs_dir="var/test-blobs")

``quayscan serve`` turns its flags into these environment variables, so every worker process of
``--workers N`` builds the same settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

from quayscan.serve.storage.db import DEFAULT_DB_URL

ENV_PREFIX = "QUAYSCAN_"


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@dataclass
class Settings:
    """Everything the service reads at start.

    Attributes:
        db_url: SQLAlchemy URL (SQLite file by default; ``postgresql+psycopg://...`` at scale).
        blobs_dir: folder for image bytes, heatmaps and model files.
        model: an ONNX file to register and make current at start (default: keep the registry's current
            model, or the shipped default on a new database).
        host, port, workers: where and how many processes uvicorn serves with.
        max_upload_mb: largest accepted scan request body; larger gets 413.
        inference_timeout_s: a scan whose model run takes longer is decided ``inspect`` (model_unavailable).
        inference_threads: concurrent model runs (default: the CPUs this process may use).
        model_poll_s: how often a worker checks the registry for a promoted or rolled-back model.
        recovery_age_s: a case left undecided this long (its process died) is decided by a sweep.
        webhook_urls, webhook_secret: where final decisions are delivered, and the HMAC key.
        audit_share: the share of would-be releases sent to review at random as ``audit_sample``, so the
            model's misses among releases can be estimated (0 turns the audit off).
    """

    db_url: str = DEFAULT_DB_URL
    blobs_dir: str = "var/blobs"
    model: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_upload_mb: float = 200.0
    inference_timeout_s: float = 10.0
    inference_threads: int | None = None
    model_poll_s: float = 2.0
    recovery_age_s: float = 60.0
    webhook_urls: list[str] = field(default_factory=list)
    webhook_secret: str | None = None
    audit_share: float = 0.02

    def __post_init__(self) -> None:
        if not 0.0 <= self.audit_share <= 1.0:
            raise ValueError(f"audit share must be in [0, 1], got {self.audit_share!r}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        """Settings from ``QUAYSCAN_<NAME>`` variables (e.g. ``QUAYSCAN_DB_URL``), then ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            kind = str(f.type)
            try:
                if f.name == "webhook_urls":
                    values[f.name] = _split(raw)
                elif "int" in kind:
                    values[f.name] = int(raw)
                elif "float" in kind:
                    values[f.name] = float(raw)
                else:
                    values[f.name] = raw
            except ValueError:
                raise ValueError(f"{ENV_PREFIX}{f.name.upper()} must be a number, got {raw!r}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The ``QUAYSCAN_*`` variables that rebuild these settings in another process."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[ENV_PREFIX + f.name.upper()] = ",".join(value) if isinstance(value, list) else str(value)
        return out

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

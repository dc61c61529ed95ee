"""Shared pieces of the service tests: a service on a temporary database, small real scans, requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from quayscan.datasets.generator import generate_scan
from quayscan.datasets.iso6346 import random_id
from quayscan.datasets.profiles import load_profile, profile_from_dict

ROLES = ("scanner", "officer", "supervisor", "admin")


def coarse_profile():
    """The default scanner at 20 mm pitch: real physics, few pixels (a 40 ft box is ~610 x 200 px)."""
    d = load_profile("linac-6-3").to_dict()
    d.update(name="test-coarse", pitch_mm=[20.0, 20.0])
    return profile_from_dict(d)


def png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


@dataclass
class SampleScan:
    high: np.ndarray
    low: np.ndarray
    labels: dict[str, Any]
    container_id: str

    @property
    def high_png(self) -> bytes:
        return png(self.high)

    @property
    def low_png(self) -> bytes:
        return png(self.low)

    def meta(self, **changes: Any) -> dict[str, Any]:
        meta = {"container_id": self.container_id, "declared": [self.labels["declared"]], "scanner_id": "gate-1",
                "scanned_at": "2026-11-22T08:00:00Z", "pixel_pitch_mm": self.labels["pixel_pitch_mm"],
                "air_value": self.labels["air_value"]}
        meta.update(changes)
        return {k: v for k, v in meta.items() if v is not None}


def make_scans(count: int, seed: int = 7) -> list[SampleScan]:
    profile = coarse_profile()
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        s = generate_scan(seed, i, profile)
        out.append(SampleScan(s.images[0], s.images[1], s.labels, random_id(rng)))
    return out


def scan_request(scan: SampleScan, **meta_changes: Any) -> dict[str, Any]:
    """Keyword arguments for ``client.post("/v1/scans", **...)``."""
    return {"files": {"high": ("high.png", scan.high_png, "image/png"), "low": ("low.png", scan.low_png, "image/png")},
            "data": {"meta": json.dumps(scan.meta(**meta_changes))}}


@dataclass
class Service:
    client: Any
    app: Any
    keys: dict[str, str] = field(default_factory=dict)
    root: Path | None = None

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def post(self, scan: SampleScan, key: str | None = None, **meta_changes: Any):
        headers = self.auth("scanner")
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.client.post("/v1/scans", headers=headers, **scan_request(scan, **meta_changes))

    def count_cases(self) -> int:
        return self.client.get("/v1/cases?limit=1", headers=self.auth("officer")).json()["total"]


def make_keys(app) -> dict[str, str]:
    from quayscan.serve.storage.credentials import create_api_key

    keys = {}
    with app.state.db() as session:
        for role in ROLES:
            keys[role] = create_api_key(session, f"test-{role}", role)[1]
    return keys


def model_copy(folder: Path, version: str, **changes: Any) -> Path:
    """The shipped model saved under ``folder`` with another version string (and other card changes)."""
    import dataclasses

    from quayscan.model.card import read_card, write_card
    from quayscan.model.runner import DEFAULT_MODEL

    path = Path(folder) / f"{version}.onnx"
    path.write_bytes(DEFAULT_MODEL.read_bytes())
    write_card(path, dataclasses.replace(read_card(path), model_version=version, **changes))
    return path


def gate_folder(tmp_path_factory) -> Path:
    """A small labelled dataset folder (16 coarse scans, half with anomalies) to measure models on."""
    from quayscan.datasets.make_dataset import generate_dataset

    out = tmp_path_factory.mktemp("gate") / "data"
    generate_dataset(out, 16, 5, coarse_profile(), anomaly_rate=0.5, progress=False)
    return out


def app_in(root: Path, **settings: Any):
    """The service's app on a SQLite database and blob folder under ``root`` (nothing starts until a client
    enters it)."""
    from quayscan.serve.app import create_app
    from quayscan.serve.settings import Settings

    root = Path(root)
    return create_app(Settings(db_url=f"sqlite:///{root}/q.db", blobs_dir=str(root / "blobs"), **settings))


@contextmanager
def running_service(root: Path, users: dict[str, str] | None = None, password: str = "correct horse battery",
                    **settings: Any) -> Iterator[Service]:
    """A started app under ``root`` with a test client, one API key per role and the given users (name -> role)."""
    from fastapi.testclient import TestClient

    from quayscan.serve.storage.credentials import create_user

    app = app_in(root, **settings)
    with TestClient(app) as client:
        with app.state.db() as session:
            for name, role in (users or {}).items():
                create_user(session, name, role, password)
        yield Service(client, app, make_keys(app), Path(root))

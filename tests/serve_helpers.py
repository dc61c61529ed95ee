"""A real ``quayscan serve`` process for tests, its API keys, and small scan requests to post to it.

    server = ServerProcess(tmp_path)          # SQLite + blobs under tmp_path, a free port on 127.0.0.1
    keys = make_keys(server.db_url)           # {"scanner": token, "officer": token, "admin": token}
    server.start()                            # returns once GET /readyz answers 200
    server.kill()                             # SIGKILL, as a power cut or the OOM killer would
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np

READY_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_keys(db_url: str, roles: tuple[str, ...] = ("scanner", "officer", "admin")) -> dict[str, str]:
    """One API key per role, made the way ``quayscan keys create`` makes them (migrating a new database)."""
    from quayscan.cli.users import open_db
    from quayscan.serve.storage.credentials import create_api_key

    tokens = {}
    with open_db(db_url) as session:
        for role in roles:
            tokens[role] = create_api_key(session, f"test-{role}", role)[1]
    return tokens


class ServerProcess:
    """``python -m quayscan.cli serve`` on ``root/q.db`` and ``root/blobs``; a new free port each start.

    Args:
        root: folder for the database, the images and the server's log.
        args: more ``quayscan serve`` flags, e.g. ``["--audit-share", "1"]``.
    """

    def __init__(self, root: Path, args: tuple[str, ...] = ()):
        self.root = Path(root)
        self.args = list(args)
        self.db_url = f"sqlite:///{self.root / 'q.db'}"
        self.blobs_dir = self.root / "blobs"
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / f"serve-{self.starts}.log"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        assert self.proc is None, "already running"
        self.starts += 1
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUAYSCAN_")}
        cmd = [sys.executable, "-m", "quayscan.cli", "serve", "--db", self.db_url, "--blobs", str(self.blobs_dir),
               "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning", *self.args]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.root)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise RuntimeError(f"quayscan serve exited with {code} before it was ready:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"quayscan serve not ready after {timeout_s} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no flush, nothing in flight finishes."""
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        """SIGTERM (uvicorn's graceful stop), SIGKILL if that takes more than 10 s."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


@dataclass(frozen=True)
class ScanRequest:
    """One scanner request: the same key always sends the same bytes, so a retry is a true retry."""

    key: str
    png: bytes
    meta: str

    def post(self, client: httpx.Client) -> httpx.Response:
        return client.post("/v1/scans", files={"high": ("high.png", self.png, "image/png")},
                           data={"meta": self.meta}, headers={"Idempotency-Key": self.key})


def scan_pngs(profile, count: int, seed: int = 11) -> list[bytes]:
    """``count`` small synthetic high-energy scans as 16-bit PNG files."""
    from quayscan.datasets.generator import generate_scan

    out = []
    for i in range(count):
        ok, buf = cv2.imencode(".png", generate_scan(seed, i, profile).images[0])
        assert ok
        out.append(buf.tobytes())
    return out


def scan_meta(container_id: str, pitch_mm: float) -> str:
    return json.dumps({
        "container_id": container_id,
        "declared": [{"hs_code": "620342", "description": "MEN'S COTTON TROUSERS"}],
        "scanner_id": "gate-1",
        "scanned_at": "2026-11-22T08:00:00Z",
        "pixel_pitch_mm": [pitch_mm, pitch_mm],
    })


def scan_request_stream(pngs: list[bytes], prefix: str, pitch_mm: float, seed: int = 0) -> Iterator[ScanRequest]:
    """Requests with distinct idempotency keys and container ids, cycling over ``pngs``, without end."""
    from quayscan.datasets.iso6346 import random_id

    rng = np.random.default_rng(seed)
    for i in itertools.count():
        yield ScanRequest(f"{prefix}-{i:05d}", pngs[i % len(pngs)], scan_meta(random_id(rng), pitch_mm))


def scan_requests(pngs: list[bytes], count: int, prefix: str, pitch_mm: float, seed: int = 0) -> list[ScanRequest]:
    """The first ``count`` requests of :func:`scan_request_stream`."""
    return list(itertools.islice(scan_request_stream(pngs, prefix, pitch_mm, seed), count))


def client(server: ServerProcess, token: str, timeout_s: float = 30.0) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s)

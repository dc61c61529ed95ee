"""The blob store: atomic, durable image files under checked keys."""

from __future__ import annotations

import io
import os
from datetime import datetime, timedelta, timezone

import pytest

from quayscan.serve import storage

T0 = datetime(2026, 11, 22, 8, 30, tzinfo=timezone.utc)

def test_blob_store_round_trip(tmp_path):
    store = storage.LocalBlobStore(tmp_path / "blobs")
    assert isinstance(store, storage.BlobStore)
    key = storage.scan_key("01JABC", "high", T0)
    assert key == "scans/2026/11/22/01JABC_high.png"
    assert store.put(key, b"\x89PNG data") == 9
    assert store.exists(key) and store.get(key) == b"\x89PNG data"
    store.put(key, io.BytesIO(b"replaced"))  # from a stream, replacing
    assert store.get(key) == b"replaced"
    assert store.delete(key) and not store.exists(key) and not store.delete(key)
    with pytest.raises(storage.NotFoundError, match="01JABC"):
        store.get(key)
    assert store.writable()
    late_evening_in_new_york = datetime(2026, 11, 22, 22, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert storage.heatmap_key("c1", late_evening_in_new_york) == "heatmaps/2026/11/23/c1.png"


def test_a_failed_blob_write_leaves_nothing_under_its_key(tmp_path, monkeypatch):
    store = storage.LocalBlobStore(tmp_path / "blobs")
    key = "scans/2026/11/22/c1_high.png"

    class BrokenUpload(io.RawIOBase):
        """Yields one chunk, then the connection drops."""

        def __init__(self) -> None:
            self.sent = False

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            if self.sent:
                raise ConnectionResetError("client went away")
            self.sent = True
            buffer[:4] = b"half"
            return 4

    with pytest.raises(ConnectionResetError):
        store.put(key, BrokenUpload())
    assert not store.exists(key)

    def failing_fsync(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="I/O error"):
        store.put(key, b"x" * 1000)
    monkeypatch.undo()
    assert not store.exists(key)
    assert [p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []  # no temporary left over


def test_blob_keys_cannot_escape_the_root(tmp_path):
    store = storage.LocalBlobStore(tmp_path / "blobs")
    for key in ["../etc/passwd", "/abs/key", "a//b", "scans/../../x", ".tmp-abc", "a\\b", "", "scans/ x"]:
        with pytest.raises(storage.BlobKeyError):
            store.put(key, b"x")


def test_blob_store_health_and_crash_leftovers(tmp_path, monkeypatch):
    store = storage.LocalBlobStore(tmp_path / "blobs")
    stale = tmp_path / "blobs" / "scans" / ".tmp-stale"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"partial")
    os.utime(stale, (0, 0))
    fresh = stale.with_name(".tmp-fresh")
    fresh.write_bytes(b"in progress")
    assert store.remove_partial(older_than_s=3600) == 1
    assert fresh.exists() and not stale.exists()

    def disk_full(key, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "put", disk_full)
    assert not store.writable()

"""Blob stores for image bytes: a local folder now, S3-compatible object storage later, one interface.

A blob under its final key is always complete: :class:`LocalBlobStore` writes to a temporary file in the
same folder, syncs it, renames it into place and syncs the folder, so a crash leaves at worst a stray
temporary file (never a half-written blob) and a blob the caller was told is stored survives a power cut.

    store = LocalBlobStore("var/blobs")
    key = scan_key(case_id, "high", created_at)   # scans/2026/11/22/<case_id>_high.png
    store.put(key, png_bytes)
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from quayscan.serve.storage.errors import BlobKeyError, NotFoundError

_log = logging.getLogger(__name__)

#: one path segment of a key: no leading dot (so temporary files and "..", "." can never be keys)
_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_TMP_PREFIX = ".tmp-"
_CHUNK = 1 << 20


@runtime_checkable
class BlobStore(Protocol):
    """What the service needs from a place that keeps image bytes under string keys."""

    def put(self, key: str, data: bytes | BinaryIO, *, durable: bool = True) -> int:
        """Store ``data`` under ``key`` atomically, replacing any blob there; returns the size in bytes.

        ``durable=False`` may skip syncing to disk, for data that can be made again."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes under ``key``; raises :class:`NotFoundError` if there are none."""
        ...

    def exists(self, key: str) -> bool:
        """Whether a complete blob is stored under ``key``."""
        ...

    def delete(self, key: str) -> bool:
        """Remove the blob under ``key``; returns False if there was none."""
        ...

    def writable(self) -> bool:
        """Health check: can a blob be written and removed right now?"""
        ...


def check_key(key: str) -> str:
    """Validate a blob key: relative, "/"-separated segments of letters, digits, ``._-``.

    Raises:
        BlobKeyError: naming the key, for anything that could escape the store's root.
    """
    if not isinstance(key, str) or not key or len(key) > 512:
        raise BlobKeyError(f"blob key must be a non-empty string of at most 512 characters, got {key!r}")
    if not all(_SEGMENT.match(part) for part in key.split("/")):
        raise BlobKeyError(f"blob key {key!r} must be '/'-separated names of letters, digits and ._- "
                           "not starting with a dot")
    return key


def _dated(prefix: str, when: datetime | None) -> str:
    when = (when or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{prefix}/{when:%Y/%m/%d}"


def scan_key(case_id: str, energy: str, created_at: datetime | None = None, ext: str = "png") -> str:
    """The key of one energy image of a case, e.g. ``scans/2026/11/22/<case_id>_high.png``.

    Keys are grouped by UTC day so a folder never grows past a day's scans and old days can be archived.
    """
    if energy not in ("high", "low"):
        raise BlobKeyError(f"energy must be 'high' or 'low', got {energy!r}")
    return check_key(f"{_dated('scans', created_at)}/{case_id}_{energy}.{ext}")


def heatmap_key(case_id: str, created_at: datetime | None = None, ext: str = "png") -> str:
    """The key of a case's model heatmap, e.g. ``heatmaps/2026/11/22/<case_id>.png``."""
    return check_key(f"{_dated('heatmaps', created_at)}/{case_id}.{ext}")


def _fsync_dir(path: Path) -> None:
    # The rename is only durable once the directory entry is on disk.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    """Blobs as files under a root folder, written atomically and durably.

    Args:
        root: the folder; created if missing.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def path(self, key: str) -> Path:
        """The file of ``key`` (for serving it with a file response)."""
        return self.root / check_key(key)

    def put(self, key: str, data: bytes | BinaryIO, *, durable: bool = True) -> int:
        """Write atomically; ``durable=False`` skips the syncs, for data that can be made again (heatmaps)."""
        target = self.path(key)
        created = self._make_parents(target.parent)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                if isinstance(data, (bytes, bytearray, memoryview)):
                    f.write(data)
                else:
                    shutil.copyfileobj(data, f, _CHUNK)
                f.flush()
                if durable:
                    os.fsync(f.fileno())
                size = f.tell()
            os.replace(tmp, target)
        except BaseException:
            # Whatever failed (disk full, a reader error, an interrupt), nothing appears under the key.
            Path(tmp).unlink(missing_ok=True)
            raise
        if durable:
            for folder in [target.parent, *created]:
                _fsync_dir(folder)
        return size

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"no blob under key {key!r} in {self.root}") from None

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> bool:
        target = self.path(key)
        try:
            target.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(target.parent)
        return True

    def writable(self) -> bool:
        probe = f"_health/{os.getpid()}-{time.monotonic_ns()}"
        try:
            self.put(probe, b"ok")
            ok = self.get(probe) == b"ok"
            self.delete(probe)
            return ok
        except OSError as exc:
            _log.warning("blob store %s is not writable: %s", self.root, exc)
            return False

    def remove_partial(self, older_than_s: float = 3600.0) -> int:
        """Delete temporary files a crash left behind; returns how many were removed.

        Only files older than ``older_than_s`` go, so a write in progress in another process is spared.
        """
        cutoff = time.time() - older_than_s
        removed = 0
        for tmp in self.root.rglob(f"{_TMP_PREFIX}*"):
            try:
                if tmp.is_file() and tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def _make_parents(self, folder: Path) -> list[Path]:
        """Create ``folder`` and missing parents; returns the parents of new folders, deepest first."""
        missing = []
        current = folder
        while not current.exists() and current != self.root:
            missing.append(current)
            current = current.parent
        folder.mkdir(parents=True, exist_ok=True)
        # Each new folder's entry lives in its parent; sync those so the whole path survives a crash.
        return [m.parent for m in missing]

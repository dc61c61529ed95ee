"""Scan readers: 16-bit PNG, 16-bit TIFF and DICOS DX bytes or files into a :class:`Scan`.

The format is told by the file's magic bytes, never by its name. Headers are checked before any pixel is
decoded, so that a wrong or oversized image is refused cheaply, and every failure is a specific
:class:`~quayscan.datasets.errors.ScanError` whose message names the problem (no bare cv2, tifffile,
struct or pydicom exception leaks).

    from quayscan.datasets.readers import read_scan
    scan = read_scan("scans/MSCU1234565_high.png")  # picks up MSCU1234565_low.png beside it
"""

from __future__ import annotations

import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tifffile

from quayscan.datasets.errors import (
    BitDepthError,
    ChannelError,
    CorruptFileError,
    DimensionError,
    EnergyMismatchError,
    ScanError,
    UnsupportedFormatError,
)
from quayscan.datasets.scan import DEFAULT_AIR_VALUE, DEFAULT_PITCH_MM, Scan, check_image, check_size

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both byte orders
PNG_COLOUR_TYPES = {2: "RGB (3 channels)", 3: "palette colour", 4: "grayscale + alpha (2 channels)",
                    6: "RGBA (4 channels)"}
#: formats people send by mistake, so the message can say what the bytes are
KNOWN_OTHERS = {b"\xff\xd8\xff": "JPEG", b"GIF8": "GIF", b"BM": "BMP", b"%PDF": "PDF", b"RIFF": "RIFF/WebP"}


def read_image_bytes(data: bytes, name: str = "high") -> tuple[np.ndarray, dict[str, Any]]:
    """Decode one energy image from PNG, single-page TIFF or DICOS bytes.

    Args:
        data: the whole file.
        name: which energy it is ("high" or "low"), for messages.

    Returns:
        The uint16 image (height, width) and info about the file, e.g. ``{"format": "png"}``.

    Raises:
        ScanError: a subclass naming the problem. A two-page TIFF holds both energies: use
        :func:`read_scan_bytes` for it.
    """
    images, info = _decode(data, name)
    if len(images) != 1:
        raise DimensionError(
            f"{name} TIFF holds {len(images)} pages (high and low energy); read it with read_scan_bytes"
        )
    return images[0], info


def read_scan_bytes(
    high: bytes,
    low: bytes | None = None,
    *,
    pitch_mm: tuple[float, float] | None = None,
    air_value: float | None = None,
    meta: dict[str, Any] | None = None,
    parallel: bool = False,
) -> Scan:
    """Build a scan from file bytes: one file per energy, or one two-page TIFF (high, then low).

    Args:
        high: the high-energy file (or a two-page TIFF with both energies).
        low: the low-energy file, if separate.
        pitch_mm: pixel pitch (x, y); default: the DICOS pixel spacing if any, else 5 mm.
        air_value: the unattenuated beam's value; default ``DEFAULT_AIR_VALUE``.
        meta: what the scanner said about the scan; the readers' file info is added under ``"file"``.
        parallel: decode the low-energy file on a second thread while the high one decodes.

    Returns:
        The validated :class:`Scan`.

    Raises:
        ScanError: a subclass naming the problem, e.g. :class:`EnergyMismatchError` for sizes that differ.
    """
    low_info = None
    if parallel and low is not None:
        # the two files decode at once (the decoders release the GIL): half the wait for one scan
        with ThreadPoolExecutor(1, thread_name_prefix="quayscan-decode") as pool:
            low_job = pool.submit(read_image_bytes, low, "low")
            images, high_info = _decode(high, "high")
            if len(images) == 1:
                low_image, low_info = low_job.result()
    else:
        images, high_info = _decode(high, "high")
    if len(images) == 2:
        if low is not None:
            raise EnergyMismatchError("high TIFF already holds two pages (high, low) but a low file was also sent")
        high_image, low_image = images
    else:
        high_image = images[0]
        if low is None:
            low_image = None
        elif not parallel:
            low_image, low_info = read_image_bytes(low, "low")
    if pitch_mm is None:
        pitch_mm = high_info.get("pitch_mm", DEFAULT_PITCH_MM)
    meta = dict(meta or {})
    meta.setdefault("file", {"high": high_info, "low": low_info} if low_info else {"high": high_info})
    return Scan(
        high=high_image,
        low=low_image,
        pitch_mm=pitch_mm,
        air_value=DEFAULT_AIR_VALUE if air_value is None else air_value,
        meta=meta,
    )


def read_scan(path: str | Path, low_path: str | Path | None = None, **kw: Any) -> Scan:
    """Read a scan from files.

    Args:
        path: the high-energy file (or a two-page TIFF).
        low_path: the low-energy file. When omitted and ``path`` is ``<id>_high.png``, an ``<id>_low.png``
            beside it is used if it exists.
        **kw: passed to :func:`read_scan_bytes` (``pitch_mm``, ``air_value``, ``meta``).

    Raises:
        ScanError: bad content; OSError: a file that cannot be read.
    """
    path = Path(path)
    if low_path is None and path.name.endswith("_high.png"):
        twin = path.with_name(path.name[: -len("_high.png")] + "_low.png")
        if twin.is_file():
            low_path = twin
    low = Path(low_path).read_bytes() if low_path is not None else None
    return read_scan_bytes(path.read_bytes(), low, **kw)


def _decode(data: bytes, name: str) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Sniff the format and decode all images in the file (two only for a two-page TIFF)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise UnsupportedFormatError(f"{name} file must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise UnsupportedFormatError(f"{name} file is empty (0 bytes)")
    if data.startswith(PNG_MAGIC):
        return [_read_png(data, name)], {"format": "png"}
    if data[:4] in TIFF_MAGICS:
        images = _read_tiff(data, name)
        return images, {"format": "tiff", "pages": len(images)}
    if data[128:132] == b"DICM" or _looks_like_bare_dicom(data):
        from quayscan.datasets.dicos import read_dicos_bytes  # pydicom only when a DICOS file comes

        image, info = read_dicos_bytes(data, name, force=data[128:132] != b"DICM")
        return [check_image(image, name)], info
    for magic, kind in KNOWN_OTHERS.items():
        if data.startswith(magic):
            raise UnsupportedFormatError(
                f"{name} file is {kind}; a scan must be 16-bit PNG, 16-bit TIFF or DICOS DX"
            )
    raise UnsupportedFormatError(
        f"{name} file is not a PNG, TIFF or DICOS file (starts with {data[:8]!r}, {len(data)} bytes)"
    )


def _looks_like_bare_dicom(data: bytes) -> bool:
    """A DICOM dataset written without preamble starts with a group 0002 or 0008 tag (little endian)."""
    return len(data) >= 16 and data[:2] in (b"\x02\x00", b"\x08\x00") and data[3] == 0x00


def _read_png(data: bytes, name: str) -> np.ndarray:
    chunks = _png_chunks(data, name)
    ihdr = chunks.get(b"IHDR")
    if ihdr is None or len(ihdr) != 13:
        raise CorruptFileError(f"{name} PNG has no valid IHDR header")
    width, height, depth, colour = struct.unpack(">IIBB", ihdr[:10])
    if colour in PNG_COLOUR_TYPES:
        raise ChannelError(f"{name} PNG is {PNG_COLOUR_TYPES[colour]}; a scan is one grayscale channel")
    if depth != 16:
        raise BitDepthError(f"{name} PNG is {depth}-bit grayscale; a scan must be 16-bit")
    check_size(name, width, height)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise CorruptFileError(f"{name} PNG ({width} x {height} px) could not be decoded: {exc}") from exc
    if image is None:
        raise CorruptFileError(f"{name} PNG ({width} x {height} px) could not be decoded: damaged image data")
    return check_image(image, name)


def _png_chunks(data: bytes, name: str) -> dict[bytes, memoryview]:
    """Walk the chunk list up to IEND: catches truncation with a clear message, before libpng does."""
    chunks, pos = {}, len(PNG_MAGIC)
    view = memoryview(data)
    while True:
        if pos + 8 > len(data):
            raise CorruptFileError(f"{name} PNG is truncated at byte {len(data)}: no IEND chunk")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise CorruptFileError(
                f"{name} PNG is truncated: chunk {kind.decode('latin-1')!r} at byte {pos} needs "
                f"{length + 12} bytes but the file ends at byte {len(data)}"
            )
        body = view[pos + 8 : pos + 8 + length]  # no copy: the image data can be megabytes
        if kind == b"IHDR" and zlib.crc32(kind + bytes(body)) != struct.unpack(">I", data[end - 4 : end])[0]:
            raise CorruptFileError(f"{name} PNG header (IHDR) fails its CRC check")
        chunks.setdefault(kind, body)
        if kind == b"IEND":
            return chunks
        pos = end


def _read_tiff(data: bytes, name: str) -> list[np.ndarray]:
    try:
        with tifffile.TiffFile(BytesIO(data)) as tif:
            pages = list(tif.pages)
            if not pages:
                raise CorruptFileError(f"{name} TIFF has no readable page ({len(data)} bytes)")
            if len(pages) > 2:
                raise DimensionError(
                    f"{name} TIFF has {len(pages)} pages; a scan is one page (high) or two (high, then low)"
                )
            _check_ifd_chain_ends(tif, pages[-1].offset, data, name)
            labels = [name] if len(pages) == 1 else ["high", "low"]
            return [_read_tiff_page(page, label, len(data)) for page, label in zip(pages, labels)]
    except ScanError:
        raise
    except Exception as exc:  # tifffile raises TiffFileError, ValueError, struct.error, IndexError...
        raise CorruptFileError(
            f"{name} TIFF ({len(data)} bytes) is damaged or truncated: {type(exc).__name__}: {exc}"
        ) from exc


def _check_ifd_chain_ends(tif: tifffile.TiffFile, offset: int, data: bytes, name: str) -> None:
    """tifffile stops quietly at a next-page pointer past the end: a truncated two-page file would pass as
    single-energy, so the last page read must really be the last one."""
    fmt = tif.tiff
    (count,) = struct.unpack(fmt.tagnoformat, data[offset : offset + fmt.tagnosize])
    pos = offset + fmt.tagnosize + count * fmt.tagsize
    (next_page,) = struct.unpack(fmt.offsetformat, data[pos : pos + fmt.offsetsize])
    if next_page:
        raise CorruptFileError(
            f"{name} TIFF is truncated or damaged: page {len(tif.pages) + 1} at byte {next_page} cannot be "
            f"read ({len(data)} bytes)"
        )


def _read_tiff_page(page: Any, name: str, size: int) -> np.ndarray:
    if page.samplesperpixel != 1:
        raise ChannelError(f"{name} TIFF page has {page.samplesperpixel} samples per pixel; a scan is grayscale")
    if page.dtype != np.uint16:
        raise BitDepthError(f"{name} TIFF page is {page.dtype} ({page.bitspersample}-bit); a scan must be uint16")
    if len(page.shape) != 2:
        raise DimensionError(f"{name} TIFF page has shape {page.shape}; a scan page is 2-D (height, width)")
    check_size(name, page.imagewidth, page.imagelength)
    needed = max((o + n for o, n in zip(page.dataoffsets, page.databytecounts)), default=0)
    if needed > size:
        raise CorruptFileError(
            f"{name} TIFF is truncated: its image data runs to byte {needed} but the file has {size} bytes"
        )
    try:
        image = page.asarray()
    except Exception as exc:
        if "imagecodecs" not in str(exc):  # only a missing codec is "unsupported"; the rest is damage
            raise
        raise UnsupportedFormatError(
            f"{name} TIFF compression {page.compression.name} cannot be decoded here; send it uncompressed "
            "or with deflate (zlib) compression"
        ) from exc
    return check_image(image, name)

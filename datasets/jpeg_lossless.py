"""A small decoder of lossless JPEG (ITU T.81 process 14): one component, predictor 1 or 2.

DICOS scanners may store DX pixel data this way; pydicom decodes it only with pylibjpeg or GDCM
installed, which the torch-free service does not need otherwise.
"""

from __future__ import annotations

import re
import struct

import numpy as np
from quayscan.datasets.errors import CorruptFileError, UnsupportedFormatError


def decode_jpeg_lossless(data: bytes, name: str = "high") -> np.ndarray:
    """Decode a one-component lossless JPEG (ITU T.81 process 14) with predictor 1 or 2.

    Args:
        data: the JPEG stream, SOI to EOI.
        name: which energy it is, for messages.

    Returns:
        The image as uint16 (height, width).

    Raises:
        CorruptFileError: a damaged stream; UnsupportedFormatError: a variant this decoder does not handle.
    """
    if data[:2] != b"\xff\xd8":
        raise CorruptFileError(f"{name} DX pixel data is not a JPEG stream (starts with {data[:4].hex()})")
    pos, tables, frame = 2, {}, None
    try:
        while True:
            if data[pos] != 0xFF:
                raise CorruptFileError(f"{name} DX JPEG stream has no marker at byte {pos}")
            marker = data[pos + 1]
            (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
            seg = data[pos + 4 : pos + 2 + length]
            pos += 2 + length
            if marker == 0xC3:
                frame = struct.unpack(">BHHB", seg[:6])  # precision, height, width, components
            elif 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                raise UnsupportedFormatError(f"{name} DX JPEG is SOF{marker - 0xC0}, not lossless process 14")
            elif marker == 0xC4:
                tables.update(_huffman_tables(seg))
            elif marker == 0xDD and struct.unpack(">H", seg[:2])[0]:
                raise UnsupportedFormatError(f"{name} DX JPEG uses restart markers; install pylibjpeg-libjpeg")
            elif marker == 0xDA:
                table, predictor, shift = seg[2] >> 4, seg[3], seg[5] & 0x0F
                break
    except (IndexError, struct.error) as exc:
        raise CorruptFileError(f"{name} DX JPEG header is truncated") from exc
    if frame is None or frame[3] != 1 or table not in tables:
        raise UnsupportedFormatError(f"{name} DX JPEG is not a one-component lossless image with its tables")
    precision, height, width, _ = frame
    if predictor not in (1, 2):
        raise UnsupportedFormatError(f"{name} DX JPEG uses predictor {predictor}; install pylibjpeg-libjpeg")
    end = re.compile(rb"\xff[^\x00]").search(data, pos)
    scan = data[pos : end.start() if end else len(data)].replace(b"\xff\x00", b"\xff")
    diffs = _huffman_diffs(scan, tables[table], height * width, name).reshape(height, width)
    diffs[0, 0] += 1 << (precision - shift - 1)
    if predictor == 1:  # left neighbour, except the first column, which takes the one above
        diffs[:, 0] = np.cumsum(diffs[:, 0])
        image = np.cumsum(diffs, axis=1)
    else:  # the one above, except the first row, which takes the left neighbour
        diffs[0] = np.cumsum(diffs[0])
        image = np.cumsum(diffs, axis=0)
    return ((image & 0xFFFF) << shift).astype(np.uint16)


def _huffman_tables(seg: bytes) -> dict[int, list[int]]:
    """DHT segment -> {table id: 16-bit lookahead table of (code length << 8 | symbol), -1 if invalid}."""
    out, i = {}, 0
    while i < len(seg):
        table_id, counts = seg[i] & 0x0F, seg[i + 1 : i + 17]
        symbols = seg[i + 17 : i + 17 + sum(counts)]
        lut, code, k = [-1] * 65536, 0, 0
        for length, count in enumerate(counts, start=1):
            for _ in range(count):
                start = code << (16 - length)
                lut[start : start + (1 << (16 - length))] = [length << 8 | symbols[k]] * (1 << (16 - length))
                code, k = code + 1, k + 1
            code <<= 1
        out[table_id] = lut
        i += 17 + len(symbols)
    return out


def _huffman_diffs(scan: bytes, lut: list[int], count: int, name: str) -> np.ndarray:
    """Decode ``count`` differences; the sequential part, kept tight because it runs once per pixel."""
    buf = scan + b"\x00" * 8
    diffs = [0] * count
    acc = nbits = i = 0
    for k in range(count):
        if nbits < 32:
            acc = (acc << 32) | int.from_bytes(buf[i : i + 4], "big")
            i, nbits = i + 4, nbits + 32
        entry = lut[(acc >> (nbits - 16)) & 0xFFFF]
        if entry < 0:
            raise CorruptFileError(f"{name} DX JPEG data has an invalid Huffman code at pixel {k}")
        nbits -= entry >> 8
        size = entry & 0xFF
        if size == 16:
            diffs[k] = 32768
        elif size:
            nbits -= size
            value = (acc >> nbits) & ((1 << size) - 1)
            diffs[k] = value if value >> (size - 1) else value - (1 << size) + 1
        acc &= (1 << nbits) - 1
    if i * 8 - nbits > len(scan) * 8:
        raise CorruptFileError(f"{name} DX JPEG data ends after {len(scan)} bytes, before the last pixel")
    return np.array(diffs, np.int64)

"""The commodity library (DESIGN.md section 4): classes keyed by HS heading prefixes.

The data lives in ``datasets/data/commodities.json``; this module loads it once and answers
``commodity_for_hs("620342") -> "garments"``, or None for a code that is not in the library.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

LIBRARY_FILE = Path(__file__).parent / "data" / "commodities.json"
EMPTY = "empty"


@dataclass(frozen=True)
class Commodity:
    name: str
    prefixes: tuple[str, ...]  # expanded HS prefixes, e.g. ("8419", "8420", ..., "8483")
    looks_like: str
    descriptions: tuple[str, ...]


def _expand(spec: str) -> list[str]:
    if "-" not in spec:
        return [spec]
    lo, hi = spec.split("-")
    if len(lo) != len(hi) or int(lo) > int(hi):
        raise ValueError(f"bad HS range {spec!r} in {LIBRARY_FILE}")
    return [str(n).zfill(len(lo)) for n in range(int(lo), int(hi) + 1)]


@lru_cache(maxsize=1)
def library() -> dict[str, Commodity]:
    """All classes by name, in the library's order (that order is the model's class order)."""
    data = json.loads(LIBRARY_FILE.read_text())
    out: dict[str, Commodity] = {}
    for c in data["classes"]:
        prefixes = tuple(p for spec in c["hs"] for p in _expand(spec))
        out[c["name"]] = Commodity(c["name"], prefixes, c["looks_like"], tuple(c["descriptions"]))
    return out


@lru_cache(maxsize=1)
def outside_examples() -> list[dict[str, str]]:
    """Declarations whose HS code is not in the library, with the class their goods look like."""
    return list(json.loads(LIBRARY_FILE.read_text())["outside_library_examples"])


def class_names() -> list[str]:
    return list(library())


def normalize_hs(hs_code: str) -> str:
    """Digits only: '6203.42' and '6203 42' both become '620342'."""
    if not isinstance(hs_code, str):
        raise ValueError(f"HS code must be a string, got {hs_code!r}")
    digits = re.sub(r"[\s.\-]", "", hs_code)
    if not digits.isdigit() or not 2 <= len(digits) <= 10:
        raise ValueError(f"HS code must be 2 to 10 digits, got {hs_code!r}")
    return digits


@lru_cache(maxsize=1)
def _prefix_table() -> dict[str, str]:
    return {p: c.name for c in library().values() for p in c.prefixes}


def commodity_for_hs(hs_code: str) -> str | None:
    """The library class of an HS code by its longest matching prefix, or None if not in the library."""
    digits = normalize_hs(hs_code)
    table = _prefix_table()
    for n in range(len(digits), 1, -1):
        name = table.get(digits[:n])
        if name is not None:
            return name
    return None

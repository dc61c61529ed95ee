"""ISO 6346 container identification: owner code, category, serial number and check digit."""

from __future__ import annotations

import re

import numpy as np

_PATTERN = re.compile(r"^[A-Z]{3}[UJZR]\d{6}\d$")
# letter values skip multiples of 11 (11, 22, 33)
_VALUES = {}
_v = 10
for _ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    if _v % 11 == 0:
        _v += 1
    _VALUES[_ch] = _v
    _v += 1
_VALUES.update({str(d): d for d in range(10)})


class ContainerIdError(ValueError):
    """A container id is not a valid ISO 6346 code."""


def check_digit(code10: str) -> int:
    """The check digit of the first ten characters (owner, category, serial)."""
    total = sum(_VALUES[ch] * (1 << i) for i, ch in enumerate(code10))
    return total % 11 % 10


def validate(container_id: str) -> str:
    """Normalise (upper case, no spaces) and verify a container id; raises ContainerIdError."""
    if not isinstance(container_id, str):
        raise ContainerIdError(f"container id must be a string, got {container_id!r}")
    cid = re.sub(r"[\s\-]", "", container_id).upper()
    if not _PATTERN.match(cid):
        raise ContainerIdError(
            f"container id {container_id!r} is not ISO 6346: expected 3 owner letters, a category letter "
            "(U, J, Z or R), 6 digits and a check digit, e.g. 'CSQU3054383'"
        )
    expected = check_digit(cid[:10])
    if int(cid[10]) != expected:
        raise ContainerIdError(f"container id {container_id!r} has check digit {cid[10]}, expected {expected}")
    return cid


def random_id(rng: np.random.Generator) -> str:
    """A valid random container id with category U (freight container)."""
    owner = "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), 3))
    serial = "".join(str(d) for d in rng.integers(0, 10, 6))
    code = f"{owner}U{serial}"
    return code + str(check_digit(code))

"""Scanner profiles: the energy pair, pixel pitch and detector behaviour of one kind of scanner.

A profile is a JSON file; three ship in ``datasets/profiles/``. Any valid file works with
``quayscan generate --profile-file FILE.json``; an invalid one raises :class:`ProfileError` naming the field.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

PROFILE_DIR = Path(__file__).parent / "profiles"


class ProfileError(ValueError):
    """A scanner profile is missing a field or has a bad value."""


@dataclass(frozen=True)
class Profile:
    """One scanner's physics and detector parameters.

    Attributes:
        name: profile name, recorded in every label.
        energies_mev: linac endpoint energies [high, low] (high > low), or [high] for single energy.
        pitch_mm: pixel pitch [x, y] at the container's centre plane.
        photons_per_pixel: detected photons per pixel in air at the high energy (the dose).
        electronic_noise: detector read noise, in output counts (standard deviation).
        row_gain_sigma: relative per-row (detector element) gain error left after calibration.
        column_dose_sigma: relative per-column (linac pulse) dose fluctuation.
        blur_sigma_px: detector and focal-spot blur (Gaussian sigma, pixels).
        air_value: output counts of the unattenuated beam.
        low_dose_fraction: photons at the low energy relative to the high energy.
        scatter_fraction: share of the signal that arrives as broad scatter.
        description: free text.
    """

    name: str
    energies_mev: tuple[float, ...]
    pitch_mm: tuple[float, float]
    photons_per_pixel: float
    electronic_noise: float
    row_gain_sigma: float
    column_dose_sigma: float
    blur_sigma_px: float
    air_value: int
    low_dose_fraction: float = 0.6
    scatter_fraction: float = 0.02
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["energies_mev"] = list(self.energies_mev)
        d["pitch_mm"] = list(self.pitch_mm)
        return d


REQUIRED = [f.name for f in fields(Profile) if f.default is MISSING]


def _number(d: dict[str, Any], key: str, lo: float, hi: float) -> float:
    value = d[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProfileError(f"profile field {key!r} must be a number, got {value!r}")
    if not lo <= value <= hi:
        raise ProfileError(f"profile field {key!r} must be in [{lo}, {hi}], got {value!r}")
    return float(value)


def _numbers(d: dict[str, Any], key: str, n: tuple[int, ...], lo: float, hi: float) -> tuple[float, ...]:
    value = d[key]
    if not isinstance(value, list) or len(value) not in n:
        raise ProfileError(f"profile field {key!r} must be a list of {' or '.join(map(str, n))} numbers, got {value!r}")
    return tuple(_number({key: v}, key, lo, hi) for v in value)


def profile_from_dict(d: dict[str, Any]) -> Profile:
    """Validate a profile mapping; raises ProfileError naming the first bad field."""
    if not isinstance(d, dict):
        raise ProfileError(f"a profile must be a JSON object, got {type(d).__name__}")
    known = {f.name for f in fields(Profile)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ProfileError(f"unknown profile field(s) {unknown}; known fields: {sorted(known)}")
    for key in REQUIRED:
        if key not in d:
            raise ProfileError(f"profile is missing the required field {key!r}")
    name = d["name"]
    if not isinstance(name, str) or not name.strip() or "/" in name:
        raise ProfileError(f"profile field 'name' must be a non-empty string without '/', got {name!r}")
    energies = _numbers(d, "energies_mev", (1, 2), 0.5, 10.0)
    if len(energies) == 2 and energies[0] <= energies[1]:
        raise ProfileError(f"profile field 'energies_mev' must be [high, low] with high > low, got {list(energies)}")
    air = _number(d, "air_value", 1000, 65535)
    if air != int(air):
        raise ProfileError(f"profile field 'air_value' must be an integer, got {d['air_value']!r}")
    return Profile(
        name=name,
        energies_mev=energies,
        pitch_mm=_numbers(d, "pitch_mm", (2,), 1.0, 20.0),  # type: ignore[arg-type]
        photons_per_pixel=_number(d, "photons_per_pixel", 100, 1e8),
        electronic_noise=_number(d, "electronic_noise", 0, 5000),
        row_gain_sigma=_number(d, "row_gain_sigma", 0, 0.2),
        column_dose_sigma=_number(d, "column_dose_sigma", 0, 0.2),
        blur_sigma_px=_number(d, "blur_sigma_px", 0, 10),
        air_value=int(air),
        low_dose_fraction=_number(d, "low_dose_fraction", 0.05, 2.0) if "low_dose_fraction" in d else 0.6,
        scatter_fraction=_number(d, "scatter_fraction", 0, 0.3) if "scatter_fraction" in d else 0.02,
        description=str(d.get("description", "")),
    )


def load_profile_file(path: str | Path) -> Profile:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ProfileError(f"profile file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ProfileError(f"profile file {path} is not valid JSON: {exc}") from None
    return profile_from_dict(data)


def builtin_names() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.json"))


def load_profile(name: str) -> Profile:
    """A built-in profile by name."""
    path = PROFILE_DIR / f"{name}.json"
    if not path.is_file():
        raise ProfileError(f"unknown profile {name!r}; built-in profiles: {builtin_names()}")
    return load_profile_file(path)

"""Shared fixtures: tiny synthetic inputs, and RNG state that never leaks between tests."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DICOS_DIR = SHARED / "dicos"


@pytest.fixture(autouse=True)
def prevent_leaking_rng():
    """Restore Python's and numpy's global RNG state after every test."""
    py_state = random.getstate()
    np_state = np.random.get_state()
    yield
    random.setstate(py_state)
    np.random.set_state(np_state)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def tiny_pair(rng) -> tuple[np.ndarray, np.ndarray]:
    """A small dual-energy pair: bright air, a darker block, low energy attenuated more."""
    high = np.full((80, 120), 60000, np.uint16)
    high[20:60, 30:90] = 20000
    low = (high.astype(np.float64) ** 1.1 / 60000**0.1).astype(np.uint16)
    return high, low


@pytest.fixture
def dicos_dir() -> Path:
    if not DICOS_DIR.is_dir():
        pytest.skip(f"DICOS samples not found at {DICOS_DIR}")
    return DICOS_DIR


@pytest.fixture
def fast_profile():
    """The default scanner at a coarse 20 x 20 mm pitch: full physics, a sixteenth of the pixels."""
    from quayscan.datasets.profiles import load_profile, profile_from_dict

    d = load_profile("linac-6-3").to_dict()
    d.update(name="test-coarse", pitch_mm=[20.0, 20.0])
    return profile_from_dict(d)

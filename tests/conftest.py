"""Shared fixtures: paths to the internal test data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def hml3d_dir() -> Path:
    return DATA / "humanml3d"


@pytest.fixture(scope="session")
def joints_000021(hml3d_dir) -> np.ndarray:
    """(180, 22, 3) float64: the raw joints of the target-skeleton clip (turns through 180°)."""
    return np.load(hml3d_dir / "joints_000021_body22.npy")

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


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> Path:
    """Tiny synthetic SMPL-X (neutral, male, female) and SMPL-H (male, female) model files, written once;
    read-only for the tests (sources load them, nothing writes there)."""
    from vimo.pipelines.samples.sources import write_body_models

    d = tmp_path_factory.mktemp("models")
    write_body_models(d, "smplx")
    write_body_models(d, "smplh", ("male", "female"))
    return d


@pytest.fixture(scope="session")
def interx_base(tmp_path_factory, models):
    """A fake Inter-X tree of two sequences (handshake, push); tests that break it copy it first."""
    from vimo.pipelines.samples.sources import write_interx_tree

    return write_interx_tree(tmp_path_factory.mktemp("ix"), models, n=2, seed=7, kinds=("handshake", "push"),
                             write_models=False)

"""Shared fixtures: paths to the internal test data; how the suite is spread over pytest-xdist workers."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"

#: the module that builds the `learned_bench` fixture (tests/models/conftest.py) and the demo's module: the two
#: longest units of the suite, started first, side by side
FIRST = ("tests/models/test_bench.py", "tests/test_demo.py")


def pytest_configure(config):
    """VIMO_THREADS (`make test` sets it per worker) also sizes torch's pool for library calls in tests, by
    vimo's own rule (vimo.threads); without it torch keeps its default."""
    if os.environ.get("VIMO_THREADS"):
        from vimo.threads import configure_torch_threads

        configure_torch_threads(measure_load=False)


def pytest_collection_modifyitems(config, items):
    """Order for `make test` (pytest-xdist `--dist loadfile --no-loadscope-reorder`: each module runs whole in one
    worker, modules handed out in this order): the FIRST modules, then the rest, and last the other modules that
    use `learned_bench`, which by then is built and shared (tests/models/conftest.py). Serial runs only reorder."""
    def rank(item) -> int:
        module = item.nodeid.split("::")[0]
        if module in FIRST:
            return FIRST.index(module)
        return len(FIRST) + int("learned_bench" in getattr(item, "fixturenames", ()))

    items.sort(key=rank)  # stable


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

"""The Ray executor on a local instance with 2 workers gives the same files as the local executor."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from vimo.pipelines.samples.sources import EgoSequence, write_body_models, write_egohumans_tree, write_interx_tree
from vimo.pipelines.convert import ConvertOptions, convert
from vimo.pipelines.sources import get_source

import ray  # the "ray" extra (pip install "vimo[ray]"), installed by `make test`


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def digest(ws: Path) -> dict[str, str]:
    return {p.relative_to(ws).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((ws / "clips").rglob("*")) if p.is_file()}


def test_ray_matches_local(local_ray, tmp_path):
    models = tmp_path / "models"
    write_body_models(models, "smplx", ("male", "female"))
    ix = write_interx_tree(tmp_path / "ix", models, n=4, seed=3, write_models=False)
    (ix.root / "motions" / ix.sequences[1] / "P2.npz").write_bytes(b"")  # one bad unit, quarantined on Ray too
    eh = write_egohumans_tree(tmp_path / "eh", [EgoSequence("01_tagging", "001_tagging", duration_s=3.0)])
    interx, ego = get_source("interx"), get_source("egohumans")
    for name, make in (("interx", lambda: interx(ix.root, interx.config_class(body_models=models))),
                       ("egohumans", lambda: ego(eh.root, ego.config_class()))):
        local = convert(make(), ConvertOptions(workspace=tmp_path / f"local_{name}", workers=1))
        on_ray = convert(make(), ConvertOptions(workspace=tmp_path / f"ray_{name}", workers=2, executor="ray"))
        assert (on_ray.converted, on_ray.quarantined, on_ray.clips) == (local.converted, local.quarantined,
                                                                         local.clips)
        assert local.clips > 0
        assert digest(tmp_path / f"ray_{name}") == digest(tmp_path / f"local_{name}")
    assert on_ray.quarantined == 0 and local_ray.is_initialized()

"""Rank correlations of the reaction measures (per rated sample) and of FID (per variant) with the human
plausibility scores of a human-evaluation round, on constructed samples whose order is known."""
from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np
import pytest

from vimo.flows.human_eval import joints_path, measure_correlations


@dataclass
class Rating:
    task: str
    annotator: str
    dimension: str
    score: float


def body(at, frames: int = 20) -> np.ndarray:
    """A body collapsed to one point (every capsule a ball at `at`, largest radius 0.12 m)."""
    return np.broadcast_to(np.asarray(at, np.float32), (frames, 22, 3)).copy()


def test_correlations_of_measures_and_fid_with_plausibility(tmp_path):
    release, bench_dir = tmp_path / "release", tmp_path / "bench"
    (release / "actor_joints").mkdir(parents=True)
    np.save(release / "actor_joints/m0.npy", body((0, 1, 0)))
    with open(release / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["pair_id", "split", "video_path", "motion_path", "two_person",
                                           "actor_joints_path", "video_actor"])
        w.writeheader()
        w.writerow({"pair_id": "p0", "split": "test", "video_path": "videos/a/v0.mp4", "motion_path": "vector_263/m0.npy",
                    "two_person": True, "actor_joints_path": "actor_joints/m0.npy", "video_actor": "own"})
    # four samples of the pair: the closer the reaction to the actor, the deeper it penetrates, the lower rated
    distances = {"ground_truth": 1.0, "a": 0.3, "b": 0.15, "c": 0.0}
    plausibility = {"ground_truth": 5, "a": 4, "b": 3, "c": 1}
    tasks, ratings = {}, []
    for k, (variant, d) in enumerate(distances.items()):
        task = f"r-{k:03d}"
        tasks[task] = {"variant": variant, "video": "videos/a/v0.mp4", "motion": "vector_263/m0.npy"}
        joints = body((0, 1, d))
        path = joints_path(bench_dir, "r", task)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, joints)
        for annotator in ("x", "y"):
            ratings.append(Rating(task, annotator, "reaction_plausibility", plausibility[variant]))
            ratings.append(Rating(task, annotator, "motion_quality", 3))
    fids = {"a": 1.0, "b": 2.0, "c": 5.0}
    results = {"provenance": {"release_path": str(release)},
               "variants": {v: {"sets": {"test": {"metrics": {"fid": {"mean": f}}}}} for v, f in fids.items()}}
    out = measure_correlations(bench_dir, "r", results, tasks, ratings)
    # clearance d - 0.24 rises with the rating: rho +1; depth / contact: 3 overlapping samples and one apart
    assert out["min_distance"] == {"level": "sample", "n": 4, "rho": pytest.approx(1.0)}
    # depths 0, 0, 0.09, 0.24 m (a tie): centred ranks (-1, -1, 0.5, 1.5) against (1.5, 0.5, -0.5, -1.5)
    assert out["penetration_depth"]["rho"] == pytest.approx(-4.5 / np.sqrt(4.5 * 5.0))
    # FID of the three generated variants rises as their plausibility falls
    assert out["fid"] == {"level": "variant", "n": 3, "rho": pytest.approx(-1.0)}
    # a bench of an older release (no manifest): only FID is correlated
    results["provenance"]["release_path"] = str(tmp_path / "nowhere")
    assert set(measure_correlations(bench_dir, "r", results, tasks, ratings)) == {"fid"}

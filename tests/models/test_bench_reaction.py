"""`vimo bench` reaction measures: the learnable release given its actors (in each reactor's canonical frame) and
a manifest marking its test pairs as original pairs; the bench (checkpoints and evaluator of the learned bench)
reports the measures of the real pairs on the evaluated crops and of the generations over the replications, in
results.json, report.md and the leaderboard."""
from __future__ import annotations

import csv
import json
import math
import shutil

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from vimo.cli.bench import bench
from vimo.metrics.reaction import clip_measures
from vimo.models.report import write_leaderboard
from vimo.motion import recover_from_ric


def add_actors(release, n_train: int = 36, n_val: int = 6, n_test: int = 32, seed: int = 7) -> list[dict]:
    """Regenerate the learnable release's interactions (same seeds), write each test pair's actor in its reactor's
    canonical frame to actor_joints/ and a manifest whose test rows are original pairs; returns the rows."""
    from vimo.pipelines.canonical import reactor_frame, to_frame
    from vimo.synthetic import generate

    from .learnable import KINDS, busiest_window

    n = n_train + n_val + n_test
    seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, size=n)
    rows = []
    (release / "actor_joints").mkdir()
    for i in range(n_train + n_val, n):
        kind = KINDS[i % len(KINDS)]
        x = generate(kind, seed=int(seeds[i]))
        actor, reactor = busiest_window(x.actor, x.reactor, 44)
        actor_c = to_frame(actor, reactor_frame(reactor))[:43]
        np.save(release / "actor_joints" / f"m{i:03d}.npy", actor_c.astype(np.float32))
        rows.append({"pair_id": f"p{i:03d}", "split": "test", "video_path": f"videos/{kind}/v{i:03d}.npy",
                     "motion_path": f"vector_263/m{i:03d}.npy", "n_frames": 43, "video_actor": "own",
                     "two_person": True, "actor_joints_path": f"actor_joints/m{i:03d}.npy", "camera_path": ""})
    with open(release / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return rows


@pytest.fixture(scope="module")
def reaction_bench(learned_bench, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reaction")
    release = tmp / "vimo-learnable"
    shutil.copytree(learned_bench.release, release)
    rows = add_actors(release)
    app = typer.Typer()
    app.command()(bench)
    app.command("noop")(lambda: None)
    b1 = learned_bench.out
    r = CliRunner().invoke(app, ["bench", str(release), "--out", str(tmp / "b"), "--preset", "tiny",
                                 "--replications", "2", "--no-subsets", "--checkpoints", str(b1 / "checkpoints"),
                                 "--select-on", "none", "--evaluator", str(b1 / "evaluator/evaluator.tar"),
                                 "--no-progress"])
    assert r.exit_code == 0, r.output
    return tmp, release, rows, json.loads((tmp / "b/results.json").read_text())


def test_bench_measures_real_and_generated_reactions_of_the_original_test_pairs(reaction_bench):
    tmp, release, rows, res = reaction_bench
    reaction = res["sets"]["test"]["reaction"]
    assert reaction["pairs"] == len(rows) == res["sets"]["test"]["size"]
    # the real side, recomputed independently from the release's features and actors on the evaluated crops
    for row in rows[:3]:
        entry = reaction["per_pair"][row["pair_id"]]
        start, n = entry["start"], entry["frames"]
        joints = recover_from_ric(np.load(release / row["motion_path"])[start:start + n])
        actor = np.load(release / row["actor_joints_path"])[start:start + n]
        direct = clip_measures(joints, actor, 20.0, voxel=0.02)
        for key in ("min_distance", "contact_frames", "facing_angle", "penetration_frames"):
            assert entry["real"][key] == pytest.approx(getattr(direct, key), abs=1e-6), key
        assert entry["generated"] is not None
    per_pair = reaction["per_pair"].values()
    assert reaction["real"]["facing_angle"] == pytest.approx(np.mean([p["real"]["facing_angle"] for p in per_pair]))
    # synthetic interactions face each other: the real reactors look at their actors most of the time
    assert reaction["real"]["facing_frames"] > 0.5
    # the generated side: two replications with the protocol's CI, and distances to the real distributions
    for key in ("penetration_frames", "contact_frames", "facing_angle", "proximity_w1"):
        g = reaction["generated"][key]
        assert len(g["values"]) == 2 and all(math.isfinite(v) for v in g["values"])
        assert g["ci95"] == pytest.approx(1.96 * np.std(g["values"]) / math.sqrt(2))
    assert reaction["generated"]["proximity_w1"]["mean"] >= 0
    assert res["timing"]["reaction_measures_s"] == pytest.approx(reaction["seconds"])


def test_report_and_leaderboard_show_the_reaction_measures(reaction_bench):
    tmp, _, _, res = reaction_bench
    report = (tmp / "b/report.md").read_text()
    section = report[report.index("## Reaction measures (original test pairs)"):]
    real = res["sets"]["test"]["reaction"]["real"]["facing_angle"]
    gen = res["sets"]["test"]["reaction"]["generated"]["facing_angle"]
    assert f"| facing angle↓ | ° | {real:.3f} | {gen['mean']:.3f} ± {gen['ci95']:.3f} |" in section
    rows = write_leaderboard([tmp / "b"], tmp / "lb")
    assert rows[0]["facing_angle"] == pytest.approx(gen["mean"]) and rows[0]["facing_angle_real"] == pytest.approx(real)
    md = (tmp / "lb/leaderboard.md").read_text()
    assert "Facing angle↓ (real)" in md and f"{gen['mean']:.3f} ± {gen['ci95']:.3f} ({real:.3f})" in md


def test_a_release_without_original_pairs_has_no_reaction_section(learned_bench):
    res = learned_bench.results
    assert "reaction" not in res["sets"]["test"]
    assert "## Reaction measures" not in (learned_bench.out / "report.md").read_text()

"""`vimo bench` end to end (tiny preset with its full step budgets, CPU) on a release with structure to learn
(tests/models/learnable.py): a valid benchmark with its sanity ladder in order, reuse of its checkpoints and
evaluator, subset lists, provenance, and the leaderboard's refusal to rank incomparable or invalid results.
The same run is what tests/models/test_learning.py judges (the `learned_bench` fixture of conftest.py)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from vimo.cli.bench import bench
from vimo.cli.leaderboard import leaderboard
from vimo.errors import FormatVersionError, InputFormatError
from vimo.models.data import ReleaseFolder
from vimo.models.bench import read_subset_lists
from vimo.atomic import sha256_file
from vimo.models.report import LeaderboardMismatchError, release_checksum, write_leaderboard

from .conftest import write_tiny_release


def _app(fn):
    app = typer.Typer()
    app.command()(fn)
    app.command("noop")(lambda: None)
    return app


def _release(root):
    write_tiny_release(root, n_train=10, n_test=36)
    test = (root / "test.txt").read_text().splitlines()
    (root / "splits").mkdir()
    (root / "splits/explosion.txt").write_text("\n".join(ln for ln in test if "explosion" in ln) + "\n")
    (root / "splits/dribbling.txt").write_text("\n".join(ln.split()[1] for ln in test if "dribbling" in ln) + "\n")
    (root / "splits/train_t2.txt").write_text((root / "train.txt").read_text())
    return root


@pytest.fixture(scope="module")
def benched(learned_bench):
    return learned_bench.tmp, learned_bench.release, learned_bench.results


def test_bench_writes_results_report_plots_and_provenance(benched):
    tmp, release, res = benched
    out = tmp / "b1"
    assert res["format"] == "vimo-bench/1"
    assert set(res["sets"]) == {"test", "wave", "push"}
    n_wave = len((release / "splits/wave.txt").read_text().split())  // 2
    assert res["sets"]["test"]["size"] == 32 and res["sets"]["wave"]["size"] == n_wave > 0
    assert any("train_t2.txt" in n for n in res["sets"]["test"]["notes"])
    test = res["sets"]["test"]
    # 32 test motions <= 300: HERO's rule asks 13 pairs; MultiModality on the first 3 batches (of 8)
    assert test["diversity_times"] == 13 and test["mm_videos"] == 24
    for key in ("fid", "diversity", "diversity_real", "multimodality", "r_precision_top1", "matching_score"):
        m = test["metrics"][key]
        assert len(m["values"]) == 3 and all(math.isfinite(v) for v in m["values"])
        assert m["ci95"] == pytest.approx(1.96 * np.std(m["values"]) / math.sqrt(3))
    assert test["metrics"]["fid"]["mean"] >= 0 and test["metrics"]["multimodality"]["mean"] > 0
    assert 0 <= test["metrics"]["r_precision_top1"]["mean"] <= test["metrics"]["r_precision_top3"]["mean"] <= 1
    # the sanity ladder of every set, computed in the run, and the verdict: a model that learned, judged by an
    # evaluator that ranks real pairs above chance (tests/models/test_learning.py checks the margins)
    for name, s in res["sets"].items():
        ladder = s["sanity"]["ladder"]
        assert ladder["generation"] == s["metrics"]["fid"]["mean"], name
        assert all(math.isfinite(ladder[k]) for k in ("real_vs_real", "reconstruction", "random_codes",
                                                       "constant_codes", "random_codes_halves",
                                                       "constant_codes_halves")), name
        assert s["sanity"]["collapse"]["pairs"] == s["size"] and s["sanity"]["chance"]["pairs"] == s["size"]
    assert res["sets"]["test"]["sanity"]["chance"]["pools"] == [8]
    assert res["valid"] is True and res["invalid_reasons"] == [], res["invalid_reasons"]
    assert res["protocol"]["select_on"] == "none" and res["provenance"]["val_pairs"] == 6
    rec = res["reconstruction"]
    assert rec["mpjpe"]["mean"] > 0 and rec["mpjpe"]["frames"] > 0 and math.isfinite(rec["fid"]["mean"])

    prov = res["provenance"]
    assert prov["release_sha256"] == release_checksum(release)
    for stage, c in prov["checkpoints"].items():
        assert sha256_file(c["path"]) == c["sha256"], stage
    # --select-on none: every stage keeps its last checkpoint
    assert all(c["path"].endswith("latest.tar") for c in prov["checkpoints"].values()), prov["checkpoints"]
    assert prov["seeds"] == {"train": 3407, "eval": 10107} and prov["vimo_version"]
    ev = res["evaluator"]
    assert ev["kind"] == "vimo-contrastive" and ev["trained_on"] == prov["release_sha256"]
    assert ev["id"] == "vimo-" + sha256_file(out / "evaluator/evaluator.tar")[:16]
    report = (out / "report.md").read_text()
    assert ev["id"] in report and "| test |" in report and "RVQ-VAE" in report and "±" in report
    assert "**Valid**" in report and "INVALID" not in report and "## Sanity ladder" in report
    for png in ("fid_by_set.png", "replications.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_reuses_checkpoints_and_evaluator_deterministically(benched):
    tmp, release, first = benched
    before = sorted((tmp / "b1/video_features").rglob("*.npz"))
    assert before
    r = CliRunner().invoke(_app(bench), ["bench", str(release), "--out", str(tmp / "b2"), "--preset", "tiny",
                                         "--replications", "2", "--no-subsets", "--batch-size", "8",
                                         "--feature-cache", str(tmp / "b1/video_features"),
                                         "--checkpoints", str(tmp / "b1/checkpoints"), "--select-on", "none",
                                         "--evaluator", str(tmp / "b1/evaluator/evaluator.tar")])
    assert r.exit_code == 0, r.output
    second = json.loads((tmp / "b2/results.json").read_text())
    assert not (tmp / "b2/checkpoints").exists() and not (tmp / "b2/evaluator").exists()
    # the shared feature cache served every video: nothing written under b2, nothing new in b1's
    assert not (tmp / "b2/video_features").exists()
    assert before == sorted((tmp / "b1/video_features").rglob("*.npz"))
    assert second["evaluator"]["id"] == first["evaluator"]["id"]
    assert second["provenance"]["checkpoints"] == first["provenance"]["checkpoints"]
    assert set(second["sets"]) == {"test"}
    for key in ("fid", "diversity", "multimodality"):  # same seeds, same fixed eval set: same replications
        assert second["sets"]["test"]["metrics"][key]["values"] == \
            pytest.approx(first["sets"]["test"]["metrics"][key]["values"][:2], rel=1e-5)


def test_leaderboard_ranks_and_refuses_incomparable_results(benched, tmp_path):
    tmp, _, first = benched
    other = json.loads(json.dumps(first))
    other["provenance"]["release_name"] = "vimo-tiny-t2"
    other["sets"]["test"]["metrics"]["fid"]["mean"] = first["sets"]["test"]["metrics"]["fid"]["mean"] / 2
    other["valid"], other["invalid_reasons"] = False, ["test: generation collapsed (planted)"]
    (tmp_path / "t2").mkdir()
    (tmp_path / "t2/results.json").write_text(json.dumps(other))
    r = CliRunner().invoke(_app(leaderboard), ["leaderboard", str(tmp / "b1"), str(tmp_path / "t2"),
                                               "--out", str(tmp_path / "lb")])
    assert r.exit_code == 1 and "invalid benchmark" in str(r.exception)  # t2 is invalid: refused
    r = CliRunner().invoke(_app(leaderboard), ["leaderboard", str(tmp / "b1"), str(tmp_path / "t2"),
                                               "--out", str(tmp_path / "lb"), "--show-invalid"])
    assert r.exit_code == 0, r.output
    assert "vimo-tiny-t2 [base] (selected on none)  FID" in r.output  # the split is text, not a rich tag
    assert "INVALID: " in r.output
    csv = (tmp_path / "lb/leaderboard.csv").read_text().splitlines()
    assert csv[0].startswith("rank,") and csv[1].split(",")[1] == "vimo-tiny-t2"  # lower FID ranks first
    assert first["evaluator"]["id"] in (tmp_path / "lb/leaderboard.md").read_text()

    for name, change, match in (("ev", ("evaluator", "id", "t2m-0123"), "evaluator"),
                                ("proto", ("protocol", "replications", 5), "replications")):
        bad = json.loads(json.dumps(other))
        bad[change[0]][change[1]] = change[2]
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(bad))
        with pytest.raises(LeaderboardMismatchError, match=match):
            write_leaderboard([tmp / "b1", tmp_path / name], tmp_path / "lb2", show_invalid=True)
    (tmp_path / "old").mkdir()
    (tmp_path / "old/results.json").write_text(json.dumps({**other, "format": "vimo-bench/0"}))
    with pytest.raises(FormatVersionError):
        write_leaderboard([tmp_path / "old"], tmp_path / "lb3")
    with pytest.raises(InputFormatError, match="results.json"):
        write_leaderboard([tmp_path / "nothing"], tmp_path / "lb4")


def test_subset_lists(tmp_path):
    root = _release(tmp_path / "rel")
    rel = ReleaseFolder(root)
    subsets, notes = read_subset_lists(rel, rel.pairs("test"))
    assert set(subsets) == {"explosion", "dribbling"} and len(subsets["explosion"]) == 18
    assert sorted(subsets["explosion"] + subsets["dribbling"]) == list(range(36))
    assert len(notes) == 1 and "train_t2" in notes[0]
    (root / "splits/bad.txt").write_text("a b c\n")
    with pytest.raises(InputFormatError, match="3 fields"):
        read_subset_lists(rel, rel.pairs("test"))

"""`vimo bench --split`: HERO trained on a release's T2 / Seen-Unseen training lists and evaluated on the
split's test set (base test set for T2, the Unseen set for Seen/Unseen) with the base benchmark's evaluator;
results record the split; the leaderboard shows base and split results as rows of one table and refuses a
split result scored by another evaluator."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vimo.cli.bench import bench_app
from vimo.errors import InputFormatError
from vimo.models.bench import BenchConfig, run_bench, train_base_evaluator
from vimo.models.data import ReleaseFolder
from vimo.models.report import LeaderboardMismatchError, write_leaderboard

from .conftest import write_split_release

FAST = dict(preset="tiny", replications=2, epochs=1, evaluator_epochs=3, progress=False)


@pytest.fixture(scope="module")
def benched(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench_splits")
    release = write_split_release(tmp / "vimo-tiny", n_train=8, n_test=6)
    base = run_bench(BenchConfig(release=release, out=tmp / "base", **FAST))
    evaluator = tmp / "base/evaluator/evaluator.tar"
    r = CliRunner().invoke(bench_app, [str(release), "--split", "t2", "--out", str(tmp / "t2"), "--preset", "tiny",
                                       "--replications", "2", "--epochs", "1", "--no-progress",
                                       "--evaluator", str(evaluator)])
    assert r.exit_code == 0, (r.output, r.exception)
    t2 = json.loads((tmp / "t2/results.json").read_text())
    su = run_bench(BenchConfig(release=release, out=tmp / "su", split="seen_unseen", evaluator=evaluator, **FAST))
    return tmp, release, base, t2, su


def test_split_benchmarks_train_on_the_split_and_record_it(benched):
    tmp, release, base, t2, su = benched
    assert base["split"]["name"] == "base" and base["provenance"]["split"] == "base"
    assert t2["split"] == {"name": "t2", "train_list": "splits/t2/train.txt", "test_list": "test.txt",
                           "statistics": "splits/t2/Mean.npy"}
    assert t2["provenance"]["train_pairs"] == 16 and base["provenance"]["train_pairs"] == 8
    # T2 is tested on the base test set (and its subsets), by the base evaluator, under the same protocol
    assert t2["evaluator"]["id"] == base["evaluator"]["id"] and t2["protocol"] == base["protocol"]
    assert t2["sets"]["test"]["size"] == base["sets"]["test"]["size"] == 6 and "sub-explosion" in t2["sets"]
    assert not (tmp / "t2/evaluator").exists()
    # every stage was trained on the T2 list
    for stage in ("rvq", "mask", "res"):
        run = json.loads((tmp / "t2/checkpoints" / stage / "run.json").read_text())
        assert run["data"]["name"] == "t2" and run["config"]["split"] == "t2", stage
    assert any("splits/t2/Mean.npy" in n for n in t2["sets"]["test"]["notes"])
    report = (tmp / "t2/report.md").read_text()
    assert "Training split `t2`: trained on `splits/t2/train.txt`, tested on `test.txt`" in report
    # Seen/Unseen: trained on the Seen list, tested on the Unseen set
    unseen = ReleaseFolder(release, "seen_unseen").pairs("test")
    assert su["split"]["test_list"] == "splits/seen_unseen/test.txt" and su["sets"]["test"]["size"] == len(unseen)
    assert su["provenance"]["train_pairs"] == 4 and su["provenance"]["test_pairs"] == len(unseen)
    assert "(the Unseen set)" in (tmp / "su/report.md").read_text()


def test_leaderboard_shows_base_and_splits_in_one_table(benched, tmp_path):
    tmp, _, base, t2, _ = benched
    # base benched from Python, T2 from the command line: same evaluator and protocol, so they rank together
    rows = write_leaderboard([tmp / "base", tmp / "t2"], tmp_path / "lb")
    assert sorted(r["split"] for r in rows) == ["base", "t2"]
    assert {r["release"] for r in rows} == {"vimo-tiny"} and {r["n_test"] for r in rows} == {6}
    md = (tmp_path / "lb/leaderboard.md").read_text().splitlines()
    header = md[2]
    assert "| Split |" in header and "| Test set |" in header
    body = [ln for ln in md[4:] if ln.startswith("| ")]
    assert len(body) == 2 and {ln.split(" | ")[2] for ln in body} == {"base", "t2"}
    assert base["evaluator"]["id"] in md[0]
    csv = (tmp_path / "lb/leaderboard.csv").read_text().splitlines()
    assert csv[0].split(",")[:3] == ["rank", "release", "split"]
    # a T2 result scored by another evaluator is refused
    other = json.loads(json.dumps(t2))
    other["evaluator"]["id"] = "vimo-0123456789abcdef"
    (tmp_path / "t2_other").mkdir()
    (tmp_path / "t2_other/results.json").write_text(json.dumps(other))
    with pytest.raises(LeaderboardMismatchError, match="evaluator vimo-0123456789abcdef differs"):
        write_leaderboard([tmp / "base", tmp_path / "t2_other"], tmp_path / "lb2")


def test_split_benchmark_refusals(benched, tmp_path):
    tmp, release, *_ = benched
    with pytest.raises(InputFormatError, match="needs the base benchmark's evaluator") as err:
        run_bench(BenchConfig(release=release, out=tmp_path / "a", split="t2", **FAST))
    assert "\n" not in err.value.one_line() and "--evaluator" in err.value.one_line()
    with pytest.raises(InputFormatError, match="use one of: base, seen_unseen, t2"):
        run_bench(BenchConfig(release=release, out=tmp_path / "b", split="T2", evaluator=tmp / "base/evaluator", **FAST))
    # checkpoints trained on the base lists are not benchmarked as T2
    with pytest.raises(InputFormatError, match="trained on split 'base', the benchmark is of split 't2'"):
        run_bench(BenchConfig(release=release, out=tmp_path / "c", split="t2", checkpoints=tmp / "base/checkpoints",
                              evaluator=tmp / "base/evaluator/evaluator.tar", **FAST))
    assert not (tmp_path / "a").exists() and not (tmp_path / "c/results.json").exists()


def test_base_evaluator_for_split_benchmarks(benched, tmp_path):
    """What a demo calls before a split benchmark when it has no base benchmark: the base evaluator alone."""
    tmp, release, base, *_ = benched
    path = tmp / "base/evaluator/evaluator.tar"
    before = path.read_bytes()
    assert train_base_evaluator(BenchConfig(release=release, out=tmp / "base", split="t2", **FAST)) == path
    assert path.read_bytes() == before  # reused, not retrained
    fresh = train_base_evaluator(BenchConfig(release=release, out=tmp_path / "ev", split="t2", **FAST))
    assert fresh == tmp_path / "ev/evaluator/evaluator.tar" and fresh.is_file()
    from vimo.models.evaluator import load_evaluator

    ev = load_evaluator(fresh)
    assert ev.describe()["trained_on"] == base["provenance"]["release_sha256"]

"""Benchmark validity: the sanity ladder (real vs real, reconstruction, generation, random / constant codes),
collapse and chance rules, the leaderboard's refusal of invalid results, and checkpoint selection on the
validation split (never on test unless asked: `--select-on test`, labelled)."""
from __future__ import annotations

import json
import math
from itertools import product

import numpy as np
import pytest
import torch
import typer
from scipy.stats import binomtest
from typer.testing import CliRunner

from vimo.cli.leaderboard import leaderboard
from vimo.errors import InputFormatError
from vimo.models.bench import Bench, BenchConfig, ValidationSplitError, chance_test, run_bench
from vimo.models.data import ReleaseFolder
from vimo.models.report import (
    MAX_CHANCE_P_VALUE, InvalidResultsError, LeaderboardMismatchError, validity_reasons, write_leaderboard,
)

from .conftest import write_tiny_release

#: min_val_pairs 2: these tiny releases select on 3 val pairs (the default 20 would keep the last epochs)
FAST = dict(preset="tiny", replications=2, epochs=1, evaluator_epochs=3, progress=False, min_val_pairs=2)


def _app(fn):
    app = typer.Typer()
    app.command()(fn)
    app.command("noop")(lambda: None)
    return app


def _set(size=40, fid=0.5, ladder=None, p_value=1e-6, distinct=40, ratio=0.9):
    ladder = {"real_vs_real": 0.2, "reconstruction": 0.1, "generation": fid, "random_codes": 9.0,
              "constant_codes": 12.0, "halves": [size // 2] * 2, "notes": [], **(ladder or {})}
    metric = {"mean": fid, "ci95": 0.01, "n": 2, "values": [fid, fid]}
    return {"size": size, "metrics": {"fid": metric, "diversity": {**metric, "mean": 5.0},
                                      "diversity_real": {**metric, "mean": 5.5}},
            "notes": [], "sanity": {"ladder": ladder,
                                    "collapse": {"distinct_base_sequences": distinct, "pairs": size,
                                                 "diversity_ratio": ratio},
                                    "chance": {"hits": 20, "pairs": size, "pools": [32, 8], "expected": 1.25,
                                               "p_value": p_value}}}


def _results(name="rel", select_on="val", **set_kw):
    return {"format": "vimo-bench/1", "evaluator": {"id": "vimo-0123", "kind": "vimo-contrastive"},
            "protocol": {"preset": "tiny", "replications": 2, "select_on": select_on},
            "provenance": {"release_name": name, "release_sha256": "ab" * 32, "train_pairs": 10},
            "sets": {"test": _set(**set_kw)}, "reconstruction": {"fid": {"mean": 0.1, "ci95": 0, "values": [0.1]}},
            "valid": True, "invalid_reasons": []}


def _write(folder, results):
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(results))
    return folder


# --- rules on results dicts -------------------------------------------------------------------------------------


def test_an_ordered_ladder_is_valid_and_every_broken_rule_says_why():
    assert validity_reasons(_results()) == []
    assert validity_reasons(_results(fid=0.09)) == []  # below the reconstruction (0.1) within the slack: noise
    cases = {
        "reconstruction FID 0.1 > 1.25 x generation FID 0.05": dict(fid=0.05),
        "generation FID 10 is not below the random-code 9": dict(fid=10.0),
        "real-vs-real FID 9.5 is not below the random-code": dict(ladder={"real_vs_real": 9.5}),
        "ladder rung random_codes is not finite": dict(ladder={"random_codes": float("nan")}),
        "generation collapsed: 3 distinct base-token sequences for 40 pairs": dict(distinct=3),
        "generation collapsed: Diversity 0.1 x": dict(ratio=0.1),
        "no better than chance": dict(p_value=0.2),
        "fewer than 8: the sanity ladder cannot be checked": dict(size=6, distinct=6),
        "metric fid.mean is not finite": dict(fid=float("inf")),
    }
    for expected, kw in cases.items():
        reasons = validity_reasons(_results(**kw))
        assert reasons and expected in reasons[0], (expected, reasons)
        assert all("\n" not in r for r in reasons)
    # real vs real above reconstruction is fine (paired samples sit below the floor of independent halves)
    assert validity_reasons(_results(ladder={"real_vs_real": 0.4})) == []
    # real vs real (two halves) is judged against the baselines of the same halves where the run recorded them:
    # above the whole set's random codes but below the halves' is in order (FID's bias grows as sets shrink) ...
    matched = {"real_vs_real": 9.5, "random_codes_halves": 11.0, "constant_codes_halves": 14.0}
    assert validity_reasons(_results(ladder=matched)) == []
    # ... and above the halves' baselines it is not
    reasons = validity_reasons(_results(ladder={**matched, "random_codes_halves": 9.0}))
    assert reasons and "real-vs-real FID 9.5 is not below the random-code 9 and constant-code 14 baselines of the " \
        "same halves" in reasons[0], reasons
    reasons = validity_reasons(_results(ladder={**matched, "constant_codes_halves": float("nan")}))
    assert reasons and "constant_codes_halves is not finite" in reasons[0], reasons
    # the chance rule is the vimo evaluator's (it has a video branch); a T2M evaluator has none
    t2m = _results(p_value=0.9)
    t2m["evaluator"]["kind"] = "t2m"
    assert validity_reasons(t2m) == []
    # results from before the ladder are invalid
    old = _results()
    del old["sets"]["test"]["sanity"]
    assert "no sanity ladder" in validity_reasons(old)[0]


def test_leaderboard_refuses_an_out_of_order_ladder_unless_shown_invalid(tmp_path):
    good = _write(tmp_path / "good", _results("good", fid=0.5))
    # recorded as valid (stale or edited), but generation is worse than decoded random codes
    bad = _write(tmp_path / "bad", _results("bad", fid=0.3, ladder={"random_codes": 0.25}))
    run = CliRunner().invoke(_app(leaderboard), ["leaderboard", str(good), str(bad), "--out", str(tmp_path / "lb")])
    assert run.exit_code == 1 and isinstance(run.exception, InvalidResultsError)
    line = run.exception.one_line()
    assert "\n" not in line and str(bad / "results.json") in line and "not below the random-code" in line
    assert not (tmp_path / "lb").exists()
    run = CliRunner().invoke(_app(leaderboard), ["leaderboard", str(good), str(bad), "--out", str(tmp_path / "lb"),
                                                 "--show-invalid"])
    assert run.exit_code == 0, run.output
    assert "bad [base] (selected on val)  FID 0.300 ± 0.010  INVALID: set test: generation FID" in run.output
    md = (tmp_path / "lb/leaderboard.md").read_text()
    rows = [ln for ln in md.splitlines() if ln.startswith("| 1 ") or ln.startswith("| 2 ")]
    assert "| bad | base | val | INVALID |" in rows[0] and "| good | base | val | yes |" in rows[1]
    assert "| Selected on | Valid |" in md
    csv = (tmp_path / "lb/leaderboard.csv").read_text()
    assert "select_on" in csv.splitlines()[0] and "valid" in csv.splitlines()[0]
    # the library call refuses when asked to
    with pytest.raises(InvalidResultsError, match="bad/results.json"):
        write_leaderboard([good, bad], tmp_path / "lb2", show_invalid=False)


def test_leaderboard_never_ranks_different_selection_sets_together(tmp_path):
    val = _write(tmp_path / "val", _results("a", select_on="val"))
    test = _write(tmp_path / "test", _results("b", select_on="test"))
    with pytest.raises(LeaderboardMismatchError, match="checkpoints selected on test, those of .* on val"):
        write_leaderboard([val, test], tmp_path / "lb", show_invalid=False)
    rows = write_leaderboard([test], tmp_path / "lb", show_invalid=False)
    assert rows[0]["select_on"] == "test" and rows[0]["valid"]
    assert "official HERO: selected on the test split" in (tmp_path / "lb/leaderboard.md").read_text()


def test_chance_test_of_the_real_pairs():
    rng = np.random.default_rng(0)
    video = rng.standard_normal((40, 8))
    # an evaluator that matches: each motion embedding near its video's
    p = chance_test(video, video + 0.1 * rng.standard_normal((40, 8)), 32)
    assert p["hits"] == 40 and p["pools"] == [8, 32] and p["p_value"] < 1e-20
    # at chance: unrelated embeddings; and a collapsed evaluator (every embedding equal: ties are misses)
    at_chance = chance_test(video, rng.standard_normal((40, 8)), 32)
    assert at_chance["p_value"] >= MAX_CHANCE_P_VALUE and at_chance["expected"] == pytest.approx(1 + 8 / 8)
    flat = chance_test(video, np.ones((40, 8)), 32)
    assert flat["hits"] == 0 and flat["p_value"] == 1.0
    # equal pools: scipy's binomial test; mixed pools: the exact Poisson-binomial tail (enumerated here)
    q, t = rng.standard_normal((30, 4)), rng.standard_normal((30, 4))
    eq = chance_test(q, t, 10)
    assert eq["p_value"] == pytest.approx(binomtest(eq["hits"], 30, 0.1, alternative="greater").pvalue)
    mixed = chance_test(video[:5], video[:5] + 0.01, 3)  # pools 3 + 2, all hits
    probs = [1 / 3] * 3 + [1 / 2] * 2
    tail = sum(np.prod([pr if h else 1 - pr for pr, h in zip(probs, hs)])
               for hs in product((0, 1), repeat=5) if sum(hs) >= mixed["hits"])
    assert mixed["hits"] == 5 and mixed["p_value"] == pytest.approx(tail)


def test_small_subsets_are_shown_but_checked_only_from_min_checked_subset_pairs():
    """Halves of 3-4 motions give a real-vs-real FID that says nothing: a sub-category below
    MIN_CHECKED_SUBSET_PAIRS is recorded, not checked; from it on, the same rule invalidates the benchmark."""
    from vimo.models.report import MIN_CHECKED_PAIRS, MIN_CHECKED_SUBSET_PAIRS

    noisy = {"real_vs_real": 9.5}  # above both baselines
    for size, invalid in ((MIN_CHECKED_PAIRS, False), (MIN_CHECKED_SUBSET_PAIRS - 1, False),
                          (MIN_CHECKED_SUBSET_PAIRS, True)):
        res = _results()
        res["sets"]["sub-hugging"] = _set(size=size, ladder=noisy)
        reasons = validity_reasons(res)
        assert bool(reasons) == invalid, (size, reasons)
        assert all("set sub-hugging: real-vs-real FID 9.5" in r for r in reasons)
    # the main test set is checked from MIN_CHECKED_PAIRS
    assert any("set test: real-vs-real" in r for r in validity_reasons(_results(size=MIN_CHECKED_PAIRS, ladder=noisy)))


# --- real runs ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny benchmark selecting on val, with a record of the motions each stage's in-training FID embeds (the
    selection hook materialises its set's crops when train() asks for it)."""
    import vimo.models.bench as bench_mod

    tmp = tmp_path_factory.mktemp("validity")
    release = write_tiny_release(tmp / "rel", n_train=10, n_test=12, n_val=3)
    evaluated: list[str] = []
    seen: dict[str, set[str]] = {}
    hook, tensors = bench_mod.Bench.selection_hook, bench_mod.Bench.batch_tensors

    def spy_hook(self, stage, *args, **kwargs):
        start = len(evaluated)
        out = hook(self, stage, *args, **kwargs)
        seen[stage] = set(evaluated[start:])
        return out

    def spy_tensors(self, s, batch):
        evaluated.extend(s.pairs[c.index][1] for c in batch)
        return tensors(self, s, batch)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bench_mod.Bench, "selection_hook", spy_hook)
        mp.setattr(bench_mod.Bench, "batch_tensors", spy_tensors)
        res = run_bench(BenchConfig(release=release, out=tmp / "b", **FAST))
    return tmp, release, res, seen


def test_checkpoints_are_selected_on_the_val_pairs(run):
    tmp, release, res, seen = run
    rel = ReleaseFolder(release)
    val, test = {m for _, m in rel.pairs("val")}, {m for _, m in rel.pairs("test")}
    # every stage's in-training FID embeds the val motions, and no test motion
    assert set(seen) == {"rvq", "mask", "res"}
    assert all(motions == val and not motions & test for motions in seen.values())
    for stage in ("rvq", "mask", "res"):
        record = json.loads((tmp / "b/checkpoints" / stage / "selection.json").read_text())
        assert record == {"select_on": "val", "list": "val.txt", "pairs": 3}
    assert res["protocol"]["select_on"] == "val" and res["provenance"]["checkpoints"]["mask"]["path"].endswith(
        "net_best_fid.tar")
    assert "Checkpoints selected on: val." in (tmp / "b/report.md").read_text()


def test_every_bench_carries_a_ladder_and_a_verdict(run):
    tmp, _, res, *_ = run
    sanity = res["sets"]["test"]["sanity"]
    ladder = sanity["ladder"]
    for rung in ("real_vs_real", "reconstruction", "generation", "random_codes", "constant_codes"):
        assert math.isfinite(ladder[rung]) and ladder[rung] >= 0, rung
    assert ladder["halves"] == [6, 6] and ladder["generation"] == res["sets"]["test"]["metrics"]["fid"]["mean"]
    assert sanity["collapse"]["pairs"] == 12 and 1 <= sanity["collapse"]["distinct_base_sequences"] <= 12
    assert 0 <= sanity["chance"]["p_value"] <= 1 and sanity["chance"]["pools"] == [12]
    assert res["valid"] == (res["invalid_reasons"] == []) and res["invalid_reasons"] == validity_reasons(res)
    assert res["validity_rules"]["max_chance_p_value"] == MAX_CHANCE_P_VALUE
    report = (tmp / "b/report.md").read_text()
    assert "## Sanity ladder" in report and "| hero | test | 12 |" in report and "Validity rules" in report


def test_a_collapsed_generator_is_marked_invalid(run, tmp_path, monkeypatch):
    """Every generated code 0 (a constant motion at each length): the same run_bench marks the bench invalid."""
    from vimo.models import transformers

    tmp, release, first, *_ = run

    def base(self, video, m_lens, **kw):
        n = int(m_lens.max())
        return torch.where(torch.arange(n)[None] < m_lens[:, None], 0, -1)

    def layers(self, base_ids, video, m_lens, **kw):
        q = self.cfg.num_quantizers
        return torch.where(base_ids[..., None] >= 0, 0, -1).expand(-1, -1, q).clone()

    monkeypatch.setattr(transformers.MaskTransformer, "generate", base)
    monkeypatch.setattr(transformers.ResidualTransformer, "generate", layers)
    res = run_bench(BenchConfig(release=release, out=tmp_path / "c", checkpoints=tmp / "b/checkpoints",
                                evaluator=tmp / "b/evaluator/evaluator.tar", **FAST))
    assert res["sets"]["test"]["sanity"]["collapse"]["distinct_base_sequences"] == 1
    assert res["valid"] is False
    assert any("generation collapsed" in r and "distinct base-token sequences for 12 pairs" in r
               for r in res["invalid_reasons"])
    # the constant-code baseline is what this generator makes
    ladder = res["sets"]["test"]["sanity"]["ladder"]
    assert ladder["generation"] == pytest.approx(ladder["constant_codes"], rel=1e-4)


def test_a_release_without_val_fails_in_one_line_and_test_selection_is_labelled(run, tmp_path):
    tmp, _, val_res, *_ = run
    release = write_tiny_release(tmp_path / "noval", n_train=10, n_test=12, n_val=0)
    with pytest.raises(ValidationSplitError) as err:
        run_bench(BenchConfig(release=release, out=tmp_path / "a", **FAST))
    line = err.value.one_line()
    assert "\n" not in line and "has no val.txt" in line and "--select-on test" in line and "--select-on none" in line
    assert not (tmp_path / "a").exists()  # refused before any training
    # the official selection, explicitly: trained, selected on test, labelled
    res = run_bench(BenchConfig(release=release, out=tmp_path / "t", select_on="test", **FAST))
    assert res["protocol"]["select_on"] == "test"
    assert json.loads((tmp_path / "t/checkpoints/mask/selection.json").read_text())["select_on"] == "test"
    assert "official HERO: selected on the test split" in (tmp_path / "t/report.md").read_text()
    # given checkpoints declared with another selection set than they record are refused
    with pytest.raises(InputFormatError, match="was selected on 'test', the benchmark declares 'val'"):
        run_bench(BenchConfig(release=release, out=tmp_path / "u", checkpoints=tmp_path / "t/checkpoints",
                              evaluator=tmp_path / "t/evaluator/evaluator.tar", **FAST))
    with pytest.raises(InputFormatError, match="unknown selection set"):
        Bench(BenchConfig(release=release, out=tmp_path / "v", select_on="train", **FAST))


def test_a_val_set_below_min_val_pairs_keeps_the_last_epochs_and_says_so(run, tmp_path):
    _, release, *_ = run  # 3 val pairs
    fast = {**FAST, "min_val_pairs": 4}
    bench = Bench(BenchConfig(release=release, out=tmp_path / "b", **fast), will_train=True)
    assert bench.select_on == "none" and bench.selection_record() == {"select_on": "none"}
    assert any("3 usable val pairs, fewer than min_val_pairs 4" in n and "keeps its last epoch" in n
               for n in bench.val_notes)
    assert Bench(BenchConfig(release=release, out=tmp_path / "c", **{**fast, "min_val_pairs": 3})).select_on == "val"


def test_in_training_fid_depends_on_the_weights_alone(run, tmp_path):
    """The selection FID draws from one seed on a forked RNG: the same weights score the same whatever the
    training stream's state, and the training stream is not consumed."""
    from vimo.models.evaluator import load_evaluator
    from vimo.models.variants import load_variant, variant_runs

    tmp, release, *_ = run
    bench = Bench(BenchConfig(release=release, out=tmp_path / "b", **FAST), will_train=True)
    ev = load_evaluator(tmp / "b/evaluator/evaluator.tar")
    p = bench.p
    runs = variant_runs(tmp / "b/checkpoints", p, p)
    hero = load_variant(runs, p, "cpu")
    evaluate = bench.selection_hook("mask", ev, runs.rvq)
    scores = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        scores.append(evaluate(hero.mask, 0)["fid"])
        after = torch.rand(3)
        torch.manual_seed(seed)
        assert torch.equal(after, torch.rand(3))  # the evaluation drew nothing from the caller's stream
    assert math.isfinite(scores[0]) and scores[0] == scores[1]

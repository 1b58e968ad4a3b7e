"""Motions longer than the preset's max_motion_length (vimo releases: clips of up to 200 frames; tiny preset: 40):
seeded random training windows, the first max_motion_length frames in evaluation, noted in the benchmark; the
official crops of shorter motions unchanged; too-short motions still refused in one line."""
from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from vimo.cli.bench import bench
from vimo.errors import InputFormatError, MotionError
from vimo.models.configs import preset
from vimo.models.data import Crop, ReactionPlan, crop_length, padded_motion
from vimo.models.evaluator import EvaluatorTraining, tiny_evaluator_config, train_vimo_evaluator
from vimo.models.generate import generate_reactions, load_hero, token_length
from vimo.models.train import TrainConfig, train


def _official_plan(lengths, batch_size, seed, epoch=0, unit=4):
    """The official loader's crops written out (coin 1/3 'double', offset uniform), the reference."""
    rng = np.random.default_rng([seed, epoch])
    crops = []
    for i in rng.permutation(len(lengths)):
        n = lengths[i]
        length = crop_length(n, unit, bool(rng.integers(3) == 2))
        crops.append((int(i), int(rng.integers(0, n - length + 1)), length))
    return [crops[k:k + batch_size] for k in range(0, len(crops), batch_size)]


def _tuples(plan):
    return [[(c.index, c.start, c.length) for c in b] for b in plan]


def test_motions_up_to_max_length_keep_the_official_crops():
    lengths = [40, 37, 26, 33, 29, 200, 196, 81]
    for longer in ("window", "head"):
        plan = ReactionPlan(lengths, 3, seed=7, max_length=200, longer=longer)  # hero: nothing longer
        assert plan.longer_count == 0 and plan.longer_note("test") is None
        assert _tuples(plan.epoch(0)) == _official_plan(lengths, 3, 7)
        assert plan.epoch(0) is plan.epoch(9)  # frozen quirk untouched
    # mixed list under tiny: every pair <= 40 frames gets exactly the official crop drawn for the whole list
    mixed = [40, 120, 26, 33, 79, 29]
    official = {c[0]: c for b in _official_plan(mixed, 2, 3) for c in b}
    for epoch in (0, 4):
        got = {c.index: (c.index, c.start, c.length) for b in ReactionPlan(mixed, 2, seed=3, max_length=40)
               .epoch(epoch) for c in b}
        assert {i: got[i] for i in (0, 2, 3, 5)} == {i: official[i] for i in (0, 2, 3, 5)}


def test_training_windows_are_seeded_new_each_epoch_and_inside_the_official_crop():
    lengths = [120, 36, 79, 200, 44]
    plan = ReactionPlan(lengths, 2, seed=11, max_length=40)
    assert plan.longer_count == 4
    assert "4 of 5 motions longer than max_motion_length 40 were cropped to 40 frames" in plan.longer_note("train")
    official = {c[0]: c for b in _official_plan(lengths, 2, 11) for c in b}
    starts = []
    for epoch in range(4):
        crops = {c.index: c for b in plan.epoch(epoch) for c in b}
        assert [c.index for b in plan.epoch(epoch) for c in b] == [c[0] for b in _official_plan(lengths, 2, 11)
                                                                       for c in b]  # frozen batch order kept
        for i, n in enumerate(lengths):
            c, (_, o_start, o_len) = crops[i], official[i]
            if o_len > 40:  # a window of 40 frames inside the official crop
                assert c.length == 40 and o_start <= c.start and c.start + 40 <= o_start + o_len
            else:
                assert (c.start, c.length) == (o_start, o_len)
        starts.append(tuple(crops[i].start for i in (0, 2, 3)))
    assert len(set(starts)) > 1  # windows differ across epochs (frozen plan or not)
    again = ReactionPlan(lengths, 2, seed=11, max_length=40)
    assert _tuples(again.epoch(2)) == _tuples(plan.epoch(2))  # reproducible with the same seed
    other = ReactionPlan(lengths, 2, seed=12, max_length=40)
    assert any(_tuples(other.epoch(e)) != _tuples(plan.epoch(e)) for e in range(3))
    fresh = ReactionPlan(lengths, 2, seed=11, max_length=40, frozen=False)
    assert _tuples(fresh.epoch(1)) != _tuples(fresh.epoch(2))
    assert all(c.length <= 40 for e in range(3) for b in fresh.epoch(e) for c in b)


def test_evaluation_uses_the_first_max_length_frames_fixed_across_epochs():
    lengths = [120, 36, 79, 200]
    plan = ReactionPlan(lengths, 4, seed=10107, max_length=40, longer="head")
    assert plan.epoch(0) is plan.epoch(5)
    ref = _official_plan([min(n, 40) for n in lengths], 4, 10107)
    assert _tuples(plan.epoch(0)) == ref
    assert all(c.start + c.length <= 40 for b in plan.epoch(0) for c in b)
    assert "first max_motion_length frames" in plan.longer_note("test")


def test_too_short_motions_and_bad_rules_stay_one_line_errors():
    with pytest.raises(MotionError) as exc:
        ReactionPlan([40, 7], 2, seed=0, max_length=40)
    assert "pair 1 has 7 frames, fewer than 8" in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(InputFormatError, match="unknown rule"):
        ReactionPlan([40], 2, seed=0, max_length=40, longer="truncate")
    with pytest.raises(MotionError, match="does not fit"):
        padded_motion(np.zeros((80, 263), np.float32), Crop(0, 0, 80), np.zeros(263), np.ones(263), 40)


def test_generation_length_is_capped_at_the_presets_max_length():
    assert token_length(88, 4, 40) == 10 and token_length(88) == 22 and token_length(250) == 50


def test_evaluator_trains_on_long_motions():
    rng = np.random.default_rng(0)
    motions = [rng.standard_normal((n, 263)).astype(np.float32) for n in (120, 36, 79, 64)]
    videos = [rng.standard_normal((16, 32)).astype(np.float32) for _ in motions]
    ev = train_vimo_evaluator(motions, videos, ["a", "b", "c", "d"], np.zeros(263, np.float32),
                              np.ones(263, np.float32), tiny_evaluator_config(),
                              EvaluatorTraining(epochs=2, batch_size=4, max_length=40), "pixel")
    assert ev.metadata["longer_than_max_length"] == 3 and len(ev.metadata["loss_history"]) == 2


def test_long_release_trains_and_generates_with_the_tiny_preset(long_release, tmp_path):
    kw = dict(release=long_release, preset="tiny", progress=False, epochs=1)
    train(TrainConfig(stage="rvq", out=tmp_path / "ck/rvq", **kw))
    for stage in ("mask", "res"):
        summary = train(TrainConfig(stage=stage, out=tmp_path / f"ck/{stage}", rvq_dir=tmp_path / "ck/rvq", **kw))
        assert summary["finished"] and np.isfinite(summary["last"]["loss"])
        assert summary["notes"] == ["training pairs: 8 of 8 motions longer than max_motion_length 40 were cropped to "
                                    "40 frames (a seeded random window of max_motion_length frames, new every epoch)"]
        assert json.loads((tmp_path / f"ck/{stage}/run.json").read_text())["notes"] == summary["notes"]
    hero = load_hero(tmp_path / "ck", "tiny")
    feats = np.random.default_rng(0).standard_normal((16, preset("tiny").transformer.video_dim)).astype(np.float32)
    features, joints = generate_reactions(hero, feats, frames=88)
    assert features.shape == (1, 40, 263) and joints.shape == (1, 40, 22, 3)


def test_long_release_benches_with_the_crop_noted(long_release, tmp_path):
    app = typer.Typer()
    app.command()(bench)
    app.command("noop")(lambda: None)
    out = tmp_path / "b"
    r = CliRunner().invoke(app, ["bench", str(long_release), "--out", str(out), "--preset", "tiny", "--epochs", "1",
                                 "--replications", "2", "--batch-size", "4", "--no-progress"])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "results.json").read_text())
    assert res["provenance"]["longer_than_max_motion_length"] == {"train": 8, "test": 6}
    assert res["protocol"]["max_motion_length"] == 40 and "first max_motion_length" in res["protocol"]["longer_motions"]
    notes = res["sets"]["test"]["notes"]
    assert ("test: 6 of 6 motions longer than max_motion_length 40 were cropped to 40 frames (the first "
            "max_motion_length frames)") in notes
    assert any(n.startswith("training: 8 of 8 training motions longer than") and "vimo evaluator" in n for n in notes)
    assert any("reconstruction: 6 of 6 motions longer" in n for n in res["reconstruction"]["notes"])
    assert res["sets"]["test"]["size"] == 6 and res["reconstruction"]["size"] == 6
    for key in ("fid", "diversity", "multimodality"):
        assert np.isfinite(res["sets"]["test"]["metrics"][key]["mean"])
    report = (out / "report.md").read_text()
    assert "test: 6 of 6 motions longer than max_motion_length 40 were cropped to 40 frames" in report
    assert "reconstruction: 6 of 6 motions longer" in report

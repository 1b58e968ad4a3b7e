"""Smoke-training of every stage with the tiny preset, resume after a stop, recipe and data quirks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vimo.errors import InputFormatError, MotionError, PathEscapeError
from vimo.models.checkpoints import CheckpointError
from vimo.models.configs import preset
from vimo.models.data import MotionWindows, ReactionPlan, ReleaseFolder, crop_length
from vimo.models.train import TrainConfig, lr_schedule, train


def _cfg(stage, release, out, **kw):
    kw.setdefault("epochs", 2)  # the tiny recipes' epochs, without their min_steps budgets (a fast test)
    return TrainConfig(stage=stage, release=release, out=out, preset="tiny", progress=False, save_every=3, **kw)


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)


def test_all_stages_train_and_resume_bit_exactly(tiny_release, tmp_path):
    # uninterrupted RVQ run
    full = train(_cfg("rvq", tiny_release, tmp_path / "rvq_full"))
    assert full["finished"] and full["steps"] > 5
    # the same run stopped after 5 steps (as if killed after its last save), then resumed
    part = train(_cfg("rvq", tiny_release, tmp_path / "rvq", max_steps=5))
    assert part["steps"] == 5 and not part["finished"]
    resumed = train(_cfg("rvq", tiny_release, tmp_path / "rvq"))
    assert resumed["steps"] == full["steps"]
    a, b = _weights(tmp_path / "rvq_full/model/latest.tar"), _weights(tmp_path / "rvq/model/latest.tar")
    for k in a["vq_model"]:
        assert torch.equal(a["vq_model"][k], b["vq_model"][k]), k
    assert [r["loss"] for r in a["vimo"]["metrics"]] == [r["loss"] for r in b["vimo"]["metrics"]]
    assert set(a) >= {"vq_model", "opt_vq_model", "scheduler", "ep", "total_it"}

    # RVQ meta: feat_bias applied twice to root and foot-contact std (official result), others untouched
    std = np.load(tiny_release / "Std.npy")
    meta_std = np.load(tmp_path / "rvq/meta/std.npy")
    assert np.allclose(meta_std[:4], std[:4] / 25) and np.allclose(meta_std[259:], std[259:] / 25)
    assert np.allclose(meta_std[4:259], std[4:259])
    assert (tmp_path / "rvq/opt.txt").read_text().startswith("------------ Options")
    assert (tmp_path / "rvq/metrics.csv").read_text().count("\n") == full["steps"] + 1

    for stage in ("mask", "res"):
        kw = dict(rvq_dir=tmp_path / "rvq", epochs=3, batch_size=4)  # 2 steps per epoch: resume mid-epoch
        ref = train(_cfg(stage, tiny_release, tmp_path / f"{stage}_full", **kw))
        train(_cfg(stage, tiny_release, tmp_path / stage, max_steps=2, **kw))
        res = train(_cfg(stage, tiny_release, tmp_path / stage, **kw))
        assert res["steps"] == ref["steps"] == 6
        key = {"mask": "t2m_transformer", "res": "res_transformer"}[stage]
        a = _weights(tmp_path / f"{stage}_full/model/latest.tar")
        b = _weights(tmp_path / f"{stage}/model/latest.tar")
        for k in a[key]:
            assert torch.equal(a[key][k], b[key][k]), (stage, k)
        assert np.isfinite([r["loss"] for r in b["vimo"]["metrics"]]).all()
        # the per-video feature cache was filled once per video
        assert len(list((tmp_path / stage / "video_features").rglob("*.npz"))) == 6


def test_warm_up_and_milestones_follow_the_official_recipe():
    hero = preset("hero")
    rvq = lr_schedule(hero.rvq_recipe, 3300, scheduler_from_warm_up=True)
    assert rvq[0] == pytest.approx(2e-4 * 2 / 21) and rvq[18] == pytest.approx(2e-4 * 20 / 21)
    assert rvq[19] == pytest.approx(2e-4 * 20 / 21)  # plateau: the last warm-up value
    # the scheduler is first stepped after iteration 20, so milestone 1600 first acts at iteration 1620
    assert rvq[1618] == pytest.approx(2e-4 * 20 / 21)  # iteration 1619
    assert rvq[1619] == pytest.approx(2e-4 * 20 / 21 * 0.05)  # iteration 1620
    assert rvq[3219] == pytest.approx(2e-4 * 20 / 21 * 0.05 ** 2)
    trans = lr_schedule(hero.mask_recipe, 6002, scheduler_from_warm_up=False)
    assert trans[248] == pytest.approx(2e-4 * 250 / 251) and trans[5999] == pytest.approx(2e-4 * 250 / 251)
    assert trans[6000] == pytest.approx(2e-4 * 250 / 251 * 0.1)  # stepped every iteration incl. warm-up


def test_training_uses_that_schedule(tiny_release, tmp_path):
    out = train(_cfg("rvq", tiny_release, tmp_path / "rvq", epochs=1))
    rows = _weights(tmp_path / "rvq/model/latest.tar")["vimo"]["metrics"]
    expect = lr_schedule(preset("tiny").rvq_recipe, out["steps"], scheduler_from_warm_up=True)
    assert [r["lr"] for r in rows] == pytest.approx(expect)


def test_window_index_quirk():
    motions = [np.zeros((22, 263), np.float32), np.ones((21, 263), np.float32)]
    w = MotionWindows(motions, 20, np.zeros(263, np.float32), np.ones(263, np.float32))
    assert len(w) == 5  # 3 + 2 windows
    assert [w.locate(i) for i in range(5)] == [(0, 0), (0, 0), (0, 1), (0, 2), (1, 0)]


def test_frozen_plan_and_resampling():
    lengths = [40, 37, 26, 33, 29]
    frozen = ReactionPlan(lengths, 2, seed=1, max_length=40)
    assert frozen.epoch(0) is frozen.epoch(7) and len(frozen.epoch(0)) == 3  # last partial batch kept
    fresh = ReactionPlan(lengths, 2, seed=1, max_length=40, frozen=False)
    assert fresh.epoch(0) != fresh.epoch(1)
    for batch in fresh.epoch(3):
        for c in batch:
            assert c.length % 4 == 0 and c.length in (crop_length(lengths[c.index], 4, False),
                                                      crop_length(lengths[c.index], 4, True))
            assert 0 <= c.start <= lengths[c.index] - c.length
    with pytest.raises(MotionError):
        ReactionPlan([7], 2, seed=0, max_length=40)
    # longer than max_motion_length: a window of max_motion_length frames (test_long_motions.py), no error
    assert [c.length for b in ReactionPlan([120], 2, seed=0, max_length=40).epoch(0) for c in b] == [40]


def test_relative_release_root(tiny_release, monkeypatch):
    monkeypatch.chdir(tiny_release.parent)
    assert ReleaseFolder("release").motion("vector_263/m002.npy").shape[1] == 263


def test_bad_release_inputs(tiny_release, tmp_path):
    rel = ReleaseFolder(tiny_release)
    bad = np.load(tiny_release / "vector_263/m001.npy")
    bad[3, 7] = np.nan
    np.save(tiny_release / "vector_263/m001.npy", bad)
    with pytest.raises(MotionError, match="m001.npy"):
        rel.motion("vector_263/m001.npy")
    with pytest.raises(PathEscapeError):
        rel.motion("../outside.npy")
    (tiny_release / "Mean.npy").unlink()
    with pytest.raises(InputFormatError, match="Mean.npy"):
        train(_cfg("rvq", tiny_release, tmp_path / "x"))
    with pytest.raises(InputFormatError, match="--rvq"):
        train(_cfg("mask", tiny_release, tmp_path / "y"))


def test_fine_tune_from_checkpoint_reinitialises_or_keeps_codebooks(tiny_release, tmp_path):
    train(_cfg("rvq", tiny_release, tmp_path / "src", max_steps=2))
    src = tmp_path / "src/model/latest.tar"
    loaded = _weights(src)["vq_model"]["quantizer.layers.0.codebook"]
    train(_cfg("rvq", tiny_release, tmp_path / "reinit", init_from=src, max_steps=1))
    train(_cfg("rvq", tiny_release, tmp_path / "keep", init_from=src, keep_codebooks=True, max_steps=1))
    reinit = _weights(tmp_path / "reinit/model/latest.tar")["vq_model"]["quantizer.layers.0.codebook"]
    keep = _weights(tmp_path / "keep/model/latest.tar")["vq_model"]["quantizer.layers.0.codebook"]
    unchanged = lambda cb: int(((cb - loaded).abs().amax(1) < 1e-6).sum())  # noqa: E731
    moved = lambda cb: float((cb - loaded).norm(dim=1).max() / loaded.norm(dim=1).mean())  # noqa: E731
    # re-initialised: every code replaced from the first batch; kept: codes the step did not draw stay exactly, the
    # drawn ones move by one EMA update at the seeded count (1 %-ish), none is replaced
    assert unchanged(reinit) == 0 and moved(reinit) > 0.5
    assert unchanged(keep) >= 1 and moved(keep) < 0.1


KILLER = """
import os, signal, sys
import torch
torch.set_num_threads(int(sys.argv[3]))  # the parent's count: float sums depend on it, and the test compares bits
from vimo.models.train import TrainConfig, train
cfg = TrainConfig(stage="rvq", release=sys.argv[1], out=sys.argv[2], preset="tiny", progress=False, save_every=3, epochs=2)
# SIGKILL the process at the end of its first epoch, before that epoch-end checkpoint is written
train(cfg, evaluate=lambda model, epoch: os.kill(os.getpid(), signal.SIGKILL))
"""


def test_sigkilled_run_resumes_to_the_same_weights(tiny_release, tmp_path):
    import subprocess
    import sys

    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    proc = subprocess.run([sys.executable, str(script), str(tiny_release), str(tmp_path / "killed"),
                           str(torch.get_num_threads())], timeout=240,
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr[-2000:]
    ckpt = _weights(tmp_path / "killed/model/latest.tar")
    full = train(_cfg("rvq", tiny_release, tmp_path / "full"))
    assert ckpt["total_it"] % 3 == 0 and 0 < ckpt["total_it"] < full["steps"] and ckpt["ep"] == 0
    resumed = train(_cfg("rvq", tiny_release, tmp_path / "killed"))
    assert resumed["steps"] == full["steps"] and resumed["finished"]
    a, b = _weights(tmp_path / "full/model/latest.tar"), _weights(tmp_path / "killed/model/latest.tar")
    for k in a["vq_model"]:
        assert torch.equal(a["vq_model"][k], b["vq_model"][k]), k


def test_tiny_recipes_scale_with_the_run():
    """CPU recipes: epochs raised to a minimum number of steps (unless given), milestones at a share of the run,
    and a bounded number of in-training evaluations."""
    r = preset("tiny").mask_recipe
    assert r.resolved_epochs(6) == -(-r.min_steps // 6) and r.resolved_epochs(6 * r.min_steps) == r.epochs
    assert r.resolved_epochs(6, 3) == 3  # explicit epochs are exact
    lrs = lr_schedule(r, 1000, scheduler_from_warm_up=False)
    plateau = r.lr * r.warm_up / (r.warm_up + 1)
    assert lrs[r.warm_up:700] == pytest.approx([plateau] * (700 - r.warm_up))  # live until 70 % of the run
    assert lrs[700:] == pytest.approx([plateau * r.gamma] * 300)
    evals = [e for e in range(1, 335) if r.evaluates_after(e, 334)]
    assert len(evals) == r.evaluations + 1 and evals[-1] == 334
    assert [e for e in range(1, 4) if preset("hero").mask_recipe.evaluates_after(e, 3)] == [1, 2, 3]


def test_resume_refuses_an_optimiser_state_of_another_parameter_order(tiny_release, tmp_path):
    """Transformer checkpoints from before the official parameter order (nothing recorded) or with another order
    are refused in one line instead of resuming with swapped Adam moments; the RVQ (order unchanged) resumes."""
    train(_cfg("rvq", tiny_release, tmp_path / "rvq", max_steps=2))
    train(_cfg("mask", tiny_release, tmp_path / "mask", rvq_dir=tmp_path / "rvq", max_steps=1))
    for path in (tmp_path / "rvq/model/latest.tar", tmp_path / "mask/model/latest.tar"):
        ckpt = torch.load(path, weights_only=False)
        assert ckpt["vimo"]["parameter_order"][:2] and len(ckpt["vimo"]["parameter_order"]) == len(
            [k for k in ckpt[next(k for k in ("vq_model", "t2m_transformer") if k in ckpt)]
             if not k.endswith(("codebook", ".pe"))])
        del ckpt["vimo"]["parameter_order"]
        torch.save(ckpt, path)
    assert train(_cfg("rvq", tiny_release, tmp_path / "rvq", max_steps=3))["steps"] == 3
    with pytest.raises(CheckpointError, match="records no parameter order") as err:
        train(_cfg("mask", tiny_release, tmp_path / "mask", rvq_dir=tmp_path / "rvq", max_steps=2))
    assert "\n" not in err.value.one_line() and "new --out" in err.value.one_line()

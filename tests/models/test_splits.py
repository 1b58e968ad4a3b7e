"""Training splits of a release (T2 / T3 / Seen-Unseen folders under splits/): what the models read for each,
training on a split or a custom train list, and the resume check (stage, preset, variant, split)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from vimo.cli.train import train as train_command
from vimo.errors import InputFormatError
from vimo.models.checkpoints import CheckpointError
from vimo.models.configs import preset, variant_preset
from vimo.models.data import ReleaseFolder, available_splits
from vimo.models.train import TrainConfig, train

from .test_cli import _app


def _lines(path):
    return [tuple(ln.split()) for ln in path.read_text().splitlines() if ln.strip()]


def test_split_views_of_a_release(split_release):
    root = split_release
    assert available_splits(root) == ["base", "seen_unseen", "t2"]  # flat splits/*.txt are test subsets
    base = ReleaseFolder(root)
    t2 = ReleaseFolder(root, "t2")
    assert t2.pairs("train") == _lines(root / "splits/t2/train.txt") and len(t2.pairs("train")) == 16
    assert t2.motions("train") == (root / "splits/t2/motions_train.txt").read_text().split()
    assert t2.pairs("test") == base.pairs("test") and t2.motions("test") == base.motions("test")  # base test set
    np.testing.assert_array_equal(t2.statistics()[0], np.load(root / "splits/t2/Mean.npy"))
    assert not np.allclose(t2.statistics()[1], base.statistics()[1])
    assert t2.describe() == {"name": "t2", "train_list": "splits/t2/train.txt", "test_list": "test.txt",
                             "statistics": "splits/t2/Mean.npy"}
    su = ReleaseFolder(root, "seen_unseen")
    assert su.pairs("test") == _lines(root / "splits/seen_unseen/test.txt")  # the Unseen set
    assert all("dribbling" in v for v, _ in su.pairs("test")) and all("explosion" in v for v, _ in su.pairs("train"))
    assert su.motions("test") == [m for _, m in su.pairs("test")]
    assert ReleaseFolder(root, "base").describe()["train_list"] == "train.txt"
    # a split folder without its motions file: the motions of its pairs
    (root / "splits/t2/motions_train.txt").unlink()
    assert ReleaseFolder(root, "t2").motions("train") == [m for _, m in t2.pairs("train")]
    # a custom train list replaces train.txt only
    custom = ReleaseFolder(root, train_list="splits/t2/train.txt")
    assert custom.pairs("train") == t2.pairs("train") and custom.pairs("test") == base.pairs("test")
    assert custom.split_name == "list:splits/t2/train.txt"
    np.testing.assert_array_equal(custom.statistics()[1], base.statistics()[1])

    with pytest.raises(InputFormatError) as err:
        ReleaseFolder(root, "t3")
    line = err.value.one_line()
    assert "\n" not in line and "no training split 't3'" in line and "use one of: base, seen_unseen, t2" in line
    with pytest.raises(InputFormatError, match="both given"):
        ReleaseFolder(root, "t2", train_list="train.txt")
    with pytest.raises(InputFormatError, match="train list does not exist"):
        ReleaseFolder(root, train_list="nope.txt")


def test_split_names_of_a_built_release(tmp_path):
    """The folders vimo.release writes are the splits the models accept, read with their own lists/statistics."""
    from tests.dataset.conftest import build_workspace, write_recipe
    from vimo.release import build_release

    ws = build_workspace(tmp_path / "ws")
    root = build_release(write_recipe(tmp_path / "r.toml", ws)).path
    assert available_splits(root) == ["base", "seen_unseen", "t2", "t3"]
    base = ReleaseFolder(root)
    for name in ("t2", "t3"):
        view = ReleaseFolder(root, name)
        assert view.pairs("train") == _lines(root / "splits" / name / "train.txt")
        assert len(view.pairs("train")) > len(base.pairs("train"))  # extra reactions of the training videos
        assert view.pairs("test") == base.pairs("test")
        assert view.describe()["statistics"] == f"splits/{name}/Mean.npy"
        assert all(view.motion(m).shape[1] == 263 for m in view.motions("train")[:3])
    su = ReleaseFolder(root, "seen_unseen")
    assert su.describe()["test_list"] == "splits/seen_unseen/test.txt"
    assert set(su.motions("test")) == {m for _, m in su.pairs("test")}
    assert not {v for v, _ in su.pairs("train")} & {v for v, _ in su.pairs("test")}


def _cfg(release, out, **kw):
    kw.setdefault("epochs", 2)  # the tiny recipes' epochs, without their min_steps budgets (a fast test)
    return TrainConfig(stage="rvq", release=release, out=out, preset="tiny", progress=False, save_every=1, **kw)


def test_training_on_a_split_and_the_resume_checks(split_release, tmp_path):
    out = tmp_path / "t2_rvq"
    s = train(_cfg(split_release, out, split="t2", max_steps=2))
    assert s["steps"] == 2
    run = json.loads((out / "run.json").read_text())
    assert run["data"]["name"] == "t2" and run["variant"] == "hero" and run["config"]["split"] == "t2"
    # the RVQ stage normalises with the split's own statistics
    np.testing.assert_array_equal(np.load(out / "meta/mean.npy"), np.load(split_release / "splits/t2/Mean.npy"))
    with pytest.raises(CheckpointError, match="split 't2', this run is split 'base'"):
        train(_cfg(split_release, out, max_steps=3))
    assert train(_cfg(split_release, out, split="t2", max_steps=3))["steps"] == 3  # same split: resumes

    # another variant of the same architecture: strict loading would accept it, the variant check does not
    base_run = tmp_path / "hero_rvq"
    train(_cfg(split_release, base_run, max_steps=2))
    layers4 = variant_preset(preset("tiny"), "layers-4")
    with pytest.raises(CheckpointError, match="variant 'hero', this run is variant 'layers-4'") as err:
        train(TrainConfig(stage="rvq", release=split_release, out=base_run, preset=layers4, progress=False,
                          max_steps=3))
    assert "\n" not in err.value.one_line() and "new --out folder" in err.value.one_line()
    # a checkpoint that predates recorded variants: its run.json tells the variant
    latest = base_run / "model/latest.tar"
    ckpt = torch.load(latest, weights_only=False)
    del ckpt["vimo"]["variant"], ckpt["vimo"]["split"]
    torch.save(ckpt, latest)
    with pytest.raises(CheckpointError, match="variant 'hero'"):
        train(TrainConfig(stage="rvq", release=split_release, out=base_run, preset=layers4, progress=False,
                          max_steps=3))
    assert train(_cfg(split_release, base_run, max_steps=3))["steps"] == 3


def test_train_command_split_and_train_list(split_release, tmp_path):
    runner = CliRunner()
    app = _app(train_command)
    common = ["train", "rvq", str(split_release), "--preset", "tiny", "--no-progress", "--max-steps", "1"]
    r = runner.invoke(app, common + ["--out", str(tmp_path / "su"), "--split", "seen_unseen"])
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "su/run.json").read_text())["data"]
    assert data == {"name": "seen_unseen", "train_list": "splits/seen_unseen/train.txt",
                    "test_list": "splits/seen_unseen/test.txt", "statistics": "splits/seen_unseen/Mean.npy"}
    r = runner.invoke(app, common + ["--out", str(tmp_path / "custom"), "--train-list", "splits/t2/train.txt"])
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "custom/run.json").read_text())["data"]
    assert data["name"] == "list:splits/t2/train.txt" and data["statistics"] == "Mean.npy"
    r = runner.invoke(app, common + ["--out", str(tmp_path / "bad"), "--split", "t5"])
    assert isinstance(r.exception, InputFormatError) and "use one of: base, seen_unseen, t2" in str(r.exception)
    assert not (tmp_path / "bad").exists()

"""`vimo train` and `vimo generate` command functions, run through typer (rows not yet in the root CLI)."""
from __future__ import annotations

import json

import numpy as np
import typer
from typer.testing import CliRunner

from vimo.cli.generate import generate
from vimo.cli.train import train


def _app(fn):
    app = typer.Typer()
    app.command()(fn)
    app.command("noop")(lambda: None)  # two commands keep the command name on the command line
    return app


def test_train_all_stages_then_generate(tiny_release, tmp_path):
    runner = CliRunner()
    train_app = _app(train)
    common = ["--preset", "tiny", "--no-progress"]
    r = runner.invoke(train_app, ["train", "rvq", str(tiny_release), *common, "--out", str(tmp_path / "runs/rvq"),
                                  "--epochs", "1", "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout[r.stdout.index("{"):])  # results on stdout (--json), progress on stderr
    assert summary["finished"] and summary["steps"] > 0
    for stage in ("mask", "res"):
        r = runner.invoke(train_app, ["train", stage, str(tiny_release), *common, "--out",
                                      str(tmp_path / f"runs/{stage}"), "--rvq", str(tmp_path / "runs/rvq"),
                                      "--epochs", "1"])
        assert r.exit_code == 0, r.output
    assert (tmp_path / "runs/res/model/latest.tar").is_file()

    video = tiny_release / "videos/explosion/explosion-000.npy"
    r = runner.invoke(_app(generate), ["generate", "--video", str(video), "--checkpoints", str(tmp_path / "runs"),
                                       "--out", str(tmp_path / "gen"), "--preset", "tiny", "--length", "21",
                                       "--samples", "2"])
    assert r.exit_code == 0, r.output
    joints = np.load(tmp_path / "gen/explosion-000_1.joints.npy")
    assert joints.shape == (20, 22, 3) and np.isfinite(joints).all()
    assert np.load(tmp_path / "gen/explosion-000_0.features.npy").shape == (20, 263)


def test_config_file_replaces_flags(tiny_release, tmp_path):
    import json

    from vimo.errors import InputFormatError

    cfg = {"stage": "rvq", "release": str(tiny_release), "out": str(tmp_path / "run"), "preset": "tiny",
           "progress": False, "max_steps": 2}
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    r = CliRunner().invoke(_app(train), ["train", "rvq", "--config", str(tmp_path / "c.json"), "--max-steps", "3",
                                         "--precision", "bf16"])
    assert r.exit_code == 0, r.output
    saved = json.loads((tmp_path / "run/run.json").read_text())["config"]
    assert saved["max_steps"] == 3 and saved["preset"] == "tiny" and saved["precision"] == "bf16"
    assert saved["release"] == str(tiny_release)
    # an option given explicitly with its default value still wins over the file (click's parameter source)
    (tmp_path / "c2.json").write_text(json.dumps({**cfg, "out": str(tmp_path / "run2"), "precision": "bf16",
                                                  "save_every": 7}))
    r = CliRunner().invoke(_app(train), ["train", "rvq", "--config", str(tmp_path / "c2.json"), "--save-every",
                                         "500"])
    assert r.exit_code == 0, r.output
    saved = json.loads((tmp_path / "run2/run.json").read_text())["config"]
    assert saved["save_every"] == 500 and saved["precision"] == "bf16" and saved["max_steps"] == 2
    (tmp_path / "bad.json").write_text(json.dumps({**cfg, "lr": 1}))
    r = CliRunner().invoke(_app(train), ["train", "rvq", "--config", str(tmp_path / "bad.json")])
    assert isinstance(r.exception, InputFormatError) and "lr" in str(r.exception)

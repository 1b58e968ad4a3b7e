"""`vimo split`, `vimo release build|verify|diff|list`, `vimo card`, `vimo export humanml3d`."""
from __future__ import annotations

import json

import numpy as np
import typer
from typer.testing import CliRunner

from tests.dataset.conftest import write_recipe
from vimo.cli import release as cli

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("split")(cli.split)
    app.command("card")(cli.card)
    app.add_typer(cli.app, name="release")
    app.add_typer(cli.export_app, name="export")
    return app


def test_cli_round_trip(fresh_ws, tmp_path):
    app = _app()
    recipe = write_recipe(tmp_path / "r.toml", fresh_ws)
    res = runner.invoke(app, ["split", str(recipe), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["lists"]["train"] > 0 and report["unseen_sub_categories"] == ["dancing", "grappling"]
    res = runner.invoke(app, ["release", "build", str(recipe)])
    assert res.exit_code == 0, res.output
    folder = fresh_ws / "releases" / "vimo-test-1.0.0"
    assert f"built {folder}" in res.output
    res = runner.invoke(app, ["release", "build", str(recipe)])
    assert "already built, identical" in res.output
    res = runner.invoke(app, ["release", "build", str(recipe), "--json"])
    assert json.loads(res.stdout)["status"] != "built" and json.loads(res.stdout)["path"] == str(folder)
    assert runner.invoke(app, ["release", "verify", str(folder)]).exit_code == 0
    assert json.loads(runner.invoke(app, ["release", "verify", str(folder), "--json"]).stdout)["ok"] is True
    res = runner.invoke(app, ["release", "list", "-w", str(fresh_ws)])
    assert "vimo-test-1.0.0  internal" in res.output
    listed = json.loads(runner.invoke(app, ["release", "list", "-w", str(fresh_ws), "--json"]).stdout)
    assert [r["name"] for r in listed] == ["vimo-test"]
    res = runner.invoke(app, ["release", "diff", str(folder), str(folder)])
    assert "no differences" in res.output
    res = runner.invoke(app, ["card", str(folder), "--out", str(tmp_path / "card"), "--workspace", str(fresh_ws)])
    assert res.exit_code == 0 and (tmp_path / "card" / "README.md").is_file()
    res = runner.invoke(app, ["card", str(folder), "--out", str(folder)])
    assert res.exit_code != 0 and "immutable" in str(res.exception)
    res = runner.invoke(app, ["export", "humanml3d", str(folder), "-o", str(tmp_path / "hml")])
    assert res.exit_code == 0 and "exported" in res.output
    res = runner.invoke(app, ["export", "humanml3d", str(folder), "-o", str(tmp_path / "hml")])
    assert res.exit_code != 0 and "--force" in str(res.exception)
    assert runner.invoke(app, ["export", "humanml3d", str(folder), "-o", str(tmp_path / "hml"), "--force"]).exit_code == 0
    motion = next((folder / "vector_263").iterdir())
    np.save(motion, np.zeros((3, 263), np.float32))
    res = runner.invoke(app, ["release", "verify", str(folder)])
    assert res.exit_code == 1 and f"vector_263/{motion.name}: checksum mismatch" in res.output
    res = runner.invoke(app, ["release", "verify", str(folder), "--json"])
    assert res.exit_code == 1 and json.loads(res.stdout)["problems"][0]["path"] == f"vector_263/{motion.name}"

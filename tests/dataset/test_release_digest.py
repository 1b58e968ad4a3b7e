"""The release digest (sha256 of CHECKSUMS.sha256): printed and recorded by `vimo release build`, checked by
`vimo release verify` against the catalog or a pinned --digest, so that a file edited together with its
CHECKSUMS.sha256 line no longer verifies."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from tests.dataset.conftest import write_recipe
from vimo.cli import release as cli
from vimo.release import ReleaseError, build_release, release_digest, verify_release
from vimo.workspace import Workspace

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("split")(cli.split)  # two commands, so that `release` stays a group
    app.add_typer(cli.app, name="release")
    return app


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _recorded(ws: Path, name: str = "vimo-test", version: str = "1.0.0") -> str:
    with Workspace.open(ws) as w:
        return w.catalog.get("releases", name, version)["checksum"]


def _edit_feature_and_its_checksums_line(release: Path) -> str:
    """Change one motion file and rewrite its CHECKSUMS.sha256 line to match (what verify used to accept)."""
    motion = sorted((release / "vector_263").iterdir())[0]
    arr = np.load(motion)
    arr[0, 0] += 1.0
    np.save(motion, arr)
    rel = f"vector_263/{motion.name}"
    listing = release / "CHECKSUMS.sha256"
    lines = [f"{_sha256(motion)}  {rel}" if line.endswith(f"  {rel}") else line
             for line in listing.read_text().splitlines()]
    listing.write_text("\n".join(lines) + "\n")
    return rel


def test_build_prints_and_records_the_sha256_of_checksums(fresh_ws, tmp_path):
    app = _app()
    recipe = write_recipe(tmp_path / "r.toml", fresh_ws)
    res = runner.invoke(app, ["release", "build", str(recipe)])
    assert res.exit_code == 0, res.output
    folder = fresh_ws / "releases" / "vimo-test-1.0.0"
    independent = _sha256(folder / "CHECKSUMS.sha256")
    assert f"digest {independent}" in res.stdout
    assert _recorded(fresh_ws) == independent
    again = json.loads(runner.invoke(app, ["release", "build", str(recipe), "--json"]).stdout)
    assert again["status"] == "unchanged" and again["digest"] == independent
    res = runner.invoke(app, ["release", "verify", str(folder)])
    assert res.exit_code == 0, res.output
    assert f"ok (digest {independent}, matches the one recorded at build time in {fresh_ws.resolve()})" in res.stdout
    report = json.loads(runner.invoke(app, ["release", "verify", str(folder), "--json"]).stdout)
    assert report["ok"] is True and report["digest"] == independent
    assert report["digest_checked_against"].startswith("the one recorded at build time")
    res = runner.invoke(app, ["release", "verify", str(folder), "--digest", independent.upper()])
    assert res.exit_code == 0 and "matches the one given (--digest)" in res.stdout


def test_a_feature_edited_with_its_checksums_line_fails_against_the_catalog(fresh_ws, tmp_path):
    built = build_release(write_recipe(tmp_path / "r.toml", fresh_ws))
    before = built.digest
    assert before == _recorded(fresh_ws)
    rel = _edit_feature_and_its_checksums_line(built.path)
    assert verify_release(built.path) == []  # the checksums alone are consistent again: the silent case
    after = release_digest(built.path)
    assert after != before
    app = _app()
    for extra in ([], ["-w", str(fresh_ws)]):  # the workspace holding the folder, or named
        res = runner.invoke(app, ["release", "verify", str(built.path), *extra])
        assert res.exit_code == 1, res.output
        assert (f"CHECKSUMS.sha256: digest differs from the one recorded at build time in {fresh_ws.resolve()} "
                f"({after} vs {before})") in res.output
    report = json.loads(runner.invoke(app, ["release", "verify", str(built.path), "--json"]).stdout)
    assert report["ok"] is False and [p["path"] for p in report["problems"]] == ["CHECKSUMS.sha256"]
    assert rel not in json.dumps(report["problems"])  # the edited file itself matches its (rewritten) line


def test_a_received_release_is_pinned_with_digest(built_release, release_copy):
    app = _app()
    pinned = _sha256(built_release / "CHECKSUMS.sha256")
    res = runner.invoke(app, ["release", "verify", str(release_copy), "--digest", pinned])
    assert res.exit_code == 0 and f"ok (digest {pinned}, matches the one given (--digest))" in res.stdout
    res = runner.invoke(app, ["release", "verify", str(release_copy)])  # no workspace, no pin: said, not hidden
    assert res.exit_code == 0 and "not compared: pass --digest HEX" in res.stdout
    _edit_feature_and_its_checksums_line(release_copy)
    res = runner.invoke(app, ["release", "verify", str(release_copy), "--digest", pinned])
    assert res.exit_code == 1
    assert res.output.strip() == (f"{release_copy}/CHECKSUMS.sha256: digest differs from the one given (--digest) "
                                  f"({release_digest(release_copy)} vs {pinned})")


def test_a_copy_outside_its_workspace_is_found_by_name_and_version(dataset_ws, built_release, release_copy):
    app = _app()
    res = runner.invoke(app, ["release", "verify", str(release_copy), "-w", str(dataset_ws)])
    assert res.exit_code == 0 and f"matches the one recorded at build time in {dataset_ws}" in res.stdout
    _edit_feature_and_its_checksums_line(release_copy)
    res = runner.invoke(app, ["release", "verify", str(release_copy), "-w", str(dataset_ws)])
    assert res.exit_code == 1 and f"vs {_recorded(dataset_ws)})" in res.output


def test_a_wrong_digest_fails_in_one_line(release_copy):
    app = _app()
    wrong = hashlib.sha256(b"another release").hexdigest()
    res = runner.invoke(app, ["release", "verify", str(release_copy), "--digest", wrong])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == [
        f"{release_copy}/CHECKSUMS.sha256: digest differs from the one given (--digest) "
        f"({release_digest(release_copy)} vs {wrong})"]
    res = runner.invoke(app, ["release", "verify", str(release_copy), "--digest", "abc123"])
    assert res.exit_code != 0 and isinstance(res.exception, ReleaseError)
    assert len(str(res.exception).splitlines()) == 1 and "is not a sha256" in str(res.exception)


def test_a_workspace_that_never_built_the_release_is_refused(release_copy, tmp_path):
    other = tmp_path / "other-ws"
    Workspace.init(other).close()
    with pytest.raises(ReleaseError, match="not recorded in the catalog"):
        cli.verify(release_copy, workspace=other, digest=None, as_json=False)

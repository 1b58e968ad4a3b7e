"""Conversion runs: preflight, idempotence, resume after a kill, process pool = inline, failure
budget, clip validation, `vimo convert` / `vimo clips list` commands."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from vimo.pipelines.samples.sources import write_body_models, write_interx_tree
from vimo.errors import FormatVersionError, InputFormatError
from vimo.pipelines import canonical
from vimo.pipelines.convert import (
    ConvertOptions, PreflightError, convert, list_clips, validate_clip,
)
from vimo.pipelines.sources import get_source


def interx_source(root, models, **cfg):
    cls = get_source("interx")
    return cls(root, cls.config_class(body_models=models, **cfg))


def tree_digest(ws: Path) -> dict[str, str]:
    return {p.relative_to(ws).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((ws / "clips").rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def interx(tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    write_body_models(models, "smplx")
    return write_interx_tree(tmp_path_factory.mktemp("interx"), models, n=5, seed=4, write_models=False)


@pytest.fixture(scope="module")
def reference_ws(interx, tmp_path_factory):
    ws = tmp_path_factory.mktemp("ref_ws")
    summary = convert(interx_source(interx.root, interx.body_models), ConvertOptions(workspace=ws))
    assert summary.converted == 5 and summary.quarantined == 0
    return ws


def test_clip_folder_contents(reference_ws, interx):
    clips = list_clips(reference_ws)
    assert len(clips) == 5
    for c in clips:
        n = c["n_frames"]
        assert 40 <= n <= 200
        assert np.load(c["paths"]["features_reactor"]).shape == (n - 1, 263)
        assert np.load(c["paths"]["features_actor"]).shape == (n - 1, 263)
        assert np.load(c["paths"]["joints_actor"]).shape == (n, 22, 3)
        prov = c["provenance"]
        assert prov["source"] == "interx" and prov["source_fps"] == 120 and prov["stride"] == 6
        assert prov["actor_reactor_rule"] == "actor_is_p1 = (interaction_order == 1)"
        assert prov["raw_label"]["interaction_order"] == interx.orders[c["sequence_id"]]
        assert set(c["qa"]["reactor"]) == {"recovery_mean_m", "recovery_max_m", "foot_skate_mps", "jitter_mps3",
                                           "bone_cv_max"}
        # the stored joints are the FK joints in the reactor's canonical frame
        p1, p2 = interx.expected[c["sequence_id"]]
        reactor = p1 if c["persons"]["reactor"] == "P1" else p2
        frame = canonical.CanonicalFrame(**c["canonical_frame"])
        s, e = c["rows"]
        np.testing.assert_allclose(np.load(c["paths"]["joints_reactor"]), canonical.to_frame(reactor[s:e], frame),
                                   atol=1e-5)


def test_rerun_skips_everything_and_changes_nothing(reference_ws, interx):
    before = tree_digest(reference_ws)
    summary = convert(interx_source(interx.root, interx.body_models), ConvertOptions(workspace=reference_ws))
    assert (summary.skipped, summary.converted, summary.clips) == (5, 0, 5)
    assert tree_digest(reference_ws) == before


def test_killed_run_resumes_to_identical_files(interx, reference_ws, tmp_path):
    ws = tmp_path / "ws"

    def kill_after_two(result, done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        convert(interx_source(interx.root, interx.body_models), ConvertOptions(workspace=ws), progress=kill_after_two)
    assert len(list_clips(ws)) == 2
    # a kill in the middle of writing a clip leaves a temporary folder and a damaged clip behind
    victim = sorted((ws / "clips").iterdir())[0]
    shutil.copytree(victim, ws / "clips" / f".tmp-{victim.name}-99999")
    (victim / "joints_actor.npy").write_bytes(b"\x93NUMPY truncated")
    with pytest.raises(InputFormatError, match="checksum"):
        validate_clip(victim)
    summary = convert(interx_source(interx.root, interx.body_models), ConvertOptions(workspace=ws))
    assert (summary.skipped, summary.converted) == (1, 4)
    assert tree_digest(ws) == tree_digest(reference_ws)
    assert not [p for p in (ws / "clips").iterdir() if p.name.startswith(".")]


def test_process_pool_gives_identical_files(interx, reference_ws, tmp_path):
    ws = tmp_path / "ws"
    summary = convert(interx_source(interx.root, interx.body_models), ConvertOptions(workspace=ws, workers=2))
    assert summary.converted == 5
    assert tree_digest(ws) == tree_digest(reference_ws)


def test_config_change_redoes_units_and_removes_stale_clips(interx, tmp_path):
    ws = tmp_path / "ws"
    convert(interx_source(interx.root, interx.body_models), ConvertOptions(workspace=ws))
    first = {c["clip_id"]: c for c in list_clips(ws)}
    summary = convert(interx_source(interx.root, interx.body_models, actor_order=0), ConvertOptions(workspace=ws))
    assert summary.converted == 5 and summary.skipped == 0
    second = {c["clip_id"]: c for c in list_clips(ws)}
    assert set(first) == set(second)
    for cid in first:
        assert first[cid]["persons"]["reactor"] == second[cid]["persons"]["actor"]
    shorter = convert(interx_source(interx.root, interx.body_models), ConvertOptions(workspace=ws, max_frames=60))
    assert shorter.converted == 5
    assert all(c["n_frames"] <= 60 for c in list_clips(ws))
    assert len(list_clips(ws)) > 5


def test_preflight_lists_every_problem(tmp_path, interx):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PreflightError) as info:
        convert(interx_source(empty, tmp_path / "no_models"), ConvertOptions(workspace=tmp_path / "ws"))
    text = "\n".join(info.value.problems)
    for needle in ("motions: missing", "interaction_order.pkl: missing", "action_setting.txt: missing",
                   "SMPL-X male model file not found", "SMPL-X female model file not found"):
        assert needle in text
    assert "motions/<seq_id>/P1.npz" in info.value.expected_tree
    assert not (tmp_path / "ws").exists()


def test_failure_budget_and_quarantine_records(interx, tmp_path):
    root = tmp_path / "ix"
    shutil.copytree(interx.root, root)
    bad = sorted(interx.sequences)[:2]
    for seq in bad:
        (root / "motions" / seq / "P2.npz").write_bytes(b"PK\x03\x04 not really")
    ws = tmp_path / "ws"
    summary = convert(interx_source(root, interx.body_models), ConvertOptions(workspace=ws, max_failures=1))
    assert (summary.converted, summary.quarantined) == (3, 2) and summary.over_budget
    for seq in bad:
        rec = json.loads((ws / "quarantine" / "interx" / f"{seq}.json").read_text())
        assert f"{seq}/P2.npz" in rec["reason"] and "truncated" in rec["reason"]
    last = json.loads((ws / "convert" / "interx" / "last_run.json").read_text())
    assert last["quarantined"] == 2 and last["over_budget"] is True
    # fixing the input and re-running clears the quarantine
    for seq in bad:
        shutil.copy(interx.root / "motions" / seq / "P2.npz", root / "motions" / seq / "P2.npz")
    again = convert(interx_source(root, interx.body_models), ConvertOptions(workspace=ws, max_failures=0))
    assert (again.skipped, again.converted, again.quarantined) == (3, 2, 0) and not again.over_budget
    assert not list((ws / "quarantine" / "interx").iterdir())


def test_validate_clip_checks_format_version(reference_ws, tmp_path):
    src = sorted(p for p in (reference_ws / "clips").iterdir())[0]
    clip = tmp_path / src.name
    shutil.copytree(src, clip)
    meta = json.loads((clip / "meta.json").read_text())
    for version, fix in ((0, "vimo convert"), (99, "upgrade vimo")):  # older: rewrite; newer: upgrade
        meta["format_version"] = version
        (clip / "meta.json").write_text(json.dumps(meta))
        with pytest.raises(FormatVersionError, match=fix):
            validate_clip(clip)


@pytest.fixture(scope="module")
def cli():
    from vimo.cli.clips import app as clips_app
    from vimo.cli.convert import app

    root = typer.Typer()
    root.add_typer(app, name="convert")
    root.add_typer(clips_app, name="clips")
    return root


def test_cli_convert_and_list(cli, interx, tmp_path):
    runner = CliRunner()
    ws = tmp_path / "ws"
    res = runner.invoke(cli, ["convert", "interx", str(interx.root), "--workspace", str(ws), "--body-models",
                              str(interx.body_models), "--limit", "2", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout[res.stdout.index("{"):])
    assert summary["converted"] == 2 and summary["items"] == 2
    res = runner.invoke(cli, ["clips", "list", "--workspace", str(ws), "--json"])
    assert res.exit_code == 0
    listed = json.loads(res.stdout)
    assert len(listed) == 2 and all(Path(c["paths"]["features_reactor"]).is_file() for c in listed)
    for name in ("interx", "egohumans", "harmony4d", "amass", "joints"):
        help_text = runner.invoke(cli, ["convert", name, "--help"]).output
        assert "--workspace" in help_text and "Expected layout" in help_text


def test_cli_preflight_failure_and_budget_exit(cli, interx, tmp_path):
    from vimo.errors import VimoError

    runner = CliRunner()
    res = runner.invoke(cli, ["convert", "interx", str(tmp_path / "missing"), "--workspace", str(tmp_path / "ws")])
    assert res.exit_code != 0 and isinstance(res.exception, PreflightError)
    root = tmp_path / "ix"
    shutil.copytree(interx.root, root)
    (root / "motions" / interx.sequences[0] / "P1.npz").write_bytes(b"")
    res = runner.invoke(cli, ["convert", "interx", str(root), "--workspace", str(tmp_path / "ws"),
                              "--body-models", str(interx.body_models), "--max-failures", "0"])
    assert isinstance(res.exception, VimoError) and "max-failures" in str(res.exception)


def test_catalog_rows_follow_the_clip_folders(interx, tmp_path):
    from vimo.workspace import Workspace

    root = tmp_path / "ix"
    shutil.copytree(interx.root, root)
    bad = sorted(interx.sequences)[0]
    (root / "motions" / bad / "P1.npz").write_bytes(b"")
    ws = tmp_path / "ws"
    convert(interx_source(root, interx.body_models), ConvertOptions(workspace=ws))
    with Workspace.open(ws) as w:
        rows = {r["clip_id"]: r for r in w.catalog.clips(source="interx")}
        jobs = {j["unit"]: j for j in w.catalog.jobs("convert:interx")}
    folders = {c["clip_id"]: c for c in list_clips(ws)}
    assert set(rows) == set(folders) and len(rows) == 4
    for cid, row in rows.items():
        assert (ws / row["reactor_features"]).resolve() == Path(folders[cid]["paths"]["features_reactor"]).resolve()
        assert row["qa"] == folders[cid]["qa"] and row["raw_order_label"] is not None
        assert row["licence"].startswith("Inter-X")
    assert jobs[bad]["status"] == "quarantined" and "P1.npz" in jobs[bad]["reason"]
    assert sum(j["status"] == "done" for j in jobs.values()) == 4
    # shorter clips: the old rows go, the new ones come
    convert(interx_source(root, interx.body_models), ConvertOptions(workspace=ws, max_frames=60))
    with Workspace.open(ws) as w:
        assert {r["clip_id"] for r in w.catalog.clips(source="interx")} == {c["clip_id"] for c in list_clips(ws)}


def test_relative_source_root(tmp_path, monkeypatch):
    from vimo.synthetic import generate_many, write_interactions

    write_interactions(generate_many(3, seed=1), tmp_path / "synth")
    monkeypatch.chdir(tmp_path)
    cls = get_source("joints")
    summary = convert(cls(Path("synth"), cls.config_class(fps=20.0)), ConvertOptions(workspace=Path("ws")))
    assert (summary.converted, summary.quarantined) == (3, 0)
    assert len(list_clips(tmp_path / "ws")) == 3

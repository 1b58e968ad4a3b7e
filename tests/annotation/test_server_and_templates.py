"""Server start-up rules (no server needed), versioned templates, and the `vimo annotate` CLI."""
from __future__ import annotations

import json
import os
import stat

import pytest
from typer.testing import CliRunner

from vimo.annotation.labeling import KINDS, Templates, read_instructions
from vimo.annotation.server import (BIN_ENV, LabelStudioError, ServerPaths, find_label_studio, free_port,
                                    port_in_use, server_env)
from vimo.errors import InputFormatError
from vimo.cli.annotate import app


def test_find_label_studio_honours_the_env_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(BIN_ENV, str(tmp_path / "nope"))
    with pytest.raises(LabelStudioError, match="pip install label-studio==1.23.2"):
        find_label_studio()
    exe = tmp_path / "label-studio"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(BIN_ENV, str(exe))
    assert find_label_studio() == exe


def test_server_env_is_clean_offline_and_needs_a_legacy_token_on_first_start(tmp_path, monkeypatch):
    monkeypatch.setenv("USERNAME", "leaky")
    monkeypatch.setenv("PORT", "1")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "should-not-leak-through")
    paths = ServerPaths.of(tmp_path)
    env = server_env(paths, first_start=False)
    assert "USERNAME" not in env and "PORT" not in env and "LABEL_STUDIO_API_KEY" not in env
    assert env["SENTRY_DSN"] == "" and env["FRONTEND_SENTRY_DSN"] == ""
    assert env["COLLECT_ANALYTICS"] == "false" and env["LATEST_VERSION_CHECK"] == "false"
    assert env["LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"] == str(tmp_path.resolve())
    assert paths.media_root == tmp_path.resolve() / "videos"
    assert "LABEL_STUDIO_USER_TOKEN" not in env
    with pytest.raises(LabelStudioError, match="LABEL_STUDIO_API_KEY is not set"):
        server_env(paths, first_start=True, token=None)
    with pytest.raises(LabelStudioError, match="personal access token"):
        server_env(paths, first_start=True, token="aaa.bbb.ccc")
    first = server_env(paths, first_start=True, token="0123456789abcdef")
    assert first["LABEL_STUDIO_USER_TOKEN"] == "0123456789abcdef"
    assert first["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] == "true"
    assert len(first["LABEL_STUDIO_PASSWORD"]) >= 16


def test_free_port_is_free():
    port = free_port()
    assert 1024 <= port < 65536 and not port_in_use(port)


def test_shipped_templates_are_versioned_and_parse():
    t = Templates()
    for kind in KINDS:
        assert t.config_versions(kind) == [1] and t.instruction_versions(kind) == [1]
        ins = t.instructions(kind)
        assert ins.kind == kind and not ins.body.startswith("<!--") and len(ins.md5) == 32
    with pytest.raises(InputFormatError, match="unknown round kind"):
        t.config("dancing")
    with pytest.raises(InputFormatError, match="v7"):
        t.instructions("rating", 7)


def test_bump_writes_the_next_version_into_the_workspace(tmp_path):
    t = Templates(tmp_path / "templates")
    v2 = t.bump_instructions("rating", ["clarified foot sliding"], trial_round="rating-trial-001",
                             disagreements=["task p1: <spread 4>"])
    assert v2.version == 2 and v2.path == tmp_path / "templates" / "instructions" / "rating" / "v2.html"
    assert "&lt;spread 4&gt;" in v2.body and "clarified foot sliding" in v2.body
    v3 = t.bump_instructions("rating", ["second change"])
    assert t.instruction_versions("rating") == [1, 2, 3] and v3.based_on == 2
    assert "clarified foot sliding" not in v3.body  # only the latest change list is kept in the text
    with pytest.raises(InputFormatError, match="at least one change"):
        t.bump_instructions("rating", [" "])
    bad = tmp_path / "bad.html"
    bad.write_text("<h1>no header</h1>\n")
    with pytest.raises(InputFormatError, match="metadata line"):
        read_instructions(bad)


def test_cli_against_the_live_server(live_server):
    runner = CliRunner()
    ws = str(live_server.workspace)
    res = runner.invoke(app, ["server", "status", "--workspace", ws])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["running"] is True
    env = {"LABEL_STUDIO_API_KEY": live_server.token}
    # --empty: no tasks from the catalog; they come from a JSONL file below
    res = runner.invoke(app, ["round", "create", "screening", "--stage", "trial", "--empty", "--workspace", ws],
                        env=env)
    assert res.exit_code == 0, res.output
    round_id = res.stdout.strip().splitlines()[-1]
    (live_server.workspace / "videos" / "cli.mp4").write_bytes(b"cli")
    tasks = live_server.workspace / "tasks.jsonl"
    tasks.write_text(json.dumps({"task_id": "cli-video", "media": {"video": "cli.mp4"}}) + "\n")
    for _ in range(2):
        res = runner.invoke(app, ["round", "push", round_id, "--tasks", str(tasks), "--workspace", ws], env=env)
        assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["round", "pull", round_id, "--workspace", ws], env=env)
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["round", "status", round_id, "--workspace", ws], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and round_id in res.stdout and "tasks_complete" in res.stdout  # a table
    res = runner.invoke(app, ["round", "status", round_id, "--workspace", ws, "--json"])
    status = json.loads(res.stdout)[0]
    assert status["tasks"] == 1 and status["exports"] == 1 and status["stage"] == "trial"
    res = runner.invoke(app, ["round", "pull", round_id, "--workspace", ws], env={"LABEL_STUDIO_API_KEY": ""})
    assert res.exit_code != 0 and "LABEL_STUDIO_API_KEY" in str(res.exception)

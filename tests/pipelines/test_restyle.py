"""The Runway restyle client and its billing-safe ledger, against vimo.pipelines.samples.runway_standin
(a local STAND-IN that follows Runway's documented contract; Runway itself is never called)."""
from __future__ import annotations

import shutil

import pytest

from vimo.atomic import sha256_file
from vimo.pipelines.samples.runway_standin import RunwayStandin
from vimo.pipelines.samples.video import write_synthetic_workspace
from vimo.pipelines.video import restyle
from vimo.pipelines.video.render import RenderOptions, render_workspace
from vimo.pipelines.video.restyle import (
    RestyleOptions, RunwayClient, RunwayConfig, RunwayError, fetch, restyled_id, status, submit,
)
from vimo.workspace import Workspace

PRESET = restyle.PRESETS[restyle.DEFAULT_PRESET]


@pytest.fixture(scope="module")
def rendered_ws(tmp_path_factory):
    ws = write_synthetic_workspace(tmp_path_factory.mktemp("restyle") / "ws", kinds=("wave", "bow"), duration_s=2.0)
    s = render_workspace(RenderOptions(workspace=ws, size=(96, 64), camera="front"))
    assert s.rendered == 2
    return ws


@pytest.fixture
def ws(rendered_ws, tmp_path):
    return shutil.copytree(rendered_ws, tmp_path / "ws")


@pytest.fixture
def standin():
    s = RunwayStandin().start()
    yield s
    s.stop()


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client_for(standin: RunwayStandin, **cfg) -> tuple[RunwayClient, Sleeps]:
    sleeps = Sleeps()
    config = RunwayConfig(base_url=standin.url, api_key=standin.api_key, read_timeout_s=0.5, **cfg)
    return RunwayClient(config, sleep=sleeps), sleeps


def videos(ws, kind="restyled"):
    w = Workspace.open(ws)
    try:
        return {v["video_id"]: v for v in w.catalog.query("videos", "kind=?", (kind,))}
    finally:
        w.close()


def jobs(ws, kind):
    w = Workspace.open(ws)
    try:
        return {j["unit"]: j for j in w.catalog.jobs(kind)}
    finally:
        w.close()


def test_the_standin_says_what_it_is(standin):
    import requests

    r = requests.get(standin.url + "/", timeout=5)
    assert "stand-in" in r.text and "not Runway" in r.text and r.headers["X-Standin"] == "vimo-runway-standin"


def test_submit_status_fetch_round_trip(ws, standin):
    client, sleeps = client_for(standin)
    s = submit(RestyleOptions(workspace=ws), client)
    assert len(s.submitted) == 2 and standin.creates == 2 and s.credit_balance == 1000.0
    body = next(iter(standin.tasks.values())).body
    assert body["model"] == "aleph2" and body["promptText"] == PRESET.prompt and body["seed"] == PRESET.seed
    assert body["videoUri"].startswith("data:video/mp4;base64,")
    rows = videos(ws)
    assert {r["status"] for r in rows.values()} == {"submitted"}
    task_ids = {r["provenance"]["task_id"] for r in rows.values()}
    assert task_ids == set(standin.tasks) and set(jobs(ws, restyle.TASK_JOB)) == task_ids
    seen = status(ws, client)
    assert {r["status"] for r in seen if r["task_id"] in task_ids} == {"PENDING"}
    f = fetch(ws, client)
    assert sorted(f.fetched) == sorted(rows) and not f.failed and not f.safety
    assert sleeps and min(sleeps) >= restyle.MIN_POLL_S  # polls are at least 5 s apart
    assert "poll:THROTTLED" in client.retries and "poll:RUNNING" in client.retries
    w = Workspace.open(ws)
    try:
        for vid, row in rows.items():
            done = w.catalog.get("videos", vid)
            path = w.resolve(done["path"])
            assert done["status"] == "pending_screening" and done["checksum"] == sha256_file(path)
            parent = w.catalog.get("videos", done["parent_video_id"])
            assert path.read_bytes() == w.resolve(parent["path"]).read_bytes()  # the stand-in returns the input
            assert (done["codec"], done["n_frames"]) == ("h264", parent["n_frames"])
            prov = done["provenance"]
            assert prov["cost_credits"] == 15.0 and prov["api_version"] == "2024-11-06" and "output" not in prov
        assert {j["status"] for j in w.catalog.jobs(restyle.job_kind(PRESET))} == {"done"}
    finally:
        w.close()
    again = submit(RestyleOptions(workspace=ws), client)
    assert len(again.already) == 2 and not again.submitted and standin.creates == 2


def test_create_429_and_503_are_retried_with_jittered_backoff(ws, standin):
    standin.inject("POST /v1/video_to_video", 429, 503, 429)
    client, sleeps = client_for(standin, backoff_base_s=2.0)
    s = submit(RestyleOptions(workspace=ws, limit=1), client)
    assert len(s.submitted) == 1 and standin.creates == 1
    assert client.retries == {"429": 2, "503": 1}
    for attempt, pause in enumerate(sleeps[:3]):
        assert 2.0 * 2 ** attempt <= pause <= 1.5 * 2.0 * 2 ** attempt


def test_persistent_429_stops_the_batch(ws, standin):
    standin.inject("POST /v1/video_to_video", *([429] * 10))
    client, _ = client_for(standin, max_retries=2)
    s = submit(RestyleOptions(workspace=ws), client)
    assert not s.submitted and s.stopped and "daily generation limit" in s.stopped and standin.creates == 0


@pytest.mark.parametrize("fault", [500, "timeout"])
def test_an_ambiguous_create_is_never_resubmitted_blindly(ws, standin, fault):
    standin.inject("POST /v1/video_to_video", fault)
    standin.hang_s = 1.5
    client, _ = client_for(standin)
    s = submit(RestyleOptions(workspace=ws, limit=1), client)
    assert standin.creates == 1 and len(s.unknown) == 1 and not s.submitted  # a task exists on the server
    vid = s.unknown[0][0]
    assert jobs(ws, restyle.job_kind(PRESET))[vid]["status"] == "quarantined"
    again = submit(RestyleOptions(workspace=ws, limit=1), client)
    assert [u[0] for u in again.unknown] == [vid] and standin.creates == 2  # only the other video
    assert vid not in again.submitted
    forced = submit(RestyleOptions(workspace=ws, resubmit_unknown=True), client)
    assert forced.submitted == [vid] and standin.creates == 3


def test_a_crash_between_submit_and_record_is_detected_not_resubmitted(ws, standin, monkeypatch):
    client, _ = client_for(standin)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed right after the create call answered")

    monkeypatch.setattr(restyle, "record_task", crash)
    with pytest.raises(KeyboardInterrupt):
        submit(RestyleOptions(workspace=ws, limit=1), client)
    monkeypatch.undo()
    assert standin.creates == 1
    s = submit(RestyleOptions(workspace=ws), client)
    assert len(s.unknown) == 1 and "submitting at" in s.unknown[0][1]
    assert len(s.submitted) == 1 and s.unknown[0][0] not in s.submitted and standin.creates == 2


def test_polling_survives_429_500_and_timeouts(ws, standin):
    client, _ = client_for(standin)
    submit(RestyleOptions(workspace=ws, limit=1), client)
    standin.hang_s = 1.0
    standin.inject("GET /v1/tasks/ID", 500, 429, "timeout", 502)
    f = fetch(ws, client)
    assert len(f.fetched) == 1
    assert client.retries["500"] == 1 and client.retries["429"] == 1 and client.retries["502"] == 1
    assert client.retries["ReadTimeout"] == 1


def test_safety_failures_are_reported_and_never_retried(ws, standin):
    client, _ = client_for(standin)
    standin.fail_next("SAFETY.INPUT.TEXT")
    submit(RestyleOptions(workspace=ws), client)
    f = fetch(ws, client)
    assert [code for _, code in f.safety] == ["SAFETY.INPUT.TEXT"] and len(f.fetched) == 1
    rejected = [v for v in videos(ws).values() if v["status"] == "rejected_safety"]
    assert len(rejected) == 1 and not (ws / rejected[0]["path"]).exists()
    again = submit(RestyleOptions(workspace=ws, resubmit_failed=True, resubmit_unknown=True), client)
    assert not again.submitted and standin.creates == 2


def test_retryable_failure_needs_consent_to_resubmit(ws, standin):
    client, _ = client_for(standin)
    standin.fail_next("INTERNAL.BAD_OUTPUT.CODE01")
    submit(RestyleOptions(workspace=ws, limit=1), client)
    fetch(ws, client)
    s = submit(RestyleOptions(workspace=ws, dry_run=True), client)
    assert s.failed and "INTERNAL.BAD_OUTPUT.CODE01: pass --resubmit-failed" in s.failed[0][1]
    assert len(s.would_submit) == 1 and s.failed[0][0] not in s.would_submit
    r = submit(RestyleOptions(workspace=ws, resubmit_failed=True), client)
    assert len(r.submitted) == 2 and standin.creates == 3


def test_expired_output_urls_are_refreshed_from_the_task(ws, standin):
    client, _ = client_for(standin)
    submit(RestyleOptions(workspace=ws, limit=1), client)
    standin.born_expired = 1
    f = fetch(ws, client)
    assert len(f.fetched) == 1 and client.retries["expired_output"] == 1
    standin.born_expired = 5
    submit(RestyleOptions(workspace=ws), client)
    with pytest.raises(RunwayError, match="could not be downloaded"):
        fetch(ws, client)


def test_budget_guard_and_dry_run(ws, standin):
    client, _ = client_for(standin)
    dry = submit(RestyleOptions(workspace=ws, dry_run=True), client)
    assert len(dry.would_submit) == 2 and dry.estimated_credits == pytest.approx(2 * 2.0 * 15.0)
    assert standin.log == [] and standin.creates == 0  # a dry run calls nothing
    s = submit(RestyleOptions(workspace=ws, budget=40), client)
    assert len(s.submitted) == 1 and "budget" in s.stopped and standin.creates == 1
    standin.credit_balance = 10
    s2 = submit(RestyleOptions(workspace=ws), client)
    assert not s2.submitted and "balance 10" in s2.stopped


def test_the_key_comes_from_the_environment_and_never_leaks(ws, standin):
    with pytest.raises(RunwayError, match="RUNWAYML_API_SECRET is not set"):
        RunwayConfig.from_env({})
    cfg = RunwayConfig.from_env({"RUNWAYML_API_SECRET": "sk-very-secret", "RUNWAYML_BASE_URL": standin.url + "/"})
    assert cfg.base_url == standin.url and "sk-very-secret" not in repr(cfg)
    bad = RunwayClient(cfg, sleep=lambda s: None)
    with pytest.raises(RunwayError, match="401") as err:
        submit(RestyleOptions(workspace=ws), bad)
    assert standin.creates == 0 and "sk-very-secret" not in str(err.value)
    blob = (ws / "catalog.sqlite").read_bytes()
    for wal in ws.glob("catalog.sqlite-*"):
        blob += wal.read_bytes()
    assert b"sk-very-secret" not in blob and b"test-key-not-secret" not in blob


def test_bad_key_stops_submitting(ws, standin):
    client = RunwayClient(RunwayConfig(base_url=standin.url, api_key="wrong"), sleep=lambda s: None)
    with pytest.raises(RunwayError, match="401"):
        submit(RestyleOptions(workspace=ws), client)


def test_inputs_over_the_data_uri_limit_need_a_url_prefix(ws, standin, monkeypatch):
    monkeypatch.setattr(restyle, "DATA_URI_MAX_BYTES", 100)
    client, _ = client_for(standin)
    s = submit(RestyleOptions(workspace=ws), client)
    assert len(s.failed) == 2 and "--url-prefix" in s.failed[0][1] and standin.creates == 0
    standin.fallback_video = b"\x00\x00\x00\x18ftypmp42"
    ok = submit(RestyleOptions(workspace=ws, url_prefix="https://media.example.org/ws"), client)
    assert len(ok.submitted) == 2
    uris = sorted(t.body["videoUri"] for t in standin.tasks.values())
    assert all(u.startswith("https://media.example.org/ws/videos/rendered/front/") for u in uris)
    with pytest.raises(Exception, match="HTTPS"):
        restyle.video_uri(ws / "catalog.sqlite", "x", "http://insecure")
    assert restyled_id("a", PRESET) == "a.restyle-photoreal-v1"


def test_vimo_restyle_commands(ws, standin, monkeypatch):
    import json

    from typer.testing import CliRunner

    from vimo.cli.video import restyle_app

    monkeypatch.setenv("RUNWAYML_API_SECRET", standin.api_key)
    monkeypatch.setenv("RUNWAYML_BASE_URL", standin.url)
    run = CliRunner()
    dry = run.invoke(restyle_app, ["submit", "--workspace", str(ws), "--dry-run", "--json"])
    assert dry.exit_code == 0 and len(json.loads(dry.stdout)["would_submit"]) == 2 and standin.creates == 0
    sub = run.invoke(restyle_app, ["submit", "--workspace", str(ws), "--json"])
    assert sub.exit_code == 0, sub.output
    assert len(json.loads(sub.stdout)["submitted"]) == 2 and standin.creates == 2
    st = run.invoke(restyle_app, ["status", "--workspace", str(ws), "--json"])
    assert {r["status"] for r in json.loads(st.stdout)} == {"PENDING"}
    f = run.invoke(restyle_app, ["fetch", "--workspace", str(ws), "--no-wait", "--json"])
    assert f.exit_code == 0 and len(json.loads(f.stdout)["waiting"]) == 2
    assert standin.api_key not in sub.output + st.output + f.output

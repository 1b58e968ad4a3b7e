"""`vimo demo --reduced`: the whole mission on the embedded default, end to end, with the real parts
(conversion of fake source trees, EGL renders, the Runway stand-in, a real Label Studio server with
simulated annotators, a release, a tiny HERO benchmark), then a resume that redoes nothing."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from vimo.cli import main


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    assert main(["demo", "--out", str(out), "--reduced", "--seed", "1"]) == 0
    return out


def _steps(out):
    return {p.stem: json.loads(p.read_text()) for p in (out / "steps").glob("*.json")}


def _db(out):
    return sqlite3.connect(out / "ws" / "catalog.sqlite")


def test_every_step_ran_and_left_its_artefacts(demo, capsys):
    steps = _steps(demo)
    assert set(steps) == {"sources", "convert", "library", "render", "external", "restyle", "screening", "pairs",
                          "pairing", "rating", "release", "bench"}
    summary = json.loads((demo / "summary.json").read_text())
    for name, path in summary["artefacts"].items():
        assert Path(path).exists(), (name, path)
    assert any("SIMULATED" in n for n in summary["notes"]) and any("STAND-IN" in n for n in summary["notes"])
    # the fake sources are said to be synthetic, and hold no model file of the real datasets
    assert "SYNTHETIC" in (demo / "sources" / "README.txt").read_text()


def test_conversion_and_videos(demo):
    steps = _steps(demo)
    conv = steps["convert"]["figures"]
    assert conv["interx clips"] == 12 and conv["egohumans clips"] >= 2 and conv["harmony4d clips"] >= 2
    with _db(demo) as db:
        n_clips = db.execute("SELECT COUNT(*) FROM clips WHERE status='ok'").fetchone()[0]
        n_two = db.execute("SELECT COUNT(*) FROM clips WHERE status='ok' AND actor_joints IS NOT NULL").fetchone()[0]
        renders = db.execute("SELECT video_id, path, n_frames, provenance FROM videos WHERE kind='rendered'").fetchall()
        clip_frames = dict(db.execute("SELECT clip_id, n_frames FROM clips"))
        restyled = db.execute("SELECT provenance, status FROM videos WHERE kind='restyled'").fetchall()
    subjects = [json.loads(p)["subject"] for _, _, _, p in renders]
    # the library's single-person clips have a rendered reaction, no actor video
    assert subjects.count("actor") == n_two == n_clips - steps["library"]["figures"]["library clips (single person)"]
    assert subjects.count("reactor") == n_clips
    import imageio_ffmpeg

    vid, path, n_frames, _ = renders[0]
    reader = imageio_ffmpeg.read_frames(str(demo / "ws" / path))
    meta = next(reader)
    decoded = [np.frombuffer(f, np.uint8).reshape(meta["size"][1], meta["size"][0], 3) for f in reader]
    assert meta["size"] == (160, 128) and len(decoded) == n_frames
    assert decoded[len(decoded) // 2].std() > 5, "a body is drawn, not a flat frame"
    # restyled copies come from the stand-in, say so, and were screened
    assert len(restyled) == 3
    for prov, status in restyled:
        assert "STAND-IN" in json.loads(prov)["standin"] and status in ("usable", "unusable", "pending_screening")
        assert json.loads(prov).get("subject") != "reactor"
    assert min(clip_frames.values()) >= 40


def test_rounds_find_the_biased_annotator_and_decide_pairs(demo):
    steps = _steps(demo)
    rating = steps["rating"]["figures"]
    assert rating["QC: most biased annotator"] == "simulated-rater-biased@example.com"
    assert rating["QC: its bias (reaction plausibility)"] < -1.0
    assert rating["QC: annotations rejected by the inspector"] > 0
    assert rating["accepted"] > 0 and rating["accepted"] + rating["rejected"] + rating["undecided"] \
        == rating["rating tasks"]
    assert steps["pairing"]["figures"]["pairs added"] > 0
    # the annotation procedure: a trial, instructions bumped from it, the main round on the new version
    assert rating["trial tasks"] == 6 and steps["rating"]["trial_round"].startswith("rating-trial-")
    assert rating["instructions version after the trial"] == rating["main round instructions version"] == 2
    bumped = (demo / "ws/annotation/templates/instructions/rating/v2.html")
    assert bumped.is_file() and "What changed in version 2" in bumped.read_text()
    with _db(demo) as db:
        users = {r[0] for r in db.execute("SELECT DISTINCT annotator FROM annotations")}
        origins = dict(db.execute("SELECT origin, COUNT(*) FROM pairs GROUP BY origin"))
    assert users and all(u.startswith("simulated-") for u in users)
    assert origins.get("source", 0) > 0 and any(o.startswith("pairing-") for o in origins)
    report = json.loads((demo / "ws/annotation/rounds/rating-main-001/report.json").read_text())
    biased = report["annotators"]["simulated-rater-biased@example.com"]
    # after the inspection the biased rater's off-scale annotations no longer count
    assert biased["ratings"] < steps["rating"]["figures"]["rating tasks"]


def test_release_splits_and_benchmark(demo):
    steps = _steps(demo)
    root = Path(steps["release"]["release"])
    assert (root / "README.md").is_file() and any((root / "meta" / "figures").glob("*.png"))
    test = (root / "test.txt").read_text().splitlines()
    train = (root / "train.txt").read_text().splitlines()
    assert test and train and not set(test) & set(train)
    assert (root / "splits" / "t2" / "train.txt").read_text().strip()
    assert (root / "splits" / "seen_unseen" / "test.txt").read_text().strip()
    bench = demo / "bench"
    for name in ("base", "t2"):
        res = json.loads((bench / name / "results.json").read_text())
        assert (bench / name / "report.md").is_file()
        fid = res["sets"]["test"]["metrics"]["fid"]
        assert np.isfinite(fid["mean"]) and len(fid["values"]) == 2  # the reduced demo's 2 replications
        assert res["sets"]["test"]["size"] == len(test)
    board = (bench / "leaderboard.md").read_text()
    assert "| base |" in board and "| t2 |" in board
    base = json.loads((bench / "base" / "results.json").read_text())
    t2 = json.loads((bench / "t2" / "results.json").read_text())
    assert base["evaluator"]["id"] == t2["evaluator"]["id"]


def test_external_videos_are_screened_paired_from_the_library_and_released(demo):
    import csv

    steps = _steps(demo)
    assert steps["external"]["figures"]["external videos"] == 8  # 4 scene kinds x 2
    assert steps["library"]["figures"]["library clips labelled"] == 16  # 4 sub-categories x 4
    with _db(demo) as db:
        ext = db.execute("SELECT video_id, status, provenance FROM videos WHERE kind='external'").fetchall()
        paired = db.execute("SELECT p.status, c.labels FROM pairs p JOIN videos v ON v.video_id = p.video_id "
                            "JOIN clips c ON c.clip_id = p.clip_id WHERE v.kind = 'external'").fetchall()
        screened = db.execute("SELECT COUNT(*) FROM round_tasks WHERE round_id LIKE 'screening-%' "
                              "AND task_id LIKE 'ext-%'").fetchone()[0]
    assert screened == 8 and {s for _, s, _ in ext} <= {"usable", "unusable"}
    assert all(json.loads(p)["synthetic"] and json.loads(p)["reencoded"] == [] for _, _, p in ext)
    assert paired and "accepted" in {s for s, _ in paired}
    # their reactions come from the motion library
    assert all(json.loads(labels).get("sub_category") for _, labels in paired)
    root = Path(steps["release"]["release"])
    with open(root / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["broad_category"] for r in rows} == {"Human-Human", "Animal-Human", "Scene-Human"}
    assert {r["video_kind"] for r in rows if r["broad_category"] != "Human-Human"} == {"external"}
    card = (root / "README.md").read_text()
    for broad in ("Human-Human", "Animal-Human", "Scene-Human"):
        assert f"| {broad} |" in card
    assert "external video" in card
    results = json.loads((demo / "bench" / "base" / "results.json").read_text())
    assert {"broad-human_human", "broad-animal_human", "broad-scene_human"} <= set(results["sets"])


def test_a_second_run_resumes_without_redoing_anything(demo, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in (demo / "steps").glob("*.json")}
    capsys.readouterr()
    assert main(["demo", "--out", str(demo), "--reduced", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("done in an earlier run") == len(before)
    assert {p.name: p.stat().st_mtime_ns for p in (demo / "steps").glob("*.json")} == before
    assert "vimo demo: done" in printed and str(demo / "summary.json") in printed


def test_a_label_studio_left_by_a_killed_run_is_stopped_on_resume(demo):
    """A run killed while its server was up leaves the server running: the next run stops it before
    starting its own (with a fresh data dir, since the old admin's token is gone with the process)."""
    from vimo.annotation.server import LabelStudioServer, ServerPaths
    from vimo.flows.demo import Demo, DemoConfig

    paths = ServerPaths.of(demo / "ws")
    leftover = LabelStudioServer(paths)
    old = leftover.start(timeout=600)  # existing data dir: no token needed
    d = Demo(DemoConfig(out=demo, reduced=True, seed=1))
    try:
        with d.rounds() as rounds:
            new = d._server.state
            assert new.pid != old.pid and rounds.client.users.list() is not None
            # (the leftover is this test's child: wait() reaps it, and times out if it still runs)
            assert leftover.process.wait(timeout=30) is not None
    finally:
        d.stop_server()
    assert not LabelStudioServer(paths).running()

"""Rounds against a real Label Studio server (session fixture in conftest.py), with SIMULATED
annotators: trial -> instructions bump -> main -> inspection, re-push, invalid annotations, quotas,
snapshots, local-files serving, and a kill -9 of the server mid-round."""
from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections import Counter

import numpy as np
import pytest

from vimo.annotation.agreement import krippendorff_alpha, rating_matrix
from vimo.annotation.ledger import Ledger
from vimo.annotation.pairing import PoolMotion, accepted_pairs, pairing_items, rank_candidates
from vimo.annotation.rounds import Rounds, TaskItem
from vimo.annotation.simulated import (SimulatedAnnotator, choices_region, ensure_user, rating_region, submit,
                                       text_region)


def _get(url: str, token: str | None):
    req = urllib.request.Request(url, headers={"Authorization": f"Token {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read()


@pytest.fixture(scope="module")
def rounds(live_server):
    return Rounds(live_server.workspace, live_server.client())


@pytest.fixture(scope="module")
def pairs(live_server):
    """12 pairs: a video and a rendered reaction each (placeholder bytes; the API does not decode them)."""
    videos = live_server.workspace / "videos"
    rng = np.random.default_rng(7)
    truth = {}
    for i in range(12):
        (videos / "input").mkdir(exist_ok=True)
        (videos / "reaction").mkdir(exist_ok=True)
        (videos / "input" / f"v{i:02d}.mp4").write_bytes(b"input video %d" % i)
        (videos / "reaction" / f"r{i:02d}.mp4").write_bytes(b"reaction %d" % i)
        truth[f"pair{i:02d}"] = {"motion_quality": float(rng.integers(1, 6)),
                                 "reaction_plausibility": float(rng.integers(1, 6))}
    return truth


def _items(truth, ids):
    return [TaskItem(t, media={"input_video": f"input/v{t[-2:]}.mp4", "reaction_video": f"reaction/r{t[-2:]}.mp4"})
            for t in ids]


def _rate(rounds, round_id, annotators, truth, only=None):
    client = rounds.client
    tasks = rounds.ledger.tasks(round_id)
    for ann in annotators:
        uid = ensure_user(client, ann)
        for t, info in tasks.items():
            if only is None or t in only.get(ann.name, ()):
                submit(client, info["ls_task_id"], uid, ann.rating_result(truth[t]))


def test_server_is_local_authenticated_and_keeps_no_secret(live_server):
    assert live_server.url.startswith("http://127.0.0.1:")
    status = live_server.server.status()
    assert status["running"] is True
    client = live_server.client()
    assert client.users.whoami().email == "vimo-admin@example.com"
    assert client.versions.get().edition == "Community"
    with pytest.raises(urllib.error.HTTPError) as err:
        _get(live_server.url + "/api/projects/", None)
    assert err.value.code == 401
    assert _get(live_server.url + "/api/projects/", live_server.token)[0] == 200
    # vimo's own files never hold the token
    for path in (live_server.server.paths.state, live_server.server.paths.log):
        assert live_server.token not in path.read_text(errors="replace")


def test_trial_bump_main_inspection_cycle(live_server, rounds, pairs):
    truth = pairs
    trial_ids = sorted(truth)[:8]
    trial = rounds.create("rating", "trial", overlap=3)
    assert (trial.instructions_version, trial.config_version, trial.overlap) == (1, 1, 3)
    assert rounds.push(trial.id, _items(truth, trial_ids)).new == 8
    sims = [SimulatedAnnotator("a1", noise=0.4, seed=1), SimulatedAnnotator("a2", noise=0.4, seed=2),
            SimulatedAnnotator("biased", noise=0.4, bias=1.5, seed=3)]
    _rate(rounds, trial.id, sims, truth)
    pulled = rounds.pull(trial.id)
    assert pulled.annotations == 24 and pulled.new == 24 and not pulled.invalid
    assert pulled.statuses == {"counted": 24}

    report = rounds.close(trial.id)
    summary = report["summary"]
    assert summary["annotators"] == 3 and summary["ratings"] == 24 and summary["rated_tasks"] == 8
    # the report's alpha equals alpha computed directly from the ledger's scores
    ratings = rounds.ratings(trial.id)
    mat, anns, _ = rating_matrix(ratings, "motion_quality")
    assert mat.shape == (3, 8) and not np.isnan(mat).any()
    assert summary["alpha_ordinal"]["motion_quality"] == pytest.approx(krippendorff_alpha(mat, "ordinal"))
    # the biased simulated annotator stands out
    biases = {a: s["bias"]["motion_quality"] for a, s in report["annotators"].items()}
    assert max(biases, key=biases.get) == "simulated-biased@example.com"
    assert biases["simulated-biased@example.com"] > 0.5
    assert (rounds.round_dir(trial.id) / "histograms.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["largest_disagreements"], "the trial report lists the most disputed tasks"

    # instruction bump from the trial's findings
    from vimo.annotation.rounds import bump_instructions

    v2 = bump_instructions(rounds, trial.id, ["Rate foot sliding as a motion-quality flaw (max 4)."])
    assert v2.version == 2 and v2.based_on == 1 and v2.trial_round == trial.id
    assert v2.path.parent == live_server.workspace / "annotation" / "templates" / "instructions" / "rating"
    assert "foot sliding" in v2.body and report["largest_disagreements"][0]["task"] in v2.body

    # main round uses v2; overlap 1, two annotators share the work
    main = rounds.create("rating", "main", overlap=1)
    assert main.instructions_version == 2 and main.instructions_md5 == v2.md5
    project = rounds.client.projects.get(main.project_id)
    assert "foot sliding" in project.expert_instruction
    main_ids = sorted(truth)
    rounds.push(main.id, _items(truth, main_ids))
    a1, a2 = sims[0], sims[1]
    _rate(rounds, main.id, [a1, a2], truth, only={a1.name: main_ids[:6], a2.name: main_ids[6:]})
    assert rounds.pull(main.id).statuses == {"counted": 12}

    # inspection of the main round: accept all but one, which is rejected with "drop_pair"
    insp = rounds.create("inspection", "main", overlap=1, source_round=main.id)
    items = rounds.inspection_items(insp.id)
    assert len(items) == 12 and "motion quality" in items[0].data["summary"]
    rounds.push(insp.id, items)
    inspector = SimulatedAnnotator("inspector", seed=9)
    uid = ensure_user(rounds.client, inspector)
    rejected_src = None
    # pre-existing meta on the source task must survive the verdict write-back (read-merge-write)
    first_src_task = rounds.ledger.tasks(main.id)[items[0].data["src_task"]]["ls_task_id"]
    rounds.merge_task_meta(first_src_task, {"note": {"keep": "me"}})
    for i, (t, info) in enumerate(sorted(rounds.ledger.tasks(insp.id).items())):
        if i == 0:
            rejected_src = info["data"]["src_annotation"]
            result = [choices_region("verdict", ["reject"], "summary"),
                      choices_region("pair_decision", ["drop_pair"], "summary"),
                      text_region("reason", "scores ignore the frozen legs", "summary")]
        else:
            result = [choices_region("verdict", ["accept"], "summary")]
        submit(rounds.client, info["ls_task_id"], uid, result)
    pulled = rounds.pull(insp.id)
    assert pulled.verdicts_written == 12
    by_id = {a.ls_annotation_id: a for a in rounds.ledger.annotations(main.id)}
    assert by_id[rejected_src].verdict == "reject" and by_id[rejected_src].status == "rejected"
    assert by_id[rejected_src].verdict_reason == "scores ignore the frozen legs"
    assert sum(a.verdict == "accept" for a in by_id.values()) == 11
    src_task = by_id[rejected_src]
    meta = rounds.client.tasks.get(str(src_task.ls_task_id)).meta
    assert meta["vimo_inspection"][str(rejected_src)]["verdict"] == "reject"
    assert meta["vimo"]["round"] == main.id  # the push's meta survived too
    assert rounds.client.tasks.get(str(src_task.ls_task_id)).overlap == 2  # served again for a redo
    # the inspector's drop_pair overrides the scores
    main_report = rounds.report(main.id)
    assert main_report["pairs"][src_task.task_id]["decision"] == "rejected"
    assert main_report["pairs"][src_task.task_id]["reason"] == "inspector rejected"
    if first_src_task != src_task.ls_task_id:
        assert rounds.client.tasks.get(str(first_src_task)).meta["note"] == {"keep": "me"}
    else:
        assert meta["note"] == {"keep": "me"}


def test_repush_never_duplicates(live_server, rounds, pairs):
    r = rounds.create("rating", "main", overlap=1)
    first = rounds.push(r.id, _items(pairs, sorted(pairs)[:5]))
    again = rounds.push(r.id, _items(pairs, sorted(pairs)[:7]))
    assert (first.new, first.already_on_server) == (5, 0)
    assert (again.new, again.already_on_server) == (2, 5)
    assert first.ls_task_ids.items() <= again.ls_task_ids.items()
    server = rounds._server_tasks(r.project_id)
    assert len(server) == 7
    assert sorted(t["data"]["vimo_task"] for t in server) == sorted(pairs)[:7]
    assert len(rounds.ledger.tasks(r.id)) == 7


def test_invalid_annotations_are_rejected_on_pull(live_server, rounds, pairs):
    r = rounds.create("rating", "main", overlap=5)
    rounds.push(r.id, _items(pairs, ["pair00"]))
    tid = rounds.ledger.tasks(r.id)["pair00"]["ls_task_id"]
    uid = ensure_user(rounds.client, SimulatedAnnotator("validator", seed=0))
    good = [rating_region("motion_quality", 4), rating_region("reaction_plausibility", 5)]
    ids = {
        "nine": submit(rounds.client, tid, uid, [rating_region("motion_quality", 9),
                                                 rating_region("reaction_plausibility", 3)]),
        "unknown": submit(rounds.client, tid, uid, good + [choices_region("no_such_control", ["x"])]),
        "missing": submit(rounds.client, tid, uid, [rating_region("motion_quality", 3)]),
        "bad_choice": submit(rounds.client, tid, uid, good + [choices_region("flags", ["not_a_flag"])]),
        "skipped": submit(rounds.client, tid, uid, [], skipped=True),
        "good": submit(rounds.client, tid, uid, good),
    }
    pulled = rounds.pull(r.id)
    problems = dict(pulled.invalid)
    assert set(problems) == {ids["nine"], ids["unknown"], ids["missing"], ids["bad_choice"]}
    assert "motion_quality" in problems[ids["nine"]]
    assert "no_such_control" in problems[ids["unknown"]]
    assert "reaction_plausibility" in problems[ids["missing"]]
    status = {a.ls_annotation_id: a.status for a in rounds.ledger.annotations(r.id)}
    assert status[ids["good"]] == "counted" and status[ids["skipped"]] == "skipped"
    assert [x.score for x in rounds.ratings(r.id) if x.dimension == "motion_quality"] == [4.0]


def test_overlap_and_quota_are_enforced_by_us(live_server, rounds, pairs):
    r = rounds.create("rating", "main", overlap=2, max_per_annotator=2)
    rounds.push(r.id, _items(pairs, ["pair01", "pair02", "pair03"]))
    tasks = rounds.ledger.tasks(r.id)
    sims = [SimulatedAnnotator(f"q{i}", seed=i) for i in range(3)]
    uids = [ensure_user(rounds.client, s) for s in sims]
    res = [rating_region("motion_quality", 3), rating_region("reaction_plausibility", 3)]
    t1, t2, t3 = (tasks[t]["ls_task_id"] for t in ("pair01", "pair02", "pair03"))
    ann = {}
    for i in range(3):  # three annotators on pair01, overlap 2: the third is surplus
        ann[f"p1_{i}"] = submit(rounds.client, t1, uids[i], res)
    ann["p2_0"] = submit(rounds.client, t2, uids[0], res)  # q0's second task
    ann["p3_0"] = submit(rounds.client, t3, uids[0], res)  # q0's third task: over the quota of 2
    ann["p2_1a"] = submit(rounds.client, t2, uids[1], res)
    ann["p2_1b"] = submit(rounds.client, t2, uids[1], res)  # same annotator again: the latest counts
    pulled = rounds.pull(r.id)
    status = {a.ls_annotation_id: a.status for a in rounds.ledger.annotations(r.id)}
    assert status[ann["p1_2"]] == "surplus"
    assert status[ann["p3_0"]] == "over_quota"
    assert status[ann["p2_1a"]] == "duplicate" and status[ann["p2_1b"]] == "counted"
    assert pulled.statuses == {"counted": 4, "surplus": 1, "over_quota": 1, "duplicate": 1}
    st = rounds.status(r.id)
    assert st["tasks_complete"] == 2 and st["tasks"] == 3


def test_pull_snapshots_every_export_with_md5(live_server, rounds, pairs):
    r = rounds.create("screening", "trial", overlap=2)
    rounds.push(r.id, [TaskItem(f"video{i}", media={"video": f"input/v{i:02d}.mp4"}) for i in range(3)])
    first = rounds.pull(r.id)
    again = rounds.pull(r.id)
    assert first.new_snapshot and not again.new_snapshot and first.snapshot == again.snapshot
    assert hashlib.md5(first.snapshot.read_bytes()).hexdigest() == first.md5
    assert first.snapshot.with_suffix(".json.md5").read_text().split()[0] == first.md5
    sim = SimulatedAnnotator("screener", seed=4)
    uid = ensure_user(rounds.client, sim)
    tid = rounds.ledger.tasks(r.id)["video0"]["ls_task_id"]
    submit(rounds.client, tid, uid, sim.choice_result("usable", ("usable", "unusable"), 1.0, to_name="video"))
    third = rounds.pull(r.id)
    assert third.new_snapshot and third.md5 != first.md5 and third.new == 1
    assert len(list(rounds.exports_dir(r.id).glob("*.json"))) == 2
    assert [e["md5"] for e in rounds.ledger.exports(r.id)] == [first.md5, third.md5]
    snap = json.loads(third.snapshot.read_text())
    assert sum(len(t["annotations"]) for t in snap) == 1
    assert rounds.choice_votes(r.id, "usable") == {"video0": Counter({"usable": 1})}


def test_local_files_are_served_from_the_workspace_videos(live_server, rounds, pairs):
    r = rounds.create("screening", "main")
    rounds.push(r.id, [TaskItem("video5", media={"video": "input/v05.mp4"})])
    data = rounds.ledger.tasks(r.id)["video5"]["data"]
    assert data["video"] == "/data/local-files/?d=videos/input/v05.mp4"
    status, body = _get(live_server.url + data["video"], live_server.token)
    assert status == 200 and body == b"input video 5"
    from vimo.errors import PathEscapeError

    with pytest.raises(PathEscapeError):
        rounds.push(r.id, [TaskItem("escape", media={"video": "../annotation/rounds.sqlite"})])


def test_pairing_round_turns_plausible_candidates_into_pairs(live_server, rounds, pairs):
    query = np.random.default_rng(0).normal(size=526)
    offsets = [0.01, 3.0, 2.0, 1.0, 5.0, 4.0]  # distance to the query along one direction
    pool = [PoolMotion(f"m{i}", "greeting" if i < 3 else "dodging", query + d) for i, d in enumerate(offsets)]
    for m in pool:
        (live_server.workspace / "videos" / "reaction" / f"{m.motion_id}.mp4").write_bytes(m.motion_id.encode())
    cands = rank_candidates("greeting", pool, query=query, k=4, exclude={"m1"})
    # same sub-category first (nearest first), then the nearest of the others
    assert [c.motion_id for c in cands] == ["m0", "m2", "m3", "m5"]
    assert [c.same_sub_category for c in cands] == [True, True, False, False]
    items = pairing_items({"v00": cands}, {"v00": "input/v00.mp4"},
                          {m.motion_id: f"reaction/{m.motion_id}.mp4" for m in pool})
    r = rounds.create("pairing", "main", overlap=2)
    rounds.push(r.id, items)
    sims = [SimulatedAnnotator(f"pairer{i}", seed=10 + i) for i in range(2)]
    tasks = rounds.ledger.tasks(r.id)
    for s in sims:
        uid = ensure_user(rounds.client, s)
        for t, info in tasks.items():
            p = 1.0 if t.endswith("::m0") else 0.0  # m0 plausible for both, others implausible
            submit(rounds.client, info["ls_task_id"], uid, s.choice_result("plausible", ("plausible", "implausible"), p))
    rounds.pull(r.id)
    accepted = accepted_pairs(rounds.choice_votes(r.id, "plausible"), min_votes=2)
    assert [(a.video_id, a.motion_id, a.plausible, a.votes) for a in accepted] == [("v00", "m0", 2, 2)]


def test_server_killed_mid_round_loses_nothing(live_server, pairs):
    rounds = Rounds(live_server.workspace, live_server.client())
    r = rounds.create("rating", "main", overlap=1)
    rounds.push(r.id, _items(pairs, ["pair04", "pair05", "pair06"]))
    sim = SimulatedAnnotator("crash", seed=5)
    _rate(rounds, r.id, [sim], pairs)
    old_url = live_server.url
    live_server.server.kill()  # SIGKILL: no shutdown of any kind
    assert not live_server.server.running()
    live_server.server.start()  # same data dir, a fresh free port
    assert live_server.server.running()
    rounds = Rounds(live_server.workspace, live_server.client(), ledger=Ledger.of(live_server.workspace))
    pulled = rounds.pull(r.id)
    assert pulled.new == 3 and pulled.statuses == {"counted": 3}
    assert sorted({x.task for x in rounds.ratings(r.id)}) == ["pair04", "pair05", "pair06"]
    assert live_server.url != old_url or live_server.server.running()

"""Rounds built from the workspace catalog and their results written back to it, against the real
Label Studio server of conftest.py, with SIMULATED annotators: rating (pairs with the input video and
the rendered reaction), inspection overrides, trial/main precedence, screening, pairing, idempotent
re-pulls, and the CLI."""
from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest
from typer.testing import CliRunner

from vimo.annotation.agreement import AcceptPolicy
from vimo.annotation.rounds import Rounds
from vimo.annotation.selection import CatalogSelection
from vimo.annotation.simulated import SimulatedAnnotator, choices_region, ensure_user, submit
from vimo.atomic import save_npy
from vimo.workspace import Workspace

#: clip -> (source, sub-category, has a rendered reaction)
CLIPS = {"c0": ("synthetic", "greeting", True), "c1": ("synthetic", "greeting", True),
         "c2": ("synthetic", "greeting", False), "c3": ("interx", "dodging", True),
         "c4": ("interx", "dodging", True), "c5": ("interx", "dodging", True)}
#: the true scores the SIMULATED raters start from, per pair (motion quality, reaction plausibility)
TRUTH = {"p0": (5.0, 4.0), "p1": (2.0, 4.0), "p3": (4.0, 4.0)}


def _mp4(path, shade: int) -> None:
    """A tiny real H.264 file (3 frames, 16x16)."""
    import imageio_ffmpeg

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = imageio_ffmpeg.write_frames(str(path), (16, 16), fps=10, codec="libx264", pix_fmt_out="yuv420p",
                                         macro_block_size=16, ffmpeg_log_level="error")
    writer.send(None)
    for _ in range(3):
        writer.send(np.full((16, 16, 3), shade, np.uint8))
    writer.close()


@pytest.fixture(scope="module")
def ws(live_server):
    """Clips c0-c5 (c5 quarantined), their input renders (pair videos) and reaction renders (c2 has
    none), an actor render marked as such, pairs p0-p4 (p4 already accepted), videos to screen."""
    root = live_server.workspace
    rng = np.random.default_rng(3)
    base = rng.normal(size=(30, 263)).astype(np.float32)
    with Workspace.open(root) as w:
        cat = w.catalog
        for i, (cid, (source, sub, has_reaction)) in enumerate(CLIPS.items()):
            # c4 moves like c0 (nearest), c3 far from it
            offset = {"c0": 0.0, "c4": 0.05, "c3": 3.0}.get(cid, 1.0 + i)
            save_npy(root / f"clips/{cid}/features_reactor.npy", base + offset + rng.normal(0, 0.01, base.shape))
            cat.add_clip(clip_id=cid, source=source, sequence_id=cid, n_frames=31, reactor="r", actor="a",
                         reactor_features=f"clips/{cid}/features_reactor.npy", labels={"sub_category": sub},
                         status="quarantined" if cid == "c5" else "ok")
            _mp4(root / f"videos/rendered/reactor-view/{cid}.mp4", 10 * i)
            cat.add_video(video_id=f"{cid}.render-reactor-view", kind="rendered", clip_id=cid,
                          path=f"videos/rendered/reactor-view/{cid}.mp4")
            if has_reaction:
                _mp4(root / f"videos/rendered/reaction/{cid}.mp4", 100 + 10 * i)
                cat.add_video(video_id=f"{cid}.render-reaction", kind="rendered", clip_id=cid,
                              path=f"videos/rendered/reaction/{cid}.mp4", provenance={"subject": "reactor"})
        _mp4(root / "videos/rendered/front/c3.mp4", 200)
        cat.add_video(video_id="c3.render-front", kind="rendered", clip_id="c3", path="videos/rendered/front/c3.mp4",
                      provenance={"subject": "actor"})
        for i in range(5):
            cat.add_pair(pair_id=f"p{i}", video_id=f"c{i}.render-reactor-view", clip_id=f"c{i}",
                         broad_category="b", sub_category=CLIPS[f"c{i}"][1], origin="source",
                         status="accepted" if i == 4 else "candidate")
        for vid, kind, status in (("r0", "restyled", "pending_screening"), ("r1", "restyled", "pending_screening"),
                                  ("r2", "restyled", "pending_screening"), ("e0", "external", "ok"),
                                  ("rfail", "restyled", "failed"), ("real0", "real", "ok"),
                                  ("rmissing", "restyled", "pending_screening")):
            if vid != "rmissing":
                _mp4(root / f"videos/screen/{vid}.mp4", 50)
            cat.add_video(video_id=vid, kind=kind, clip_id="c0", path=f"videos/screen/{vid}.mp4", status=status,
                          provenance={"origin": "test"})
    return root


@pytest.fixture(scope="module")
def rounds(live_server, ws):
    r = Rounds(ws, live_server.client())
    yield r
    r.close_connections()


def _pairs(rounds) -> dict[str, dict]:
    return {p["pair_id"]: p for p in rounds.catalog.query("pairs")}


def _get(url: str, token: str) -> bytes:
    req = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


def test_rating_selection_filters_samples_and_skips_what_cannot_be_shown(rounds):
    default = rounds.select("rating", CatalogSelection())
    assert [i.task_id for i in default.items] == ["p0", "p1", "p3"]  # p4 is accepted already
    assert "no rendered reaction" in default.skipped["p2"]
    assert [i.task_id for i in rounds.select("rating", CatalogSelection(sources=("interx",))).items] == ["p3"]
    assert [i.task_id for i in rounds.select("rating", CatalogSelection(sub_categories=("greeting",))).items] \
        == ["p0", "p1"]
    a = [i.task_id for i in rounds.select("rating", CatalogSelection(sample=2, seed=5)).items]
    b = [i.task_id for i in rounds.select("rating", CatalogSelection(sample=2, seed=5)).items]
    assert a == b and len(a) == 2 and set(a) <= {"p0", "p1", "p3"}
    seeds = {tuple(i.task_id for i in rounds.select("rating", CatalogSelection(sample=2, seed=s)).items)
             for s in range(8)}
    assert len(seeds) > 1, "the seed changes the sample"
    item = next(i for i in default.items if i.task_id == "p3")
    # the reactor render, never the actor's front render or the pair's own input video
    assert item.media == {"input_video": "rendered/reactor-view/c3.mp4", "reaction_video": "rendered/reaction/c3.mp4"}
    assert item.data["pair_id"] == "p3" and item.data["clip_id"] == "c3"


def test_rating_round_writes_scores_and_decisions_back_idempotently(live_server, rounds):
    r, chosen, pushed = rounds.create_from_catalog("rating", "main", CatalogSelection(), overlap=2,
                                                   policy=AcceptPolicy(3.0, 3.0, 2))
    assert pushed.new == 3 and r.params["catalog"]["statuses"] is None
    assert json.loads((rounds.round_dir(r.id) / "selection.json").read_text())["skipped"]["p2"]
    data = rounds.ledger.tasks(r.id)["p0"]["data"]
    assert data["input_video"] == "/data/local-files/?d=videos/rendered/reactor-view/c0.mp4"
    body = _get(live_server.url + data["reaction_video"], live_server.token)
    assert body == (rounds.workspace / "videos/rendered/reaction/c0.mp4").read_bytes() and body[4:8] == b"ftyp"

    exact = SimulatedAnnotator("exact", noise=0.0, seed=1)
    harsh = SimulatedAnnotator("harsh", noise=0.0, bias=-1.0, seed=2)
    tasks = rounds.ledger.tasks(r.id)
    for sim in (exact, harsh):
        uid = ensure_user(rounds.client, sim)
        for t, info in tasks.items():
            mq, rp = TRUTH[t]
            submit(rounds.client, info["ls_task_id"], uid,
                   sim.rating_result({"motion_quality": mq, "reaction_plausibility": rp}))
    before = _pairs(rounds)
    pulled = rounds.pull(r.id)
    assert sorted(pulled.catalog.changed) == ["p0", "p1", "p3"]
    after = _pairs(rounds)
    p0 = after["p0"]
    assert (p0["status"], p0["motion_quality"], p0["reaction_plausibility"]) == ("accepted", 4.5, 3.5)
    assert p0["scores"]["round"] == r.id and p0["scores"]["counts"] == {"motion_quality": 2,
                                                                        "reaction_plausibility": 2}
    assert p0["scores"]["spread"]["motion_quality"] == pytest.approx(0.5)
    assert p0["scores"]["annotators"] == {
        exact.email: {"motion_quality": 5.0, "reaction_plausibility": 4.0},
        harsh.email: {"motion_quality": 4.0, "reaction_plausibility": 3.0}}
    assert (after["p1"]["status"], after["p1"]["motion_quality"]) == ("rejected", 1.5)
    assert "motion_quality 1.50 < 3" in after["p1"]["scores"]["reason"]
    assert after["p3"]["status"] == "accepted"
    assert after["p2"] == before["p2"] and after["p4"] == before["p4"]  # not in the round: untouched

    again = rounds.pull(r.id)
    assert again.catalog.changed == [] and sorted(again.catalog.unchanged) == ["p0", "p1", "p3"]
    assert _pairs(rounds) == after

    # inspection: the pair decisions of the inspector beat the thresholds
    insp = rounds.create("inspection", "main", overlap=1, source_round=r.id)
    rounds.push(insp.id, rounds.inspection_items(insp.id))
    uid = ensure_user(rounds.client, SimulatedAnnotator("catalog-inspector", seed=0))
    decided = set()
    for t, info in sorted(rounds.ledger.tasks(insp.id).items()):
        src_task = info["data"]["src_task"]
        result = [choices_region("verdict", ["accept"], "summary")]
        if src_task in ("p0", "p1") and src_task not in decided:
            result.append(choices_region("pair_decision", ["drop_pair" if src_task == "p0" else "keep_pair"],
                                         "summary"))
            decided.add(src_task)
        submit(rounds.client, info["ls_task_id"], uid, result)
    pulled = rounds.pull(insp.id)
    assert pulled.catalog.round_id == r.id and sorted(pulled.catalog.changed) == ["p0", "p1"]
    inspected = _pairs(rounds)
    assert inspected["p0"]["status"] == "rejected" and inspected["p0"]["scores"]["inspector"] == "reject"
    assert inspected["p1"]["status"] == "accepted" and inspected["p1"]["scores"]["reason"] == "inspector accepted"
    assert inspected["p0"]["motion_quality"] == 4.5  # the means stay those of the counted ratings
    assert inspected["p3"] == after["p3"]
    assert rounds.pull(insp.id).catalog.changed == [] and _pairs(rounds) == inspected
    assert rounds.pull(r.id).catalog.changed == [] and _pairs(rounds) == inspected

    # a trial round pulled later never overwrites the main round's results
    trial, _, _ = rounds.create_from_catalog("rating", "trial", CatalogSelection(statuses=("accepted",), ids=("p3",)),
                                             overlap=1)
    low = SimulatedAnnotator("low", noise=0.0, seed=3)
    submit(rounds.client, rounds.ledger.tasks(trial.id)["p3"]["ls_task_id"], ensure_user(rounds.client, low),
           low.rating_result({"motion_quality": 1.0, "reaction_plausibility": 1.0}))
    late = rounds.pull(trial.id)
    assert late.catalog.superseded == ["p3"] and _pairs(rounds)["p3"] == inspected["p3"]


def test_screening_round_sets_video_status(rounds):
    chosen = rounds.select("screening", CatalogSelection())
    assert [i.task_id for i in chosen.items] == ["e0", "r0", "r1", "r2"]  # not failed, real or rendered ones
    assert "does not exist" in chosen.skipped["rmissing"]
    r, _, _ = rounds.create_from_catalog("screening", "main", CatalogSelection(), overlap=2)
    tasks = rounds.ledger.tasks(r.id)
    votes = {"r0": ("usable", "usable"), "r1": ("unusable", "unusable"), "r2": ("usable", "unusable"),
             "e0": ("usable",)}
    for k in range(2):
        sim = SimulatedAnnotator(f"screener{k}", seed=20 + k)
        uid = ensure_user(rounds.client, sim)
        for vid, picks in votes.items():
            if k < len(picks):
                submit(rounds.client, tasks[vid]["ls_task_id"], uid,
                       [choices_region("usable", [picks[k]], "video")])
    pulled = rounds.pull(r.id)
    assert pulled.catalog.undecided == ["r2"]
    status = {v: rounds.catalog.get("videos", v)["status"] for v in ("r0", "r1", "r2", "e0", "rfail")}
    assert status == {"r0": "usable", "r1": "unusable", "r2": "pending_screening", "e0": "usable",
                      "rfail": "failed"}
    prov = rounds.catalog.get("videos", "r1")["provenance"]
    assert prov["origin"] == "test" and prov["screening"]["votes"] == {"unusable": 2}
    assert prov["screening"]["round"] == r.id
    snapshot = rounds.catalog.query("videos")
    assert rounds.pull(r.id).catalog.changed == [] and rounds.catalog.query("videos") == snapshot


def test_pairing_round_adds_accepted_candidates_as_pairs(rounds):
    sel = CatalogSelection(ids=("c0.render-reactor-view",), per_video=2)
    chosen = rounds.select("pairing", sel)
    # same sub-category first (c1), then the nearest motion (c4 over c3); never its own clip c0,
    # c2 (no rendered reaction) or the quarantined c5
    assert [i.task_id for i in chosen.items] == ["c0.render-reactor-view::c1", "c0.render-reactor-view::c4"]
    assert "no rendered reaction" in chosen.skipped["clip:c2"]
    assert chosen.items[0].media == {"input_video": "rendered/reactor-view/c0.mp4",
                                     "reaction_video": "rendered/reaction/c1.mp4"}
    r, _, _ = rounds.create_from_catalog("pairing", "main", sel, overlap=2, min_votes=2)
    tasks = rounds.ledger.tasks(r.id)
    for k in range(2):
        sim = SimulatedAnnotator(f"pairer-cat{k}", seed=30 + k)
        uid = ensure_user(rounds.client, sim)
        for t, info in tasks.items():
            pick = "plausible" if t.endswith("::c4") else "implausible"
            submit(rounds.client, info["ls_task_id"], uid, [choices_region("plausible", [pick])])
    n_before = len(_pairs(rounds))
    pulled = rounds.pull(r.id)
    assert pulled.catalog.added == ["c0.render-reactor-view~c4"]
    pairs = _pairs(rounds)
    new = pairs["c0.render-reactor-view~c4"]
    assert (new["status"], new["origin"], new["clip_id"], new["sub_category"]) == ("candidate", r.id, "c4", "greeting")
    assert new["labels"]["pairing"]["votes"] == 2 and len(pairs) == n_before + 1
    assert rounds.pull(r.id).catalog.added == [] and _pairs(rounds) == pairs
    # the new pair's clip is no longer proposed for that video
    again = rounds.select("pairing", CatalogSelection(ids=("c0.render-reactor-view",), per_video=3))
    assert [i.data["clip_id"] for i in again.items] == ["c1", "c3"]


def test_cli_creates_a_round_from_the_catalog(live_server, rounds, monkeypatch):
    from vimo.cli.annotate import app

    runner = CliRunner()
    dry = runner.invoke(app, ["round", "create", "rating", "--workspace", str(rounds.workspace), "--dry-run",
                              "--clip-source", "interx", "--sub-category", "dodging", "--status", "candidate",
                              "--status", "accepted"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["tasks"] == 2  # p3 and p4
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", live_server.token)
    res = runner.invoke(app, ["round", "create", "screening", "--workspace", str(rounds.workspace), "--stage",
                              "trial", "--video-kind", "external", "--status", "ok", "--status", "usable"])
    assert res.exit_code == 0, res.output
    round_id = res.stdout.strip().splitlines()[-1]
    r = rounds.ledger.round(round_id)
    assert r.kind == "screening" and r.params["catalog"]["video_kinds"] == ["external"]
    assert list(rounds.ledger.tasks(round_id)) == ["e0"]
    repush = runner.invoke(app, ["round", "push", round_id, "--workspace", str(rounds.workspace)])
    assert repush.exit_code == 0, repush.output
    assert len(rounds._server_tasks(r.project_id)) == 1


def test_selection_skips_bad_catalog_rows_with_reasons(tmp_path):
    """No server: paths escaping the workspace, media outside videos/, NaN features and a missing
    round source all give reasons (or a typed error), never a crash or a silent drop."""
    from vimo.annotation.ledger import Ledger
    from vimo.errors import InputFormatError, WorkspaceError

    with Workspace.init(tmp_path / "ws") as w:
        cat, root = w.catalog, w.root
        _mp4(root / "videos/in.mp4", 1)
        _mp4(root / "clips/outside.mp4", 2)
        for cid, feats in (("good", np.zeros((5, 263), np.float32)), ("nan", np.full((5, 263), np.nan, np.float32))):
            save_npy(root / f"clips/{cid}/features_reactor.npy", feats)
            cat.add_clip(clip_id=cid, source="synthetic", sequence_id=cid,
                         reactor_features=f"clips/{cid}/features_reactor.npy")
            _mp4(root / f"videos/reaction/{cid}.mp4", 3)
            cat.add_video(video_id=f"{cid}.reaction", kind="rendered", clip_id=cid, path=f"videos/reaction/{cid}.mp4",
                          provenance={"subject": "reactor"})
        cat.add_video(video_id="escape", kind="external", path="../../etc/passwd")
        cat.add_video(video_id="outside", kind="external", path="clips/outside.mp4")
        cat.add_video(video_id="in", kind="external", path="videos/in.mp4")
    rounds = Rounds(tmp_path / "ws", client=None, ledger=Ledger.of(tmp_path / "ws"))
    try:
        screening = rounds.select("screening", CatalogSelection())
        assert [i.task_id for i in screening.items] == ["in"]
        assert "leaves the workspace" in screening.skipped["escape"]
        assert "not under videos/" in screening.skipped["outside"]
        pairing = rounds.select("pairing", CatalogSelection(ids=("in",)))
        assert [i.data["clip_id"] for i in pairing.items] == ["good"]
        assert "NaN" in pairing.skipped["clip:nan"]
        with pytest.raises(InputFormatError, match="not built from the catalog"):
            rounds.select("inspection", CatalogSelection())
        with pytest.raises(InputFormatError, match="sample"):
            CatalogSelection(sample=0)
    finally:
        rounds.close_connections()
    (tmp_path / "plain").mkdir()
    with pytest.raises(WorkspaceError, match="not a vimo workspace"):
        Rounds(tmp_path / "plain", client=None)
    with pytest.raises(WorkspaceError, match="not a vimo workspace"):
        Ledger.of(tmp_path / "plain")
    assert not (tmp_path / "plain" / "catalog.sqlite").exists()  # a plain folder is not given a catalog

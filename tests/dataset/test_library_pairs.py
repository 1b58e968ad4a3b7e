"""The motion library and external videos: labels, proposals (same sub-category first, then by motion
descriptor), library candidate pairs, and the rating / pairing selections that judge them like any pair.

The library's features are built so that each motion's descriptor differs from the others only by one
offset added to every feature (the same pattern over time): z-scored distances are then proportional to
the offset differences, and the expected order is computed by hand in each test."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from vimo.annotation.selection import CatalogSelection, select, select_pairing
from vimo.atomic import save_npy
from vimo.errors import InputFormatError
from vimo.pairs import (
    PoolMotion, assemble_pairs, category_query, label_library, library_pair_id, motion_library, rank_candidates,
)
from vimo.workspace import Workspace

#: clip -> (source, labels, offset, two-person, status)
CLIPS = {
    "dog0": ("joints", {}, 0.0, False, "ok"),
    "dog1": ("joints", {}, 1.0, False, "ok"),
    "dog2": ("joints", {}, 5.0, False, "ok"),
    "hug0": ("synthetic", {"kind": "hug"}, 2.4, True, "ok"),      # the taxonomy maps synthetic hug -> hugging
    "wave0": ("synthetic", {"kind": "wave"}, 9.0, True, "ok"),    # -> waving
    "bad0": ("joints", {}, 2.0, False, "quarantined"),
}


def _dog_csv(tmp_path):
    p = tmp_path / "library.csv"
    p.write_text("clip_id,sequence_id,sub_category,text\n"
                 "dog0,,dog_approaching,steps back from a dog\n"
                 ",seq-dogs,Dog approaching,\n")
    return p


@pytest.fixture()
def ws(tmp_path):
    pattern = np.sin(np.linspace(0, 6, 30))[:, None] * np.linspace(0.5, 1.5, 263)[None, :]
    with Workspace.init(tmp_path / "ws") as w:
        for cid, (source, labels, offset, two, status) in CLIPS.items():
            save_npy(w.root / f"clips/{cid}/features_reactor.npy", (pattern + offset).astype(np.float32))
            seq = "seq-dogs" if cid in ("dog1", "dog2") else cid
            w.catalog.add_clip(clip_id=cid, source=source, sequence_id=seq, n_frames=31, labels=labels,
                               reactor_features=f"clips/{cid}/features_reactor.npy", status=status,
                               actor_features=f"clips/{cid}/features_actor.npy" if two else None, licence="CC0")
            (w.root / "videos/rendered/reaction").mkdir(parents=True, exist_ok=True)
            (w.root / f"videos/rendered/reaction/{cid}.mp4").write_bytes(cid.encode())
            w.catalog.add_video(video_id=f"{cid}.reaction-front", kind="rendered", clip_id=cid,
                                path=f"videos/rendered/reaction/{cid}.mp4", provenance={"subject": "reactor"})
        for vid, sub, broad, status in (("ext-dog", "dog_approaching", "Animal-Human", "ok"),
                                        ("ext-lion", "lion_approaching", "Animal-Human", "usable"),
                                        ("ext-bad", "explosion", "Scene-Human", "unusable")):
            (w.root / "videos/external").mkdir(parents=True, exist_ok=True)
            (w.root / f"videos/external/{vid}.mp4").write_bytes(vid.encode())
            w.catalog.add_video(video_id=vid, kind="external", path=f"videos/external/{vid}.mp4", status=status,
                                licence="CC-BY-4.0", provenance={"labels": {"broad_category": broad,
                                                                            "sub_category": sub, "emotion": None}})
        (w.root / "videos/external/ext-none.mp4").write_bytes(b"x")
        w.catalog.add_video(video_id="ext-none", kind="external", path="videos/external/ext-none.mp4", status="ok")
    return tmp_path / "ws"


def test_category_query_puts_the_typical_reactions_first():
    e = np.zeros(526)
    e[0] = 1.0
    pool = [PoolMotion("a", "dog", 0.0 * e), PoolMotion("b", "dog", 1.0 * e), PoolMotion("c", "dog", 5.0 * e),
            PoolMotion("d", "hug", 2.1 * e), PoolMotion("f", "hug", 9.0 * e)]
    q = category_query("dog", pool)
    assert q[0] == pytest.approx(2.0) and not q[1:].any()  # the mean of 0, 1, 5
    # |1-2| < |0-2| < |5-2| among the dogs; then the others, nearest first (d at 0.1 from the mean)
    ranked = rank_candidates("dog", pool, query=q, k=5)
    assert [c.motion_id for c in ranked] == ["b", "a", "c", "d", "f"]
    assert [c.same_sub_category for c in ranked] == [True, True, True, False, False]
    scale = np.std([0, 1, 5, 2.1, 9])  # distances are z-scored over the pool
    assert [c.distance for c in ranked] == pytest.approx([1 / scale, 2 / scale, 3 / scale, 0.1 / scale, 7 / scale])
    assert category_query("lion", pool) is None
    # a motion other videos already have goes after the unused ones of the sub-category (not after the others)
    spread = rank_candidates("dog", pool, query=q, k=5, used={"b": 2, "a": 1, "d": 5})
    assert [c.motion_id for c in spread] == ["c", "a", "b", "d", "f"]


def test_the_library_is_labelled_from_a_csv(ws, tmp_path):
    with Workspace.open(ws) as w:
        before = {m.motion_id: m for m in motion_library(w)}
        assert set(before) == {"dog0", "dog1", "dog2", "hug0", "wave0"}  # not the quarantined clip
        assert before["hug0"].kind == "reactor" and before["dog0"].kind == "single-person"
        assert before["hug0"].sub_category == "hugging" and before["dog0"].sub_category == ""
        bad = tmp_path / "bad.csv"
        bad.write_text("clip_id,sub_category\ndog0,dog_approaching\ndog1,dog_aproaching\n")
        with pytest.raises(InputFormatError, match=r"row 3: unknown sub-category .*did you mean dog_approaching"):
            label_library(w, bad)
        assert motion_library(w)[0].sub_category == ""  # nothing written by a file with a bad row
        unknown = tmp_path / "unknown.csv"
        unknown.write_text("clip_id,sub_category\nnope,explosion\n")
        with pytest.raises(InputFormatError, match="no clip 'nope'"):
            label_library(w, unknown)
        assert label_library(w, _dog_csv(tmp_path)) == 3  # dog0 by id, dog1 + dog2 by their sequence
        after = {m.motion_id: m for m in motion_library(w)}
        assert {k: m.sub_category for k, m in after.items()} == {
            "dog0": "dog_approaching", "dog1": "dog_approaching", "dog2": "dog_approaching", "hug0": "hugging",
            "wave0": "waving"}
        assert after["dog0"].text == "steps back from a dog"


def test_external_videos_get_library_candidates_rated_like_any_pair(ws, tmp_path):
    with Workspace.open(ws) as w:
        label_library(w, _dog_csv(tmp_path))
        s = assemble_pairs(w, per_external=3)
        assert s.skipped["external video status unusable"] == 1
        assert s.skipped["external video without a sub-category"] == 1
        pairs = {p["pair_id"]: p for p in w.catalog.pairs()}
        dog = sorted((p["labels"]["library"]["rank"], p["clip_id"]) for p in pairs.values()
                     if p["video_id"] == "ext-dog")
        # the dogs nearest their mean first (offsets 1, 0, 5 around the mean 2)
        assert dog == [(1, "dog1"), (2, "dog0"), (3, "dog2")]
        lion = sorted((p["labels"]["library"]["rank"], p["clip_id"]) for p in pairs.values()
                      if p["video_id"] == "ext-lion")
        # no lion reaction in the library, no query: the others by id
        assert lion == [(1, "dog0"), (2, "dog1"), (3, "dog2")]
        p = pairs[library_pair_id("ext-dog", "dog1")]
        assert (p["origin"], p["status"], p["broad_category"], p["sub_category"], p["licence"]) == (
            "library", "candidate", "Animal-Human", "dog_approaching", "CC0")
        assert p["labels"]["library"]["same_sub_category"] is True
        assert pairs[library_pair_id("ext-lion", "dog0")]["labels"]["library"]["same_sub_category"] is False
        # a re-run adds nothing; a larger budget tops up with the next best (hug0 at 0.4 from the dogs' mean)
        assert assemble_pairs(w, per_external=3).added == []
        assert assemble_pairs(w, per_external=4).added == [library_pair_id("ext-dog", "hug0"),
                                                           library_pair_id("ext-lion", "hug0")]
        # a rating round shows each: the external video beside the library motion's rendered reaction
        rating = select("rating", w.catalog, w.root, w.root / "videos", CatalogSelection())
        item = next(i for i in rating.items if i.task_id == library_pair_id("ext-dog", "dog1"))
        assert item.media == {"input_video": "external/ext-dog.mp4", "reaction_video": "rendered/reaction/dog1.mp4"}
        assert item.data["sub_category"] == "dog_approaching"


def test_videos_of_one_sub_category_share_the_library_out(ws, tmp_path):
    """Two dog videos get different reactions first: videos tied by a shared reaction would be kept on one side
    of every split (the motion is a leakage key)."""
    with Workspace.open(ws) as w:
        label_library(w, _dog_csv(tmp_path))
        w.catalog.add_video(video_id="ext-dog2", kind="external", path="videos/external/ext-dog.mp4", status="ok",
                            provenance={"labels": {"broad_category": "Animal-Human", "sub_category": "dog_approaching"}})
        assemble_pairs(w, per_external=1)
        first = {p["video_id"]: p["clip_id"] for p in w.catalog.pairs()}
        assert (first["ext-dog"], first["ext-dog2"]) == ("dog1", "dog0")  # dog1 taken: the next nearest
        chosen, proposals = select_pairing(w.catalog, w.root.resolve(), (w.root / "videos").resolve(),
                                           CatalogSelection(video_kinds=("external",), per_video=1))
        # each already has one: dog2 is the only unused dog left, then the least used
        assert [c.motion_id for c in proposals["ext-dog"]] == ["dog2"]
        assert [c.motion_id for c in proposals["ext-dog2"]] == ["dog1"]


def test_a_pairing_round_proposes_the_same_candidates(ws, tmp_path):
    with Workspace.open(ws) as w:
        label_library(w, _dog_csv(tmp_path))
        chosen, proposals = select_pairing(w.catalog, w.root.resolve(), (w.root / "videos").resolve(),
                                           CatalogSelection(video_kinds=("external",), per_video=4))
        assert [c.motion_id for c in proposals["ext-dog"]] == ["dog1", "dog0", "dog2", "hug0"]
        assert "ext-bad" not in proposals  # unusable after screening
        first = chosen.items[0]
        assert first.media == {"input_video": "external/ext-dog.mp4", "reaction_video": "rendered/reaction/dog1.mp4"}


def test_the_cli_labels_the_library_and_assembles(ws, tmp_path):
    from vimo.cli.pairs import app as pairs_app
    from vimo.cli.videos import app as videos_app

    runner = CliRunner()
    res = runner.invoke(videos_app, ["library", "-w", str(ws), "--labels", str(_dog_csv(tmp_path)), "--json"])
    assert res.exit_code == 0, res.output
    assert sum(m["sub_category"] == "dog_approaching" for m in json.loads(res.stdout)) == 3
    res = runner.invoke(pairs_app, ["assemble", "-w", str(ws), "--per-external", "2", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["added"] == 4  # two each for ext-dog and ext-lion

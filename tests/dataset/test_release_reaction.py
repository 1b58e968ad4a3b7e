"""What releases carry for the reaction measures: the actor's joints of original pairs (a folder the HERO loader
ignores, checksummed), the camera tracks of rendered videos, extra T2/T3 pairs marked as another actor's."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.dataset.conftest import actor_joints, write_recipe
from vimo.models.data import ReleaseFolder
from vimo.release import build_release, read_checksums, read_info, read_manifest, verify_release
from vimo.metrics.reaction import clip_measures
from vimo.release.measures import measure_pairs, two_person_rows
from vimo.workspace import Workspace


def test_original_pairs_carry_the_actor_joints_and_extra_pairs_are_marked(built_release, dataset_ws):
    rows = read_manifest(built_release)
    checksums = read_checksums(built_release)
    with Workspace.open(dataset_ws) as ws:
        clips = {c["clip_id"]: c for c in ws.catalog.query("clips")}
        videos = {v["video_id"]: v for v in ws.catalog.query("videos")}
    for r in rows:
        own = videos[r["video_id"]]["clip_id"] == r["clip_id"]
        assert r["video_actor"] == ("own" if own else "other"), r["pair_id"]
        if own and clips[r["clip_id"]].get("actor_joints"):
            assert r["two_person"] == "True" and r["actor_joints_path"] == f"actor_joints/{r['motion_id']}.npy"
            saved = np.load(built_release / r["actor_joints_path"])
            clip_joints = np.load(dataset_ws / clips[r["clip_id"]]["actor_joints"])
            assert clip_joints.shape[0] == int(r["n_frames"]) + 1      # the clip's track: one frame more
            np.testing.assert_array_equal(saved, clip_joints[:int(r["n_frames"])])
            assert r["actor_joints_path"] in checksums
        else:
            assert r["two_person"] == "False" and r["actor_joints_path"] == ""
    # every extra (T2/T3-only) pair shows another clip's video: none is measured as a two-person pair
    extra = [r for r in rows if r["split"] == "extra"]
    assert extra and all(r["video_actor"] == "other" and r["two_person"] == "False" for r in extra)
    assert {r["pair_id"] for r in two_person_rows(built_release)} == {r["pair_id"] for r in rows
                                                                      if r["two_person"] == "True"}
    info = read_info(built_release)["reaction_data"]
    assert info["two_person_pairs"] == sum(r["two_person"] == "True" for r in rows) > 0
    assert info["problems"] == []


def test_restyled_videos_carry_the_camera_track_of_their_render(built_release, dataset_ws):
    rows = [r for r in read_manifest(built_release) if r["source"] == "interx"]
    assert rows and all(r["video_kind"] == "restyled" for r in rows)
    for r in rows:
        assert r["camera_path"] == f"cameras/{r['video_id']}.json"
        sidecar = dataset_ws / "videos" / "rendered" / f"{r['video_id']}-render.camera.json"
        assert (built_release / r["camera_path"]).read_bytes() == sidecar.read_bytes()
        assert r["camera_path"] in read_checksums(built_release)
    assert all(r["camera_path"] == "" for r in read_manifest(built_release) if r["source"] != "interx")


def test_the_hero_loader_still_reads_the_release_and_verify_checks_actor_joints(built_release, tmp_path):
    rf = ReleaseFolder(built_release)
    listed = {m for _, m in rf.pairs("train") + rf.pairs("test")}
    assert listed and all(m.startswith("vector_263/") for m in listed)
    assert rf.motion(sorted(listed)[0]).shape[1] == 263
    assert verify_release(built_release) == []
    broken = tmp_path / "broken"
    shutil.copytree(built_release, broken)
    row = two_person_rows(broken)[0]
    np.save(broken / row["actor_joints_path"], np.zeros((3, 22, 3), np.float32))
    problems = [p.path for p in verify_release(broken)]
    assert row["actor_joints_path"] in problems


def test_a_bad_actor_file_or_camera_is_reported_and_the_build_goes_on(fresh_ws, tmp_path):
    with Workspace.open(fresh_ws) as ws:
        clip = next(c for c in ws.catalog.query("clips") if c.get("actor_joints"))
        np.save(ws.resolve(clip["actor_joints"]), actor_joints(3))          # wrong frame count
        render = next(v for v in ws.catalog.query("videos") if (v.get("provenance") or {}).get("camera_track"))
        sidecar = ws.resolve(render["path"]).with_name(render["provenance"]["camera_track"]["file"])
        sidecar.write_text(sidecar.read_text().replace("1.6", "1.7"))     # no longer the recorded sha256
    result = build_release(write_recipe(tmp_path / "r.toml", fresh_ws))
    problems = read_info(result.path)["reaction_data"]["problems"]
    assert any(clip["actor_joints"] in p and "(fix:" in p for p in problems)
    assert any("sha256 differs" in p for p in problems)
    rows = read_manifest(result.path)
    assert all(r["two_person"] == "False" for r in rows if r["clip_id"] == clip["clip_id"])
    assert all(r["camera_path"] == "" for r in rows if r["video_id"] == render["video_id"].removesuffix("-render"))
    assert verify_release(result.path) == []


def test_real_pairs_are_measured_from_the_release(built_release):
    rows = two_person_rows(built_release)
    measures = measure_pairs(built_release, rows)
    assert set(measures) == {r["pair_id"] for r in rows}
    r = rows[0]
    direct = clip_measures(np.load(built_release / r["joints_path"]), actor_joints(int(r["n_frames"])), 20.0)
    assert measures[r["pair_id"]].min_distance == pytest.approx(direct.min_distance)
    assert measures[r["pair_id"]].facing_angle == pytest.approx(direct.facing_angle)
    with_camera = [r for r in rows if r["camera_path"]]
    assert with_camera and all(measures[r["pair_id"]].camera is not None for r in with_camera)
    assert all(measures[r["pair_id"]].camera is None for r in rows if not r["camera_path"])

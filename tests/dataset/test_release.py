"""Releases: HERO-readable layout, train-only statistics, immutability, verify, diff, licence gate,
filters, HumanML3D export."""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from tests.dataset.conftest import write_recipe
from vimo.models.data import ReleaseFolder
from vimo.motion import FeatureStats, feature_stats
from vimo.release import (LicenceError, ReleaseError, ReleaseExistsError, build_release, diff_releases,
                          export_humanml3d, list_releases, load_recipe, read_manifest, verify_release,
                          write_checksums)
from vimo.workspace import Workspace


def test_release_is_readable_by_the_hero_loader(built_release):
    rf = ReleaseFolder(built_release)
    mean, std = rf.statistics()
    assert mean.shape == (263,) and (std > 0).all()
    train, test = rf.pairs("train"), rf.pairs("test")
    assert train and test
    for video, motion in train[:5] + test[:5]:
        assert rf.path(video).is_file() and video.startswith("videos/")
        assert rf.motion(motion).shape[1] == 263
    assert set(rf.motions("train")) == {m for _, m in train}
    assert set(rf.motions("test")) == {m for _, m in test}
    joints = np.load(built_release / rf.motions("test")[0].replace("vector_263/", "joints/"))
    assert joints.shape[1:] == (22, 3)
    for name in ("manifest.csv", "meta/info.json", "CHECKSUMS.sha256", "README.md", "splits/t2/train.txt",
                 "splits/t3/train.txt", "splits/seen_unseen/train.txt", "splits/seen_unseen/test.txt",
                 "splits/seen_unseen/Mean.npy", "splits/t2/Mean.npy"):
        assert (built_release / name).is_file(), name
    assert verify_release(built_release) == []


def test_release_has_a_validation_split(built_release):
    """The default policy writes val.txt / motions_val.txt (checkpoint selection of `vimo bench`), disjoint from
    train and test, and the Seen/Unseen folder's own val list (read by a seen_unseen view instead of the base)."""
    rf = ReleaseFolder(built_release)
    val, test, train = rf.pairs("val"), rf.pairs("test"), rf.pairs("train")
    assert val and set(rf.motions("val")) == {m for _, m in val}
    assert not set(val) & set(test) and not set(val) & set(train)
    su = ReleaseFolder(built_release, "seen_unseen")
    assert su.list_path("val") == built_release / "splits" / "seen_unseen" / "val.txt"
    assert not {m for _, m in su.pairs("val")} & {m for _, m in su.pairs("test")}


def test_statistics_come_from_the_train_split_only(built_release):
    rf = ReleaseFolder(built_release)
    train = [rf.motion(m) for m in rf.motions("train")]
    test = [rf.motion(m) for m in rf.motions("test")]
    mean, std = rf.statistics()
    whole_mean, whole_std = feature_stats(train)
    np.testing.assert_allclose(mean, whole_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, whole_std, rtol=1e-5, atol=1e-6)
    # merging per-motion statistics equals the computation on the concatenation
    merged = FeatureStats()
    for m in train:
        merged = merged.merge(FeatureStats().update(m))
    concat = FeatureStats().update(np.concatenate(train))
    np.testing.assert_allclose(merged.mean, concat.mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(merged.m2, concat.m2, rtol=1e-9)
    all_mean, _ = feature_stats(train + test)
    assert not np.allclose(mean, all_mean, atol=1e-6)


def test_manifest_and_lists_agree(built_release):
    rows = read_manifest(built_release)
    info = json.loads((built_release / "meta" / "info.json").read_text())
    assert info["format_version"] == 1 and info["counts"]["pairs"] == len(rows)
    by_id = {r["pair_id"]: r for r in rows}
    assert "zz-short" not in by_id and "zz-rejected" not in by_id
    assert info["excluded"] == {"motion length outside 20-200 frames": 1, "status rejected": 1}
    # labels from the taxonomy mapping (Harmony4D activity, Inter-X action) and from the pair
    assert by_id["h4d-003_grappling-0"]["sub_category"] == "grappling"
    assert by_id["ix-G001T000A013R000"]["sub_category"] == "walking_towards"
    assert by_id["syn-00"]["emotion"] == "happily"
    assert by_id["ix-G001T000A000R000"]["redistributable"] == "False"
    assert by_id["ix-G001T000A000R000"]["licence_id"] == "Inter-X-NC-ND"
    lines = (built_release / "test.txt").read_text().split()
    assert set(zip(lines[::2], lines[1::2])) == {(r["video_path"], r["motion_path"]) for r in rows
                                                  if r["split"] == "test"}
    # the restyled Inter-X video and its rendered parent are one leakage unit
    assert "video:ix-G001T000A000R000-render" in by_id["ix-G001T000A000R000"]["leakage_keys"]


def test_rebuild_is_identical_and_changed_content_is_refused(fresh_ws, tmp_path):
    recipe = write_recipe(tmp_path / "r.toml", fresh_ws)
    first = build_release(recipe)
    assert first.status == "built"
    again = build_release(recipe)
    assert again.status == "unchanged" and again.path == first.path
    with Workspace.open(fresh_ws) as ws:
        ws.catalog.upsert("pairs", {"pair_id": "syn-01", "motion_quality": 3.1})
    with pytest.raises(ReleaseExistsError, match="immutable") as info:
        build_release(recipe)
    assert "manifest.csv" in str(info.value) and "meta/info.json" in str(info.value)
    bumped = build_release(write_recipe(tmp_path / "r2.toml", fresh_ws, version="1.0.1"))
    assert bumped.status == "built"
    d = diff_releases(first.path, bumped.path)
    assert d.changed == {"syn-01": ["motion_quality", "score"]}
    assert not d.added and not d.removed and not d.moved
    assert {r["name"] + "-" + r["version"] for r in list_releases(fresh_ws)} == {"vimo-test-1.0.0",
                                                                                 "vimo-test-1.0.1"}
    assert not list(first.path.parent.glob(".*staging"))


def test_verify_names_the_tampered_file(release_copy):
    motion = sorted((release_copy / "vector_263").iterdir())[0]
    arr = np.load(motion)
    arr[0, 0] += 1.0
    np.save(motion, arr)
    (release_copy / "notes.txt").write_text("added later")
    problems = verify_release(release_copy)
    paths = {p.path: p.problem for p in problems}
    assert paths[f"vector_263/{motion.name}"].startswith("checksum mismatch")
    assert "not listed" in paths["notes.txt"]
    (release_copy / "Std.npy").unlink()
    assert any(p.path == "Std.npy" and "missing" in p.problem for p in verify_release(release_copy))


def test_release_of_another_format_version_says_rebuild_or_upgrade(release_copy):
    from vimo.errors import FormatVersionError
    from vimo.release import read_info

    info_path = release_copy / "meta/info.json"
    info = json.loads(info_path.read_text())
    for version, fix in ((0, "older.*vimo release build"), (99, "newer.*upgrade vimo"), ("x", "not one")):
        info_path.write_text(json.dumps({**info, "format_version": version}))
        with pytest.raises(FormatVersionError, match=fix):
            read_info(release_copy)


def test_verify_catches_structural_leakage_even_with_fresh_checksums(release_copy):
    train = (release_copy / "train.txt").read_text().splitlines()
    test = (release_copy / "test.txt").read_text().splitlines()
    (release_copy / "test.txt").write_text("\n".join(test + train[:1]) + "\n")
    write_checksums(release_copy)  # a careless re-checksum does not hide the broken split
    problems = verify_release(release_copy)
    assert any(p.path == "test.txt" and "also in train.txt" in p.problem for p in problems)
    assert any(p.path == "motions_test.txt" for p in problems)


def test_diff_reports_added_removed_and_moved_pairs(fresh_ws, tmp_path):
    a = build_release(write_recipe(tmp_path / "a.toml", fresh_ws, version="1", seed=0)).path
    with Workspace.open(fresh_ws) as ws:
        ws.catalog.set_pair_status("syn-05", "rejected")
        ws.catalog.add_pair(pair_id="zz-new", video_id="syn-short", clip_id="synthetic/approach-3",
                            status="accepted", origin="pairing", broad_category="Human-Human",
                            sub_category="walking_towards", emotion="happily", motion_quality=4.0,
                            reaction_plausibility=4.0)
    b = build_release(write_recipe(tmp_path / "b.toml", fresh_ws, version="2", seed=5)).path
    d = diff_releases(a, b)
    assert "syn-05" in d.removed and "zz-new" in d.added
    assert d.moved and all(old != new for old, new in d.moved.values())
    assert diff_releases(a, a).identical


def test_follow_keeps_earlier_splits(fresh_ws, tmp_path):
    a = build_release(write_recipe(tmp_path / "a.toml", fresh_ws, version="1", seed=0)).path
    text = write_recipe(tmp_path / "b.toml", fresh_ws, version="2", seed=7).read_text()
    (tmp_path / "b.toml").write_text(text.replace('description = "Test release."',
                                                  f'description = "Test release."\nfollow = "{a.as_posix()}"'))
    b = build_release(tmp_path / "b.toml").path
    assert diff_releases(a, b).moved == {}


def test_licence_gate(fresh_ws, tmp_path):
    with pytest.raises(LicenceError, match="pairs from interx may not be redistributed") as info:
        build_release(write_recipe(tmp_path / "pub.toml", fresh_ws, internal=False))
    assert "internal = true" in str(info.value)
    public = build_release(write_recipe(tmp_path / "pub2.toml", fresh_ws, internal=False, version="p1",
                                        filters='exclude_sources = ["interx"]'))
    rows = read_manifest(public.path)
    assert rows and all(r["redistributable"] == "True" for r in rows)
    card = (public.path / "README.md").read_text()
    assert "Internal build" not in card and "Public build" in card
    # a restyled video of an Inter-X render is Inter-X-derived even when its motion is not
    with Workspace.open(fresh_ws) as ws:
        ws.catalog.add_pair(pair_id="aa-mixed", video_id="ix-G001T000A000R000", clip_id="synthetic/approach-1",
                            status="accepted", origin="pairing", broad_category="Human-Human",
                            sub_category="hugging", motion_quality=4.0, reaction_plausibility=4.0)
    with pytest.raises(LicenceError, match="1 pairs from synthetic"):
        build_release(write_recipe(tmp_path / "pub3.toml", fresh_ws, internal=False, version="p2",
                                   filters='sources = ["synthetic", "harmony4d"]'))


def test_filters_exclude_and_count(fresh_ws, tmp_path):
    res = build_release(write_recipe(tmp_path / "f.toml", fresh_ws, version="f1",
                                     filters='min_frames = 60\nvideo_kinds = ["real", "external"]'))
    rows = read_manifest(res.path)
    assert all(int(r["n_frames"]) >= 60 for r in rows)
    assert {r["video_kind"] for r in rows} <= {"real", "external"}
    assert res.excluded["video kind restyled filtered out"] == 32


def test_bad_recipes_are_one_line_errors(tmp_path, dataset_ws):
    bad = tmp_path / "bad.toml"
    bad.write_text('[release]\nname = "x"\nversion = "1"\nworkspace = "ws"\ncolour = "red"\n')
    with pytest.raises(ReleaseError, match=r"unknown keys \['colour'\]"):
        load_recipe(bad)
    bad.write_text("[release\n")
    with pytest.raises(ReleaseError, match="not valid TOML"):
        load_recipe(bad)
    bad.write_text('[release]\nname = "../x"\nversion = "1"\nworkspace = "ws"\n')
    with pytest.raises(ReleaseError, match="must be letters"):
        load_recipe(bad)
    rec = write_recipe(tmp_path / "r.toml", dataset_ws, filters="min_motion_quality = 9.0\n"
                       "min_reaction_plausibility = 9.0")
    with pytest.raises(ReleaseError, match="no pair passes"):
        build_release(rec)


def test_export_humanml3d(built_release, tmp_path):
    out = tmp_path / "hml3d"
    counts = export_humanml3d(built_release, out)
    ids = (out / "train.txt").read_text().split()
    assert counts["train"] == len(ids) and (out / "all.txt").is_file()
    for mid in ids[:3]:
        vec = np.load(out / "new_joint_vecs" / f"{mid}.npy")
        np.testing.assert_array_equal(vec, np.load(built_release / "vector_263" / f"{mid}.npy"))
        assert np.load(out / "new_joints" / f"{mid}.npy").shape == (len(vec), 22, 3)
    np.testing.assert_array_equal(np.load(out / "Mean.npy"), np.load(built_release / "Mean.npy"))
    with pytest.raises(Exception, match="not empty"):
        export_humanml3d(built_release, out)


def test_release_outside_the_workspace_and_staging_cleanup(fresh_ws, tmp_path):
    text = write_recipe(tmp_path / "o.toml", fresh_ws, version="o1").read_text()
    (tmp_path / "o.toml").write_text(text.replace('description', f'out = "{(tmp_path / "pub").as_posix()}"\n'
                                                                 'description'))
    res = build_release(tmp_path / "o.toml")
    assert res.path.parent == tmp_path / "pub" and verify_release(res.path) == []
    with open(res.path / "manifest.csv", newline="") as fh:
        assert csv.DictReader(fh).fieldnames[0] == "pair_id"
    shutil.rmtree(res.path)
    assert not list((tmp_path / "pub").iterdir())

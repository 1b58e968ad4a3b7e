"""Each source against the fake trees of pipelines/samples/sources.py: joints, actor/reactor, up axis,
invalid wearers, splits, labels, provenance."""
from __future__ import annotations

import math

import numpy as np
import pytest

from vimo.pipelines.samples.sources import (
    EgoSequence, write_amass_tree, write_egohumans_tree, write_harmony4d_tree, write_interx_tree,
)
from vimo.errors import MotionError
from vimo.pipelines import canonical
from vimo.pipelines.convert import ConvertOptions, build_clips, convert, list_clips
from vimo.pipelines.sources import SOURCES, get_source
from vimo.synthetic import generate, write_interactions


def make(name, root, **cfg):
    cls = get_source(name)
    return cls(root, cls.config_class(**cfg))


@pytest.fixture(scope="module")
def interx(tmp_path_factory, models):
    return write_interx_tree(tmp_path_factory.mktemp("interx"), models, n=3, seed=1, orders={0: 1, 1: 0},
                             write_models=False)


def test_registry_holds_every_source():
    assert set(SOURCES) >= {"interx", "egohumans", "harmony4d", "amass", "joints"}
    for cls in SOURCES.values():
        assert cls.summary and cls.licence and cls.expected_tree


def test_interx_joints_match_fk_of_every_sixth_frame(interx, models):
    src = make("interx", interx.root, body_models=models)
    refs = src.discover()
    assert [r.key for r in refs] == sorted(interx.sequences)
    for ref in refs:
        (m,) = src.load(ref)
        p1, p2 = interx.expected[ref.sequence_id]
        actor_is_p1 = interx.orders[ref.sequence_id] == 1
        np.testing.assert_allclose(m.actor, p1 if actor_is_p1 else p2, atol=1e-5)
        np.testing.assert_allclose(m.reactor, p2 if actor_is_p1 else p1, atol=1e-5)
        assert m.persons == ({"actor": "P1", "reactor": "P2"} if actor_is_p1 else {"actor": "P2", "reactor": "P1"})
        assert m.fps == 20 and list(m.source_frames[:3]) == [0, 6, 12]
        assert m.provenance["raw_label"] == {"interaction_order": interx.orders[ref.sequence_id]}
        assert m.provenance["redistributable"] is False and "Inter-X" in m.provenance["licence"]


def test_interx_actor_switch_and_labels(interx, models):
    default = make("interx", interx.root, body_models=models)
    readme = make("interx", interx.root, body_models=models, actor_order=0)
    ref = default.discover()[0]
    (a,), (b,) = default.load(ref), readme.load(ref)
    np.testing.assert_array_equal(a.actor, b.reactor)
    assert a.persons["actor"] == b.persons["reactor"]
    action = int(ref.sequence_id[9:12])
    assert a.labels["action_id"] == action and isinstance(a.labels["action"], str)
    assert len(a.labels["texts"]) == 2
    assert a.provenance["split"] in ("train", "test")


def test_interx_neutral_uses_the_neutral_model_without_betas(interx, models):
    from vimo.pipelines.body import forward_joints, load_body_model, rest_joints

    src = make("interx", interx.root, body_models=models, neutral=True)
    ref = src.discover()[0]
    (m,) = src.load(ref)
    npz = np.load(interx.root / "motions" / ref.sequence_id / "P1.npz")
    model = load_body_model(models, "smplx", "neutral")
    want = forward_joints(model, rest_joints(model, None), npz["root_orient"][::6],
                          npz["pose_body"][::6].reshape(-1, 63), npz["trans"][::6])
    got = m.actor if m.persons["actor"] == "P1" else m.reactor
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert m.provenance["body_model"]["neutral"] is True


def test_interx_split_filter(interx, models):
    src = make("interx", interx.root, body_models=models, split="test")
    assert [r.sequence_id for r in src.discover()] == [sorted(interx.sequences)[-1]]


def test_clips_hold_both_persons_in_the_reactors_frame(interx, models, tmp_path):
    src = make("interx", interx.root, body_models=models)
    ref = src.discover()[0]
    motions = src.load(ref)
    (clip,) = build_clips("interx", ref, motions)
    r, a = clip.arrays["joints_reactor"], clip.arrays["joints_actor"]
    assert abs(float(r[..., 1].min())) < 1e-6                       # reactor's floor at 0
    np.testing.assert_allclose(r[0, 0, [0, 2]], 0.0, atol=1e-6)     # reactor's frame-0 root at the origin
    fwd = canonical.facing_forward(r[:1].astype(np.float64))[0]
    np.testing.assert_allclose(fwd, [0, 0, 1], atol=1e-6)           # facing +Z
    m = motions[0]
    # the actor keeps its place relative to the reactor: pelvis distance is unchanged
    before = np.linalg.norm(m.actor[:, 0] - m.reactor[:, 0], axis=-1)
    after = np.linalg.norm(a[:, 0] - r[:, 0], axis=-1)
    np.testing.assert_allclose(after, before[: len(after)], atol=1e-5)
    assert clip.arrays["features_reactor"].shape == (len(r) - 1, 263)
    assert clip.meta["qa"]["reactor"]["recovery_max_m"] < 1e-4
    assert clip.meta["qa"]["actor"]["recovery_max_m"] < 1e-4


def test_long_sequences_are_cut_into_equal_windows(tmp_path, models):
    tree = write_interx_tree(tmp_path / "ix", models, n=1, kinds=("walk_past",), duration_s=21.0, write_models=False)
    src = make("interx", tree.root, body_models=models)
    ref = src.discover()[0]
    clips = build_clips("interx", ref, src.load(ref))
    assert [c.meta["rows"] for c in clips] == [[0, 140], [140, 280], [280, 420]]
    assert all(c.meta["source_frames"]["first"] == 6 * c.meta["rows"][0] for c in clips)


def test_egohumans_up_axis_invalid_wearer_and_directions(tmp_path):
    tree = write_egohumans_tree(tmp_path / "eh", [
        EgoSequence("01_tagging", "001_tagging", kind="handshake", second_kind="hug", seed=1),
        EgoSequence("02_basketball", "004_basketball", kind="hug", second_kind="handshake", up="+z", seed=2),
        EgoSequence("05_volley", "001_volley", kind="handshake", tilt_deg=14.0, seed=3, wearers=("aria02",)),
        EgoSequence("06_snap", "002_snap", kind="handshake", tilt_deg=1.5, seed=4),
    ])
    src = make("egohumans", tree.root)
    refs = src.discover()
    assert [r.key for r in refs] == ["01_tagging-001_tagging", "02_basketball-004_basketball",
                                     "05_volley-001_volley", "06_snap-002_snap"]
    by = {r.key: src.load(r) for r in refs}
    assert sorted(m.direction for m in by["01_tagging-001_tagging"]) == [
        "aria01-aria02", "aria02-aria01", "aria03-aria04", "aria04-aria03"]
    # 004_basketball: aria01 is invalid in the official config, the Z-up world is snapped exactly
    bb = by["02_basketball-004_basketball"]
    assert {m.persons["reactor"] for m in bb} | {m.persons["actor"] for m in bb} <= {"aria02", "aria03", "aria04"}
    up = bb[0].provenance["up_axis"]
    assert up["snapped"] and up["nearest_axis"] == "+z" and up["rotation"] == [[1, 0, 0], [0, 0, 1], [0, -1, 0]]
    m = next(m for m in bb if m.direction == "aria03-aria04")
    np.testing.assert_allclose(m.reactor, tree.expected["02_basketball/004_basketball"]["aria03"], atol=1e-5)
    assert m.qa_flags == []
    # 14 degrees of tilt in a world declared gravity-aligned: snapped to +Y all the same (never rotated by
    # the estimate) and flagged with the angle; only the Aria wearer reacts
    (v,) = by["05_volley-001_volley"]
    assert v.persons["reactor"] == "aria02" and v.qa_flags == ["up_axis_snapped_far"]
    assert 13.0 < v.provenance["up_axis"]["off_axis_deg"] < 15.0 and v.provenance["up_axis"]["axis_aligned"]
    np.testing.assert_array_equal(v.reactor, tree.written["05_volley/001_volley"]["aria02"].astype(np.float32))
    # 1.5 degrees: snapped to +Y exactly (no residual rotation), not flagged
    snap = by["06_snap-002_snap"][0]
    assert snap.provenance["up_axis"]["snapped"] and snap.qa_flags == []
    np.testing.assert_allclose(snap.reactor, tree.written["06_snap/002_snap"][snap.persons["reactor"]], atol=1e-6)


def test_egohumans_one_direction_and_segments(tmp_path):
    tree = write_egohumans_tree(tmp_path / "eh", [EgoSequence("01_tagging", "001_tagging", kind="handshake")])
    both = make("egohumans", tree.root).load(make("egohumans", tree.root).discover()[0])
    one_src = make("egohumans", tree.root, both_directions=False)
    one = one_src.load(one_src.discover()[0])
    assert len(both) == 2 and len(one) == 1 and one[0].direction in {m.direction for m in both}
    far = make("egohumans", tree.root, max_distance_m=0.2)
    assert far.load(far.discover()[0]) == []
    for m in both:
        for s, e in m.segments:
            assert e - s >= 40
            mask = canonical.interaction_mask(m.reactor.astype(np.float64), m.actor.astype(np.float64),
                                              max_distance_m=3.0, facing_deg=60.0)
            assert mask[s:e].mean() > 0.7


def test_harmony4d_split_in_clip_ids_and_wearer_rule(tmp_path):
    tree = write_harmony4d_tree(tmp_path / "h4d", [
        EgoSequence("01_hugging", "001_hugging", kind="hug", split="train", up="+z", wearers=("aria01", "aria02")),
        EgoSequence("01_hugging", "001_hugging", kind="handshake", split="test", wearers=()),
    ])
    ws = tmp_path / "ws"
    s = convert(make("harmony4d", tree.root), ConvertOptions(workspace=ws))
    assert (s.converted, s.empty, s.quarantined) == (1, 1, 0)  # exo-only test sequence: nobody wears an Aria
    s2 = convert(make("harmony4d", tree.root, reactor_must_wear_aria=False), ConvertOptions(workspace=ws))
    assert s2.converted == 2
    clips = list_clips(ws)
    ids = [c["clip_id"] for c in clips]
    assert any(i.startswith("harmony4d-train-01_hugging-001_hugging-") for i in ids)
    assert any(i.startswith("harmony4d-test-01_hugging-001_hugging-") for i in ids)
    assert {c["provenance"]["split"] for c in clips} == {"train", "test"}
    assert all(c["labels"]["activity"] == "hugging" and c["provenance"]["redistributable"] for c in clips)


def test_amass_follows_humanml3d(tmp_path, models):
    tree = write_amass_tree(tmp_path / "amass", models, n=2, fps=120.0, write_models=False)
    src = make("amass", tree.root, body_models=models)
    refs = src.discover()
    assert len(refs) == 3  # two motions + shape.npz
    loaded = {r.sequence_id: src.load(r) for r in refs}
    assert loaded["SynthMocap/shape"] == []
    for rel in tree.files:
        (m,) = loaded[rel]
        np.testing.assert_allclose(m.reactor, tree.expected[rel], atol=1e-5)
        assert m.actor is None and m.fps == 20 and m.provenance["stride"] == 6
        assert m.provenance["body_model"]["gender"] == ("male" if rel.endswith("approach_poses") else "female")


def test_amass_gender_rule():
    from vimo.pipelines.sources.amass import gender_of

    assert gender_of(np.array("male")) == "male"
    assert gender_of(np.array(b"male")) == "male"
    for other in (np.array("female"), np.array("neutral"), "n/a", np.array(b"\xff")):
        assert gender_of(other) == "female"


def test_joints_pairs_and_resampling(tmp_path):
    x = generate("push", seed=2, fps=30, duration_s=4.0)
    write_interactions([x], tmp_path / "synth")
    src = make("joints", tmp_path / "synth", fps=30.0)
    (ref,) = src.discover()
    assert ref.paths == (f"{x.id}_reactor.npy", f"{x.id}_actor.npy")
    (m,) = src.load(ref)
    assert len(m.reactor) == 80 and m.fps == 20
    np.testing.assert_allclose(m.reactor[::2], x.reactor[::3], atol=1e-6)   # t = 0, 0.1, ... coincide
    np.testing.assert_allclose(m.reactor[1], 0.5 * (x.reactor[1] + x.reactor[2]), atol=1e-6)
    z = tmp_path / "zup"
    z.mkdir()
    np.save(z / "walker.npy", (x.reactor.astype(np.float64) @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0.]]).T))
    zs = make("joints", z, fps=30.0, up_axis="+z")
    (zm,) = zs.load(zs.discover()[0])
    assert zm.actor is None
    np.testing.assert_allclose(zm.reactor, m.reactor, atol=1e-5)


def test_up_rotation_is_exact_for_axes():
    for name in ("+x", "-x", "+y", "-y", "+z", "-z"):
        rot = canonical.rotation_to_y_up(canonical.axis_vector(name))
        assert set(np.unique(rot)) <= {-1.0, 0.0, 1.0}
        np.testing.assert_array_equal(rot @ canonical.axis_vector(name), [0, 1, 0])
        assert math.isclose(np.linalg.det(rot), 1.0)


def test_a_world_tilted_past_the_limit_is_refused_unless_declared_not_axis_aligned(tmp_path):
    tree = write_egohumans_tree(tmp_path / "eh", [
        EgoSequence("05_volley", "001_volley", kind="handshake", tilt_deg=40.0, seed=3, wearers=("aria02",))])
    src = make("egohumans", tree.root)
    with pytest.raises(MotionError) as err:
        src.load(src.discover()[0])
    line = err.value.one_line()
    assert "declared axis-aligned" in line and "--no-axis-aligned-world" in line and "\n" not in line
    # the user's declaration that this capture is not gravity-aligned: rotated by the estimate, flagged
    free = make("egohumans", tree.root, axis_aligned_world=False)
    (m,) = free.load(free.discover()[0])
    up = m.provenance["up_axis"]
    assert m.qa_flags == ["up_axis_estimated"] and not up["snapped"] and 39.0 < up["off_axis_deg"] < 41.0
    # rotated upright by the estimate (within a few mm; left tilted, joints would be off by decimetres)
    np.testing.assert_allclose(m.reactor, tree.expected["05_volley/001_volley"]["aria02"], atol=5e-3)

"""vimo.synthetic: seeded procedural two-person interactions, their kinematics and the `synth` CLI."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from vimo import synthetic as S
from vimo.errors import VimoError
from vimo.motion.skeleton import PARENTS, RAW_OFFSETS, TARGET_BONE_LENGTHS

REQUIRED_KINDS = ("approach", "wave", "handshake", "push", "dodge", "hug", "walk_past", "sit_down_near")
SEEDS = (0, 1, 2)
FEET = [7, 8, 10, 11]


@pytest.fixture(scope="module")
def samples() -> dict[tuple[str, int], S.SyntheticInteraction]:
    """Every kind at a few seeds, 20 fps, canonical placement except seed 2 (placed off the origin)."""
    out = {}
    for kind in S.KINDS:
        for seed in SEEDS:
            place = {"world_yaw": 2.5, "world_offset": (3.0, 0.0, -1.5)} if seed == 2 else {}
            out[kind, seed] = S.generate(kind, seed=seed, **place)
    return out


def people(samples):
    for (kind, seed), x in samples.items():
        for role in ("actor", "reactor"):
            yield f"{kind}/{seed}/{role}", x, getattr(x, role)


def facing(joints: np.ndarray) -> np.ndarray:
    """Horizontal forward unit vector(s) from hips and shoulders, as HumanML3D computes it."""
    across = (joints[..., 2, :] - joints[..., 1, :]) + (joints[..., 17, :] - joints[..., 16, :])
    fwd = np.cross(np.array([0.0, 1.0, 0.0]), across)
    fwd[..., 1] = 0.0
    return fwd / np.linalg.norm(fwd, axis=-1, keepdims=True)


def test_kinds_cover_the_required_interactions():
    assert set(REQUIRED_KINDS) <= set(S.KINDS)
    assert len(S.KINDS) == len(set(S.KINDS))


@pytest.mark.parametrize("kind", S.KINDS)
def test_every_kind_generates_two_moving_people(samples, kind):
    x = samples[kind, 0]
    assert x.kind == kind and x.fps == 20 and x.seed == 0
    assert x.actor.dtype == np.float32 and x.reactor.dtype == np.float32
    assert x.actor.shape == x.reactor.shape == (x.n_frames, 22, 3)
    assert 40 <= x.n_frames <= 200  # 2-10 s at 20 fps
    assert np.isfinite(x.actor).all() and np.isfinite(x.reactor).all()
    assert x.broad_category == "Human-Human" and x.sub_category and x.text
    assert x.events and all(0.0 <= v <= x.duration_s for v in x.events.values())
    for person in (x.actor, x.reactor):
        # every person moves: some joint travels at least 10 cm from where it started
        assert np.linalg.norm(person - person[:1], axis=-1).max() > 0.1


def test_same_seed_same_arrays_different_seed_different_arrays():
    a = S.generate("hug", seed=5)
    b = S.generate("hug", seed=5)
    c = S.generate("hug", seed=6)
    np.testing.assert_array_equal(a.actor, b.actor)
    np.testing.assert_array_equal(a.reactor, b.reactor)
    assert a.text == b.text and a.events == b.events
    assert a.actor.shape != c.actor.shape or not np.allclose(a.actor, c.actor)


def test_generate_many_is_deterministic_and_cycles_kinds():
    first = S.generate_many(6, seed=3, kinds=["push", "wave"])
    again = S.generate_many(6, seed=3, kinds=["push", "wave"])
    other = S.generate_many(6, seed=4, kinds=["push", "wave"])
    assert [x.kind for x in first] == ["push", "wave"] * 3
    for x, y in zip(first, again):
        np.testing.assert_array_equal(x.actor, y.actor)
        np.testing.assert_array_equal(x.reactor, y.reactor)
    assert len({x.seed for x in first}) == 6
    assert [x.seed for x in first] != [x.seed for x in other]
    placed = S.generate_many(2, seed=3, random_placement=True)
    assert all(x.world_yaw != 0.0 for x in placed)


def test_bone_lengths_are_constant_over_time_and_human(samples):
    for name, _x, joints in people(samples):
        bones = np.linalg.norm(joints[:, 1:] - joints[:, PARENTS[1:]], axis=-1)
        assert bones.std(axis=0).max() < 1e-5, name
        ratio = bones.mean(axis=0) / TARGET_BONE_LENGTHS[1:]
        assert ratio.min() > 0.85 and ratio.max() < 1.15, name
        # one body scale per person, not independent random bones
        assert ratio.max() / ratio.min() < 1.07, name


def test_feet_stay_on_the_floor(samples):
    for name, x, joints in people(samples):
        floor = x.world_offset[1]
        lowest = joints[:, FEET, 1].min(axis=1) - floor
        assert lowest.min() > -0.005, name          # nothing sinks into the floor
        assert lowest.max() < 0.02, name            # and nobody floats: a foot is down every frame
        assert joints[:, :, 1].min() - floor > -0.005, name


def test_standing_and_walking_people_keep_their_height(samples):
    # the feet keep up with the body: nobody sinks into a crouch to reach a foot left behind
    for name, x, joints in people(samples):
        if x.kind == "sit_down_near":
            continue
        pelvis = joints[:, 0, 1] - x.world_offset[1]
        assert pelvis.min() > 0.7, name
        assert pelvis.max() - pelvis.min() < 0.25, name


def test_planted_feet_do_not_slide(samples):
    for name, x, joints in people(samples):
        for toe in (10, 11):
            height = joints[:, toe, 1] - x.world_offset[1]
            down = (height[:-1] < 0.004) & (height[1:] < 0.004)
            speed = np.linalg.norm(np.diff(joints[:, toe][:, [0, 2]], axis=0), axis=1) * x.fps
            assert down.any(), name
            assert speed[down].max() < 0.15, name


def test_motion_is_smooth(samples):
    for name, x, joints in people(samples):
        velocity = np.diff(joints, axis=0) * x.fps
        accel = np.diff(joints, n=2, axis=0) * x.fps ** 2
        assert np.linalg.norm(velocity, axis=-1).max() < 8.0, name       # m/s (a punch is ~4)
        assert np.linalg.norm(accel, axis=-1).max() < 150.0, name        # m/s^2
        # the pelvis moves like a body, not a jump cut
        assert np.linalg.norm(velocity[:, 0], axis=-1).max() < 2.5, name


def test_no_bone_points_against_its_humanml3d_rest_direction(samples):
    for name, _x, joints in people(samples):
        bones = joints[:, 1:] - joints[:, PARENTS[1:]]
        cos = (bones / np.linalg.norm(bones, axis=-1, keepdims=True) * RAW_OFFSETS[1:]).sum(-1)
        assert cos.min() > -0.99, name


@pytest.mark.parametrize("kind", ["handshake", "hug", "high_five", "push"])
def test_people_face_each_other_at_contact(samples, kind):
    for seed in SEEDS:
        x = samples[kind, seed]
        i = int(round(x.events["contact"] * x.fps))
        a, r = x.actor[i], x.reactor[i]
        a_to_r = (r[0] - a[0]) * np.array([1.0, 0.0, 1.0])
        a_to_r /= np.linalg.norm(a_to_r)
        assert facing(a) @ a_to_r > 0.9
        assert facing(r) @ -a_to_r > 0.9


def test_handshake_hands_meet_between_the_people(samples):
    for seed in SEEDS:
        x = samples["handshake", seed]
        i = int(round(x.events["contact"] * x.fps))
        a_wrist, r_wrist = x.actor[i, 21], x.reactor[i, 21]
        assert np.linalg.norm(a_wrist - r_wrist) < 0.3
        middle = 0.5 * (x.actor[i, 0] + x.reactor[i, 0])
        assert np.linalg.norm((0.5 * (a_wrist + r_wrist) - middle)[[0, 2]]) < 0.15
        assert 0.7 < a_wrist[1] - x.world_offset[1] < 1.3


def test_the_reactor_reacts_after_the_actor():
    for seed in SEEDS:
        # the answering wave starts at least a reaction delay after the actor raises a hand
        x = S.generate("wave", seed=seed)
        raised = lambda j: np.flatnonzero((j[:, [20, 21], 1] - j[:1, [20, 21], 1]).max(axis=1) > 0.2)[0]
        assert raised(x.reactor) > raised(x.actor) + 0.15 * x.fps
        # the pushed reactor is driven back, away from the actor, after the contact
        x = S.generate("push", seed=seed)
        i = int(round(x.events["contact"] * x.fps))
        away = (x.reactor[0, 0] - x.actor[0, 0]) * np.array([1.0, 0.0, 1.0])
        away /= np.linalg.norm(away)
        moved = (x.reactor[:, 0] - x.reactor[0, 0]) @ away
        assert np.abs(moved[:i]).max() < 0.05 and moved[-1] > 0.3


def test_sit_down_near_ends_seated_and_walks_swing_the_legs(samples):
    x = samples["sit_down_near", 0]
    assert x.actor[-1, 0, 1] < 0.65 and x.reactor[:, 0, 1].max() < 0.65
    assert x.actor[0, 0, 1] > 0.8
    # while walking, the two ankles take turns in front of each other
    x = samples["walk_past", 0]
    fwd = facing(x.actor)
    lead = np.einsum("tk,tk->t", x.actor[:, 7] - x.actor[:, 8], fwd)
    assert lead.max() > 0.2 and lead.min() < -0.2
    assert np.count_nonzero(np.diff(np.sign(lead)) != 0) >= 4


def test_fps_variants_sample_the_same_motion():
    base = S.generate("push", seed=4, fps=20)
    fast = S.generate("push", seed=4, fps=120)
    mid = S.generate("push", seed=4, fps=30)
    assert fast.n_frames == 6 * base.n_frames and mid.n_frames * 2 == base.n_frames * 3
    np.testing.assert_allclose(fast.actor[::6], base.actor, atol=1e-4)
    np.testing.assert_allclose(fast.reactor[::6], base.reactor, atol=1e-4)
    np.testing.assert_allclose(mid.reactor[::3], base.reactor[::2], atol=1e-4)
    odd = S.generate("push", seed=4, fps=25)  # not a divisor of the control rate: interpolated controls
    np.testing.assert_allclose(odd.actor[::5], base.actor[::4], atol=0.02)
    bones = np.linalg.norm(odd.actor[:, 1:] - odd.actor[:, PARENTS[1:]], axis=-1)
    assert bones.std(axis=0).max() < 1e-5


def test_world_yaw_and_offset_move_the_whole_scene_rigidly():
    canon = S.generate("dodge", seed=9)
    placed = S.generate("dodge", seed=9, world_yaw=np.pi / 2, world_offset=(1.0, 0.0, 2.0))
    # yaw +90 deg about +Y maps (x, y, z) -> (z, y, -x)
    expect = np.stack([canon.actor[..., 2] + 1.0, canon.actor[..., 1], -canon.actor[..., 0] + 2.0], axis=-1)
    np.testing.assert_allclose(placed.actor, expect, atol=1e-5)


def test_explicit_duration():
    x = S.generate("bow", seed=1, duration_s=3.0, fps=30)
    assert x.n_frames == 90 and x.duration_s == pytest.approx(3.0)
    longer = S.generate("bow", seed=1, duration_s=12.0)
    assert longer.n_frames == 240 and np.isfinite(longer.actor).all()


def test_walk_turns_through_more_than_half_a_circle():
    joints = S.walk(3, fps=20, n_frames=200, turn_rate=0.6)
    assert joints.shape == (200, 22, 3) and joints.dtype == np.float32
    heading = np.unwrap(np.arctan2(*facing(joints)[:, [0, 2]].T))
    assert heading[-1] - heading[0] > np.pi
    bones = np.linalg.norm(joints[:, 1:] - joints[:, PARENTS[1:]], axis=-1)
    assert bones.std(axis=0).max() < 1e-5
    lowest = joints[:, FEET, 1].min(axis=1)
    assert lowest.min() > -0.005 and lowest.max() < 0.02
    straight = S.walk(3, fps=20, n_frames=100)
    speed = np.linalg.norm(np.diff(straight[:, 0, [0, 2]], axis=0), axis=1).mean() * 20
    assert 0.6 < speed < 1.4  # m/s, already walking at frame 0
    np.testing.assert_array_equal(S.walk(3, fps=20, n_frames=100), straight)


def test_every_kind_converts_to_finite_humanml3d_features(samples):
    from vimo.motion import joints_to_features_batch

    clips = [joints for _name, _x, joints in people(samples)]
    feats = joints_to_features_batch(clips)
    for joints, f in zip(clips, feats):
        assert f.shape == (len(joints) - 1, 263) and np.isfinite(f).all()
    walk_feats = joints_to_features_batch([S.walk(0, n_frames=120, turn_rate=0.9)])[0]
    assert np.isfinite(walk_feats).all()


@pytest.mark.parametrize("call, words", [
    (lambda: S.generate("juggle", seed=0), "unknown interaction kind"),
    (lambda: S.generate("hug", seed=0, fps=0), "fps"),
    (lambda: S.generate("hug", seed=-1), "seed"),
    (lambda: S.generate("hug", seed=0, duration_s=float("nan")), "duration_s"),
    (lambda: S.generate_many(2, seed=0, kinds=[]), "no interaction kinds"),
    (lambda: S.walk(0, n_frames=1), "n_frames"),
])
def test_bad_arguments_raise_one_line_typed_errors(call, words):
    with pytest.raises(S.SynthesisError) as err:
        call()
    assert isinstance(err.value, VimoError) and isinstance(err.value, ValueError)
    assert words in str(err.value) and "\n" not in str(err.value) and "fix:" in str(err.value)


def test_cli_generate_writes_arrays_and_index(tmp_path):
    from vimo.cli import main

    out = tmp_path / "synth"
    assert main(["synth", "generate", "--out", str(out), "--n", "3", "--seed", "2", "--fps", "30",
                 "--kinds", "handshake,push"]) == 0
    rows = list(csv.DictReader((out / "index.csv").open()))
    assert [r["kind"] for r in rows] == ["handshake", "push", "handshake"]
    index = json.loads((out / "index.json").read_text())
    assert index["format_version"] == S.EXPORT_FORMAT_VERSION and len(index["interactions"]) == 3
    expected = S.generate_many(3, seed=2, kinds=["handshake", "push"], fps=30)
    for row, x in zip(rows, expected):
        assert row["id"] == x.id and int(row["n_frames"]) == x.n_frames
        assert row["broad_category"] == "Human-Human" and float(row["fps"]) == 30
        np.testing.assert_array_equal(np.load(out / row["actor_file"]), x.actor)
        np.testing.assert_array_equal(np.load(out / row["reactor_file"]), x.reactor)
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_cli_reports_bad_kinds_in_one_line(tmp_path, capsys):
    from vimo.cli import main

    code = main(["synth", "generate", "--out", str(tmp_path / "x"), "--kinds", "handshake,juggle"])
    err = capsys.readouterr().err
    assert code != 0 and "juggle" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert main(["synth", "generate", "--out", str(blocked), "--n", "1"]) != 0
    assert "not a folder" in capsys.readouterr().err

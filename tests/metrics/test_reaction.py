"""vimo.metrics.reaction against hand-computed cases: capsule geometry and overlap volumes with closed forms,
bodies collapsed to spheres at a known distance, a step onset at a known frame, known head directions and
camera tracks."""
from __future__ import annotations

import math

import numpy as np
import pytest

from vimo.metrics import reaction as rx
from vimo.motion.skeleton import PARENTS, TARGET_OFFSETS

FPS = 20.0


def rest_pose(origin=(0.0, 0.9, 0.0), yaw_deg: float = 0.0) -> np.ndarray:
    """(22, 3) the HumanML3D rest pose (facing +Z, arms down) at `origin`, turned by `yaw_deg` about +Y, with
    the head above the neck (the raw rest offsets point it forward)."""
    j = np.zeros((22, 3))
    for k in range(1, 22):
        j[k] = j[PARENTS[k]] + (TARGET_OFFSETS[k] if k != 15 else (0.0, 0.103, 0.0))
    c, s = math.cos(math.radians(yaw_deg)), math.sin(math.radians(yaw_deg))
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return j @ rot.T + np.asarray(origin)


def still(pose: np.ndarray, frames: int = 40) -> np.ndarray:
    return np.repeat(pose[None], frames, axis=0)


def lens_volume(r1: float, r2: float, d: float) -> float:
    """Volume of the intersection of two balls (closed form)."""
    if d >= r1 + r2:
        return 0.0
    return math.pi * (r1 + r2 - d) ** 2 * (d * d + 2 * d * r2 - 3 * r2 * r2 + 2 * d * r1 + 6 * r2 * r1
                                            - 3 * r1 * r1) / (12 * d)


# ----------------------------------------------------------------------------------- geometry
@pytest.mark.parametrize("p0, p1, q0, q1, expected", [
    ((0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0), 1.0),          # parallel, side by side
    ((-1, 0, 0), (1, 0, 0), (0, -1, 2), (0, 1, 2), 2.0),        # skew, crossing above each other
    ((0, 0, 0), (1, 0, 0), (2, 0, 0), (3, 1, 0), 1.0),          # end to end
    ((0, 0, 0), (1, 0, 0), (3, 4, 0), (3, 4, 0), math.hypot(2, 4)),   # segment to a point
    ((0, 0, 0), (0, 0, 0), (0, 3, 0), (0, 3, 0), 3.0),          # two points
    ((0, 0, 0), (2, 0, 0), (1, -1, 0), (1, 1, 0), 0.0),         # intersecting
])
def test_segment_distances_match_hand_computed_cases(p0, p1, q0, q1, expected):
    args = [np.asarray(v, float) for v in (p0, p1, q0, q1)]
    assert rx.segment_distances(*args) == pytest.approx(expected, abs=1e-12)
    assert rx.segment_distances(args[2], args[3], args[0], args[1]) == pytest.approx(expected, abs=1e-12)


def test_segment_distances_agree_with_dense_sampling():
    rng = np.random.default_rng(0)
    p0, p1, q0, q1 = rng.normal(size=(4, 50, 3))
    got = rx.segment_distances(p0, p1, q0, q1)
    u = np.linspace(0, 1, 401)
    a = p0[:, None] + u[None, :, None] * (p1 - p0)[:, None]
    b = q0[:, None] + u[None, :, None] * (q1 - q0)[:, None]
    brute = np.linalg.norm(a[:, :, None] - b[:, None], axis=-1).min((1, 2))
    assert (got <= brute + 1e-12).all() and np.allclose(got, brute, atol=5e-3)


def test_overlap_volume_of_two_balls_is_the_lens_volume():
    a = np.zeros((1, 3))
    b = np.array([[0.1, 0.0, 0.0]])
    got = rx.overlap_volume(a, a, [0.1], b, b, [0.1], voxel=0.004)
    assert got == pytest.approx(lens_volume(0.1, 0.1, 0.1), rel=0.03)
    assert rx.overlap_volume(a, a, [0.1], b + 0.2, b + 0.2, [0.1]) == 0.0


def test_overlap_volume_of_two_parallel_capsules_is_cylinder_lens_plus_end_caps():
    """Capsules of radius r, length L, axes d apart: L * (circle-circle overlap area) + one ball lens (two
    half lenses at the ends)."""
    r, d, length = 0.1, 0.1, 0.6
    area = 2 * r * r * math.acos(d / (2 * r)) - d / 2 * math.sqrt(4 * r * r - d * d)
    expected = length * area + lens_volume(r, r, d)
    a0, a1 = np.array([[0, 0, 0.0]]), np.array([[0, length, 0.0]])
    got = rx.overlap_volume(a0, a1, [r], a0 + [d, 0, 0], a1 + [d, 0, 0], [r], voxel=0.005)
    assert got == pytest.approx(expected, rel=0.03)


# ----------------------------------------------------------------------------------- penetration, proximity
def collapsed(at, frames: int = 5) -> np.ndarray:
    """A body whose 22 joints are one point: every capsule is a ball at `at`, the largest of radius 0.12."""
    return np.broadcast_to(np.asarray(at, float), (frames, 22, 3)).copy()


@pytest.mark.parametrize("distance", [0.05, 0.2, 0.3])
def test_two_bodies_at_known_overlap(distance):
    reactor, actor = collapsed((0, 1, 0), 2), collapsed((0, 1, distance), 2)
    big = rx.BONE_RADII.max()
    pen = rx.penetration(reactor, actor, voxel=0.005)
    assert big == pytest.approx(0.12)
    np.testing.assert_allclose(pen.depth, max(0.0, 2 * big - distance), atol=1e-12)
    np.testing.assert_allclose(pen.volume, lens_volume(big, big, distance), rtol=0.03, atol=1e-9)
    assert pen.frames == (1.0 if 2 * big - distance > rx.PENETRATION_TOL else 0.0)
    np.testing.assert_allclose(rx.clearance(reactor, actor), distance - 2 * big, atol=1e-12)
    m = rx.clip_measures(reactor, actor, FPS, voxel=0.005)
    assert m.min_distance == pytest.approx(distance - 2 * big)
    assert m.contact_frames == (1.0 if distance - 2 * big < rx.CONTACT_M else 0.0)
    assert m.penetration_volume == pytest.approx(lens_volume(big, big, distance) * 1e6, rel=0.03, abs=1e-3)


def test_penetration_share_counts_only_overlapping_frames():
    reactor = collapsed((0, 1, 0), frames=10)
    actor = collapsed((0, 1, 2.0), frames=10)
    actor[:3] = (0, 1, 0.1)                     # 3 of 10 frames 14 cm deep
    pen = rx.penetration(reactor, actor, volume=False)
    assert pen.frames == pytest.approx(0.3)
    np.testing.assert_allclose(pen.depth[:3], 0.14)
    assert (pen.depth[3:] == 0).all() and (pen.volume == 0).all()


def test_identical_bodies_overlap_by_twice_the_largest_radius():
    body = still(rest_pose(), 3)
    pen = rx.penetration(body, body, volume=False)
    np.testing.assert_allclose(pen.depth, 2 * rx.BONE_RADII.max())


def test_proximity_histogram_distance_is_the_shift():
    a = np.full(100, 0.5)
    b = a + 0.3
    ha, hb = rx.proximity_histogram(a), rx.proximity_histogram(b)
    assert ha.sum() == hb.sum() == 100
    assert rx.histogram_distance(ha, hb) == pytest.approx(0.3)
    assert rx.histogram_distance(ha, ha) == 0.0
    # half the mass moved by 1 m -> 0.5 m
    c = np.concatenate([np.full(50, 0.5), np.full(50, 1.5)])
    assert rx.histogram_distance(ha, rx.proximity_histogram(c)) == pytest.approx(0.5)
    # out-of-range values fall into the outer bins
    assert rx.proximity_histogram([-5.0, 50.0])[[0, -1]].tolist() == [1.0, 1.0]


def test_wasserstein_of_samples_matches_hand_computation():
    assert rx.wasserstein_1d([0.0, 1.0], [0.5, 1.5]) == pytest.approx(0.5)
    assert rx.wasserstein_1d([0.0], [0.0, 2.0]) == pytest.approx(1.0)
    assert rx.wasserstein_1d([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == 0.0


# ----------------------------------------------------------------------------------- timing
def step_motion(start: int, frames: int = 60, speed: float = 1.0, z: float = 0.0) -> np.ndarray:
    """At rest (at depth `z`) until frame `start`, then every joint moves along +X at `speed` m/s."""
    body = still(rest_pose(origin=(0.0, 0.9, z)), frames)
    t = np.maximum(0, np.arange(frames) - start) / FPS
    body[..., 0] += (speed * t)[:, None]
    return body


def test_a_step_start_is_found_at_its_first_moving_frame():
    assert rx.onset_frame(step_motion(17), FPS) == 17
    assert rx.onset_frame(step_motion(0), FPS) == 0
    assert rx.onset_frame(still(rest_pose()), FPS) is None


def test_known_onset_lag():
    actor, reactor = step_motion(20, speed=0.8), step_motion(30, speed=1.5)
    assert rx.onset_lag(reactor, actor, FPS) == pytest.approx(0.5)
    assert rx.onset_lag(actor, reactor, FPS) == pytest.approx(-0.5)
    assert rx.onset_lag(still(rest_pose(), 60), actor, FPS) is None


def test_onset_after_an_initial_settling_motion():
    """Moving at the start, still, then a larger motion: the onset is the larger motion's start, not frame 0."""
    body = step_motion(35, frames=70, speed=1.0)
    body[:6, :, 2] += np.linspace(0.1, 0.0, 6)[:, None]   # settles during frames 0-5
    assert rx.onset_frame(body, FPS) == 35


# ----------------------------------------------------------------------------------- viewpoint
def test_head_direction_of_the_rest_pose_is_forward_and_follows_the_yaw():
    np.testing.assert_allclose(rx.head_directions(still(rest_pose(), 2))[0], [0, 0, 1], atol=1e-6)
    turned = rx.head_directions(still(rest_pose(yaw_deg=90), 2))[0]
    np.testing.assert_allclose(turned, [1, 0, 0], atol=1e-6)


def test_facing_angle_of_a_known_head_direction():
    reactor = rest_pose()
    head_y = reactor[rx.HEAD, 1]
    for where, expected_flat in (((0, 0, 2.0), 0.0), ((0, 0, -2.0), 180.0), ((2.0, 0, 0), 90.0)):
        actor = rest_pose(origin=np.add((0, 0.9, 0), where))
        to_chest = actor[rx.CHEST] - reactor[rx.HEAD]
        tilt = math.degrees(math.atan2(head_y - actor[rx.CHEST, 1], np.linalg.norm(to_chest[[0, 2]])))
        got = rx.facing_angles(still(reactor, 2), still(actor, 2))
        if expected_flat == 0.0:
            assert got[0] == pytest.approx(tilt, abs=1e-6)
        elif expected_flat == 180.0:
            assert got[0] == pytest.approx(180.0 - tilt, abs=1e-6)
        else:
            # direction (1, -tan(tilt)·, 0)-ish vs forward +Z: exactly 90 degrees (the target is in the X-Y plane)
            assert got[0] == pytest.approx(90.0, abs=1e-6)
    m = rx.clip_measures(still(reactor), still(rest_pose(origin=(0, 0.9, -2.0))), FPS, volume=False)
    assert m.facing_frames == 0.0 and m.facing_angle > 170


def head_camera(reactor: np.ndarray, fps: float) -> dict:
    """A camera track that sits on the reactor's head and looks where it looks (OpenGL: -Z forward)."""
    mats = []
    for h, fwd in zip(reactor[:, rx.HEAD], rx.head_directions(reactor)):
        z = -fwd
        x = np.cross([0.0, 1.0, 0.0], z)
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        m = np.eye(4)
        m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = x, y, z, h
        mats.append(m.tolist())
    return {"format": "vimo-camera-track-v1", "fps": fps, "width": 1280, "height": 720, "yfov_rad": math.pi / 3,
            "convention": "opengl-camera-to-world", "frame": "clip", "camera_to_world": mats}


def walking_turning(frames: int = 40) -> np.ndarray:
    """Walks along +Z at 1 m/s while turning about its pelvis at 45 degrees/s."""
    out = []
    for t in range(frames):
        pose = rest_pose(yaw_deg=45.0 * t / FPS) - [0, 0.9, 0]
        out.append(pose + [0, 0.9, 1.0 * t / FPS])
    return np.array(out)


def test_camera_on_the_head_is_consistent_and_a_fixed_camera_is_not():
    reactor = walking_turning()
    own = rx.camera_track(head_camera(reactor, FPS))
    got = rx.camera_consistency(reactor, own, FPS)
    assert got["camera_angle"] == pytest.approx(0.0, abs=1e-4)
    assert got["camera_speed_gap"] == pytest.approx(0.0, abs=1e-9)
    assert got["camera_turn_gap"] == pytest.approx(0.0, abs=1e-9)
    fixed = head_camera(reactor[:2], FPS)
    fixed["camera_to_world"] = fixed["camera_to_world"][:1]   # one video frame: the camera stays where the head started
    got = rx.camera_consistency(reactor, rx.camera_track(fixed), FPS)
    # the head (above the pelvis, the turning axis) translates at 1 m/s; the yaw rate is 45 degrees/s
    assert got["camera_speed_gap"] == pytest.approx(1.0)
    assert got["camera_turn_gap"] == pytest.approx(45.0)
    assert got["camera_angle"] == pytest.approx(45.0 * (len(reactor) - 1) / FPS / 2, abs=1e-6)


def test_camera_track_at_another_frame_rate_is_resampled_by_time():
    """A 40 fps track of the head of the same walk: each motion frame takes the video frame at its time."""
    reactor = walking_turning(41)
    fine = []
    for t in range(81):
        pose = rest_pose(yaw_deg=45.0 * t / 40.0) - [0, 0.9, 0]
        fine.append(pose + [0, 0.9, t / 40.0])
    doc = head_camera(np.array(fine), 40.0)
    got = rx.camera_consistency(reactor, rx.camera_track(doc), FPS)
    assert got["camera_speed_gap"] == pytest.approx(0.0, abs=1e-9)
    assert got["camera_angle"] == pytest.approx(0.0, abs=1e-4)
    assert rx.camera_track(doc).intrinsics()[0, 0] == pytest.approx(360 / math.tan(math.pi / 6))


@pytest.mark.parametrize("bad", [{"format": "other"}, {"format": "vimo-camera-track-v1", "fps": 20,
                                                        "camera_to_world": [[1, 0], [0, 1]]}])
def test_a_malformed_camera_track_is_one_line_naming_the_file(bad):
    with pytest.raises(rx.ReactionMeasureError) as err:
        rx.camera_track(bad, path="cameras/v1.json")
    assert "cameras/v1.json" in str(err.value) and "\n" not in str(err.value) and "fix:" in str(err.value)


def test_bad_joints_are_refused():
    with pytest.raises(rx.ReactionMeasureError, match=r"\(T, 22, 3\)"):
        rx.clearance(np.zeros((5, 21, 3)), np.zeros((5, 22, 3)))
    bad = still(rest_pose(), 3)
    bad[1, 4, 0] = np.nan
    with pytest.raises(rx.ReactionMeasureError, match="NaN"):
        rx.penetration(bad, still(rest_pose(), 3))


# ----------------------------------------------------------------------------------- stateful twin
def test_stateful_measures_equal_the_functional_ones_and_compare_with_a_reference():
    real = [(step_motion(30), step_motion(20, z=1.2)), (step_motion(26), step_motion(20, z=1.2))]
    real_clips = [rx.clip_measures(r, a, FPS) for r, a in real]
    reference = rx.ReactionReference.from_clips(real_clips)
    assert sorted(reference.lags) == pytest.approx([0.3, 0.5])
    metric = rx.ReactionMeasures(FPS, reference)
    early = step_motion(10)
    for reactor in (early, step_motion(30)):
        metric.update(reactor, step_motion(20, z=1.2))
    out = metric.compute()
    assert out["onset_lag"] == pytest.approx(0.0)                      # (-0.5 + 0.5) / 2
    assert out["early_reactions"] == pytest.approx(0.5)
    assert out["onset_lag_w1"] == pytest.approx(wasserstein := rx.wasserstein_1d([-0.5, 0.5], [0.3, 0.5]))
    assert wasserstein == pytest.approx((0.8 + 0.0) / 2)
    generated = np.concatenate([c.clearances for c in metric.clips])
    assert out["proximity_w1"] == pytest.approx(rx.histogram_distance(rx.proximity_histogram(generated),
                                                                      reference.proximity))
    assert out == rx.summarise(metric.clips, reference)
    assert rx.outliers({"a": metric.clips[0], "b": metric.clips[1]})["reacting_early"] == ["a"]
    metric.reset()
    with pytest.raises(rx.ReactionMeasureError):
        metric.compute()

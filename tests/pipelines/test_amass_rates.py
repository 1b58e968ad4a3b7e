"""AMASS at its real rates (59.94, 60, 100, 120, 250 fps): exactly 20 fps by time, the stride frames when the
ratio is an integer, HumanML3D's int(fps / 20) step only on request. The synthetic files move as known
functions of time (translation x = t seconds, joint angles linear in t), so every output frame can be
checked against the pose at t = k / 20 s."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vimo.pipelines import canonical
from vimo.pipelines.body import forward_joints, load_body_model, rest_joints
from vimo.pipelines.convert import build_clips
from vimo.pipelines.samples.sources import write_body_models
from vimo.pipelines.sources import get_source
from vimo.pipelines.sources.amass import TO_Y_UP
from vimo.pipelines.sources.joints import resample, sample_positions

SECONDS = 3.0
BETAS = np.linspace(-0.5, 0.5, 16)


def pose_at(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AMASS poses (T, 156) and trans (T, 3) at times `t` (s): translation x = t, y = 0.2 t, z = 0.9; the body
    turns about the vertical (Z) at 0.5 rad/s; the left hip, left knee and right shoulder bend at constant
    angular speeds about fixed axes (so the rotation at any t is known exactly)."""
    t = np.asarray(t, dtype=np.float64)
    poses = np.zeros((len(t), 156))
    # root: the SMPL-H body (Y up in its own frame) stood up in the Z-up AMASS world, then turning about +Z;
    # the turn between any two frames is about one fixed axis, so slerp stays exact
    poses[:, :3] = (Rotation.from_rotvec(np.outer(0.5 * t, [0.0, 0.0, 1.0]))
                    * Rotation.from_rotvec([np.pi / 2, 0.0, 0.0])).as_rotvec()
    poses[:, 3:6] = np.outer(0.4 * t, [1.0, 0.0, 0.0])      # joint 1, left hip
    poses[:, 12:15] = np.outer(-0.6 * t, [1.0, 0.0, 0.0])   # joint 4, left knee
    axis = np.array([0.0, 0.6, 0.8])
    poses[:, 48:51] = np.outer(0.7 * t, axis)               # joint 17, right shoulder
    trans = np.stack([t, 0.2 * t, np.full_like(t, 0.9)], axis=1)
    return poses, trans


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("amass-models")
    write_body_models(d, "smplh", ("male", "female"))
    return d


def write_file(root, fps: float, name: str = "subject_0/motion_poses") -> tuple[str, int]:
    n = int(math.floor(SECONDS * fps + 1e-9)) + 1
    poses, trans = pose_at(np.arange(n) / fps)
    path = root / "Synth" / f"{name}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, poses=poses, trans=trans, betas=BETAS, gender=np.array("male"), mocap_framerate=np.array(fps),
             dmpls=np.zeros((n, 8)))
    return f"Synth/{name}", n


def load(root, models, **cfg):
    cls = get_source("amass")
    src = cls(root, cls.config_class(body_models=models, **cfg))
    (ref,) = src.discover()
    (m,) = src.load(ref)
    return m


def expected_joints(models, poses, trans) -> np.ndarray:
    model = load_body_model(models, "smplh", "male")
    j = forward_joints(model, rest_joints(model, BETAS[:10]), poses[:, :3], poses[:, 3:66], trans)
    return canonical.apply_rotation(j, TO_Y_UP)


@pytest.mark.parametrize("fps", [59.94, 250.0, 50.0])
def test_non_integer_rates_sample_t_equals_k_over_20(tmp_path, models, fps):
    rel, n = write_file(tmp_path, fps)
    m = load(tmp_path, models)
    k = np.arange(int(math.floor((n - 1) * 20.0 / fps + 1e-9)) + 1)
    t = k / 20.0
    assert m.fps == 20.0 and len(m.reactor) == len(k)
    # the root sits where trans(t) puts it: x_amass = t  ->  -x in the Y-up output
    model = load_body_model(models, "smplh", "male")
    pelvis_x = rest_joints(model, BETAS[:10])[0, 0]
    assert np.abs(-m.reactor[:, 0, 0].astype(np.float64) - pelvis_x - t).max() < 1e-6
    # every joint is the forward kinematics of the pose at t = k / 20 s (slerp of rotations turning at a
    # constant rate about a fixed axis is exact)
    want = expected_joints(models, *pose_at(t))
    err = np.abs(m.reactor.astype(np.float64) - want).max()
    assert err < 1e-6, err
    np.testing.assert_allclose(m.source_frames, np.round(k * fps / 20.0, 6))
    assert m.provenance["resample"] == {"method": "slerp-time", "source_fps": fps, "target_fps": 20.0,
                                        "rotations": "slerp of each joint's local rotation", "translation": "linear"}
    assert m.provenance["stride"] is None and m.provenance["source_fps"] == fps


def test_non_integer_rate_is_not_a_plain_stride(tmp_path, models):
    """At 59.94 fps the nearest stride (3) drifts off t = k / 20: by the last frame of 3 s the stride frame
    lies 0.15 source frames away, which the output must not show."""
    write_file(tmp_path, 59.94)
    m = load(tmp_path, models)
    poses, trans = pose_at(np.arange(0, 180, 3) / 59.94)
    strided = expected_joints(models, poses, trans)[: len(m.reactor)]
    assert np.abs(m.reactor - strided).max() > 1e-3


@pytest.mark.parametrize("fps, stride", [(60.0, 3), (120.0, 6), (100.0, 5), (59.999996, 3)])
def test_integer_ratios_keep_the_exact_stride_frames(tmp_path, models, fps, stride):
    rel, n = write_file(tmp_path, fps)
    m = load(tmp_path, models)
    raw = np.load(tmp_path / f"{rel}.npz")
    keep = np.arange(0, n, stride)
    want = expected_joints(models, raw["poses"][keep], raw["trans"][keep]).astype(np.float32)
    np.testing.assert_array_equal(m.reactor, want)  # the very frames 0, k, 2k, ... as HumanML3D keeps them
    np.testing.assert_array_equal(m.source_frames, keep)
    assert m.fps == 20.0 and m.provenance["resample"] == {"method": "stride", "stride": stride}
    assert m.provenance["stride"] == stride


def test_humanml3d_stride_reproduces_the_reference_quirk(tmp_path, models):
    rel, n = write_file(tmp_path, 59.94)
    m = load(tmp_path, models, humanml3d_stride=True)
    raw = np.load(tmp_path / f"{rel}.npz")
    keep = np.arange(0, n, 2)  # int(59.94 / 20) = 2
    np.testing.assert_array_equal(m.reactor, expected_joints(models, raw["poses"][keep], raw["trans"][keep])
                                  .astype(np.float32))
    assert m.fps == pytest.approx(29.97) and m.provenance["resample"]["method"] == "humanml3d-stride"
    from vimo.pipelines.sources.base import ClipRef

    (clip,) = build_clips("amass", ClipRef(key="x", sequence_id=rel, paths=(f"{rel}.npz",)), [m])
    assert "fps_not_20" in clip.meta["qa"]["flags"]


@pytest.mark.parametrize("fps", [59.94, 250.0, 30.0, 24.0])
def test_joints_resample_samples_t_equals_k_over_20(fps):
    n = int(SECONDS * fps) + 1
    t = np.arange(n) / fps
    joints = np.zeros((n, 22, 3))
    joints[..., 0] = t[:, None]  # x = t seconds
    out, positions = resample(joints, fps)
    k = np.arange(len(out))
    assert len(out) == int(math.floor((n - 1) * 20.0 / fps + 1e-9)) + 1
    assert np.abs(out[:, :, 0] - (k / 20.0)[:, None]).max() < 1e-9
    stride = sample_positions(n, fps)[1]
    assert stride is None and np.allclose(positions, k * fps / 20.0)

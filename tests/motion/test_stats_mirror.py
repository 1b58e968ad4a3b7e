"""Mean/Std statistics, feat_bias and mirroring."""
from __future__ import annotations

import numpy as np
import pytest

from vimo.errors import MotionError
from vimo.motion import FeatureStats, apply_feat_bias, feature_stats, joints_to_features, mirror_joints
from vimo.motion.skeleton import STD_GROUPS


def _random_parts(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(rng.normal(size=263), rng.uniform(0.1, 3, 263), (n, 263)).astype(np.float32)
            for n in (1, 7, 40, 199, 3)]


def test_stats_equal_direct_numpy_computation():
    parts = _random_parts()
    whole = np.concatenate(parts).astype(np.float64)
    mean, std = feature_stats(parts)
    np.testing.assert_allclose(mean, whole.mean(0), rtol=1e-6, atol=1e-6)
    raw = whole.std(0)  # population std (ddof 0)
    for sl in STD_GROUPS:
        np.testing.assert_allclose(std[sl], raw[sl].mean(), rtol=1e-6)
    _, ungrouped = feature_stats(parts, group_average=False)
    np.testing.assert_allclose(ungrouped, raw, rtol=1e-5)


def test_merged_parts_equal_whole():
    parts = _random_parts(1)
    a, b = FeatureStats(), FeatureStats()
    for p in parts[:2]:
        a.update(p)
    for p in parts[2:]:
        b.update(p)
    merged = a.merge(b)
    whole = FeatureStats()
    whole.update(np.concatenate(parts))
    assert merged.count == whole.count == sum(len(p) for p in parts)
    for x, y in zip(merged.finalize(group_average=False), whole.finalize(group_average=False)):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
    # merging is symmetric
    np.testing.assert_allclose(b.merge(a).finalize()[1], merged.finalize()[1], rtol=1e-6)


def test_nan_arrays_are_skipped_like_the_official_script():
    parts = _random_parts(2)
    bad = parts[2].copy()
    bad[5, 7] = np.nan
    acc = FeatureStats()
    for p in parts + [bad]:
        acc.update(p)
    assert acc.skipped == 1
    np.testing.assert_allclose(acc.finalize()[0], feature_stats(parts)[0], rtol=1e-6)


def test_stats_errors():
    with pytest.raises(MotionError, match="no finite"):
        FeatureStats().finalize()
    with pytest.raises(MotionError, match="expected"):
        FeatureStats().update(np.zeros((3, 251)))


def test_official_std_has_group_structure(hml3d_dir):
    std = np.load(hml3d_dir / "Std.npy")
    for sl in STD_GROUPS:
        assert np.ptp(std[sl]) == 0  # each group holds one value, as our group averaging produces


def test_feat_bias_double_division_quirk(hml3d_dir):
    std = np.load(hml3d_dir / "Std.npy")
    twice = apply_feat_bias(std)
    np.testing.assert_allclose(twice[:4], std[:4] / 25, rtol=1e-6)
    np.testing.assert_allclose(twice[259:], std[259:] / 25, rtol=1e-6)
    np.testing.assert_array_equal(twice[4:259], std[4:259])
    np.testing.assert_allclose(apply_feat_bias(std, times=1)[:4], std[:4] / 5, rtol=1e-6)
    assert std[0] == np.load(hml3d_dir / "Std.npy")[0]  # input untouched


def test_mirror_twice_is_identity(joints_000021):
    np.testing.assert_array_equal(mirror_joints(mirror_joints(joints_000021)), joints_000021)
    hands = np.random.default_rng(0).normal(size=(5, 52, 3))
    np.testing.assert_array_equal(mirror_joints(mirror_joints(hands)), hands)


def test_mirror_swaps_sides_and_negates_x(joints_000021):
    m = mirror_joints(joints_000021)
    np.testing.assert_array_equal(m[:, 1, 0], -joints_000021[:, 2, 0])  # left hip <- right hip
    np.testing.assert_array_equal(m[:, 21], joints_000021[:, 20] * [-1, 1, 1])
    np.testing.assert_array_equal(m[:, 0, 0], -joints_000021[:, 0, 0])
    hands = np.arange(52 * 3, dtype=float).reshape(1, 52, 3)
    mh = mirror_joints(hands)
    assert mh[0, 22, 1] == hands[0, 43, 1] and mh[0, 43, 1] == hands[0, 22, 1]


def test_mirrored_motion_has_mirrored_features(joints_000021):
    """A mirrored clip turns the other way: the root angular velocity changes sign (rows >= 1)."""
    a = joints_to_features(joints_000021)
    b = joints_to_features(mirror_joints(joints_000021))
    np.testing.assert_allclose(b[1:60, 0], -a[1:60, 0], atol=2e-4)
    # root height nearly unchanged: the scale differs slightly because it comes from the right leg
    # only (Q8), which is the original left leg after mirroring
    np.testing.assert_allclose(b[:, 3], a[:, 3], atol=2e-3)
    assert np.abs(b[:, 3] - a[:, 3]).max() > 1e-5


def test_mirror_bad_shape():
    with pytest.raises(MotionError):
        mirror_joints(np.zeros((4, 10, 3)))

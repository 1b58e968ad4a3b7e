"""HumanML3D 263-d motion representation, faithful to the official implementation.

Public API (see docs/humanml3d.md):
    joints_to_features(joints)            (T, 22, 3) metres, Y up, 20 fps -> (T-1, 263) float32
    joints_to_features_batch(list)        many clips of different lengths at once (same results)
    recover_from_ric(features)            (T-1, 263) -> (T-1, 22, 3)
    recover_from_rot(features)            (T-1, 263) -> (T-1, 22, 3)
    recover_root(features)                -> root quaternions (T-1, 4), root positions (T-1, 3)
    uniform_skeleton(joints)              retarget to the 000021 target bone lengths
    mirror_joints(joints)                 left/right swap + x negation ("M" files)
    feature_stats(arrays)                 -> (mean, std) with per-group std averaging
    apply_feat_bias(std)                  the training-time feat_bias adjustment
"""
from vimo.motion.features import check_joints, joints_to_features, joints_to_features_batch, uniform_skeleton
from vimo.motion.mirror import mirror_joints
from vimo.motion.recover import check_features, recover_from_ric, recover_from_rot, recover_root
from vimo.motion.skeleton import (
    FACE_JOINTS, FEATURE_DIM, FEATURE_SLICES, FPS, JOINT_NAMES, KINEMATIC_CHAINS, N_JOINTS, PARENTS,
    RAW_OFFSETS, TARGET_BONE_LENGTHS, TARGET_OFFSETS,
)
from vimo.motion.stats import FeatureStats, apply_feat_bias, feature_stats, group_average_std

__all__ = [
    "joints_to_features", "joints_to_features_batch", "uniform_skeleton", "check_joints", "check_features",
    "recover_from_ric", "recover_from_rot", "recover_root", "mirror_joints", "FeatureStats", "feature_stats",
    "apply_feat_bias", "group_average_std", "FACE_JOINTS", "FEATURE_DIM", "FEATURE_SLICES", "FPS",
    "JOINT_NAMES", "KINEMATIC_CHAINS", "N_JOINTS", "PARENTS", "RAW_OFFSETS", "TARGET_BONE_LENGTHS",
    "TARGET_OFFSETS",
]

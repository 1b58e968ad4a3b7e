"""A literal, per-clip transcription of the official HumanML3D `process_file` steps.

Written from docs/humanml3d.md §2 with the same structure as the reference (IK per chain
with running quaternions, FK per chain, scipy's Gaussian filter). It is slow on purpose: it is the
oracle that the fast batch implementation in `features.py` is tested against, and the baseline of
`benchmarks/features.py`. Input must already be validated (see `features.check_joints`).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from vimo.motion import quaternion as Q
from vimo.motion.skeleton import (
    FACE_JOINTS, FEET_THRESHOLD, FOOT_LEFT, FOOT_RIGHT, KINEMATIC_CHAINS, LEG_BONES, PARENTS,
    RAW_OFFSETS, TARGET_OFFSETS,
)

_Y = np.array([0.0, 1.0, 0.0], dtype=np.float32)
_Z = np.array([0.0, 0.0, 1.0], dtype=np.float32)


def _ik(joints: np.ndarray, smooth_forward: bool) -> np.ndarray:
    """inverse_kinematics_np: (T, 22, 3) -> local quaternions (T, 22, 4), [:, 0] = root facing."""
    r_hip, l_hip, sdr_r, sdr_l = FACE_JOINTS
    # Q1: the reference unpacks the facing joints as (l_hip, r_hip, ...), so the hips are swapped here.
    across = (joints[:, r_hip] - joints[:, l_hip]) * -1 + (joints[:, sdr_r] - joints[:, sdr_l])
    across = across / np.linalg.norm(across, axis=-1, keepdims=True)
    forward = np.cross(_Y[None], across)
    if smooth_forward:
        forward = gaussian_filter1d(forward, 20, axis=0, mode="nearest")
    forward = forward / np.linalg.norm(forward, axis=-1, keepdims=True)
    root = Q.qbetween(forward, np.broadcast_to(_Z, forward.shape))
    quats = np.zeros(joints.shape[:-1] + (4,), dtype=joints.dtype)
    root[0] = (1.0, 0.0, 0.0, 0.0)  # Q2
    quats[:, 0] = root
    for chain in KINEMATIC_CHAINS:
        R = root
        for parent, child in zip(chain[:-1], chain[1:]):
            u = np.broadcast_to(RAW_OFFSETS[child], (len(joints), 3))
            v = joints[:, child] - joints[:, parent]
            v = v / np.linalg.norm(v, axis=-1, keepdims=True)
            local = Q.qmul(Q.qconj(R), Q.qbetween(u, v))
            quats[:, child] = local
            R = Q.qmul(R, local)
    return quats


def _fk(quats: np.ndarray, root_pos: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    joints = np.zeros(quats.shape[:-1] + (3,), dtype=quats.dtype)
    joints[:, 0] = root_pos
    for chain in KINEMATIC_CHAINS:
        R = quats[:, 0]
        for parent, child in zip(chain[:-1], chain[1:]):
            R = Q.qmul(R, quats[:, child])
            joints[:, child] = Q.qrot(R, np.broadcast_to(offsets[child], root_pos.shape)) + joints[:, parent]
    return joints


def uniform_skeleton_reference(joints: np.ndarray) -> np.ndarray:
    lengths = np.linalg.norm(joints[0, 1:] - joints[0, PARENTS[1:]], axis=-1)
    src_leg = lengths[LEG_BONES[0] - 1] + lengths[LEG_BONES[1] - 1]
    tgt_lengths = np.abs(TARGET_OFFSETS).max(axis=-1)
    scale = (tgt_lengths[LEG_BONES[0]] + tgt_lengths[LEG_BONES[1]]) / src_leg
    quats = _ik(joints, smooth_forward=False)
    return _fk(quats, joints[:, 0] * scale, TARGET_OFFSETS.astype(joints.dtype))


def process_file_reference(joints: np.ndarray, feet_threshold: float = FEET_THRESHOLD) -> np.ndarray:
    """(T, 22, 3) -> (T-1, 263), computed step by step as the reference does."""
    p = uniform_skeleton_reference(joints.astype(np.float32))
    p[:, :, 1] -= p.min(axis=0).min(axis=0)[1]
    root_init = p[0]
    p = p - root_init[0] * np.array([1, 0, 1], dtype=p.dtype)
    r_hip, l_hip, sdr_r, sdr_l = FACE_JOINTS
    across = (root_init[r_hip] - root_init[l_hip]) + (root_init[sdr_r] - root_init[sdr_l])
    across = across / np.linalg.norm(across)
    forward = np.cross(_Y, across)
    forward = forward / np.linalg.norm(forward)
    q0 = Q.qbetween(forward[None], _Z[None])[0]
    gp = Q.qrot(np.broadcast_to(q0, p.shape[:-1] + (4,)), p).astype(np.float32)

    def contacts(fids):
        d2 = ((gp[1:, fids] - gp[:-1, fids]) ** 2).sum(-1)
        return (d2 < feet_threshold).astype(np.float32)

    feet_l, feet_r = contacts(list(FOOT_LEFT)), contacts(list(FOOT_RIGHT))
    quats = _ik(gp, smooth_forward=True)
    cont6d = Q.quat_to_cont6d(quats)
    r_rot = quats[:, 0].copy()
    velocity = Q.qrot(r_rot[1:], gp[1:, 0] - gp[:-1, 0])
    r_velocity = np.arcsin(Q.qmul(r_rot[1:], Q.qconj(r_rot[:-1]))[:, 2:3])
    ric = gp.copy()
    ric[..., 0] -= ric[:, 0:1, 0]
    ric[..., 2] -= ric[:, 0:1, 2]
    ric = Q.qrot(np.repeat(r_rot[:, None], 22, axis=1), ric)
    local_vel = Q.qrot(np.repeat(r_rot[:-1, None], 22, axis=1), gp[1:] - gp[:-1])
    T = len(gp)
    data = np.concatenate([
        r_velocity, velocity[:, [0, 2]], ric[:-1, 0, 1:2],
        ric[:-1, 1:].reshape(T - 1, -1), cont6d[:-1, 1:].reshape(T - 1, -1),
        local_vel.reshape(T - 1, -1), feet_l, feet_r,
    ], axis=-1)
    return data.astype(np.float32)

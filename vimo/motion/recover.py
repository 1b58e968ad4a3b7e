"""HumanML3D features -> joint positions (official `recover_root_rot_pos`, `recover_from_ric`,
`recover_from_rot`; docs/humanml3d.md §4). Accepts (T, 263) or (B, T, 263)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vimo.errors import MotionError
from vimo.motion import quaternion as Q
from vimo.motion.skeleton import FEATURE_DIM, KINEMATIC_CHAINS, N_JOINTS, TARGET_OFFSETS


def check_features(features: np.ndarray, *, path: str | Path | None = None) -> np.ndarray:
    arr = np.asarray(features)
    where = path if path is not None else "features"
    if arr.ndim not in (2, 3) or arr.shape[-1] != FEATURE_DIM:
        raise MotionError(f"has shape {arr.shape}, expected (T, 263) or (B, T, 263)", path=where,
                          fix="pass HumanML3D 263-d feature rows (not normalised joints)")
    if arr.shape[-2] < 1:
        raise MotionError("has no frames", path=where, fix="pass at least one feature row")
    if not np.isfinite(arr).all():
        raise MotionError("has NaN/inf values", path=where, fix="re-encode the motion")
    return arr


def recover_root(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(.., T, 263) -> root quaternions (.., T, 4) (world -> facing) and root positions (.., T, 3)."""
    data = check_features(features).astype(np.float64)
    ang = np.zeros(data.shape[:-1])
    ang[..., 1:] = data[..., :-1, 0]
    ang = np.cumsum(ang, axis=-1)
    quat = np.zeros(data.shape[:-1] + (4,))
    quat[..., 0] = np.cos(ang)
    quat[..., 2] = np.sin(ang)
    pos = np.zeros(data.shape[:-1] + (3,))
    pos[..., 1:, 0] = data[..., :-1, 1]
    pos[..., 1:, 2] = data[..., :-1, 2]
    pos = Q.qrot(Q.qconj(quat), pos)
    pos = np.cumsum(pos, axis=-2)
    pos[..., 1] = data[..., 3]
    return quat, pos


def recover_from_ric(features: np.ndarray) -> np.ndarray:
    """(.., T, 263) -> (.., T, 22, 3) joints from the rotation-invariant positions (dims 4:67)."""
    data = check_features(features)
    quat, root = recover_root(data)
    ric = data[..., 4:67].astype(np.float64).reshape(data.shape[:-1] + (N_JOINTS - 1, 3))
    pos = Q.qrot(Q.qconj(quat)[..., None, :], ric)
    pos[..., 0] += root[..., None, 0]
    pos[..., 2] += root[..., None, 2]
    return np.concatenate([root[..., None, :], pos], axis=-2).astype(np.float32)


def recover_from_rot(features: np.ndarray, offsets: np.ndarray = TARGET_OFFSETS) -> np.ndarray:
    """(.., T, 263) -> (.., T, 22, 3) by forward kinematics of the 6D rotations (dims 67:193) on the
    target skeleton; the root 6D comes from the root quaternion itself, as the reference does."""
    data = check_features(features)
    quat, root = recover_root(data)
    cont6d = np.concatenate([Q.quat_to_cont6d(quat)[..., None, :],
                             data[..., 67:193].astype(np.float64).reshape(data.shape[:-1] + (N_JOINTS - 1, 6))],
                            axis=-2)
    mats = Q.cont6d_to_matrix(cont6d)
    joints = np.zeros(data.shape[:-1] + (N_JOINTS, 3))
    joints[..., 0, :] = root
    offsets = np.asarray(offsets, dtype=np.float64)
    for chain in KINEMATIC_CHAINS:
        R = mats[..., 0, :, :]
        for parent, child in zip(chain[:-1], chain[1:]):
            R = R @ mats[..., child, :, :]
            joints[..., child, :] = (R @ offsets[child]) + joints[..., parent, :]
    return joints.astype(np.float32)

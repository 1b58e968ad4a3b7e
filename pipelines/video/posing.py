"""Pose an SMPL-family mesh from 22 joints by inverse kinematics, for rendering.

Clips keep joint tracks, not body-model parameters, so the renderer turns the joints back into
parameters: every bone of the model's rest skeleton is rotated onto the clip's bone direction
(the smallest rotation from where the parent chain carries it; the pelvis and the upper spine,
which have three children, are aligned by their up bone and their left-right axis). The twist
about a bone is taken from its parent, so forearm roll or head turn is not recovered, and bone
lengths stay the model's: the mesh follows the motion's directions, not its exact positions.

    vertices, faces = pose_body_model(load_body_model("~/body_models", "smpl"), joints)
"""
from __future__ import annotations

import numpy as np

from vimo.errors import MotionError
from vimo.pipelines.body import BodyModelData, rest_joints, smplx_forward, smplx_keypoint_vertex_ids_needed

PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
#: joints with one child: joint -> child
ONE_CHILD = {1: 4, 2: 5, 3: 6, 4: 7, 5: 8, 6: 9, 7: 10, 8: 11, 12: 15, 13: 16, 14: 17, 16: 18, 17: 19,
             18: 20, 19: 21}
#: joints with several children: joint -> (up child, left point, right point)
BRANCHES = {0: (3, 1, 2), 9: (12, 13, 14)}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _frame(up: np.ndarray, left: np.ndarray) -> np.ndarray:
    """(..., 3, 3) orthonormal frame: columns = left (made orthogonal to up), up, their cross."""
    y = _unit(up)
    x = _unit(left - np.sum(left * y, axis=-1, keepdims=True) * y)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def _smallest_rotation(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations taking unit vectors u to v with the least angle (Rodrigues)."""
    u, v = _unit(u), _unit(v)
    axis = np.cross(u, v)
    s = np.linalg.norm(axis, axis=-1)
    c = np.clip(np.sum(u * v, axis=-1), -1.0, 1.0)
    # opposite vectors: turn half a circle about any axis perpendicular to u
    flip = (s < 1e-9) & (c < 0)
    if flip.any():
        alt = np.where(np.abs(u[flip, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
        axis[flip] = np.cross(u[flip], alt)
        s[flip] = 0.0
    k = _unit(axis)
    angle = np.arctan2(s, c)
    angle[flip] = np.pi
    kx = np.zeros(u.shape[:-1] + (3, 3))
    kx[..., 0, 1], kx[..., 0, 2], kx[..., 1, 2] = -k[..., 2], k[..., 1], -k[..., 0]
    kx[..., 1, 0], kx[..., 2, 0], kx[..., 2, 1] = k[..., 2], -k[..., 1], k[..., 0]
    sa, ca = np.sin(angle)[..., None, None], np.cos(angle)[..., None, None]
    return np.eye(3) + sa * kx + (1 - ca) * (kx @ kx)


def fit_pose(joints: np.ndarray, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Body-model parameters whose forward kinematics on `rest` ((>=22, 3) rest joints) points every
    bone along `joints` ((T, 22, 3), metres, Y up). Returns global_orient (T, 3), body_pose (T, 63)
    axis-angle of joints 1-21, transl (T, 3) such that the pelvis lands on joints[:, 0]."""
    from scipy.spatial.transform import Rotation

    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[1:] != (22, 3):
        raise MotionError(f"joints have shape {j.shape}, expected (T, 22, 3)", fix="pass HumanML3D 22-joint tracks")
    if not np.isfinite(j).all():
        raise MotionError("joints hold NaN or inf", fix="repair or drop the clip")
    r = np.asarray(rest, dtype=np.float64)[:22]
    t = len(j)
    world = np.zeros((t, 22, 3, 3))
    for k in range(22):
        p = PARENTS[k]
        if k in BRANCHES:
            up, left, right = BRANCHES[k]
            target = _frame(j[:, up] - j[:, k], j[:, left] - j[:, right])
            world[:, k] = target @ _frame(r[up] - r[k], r[left] - r[right]).T
        elif k in ONE_CHILD:
            c = ONE_CHILD[k]
            carried = np.einsum("tij,j->ti", world[:, p], r[c] - r[k])
            world[:, k] = _smallest_rotation(carried, j[:, c] - j[:, k]) @ world[:, p]
        else:  # a leaf: no child to aim at, keep the parent's orientation
            world[:, k] = world[:, p]
    local = world.copy()
    for k in range(1, 22):
        local[:, k] = world[:, PARENTS[k]].transpose(0, 2, 1) @ world[:, k]
    aa = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_rotvec().reshape(t, 22, 3)
    return aa[:, 0], aa[:, 1:].reshape(t, 63), j[:, 0] - r[0]


def pose_body_model(model: BodyModelData, joints: np.ndarray, *, betas: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The model's mesh following `joints` ((T, 22, 3)): vertices (T, V, 3) float64, faces (F, 3) int64."""
    rest = rest_joints(model, betas)
    global_orient, body_pose, transl = fit_pose(joints, rest)
    ids = None
    if model.num_vertices < smplx_keypoint_vertex_ids_needed(model.model_type):
        # a non-official mesh: smplx's keypoint vertices do not exist, and rendering uses none of them
        from smplx.vertex_ids import vertex_ids

        ids = {name: 0 for name in vertex_ids["smplx" if model.model_type == "smplx" else "smplh"]}
    out = smplx_forward(model, betas, global_orient, body_pose, transl, keypoint_vertex_ids=ids)
    return out.vertices.astype(np.float64), model.faces

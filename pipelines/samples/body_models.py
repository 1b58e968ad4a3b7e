"""Tiny synthetic SMPL / SMPL-H / SMPL-X model files that smplx loads (numpy only, no licensed data).

    write_body_model(tmp_path, "smplx", "male")             -> tmp_path/smplx/SMPLX_MALE.npz
    write_body_model(tmp_path, "smpl", fmt="pkl")            -> tmp_path/smpl/SMPL_NEUTRAL.pkl (chumpy objects)

The body is a mannequin: a small tetrahedron around every joint (the joint regressor averages its
four vertices, so J_regressor @ v_template is the joint exactly), tubes along the bones, an
icosahedral head and one vertex at each of smplx's 21 extra keypoints. Joints sit where a T-posed
adult's are (metres, Y up, facing +Z, the body's left on +X, feet at y ~ -1.14, as in SMPL), with
the real kinematic trees and joint counts (24 / 52 / 55). Shape directions: beta0 size, beta1
girth, beta2 leg length, beta3 arm length, the rest small rigid shifts of body parts (they move
joints); SMPL-X expressions move head, jaw and eye vertices (and so those joints). posedirs are
random and non-zero on purpose: they must not change the joints.

The .pkl variant stores some arrays as chumpy `Ch` objects and J_regressor as a scipy.sparse
csc matrix, pickled at protocol 2 with the module names the official files use
(`chumpy.ch`, `numpy.core.multiarray`, `scipy.sparse.csc`). The fake `chumpy` modules exist in
sys.modules only while pickling.
"""
from __future__ import annotations

import contextlib
import pickle
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import scipy.sparse

NUM_JOINTS = {"smpl": 24, "smplh": 52, "smplx": 55}

#: SMPL body joints 0-21 in a T pose (metres, Y up, facing +Z, left = +X)
BODY_REST = np.array([
    [0.000, -0.223, 0.028],   # pelvis
    [0.068, -0.314, 0.022],   # left_hip
    [-0.068, -0.314, 0.022],  # right_hip
    [0.000, -0.114, 0.002],   # spine1
    [0.103, -0.690, 0.014],   # left_knee
    [-0.103, -0.690, 0.014],  # right_knee
    [0.000, 0.021, 0.030],    # spine2
    [0.088, -1.088, -0.025],  # left_ankle
    [-0.088, -1.088, -0.025],  # right_ankle
    [0.000, 0.075, 0.032],    # spine3
    [0.120, -1.143, 0.095],   # left_foot
    [-0.120, -1.143, 0.095],  # right_foot
    [0.000, 0.290, -0.010],   # neck
    [0.080, 0.195, 0.000],    # left_collar
    [-0.080, 0.195, 0.000],   # right_collar
    [0.000, 0.355, 0.045],    # head
    [0.175, 0.225, -0.015],   # left_shoulder
    [-0.175, 0.225, -0.015],  # right_shoulder
    [0.430, 0.215, -0.040],   # left_elbow
    [-0.430, 0.215, -0.040],  # right_elbow
    [0.680, 0.220, -0.045],   # left_wrist
    [-0.680, 0.220, -0.045],  # right_wrist
])
BODY_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19]
#: tube radius of the bone that ends at each body joint
BODY_RADIUS = [0.0, 0.07, 0.07, 0.11, 0.065, 0.065, 0.12, 0.045, 0.045, 0.12, 0.04, 0.04,
               0.05, 0.06, 0.06, 0.05, 0.05, 0.05, 0.04, 0.04, 0.03, 0.03]

#: finger order of the SMPL-H / SMPL-X hand joints, and where each finger's root sits from the
#: wrist (x is mirrored for the right hand)
FINGERS = ("index", "middle", "pinky", "ring", "thumb")
FINGER_ROOT = {"index": (0.095, 0.004, 0.030), "middle": (0.098, 0.004, 0.008),
               "pinky": (0.083, -0.002, -0.030), "ring": (0.092, 0.002, -0.012),
               "thumb": (0.030, -0.015, 0.030)}
FINGER_SEGMENTS = {"thumb": (0.035, 0.032, 0.028)}

_TETRA = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=np.float64) / np.sqrt(3.0)


@dataclass
class SyntheticBodyModel:
    """Arrays in smplx's key names plus the vertex ids of smplx's 21 extra keypoints."""

    model_type: str
    arrays: dict[str, np.ndarray]
    keypoint_vertex_ids: dict[str, int]


def rest_skeleton(model_type: str, gender: str = "neutral") -> tuple[np.ndarray, np.ndarray]:
    """(J, 3) rest joints and (J,) parents (-1 root) of the synthetic model."""
    scale = {"neutral": 1.0, "male": 1.04, "female": 0.95}[gender]
    joints = [p for p in BODY_REST]
    parents = list(BODY_PARENTS)
    head = BODY_REST[15]
    if model_type == "smpl":
        for side, wrist in ((1, 20), (-1, 21)):
            joints.append(BODY_REST[wrist] + np.array([side * 0.085, -0.008, -0.012]))
            parents.append(wrist)
    else:
        if model_type == "smplx":
            joints += [head + [0.0, -0.015, 0.035], head + [0.030, 0.060, 0.085], head + [-0.030, 0.060, 0.085]]
            parents += [15, 15, 15]
        for side, wrist in ((1, 20), (-1, 21)):
            for finger in FINGERS:
                root = np.array(FINGER_ROOT[finger]) * [side, 1, 1]
                direction = np.array([side * 0.6, -0.2, 0.75]) if finger == "thumb" else np.array([side, 0.0, 0.0])
                direction = direction / np.linalg.norm(direction)
                pos = BODY_REST[wrist] + root
                parent = wrist
                for length in FINGER_SEGMENTS.get(finger, (0.038, 0.025, 0.022)):
                    joints.append(pos.copy())
                    parents.append(parent)
                    parent = len(joints) - 1
                    pos = pos + direction * length
    assert len(joints) == NUM_JOINTS[model_type]
    return np.array(joints) * scale, np.array(parents)


def _icosahedron() -> tuple[np.ndarray, np.ndarray]:
    t = (1 + 5 ** 0.5) / 2
    v = np.array([[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t], [0, -1, -t],
                  [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]], dtype=np.float64)
    f = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
                  [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
                  [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]])
    return v / np.linalg.norm(v, axis=1, keepdims=True), f


class _Mesh:
    """Vertices with their skinning (owner joint, second joint and weight), girth direction and faces."""

    def __init__(self) -> None:
        self.verts: list[np.ndarray] = []
        self.owner: list[int] = []       # joint each vertex is mostly skinned to
        self.blend: list[tuple[int, float]] = []  # second joint and its weight
        self.radial: list[np.ndarray] = []  # outward direction of tube vertices (girth), zero elsewhere
        self.faces: list[list[int]] = []

    def add(self, p: np.ndarray, joint: int, other: int = -1, w: float = 0.0, out: np.ndarray | None = None) -> int:
        self.verts.append(np.asarray(p, dtype=np.float64))
        self.owner.append(joint)
        self.blend.append((other, w))
        self.radial.append(np.zeros(3) if out is None else out)
        return len(self.verts) - 1


def _joint_markers(mesh: _Mesh, joints: np.ndarray) -> list[list[int]]:
    """A small tetrahedron at every joint; its 4 vertices are the joint's regressor row."""
    rows = []
    for j in range(len(joints)):
        r = 0.012 if j < 22 else 0.004
        ids = [mesh.add(joints[j] + r * d, j) for d in _TETRA]
        rows.append(ids)
        mesh.faces += [[ids[a], ids[b], ids[c]] for a, b, c in ((0, 1, 2), (0, 3, 1), (0, 2, 3), (1, 3, 2))]
    return rows


def _limb_tubes(mesh: _Mesh, joints: np.ndarray, parents: np.ndarray) -> None:
    """Three rings of vertices along every bone (girth BODY_RADIUS), the last one blended into the child."""
    nj = len(joints)
    for j in range(1, nj):
        p = parents[j]
        axis = joints[j] - joints[p]
        length = np.linalg.norm(axis)
        if length < 1e-6:
            continue
        axis = axis / length
        helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        u = np.cross(axis, helper)
        u /= np.linalg.norm(u)
        v = np.cross(axis, u)
        n_ring = 6 if j < 22 else 3
        radius = BODY_RADIUS[j] if j < 22 else (0.008 if nj != 55 or j > 24 else 0.01)
        rings = []
        for t, w_child in ((0.2, 0.0), (0.5, 0.0), (0.8, 0.25)):
            ring = []
            for k in range(n_ring):
                ang = 2 * np.pi * k / n_ring
                out = np.cos(ang) * u + np.sin(ang) * v
                ring.append(mesh.add(joints[p] + t * length * axis + radius * out, p, j, w_child, out))
            rings.append(ring)
        for a, b in zip(rings[:-1], rings[1:]):
            for k in range(n_ring):
                k2 = (k + 1) % n_ring
                mesh.faces += [[a[k], b[k], b[k2]], [a[k], b[k2], a[k2]]]


def _keypoints(mesh: _Mesh, joints: np.ndarray, model_type: str, head_centre: np.ndarray) -> dict[str, int]:
    """smplx's extra keypoints (face, feet, fingertips) as vertices."""
    keypoints: dict[str, int] = {}
    eye_l, eye_r = (23, 24) if model_type == "smplx" else (15, 15)
    keypoints["nose"] = mesh.add(head_centre + [0.0, -0.03, 0.105], 15)
    keypoints["leye"] = mesh.add(head_centre + [0.035, 0.01, 0.09], eye_l)
    keypoints["reye"] = mesh.add(head_centre + [-0.035, 0.01, 0.09], eye_r)
    keypoints["lear"] = mesh.add(head_centre + [0.088, -0.01, 0.0], 15)
    keypoints["rear"] = mesh.add(head_centre + [-0.088, -0.01, 0.0], 15)
    for prefix, side, ankle, foot in (("L", 1, 7, 10), ("R", -1, 8, 11)):
        keypoints[f"{prefix}BigToe"] = mesh.add(joints[foot] + [side * -0.02, -0.02, 0.07], foot)
        keypoints[f"{prefix}SmallToe"] = mesh.add(joints[foot] + [side * 0.04, -0.02, 0.05], foot)
        keypoints[f"{prefix}Heel"] = mesh.add(joints[ankle] + [0.0, -0.06, -0.06], ankle)
    for hand, side, wrist in (("l", 1, 20), ("r", -1, 21)):
        for finger in FINGERS:
            if model_type == "smpl":
                hand_joint = 22 if side == 1 else 23
                tip = joints[hand_joint] + np.array(FINGER_ROOT[finger]) * [side, 1, 1] * 0.9
                keypoints[hand + finger] = mesh.add(tip, hand_joint)
            else:
                first = (22 if model_type == "smplh" else 25) + (0 if side == 1 else 15) + 3 * FINGERS.index(finger)
                last = first + 2
                direction = joints[last] - joints[last - 1]
                keypoints[hand + finger] = mesh.add(joints[last] + direction / np.linalg.norm(direction) * 0.02, last)
    return keypoints


def _skin_weights(mesh: _Mesh, nj: int) -> np.ndarray:
    owner = np.array(mesh.owner)
    weights = np.zeros((len(mesh.verts), nj))
    weights[np.arange(len(mesh.verts)), owner] = 1.0
    for i, (other, w) in enumerate(mesh.blend):
        if other >= 0 and w > 0:
            weights[i, owner[i]] -= w
            weights[i, other] += w
    return weights


def _shape_dirs(mesh: _Mesh, joints: np.ndarray, model_type: str, n_betas: int, n_expression: int,
                rng: np.random.Generator) -> np.ndarray:
    """Betas: 0 scales about the pelvis, 1 girth, 2 leg length, 3 arm length, the rest small per-joint shifts;
    SMPL-X appends expressions that move the face (expression 0 opens the jaw)."""
    V, owner = np.array(mesh.verts), np.array(mesh.owner)
    shape = np.zeros((len(V), 3, n_betas))
    shape[:, :, 0] = 0.06 * (V - joints[0])
    shape[:, :, 1] = 0.02 * np.array(mesh.radial)
    hip_y = joints[1, 1]
    below = V[:, 1] < hip_y
    shape[below, 1, 2] = 0.08 * (V[below, 1] - hip_y)
    shoulder_x = joints[16, 0]
    arm = np.abs(V[:, 0]) > shoulder_x
    shape[arm, 0, 3] = 0.08 * (V[arm, 0] - np.sign(V[arm, 0]) * shoulder_x)
    for k in range(4, n_betas):
        shift = rng.normal(0.0, 0.006, size=(len(joints), 3))
        shape[:, :, k] = shift[owner]
    if model_type == "smplx":
        face_part = np.isin(owner, [15, 22, 23, 24])
        expr = np.zeros((len(V), 3, n_expression))
        expr[face_part] = rng.normal(0.0, 0.004, size=(int(face_part.sum()), 3, n_expression))
        expr[face_part & (owner == 22), 1, 0] -= 0.01  # expression 0 opens the jaw
        shape = np.concatenate([shape, expr], axis=2)
    return shape


def build_body_model(model_type: str, gender: str = "neutral", *, seed: int = 0, n_betas: int | None = None,
                     n_expression: int = 10, n_vertices: int | None = None) -> SyntheticBodyModel:
    """Arrays of a synthetic model. `n_betas`: shape components (default 10; 16 for SMPL-H like
    AMASS); SMPL-X stores betas then expressions (10 + 10, or 300 + 100 for the v1.1 layout).
    `n_vertices` pads the mesh with unreferenced copies up to a real vertex count (10475)."""
    rng = np.random.default_rng(seed + {"neutral": 0, "male": 1, "female": 2}[gender] * 1000)
    joints, parents = rest_skeleton(model_type, gender)
    nj = len(joints)
    mesh = _Mesh()
    regressor_rows = _joint_markers(mesh, joints)
    _limb_tubes(mesh, joints, parents)
    ico_v, ico_f = _icosahedron()
    head_centre = joints[15] + [0.0, 0.085, 0.015]
    base = len(mesh.verts)
    for d in ico_v:
        mesh.add(head_centre + d * [0.085, 0.11, 0.095], 15, out=d)
    head_faces = [[base + a, base + b, base + c] for a, b, c in ico_f]
    first_head_face = len(mesh.faces)
    mesh.faces += head_faces
    keypoints = _keypoints(mesh, joints, model_type, head_centre)

    n_real = len(mesh.verts)
    if n_vertices is not None:
        if n_vertices < n_real:
            raise ValueError(f"n_vertices must be at least {n_real}")
        for i in range(n_vertices - n_real):
            src = i % n_real
            mesh.add(mesh.verts[src], mesh.owner[src], *mesh.blend[src], out=mesh.radial[src])
    nv = len(mesh.verts)
    regressor = np.zeros((nj, nv))
    for j, ids in enumerate(regressor_rows):
        regressor[j, ids] = 0.25
    shape = _shape_dirs(mesh, joints, model_type, 10 if n_betas is None else n_betas, n_expression, rng)
    arrays: dict[str, np.ndarray] = {
        "v_template": np.array(mesh.verts),
        "f": np.array(mesh.faces, dtype=np.uint32),
        "J_regressor": regressor,
        "weights": _skin_weights(mesh, nj),
        "kintree_table": np.stack([np.where(parents < 0, 4294967295, parents), np.arange(nj)]).astype(np.int64),
        "shapedirs": shape,
        "posedirs": rng.normal(0.0, 0.002, size=(nv, 3, 9 * (nj - 1))),
        "J": joints,
    }
    if model_type != "smpl":
        for side in "lr":
            q, _ = np.linalg.qr(rng.normal(size=(45, 45)))
            arrays[f"hands_components{side}"] = q
            arrays[f"hands_mean{side}"] = 0.15 * np.abs(rng.normal(size=45))
    if model_type == "smplx":
        n_head = len(head_faces)
        arrays["lmk_faces_idx"] = first_head_face + rng.integers(0, n_head, size=51)
        bary = rng.uniform(0.1, 1.0, size=(51, 3))
        arrays["lmk_bary_coords"] = bary / bary.sum(1, keepdims=True)
        arrays["dynamic_lmk_faces_idx"] = first_head_face + rng.integers(0, n_head, size=(79, 17))
        dyn = rng.uniform(0.1, 1.0, size=(79, 17, 3))
        arrays["dynamic_lmk_bary_coords"] = dyn / dyn.sum(2, keepdims=True)
    return SyntheticBodyModel(model_type=model_type, arrays=arrays, keypoint_vertex_ids=keypoints)


@contextlib.contextmanager
def fake_chumpy() -> Iterator[type]:
    """A throwaway `chumpy.ch.Ch` class, registered in sys.modules only inside the block."""
    names = ("chumpy", "chumpy.ch")
    saved = {name: sys.modules.get(name) for name in names}
    package = types.ModuleType("chumpy")
    module = types.ModuleType("chumpy.ch")

    class Ch:
        pass

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    module.Ch = Ch
    package.ch = module
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = package, module
    try:
        yield Ch
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


#: keys the official SMPL pickles hold as chumpy objects
CHUMPY_KEYS = ("v_template", "shapedirs", "posedirs", "weights", "J")
#: module renames that make a protocol-2 pickle name the globals as the official (Python 2) files do
LEGACY_GLOBALS = ((b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"),
                  (b"cscipy.sparse._csc\n", b"cscipy.sparse.csc\n"))


def chumpy_pickle_bytes(arrays: dict[str, Any], *, chumpy_keys: tuple[str, ...] = CHUMPY_KEYS,
                        protocol: int = 2, legacy_names: bool = True) -> bytes:
    """Pickle `arrays` like an official model file: chumpy Ch objects (state {'x': array, ...}),
    a scipy.sparse csc J_regressor, and the odd non-array entries the official files carry."""
    with fake_chumpy() as Ch:
        data: dict[str, Any] = {}
        for key, value in arrays.items():
            if key in chumpy_keys:
                ch = Ch()
                ch.__dict__.update({"x": np.asarray(value), "_dirty_vars": set(), "_itr": None,
                                    "_depends_on_deps": {}})
                data[key] = ch
            elif key == "J_regressor":
                data[key] = scipy.sparse.csc_matrix(value)
            else:
                data[key] = value
        data["J_regressor_prior"] = scipy.sparse.csc_matrix(arrays["J_regressor"])
        data["bs_style"] = "lbs"
        data["bs_type"] = "lrotmin"
        data["pose_training_info"] = {"ignore_idxs": [], "tpose_frames": np.zeros(3, dtype=np.int64)}
        data["vert_sym_idxs"] = np.arange(len(arrays["v_template"]), dtype=np.int64)
        raw = pickle.dumps(data, protocol=protocol)
    if legacy_names and protocol <= 3:
        for new, old in LEGACY_GLOBALS:
            raw = raw.replace(new, old)
    return raw


def model_file_path(folder: str | Path, model_type: str, gender: str = "neutral", fmt: str = "npz") -> Path:
    """smplx.create's layout: folder/<type>/<TYPE>_<GENDER>.<fmt>."""
    return Path(folder) / model_type / f"{model_type.upper()}_{gender.upper()}.{fmt}"


def write_body_model(folder: str | Path, model_type: str, gender: str = "neutral", *, fmt: str = "npz",
                     protocol: int = 2, legacy_names: bool = True, **build: Any) -> Path:
    """Write a synthetic model file where smplx.create looks for it and return its path."""
    model = build_body_model(model_type, gender, **build)
    path = model_file_path(folder, model_type, gender, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "npz":
        np.savez(path, **model.arrays)
    elif fmt == "pkl":
        path.write_bytes(chumpy_pickle_bytes(model.arrays, protocol=protocol, legacy_names=legacy_names))
    else:
        raise ValueError(f"fmt must be npz or pkl, got {fmt}")
    return path

"""Small, format-faithful fake source trees built from vimo.synthetic motions (no licensed data).

    tree = write_interx_tree(tmp_path / "interx", body_models=tmp_path / "models", n=3)
    tree = write_egohumans_tree(tmp_path / "eh", [EgoSequence("01_tagging", "001_tagging")])
    tree = write_harmony4d_tree(tmp_path / "h4d", [EgoSequence("01_hugging", "001_hugging", split="test")])
    tree = write_amass_tree(tmp_path / "amass", body_models=tmp_path / "models")

Inter-X and AMASS hold body-model parameters, so the synthetic joints are turned into SMPL-X /
SMPL-H parameters for the synthetic body models of pipelines/samples/body_models.py by a small
inverse kinematics (bone directions of the synthetic motion, bone lengths of the model). Each
writer returns what a test needs to check the converter: the 20 fps joints it must find, per
sequence and person, in the source's world frame turned Y-up.
"""
from __future__ import annotations

import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from vimo.pipelines.samples.body_models import write_body_model
from vimo.pipelines.body import forward_joints, load_body_model, rest_joints
from vimo.synthetic import KINDS, generate

PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19]
_ONE_CHILD = {1: 4, 2: 5, 3: 6, 4: 7, 5: 8, 6: 9, 7: 10, 8: 11, 12: 15, 13: 16, 14: 17, 16: 18, 17: 19,
              18: 20, 19: 21}
#: Y-up -> Z-up world, a proper rotation: (x, y, z) -> (x, -z, y)
Y_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
INTERX_ACTIONS = ["Hug", "Handshake", "Wave", "Grab", "Hit", "Kick", "Posing", "Push", "Pull", "Sit on leg", "Slap",
                  "Pat on back", "Point finger at", "Walk towards", "Knock over", "Step on foot", "High-five",
                  "Chase", "Whisper in ear", "Support with hand", "Rock-paper-scissors", "Dance", "Link arms",
                  "Shoulder to shoulder", "Bend", "Carry on back", "Massaging shoulder", "Massaging leg",
                  "Hand wrestling", "Chat", "Pat on cheek", "Thumb up", "Touch head", "Imitate", "Kiss on cheek",
                  "Help up", "Cover mouth", "Look back", "Block", "Fly kiss"]


# ----------------------------------------------------------------------------- inverse kinematics

def _frame(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3, 3) orthonormal frame with x along a and y towards b."""
    x = a / np.linalg.norm(a, axis=-1, keepdims=True)
    z = np.cross(x, b)
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)


def _min_rotation(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(T, 3, 3) smallest rotations taking unit vectors u to v."""
    u = u / np.linalg.norm(u, axis=-1, keepdims=True)
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    axis = np.cross(u, v)
    s = np.linalg.norm(axis, axis=-1)
    c = np.einsum("ij,ij->i", u, v)
    angle = np.arctan2(s, c)
    axis = axis / np.where(s > 1e-12, s, 1.0)[:, None]
    return Rotation.from_rotvec(axis * angle[:, None]).as_matrix()


def fit_body_params(joints: np.ndarray, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SMPL-family parameters whose FK on `rest` ((J, 3) rest joints) follows the bone directions of
    `joints` ((T, 22, 3)). Returns global_orient (T, 3), body_pose (T, 63) axis-angle, transl (T, 3)."""
    j = np.asarray(joints, dtype=np.float64)
    t = len(j)
    glob = np.zeros((t, 22, 3, 3))
    glob[:, 0] = _frame(j[:, 1] - j[:, 2], j[:, 3] - j[:, 0]) @ _frame(rest[1] - rest[2], rest[3] - rest[0]).T
    for k in range(1, 22):
        p = PARENTS[k]
        if k == 9:
            glob[:, k] = _frame(j[:, 13] - j[:, 14], j[:, 12] - j[:, 9]) @ _frame(rest[13] - rest[14],
                                                                                   rest[12] - rest[9]).T
        elif k in _ONE_CHILD:
            c = _ONE_CHILD[k]
            current = np.einsum("tij,j->ti", glob[:, p], rest[c] - rest[k])
            glob[:, k] = _min_rotation(current, j[:, c] - j[:, k]) @ glob[:, p]
        else:
            glob[:, k] = glob[:, p]
    local = np.zeros((t, 22, 3))
    local[:, 0] = Rotation.from_matrix(glob[:, 0]).as_rotvec()
    for k in range(1, 22):
        rel = np.transpose(glob[:, PARENTS[k]], (0, 2, 1)) @ glob[:, k]
        local[:, k] = Rotation.from_matrix(rel).as_rotvec()
    return local[:, 0], local[:, 1:].reshape(t, 63), j[:, 0] - rest[0]


# ----------------------------------------------------------------------------- Inter-X

@dataclass
class InterXTree:
    root: Path
    body_models: Path
    sequences: list[str]
    #: seq -> (P1 joints, P2 joints) at 20 fps, (T, 22, 3) float64, Y up (what FK of the files gives)
    expected: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    orders: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)


def write_body_models(folder: str | Path, model_type: str = "smplx",
                      genders: tuple[str, ...] = ("male", "female", "neutral")) -> Path:
    folder = Path(folder)
    for g in genders:
        write_body_model(folder, model_type, g)
    return folder


def interx_sequence_id(group: int, take: int, action: int, rep: int) -> str:
    return f"G{group:03d}T{take:03d}A{action:03d}R{rep:03d}"


def write_interx_person(path: Path, joints_120: np.ndarray, model, betas: np.ndarray, gender: str,
                        dtype=np.float32, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """Write one P{1,2}.npz with the real keys, shapes and a 0-d str gender; returns the arrays."""
    rng = rng or np.random.default_rng(0)
    rest = rest_joints(model, betas)
    go, bp, tr = fit_body_params(joints_120, rest)
    t = len(go)
    arrays = {
        "root_orient": go.astype(dtype), "pose_body": bp.reshape(t, 21, 3).astype(dtype),
        "pose_lhand": (0.1 * rng.standard_normal((t, 15, 3))).astype(dtype),
        "pose_rhand": (0.1 * rng.standard_normal((t, 15, 3))).astype(dtype),
        "trans": tr.astype(dtype), "betas": betas.reshape(1, 10).astype(dtype), "gender": np.array(gender),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return arrays


def write_interx_tree(root: str | Path, body_models: str | Path, *, n: int = 3, seed: int = 0,
                      kinds: tuple[str, ...] | None = None, duration_s: float | None = None,
                      orders: dict[int, int] | None = None, write_models: bool = True,
                      per_group: int = 10) -> InterXTree:
    """A fake Inter-X_Dataset/ with `n` sequences (120 fps SMPL-X npz, annots, splits, texts);
    `per_group` sequences share a subject group (GNNN) and a group's takes are numbered from 0."""
    root, body_models = Path(root), Path(body_models)
    if write_models:
        write_body_models(body_models, "smplx")
    models = {g: load_body_model(body_models, "smplx", g) for g in ("male", "female")}
    rng = np.random.default_rng(seed)
    kinds = kinds or KINDS
    tree = InterXTree(root=root, body_models=body_models, sequences=[])
    order_table: dict[str, int] = {}
    for i in range(n):
        kind = kinds[i % len(kinds)]
        x = generate(kind, seed=seed * 1000 + i, fps=120, duration_s=duration_s,
                     world_yaw=float(rng.uniform(-np.pi, np.pi)), world_offset=(float(rng.uniform(-2, 2)), 0.0,
                                                                               float(rng.uniform(-2, 2))))
        action = x.interx_action if x.interx_action is not None else 29
        seq = interx_sequence_id(1 + i // per_group, i % per_group, action, i)
        order = (orders or {}).get(i, int(rng.integers(0, 2)))
        actor_is_p1 = order == 1
        p1, p2 = (x.actor, x.reactor) if actor_is_p1 else (x.reactor, x.actor)
        expected = []
        for name, joints, gender in (("P1", p1, "male"), ("P2", p2, "female")):
            betas = rng.normal(0.0, 0.6, 10)
            arrays = write_interx_person(root / "motions" / seq / f"{name}.npz", joints, models[gender], betas,
                                         gender, rng=rng)
            keep = slice(0, None, 6)
            m = models[gender]
            expected.append(forward_joints(m, rest_joints(m, arrays["betas"][0]), arrays["root_orient"][keep],
                                           arrays["pose_body"][keep].reshape(-1, 63), arrays["trans"][keep]))
        tree.expected[seq] = (expected[0], expected[1])
        tree.sequences.append(seq)
        tree.orders[seq] = order
        tree.kinds[seq] = kind
        order_table[seq] = order
        (root / "texts").mkdir(parents=True, exist_ok=True)
        (root / "texts" / f"{seq}.txt").write_text(f"{x.text}\nthe second person responds\n")
    (root / "annots").mkdir(parents=True, exist_ok=True)
    (root / "annots" / "interaction_order.pkl").write_bytes(pickle.dumps(order_table, protocol=2))
    (root / "annots" / "action_setting.txt").write_text("\n".join(INTERX_ACTIONS) + "\n")
    (root / "splits").mkdir(parents=True, exist_ok=True)
    ordered = sorted(tree.sequences)
    (root / "splits" / "train.txt").write_text("\n".join(ordered[:-1]) + "\n")
    (root / "splits" / "test.txt").write_text(ordered[-1] + "\n")
    (root / "splits" / "val.txt").write_text("")
    (root / "splits" / "all.txt").write_text("\n".join(ordered))  # no trailing newline, like the real file
    return tree


# ----------------------------------------------------------------------------- Ego-Humans / Harmony4D

@dataclass
class EgoSequence:
    """One fake per-frame sequence. Persons aria01/aria02 act out `kind` (aria01 the synthetic actor);
    with four persons aria03/aria04 act out `second_kind` 8 m away."""

    activity: str
    name: str
    kind: str = "handshake"
    second_kind: str | None = None
    seed: int = 0
    duration_s: float = 4.0
    up: str = "+y"  # "+y" or "+z"
    tilt_deg: float = 0.0  # extra rotation about X after the up change
    split: str | None = None  # Harmony4D: "train" / "test"
    wearers: tuple[str, ...] = ("aria01", "aria02", "aria03", "aria04")
    n_vertices: int = 16  # the real files hold (6890, 3); nothing reads them


@dataclass
class EgoTree:
    root: Path
    #: sequence folder (relative to root) -> person -> (T, 22, 3) float64 joints in the Y-up world
    expected: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    #: sequence folder -> person -> (T, 22, 3) joints exactly as written (source world)
    written: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def world_rotation(up: str, tilt_deg: float) -> np.ndarray:
    """Rotation from the Y-up synthetic world into the fake source world."""
    base = np.eye(3) if up == "+y" else Y_TO_Z_UP
    t = math.radians(tilt_deg)
    tilt = np.array([[1, 0, 0], [0, math.cos(t), -math.sin(t)], [0, math.sin(t), math.cos(t)]])
    return tilt @ base


def _smpl45(j22: np.ndarray) -> np.ndarray:
    """(22, 3) -> (45, 3): body joints, then hands and keypoints placed near the wrists / head."""
    extra = np.concatenate([j22[[20, 21]], np.repeat(j22[[15]], 21, axis=0) + 0.01 * np.arange(21)[:, None]])
    return np.concatenate([j22, extra]).astype(np.float64)


def write_frame_file(path: Path, persons: dict[str, np.ndarray], rng: np.random.Generator,
                     n_vertices: int = 16) -> None:
    """One processed_data/smpl/NNNNN.npy: dict person -> SMPL dict (pickled 0-d object array)."""
    data = {}
    for name, j22 in persons.items():
        data[name] = {
            "global_orient": rng.normal(0, 0.1, 3), "transl": j22[0].copy(), "body_pose": rng.normal(0, 0.1, 69),
            "betas": np.zeros(10), "epoch_loss": np.float64(rng.uniform(0, 1)),
            "vertices": np.repeat(j22[:1], n_vertices, axis=0), "joints": _smpl45(j22),
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, data, allow_pickle=True)


def write_ego_sequence(seq_dir: Path, spec: EgoSequence, tree: EgoTree, rel: str) -> None:
    x = generate(spec.kind, seed=spec.seed, fps=20, duration_s=spec.duration_s, world_yaw=0.3,
                 world_offset=(0.5, 0.0, -1.0))
    people = {"aria01": x.actor.astype(np.float64), "aria02": x.reactor.astype(np.float64)}
    if spec.second_kind:
        y = generate(spec.second_kind, seed=spec.seed + 1, fps=20, duration_s=spec.duration_s, world_yaw=-1.0,
                     world_offset=(8.0, 0.0, 3.0))
        people["aria03"] = y.actor.astype(np.float64)
        people["aria04"] = y.reactor.astype(np.float64)
    rot = world_rotation(spec.up, spec.tilt_deg)
    written = {p: j @ rot.T for p, j in people.items()}
    rng = np.random.default_rng(spec.seed)
    t = len(x.actor)
    for i in range(t):
        write_frame_file(seq_dir / "processed_data" / "smpl" / f"{i + 1:05d}.npy",
                         {p: j[i] for p, j in written.items()}, rng, spec.n_vertices)
    for p in people:
        if p in spec.wearers:
            (seq_dir / "ego" / p / "calib").mkdir(parents=True, exist_ok=True)
    tree.expected[rel] = people
    tree.written[rel] = written


def _write_capture_tree(root: str | Path, sequences: list[EgoSequence], harmony4d: bool) -> EgoTree:
    tree = EgoTree(root=Path(root))
    for spec in sequences:
        rel = f"{spec.activity}/{spec.name}"
        if harmony4d:
            rel = f"{spec.split or 'train'}/{rel}"
        write_ego_sequence(tree.root / rel, spec, tree, rel)
    return tree


def write_egohumans_tree(root: str | Path, sequences: list[EgoSequence]) -> EgoTree:
    """<root>/<NN_activity>/<NNN_activity>/processed_data/smpl/NNNNN.npy (+ ego/ariaNN/)."""
    return _write_capture_tree(root, sequences, harmony4d=False)


def write_harmony4d_tree(root: str | Path, sequences: list[EgoSequence]) -> EgoTree:
    """<root>/{train,test}/<NN_activity>/<NNN_activity>/processed_data/smpl/NNNNN.npy, aria01/aria02."""
    return _write_capture_tree(root, sequences, harmony4d=True)


# ----------------------------------------------------------------------------- AMASS

#: HumanML3D's AMASS axis change (its own inverse): (x, y, z) -> (-x, z, y)
AMASS_TO_Y_UP = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])


@dataclass
class AmassTree:
    root: Path
    body_models: Path
    files: list[str]
    #: file (relative, without .npz) -> (T, 22, 3) joints after step / FK / axis change, Y up
    expected: dict[str, np.ndarray] = field(default_factory=dict)


def write_amass_tree(root: str | Path, body_models: str | Path, *, n: int = 2, seed: int = 0,
                     fps: float = 120.0, duration_s: float = 4.0, write_models: bool = True) -> AmassTree:
    """<root>/SynthMocap/subject_<i>/<kind>_poses.npz ("SMPL+H G" keys) plus a shape.npz to skip."""
    root, body_models = Path(root), Path(body_models)
    if write_models:
        write_body_models(body_models, "smplh", ("male", "female"))
    tree = AmassTree(root=root, body_models=body_models, files=[])
    rng = np.random.default_rng(seed)
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        x = generate(kind, seed=seed + i, fps=fps, duration_s=duration_s)
        gender = ("male", "female")[i % 2]
        model = load_body_model(body_models, "smplh", gender)
        betas = rng.normal(0, 0.5, 16)
        rest = rest_joints(model, betas[:10])
        zup = x.reactor.astype(np.float64) @ AMASS_TO_Y_UP.T
        go, bp, tr = fit_body_params(zup, rest)
        t = len(go)
        poses = np.concatenate([go, bp, np.zeros((t, 90))], axis=1)
        rel = f"SynthMocap/subject_{i}/{kind}_poses"
        path = root / f"{rel}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, poses=poses, trans=tr, betas=betas, gender=np.array(gender), mocap_framerate=np.array(fps),
                 dmpls=np.zeros((t, 8)))
        step = int(fps / 20)
        keep = slice(0, None, step)
        j = forward_joints(model, rest, go[keep], bp[keep], tr[keep])
        tree.expected[rel] = j @ AMASS_TO_Y_UP.T
        tree.files.append(rel)
    np.savez(root / "SynthMocap" / "shape.npz", betas=np.zeros(16), gender=np.array("male"))
    return tree

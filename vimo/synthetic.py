"""Seeded, procedural two-person interactions: the embedded default data of vimo's demo and tests.

Each person is a 22-joint skeleton in HumanML3D/SMPL joint order whose bone lengths come from a
randomised body scale (0.9-1.1 x the HumanML3D target lengths); every pose is forward kinematics of
joint rotations. Legs follow a footstep planner through two-bone IK (stance feet stay planted, toes
rest on the floor y = 0), arms blend a relaxed, gait-driven swing with IK towards interaction targets
(the other person's hand, chest or back), and the head looks at the other person. The reactor
responds to the actor after a short reaction delay.

All control signals live on a fixed 120 Hz grid and are sampled at the requested fps before the
final kinematics, so 20, 30 and 120 fps show the same motion (120 fps frames 0::6 equal 20 fps).
Coordinates: metres, +Y up; in a body's own frame +Z is forward and +X is left. numpy only.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from vimo.atomic import save_npy, write_json, write_text
from vimo.errors import VimoError
from vimo.motion.skeleton import N_JOINTS, PARENTS, TARGET_BONE_LENGTHS

#: control grid rate (Hz); 20, 24, 30, 40, 60 and 120 fps sample it exactly
CONTROL_FPS = 120
#: simulated time before frame 0, so walks can already be under way when a clip starts
PRE_ROLL_S = 1.0
MIN_DURATION_S = 2.0
MAX_DURATION_S = 10.0
BROAD_CATEGORY = "Human-Human"

LEFT, RIGHT = 0, 1
#: per side (left, right): hip, knee, ankle, foot / collar, shoulder, elbow, wrist joint indices
_LEG = ((1, 4, 7, 10), (2, 5, 8, 11))
_ARM = ((13, 16, 18, 20), (14, 17, 19, 21))
#: +1 for the left side (+X in the body frame), -1 for the right
_SIDE_SIGN = (1.0, -1.0)

#: rest pose of the generator's skeleton: standing, feet flat (toe joint on the floor), arms in a
#: T-pose along +-X; unit bone directions (child joint relative to its parent), +X = left
_REST_DIRECTIONS = np.array([
    [0.0, 0.0, 0.0],        # pelvis
    [0.55, -0.83, -0.05],   # left_hip
    [-0.55, -0.83, -0.05],  # right_hip
    [0.0, 0.99, -0.12],     # spine1
    [0.05, -0.997, 0.03],   # left_knee
    [-0.05, -0.997, 0.03],  # right_knee
    [0.0, 0.998, 0.06],     # spine2
    [-0.01, -0.99, -0.1],   # left_ankle
    [0.01, -0.99, -0.1],    # right_ankle
    [0.0, 0.995, 0.08],     # spine3
    [0.07, -0.42, 0.9],     # left_foot (toe), slightly turned out
    [-0.07, -0.42, 0.9],    # right_foot
    [0.0, 0.985, 0.05],     # neck
    [0.55, 0.83, -0.08],    # left_collar
    [-0.55, 0.83, -0.08],   # right_collar
    [0.0, 0.85, 0.52],      # head
    [0.96, 0.22, -0.12],    # left_shoulder
    [-0.96, 0.22, -0.12],   # right_shoulder
    [1.0, 0.0, 0.0],        # left_elbow
    [-1.0, 0.0, 0.0],       # right_elbow
    [1.0, 0.0, 0.0],        # left_wrist
    [-1.0, 0.0, 0.0],       # right_wrist
])
_REST_DIRECTIONS[1:] /= np.linalg.norm(_REST_DIRECTIONS[1:], axis=1, keepdims=True)

#: mirrored bone pairs share one random length factor, so bodies stay left/right symmetric
_MIRROR_BONES = ((1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21))

#: fraction of the leg length a standing or walking leg may reach (knees never lock)
_LEG_REACH = 0.985
#: foot-step planner: position / yaw error that triggers a step, minimum double support (s)
_STEP_POS_ERR = 0.1
_STEP_YAW_ERR = 0.35
_DOUBLE_SUPPORT_S = 0.1
_MAX_STEP_M = 1.5


class SynthesisError(VimoError, ValueError):
    """Bad arguments to the synthetic generator (unknown kind, fps, duration, count)."""


@dataclass(frozen=True)
class SyntheticInteraction:
    """One generated two-person interaction.

    actor, reactor: (T, 22, 3) float32, metres, +Y up, SMPL joint order, one shared world frame.
    events: named moments in seconds from frame 0 (e.g. "contact": the grip of a handshake).
    """

    kind: str
    actor: np.ndarray
    reactor: np.ndarray
    fps: float
    seed: int
    text: str
    sub_category: str
    interx_action: int | None
    events: dict[str, float] = field(default_factory=dict)
    broad_category: str = BROAD_CATEGORY
    world_yaw: float = 0.0
    world_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def id(self) -> str:
        return f"synth_{self.kind}_{self.seed}"

    @property
    def n_frames(self) -> int:
        return int(self.actor.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    def metadata(self) -> dict:
        """Everything but the joint arrays, JSON-ready."""
        return {
            "id": self.id, "kind": self.kind, "text": self.text, "broad_category": self.broad_category,
            "sub_category": self.sub_category, "interx_action": self.interx_action, "fps": self.fps,
            "seed": self.seed, "n_frames": self.n_frames, "duration_s": round(self.duration_s, 6),
            "events": dict(self.events), "world_yaw": self.world_yaw, "world_offset": list(self.world_offset),
        }


# --------------------------------------------------------------------------------------------
# rotations and time profiles


def _rx(a: np.ndarray) -> np.ndarray:
    """Rotation about +X (+a turns +Y towards +Z), (..., 3, 3)."""
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    m = np.zeros(a.shape + (3, 3))
    m[..., 0, 0] = 1.0
    m[..., 1, 1], m[..., 1, 2], m[..., 2, 1], m[..., 2, 2] = c, -s, s, c
    return m


def _ry(a: np.ndarray) -> np.ndarray:
    """Rotation about +Y (+a turns +Z towards +X): heading a faces (sin a, 0, cos a)."""
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    m = np.zeros(a.shape + (3, 3))
    m[..., 1, 1] = 1.0
    m[..., 0, 0], m[..., 0, 2], m[..., 2, 0], m[..., 2, 2] = c, s, -s, c
    return m


def _rz(a: np.ndarray) -> np.ndarray:
    """Rotation about +Z (+a turns +X towards +Y)."""
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    m = np.zeros(a.shape + (3, 3))
    m[..., 2, 2] = 1.0
    m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1] = c, -s, s, c
    return m


def _apply(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.einsum("...ij,...j->...i", m, v)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.broadcast_arrays(a, b)
    return np.stack([a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
                     a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
                     a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]], axis=-1)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _wrap(a: np.ndarray | float) -> np.ndarray | float:
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def _heading_to(src_xz: np.ndarray, dst_xz: np.ndarray) -> np.ndarray | float:
    d = np.asarray(dst_xz) - np.asarray(src_xz)
    return np.arctan2(d[..., 0], d[..., 1])


def _forward_xz(heading: np.ndarray | float) -> np.ndarray:
    return np.stack([np.sin(heading), np.cos(heading)], axis=-1)


def _ramp(t: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """0 before t0, 1 after t1, minimum-jerk (quintic) in between."""
    if t1 <= t0:
        return (t >= t0).astype(np.float64)
    u = np.clip((t - t0) / (t1 - t0), 0.0, 1.0)
    return u * u * u * (10.0 + u * (-15.0 + 6.0 * u))


def _pulse(t: np.ndarray, t0: float, t1: float, t2: float, t3: float) -> np.ndarray:
    """Rises over [t0, t1], holds, falls over [t2, t3]."""
    return _ramp(t, t0, t1) * (1.0 - _ramp(t, t2, t3))


def _ramp_integral(u: np.ndarray) -> np.ndarray:
    return u ** 4 * (2.5 + u * (-3.0 + u))


def _travel(t: np.ndarray, t0: float, t1: float, ramp: float) -> np.ndarray:
    """Progress 0 -> 1 over [t0, t1] with a trapezoidal speed profile and smooth ramps of `ramp` s."""
    r = min(ramp, 0.5 * (t1 - t0))
    u1 = np.clip((t - t0) / r, 0.0, 1.0)
    u2 = np.clip((t - (t1 - r)) / r, 0.0, 1.0)
    s = r * _ramp_integral(u1) + np.clip(t - (t0 + r), 0.0, t1 - t0 - 2 * r) + r * (0.5 - _ramp_integral(1.0 - u2))
    return s / (t1 - t0 - r)


# --------------------------------------------------------------------------------------------
# bodies and kinematics


@dataclass(frozen=True)
class _Body:
    offsets: np.ndarray  # (22, 3) rest offsets, metres
    scale: float
    stance_half_width: float

    def limb(self, joints: tuple[int, ...]) -> tuple[float, float]:
        """Lengths of the two IK bones of a leg (hip, knee, ankle) or arm (shoulder, elbow, wrist)."""
        return (float(np.linalg.norm(self.offsets[joints[1]])), float(np.linalg.norm(self.offsets[joints[2]])))

    def ankle_height(self, side: int) -> float:
        return float(-self.offsets[_LEG[side][3], 1])

    def standing_pelvis_height(self) -> float:
        heights = []
        for side in (LEFT, RIGHT):
            hip = self.offsets[_LEG[side][0]]
            thigh, shin = self.limb(_LEG[side])
            horiz = math.hypot(_SIDE_SIGN[side] * self.stance_half_width - hip[0], hip[2])
            leg = math.sqrt((_LEG_REACH * (thigh + shin)) ** 2 - horiz ** 2)
            heights.append(self.ankle_height(side) + leg - hip[1])
        return min(heights)


def _make_body(rng: np.random.Generator) -> _Body:
    scale = float(rng.uniform(0.9, 1.1))
    factor = rng.uniform(0.97, 1.03, size=N_JOINTS)
    for left, right in _MIRROR_BONES:
        factor[right] = factor[left]
    lengths = TARGET_BONE_LENGTHS.astype(np.float64) * scale * factor
    offsets = _REST_DIRECTIONS * lengths[:, None]
    return _Body(offsets=offsets, scale=scale, stance_half_width=float(rng.uniform(0.09, 0.12) * scale))


def _frame(bone: np.ndarray, pole: np.ndarray) -> np.ndarray:
    """Right-handed orthonormal frame (columns: bone, pole x bone, pole) from a bone and a pole hint."""
    e1 = _unit(bone)
    e3 = pole - np.sum(pole * e1, axis=-1, keepdims=True) * e1
    n = np.linalg.norm(e3, axis=-1, keepdims=True)
    if np.any(n <= 1e-8):  # pole along the bone: any perpendicular will do
        fallback = _unit(_cross(e1, np.array([0.3, 0.0, 1.0])))
        e3 = np.where(n > 1e-8, e3 / np.maximum(n, 1e-12), fallback)
    else:
        e3 = e3 / n
    e2 = _cross(e3, e1)
    return np.stack([e1, e2, e3], axis=-1)


def _two_bone_ik(root: np.ndarray, target: np.ndarray, lengths: tuple[float, float], pole: np.ndarray,
                 rest_upper: np.ndarray, rest_lower: np.ndarray, rest_pole: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Global rotations (M, 3, 3) of the upper and lower bone of a limb whose end reaches `target`.

    The middle joint (knee, elbow) bends towards `pole`; out-of-reach targets get a straight limb
    pointing at them. Rest directions and rest pole are those of the unrotated skeleton.
    """
    l1, l2 = lengths
    d_vec = target - root
    dist = np.linalg.norm(d_vec, axis=-1, keepdims=True)
    direction = d_vec / np.maximum(dist, 1e-9)
    d = np.clip(dist, abs(l1 - l2) + 1e-3, 0.999 * (l1 + l2))
    a = (l1 * l1 - l2 * l2 + d * d) / (2.0 * d)
    h = np.sqrt(np.maximum(l1 * l1 - a * a, 0.0))
    bend = _frame(direction, pole)[..., :, 2]
    middle = root + a * direction + h * bend
    upper = (middle - root) / l1
    lower = (root + d * direction - middle) / l2
    rest_u = _frame(rest_upper, rest_pole)
    rest_l = _frame(rest_lower, rest_pole)
    g_upper = _frame(upper, bend) @ np.swapaxes(rest_u, -1, -2)
    g_lower = _frame(lower, bend) @ np.swapaxes(rest_l, -1, -2)
    return g_upper, g_lower


@dataclass
class _Controls:
    """Per-frame control signals of one person (first axis: time)."""

    root: np.ndarray          # (M, 3) pelvis position
    yaw: np.ndarray           # (M,) pelvis heading incl. gait oscillation
    pelvis_pitch: np.ndarray  # (M,) + leans forward
    pelvis_roll: np.ndarray   # (M,)
    lean: np.ndarray          # (M,) spine forward bend, spread over spine1-3
    side: np.ndarray          # (M,) spine sideways bend
    twist: np.ndarray         # (M,) spine twist about its own axis
    neck_yaw: np.ndarray      # (M,)
    neck_pitch: np.ndarray    # (M,) + looks down
    shrug: np.ndarray         # (M,) collar raise
    wrist: np.ndarray         # (M, 2, 3) IK targets, left / right
    elbow_pole: np.ndarray    # (M, 2, 3) world directions the elbows point to
    ankle: np.ndarray         # (M, 2, 3) IK targets
    foot_yaw: np.ndarray      # (M, 2)
    foot_pitch: np.ndarray    # (M, 2) + lifts the toes

    def resample(self, t_src: np.ndarray, t_out: np.ndarray) -> "_Controls":
        i = np.clip(np.searchsorted(t_src, t_out, side="right") - 1, 0, len(t_src) - 2)
        w = np.clip((t_out - t_src[i]) / (t_src[i + 1] - t_src[i]), 0.0, 1.0)

        def interp(a: np.ndarray) -> np.ndarray:
            wa = w.reshape((-1,) + (1,) * (a.ndim - 1))
            return a[i] * (1.0 - wa) + a[i + 1] * wa

        return _Controls(**{name: interp(value) for name, value in vars(self).items()})


def _pose(body: _Body, c: _Controls, *, limbs: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Forward kinematics: joint positions (M, 22, 3) and global rotations (M, 22, 3, 3).

    With limbs=False only pelvis, hips, spine, neck, head, collars and shoulders are posed.
    """
    m = c.root.shape[0]
    off = body.offsets
    g = np.tile(np.eye(3), (m, N_JOINTS, 1, 1))
    p = np.zeros((m, N_JOINTS, 3))

    def place(j: int) -> None:
        p[:, j] = p[:, PARENTS[j]] + _apply(g[:, PARENTS[j]], off[j])

    g[:, 0] = _ry(c.yaw) @ _rx(c.pelvis_pitch) @ _rz(c.pelvis_roll)
    p[:, 0] = c.root
    for j, share in ((3, 0.4), (6, 0.3), (9, 0.3)):
        g[:, j] = g[:, PARENTS[j]] @ _ry(share * c.twist) @ _rx(share * c.lean) @ _rz(share * c.side)
        place(j)
    g[:, 12] = g[:, 9] @ _ry(c.neck_yaw) @ _rx(c.neck_pitch)
    place(12)
    g[:, 15] = g[:, 12]
    place(15)
    for side in (LEFT, RIGHT):
        collar, shoulder, elbow, wrist = _ARM[side]
        g[:, collar] = g[:, 9] @ _rz(_SIDE_SIGN[side] * c.shrug)
        place(collar)
        place(shoulder)
        hip = _LEG[side][0]
        place(hip)
    if not limbs:
        return p, g
    for side in (LEFT, RIGHT):
        _collar, shoulder, elbow, wrist = _ARM[side]
        g[:, shoulder], g[:, elbow] = _two_bone_ik(
            p[:, shoulder], c.wrist[:, side], body.limb(_ARM[side][1:]), c.elbow_pole[:, side],
            off[elbow], off[wrist], np.array([0.0, 0.0, -1.0]))
        place(elbow)
        place(wrist)
        g[:, wrist] = g[:, elbow]
        hip, knee, ankle, foot = _LEG[side]
        knee_pole = np.concatenate([_forward_xz(c.foot_yaw[:, side])[:, :1], np.full((m, 1), 0.2),
                                    _forward_xz(c.foot_yaw[:, side])[:, 1:]], axis=1)
        g[:, hip], g[:, knee] = _two_bone_ik(
            p[:, hip], c.ankle[:, side], body.limb(_LEG[side]), knee_pole,
            off[knee], off[ankle], np.array([0.0, 0.0, 1.0]))
        place(knee)
        place(ankle)
        g[:, ankle] = _ry(c.foot_yaw[:, side]) @ _rx(-c.foot_pitch[:, side])
        place(foot)
        g[:, foot] = g[:, ankle]
    return p, g


# --------------------------------------------------------------------------------------------
# one person's plan on the control grid


class _Person:
    """Tracks of one person on the control grid, filled by an interaction script."""

    def __init__(self, rng: np.random.Generator, t: np.ndarray, xz: Sequence[float], heading: float):
        self.body = _make_body(rng)
        self.t = t
        n = len(t)
        self.xz = np.tile(np.asarray(xz, dtype=np.float64), (n, 1))
        self.heading = np.full(n, float(heading))
        self.speed = float(rng.uniform(0.8, 1.1))
        self.swing_s = float(rng.uniform(0.33, 0.4))
        self.lift = float(rng.uniform(0.06, 0.09) * self.body.scale)
        self.delay = float(rng.uniform(0.2, 0.45))
        for name in ("crouch", "foot_forward", "lean", "side", "twist", "pelvis_pitch", "pelvis_roll",
                     "nod", "shrug", "sit", "look_weight"):
            setattr(self, name, np.zeros(n))
        # idle sway and breathing, so nobody stands frozen
        ph = rng.uniform(0, 2 * np.pi, size=4)
        f = rng.uniform(0.15, 0.35, size=3)
        self.lean += 0.02 * np.sin(2 * np.pi * f[0] * t + ph[0])
        self.side += 0.015 * np.sin(2 * np.pi * f[1] * t + ph[1])
        self.twist += 0.03 * np.sin(2 * np.pi * f[2] * t + ph[2])
        self.shrug += 0.01 * np.sin(2 * np.pi * 0.25 * t + ph[3])
        self.look_at: np.ndarray | None = None
        self.arm_target: list[np.ndarray | None] = [None, None]
        self.arm_weight = [np.zeros(n), np.zeros(n)]
        self.arm_pole: list[np.ndarray | None] = [None, None]
        # filled by settle()
        self.feet: dict[str, np.ndarray] = {}
        self.torso_p = np.zeros((n, N_JOINTS, 3))
        self.torso_g = np.zeros((n, N_JOINTS, 3, 3))
        self.controls: _Controls | None = None
        self.gait_stride = np.zeros(n)

    # ---- locomotion
    def at(self, time: float) -> np.ndarray:
        """Planned ground position (x, z) at `time` (seconds) given the tracks so far."""
        i = int(np.clip(round((time + PRE_ROLL_S) * CONTROL_FPS), 0, len(self.t) - 1))
        return self.xz[i].copy()

    def heading_at(self, time: float) -> float:
        i = int(np.clip(round((time + PRE_ROLL_S) * CONTROL_FPS), 0, len(self.t) - 1))
        return float(self.heading[i])

    def walk_to(self, t0: float, goal: Sequence[float], *, speed: float | None = None, ramp: float = 0.5,
                turn: bool = True) -> float:
        """Walk in a straight line from the current end position to `goal`; returns the arrival time."""
        start = self.xz[-1].copy()
        delta = np.asarray(goal, dtype=np.float64) - start
        dist = float(np.linalg.norm(delta))
        if dist < 1e-6:
            return t0
        duration = dist / (speed or self.speed) + ramp
        if turn:
            self.turn_to(t0 - 0.3, t0 + 0.3, float(_heading_to(start, goal)))
        self.xz += delta * _travel(self.t, t0, t0 + duration, ramp)[:, None]
        return t0 + duration

    def shift(self, t0: float, t1: float, delta: Sequence[float]) -> None:
        """Displace the pelvis on the ground by `delta` (x, z) with a minimum-jerk profile."""
        self.xz += np.asarray(delta, dtype=np.float64) * _ramp(self.t, t0, t1)[:, None]

    def turn_to(self, t0: float, t1: float, heading: float) -> None:
        delta = float(_wrap(heading - self.heading[-1]))
        self.heading += delta * _ramp(self.t, t0, t1)

    def face(self, t0: float, t1: float, point_xz: Sequence[float]) -> None:
        self.turn_to(t0, t1, float(_heading_to(self.at(t1), point_xz)))

    # ---- upper body helpers (valid after settle)
    def yaw_frame(self) -> np.ndarray:
        return _ry(self.heading + self.twist)

    def torso_frame(self) -> np.ndarray:
        return self.torso_g[:, 9]

    def joint(self, j: int) -> np.ndarray:
        return self.torso_p[:, j]

    def local(self, side: int, out: float, up: float, fwd: float) -> np.ndarray:
        """A body-frame vector (metres at scale 1), `out` measured towards `side`."""
        return np.array([_SIDE_SIGN[side] * out, up, fwd]) * self.body.scale

    def reach_from_shoulder(self, side: int, offset: np.ndarray, frame: str = "torso") -> np.ndarray:
        rot = self.torso_frame() if frame == "torso" else self.yaw_frame()
        return self.joint(_ARM[side][1]) + _apply(rot, np.broadcast_to(offset, (len(self.t), 3)))

    def set_arm(self, side: int, target: np.ndarray, weight: np.ndarray, pole: np.ndarray | None = None) -> None:
        """Drive one wrist to `target` (N, 3) with blend `weight` (N,); pole: body-frame elbow hint."""
        self.arm_target[side] = np.broadcast_to(target, (len(self.t), 3)).astype(np.float64)
        self.arm_weight[side] = np.clip(weight, 0.0, 1.0)
        self.arm_pole[side] = pole


def _plan_steps(p: _Person) -> dict[str, np.ndarray]:
    """Footsteps from the pelvis path: a foot steps when its planted spot drifts from where the hip
    will be half a stance later. Returns ankle targets (2, N, 3), foot yaw and pitch (2, N)."""
    t, n, fps = p.t, len(p.t), CONTROL_FPS
    body = p.body
    fwd = _forward_xz(p.heading)
    left_dir = np.stack([fwd[:, 1], -fwd[:, 0]], axis=1)  # body +X on the ground
    nominal = np.stack([p.xz + _SIDE_SIGN[s] * body.stance_half_width * left_dir + p.foot_forward[:, None] * fwd
                        for s in (LEFT, RIGHT)])
    speed = np.linalg.norm(np.gradient(p.xz, axis=0), axis=1) * fps
    swing = np.clip(p.swing_s - 0.15 * np.maximum(speed - 1.0, 0.0), 0.24, p.swing_s)
    swing_n = np.maximum(np.round(swing * fps).astype(int), 2)
    lead_n = np.round((1.5 * swing + _DOUBLE_SUPPORT_S) * fps).astype(int)
    ds_n = int(round(_DOUBLE_SUPPORT_S * fps))

    planted = nominal[:, 0].copy()
    yaw = np.array([p.heading[0], p.heading[0]])
    steps: list[tuple[int, int, int, np.ndarray, np.ndarray, float, float]] = []
    ready = 0
    while ready < n - 1:
        idx = np.arange(ready, n)
        lead = np.minimum(idx + lead_n[idx], n - 1)
        best: tuple[int, float, int] | None = None
        for s in (LEFT, RIGHT):
            err = np.linalg.norm(nominal[s, lead] - planted[s], axis=1)
            yerr = np.abs(_wrap(p.heading[lead] - yaw[s]))
            hit = np.flatnonzero((err > _STEP_POS_ERR) | (yerr > _STEP_YAW_ERR))
            if hit.size:
                j = int(idx[hit[0]])
                score = float(err[hit[0]] + 0.3 * yerr[hit[0]])
                if best is None or j < best[0] or (j == best[0] and score > best[1]):
                    best = (j, score, s)
        if best is None:
            break
        j, _score, s = best
        lj = min(j + int(lead_n[j]), n - 1)
        target = nominal[s, lj].copy()
        delta = target - planted[s]
        dist = float(np.linalg.norm(delta))
        if dist > _MAX_STEP_M:
            target = planted[s] + delta * (_MAX_STEP_M / dist)
        yaw_to = float(yaw[s] + _wrap(p.heading[lj] - yaw[s]))
        steps.append((s, j, int(swing_n[j]), planted[s].copy(), target, float(yaw[s]), yaw_to))
        planted[s] = target
        yaw[s] = yaw_to
        ready = j + int(swing_n[j]) + ds_n

    ground = np.repeat(nominal[:, :1], n, axis=1)
    foot_yaw = np.full((2, n), p.heading[0])
    lift = np.zeros((2, n))
    pitch = np.zeros((2, n))
    for s, j, dur, start, target, yaw0, yaw1 in steps:
        end = j + dur
        u = np.clip((np.arange(j, n) - j) / dur, 0.0, 1.0)
        mj = u * u * u * (10.0 + u * (-15.0 + 6.0 * u))
        bump = 16.0 * u * u * (1.0 - u) ** 2
        ground[s, j:] = start + (target - start) * mj[:, None]
        foot_yaw[s, j:] = yaw0 + (yaw1 - yaw0) * mj
        height = p.lift * float(np.clip(np.linalg.norm(target - start) / 0.25, 0.4, 1.0))
        seg = slice(j, min(end, n))
        lift[s, seg] = height * bump[: seg.stop - j]
        pitch[s, seg] = 0.15 * bump[: seg.stop - j]
    ankle_y = np.array([body.ankle_height(s) for s in (LEFT, RIGHT)])[:, None] + lift
    ankle = np.stack([ground[..., 0], ankle_y, ground[..., 1]], axis=-1)
    return {"ankle": ankle, "yaw": foot_yaw, "pitch": pitch}


def _min_filter(x: np.ndarray, half: int) -> np.ndarray:
    padded = np.pad(x, half, mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1).min(axis=1)


def _smooth_below(x: np.ndarray, half: int) -> np.ndarray:
    """A smooth signal that never exceeds `x`: a min filter, then a Gaussian kernel inside its window."""
    low = _min_filter(x, half)
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / (half / 3.0)) ** 2)
    k /= k.sum()
    return np.convolve(np.pad(low, half, mode="edge"), k, mode="valid")


def _settle(p: _Person) -> None:
    """Footsteps, gait oscillations, pelvis height, then the torso on the control grid."""
    n = len(p.t)
    body = p.body
    feet = _plan_steps(p)
    p.feet = feet
    fwd = _forward_xz(p.heading)
    foot_fwd = np.einsum("snk,nk->sn", feet["ankle"][..., [0, 2]] - p.xz[None], fwd)
    stride = np.clip(foot_fwd[LEFT] - foot_fwd[RIGHT], -0.8, 0.8)  # > 0: left foot ahead
    p.gait_stride = stride
    yaw = p.heading - 0.15 * stride
    twist = p.twist + 0.3 * stride
    pelvis_rot = _ry(yaw) @ _rx(p.pelvis_pitch) @ _rz(p.pelvis_roll)

    target_y = body.standing_pelvis_height() - p.crouch
    limits = [target_y]
    for s in (LEFT, RIGHT):
        hip_j = _LEG[s][0]
        hip = _apply(pelvis_rot, body.offsets[hip_j])
        thigh, shin = body.limb(_LEG[s])
        reach = _LEG_REACH * (thigh + shin)
        horiz = np.linalg.norm(p.xz + hip[:, [0, 2]] - feet["ankle"][s][:, [0, 2]], axis=1)
        limits.append(feet["ankle"][s][:, 1] + np.sqrt(np.maximum(reach ** 2 - horiz ** 2, 1e-4)) - hip[:, 1])
    pelvis_y = _smooth_below(np.min(limits, axis=0), half=int(0.15 * CONTROL_FPS))

    zeros2 = np.zeros((n, 2, 3))
    p.controls = _Controls(
        root=np.stack([p.xz[:, 0], pelvis_y, p.xz[:, 1]], axis=1), yaw=yaw,
        pelvis_pitch=p.pelvis_pitch.copy(), pelvis_roll=p.pelvis_roll.copy(), lean=p.lean.copy(),
        side=p.side.copy(), twist=twist, neck_yaw=np.zeros(n), neck_pitch=p.nod.copy(), shrug=p.shrug.copy(),
        wrist=zeros2, elbow_pole=zeros2.copy(), ankle=np.moveaxis(feet["ankle"], 0, 1),
        foot_yaw=feet["yaw"].T.copy(), foot_pitch=feet["pitch"].T.copy())
    p.torso_p, p.torso_g = _pose(body, p.controls, limbs=False)


def _finish(p: _Person, other: _Person | None) -> _Controls:
    """Head look-at and arm targets (relaxed swing blended with the script's targets)."""
    c = p.controls
    assert c is not None
    n = len(p.t)
    # head: look at the other person's head
    if p.look_at is None and other is not None:
        p.look_at = other.joint(15)
    if p.look_at is not None:
        head = p.joint(12)
        d = p.look_at - head
        torso_yaw = np.arctan2(p.torso_g[:, 9, 0, 2], p.torso_g[:, 9, 2, 2])
        rel = _wrap(np.arctan2(d[:, 0], d[:, 2]) - torso_yaw)
        w = np.clip(p.look_weight, 0.0, 1.0)
        c.neck_yaw = w * np.clip(rel, -1.1, 1.1)
        c.neck_pitch = c.neck_pitch + w * np.clip(np.arctan2(-d[:, 1], np.linalg.norm(d[:, [0, 2]], axis=1)), -0.5, 0.5)
    # arms
    yaw_rot = _ry(c.yaw + c.twist)
    stride = p.gait_stride
    for s in (LEFT, RIGHT):
        sign = _SIDE_SIGN[s]
        upper, lower = p.body.limb(_ARM[s][1:])
        swing = np.clip((-sign) * 0.6 * stride, -0.45, 0.45)  # the arm opposite the leading foot swings forward
        hang = np.stack([np.full(n, sign * 0.12), -np.cos(swing), np.sin(swing) + 0.06], axis=1)
        hang = _unit(hang) * ((upper + lower) * (0.95 - 0.05 * np.maximum(np.sin(swing), 0.0)))[:, None]
        lap = np.array([sign * 0.02, -0.42, 0.3]) * p.body.scale
        local = hang + p.sit[:, None] * (lap - hang)
        relaxed = p.joint(_ARM[s][1]) + _apply(yaw_rot, local)
        relaxed_pole = _apply(yaw_rot, np.array([sign * 0.5, -0.7, -0.5]))
        w = p.arm_weight[s][:, None]
        target = relaxed if p.arm_target[s] is None else relaxed + w * (p.arm_target[s] - relaxed)
        action_pole = np.array([sign * 0.6, -0.75, -0.3]) if p.arm_pole[s] is None else p.arm_pole[s]
        action_pole = _apply(yaw_rot, np.asarray(action_pole, dtype=np.float64))
        c.wrist[:, s] = target
        c.elbow_pole[:, s] = _unit(relaxed_pole + w * (action_pole - relaxed_pole))
    return c


# --------------------------------------------------------------------------------------------
# interaction scripts


@dataclass
class _Scene:
    rng: np.random.Generator
    t: np.ndarray
    actor: _Person
    reactor: _Person
    events: dict[str, float] = field(default_factory=dict)
    settled: bool = False

    def settle(self) -> None:
        for person in (self.actor, self.reactor):
            _settle(person)
        self.settled = True

    def ramp(self, t0: float, t1: float) -> np.ndarray:
        return _ramp(self.t, t0, t1)

    def pulse(self, t0: float, t1: float, t2: float, t3: float) -> np.ndarray:
        return _pulse(self.t, t0, t1, t2, t3)


@dataclass(frozen=True)
class _Kind:
    script: Callable[[_Scene], float]
    sub_category: str
    interx_action: int | None
    texts: tuple[str, ...]


def _face_to_face(rng: np.random.Generator, t: np.ndarray, distance: float, reactor_turn: float = 0.0,
                  lateral: float = 0.0) -> tuple[_Person, _Person]:
    actor = _Person(rng, t, (0.0, 0.0), 0.0)
    reactor_xz = (lateral, distance)
    reactor = _Person(rng, t, reactor_xz, float(_wrap(_heading_to(reactor_xz, (0.0, 0.0)) + reactor_turn)))
    return actor, reactor


def _approach(sc: _Scene) -> float:
    a, r, rng = sc.actor, sc.reactor, sc.rng
    d0, d_end = rng.uniform(2.5, 4.5), rng.uniform(0.9, 1.4)
    r.xz[:] = (rng.uniform(-0.5, 0.5), d0)
    r.heading[:] = _heading_to(r.xz[0], (0.0, 0.0)) + rng.choice([-1, 1]) * rng.uniform(0.5, 1.4)
    a.heading[:] = _heading_to((0.0, 0.0), r.xz[0])
    t0 = rng.uniform(0.2, 0.8)
    goal = r.xz[0] + d_end * _forward_xz(_heading_to(r.xz[0], (0.0, 0.0)))
    arrive = a.walk_to(t0, goal)
    notice = t0 + rng.uniform(0.4, 1.0) + r.delay
    r.face(notice, notice + 0.9, goal)
    r.look_weight += sc.ramp(notice - 0.3, notice + 0.3)
    a.look_weight += sc.ramp(t0, t0 + 0.5)
    # the reactor keeps its personal space: leans back and, if crowded, steps back
    back = float(np.clip(1.25 - d_end, 0.0, 0.3))
    away = _forward_xz(_heading_to((0.0, 0.0), r.xz[0]))
    r.shift(arrive - 0.2 + r.delay, arrive + 0.6 + r.delay, back * away)
    r.lean -= 0.08 * sc.pulse(arrive - 0.4 + r.delay, arrive + r.delay, arrive + 1.0, arrive + 1.8)
    a.lean += 0.06 * sc.ramp(arrive - 0.3, arrive + 0.3)
    a.nod += 0.25 * sc.pulse(arrive + 0.1, arrive + 0.4, arrive + 0.5, arrive + 0.9)
    sc.events["arrive"] = arrive
    sc.settle()
    return arrive + rng.uniform(1.2, 2.0)


def _wave(sc: _Scene) -> float:
    a, r, rng = sc.actor, sc.reactor, sc.rng
    d = rng.uniform(2.0, 4.0)
    r.xz[:] = (rng.uniform(-0.6, 0.6), d)
    r.heading[:] = _heading_to(r.xz[0], (0.0, 0.0)) + rng.uniform(-0.9, 0.9)
    a.heading[:] = _heading_to((0.0, 0.0), r.xz[0])
    t_up = rng.uniform(0.3, 1.0)
    wave_s, freq = rng.uniform(1.2, 2.4), rng.uniform(1.5, 2.5)
    t_down = t_up + 0.5 + wave_s
    r_up = t_up + 0.3 + r.delay
    r.face(r_up - 0.3, r_up + 0.5, (0.0, 0.0))
    r_side = int(rng.integers(0, 2))
    r_wave_s, r_freq = rng.uniform(0.9, 1.8), rng.uniform(1.5, 2.5)
    r_down = r_up + 0.5 + r_wave_s
    if rng.random() < 0.5:
        r.walk_to(r_down + 0.2, r.xz[-1] + rng.uniform(0.5, 1.0) * _forward_xz(_heading_to(r.xz[-1], (0.0, 0.0))))
    sc.events["wave"] = t_up + 0.5
    sc.settle()
    for p, side, t0, t1, f in ((a, RIGHT, t_up, t_down, freq), (r, r_side, r_up, r_down, r_freq)):
        osc = 0.12 * np.sin(2 * np.pi * f * (sc.t - t0)) * _pulse(sc.t, t0 + 0.3, t0 + 0.6, t1 - 0.2, t1)
        offset = p.local(side, 0.2, 0.3, 0.12)[None] + osc[:, None] * p.local(side, 1.0, 0.0, 0.0)[None]
        p.set_arm(side, p.reach_from_shoulder(side, offset), _pulse(sc.t, t0, t0 + 0.5, t1, t1 + 0.5),
                  pole=np.array([_SIDE_SIGN[side] * 0.8, -0.6, -0.1]))
    a.look_weight += 1.0
    r.look_weight += sc.ramp(r_up - 0.4, r_up)
    return max(t_down, r_down) + rng.uniform(0.8, 1.5)


def _meeting_point(a: _Person, r: _Person, height: float) -> np.ndarray:
    mid = 0.5 * (a.xz + r.xz)
    return np.stack([mid[:, 0], np.full(len(mid), height), mid[:, 1]], axis=1)


def _handshake(sc: _Scene) -> float:
    a, r, rng = sc.actor, sc.reactor, sc.rng
    d0 = rng.uniform(1.8, 3.0)
    r.xz[:] = (rng.uniform(-0.3, 0.3), d0)
    r.heading[:] = _heading_to(r.xz[0], (0.0, 0.0)) + rng.uniform(-0.3, 0.3)
    a.heading[:] = _heading_to((0.0, 0.0), r.xz[0])
    d_shake = rng.uniform(0.78, 0.88) * 0.5 * (a.body.scale + r.body.scale)
    r_step = rng.uniform(0.0, 0.2)
    toward_a = _forward_xz(_heading_to(r.xz[0], (0.0, 0.0)))
    goal = r.xz[0] + (d_shake + r_step) * toward_a
    t0 = rng.uniform(0.2, 0.6)
    arrive = a.walk_to(t0, goal)
    r.face(t0 + r.delay, t0 + r.delay + 0.8, goal)
    r.shift(arrive - 0.5 + r.delay, arrive + 0.2 + r.delay, r_step * toward_a)
    grip = arrive + 0.3 + r.delay
    shake_s = rng.uniform(1.0, 2.0)
    release = grip + shake_s
    for p in (a, r):
        p.lean += 0.1 * sc.pulse(grip - 0.6, grip, release, release + 0.6)
        p.look_weight += 1.0
    sc.events["contact"] = grip + 0.5 * shake_s
    sc.settle()
    height = 0.5 * (a.body.standing_pelvis_height() + r.body.standing_pelvis_height()) + 0.06
    meet = _meeting_point(a, r, height)
    freq, amp = rng.uniform(2.0, 3.0), rng.uniform(0.03, 0.05)
    meet[:, 1] += amp * np.sin(2 * np.pi * freq * (sc.t - grip)) * sc.pulse(grip, grip + 0.2, release - 0.2, release)
    a_dir = _unit(r.joint(0) - a.joint(0)) * np.array([1.0, 0.0, 1.0])
    a.set_arm(RIGHT, meet - 0.05 * a_dir, sc.pulse(arrive - 0.7, grip, release, release + 0.6))
    r.set_arm(RIGHT, meet + 0.05 * a_dir, sc.pulse(arrive - 0.7 + r.delay, grip, release, release + 0.6))
    return release + rng.uniform(1.0, 1.8)


def _push(sc: _Scene) -> float:
    a, r, rng = sc.actor, sc.reactor, sc.rng
    d0 = rng.uniform(1.4, 2.2)
    r.xz[:] = (rng.uniform(-0.3, 0.3), d0)
    r.heading[:] = _heading_to(r.xz[0], (0.0, 0.0)) + rng.uniform(-0.2, 0.2)
    a.heading[:] = _heading_to((0.0, 0.0), r.xz[0])
    d_push = rng.uniform(0.65, 0.8) * 0.5 * (a.body.scale + r.body.scale)
    toward_r = _forward_xz(_heading_to((0.0, 0.0), r.xz[0]))
    arrive = a.walk_to(rng.uniform(0.2, 0.6), r.xz[0] - d_push * toward_r)
    contact = arrive + rng.uniform(0.1, 0.3)
    push_s = 0.35
    # the actor lunges into the push
    a.shift(contact, contact + push_s + 0.1, 0.15 * toward_r)
    a.lean += 0.2 * sc.pulse(contact - 0.2, contact + push_s, contact + 0.7, contact + 1.3)
    # the reactor is driven back, staggers, leans back and recovers
    dist, dur = rng.uniform(0.45, 0.8), rng.uniform(0.8, 1.2)
    r.shift(contact, contact + dur, dist * toward_r)
    r.lean -= 0.3 * sc.pulse(contact, contact + 0.3, contact + 0.45, contact + dur + 0.3)
    r.lean += 0.08 * sc.pulse(contact + dur, contact + dur + 0.3, contact + dur + 0.5, contact + dur + 1.0)
    r.side += rng.uniform(-0.12, 0.12) * sc.pulse(contact, contact + 0.4, contact + 0.6, contact + dur + 0.3)
    for p in (a, r):
        p.look_weight += 1.0
    sc.events["contact"] = contact
    sc.settle()
    hands_on = sc.pulse(arrive - 0.5, contact, contact + push_s, contact + 0.9)
    toward_a3 = np.concatenate([-toward_r[:1], [0.0], -toward_r[1:]])
    for s in (LEFT, RIGHT):
        chest = r.joint(9) + 0.12 * r.body.scale * toward_a3 + _apply(r.yaw_frame(), r.local(s, -0.12, 0.02, 0.0))
        # "s" is the actor's side; the reactor faces the other way, so its -out is the actor's out
        a.set_arm(s, chest, hands_on, pole=np.array([_SIDE_SIGN[s] * 0.6, -0.8, -0.2]))
        flail = sc.pulse(contact + 0.15, contact + 0.45, contact + dur, contact + dur + 0.6)
        r.set_arm(s, r.reach_from_shoulder(s, r.local(s, 0.35, -0.2, 0.2), frame="yaw"), flail)
    return contact + dur + rng.uniform(1.0, 1.8)


def _dodge(sc: _Scene) -> float:
    a, r, rng = sc.actor, sc.reactor, sc.rng
    a, r = _face_to_face(rng, sc.t, rng.uniform(1.0, 1.3))
    sc.actor, sc.reactor = a, r
    t_guard = rng.uniform(0.3, 0.8)
    t_punch = t_guard + rng.uniform(0.5, 1.0)
    toward_r = _forward_xz(a.heading[0])
    a.shift(t_punch - 0.1, t_punch + 0.3, 0.2 * toward_r)
    a.lean += 0.15 * sc.pulse(t_punch - 0.1, t_punch + 0.25, t_punch + 0.5, t_punch + 1.0)
    a.twist -= 0.3 * sc.pulse(t_punch - 0.05, t_punch + 0.25, t_punch + 0.5, t_punch + 0.9)
    react = t_punch + rng.uniform(0.12, 0.25)
    dodge_side = int(rng.integers(0, 2))
    lateral = rng.uniform(0.3, 0.45) * _SIDE_SIGN[dodge_side]
    r_left = np.array([np.cos(r.heading[0]), -np.sin(r.heading[0])])
    r.shift(react, react + 0.45, lateral * r_left)
    r.crouch += rng.uniform(0.08, 0.15) * sc.pulse(react, react + 0.35, react + 0.6, react + 1.2)
    r.side -= 0.25 * _SIDE_SIGN[dodge_side] * sc.pulse(react, react + 0.35, react + 0.5, react + 1.1)
    r.lean -= 0.1 * sc.pulse(react, react + 0.3, react + 0.5, react + 1.0)
    r.face(react + 0.6, react + 1.3, a.at(react + 1.3))
    for p in (a, r):
        p.look_weight += 1.0
    sc.events["contact"] = t_punch + 0.25
    sc.settle()
    guard = sc.pulse(t_guard, t_guard + 0.4, t_punch + 0.9, t_punch + 1.5)
    for s in (LEFT, RIGHT):
        a.set_arm(s, a.reach_from_shoulder(s, a.local(s, -0.12, -0.05, 0.3)), guard,
                  pole=np.array([_SIDE_SIGN[s], -1.0, 0.0]))
    # the punch aims at where the reactor's head was when it started
    i_punch = int(round((t_punch + PRE_ROLL_S) * CONTROL_FPS))
    head = r.joint(15)[i_punch]
    punch = sc.pulse(t_punch, t_punch + 0.25, t_punch + 0.4, t_punch + 0.8)
    guard_r = a.arm_target[RIGHT]
    a.set_arm(RIGHT, guard_r + punch[:, None] * (head - guard_r), guard, pole=np.array([-1.0, -0.5, 0.0]))
    r_guard = sc.pulse(react, react + 0.3, react + 0.9, react + 1.5)
    for s in (LEFT, RIGHT):
        r.set_arm(s, r.reach_from_shoulder(s, r.local(s, -0.1, 0.0, 0.3)), r_guard,
                  pole=np.array([_SIDE_SIGN[s], -1.0, 0.0]))
    return react + 1.5 + rng.uniform(0.6, 1.5)


def _hug(sc: _Scene) -> float:
    a, r, rng = sc.actor, sc.reactor, sc.rng
    d0 = rng.uniform(1.5, 2.8)
    r.xz[:] = (rng.uniform(-0.3, 0.3), d0)
    r.heading[:] = _heading_to(r.xz[0], (0.0, 0.0)) + rng.uniform(-0.2, 0.2)
    a.heading[:] = _heading_to((0.0, 0.0), r.xz[0])
    d_hug = rng.uniform(0.36, 0.44) * 0.5 * (a.body.scale + r.body.scale)
    r_step = rng.uniform(0.05, 0.15)
    toward_a = _forward_xz(_heading_to(r.xz[0], (0.0, 0.0)))
    arrive = a.walk_to(rng.uniform(0.2, 0.6), r.xz[0] + (d_hug + r_step) * toward_a, speed=0.8 * a.speed)
    r.shift(arrive - 0.6 + r.delay, arrive + r.delay, r_step * toward_a)
    embrace = arrive + r.delay + 0.2
    hold = rng.uniform(1.2, 2.4)
    release = embrace + hold
    sway_f, sway_a = rng.uniform(0.3, 0.6), rng.uniform(0.03, 0.06)
    sway = np.sin(2 * np.pi * sway_f * (sc.t - embrace)) * sc.pulse(embrace, embrace + 0.5, release - 0.3, release)
    for p in (a, r):
        p.side += sway_a * 2.0 * sway
        p.lean += 0.1 * sc.pulse(embrace - 0.4, embrace, release, release + 0.5)
        p.look_weight += 1.0 - sc.pulse(embrace - 0.2, embrace + 0.2, release - 0.2, release + 0.2)
    back = 0.3
    a.shift(release + 0.2, release + 1.0, -back * _forward_xz(a.heading[0]))
    sc.events["contact"] = embrace + 0.5 * hold
    sc.settle()
    open_a = sc.pulse(arrive - 1.2, arrive - 0.5, arrive - 0.2, arrive + 0.3)
    wrap_a = sc.pulse(arrive - 0.5, embrace, release, release + 0.6)
    open_r = sc.pulse(arrive - 1.0 + r.delay, arrive - 0.4 + r.delay, embrace - 0.3, embrace + 0.2)
    wrap_r = sc.pulse(embrace - 0.4, embrace + 0.1, release, release + 0.6)
    for s in (LEFT, RIGHT):
        open_pos = a.reach_from_shoulder(s, a.local(s, 0.4, -0.15, 0.3), frame="yaw")
        # under the reactor's arms, hands behind its back at spine2 height
        behind_r = r.joint(6) - 0.12 * r.body.scale * _apply(r.yaw_frame(), np.array([0.0, 0.0, 1.0])) \
            + _apply(r.yaw_frame(), r.local(s, -0.08, 0.0, 0.0))
        blend = wrap_a / np.maximum(open_a + wrap_a, 1e-9)
        a.set_arm(s, open_pos + blend[:, None] * (behind_r - open_pos), np.maximum(open_a, wrap_a),
                  pole=np.array([_SIDE_SIGN[s], -0.6, -0.3]))
        open_r_pos = r.reach_from_shoulder(s, r.local(s, 0.4, -0.15, 0.3), frame="yaw")
        # over the actor's shoulders, hands on its upper back
        behind_a = a.joint(9) - 0.1 * a.body.scale * _apply(a.yaw_frame(), np.array([0.0, 0.0, 1.0])) \
            + np.array([0.0, 0.06, 0.0]) + _apply(a.yaw_frame(), a.local(s, -0.1, 0.0, 0.0))
        blend = wrap_r / np.maximum(open_r + wrap_r, 1e-9)
        r.set_arm(s, open_r_pos + blend[:, None] * (behind_a - open_r_pos), np.maximum(open_r, wrap_r),
                  pole=np.array([_SIDE_SIGN[s], -0.3, -0.4]))
    return release + 1.0 + rng.uniform(0.5, 1.2)


def _walk_past(sc: _Scene) -> float:
    a, r, rng = sc.actor, sc.reactor, sc.rng
    offset = rng.uniform(0.6, 1.0)
    total = rng.uniform(4.0, 7.0)
    start = -0.8
    meet = rng.uniform(0.4, 0.6) * total
    for p, sign in ((a, 1.0), (r, -1.0)):
        span = p.speed * (total - start + 0.5)
        # place each walker so both reach the crossing line z = 0 at about `meet`
        before = p.speed * (meet - start - 0.25)
        p.xz[:] = (sign * offset / 2, -sign * before)
        p.heading[:] = 0.0 if sign > 0 else np.pi
        p.walk_to(start, (sign * offset / 2, -sign * before + sign * span), turn=False)
    notice = meet - rng.uniform(1.2, 2.0) + r.delay
    swerve = rng.uniform(0.12, 0.3)
    r.xz[:, 0] -= swerve * sc.pulse(notice, notice + 0.8, meet + 0.3, meet + 1.3)
    vel = np.gradient(r.xz, axis=0)
    moving = np.linalg.norm(vel, axis=1) > 1e-4
    r.heading[moving] = np.pi + _wrap(np.arctan2(vel[moving, 0], vel[moving, 1]) - np.pi)
    r.look_weight += sc.pulse(notice, notice + 0.4, meet - 0.2, meet + 0.4)
    a.look_weight += rng.uniform(0.0, 1.0) * sc.pulse(notice + 0.3, notice + 0.7, meet - 0.4, meet)
    sc.events["pass"] = meet
    sc.settle()
    return total


def _sit_down_near(sc: _Scene) -> float:
    a, r, rng = sc.actor, sc.reactor, sc.rng
    seat_drop_r = r.body.standing_pelvis_height() - rng.uniform(0.47, 0.53) * r.body.scale
    r.xz[:] = (0.0, 0.0)
    r.heading[:] = 0.0
    r.foot_forward[:] = rng.uniform(0.35, 0.45) * r.body.scale
    r.crouch[:] = seat_drop_r
    r.sit[:] = 1.0
    r.lean[:] += 0.05
    side = rng.choice([-1.0, 1.0])
    seat = np.array([side * rng.uniform(0.65, 0.9), 0.0])
    feet_fwd = rng.uniform(0.35, 0.45) * a.body.scale
    stand_spot = seat + np.array([0.0, feet_fwd])
    a.xz[:] = (side * rng.uniform(1.5, 2.5), rng.uniform(1.8, 3.0))
    a.heading[:] = _heading_to(a.xz[0], stand_spot)
    arrive = a.walk_to(rng.uniform(0.2, 0.6), stand_spot, speed=0.9 * a.speed)
    turn_end = arrive + rng.uniform(0.8, 1.2)
    a.turn_to(arrive - 0.2, turn_end, 0.0)
    sit0 = turn_end + 0.1
    sit1 = sit0 + rng.uniform(1.1, 1.5)
    profile = _ramp(sc.t, sit0, sit1)
    a.xz += (seat - stand_spot) * profile[:, None]
    a.foot_forward += feet_fwd * profile
    seat_drop_a = a.body.standing_pelvis_height() - rng.uniform(0.47, 0.53) * a.body.scale
    a.crouch += seat_drop_a * _ramp(sc.t, sit0 + 0.1, sit1)
    a.sit += profile
    a.lean += 0.45 * sc.pulse(sit0, sit0 + 0.5 * (sit1 - sit0), sit0 + 0.6 * (sit1 - sit0), sit1 + 0.3) + 0.05 * profile
    a.look_weight += sc.pulse(arrive - 1.0, arrive - 0.5, sit0, sit0 + 0.3) + sc.ramp(sit1, sit1 + 0.5)
    # the seated reactor follows the actor with its eyes and turns towards it once seated
    r.look_weight += sc.ramp(0.3 + r.delay, 0.8 + r.delay)
    turn = sc.ramp(sit1 - 0.3 + r.delay, sit1 + 0.5 + r.delay)
    r.twist += side * 0.35 * turn
    r.side += side * 0.05 * turn
    sc.events["contact"] = sit1
    sc.settle()
    return sit1 + rng.uniform(1.0, 2.0)


def _high_five(sc: _Scene) -> float:
    a, r, rng = sc.actor, sc.reactor, sc.rng
    d0 = rng.uniform(1.5, 2.5)
    r.xz[:] = (rng.uniform(-0.3, 0.3), d0)
    r.heading[:] = _heading_to(r.xz[0], (0.0, 0.0)) + rng.uniform(-0.4, 0.4)
    a.heading[:] = _heading_to((0.0, 0.0), r.xz[0])
    d = rng.uniform(0.9, 1.05) * 0.5 * (a.body.scale + r.body.scale)
    goal = r.xz[0] + d * _forward_xz(_heading_to(r.xz[0], (0.0, 0.0)))
    arrive = a.walk_to(rng.uniform(0.2, 0.6), goal, speed=1.1 * a.speed)
    r.face(0.3 + r.delay, 1.0 + r.delay, goal)
    contact = arrive + 0.2 + r.delay
    for p in (a, r):
        p.look_weight += 1.0
        p.lean += 0.08 * sc.pulse(contact - 0.5, contact - 0.1, contact + 0.1, contact + 0.6)
    sc.events["contact"] = contact
    sc.settle()
    height = 0.5 * (a.joint(17)[:, 1] + r.joint(17)[:, 1]) + 0.25 * 0.5 * (a.body.scale + r.body.scale)
    meet = _meeting_point(a, r, 0.0)
    meet[:, 1] = height
    a_dir = _unit(r.joint(0) - a.joint(0)) * np.array([1.0, 0.0, 1.0])
    pole = np.array([-0.7, -0.6, -0.3])
    a.set_arm(RIGHT, meet - 0.05 * a_dir, sc.pulse(arrive - 0.8, contact, contact + 0.05, contact + 0.6), pole)
    r.set_arm(RIGHT, meet + 0.05 * a_dir,
              sc.pulse(arrive - 0.6 + r.delay, contact, contact + 0.05, contact + 0.6), pole)
    return contact + rng.uniform(1.2, 2.0)


def _bow(sc: _Scene) -> float:
    a, r, rng = sc.actor, sc.reactor, sc.rng
    a, r = _face_to_face(rng, sc.t, rng.uniform(1.5, 2.5), reactor_turn=rng.uniform(-0.3, 0.3))
    sc.actor, sc.reactor = a, r
    r.face(0.2, 0.8, (0.0, 0.0))
    t = rng.uniform(0.4, 1.0)
    end = t
    # depth: total forward pitch of the trunk (rad); the head stays short of horizontal
    for p, depth in ((a, rng.uniform(0.4, 0.6)), (r, rng.uniform(0.3, 0.6))):
        down, hold = rng.uniform(0.6, 1.0), rng.uniform(0.3, 0.8)
        bow = sc.pulse(t, t + down, t + down + hold, t + 2 * down + hold)
        p.lean += 0.6 * depth * bow
        p.pelvis_pitch += 0.4 * depth * bow
        p.nod += 0.1 * bow
        # the hips go back to keep the weight over the feet
        p.xz -= 0.08 * depth * bow[:, None] * _forward_xz(p.heading[0])
        p.look_weight += 1.0 - bow
        end = t + 2 * down + hold
        t = t + down + hold * 0.5 + p.delay + 0.3  # the reactor answers the bow
    sc.events["contact"] = end
    sc.settle()
    return end + rng.uniform(0.6, 1.2)


def _point(sc: _Scene) -> float:
    a, r, rng = sc.actor, sc.reactor, sc.rng
    a, r = _face_to_face(rng, sc.t, rng.uniform(1.5, 3.0), reactor_turn=rng.uniform(-0.8, 0.8),
                         lateral=rng.uniform(-0.8, 0.8))
    sc.actor, sc.reactor = a, r
    a.heading[:] = _heading_to((0.0, 0.0), r.xz[0])
    t0 = rng.uniform(0.3, 1.0)
    hold = rng.uniform(1.0, 2.0)
    react = t0 + 0.4 + r.delay
    r.face(react, react + 0.6, (0.0, 0.0))
    r.shift(react + 0.3, react + 1.0, 0.15 * _forward_xz(_heading_to((0.0, 0.0), r.xz[0])))
    r.lean -= 0.08 * sc.pulse(react, react + 0.5, react + 1.2, react + 1.8)
    a.look_weight += 1.0
    r.look_weight += sc.ramp(react - 0.2, react + 0.3)
    sc.events["contact"] = t0 + 0.4
    sc.settle()
    side = RIGHT
    shoulder = a.joint(_ARM[side][1])
    aim = _unit(r.joint(15) - shoulder)
    arm_len = sum(a.body.limb(_ARM[side][1:]))
    a.set_arm(side, shoulder + arm_len * aim, sc.pulse(t0, t0 + 0.4, t0 + 0.4 + hold, t0 + 0.9 + hold),
              pole=np.array([-1.0, -0.8, 0.0]))
    me = sc.pulse(react + 0.1, react + 0.5, react + 1.2, react + 1.8)
    for s in (LEFT, RIGHT):
        r.set_arm(s, r.reach_from_shoulder(s, r.local(s, -0.1, -0.22, 0.22)), me,
                  pole=np.array([_SIDE_SIGN[s], -1.0, -0.2]))
    return t0 + 0.9 + hold + rng.uniform(0.5, 1.2)


_KINDS: dict[str, _Kind] = {
    "approach": _Kind(_approach, "daily socialising", 13, (
        "a person walks up to another person, who turns to face them",
        "someone approaches a person standing nearby, who turns towards them and leans back",
    )),
    "wave": _Kind(_wave, "daily socialising", 2, (
        "a person waves at another person, who turns and waves back",
        "someone greets a person from a distance with a wave and gets a wave in return",
    )),
    "handshake": _Kind(_handshake, "daily socialising", 1, (
        "a person walks up to another person and they shake hands",
        "two people greet each other with a handshake",
    )),
    "push": _Kind(_push, "physical confrontation", 7, (
        "a person pushes another person in the chest, who staggers backwards",
        "someone shoves a person, who is knocked back a few steps",
    )),
    "dodge": _Kind(_dodge, "physical confrontation", None, (
        "a person throws a punch at another person, who ducks to the side to dodge it",
        "someone swings at a person, who evades by stepping aside",
    )),
    "hug": _Kind(_hug, "daily socialising", 0, (
        "a person walks up to another person and they hug",
        "two people embrace each other",
    )),
    "walk_past": _Kind(_walk_past, "others", None, (
        "two people walk past each other; one of them glances and steps aside",
        "a person walking towards another swerves to let them pass",
    )),
    "sit_down_near": _Kind(_sit_down_near, "daily socialising", None, (
        "a person walks over and sits down next to a seated person, who turns towards them",
        "someone takes a seat beside a sitting person, who looks over at them",
    )),
    "high_five": _Kind(_high_five, "daily socialising", 16, (
        "a person walks up to another person and they give each other a high five",
        "two people slap hands in a high five",
    )),
    "bow": _Kind(_bow, "daily socialising", None, (
        "a person bows to another person, who bows back",
        "two people greet each other with a bow",
    )),
    "point": _Kind(_point, "others", 12, (
        "a person points at another person, who steps back and raises both hands to the chest",
        "someone points a finger at a person, who reacts with surprise",
    )),
}

#: the interaction kinds `generate` knows
KINDS: tuple[str, ...] = tuple(_KINDS)


def _check_kind(kind: str) -> _Kind:
    if kind not in _KINDS:
        raise SynthesisError(f"unknown interaction kind {kind!r}", fix=f"use one of: {', '.join(KINDS)}")
    return _KINDS[kind]


def _check_fps(fps: float) -> float:
    fps = float(fps)
    if not math.isfinite(fps) or fps <= 0 or fps > 1000:
        raise SynthesisError(f"fps must be a positive number up to 1000, got {fps}", fix="pass e.g. --fps 20")
    return fps


def _control_grid(duration_s: float) -> np.ndarray:
    n = int(round((PRE_ROLL_S + duration_s + 0.5) * CONTROL_FPS)) + 1
    return (np.arange(n) - PRE_ROLL_S * CONTROL_FPS) / CONTROL_FPS


def _output_frames(n_frames: int, fps: float) -> np.ndarray:
    return np.arange(n_frames) / fps


def _world_transform(joints: np.ndarray, yaw: float, offset: Sequence[float]) -> np.ndarray:
    rot = _ry(np.asarray(yaw))
    return joints @ rot.T + np.asarray(offset, dtype=np.float64)


def generate(kind: str, *, seed: int, fps: float = 20, duration_s: float | None = None,
             world_yaw: float = 0.0, world_offset: Sequence[float] = (0.0, 0.0, 0.0)) -> SyntheticInteraction:
    """One seeded two-person interaction of `kind` (see KINDS).

    duration_s: clip length; by default the interaction's natural length clipped to 2-10 s and
    rounded to 0.1 s. world_yaw (radians about +Y) and world_offset (x, y, z metres) move the whole
    scene off its canonical placement (actor starting near the origin, facing about +Z).
    Returns actor and reactor joints, (T, 22, 3) float32, T = round(duration_s * fps).
    """
    spec = _check_kind(kind)
    fps = _check_fps(fps)
    if int(seed) < 0:
        raise SynthesisError(f"seed must be >= 0, got {seed}", fix="pass a non-negative integer seed")
    if duration_s is not None and not (math.isfinite(duration_s) and 0 < duration_s <= 600):
        raise SynthesisError(f"duration_s must be in (0, 600] seconds, got {duration_s}", fix="pass e.g. duration_s=5")
    offset = tuple(float(v) for v in world_offset)
    if len(offset) != 3 or not all(math.isfinite(v) for v in offset) or not math.isfinite(world_yaw):
        raise SynthesisError("world_offset must be three finite numbers and world_yaw finite",
                             fix="pass e.g. world_offset=(1.0, 0.0, -2.0)")
    rng = np.random.default_rng([int(seed), KINDS.index(kind)])
    grid = _control_grid(max(MAX_DURATION_S, duration_s or 0.0))
    actor, reactor = _face_to_face(rng, grid, 2.0)
    scene = _Scene(rng=rng, t=grid, actor=actor, reactor=reactor)
    natural = spec.script(scene)
    if not scene.settled:
        scene.settle()
    if duration_s is None:
        duration_s = round(float(np.clip(natural, MIN_DURATION_S, MAX_DURATION_S)), 1)
    n_frames = max(2, int(round(duration_s * fps)))
    t_out = _output_frames(n_frames, fps)
    joints = []
    for person, other in ((scene.actor, scene.reactor), (scene.reactor, scene.actor)):
        controls = _finish(person, other).resample(grid, t_out)
        p, _g = _pose(person.body, controls)
        joints.append(_world_transform(p, world_yaw, offset).astype(np.float32))
    text = spec.texts[int(rng.integers(len(spec.texts)))]
    events = {name: round(float(v), 4) for name, v in scene.events.items()}
    return SyntheticInteraction(
        kind=kind, actor=joints[0], reactor=joints[1], fps=fps, seed=int(seed), text=text,
        sub_category=spec.sub_category, interx_action=spec.interx_action, events=events,
        world_yaw=float(world_yaw), world_offset=offset)


def generate_many(n: int, *, seed: int, kinds: Sequence[str] | None = None, fps: float = 20,
                  random_placement: bool = False) -> list[SyntheticInteraction]:
    """`n` interactions cycling through `kinds` (default: all), each with its own seed drawn from `seed`.

    random_placement: give each interaction a random world yaw and ground offset (within 5 m).
    """
    if n < 0:
        raise SynthesisError(f"n must be >= 0, got {n}", fix="pass a non-negative count")
    kinds = tuple(kinds) if kinds is not None else KINDS
    if not kinds:
        raise SynthesisError("no interaction kinds given", fix=f"use some of: {', '.join(KINDS)}")
    for kind in kinds:
        _check_kind(kind)
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, 2**31 - 1, size=n)
    out = []
    for i in range(n):
        yaw, offset = 0.0, (0.0, 0.0, 0.0)
        if random_placement:
            yaw = float(rng.uniform(-np.pi, np.pi))
            offset = (float(rng.uniform(-5, 5)), 0.0, float(rng.uniform(-5, 5)))
        out.append(generate(kinds[i % len(kinds)], seed=int(seeds[i]), fps=fps, world_yaw=yaw, world_offset=offset))
    return out


def walk(seed: int, fps: float = 20, n_frames: int = 120, turn_rate: float = 0.0) -> np.ndarray:
    """A single person walking (already under way at frame 0), turning at `turn_rate` rad/s
    (positive turns from +Z towards +X). Returns joints (n_frames, 22, 3) float32, metres, +Y up."""
    fps = _check_fps(fps)
    if n_frames < 2:
        raise SynthesisError(f"n_frames must be >= 2, got {n_frames}", fix="ask for at least 2 frames")
    if not math.isfinite(turn_rate) or abs(turn_rate) > 3.0:
        raise SynthesisError(f"turn_rate must be within +-3 rad/s, got {turn_rate}", fix="pass e.g. turn_rate=0.6")
    rng = np.random.default_rng([int(seed), 1_000_003])
    duration = n_frames / fps
    grid = _control_grid(duration)
    person = _Person(rng, grid, (0.0, 0.0), 0.0)
    dt = 1.0 / CONTROL_FPS
    go = _ramp(grid, -PRE_ROLL_S + 0.1, -PRE_ROLL_S + 0.7)
    person.heading = np.cumsum(turn_rate * go) * dt
    velocity = person.speed * go[:, None] * _forward_xz(person.heading)
    person.xz = np.cumsum(velocity, axis=0) * dt
    person.look_weight[:] = 0.0
    _settle(person)
    controls = _finish(person, None).resample(grid, _output_frames(n_frames, fps))
    return _pose(person.body, controls)[0].astype(np.float32)


#: layout version of the folders `write_interactions` produces
EXPORT_FORMAT_VERSION = 1
_INDEX_COLUMNS = ("id", "kind", "text", "broad_category", "sub_category", "interx_action", "fps", "n_frames",
                  "duration_s", "seed", "actor_file", "reactor_file")


def write_interactions(interactions: Sequence[SyntheticInteraction], out: str | Path,
                       generator: dict | None = None) -> Path:
    """Write `<id>_actor.npy` / `<id>_reactor.npy` ((T, 22, 3) float32) per interaction, plus
    index.csv (one row each) and index.json (rows, events, format version, `generator` settings).
    Every file is written atomically; returns the folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SynthesisError("exists and is not a folder", path=out, fix="pick a folder path for --out")
    ids = [x.id for x in interactions]
    if len(set(ids)) != len(ids):
        raise SynthesisError("two interactions share an id (same kind and seed)", path=out,
                             fix="generate them with distinct seeds")
    rows = []
    for x in interactions:
        files = {"actor_file": f"{x.id}_actor.npy", "reactor_file": f"{x.id}_reactor.npy"}
        save_npy(out / files["actor_file"], x.actor)
        save_npy(out / files["reactor_file"], x.reactor)
        rows.append({**x.metadata(), **files})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_INDEX_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row[k] is None else row[k]) for k in _INDEX_COLUMNS})
    write_text(out / "index.csv", buf.getvalue())
    write_json(out / "index.json", {"format": "vimo-synthetic", "format_version": EXPORT_FORMAT_VERSION,
                                    "generator": generator or {}, "interactions": rows})
    return out


def describe_kind(kind: str) -> dict:
    """Labels of one kind: broad_category, sub_category, interx_action (Inter-X action id or None), text."""
    spec = _check_kind(kind)
    return {"kind": kind, "broad_category": BROAD_CATEGORY, "sub_category": spec.sub_category,
            "interx_action": spec.interx_action, "text": spec.texts[0]}

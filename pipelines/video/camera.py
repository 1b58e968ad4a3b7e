"""Camera paths for rendering a clip: where the camera is and where it looks, every frame.

    path = camera_path("reactor-view", actor, reactor, fps=20)    # actor/reactor (T, 22, 3), metres, Y up
    path.poses   # (T, 4, 4) camera-to-world, OpenGL convention (the camera looks along its -Z, +Y up)

`reactor-view` (default): at the reactor's eyes, looking where the reactor's upper body and head
point (smoothed over time), so the video shows the actor as the reactor saw them. `front`: a fixed
third-person camera in front of the actor, far enough to keep the whole motion in frame. `orbit`:
the same framing, slowly circling the actor (one turn per `orbit_period_s`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vimo.errors import MotionError, VimoError

CAMERAS = ("reactor-view", "front", "orbit")
UP = np.array([0.0, 1.0, 0.0])
#: the eyes sit in front of and slightly above the SMPL head joint
EYE_FORWARD_M = 0.09
EYE_UP_M = 0.04
#: vertical field of view (degrees): a human-like view for reactor-view, a portrait lens otherwise
REACTOR_YFOV_DEG = 55.0
THIRD_PERSON_YFOV_DEG = 40.0
GAZE_SMOOTH_S = 0.3
#: people looking at someone in front of them hold their gaze about this far below the horizon
GAZE_DROP_DEG = 12.0
EYE_SMOOTH_S = 0.1


@dataclass
class CameraPath:
    """poses: (T, 4, 4) float64 camera-to-world (OpenGL); yfov: vertical field of view, radians."""

    kind: str
    poses: np.ndarray
    yfov: float


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 with edge padding; x (T, ...)."""
    if sigma_frames <= 0 or len(x) < 2:
        return x.copy()
    half = int(np.ceil(3 * sigma_frames))
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma_frames) ** 2)
    k /= k.sum()
    pad = np.concatenate([np.repeat(x[:1], half, 0), x, np.repeat(x[-1:], half, 0)])
    out = np.zeros_like(x, dtype=np.float64)
    for i, w in enumerate(k):
        out += w * pad[i:i + len(x)]
    return out


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(T, 4, 4) camera-to-world poses at `eye` looking at `target` ((T, 3) each), +Y kept up."""
    back = _unit(eye - target)  # the camera's +Z points away from what it looks at
    right = np.cross(UP, back)
    degenerate = np.linalg.norm(right, axis=-1) < 1e-6
    right[degenerate] = np.array([1.0, 0.0, 0.0])
    right = _unit(right)
    up = np.cross(back, right)
    poses = np.tile(np.eye(4), (len(eye), 1, 1))
    poses[:, :3, 0], poses[:, :3, 1], poses[:, :3, 2], poses[:, :3, 3] = right, up, back, eye
    return poses


def body_forward(joints: np.ndarray) -> np.ndarray:
    """(T, 3) horizontal unit facing of a person from hips and shoulders (HumanML3D: left = +X, forward = +Z)."""
    left = (joints[:, 1] - joints[:, 2]) + (joints[:, 16] - joints[:, 17])
    fwd = np.cross(left, UP)
    fwd[:, 1] = 0.0
    return _unit(fwd)


def gaze(reactor: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Eye positions and unit gaze directions of the reactor, (T, 3) each, smoothed.

    Yaw comes from the upper body, pitch from how far the head leans forward of the neck
    (head joint 15 over neck joint 12) beyond its median lean over the clip (a neutral carriage),
    on top of a resting gaze GAZE_DROP_DEG below the horizon.
    """
    fwd = body_forward(reactor)
    neck_head = reactor[:, 15] - reactor[:, 12]
    lean = np.arctan2(np.sum(neck_head * fwd, axis=-1), neck_head[:, 1])
    pitch = -(lean - np.median(lean)) - np.radians(GAZE_DROP_DEG)  # head forward -> looking down
    direction = fwd * np.cos(pitch)[:, None] + UP * np.sin(pitch)[:, None]
    direction = _unit(smooth(direction, GAZE_SMOOTH_S * fps))
    eye = reactor[:, 15] + EYE_FORWARD_M * fwd + EYE_UP_M * UP
    return smooth(eye, EYE_SMOOTH_S * fps), direction


def _third_person_frame(actor: np.ndarray, yfov: float, aspect: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Target point, mean facing and camera distance that keep the actor's whole motion in frame."""
    pts = actor.reshape(-1, 3)
    lo, hi = pts.min(0), pts.max(0)
    target = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2])
    fwd = _unit(body_forward(actor).mean(0))
    if not np.isfinite(fwd).all() or np.linalg.norm(fwd) < 0.5:
        fwd = np.array([0.0, 0.0, 1.0])
    horizontal = np.linalg.norm((pts - target)[:, [0, 2]], axis=-1).max() + 0.15
    half_h = (hi[1] - lo[1]) / 2 + 0.25
    hfov = 2 * np.arctan(np.tan(yfov / 2) * aspect)
    dist = max(half_h / np.tan(yfov / 2), horizontal / np.tan(hfov / 2)) + horizontal
    return target, fwd, float(dist)


def camera_path(kind: str, actor: np.ndarray, reactor: np.ndarray | None, *, fps: float = 20.0,
                aspect: float = 16 / 9, orbit_period_s: float = 20.0) -> CameraPath:
    """The camera of every frame for `kind` (one of CAMERAS); actor/reactor (T, 22, 3), metres, Y up."""
    if kind not in CAMERAS:
        raise VimoError(f"unknown camera {kind!r}", fix=f"use one of: {', '.join(CAMERAS)}")
    actor = np.asarray(actor, dtype=np.float64)
    t = len(actor)
    if kind == "reactor-view":
        if reactor is None:
            raise MotionError("the reactor-view camera needs the reactor's joints; this clip has none",
                              fix="render it with --camera front or --camera orbit")
        eye, direction = gaze(np.asarray(reactor, dtype=np.float64), fps)
        return CameraPath(kind, look_at(eye, eye + direction), np.radians(REACTOR_YFOV_DEG))
    yfov = np.radians(THIRD_PERSON_YFOV_DEG)
    target, fwd, dist = _third_person_frame(actor, yfov, aspect)
    height = 0.35  # the camera looks slightly down at the body's centre
    if kind == "front":
        angles = np.zeros(t)
    else:
        angles = 2 * np.pi * np.arange(t) / (fps * orbit_period_s)
    c, s = np.cos(angles), np.sin(angles)
    # rotate the facing about +Y by the orbit angle
    offset = np.stack([c * fwd[0] + s * fwd[2], np.zeros(t), -s * fwd[0] + c * fwd[2]], axis=-1)
    eye = target + dist * offset + np.array([0.0, height, 0.0])
    return CameraPath(kind, look_at(eye, np.repeat(target[None], t, 0)), float(yfov))

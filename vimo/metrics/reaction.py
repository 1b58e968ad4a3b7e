"""Reaction measures: what FID cannot say about a reaction, from the two persons' joints.

Inputs are (T, 22, 3) joint tracks (HumanML3D / SMPL order, metres, Y up) of the reactor and of the actor in
one frame, the reactor's canonical frame of a clip (the release's `joints/` and `actor_joints/`), at `fps`
frames per second; for a rendered video, its camera track (`vimo-camera-track-v1`, same frame).

Bodies as capsules
    Each of the 21 bones (parent joint -> child joint) is a capsule: the points within radius r of the
    segment. Radii (metres, `CAPSULE_RADII`, keyed by the bone's child joint) approximate the half-thickness of
    a mean adult SMPL body: pelvis-hip 0.09, thigh 0.08, shin 0.055, foot 0.045, spine segments 0.11 / 0.12 /
    0.12, spine3-neck 0.07, neck-head 0.10 (its end cap is the head), collar 0.06, collar-shoulder 0.06, upper
    arm 0.045, forearm 0.04. They are a coarse stand-in for a mesh: overlaps under ~2 cm are within their error.

Penetration (per frame t, over reactor capsules i and actor capsules j)
    d_ij(t)      closest distance between the two segments
    depth(t)     = max(0, max_ij (r_i + r_j - d_ij(t)))                      metres
    volume(t)    = |{x : x in a reactor capsule and x in an actor capsule}|   m^3, counted on a voxel grid of
                   edge `voxel` (default 1 cm; coarser when the overlap's bounding box would need more than
                   MAX_VOXELS = 20000 points) over that box, only on frames with depth > 0
    penetrating frames: depth(t) > PENETRATION_TOL (1 cm); their share of the frames.

Bodies as meshes (when body-model files are given; vimo.metrics.meshes)
    The two SMPL-family meshes of a frame: depth(t) = the deepest vertex of either body inside the other
    (generalised winding number > 1/2), as its distance to the other's surface; volume(t) = grid points
    (2 cm) inside both; the same shares and means as the capsules' (`mesh_*` keys, MESH_KEYS). Meshes
    posed from joints (vimo card --body-models) follow the joints' bone directions with the model's own
    bone lengths.

Contact and proximity
    clearance(t) = min_ij (d_ij(t) - r_i - r_j)   the gap between the two bodies' surfaces (negative: overlap)
    contact frames: clearance(t) < CONTACT_M (2 cm); the clip's minimum distance min_t clearance(t).
    The distribution of clearance over all frames of a set is a histogram on `PROXIMITY_EDGES` (5 cm bins from
    -0.2 m to 3 m, values clipped into the outer bins); two sets are compared by the earth mover's distance
    between their normalised histograms, W1 = sum_k |F_a(k) - F_b(k)| * width_k (F: cumulative shares), in
    metres: two sets whose clearances differ by a constant shift of c metres (a multiple of the bin width) are
    c apart.

Timing
    speed(t) = mean over the 22 joints of |p(t+1) - p(t)| * fps (m/s), t = 0..T-2, smoothed by a centred 3-frame
    moving average (edges: the mean of the frames present). With the peak frame m = argmax speed and the
    baseline b = min(min speed over frames 0..m, ONSET_REST (0.02 m/s: at rest)), a person whose
    peak - b < ONSET_MIN_RISE (0.05 m/s) has no onset;
    otherwise the onset is the first frame of the run of frames with speed(t) >= b + ONSET_FRACTION * (peak - b)
    that holds the peak (fraction 0.5: a step start from rest is found at its first moving frame).
    onset lag = (onset(reactor) - onset(actor)) / fps seconds (negative: the reactor moves before the actor).
    Two sets of lags are compared by the earth mover's distance between their empirical distributions (seconds).

Viewpoint
    head direction h(t) = unit((head - neck) x (right_shoulder - left_shoulder)) (joints 15, 12, 17, 16): +Z for
    a canonical upright pose, tilting down when the head leans forward.
    facing angle(t) = angle between h(t) and the direction from the reactor's head to the actor's chest
    (spine3, joint 9), degrees; facing frames: angle < FACING_DEG (60 degrees).
    For a rendered video with camera track C(t) (4x4 camera-to-world, OpenGL: the camera looks along -Z),
    resampled to the motion's frames by the nearest video frame in time:
      camera angle(t)     = angle between h(t) and the camera's viewing direction (degrees)
      camera speed gap    = mean_t |v_head(t) - v_cam(t)| (m/s; v: finite-difference velocity of the head joint
                            and of the camera centre): 0 when the camera moves with the head, the head's speed
                            for a fixed camera
      camera turn gap     = mean_t |w_head(t) - w_cam(t)| (degrees/s; w: rate of change of the heading, the
                            yaw of the horizontal part of h and of the viewing direction, wrapped to +-180)

`ReactionMeasures` accumulates clips (`update`) and summarises them (`compute`), optionally against the
real pairs' `ReactionReference`; `clip_measures` is the functional twin for one clip.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from vimo.errors import VimoError
from vimo.motion.skeleton import N_JOINTS, PARENTS

#: capsule radius (metres) of the bone ending at each joint (index = child joint; joint 0 has no bone)
CAPSULE_RADII = np.array([
    0.0,                     # 0 pelvis (root, no bone)
    0.09, 0.09,              # 1, 2 pelvis -> hips
    0.11,                    # 3 pelvis -> spine1
    0.08, 0.08,              # 4, 5 thighs
    0.12,                    # 6 spine1 -> spine2
    0.055, 0.055,            # 7, 8 shins
    0.12,                    # 9 spine2 -> spine3
    0.045, 0.045,            # 10, 11 feet
    0.07,                    # 12 spine3 -> neck
    0.06, 0.06,              # 13, 14 collars
    0.10,                    # 15 neck -> head
    0.06, 0.06,              # 16, 17 collar -> shoulder
    0.045, 0.045,            # 18, 19 upper arms
    0.04, 0.04,              # 20, 21 forearms
])
#: the 21 bones as (parent, child) index arrays
BONE_PARENTS = PARENTS[1:].astype(np.int64)
BONE_CHILDREN = np.arange(1, N_JOINTS, dtype=np.int64)
BONE_RADII = CAPSULE_RADII[1:]

PENETRATION_TOL = 0.01
CONTACT_M = 0.02
PROXIMITY_EDGES = np.round(np.arange(-0.2, 3.0 + 1e-9, 0.05), 6)
ONSET_FRACTION = 0.5
ONSET_MIN_RISE = 0.05
ONSET_REST = 0.02
FACING_DEG = 60.0
DEFAULT_VOXEL = 0.01
MAX_VOXELS = 20000
HEAD, NECK, CHEST, L_SHOULDER, R_SHOULDER = 15, 12, 9, 16, 17
CAMERA_FORMAT = "vimo-camera-track-v1"

#: summary keys -> (higher is better; None: closest to the real pairs is best), unit
SUMMARY_KEYS: dict[str, tuple[bool | None, str]] = {
    "penetration_depth": (False, "m"), "penetration_volume": (False, "cm^3"), "penetration_frames": (False, "share"),
    "contact_frames": (None, "share"), "min_distance": (None, "m"), "onset_lag": (None, "s"),
    "early_reactions": (False, "share"), "facing_angle": (False, "deg"), "facing_frames": (True, "share"),
}


class ReactionMeasureError(VimoError):
    """Joint tracks or a camera track a reaction measure cannot use."""


def _joints(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1:] != (N_JOINTS, 3):
        raise ReactionMeasureError(f"{name} joints have shape {arr.shape}, expected (T, 22, 3)",
                                   fix="pass HumanML3D joints (recover them from the 263-d features)")
    if arr.shape[0] < 2:
        raise ReactionMeasureError(f"{name} joints have {arr.shape[0]} frame(s)", fix="pass at least 2 frames")
    if not np.isfinite(arr).all():
        raise ReactionMeasureError(f"{name} joints hold NaN or inf", fix="check the motion")
    return arr


def _pair(reactor: Any, actor: Any) -> tuple[np.ndarray, np.ndarray]:
    r, a = _joints(reactor, "reactor"), _joints(actor, "actor")
    if r.shape[0] != a.shape[0]:
        n = min(r.shape[0], a.shape[0])
        r, a = r[:n], a[:n]
    return r, a


# ----------------------------------------------------------------------------------- geometry
def segment_distances(p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
    """Closest distance between segments [p0, p1] and [q0, q1] (broadcast arrays of points (..., 3))."""
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    a, e = (d1 * d1).sum(-1), (d2 * d2).sum(-1)
    b, c, f = (d1 * d2).sum(-1), (d1 * r).sum(-1), (d2 * r).sum(-1)
    eps = 1e-12
    a_ok, e_ok = a > eps, e > eps
    safe_a, safe_e = np.where(a_ok, a, 1.0), np.where(e_ok, e, 1.0)
    denom = a * e - b * b
    parallel = denom <= eps * np.maximum(a * e, eps)
    s = np.clip(np.where(parallel, 0.0, (b * f - c * e) / np.where(parallel, 1.0, denom)), 0.0, 1.0)
    t = (b * s + f) / safe_e
    # t outside [0, 1]: clamp it and take the s closest to the clamped end
    s = np.where(t < 0, np.clip(-c / safe_a, 0, 1), np.where(t > 1, np.clip((b - c) / safe_a, 0, 1), s))
    t = np.clip(t, 0.0, 1.0)
    # degenerate segments (points): a point against a segment, or two points
    s = np.where(~a_ok, 0.0, np.where(~e_ok, np.clip(-c / safe_a, 0, 1), s))
    t = np.where(~e_ok, 0.0, np.where(~a_ok, np.clip(f / safe_e, 0, 1), t))
    diff = p0 + s[..., None] * d1 - q0 - t[..., None] * d2
    return np.linalg.norm(diff, axis=-1)


def point_segment_distances(x: np.ndarray, p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """Distance of points x (N, 3) to segments (K, 3)-(K, 3): (N, K)."""
    d = p1 - p0
    dd = np.maximum((d * d).sum(-1), 1e-12)
    rel = x[:, None, :] - p0[None]
    t = np.clip((rel * d[None]).sum(-1) / dd, 0.0, 1.0)
    return np.linalg.norm(rel - t[..., None] * d[None], axis=-1)


def body_capsules(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, 22, 3) joints -> segment starts (T, 21, 3), ends (T, 21, 3), radii (21,)."""
    return joints[:, BONE_PARENTS], joints[:, BONE_CHILDREN], BONE_RADII


def capsule_gaps(a0, a1, ra, b0, b1, rb) -> np.ndarray:
    """Surface gaps d_ij - r_i - r_j between capsules a (T, I, 3)x2, radii (I,) and b (T, J, 3)x2, radii (J,):
    (T, I, J), negative where two capsules overlap."""
    d = segment_distances(a0[:, :, None], a1[:, :, None], b0[:, None], b1[:, None])
    return d - np.asarray(ra)[None, :, None] - np.asarray(rb)[None, None, :]


def voxel_grid(lo: np.ndarray, hi: np.ndarray, voxel: float, max_points: int) -> tuple[np.ndarray, float]:
    """Centres (N, 3) of the cubes of edge `voxel` filling the box [lo, hi], and the edge used: coarser when
    the box would need more than `max_points` cubes. N = 0 for an empty box."""
    voxel = max(voxel, float(np.prod(np.maximum(hi - lo, 0.0)) / max_points) ** (1 / 3))
    axes = [np.arange(low + voxel / 2, high, voxel) for low, high in zip(lo, hi)]
    if any(ax.size == 0 for ax in axes):
        return np.zeros((0, 3)), voxel
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3), voxel


def overlap_volume(a0, a1, ra, b0, b1, rb, *, voxel: float = DEFAULT_VOXEL) -> float:
    """Volume (m^3) of the intersection of the union of capsules a (I, 3)x2, radii (I,) with the union of
    capsules b (J, 3)x2 (one frame), counted on a voxel grid of edge `voxel` over the overlap's bounding box."""
    ra, rb = np.asarray(ra, np.float64), np.asarray(rb, np.float64)
    gaps = capsule_gaps(a0[None], a1[None], ra, b0[None], b1[None], rb)[0]
    ii, jj = np.nonzero(gaps < 0)
    if ii.size == 0:
        return 0.0
    lo_a = np.minimum(a0[ii], a1[ii]) - ra[ii, None]
    hi_a = np.maximum(a0[ii], a1[ii]) + ra[ii, None]
    lo_b = np.minimum(b0[jj], b1[jj]) - rb[jj, None]
    hi_b = np.maximum(b0[jj], b1[jj]) + rb[jj, None]
    # a deep overlap (a whole body inside the other) gets a coarser grid: at most MAX_VOXELS points per frame
    grid, voxel = voxel_grid(np.maximum(lo_a, lo_b).min(0), np.minimum(hi_a, hi_b).max(0), voxel, MAX_VOXELS)
    if grid.size == 0:
        return 0.0
    used_a, used_b = np.unique(ii), np.unique(jj)
    inside = np.zeros(grid.shape[0], bool)
    for s in range(0, grid.shape[0], 65536):
        g = grid[s:s + 65536]
        in_a = (point_segment_distances(g, a0[used_a], a1[used_a]) <= ra[used_a]).any(1)
        sel = np.nonzero(in_a)[0]
        if sel.size:
            in_b = (point_segment_distances(g[sel], b0[used_b], b1[used_b]) <= rb[used_b]).any(1)
            inside[s + sel[in_b]] = True
    return float(inside.sum()) * voxel ** 3


# ----------------------------------------------------------------------------------- measures per clip
@dataclass
class Penetration:
    depth: np.ndarray
    """(T,) metres"""
    volume: np.ndarray
    """(T,) m^3"""

    @property
    def frames(self) -> float:
        """Share of frames whose depth exceeds PENETRATION_TOL."""
        return float((self.depth > PENETRATION_TOL).mean())


def penetration(reactor, actor, *, voxel: float = DEFAULT_VOXEL, volume: bool = True) -> Penetration:
    """Per-frame overlap depth (m) and volume (m^3) of the two bodies' capsules (see the module docstring)."""
    r, a = _pair(reactor, actor)
    r0, r1, rr = body_capsules(r)
    a0, a1, ar = body_capsules(a)
    gaps = capsule_gaps(r0, r1, rr, a0, a1, ar)
    depth = np.maximum(0.0, -gaps.reshape(gaps.shape[0], -1).min(1))
    vol = np.zeros_like(depth)
    if volume:
        for t in np.nonzero(depth > 0)[0]:
            vol[t] = overlap_volume(r0[t], r1[t], rr, a0[t], a1[t], ar, voxel=voxel)
    return Penetration(depth, vol)


def clearance(reactor, actor) -> np.ndarray:
    """(T,) gap between the two bodies' capsule surfaces, metres (negative: overlap)."""
    r, a = _pair(reactor, actor)
    gaps = capsule_gaps(*body_capsules(r), *body_capsules(a))
    return gaps.reshape(gaps.shape[0], -1).min(1)


def proximity_histogram(clearances: Sequence[float] | np.ndarray, edges: np.ndarray = PROXIMITY_EDGES) -> np.ndarray:
    """Counts of clearances (metres) per bin of `edges`, values outside clipped into the outer bins."""
    x = np.clip(np.asarray(clearances, np.float64).ravel(), edges[0], edges[-1])
    counts, _ = np.histogram(x, bins=edges)
    return counts.astype(np.float64)


def histogram_distance(a: np.ndarray, b: np.ndarray, edges: np.ndarray = PROXIMITY_EDGES) -> float:
    """Earth mover's distance between two histograms on the same `edges` (normalised first), in their unit."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.sum() <= 0 or b.sum() <= 0:
        raise ReactionMeasureError("a histogram to compare is empty", fix="measure at least one frame")
    fa, fb = np.cumsum(a / a.sum()), np.cumsum(b / b.sum())
    return float((np.abs(fa - fb)[:-1] * np.diff(edges)[1:]).sum())


def wasserstein_1d(a: Sequence[float], b: Sequence[float]) -> float:
    """Earth mover's distance between the empirical distributions of two samples (their unit)."""
    a = np.sort(np.asarray(a, np.float64).ravel())
    b = np.sort(np.asarray(b, np.float64).ravel())
    if a.size == 0 or b.size == 0:
        raise ReactionMeasureError("a sample to compare is empty", fix="measure at least one clip")
    values = np.concatenate([a, b])
    values.sort()
    fa = np.searchsorted(a, values[:-1], side="right") / a.size
    fb = np.searchsorted(b, values[:-1], side="right") / b.size
    return float((np.abs(fa - fb) * np.diff(values)).sum())


def motion_speed(joints, fps: float) -> np.ndarray:
    """(T-1,) mean joint speed (m/s), smoothed by a centred 3-frame moving average."""
    j = _joints(joints, "person")
    speed = np.linalg.norm(np.diff(j, axis=0), axis=-1).mean(-1) * fps
    padded = np.pad(speed, 1, constant_values=np.nan)
    window = np.stack([padded[:-2], padded[1:-1], padded[2:]])
    return np.nanmean(window, axis=0)


def onset_frame(joints, fps: float) -> int | None:
    """The frame a person starts to move (rule in the module docstring); None for a person who does not."""
    s = motion_speed(joints, fps)
    m = int(np.argmax(s))
    base = min(float(s[:m + 1].min()), ONSET_REST)
    if float(s[m]) - base < ONSET_MIN_RISE:
        return None
    threshold = base + ONSET_FRACTION * (float(s[m]) - base)
    t = m
    while t > 0 and s[t - 1] >= threshold:
        t -= 1
    return t


def onset_lag(reactor, actor, fps: float) -> float | None:
    """Seconds from the actor's onset to the reactor's (negative: the reactor moves first); None when either
    person has no onset."""
    r, a = _pair(reactor, actor)
    onset_r, onset_a = onset_frame(r, fps), onset_frame(a, fps)
    if onset_r is None or onset_a is None:
        return None
    return (onset_r - onset_a) / float(fps)


def head_directions(joints) -> np.ndarray:
    """(T, 3) unit head direction: (head - neck) x (right shoulder - left shoulder)."""
    j = _joints(joints, "reactor")
    h = np.cross(j[:, HEAD] - j[:, NECK], j[:, R_SHOULDER] - j[:, L_SHOULDER])
    n = np.linalg.norm(h, axis=-1, keepdims=True)
    return h / np.where(n > 1e-9, n, 1.0)


def _angles_deg(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    nu, nv = np.linalg.norm(u, axis=-1), np.linalg.norm(v, axis=-1)
    cos = (u * v).sum(-1) / np.maximum(nu * nv, 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def facing_angles(reactor, actor) -> np.ndarray:
    """(T,) degrees between the reactor's head direction and the direction from its head to the actor's chest."""
    r, a = _pair(reactor, actor)
    return _angles_deg(head_directions(r), a[:, CHEST] - r[:, HEAD])


# ----------------------------------------------------------------------------------- camera tracks
@dataclass
class CameraTrack:
    """A rendered video's camera: (F, 4, 4) camera-to-world matrices (OpenGL), clip frame, at `fps`."""

    camera_to_world: np.ndarray
    fps: float
    width: int = 0
    height: int = 0
    yfov_rad: float = 0.0

    @property
    def centres(self) -> np.ndarray:
        return self.camera_to_world[:, :3, 3]

    @property
    def view_directions(self) -> np.ndarray:
        """(F, 3) unit viewing directions (-Z axis of each camera)."""
        d = -self.camera_to_world[:, :3, 2]
        return d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12)

    def intrinsics(self) -> np.ndarray:
        """3x3 pinhole matrix (square pixels, principal point at the centre)."""
        f = self.height / (2.0 * math.tan(self.yfov_rad / 2.0))
        return np.array([[f, 0.0, self.width / 2.0], [0.0, f, self.height / 2.0], [0.0, 0.0, 1.0]])

    def at(self, n_frames: int, fps: float) -> "CameraTrack":
        """The track resampled to `n_frames` motion frames at `fps`: the nearest video frame in time."""
        times = np.arange(n_frames) / float(fps)
        idx = np.clip(np.rint(times * self.fps).astype(np.int64), 0, self.camera_to_world.shape[0] - 1)
        return CameraTrack(self.camera_to_world[idx], float(fps), self.width, self.height, self.yfov_rad)


def camera_track(data: Mapping[str, Any], *, path: Any = None) -> CameraTrack:
    """A `vimo-camera-track-v1` document (the parsed sidecar / release `cameras/<video_id>.json`), checked."""
    fix = "re-render the video (vimo render writes the camera track next to the mp4)"
    if not isinstance(data, Mapping) or data.get("format") != CAMERA_FORMAT:
        raise ReactionMeasureError(f"is not a {CAMERA_FORMAT} camera track", path=path, fix=fix)
    try:
        m = np.asarray(data["camera_to_world"], np.float64)
        fps = float(data["fps"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ReactionMeasureError(f"camera track lacks or garbles {exc}", path=path, fix=fix) from None
    if m.ndim != 3 or m.shape[1:] != (4, 4) or m.shape[0] < 1 or not np.isfinite(m).all() or fps <= 0:
        raise ReactionMeasureError(f"camera_to_world has shape {m.shape} (expected (F, 4, 4), finite) or fps {fps}",
                                   path=path, fix=fix)
    return CameraTrack(m, fps, int(data.get("width", 0)), int(data.get("height", 0)),
                       float(data.get("yfov_rad", 0.0)))


def _yaw_rate_deg(directions: np.ndarray, fps: float) -> np.ndarray:
    yaw = np.degrees(np.arctan2(directions[:, 0], directions[:, 2]))
    d = np.diff(yaw)
    return ((d + 180.0) % 360.0 - 180.0) * fps


def camera_consistency(reactor, track: CameraTrack, fps: float) -> dict[str, float]:
    """How the reactor's head moves with the camera of its video (see the module docstring): `camera_angle`
    (deg), `camera_speed_gap` (m/s), `camera_turn_gap` (deg/s)."""
    r = _joints(reactor, "reactor")
    cam = track.at(r.shape[0], fps)
    heads = head_directions(r)
    v_head = np.diff(r[:, HEAD], axis=0) * fps
    v_cam = np.diff(cam.centres, axis=0) * fps
    turn_gap = np.abs(_yaw_rate_deg(heads, fps) - _yaw_rate_deg(cam.view_directions, fps))
    return {"camera_angle": float(_angles_deg(heads, cam.view_directions).mean()),
            "camera_speed_gap": float(np.linalg.norm(v_head - v_cam, axis=-1).mean()),
            "camera_turn_gap": float(turn_gap.mean())}


# ----------------------------------------------------------------------------------- one clip, many clips
@dataclass
class ClipMeasures:
    """The measures of one clip (reactor + actor, optional camera)."""

    penetration_depth: float
    """mean per-frame depth (m)"""
    max_penetration_depth: float
    penetration_volume: float
    """mean per-frame volume (cm^3)"""
    penetration_frames: float
    contact_frames: float
    min_distance: float
    onset_lag: float | None
    facing_angle: float
    facing_frames: float
    clearances: np.ndarray = field(repr=False)
    camera: dict[str, float] | None = None
    mesh: dict[str, float] | None = None
    """with body meshes: MESH_KEYS (the mesh twins of the capsule penetration measures)"""

    def as_dict(self) -> dict[str, Any]:
        out = {k: (None if v is None else round(float(v), 6)) for k, v in self.__dict__.items()
               if k not in ("clearances", "camera", "mesh")}
        for extra in (self.camera, self.mesh):
            if extra is not None:
                out.update({k: round(v, 6) for k, v in extra.items()})
        return out


#: the mesh penetration measures of a clip (with body meshes): mean and max per-frame depth (m), mean
#: volume (cm^3), share of frames deeper than PENETRATION_TOL
MESH_KEYS = ("mesh_penetration_depth", "mesh_max_penetration_depth", "mesh_penetration_volume",
             "mesh_penetration_frames")


def mesh_measures(meshes: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]], *,
                  volume: bool = True) -> dict[str, float]:
    """MESH_KEYS of ((reactor vertices (T, V, 3), faces), (actor vertices, faces)) (vimo.metrics.meshes)."""
    from vimo.metrics.meshes import mesh_penetration

    (rv, rf), (av, af) = meshes
    pen = mesh_penetration(rv, rf, av, af, volume=volume)
    return {"mesh_penetration_depth": float(pen.depth.mean()), "mesh_max_penetration_depth": float(pen.depth.max()),
            "mesh_penetration_volume": float(pen.volume.mean() * 1e6),
            "mesh_penetration_frames": float((pen.depth > PENETRATION_TOL).mean())}


def clip_measures(reactor, actor, fps: float, *, camera: CameraTrack | None = None, voxel: float = DEFAULT_VOXEL,
                  volume: bool = True, meshes: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
                  | None = None) -> ClipMeasures:
    """All measures of one clip: (T, 22, 3) reactor and actor joints in one frame, metres, Y up; with
    `meshes` ((reactor vertices (T, V, 3), faces), (actor vertices, faces)), the mesh penetration too."""
    r, a = _pair(reactor, actor)
    if meshes is not None and not (len(meshes[0][0]) == len(meshes[1][0]) == len(r)):
        raise ReactionMeasureError(f"meshes of {len(meshes[0][0])} and {len(meshes[1][0])} frames for a clip of "
                                   f"{len(r)} frames", fix="pose the bodies from the clip's own joints")
    pen = penetration(r, a, voxel=voxel, volume=volume)
    gap = clearance(r, a)
    angles = facing_angles(r, a)
    return ClipMeasures(
        penetration_depth=float(pen.depth.mean()), max_penetration_depth=float(pen.depth.max()),
        penetration_volume=float(pen.volume.mean() * 1e6), penetration_frames=pen.frames,
        contact_frames=float((gap < CONTACT_M).mean()), min_distance=float(gap.min()),
        onset_lag=onset_lag(r, a, fps), facing_angle=float(angles.mean()),
        facing_frames=float((angles < FACING_DEG).mean()), clearances=gap,
        camera=None if camera is None else camera_consistency(r, camera, fps),
        mesh=None if meshes is None else mesh_measures(meshes, volume=volume))


@dataclass
class ReactionReference:
    """The real pairs' distributions a generated set is compared with: per-frame clearances and onset lags."""

    proximity: np.ndarray
    """histogram counts on PROXIMITY_EDGES"""
    lags: list[float]

    def as_dict(self) -> dict[str, Any]:
        return {"proximity_edges": PROXIMITY_EDGES.tolist(), "proximity": self.proximity.tolist(), "lags": self.lags}

    @classmethod
    def from_clips(cls, clips: Sequence[ClipMeasures]) -> "ReactionReference":
        if not clips:
            raise ReactionMeasureError("no real clip to build a reference from", fix="measure the real pairs first")
        return cls(proximity_histogram(np.concatenate([c.clearances for c in clips])),
                   [c.onset_lag for c in clips if c.onset_lag is not None])


def summarise(clips: Sequence[ClipMeasures], reference: ReactionReference | None = None) -> dict[str, float | None]:
    """Means over clips (frame shares and per-frame means weigh clips equally); with a `reference`, the
    proximity and onset-lag distances to it (`proximity_w1`, m; `onset_lag_w1`, s)."""
    if not clips:
        raise ReactionMeasureError("no clip measured", fix="call update() before compute()")
    lags = [c.onset_lag for c in clips if c.onset_lag is not None]
    out: dict[str, float | None] = {
        k: float(np.mean([getattr(c, k) for c in clips])) for k in SUMMARY_KEYS if k not in ("onset_lag",
                                                                                           "early_reactions")}
    out["onset_lag"] = float(np.mean(lags)) if lags else None
    out["early_reactions"] = float(np.mean([lag < 0 for lag in lags])) if lags else None
    cams = [c.camera for c in clips if c.camera is not None]
    for k in ("camera_angle", "camera_speed_gap", "camera_turn_gap"):
        if cams:
            out[k] = float(np.mean([c[k] for c in cams]))
    meshed = [c.mesh for c in clips if c.mesh is not None]
    if meshed:
        out.update({k: float(np.mean([m[k] for m in meshed])) for k in MESH_KEYS if k != "mesh_max_penetration_depth"})
        out["mesh_pairs"] = len(meshed)
    if reference is not None:
        out["proximity_w1"] = histogram_distance(proximity_histogram(np.concatenate([c.clearances for c in clips])),
                                                 reference.proximity)
        out["onset_lag_w1"] = wasserstein_1d(lags, reference.lags) if lags and reference.lags else None
    return out


class ReactionMeasures:
    """Stateful twin of `clip_measures` + `summarise`: `update(reactor, actor)` per clip, `compute()` -> the
    summary (against `reference` when given), `reset()`. `higher_is_better` per summary key (None: closest to
    the real pairs is best)."""

    higher_is_better = {k: v[0] for k, v in SUMMARY_KEYS.items()} | {
        "proximity_w1": False, "onset_lag_w1": False, "camera_angle": False, "camera_speed_gap": False,
        "camera_turn_gap": False}

    def __init__(self, fps: float, reference: ReactionReference | None = None, *, voxel: float = DEFAULT_VOXEL,
                 volume: bool = True) -> None:
        self.fps, self.reference, self.voxel, self.volume = float(fps), reference, voxel, volume
        self.reset()

    def reset(self) -> None:
        self.clips: list[ClipMeasures] = []

    def update(self, reactor, actor, camera: CameraTrack | None = None) -> ClipMeasures:
        m = clip_measures(reactor, actor, self.fps, camera=camera, voxel=self.voxel, volume=self.volume)
        self.clips.append(m)
        return m

    def compute(self) -> dict[str, float | None]:
        return summarise(self.clips, self.reference)


def outliers(clips: Mapping[str, ClipMeasures]) -> dict[str, list[str]]:
    """Clip ids worth inspecting: `penetrating` (a frame deeper than 5 cm: the meshes' depth where the clip has
    meshes, else the capsules'), `never_facing` (no facing frame), `reacting_early` (onset lag < 0)."""
    def deepest(c: ClipMeasures) -> float:
        return c.max_penetration_depth if c.mesh is None else c.mesh["mesh_max_penetration_depth"]

    return {
        "penetrating": sorted(k for k, c in clips.items() if deepest(c) > 0.05),
        "never_facing": sorted(k for k, c in clips.items() if c.facing_frames == 0.0),
        "reacting_early": sorted(k for k, c in clips.items() if c.onset_lag is not None and c.onset_lag < 0),
    }

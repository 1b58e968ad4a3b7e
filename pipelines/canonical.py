"""Pure maths between a source's world and a ViMo clip: up axis, units, the reactor's canonical
frame, segmentation into 40-200 frame clips, interaction windows, and the per-clip QA figures.

Every function computes; none reads or writes files. Joints are (T, 22, 3), SMPL joint order.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from vimo.errors import MotionError
from vimo.motion import recover_from_ric, uniform_skeleton
from vimo.motion.skeleton import FACE_JOINTS, FOOT_LEFT, FOOT_RIGHT, PARENTS

#: an up estimate within this angle of a signed coordinate axis is snapped to it exactly (no QA flag)
SNAP_DEG = 5.0
#: in a world declared axis-aligned (gravity-aligned), a floor-plane estimate farther than this from every
#: axis means the declaration does not hold for the sequence: MotionError instead of a snap. Gravity
#: alignment of SLAM / COLMAP worlds is good to a degree or two and the floor fit to about a degree, so
#: 15 degrees is far outside both, yet well inside the 54.7 degrees at which a direction is farthest from
#: every axis (a world tilted 20 degrees off every axis is refused)
FLOOR_AXIS_LIMIT_DEG = 15.0
#: the same limit when the floor is not usable and the mean pelvis->neck direction stands in: bodies
#: lean with the motion (runners 10-25 degrees), so only a direction this far from every axis is refused
BODY_AXIS_LIMIT_DEG = 35.0
#: stance feet are looked for per person in windows of this many frames (1 s at 20 fps: longer
#: than the flight of a jump, short enough that a slightly wrong up direction changes little)
STANCE_WINDOW_FRAMES = 20
#: a toe moving less than this per frame (half its displacement between the neighbouring frames) is
#: still: 2.5 cm is 0.5 m/s at 20 fps, while a swinging foot moves 3-6 m/s
STANCE_STEP_M = 0.025
#: a still toe counts as standing when within this height of its window's (second) lowest still toe
STANCE_TOLERANCE_M = 0.04
#: floor points farther than this from the fitted plane are dropped and the plane refitted
FLOOR_TRIM_M = 0.03
#: the floor normal is refused when it is farther than this from the mean body direction (which leans
#: with running, up to ~30 degrees)
FLOOR_BODY_AGREEMENT_DEG = 40.0
#: the floor normal is refused when its estimated tilt error (standard error) is above this
FLOOR_TILT_SE_DEG = 0.5
#: a source whose up axis is documented is quarantined when the bodies disagree by more than this
DECLARED_UP_TOLERANCE_DEG = 10.0
#: plausible median pelvis->head distance of a person, metres
BODY_SIZE_RANGE_M = (0.25, 1.5)
#: fastest plausible root speed, m/s (sprinting is ~10)
MAX_ROOT_SPEED_MPS = 15.0
#: a foot joint lower than this above the person's lowest foot point counts as in contact
CONTACT_HEIGHT_M = 0.05

_PELVIS, _NECK, _HEAD = 0, 12, 15
_FEET = FOOT_LEFT + FOOT_RIGHT
_TOES = (FOOT_LEFT[1], FOOT_RIGHT[1])
_AXES = {"+x": (1, 0, 0), "-x": (-1, 0, 0), "+y": (0, 1, 0), "-y": (0, -1, 0), "+z": (0, 0, 1), "-z": (0, 0, -1)}


# ----------------------------------------------------------------------------- up axis

@dataclass(frozen=True)
class UpEstimate:
    """The world's up direction as seen from the bodies, and the rotation that makes it +Y.

    up: the estimate (unit vector, world frame); method: "floor" (plane under the stance feet) or "body"
    (mean pelvis->neck direction); off_axis_deg: angle from `up` to `nearest_axis`; snapped: rotated by the
    nearest axis instead of `up`; axis_aligned: the source declared its world axis-aligned (then always
    snapped); rotation: (3, 3) proper rotation taking the snapped axis (or `up`) to +Y, exactly a signed
    permutation when snapped; qa_flags: "up_axis_estimated" (rotated by the raw estimate) or
    "up_axis_snapped_far" (an axis-aligned world snapped from beyond SNAP_DEG).
    """

    up: tuple[float, float, float]
    method: str
    nearest_axis: str
    off_axis_deg: float
    snapped: bool
    rotation: tuple[tuple[float, ...], ...]
    axis_aligned: bool = False
    qa_flags: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        d = asdict(self)
        d["up"] = [round(v, 6) for v in self.up]
        d["off_axis_deg"] = round(self.off_axis_deg, 4)
        d["rotation"] = [[round(v, 9) for v in row] for row in self.rotation]
        d["qa_flags"] = list(self.qa_flags)
        return d


def axis_vector(name: str) -> np.ndarray:
    """'+y', '-z', ... -> unit vector."""
    key = name.strip().lower()
    if key in ("x", "y", "z"):
        key = "+" + key
    if key not in _AXES:
        raise MotionError(f"unknown axis {name!r}", fix="use one of +x, -x, +y, -y, +z, -z")
    return np.array(_AXES[key], dtype=np.float64)


def rotation_to_y_up(up: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector `up` to +Y, (3, 3) float64. For a signed coordinate
    axis the result is an exact signed permutation (no rounding residue)."""
    u = np.asarray(up, dtype=np.float64)
    u = u / np.linalg.norm(u)
    y = np.array([0.0, 1.0, 0.0])
    axis = np.cross(u, y)
    s, c = np.linalg.norm(axis), float(np.dot(u, y))
    if s < 1e-12:
        rot = np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])  # 180 degrees about X for -Y up
    else:
        k = axis / s
        kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
        rot = np.eye(3) + s * kx + (1 - c) * kx @ kx
    if np.allclose(np.abs(u), np.round(np.abs(u)), atol=1e-12):
        rot = np.round(rot)
    return rot


def _nearest_axis(u: np.ndarray) -> tuple[str, float]:
    best = max(_AXES, key=lambda k: float(np.dot(u, _AXES[k])))
    angle = math.degrees(math.acos(float(np.clip(np.dot(u, _AXES[best]), -1.0, 1.0))))
    return best, angle


def body_up(persons: list[np.ndarray], *, path: object = None) -> np.ndarray:
    """Mean pelvis->neck direction over all persons and finite frames (unit vector)."""
    dirs = []
    for j in persons:
        d = np.asarray(j, dtype=np.float64)[:, _NECK] - np.asarray(j, dtype=np.float64)[:, _PELVIS]
        n = np.linalg.norm(d, axis=-1, keepdims=True)
        ok = np.isfinite(n[:, 0]) & (n[:, 0] > 1e-6)
        dirs.append(d[ok] / n[ok])
    if not dirs or sum(len(d) for d in dirs) == 0:
        raise MotionError("no finite frames to estimate the up direction from", path=path,
                          fix="check the joints (every person is NaN in every frame)")
    m = np.concatenate(dirs).mean(axis=0)
    return m / np.linalg.norm(m)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return math.degrees(math.acos(float(np.clip(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)), -1, 1))))


def stance_points(persons: list[np.ndarray], up: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """Toe positions of standing feet: (N, 3) points, the number of (person, window) groups they come from,
    and (N,) the index of the person each point belongs to.

    A toe stands where it is still (it moves at most STANCE_STEP_M per frame between its neighbours, which no
    swinging or flying foot does, whatever the up direction) and, per person and window of
    STANCE_WINDOW_FRAMES frames, lies within STANCE_TOLERANCE_M (along `up`) of the window's second-lowest
    still toe (so one stray frame cannot set the floor, and a foot held still in the air, e.g. at the top of
    a jump, is not taken). Frames with NaN (the person absent) or next to one are skipped.
    """
    pts, owner, groups = [], [], 0
    for who, j in enumerate(persons):
        toes = np.asarray(j, dtype=np.float64)[:, list(_TOES)]
        if len(toes) < 3:
            continue
        step = np.linalg.norm(toes[2:] - toes[:-2], axis=-1) / 2       # (T-2, 2), NaN next to a NaN frame
        still = np.zeros(toes.shape[:2], dtype=bool)
        still[1:-1] = step <= STANCE_STEP_M
        frames, side = np.nonzero(still)
        if len(frames) == 0:
            continue
        p = toes[frames, side]
        h = p @ up
        windows = frames // STANCE_WINDOW_FRAMES
        for w in np.unique(windows):
            sel = np.flatnonzero(windows == w)
            if len(sel) < 3:
                continue
            low = np.partition(h[sel], 1)[1]
            pts.append(p[sel[h[sel] <= low + STANCE_TOLERANCE_M]])
            owner.append(np.full(len(pts[-1]), who))
            groups += 1
    if not pts:
        return np.zeros((0, 3)), 0, np.zeros(0, dtype=int)
    return np.concatenate(pts), groups, np.concatenate(owner)


def _fit_plane(points: np.ndarray, up: np.ndarray, owner: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray] | None:
    """Least-squares plane through the floor points among (N, 3) points: (unit normal on the side of `up`,
    RMS spreads (3,) of the kept points along the plane's axes, widest first, the last being the off-plane
    scatter), or None when fewer than 12 points remain.

    `owner` (N,) names the person of each point: every person gets its own height of the plane (the normal
    is shared), because the feet of two fitted bodies rarely stand at one height (shape and fit errors put
    them centimetres to decimetres apart), and one plane through both would tilt towards the lower person.

    The floor is the lower envelope: the first four refits drop the points more than FLOOR_TRIM_M above
    the plane (feet held still in the air pull a first fit up), the next four those more than FLOOR_TRIM_M
    off it on either side."""
    owner = np.zeros(len(points), dtype=int) if owner is None else np.asarray(owner)
    keep = np.ones(len(points), dtype=bool)
    for k in range(8):
        if keep.sum() < 12:
            return None
        centred = np.empty_like(points)
        for who in np.unique(owner):
            mine = owner == who
            kept = mine & keep
            # a person without kept points keeps its points' mean (they are all dropped from the fit anyway)
            centred[mine] = points[mine] - points[kept if kept.any() else mine].mean(axis=0)
        q = centred[keep]
        _, sv, vt = np.linalg.svd(q, full_matrices=False)
        n = vt[2] if np.dot(vt[2], up) >= 0 else -vt[2]
        res = centred @ n
        keep = (res <= FLOOR_TRIM_M) & ((res >= -FLOOR_TRIM_M) if k >= 3 else True)
    return n, sv / math.sqrt(len(q))


def floor_normal(persons: list[np.ndarray], rough_up: np.ndarray) -> np.ndarray | None:
    """Normal of the floor under the standing feet (sign towards `rough_up`), or None when the feet do not
    define it well.

    The stance toes (`stance_points`) are chosen along the current up guess, a plane is fitted to them
    (`_fit_plane`), and the two steps repeat with the plane's normal until it stops moving, so a first
    guess tilted by the bodies' lean (`rough_up`) only seeds the search. None when the stance toes spread
    less than 8 cm in either floor direction, when the tilt's standard error (off-plane scatter over the
    narrower spread, over the square root of the number of stance windows) exceeds FLOOR_TILT_SE_DEG, or
    when the plane and the bodies disagree by more than FLOOR_BODY_AGREEMENT_DEG.
    """
    rough = np.asarray(rough_up, dtype=np.float64) / np.linalg.norm(rough_up)
    n = rough
    for _ in range(8):
        points, groups, owner = stance_points(persons, n)
        fit = _fit_plane(points, rough, owner)
        if fit is None:
            return None
        new, spread = fit
        moved = _angle_deg(new, n)
        n = new
        if moved < 1e-3:
            break
    if spread[1] < 0.08:
        return None
    if math.degrees(math.atan(spread[2] / (spread[1] * math.sqrt(groups)))) > FLOOR_TILT_SE_DEG:
        return None
    if _angle_deg(n, rough) > FLOOR_BODY_AGREEMENT_DEG:
        return None
    return n / np.linalg.norm(n)


def estimate_up(persons: list[np.ndarray], *, snap_deg: float = SNAP_DEG, axis_aligned: bool = False,
                path: object = None) -> UpEstimate:
    """Estimate the up direction from the bodies and the rotation that makes it +Y.

    persons: (T, 22, 3) joints each, any shared world frame; NaN frames (a person absent) are skipped.
    The estimate is the normal of the floor under the stance feet (`floor_normal`) when it is well defined,
    else the mean pelvis->neck direction (`body_up`), which also seeds the floor search and picks the
    normal's sign. Then:
      axis_aligned=False: snapped to the nearest signed axis within `snap_deg`, else rotated by the
        estimate itself (QA flag up_axis_estimated);
      axis_aligned=True (the source's world is gravity-aligned, so a lean must not tilt a clip): always
        snapped to the nearest signed axis, with the flag up_axis_snapped_far beyond `snap_deg`, and a
        MotionError when no axis is plausible: farther than FLOOR_AXIS_LIMIT_DEG (floor estimate) or
        BODY_AXIS_LIMIT_DEG (body estimate) from every axis.
    """
    rough = body_up(persons, path=path)
    normal = floor_normal(persons, rough)
    up, method = (rough, "body") if normal is None else (normal, "floor")
    axis, angle = _nearest_axis(up)
    if axis_aligned:
        limit = FLOOR_AXIS_LIMIT_DEG if method == "floor" else BODY_AXIS_LIMIT_DEG
        if angle > limit:
            raise MotionError(
                f"the world is declared axis-aligned, but the up direction estimated from the {method} "
                f"{np.round(up, 3).tolist()} is {angle:.1f} degrees from the nearest axis {axis} (limit {limit:g})",
                path=path, fix="check that this sequence's world frame is gravity-aligned, exclude the sequence, or pass "
                    "--no-axis-aligned-world to rotate it by the estimate (flagged)")
        snapped = True
        flags = ("up_axis_snapped_far",) if angle > snap_deg else ()
    else:
        snapped = angle <= snap_deg
        flags = () if snapped else ("up_axis_estimated",)
    rot = rotation_to_y_up(axis_vector(axis) if snapped else up)
    return UpEstimate(up=tuple(float(v) for v in up), method=method, nearest_axis=axis, off_axis_deg=angle,
                      snapped=snapped, rotation=tuple(tuple(float(v) for v in row) for row in rot),
                      axis_aligned=axis_aligned, qa_flags=flags)


def check_declared_up(persons: list[np.ndarray], declared: str, *, path: object,
                      tolerance_deg: float = DECLARED_UP_TOLERANCE_DEG) -> float:
    """Angle (degrees) between the declared up axis and the bodies' up; MotionError beyond tolerance."""
    est = estimate_up(persons)
    ang = math.degrees(math.acos(float(np.clip(np.dot(np.array(est.up), axis_vector(declared)), -1, 1))))
    if ang > tolerance_deg:
        raise MotionError(f"the bodies' up direction is {ang:.1f} degrees from the declared {declared} axis "
                          f"(estimated up {np.round(est.up, 3).tolist()} from the {est.method})", path=path,
                          fix="check the file's coordinate frame; re-export it with a gravity-aligned up axis")
    return ang


def apply_rotation(joints: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """(T, J, 3) @ rotation.T, float64."""
    return np.asarray(joints, dtype=np.float64) @ np.asarray(rotation, dtype=np.float64).T


# ----------------------------------------------------------------------------- units

def check_units(joints: np.ndarray, fps: float, *, path: object, who: str = "person") -> None:
    """MotionError when (T, 22, 3) Y-up joints do not look like metres (body size or root speed)."""
    finite = np.isfinite(joints).all(axis=(1, 2))
    j = joints[finite]
    if len(j) == 0:
        raise MotionError(f"{who} has no finite frame", path=path, fix="drop the NaN frames or the sequence")
    size = float(np.median(np.linalg.norm(j[:, _HEAD] - j[:, _PELVIS], axis=-1)))
    lo, hi = BODY_SIZE_RANGE_M
    if not lo <= size <= hi:
        unit = " (values look like millimetres)" if size > 100 else (" (values look like centimetres)"
                                                                      if size > 10 else "")
        raise MotionError(f"{who}'s pelvis-to-head distance is {size:.3g}, expected {lo}-{hi} m{unit}", path=path,
                          fix="convert the source to metres")
    if len(j) > 1:
        speed = float(np.max(np.linalg.norm(np.diff(j[:, _PELVIS], axis=0), axis=-1)) * fps)
        if speed > MAX_ROOT_SPEED_MPS:
            hint = " (translations look like millimetres or centimetres)" if speed > 10 * MAX_ROOT_SPEED_MPS else ""
            raise MotionError(f"{who}'s root moves at {speed:.3g} m/s between frames, more than "
                              f"{MAX_ROOT_SPEED_MPS:g} m/s{hint}", path=path,
                              fix="check the units (metres) and the frame rate of the source")


# ----------------------------------------------------------------------------- reactor frame

@dataclass(frozen=True)
class CanonicalFrame:
    """The reactor's HumanML3D-style canonicalisation: subtract floor_y from heights, move the frame-0
    root (origin_x, origin_z) to the origin, then rotate by `yaw` radians about +Y so the reactor's
    frame-0 forward faces +Z."""

    floor_y: float
    origin_x: float
    origin_z: float
    yaw: float

    def as_dict(self) -> dict:
        return {k: round(float(v), 9) for k, v in asdict(self).items()}


def facing_forward(joints: np.ndarray) -> np.ndarray:
    """Horizontal unit forward direction per frame, (T, 3), from hips and shoulders (HumanML3D's rule:
    across = (r_hip - l_hip) + (r_shoulder - l_shoulder), forward = up x across)."""
    r_hip, l_hip, r_sdr, l_sdr = FACE_JOINTS
    across = (joints[:, r_hip] - joints[:, l_hip]) + (joints[:, r_sdr] - joints[:, l_sdr])
    fwd = np.cross(np.array([0.0, 1.0, 0.0]), across)
    fwd[:, 1] = 0.0
    n = np.linalg.norm(fwd, axis=-1, keepdims=True)
    return fwd / np.where(n > 1e-9, n, 1.0)


def reactor_frame(reactor: np.ndarray) -> CanonicalFrame:
    """The canonical frame of (T, 22, 3) Y-up reactor joints (floor = lowest joint over the clip)."""
    floor = float(np.min(reactor[..., 1]))
    fwd = facing_forward(reactor[:1])[0]
    yaw = -math.atan2(float(fwd[0]), float(fwd[2]))
    return CanonicalFrame(floor_y=floor, origin_x=float(reactor[0, _PELVIS, 0]),
                          origin_z=float(reactor[0, _PELVIS, 2]), yaw=yaw)


def to_frame(joints: np.ndarray, frame: CanonicalFrame) -> np.ndarray:
    """Apply `frame` to (T, 22, 3) joints; returns float32."""
    p = np.asarray(joints, dtype=np.float64) - np.array([frame.origin_x, frame.floor_y, frame.origin_z])
    c, s = math.cos(frame.yaw), math.sin(frame.yaw)
    rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return (p @ rot.T).astype(np.float32)


# ----------------------------------------------------------------------------- segmentation

def equal_windows(start: int, stop: int, max_frames: int, min_frames: int) -> list[tuple[int, int]]:
    """Split [start, stop) into the fewest consecutive windows of equal length <= max_frames.

    n = ceil(L / max_frames) windows of floor(L / n) frames each, from `start`; the < n frames left
    at the end are dropped. Spans shorter than min_frames give no window. (Each window of a split
    span holds > max_frames / 2 frames, so with 40/200 every clip has 100-200 frames.)
    """
    length = stop - start
    if length < min_frames:
        return []
    n = -(-length // max_frames)
    size = length // n
    return [(start + i * size, start + (i + 1) * size) for i in range(n)]


def runs(mask: np.ndarray, min_frames: int, max_gap: int = 0) -> list[tuple[int, int]]:
    """[start, stop) runs of True in `mask`, after closing gaps of <= max_gap False frames between runs;
    runs shorter than min_frames are dropped."""
    m = np.asarray(mask, dtype=bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], m.astype(np.int8), [0]])))
    spans = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a - merged[-1][1] <= max_gap:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return [(a, b) for a, b in merged if b - a >= min_frames]


def interaction_mask(reactor: np.ndarray, actor: np.ndarray, *, max_distance_m: float,
                     facing_deg: float) -> np.ndarray:
    """(T,) True where the pelvises are within max_distance_m (horizontally) and the reactor's forward
    points at the actor within facing_deg. Y-up joints; NaN frames are False."""
    d = actor[:, _PELVIS] - reactor[:, _PELVIS]
    d[:, 1] = 0.0
    dist = np.linalg.norm(d, axis=-1)
    fwd = facing_forward(reactor)
    cosang = np.einsum("ij,ij->i", fwd, d) / np.where(dist > 1e-9, dist, 1.0)
    ok = np.isfinite(dist) & (dist <= max_distance_m) & (cosang >= math.cos(math.radians(facing_deg)))
    return ok & np.isfinite(reactor).all(axis=(1, 2)) & np.isfinite(actor).all(axis=(1, 2))


# ----------------------------------------------------------------------------- QA

def _own_canonical(joints: np.ndarray) -> np.ndarray:
    """What HumanML3D's recovery should give back: uniform skeleton, own floor / origin / facing."""
    u = uniform_skeleton(joints).astype(np.float64)
    return to_frame(u, reactor_frame(u)).astype(np.float64)


def person_qa(joints: np.ndarray, features: np.ndarray, fps: float) -> dict[str, float]:
    """QA figures of one person's (T, 22, 3) canonical joints and their (T-1, 263) features.

    recovery_mean_m / recovery_max_m: recover_from_ric(features) against the same joints put through
    uniform_skeleton and their own canonical frame (frames 0..T-2); foot_skate_mps: mean horizontal
    foot speed while the foot is within 5 cm of the person's lowest foot point; jitter_mps3: mean
    magnitude of the third time derivative; bone_cv_max: largest std/mean of a bone's length.
    """
    j = np.asarray(joints, dtype=np.float64)
    rec = recover_from_ric(features).astype(np.float64)
    expect = _own_canonical(j)[: len(rec)]
    err = np.linalg.norm(rec - expect, axis=-1)
    feet = j[:, list(_FEET)]
    height = feet[..., 1] - feet[..., 1].min()
    contact = (height[:-1] < CONTACT_HEIGHT_M) & (height[1:] < CONTACT_HEIGHT_M)
    hspeed = np.linalg.norm(np.diff(feet[..., [0, 2]], axis=0), axis=-1) * fps
    skate = float(hspeed[contact].mean()) if contact.any() else 0.0
    jerk = np.linalg.norm(np.diff(j, n=3, axis=0), axis=-1) * fps ** 3 if len(j) > 3 else np.zeros(1)
    bones = np.linalg.norm(j[:, 1:] - j[:, PARENTS[1:]], axis=-1)
    cv = bones.std(axis=0) / np.maximum(bones.mean(axis=0), 1e-9)
    return {"recovery_mean_m": round(float(err.mean()), 7), "recovery_max_m": round(float(err.max()), 7),
            "foot_skate_mps": round(skate, 5), "jitter_mps3": round(float(jerk.mean()), 3),
            "bone_cv_max": round(float(cv.max()), 6)}

"""Joints -> HumanML3D 263-d features, vectorised over many clips at once.

`joints_to_features_batch` concatenates all clips along the frame axis and runs every step of the
official `process_file` (docs/humanml3d.md §2, quirks Q1-Q8 of its §7 reproduced) as whole-array
NumPy operations; per-clip quantities (scale, floor, origin, initial facing, the Gaussian-smoothed
heading with 'nearest' edges) are handled with segment indices. Results agree with the per-clip
transcription in `reference.py` to float32 precision.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import fft as sp_fft

from vimo.errors import MotionError
from vimo.motion.skeleton import (
    FEATURE_DIM, FEET_THRESHOLD, JOINT_NAMES, KINEMATIC_CHAINS, N_JOINTS, PARENTS, RAW_OFFSETS,
    TARGET_BONE_LENGTHS,
)

_CHILDREN = np.arange(1, N_JOINTS)
_BONE_PARENTS = PARENTS[1:]
#: the quaternion each local rotation is taken relative to: the root facing for the bones that
#: start a chain (including 13 and 14, which start at spine3: the reference restarts every chain
#: from the root facing), otherwise the parent bone's global swing
_CHAIN_STARTS = {chain[1] for chain in KINEMATIC_CHAINS}
_REF = np.array([0 if c in _CHAIN_STARTS else p for c, p in zip(_CHILDREN, _BONE_PARENTS)])
_BONE_ORDER = [(p, c) for chain in KINEMATIC_CHAINS for p, c in zip(chain[:-1], chain[1:])]
_TGT_LEG = np.float32(TARGET_BONE_LENGTHS[5] + TARGET_BONE_LENGTHS[8])
_SIGMA, _RADIUS = 20.0, 80  # scipy gaussian_filter1d(sigma=20): truncate 4.0 -> radius 80
_KERNEL = np.exp(-0.5 * (np.arange(-_RADIUS, _RADIUS + 1) / _SIGMA) ** 2)
_KERNEL /= _KERNEL.sum()
#: below this norm a shortest-arc quaternion is degenerate (bone antiparallel to its rest direction)
_DEGENERATE = 1e-6


def _check_shape(arr: np.ndarray, where: str | Path, min_frames: int) -> None:
    if arr.ndim != 3 or arr.shape[1:] != (N_JOINTS, 3):
        hint = "take joints[:, :22] of SMPL/SMPL-H/SMPL-X joint arrays" if (
            arr.ndim == 3 and arr.shape[1] > N_JOINTS and arr.shape[2] == 3) else \
            "pass (T, 22, 3) positions in metres, SMPL joint order, Y up"
        raise MotionError(f"has shape {arr.shape}, expected (T, 22, 3)", path=where, fix=hint)
    if not np.issubdtype(arr.dtype, np.floating):
        raise MotionError(f"has dtype {arr.dtype}, expected floating point", path=where,
                          fix="save positions as float32 or float64")
    if len(arr) < min_frames:
        raise MotionError(f"has {len(arr)} frame(s), at least {min_frames} are needed "
                          "(T frames give T-1 feature rows)", path=where, fix="use a longer clip")


def _check_values(flat: np.ndarray, starts: np.ndarray, names: Sequence[str | Path]) -> None:
    """Finite values and non-zero bones over the concatenation; errors name the clip and its frame."""
    finite = np.isfinite(flat).all(axis=(1, 2))
    if not finite.all():
        bad = np.flatnonzero(~finite)
        k = int(np.searchsorted(starts, bad[0], side="right") - 1)
        n_bad = int(((bad >= starts[k]) & (bad < (starts[k + 1] if k + 1 < len(starts) else len(flat)))).sum())
        raise MotionError(f"has NaN/inf in {n_bad} frame(s) (first: frame {bad[0] - starts[k]})", path=names[k],
                          fix="interpolate or cut the bad frames before encoding")
    d = flat[:, 1:] - flat[:, PARENTS[1:]]
    bone2 = np.einsum("nbc,nbc->nb", d, d)
    if (bone2 < 1e-16).any():
        t, j = np.argwhere(bone2 < 1e-16)[0]
        k = int(np.searchsorted(starts, t, side="right") - 1)
        raise MotionError(f"bone {JOINT_NAMES[PARENTS[j + 1]]}->{JOINT_NAMES[j + 1]} has zero length at frame "
                          f"{t - starts[k]}", path=names[k],
                          fix="joints must be distinct; check the joint order and source")


def check_joints(joints: np.ndarray, *, path: str | Path | None = None, min_frames: int = 2) -> np.ndarray:
    """Validate a joint track: (T, 22, 3), finite, T >= min_frames, no zero-length bones."""
    where = path if path is not None else "joints"
    arr = np.asarray(joints)
    _check_shape(arr, where, min_frames)
    _check_values(arr, np.array([0]), [where])
    return arr


def _segments(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return starts, np.repeat(np.arange(len(lengths)), lengths)


def _smooth_segments(x: np.ndarray, lengths: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """gaussian_filter1d(x_clip, 20, axis=0, mode='nearest') for every clip, in one FFT convolution."""
    pad = _RADIUS
    # edge-padded concatenation: each clip gets `pad` copies of its first/last frame on each side
    padded_len = lengths + 2 * pad
    pstarts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(padded_len[:-1], out=pstarts[1:])
    local = np.arange(padded_len.sum()) - np.repeat(pstarts, padded_len) - pad
    src = np.repeat(starts, padded_len) + np.clip(local, 0, np.repeat(lengths - 1, padded_len))
    xp = x[src].astype(np.float64)
    n = len(xp) + len(_KERNEL) - 1
    nfft = sp_fft.next_fast_len(n, real=True)
    spec = sp_fft.rfft(xp, nfft, axis=0) * sp_fft.rfft(_KERNEL, nfft)[:, None]
    full = sp_fft.irfft(spec, nfft, axis=0)
    keep = np.flatnonzero((local >= 0) & (local < np.repeat(lengths, padded_len)))
    return full[keep + pad]


def _yrot(w: np.ndarray, y: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate v (N, ..., 3) by the pure-yaw quaternions (w, 0, y, 0) of shape (N,)."""
    shape = (-1,) + (1,) * (v.ndim - 2)
    c = (1 - 2 * y * y).reshape(shape)
    s = (2 * w * y).reshape(shape)
    out = np.empty_like(v)
    out[..., 0] = c * v[..., 0] + s * v[..., 2]
    out[..., 1] = v[..., 1]
    out[..., 2] = c * v[..., 2] - s * v[..., 0]
    return out


def _yaw_quat(fx: np.ndarray, fz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """qbetween((fx, 0, fz) unit, +Z) = normalise(1 + fz, 0, -fx, 0), as (w, y).

    Facing exactly -Z makes the reference's qbetween 0/0; here it becomes the 180° turn.
    """
    w, y = 1 + fz, -fx
    n = np.sqrt(w * w + y * y)
    flip = n < _DEGENERATE
    n = np.where(flip, 1, n)
    return np.where(flip, 0, w / n), np.where(flip, 1, y / n)


def _uniform_skeleton(p: np.ndarray, starts: np.ndarray, clip_of: np.ndarray) -> np.ndarray:
    bones = p[:, _CHILDREN] - p[:, _BONE_PARENTS]
    length = np.sqrt((bones * bones).sum(-1))
    leg = length[starts, 4] + length[starts, 7]  # right knee (5) and right ankle (8) bones, frame 0
    scale = (_TGT_LEG / leg)[clip_of]
    bones *= (TARGET_BONE_LENGTHS[1:] / length)[..., None]
    out = np.empty_like(p)
    out[:, 0] = p[:, 0] * scale[:, None]
    for parent, child in _BONE_ORDER:
        out[:, child] = out[:, parent] + bones[:, child - 1]
    return out


def _encode(p: np.ndarray, lengths: np.ndarray, feet_threshold: float, names: list[str]) -> np.ndarray:
    dt = p.dtype
    n_total = len(p)
    starts, clip_of = _segments(lengths)

    # C1 uniform skeleton
    p = _uniform_skeleton(p, starts, clip_of)
    # C2 floor, C3 xz origin
    floor = np.minimum.reduceat(p[:, :, 1].min(axis=1), starts)
    p[:, :, 1] -= floor[clip_of][:, None]
    origin = p[starts, 0].copy()
    origin[:, 1] = 0
    p -= origin[clip_of][:, None, :]
    # C4 face +Z at frame 0 (correct hip order here)
    f0 = p[starts]
    across = (f0[:, 2] - f0[:, 1]) + (f0[:, 17] - f0[:, 16])
    across /= np.linalg.norm(across, axis=-1, keepdims=True)
    fx, fz = across[:, 2], -across[:, 0]
    fn = np.sqrt(fx * fx + fz * fz)
    if (fn < _DEGENERATE).any():
        k = int(np.flatnonzero(fn < _DEGENERATE)[0])
        raise MotionError("frame 0 has no horizontal facing (hips and shoulders vertical)", path=names[k],
                          fix="check the up axis of the input (must be +Y)")
    w0, y0 = _yaw_quat(fx / fn, fz / fn)
    gp = _yrot(w0[clip_of], y0[clip_of], p)

    # C6 per-frame heading (Q1: hips swapped), smoothed per clip (Q3), r_rot[0] = identity (Q2)
    across = (gp[:, 1] - gp[:, 2]) + (gp[:, 17] - gp[:, 16])
    across /= np.linalg.norm(across, axis=-1, keepdims=True)
    forward = np.stack([across[:, 2], -across[:, 0]], axis=-1)  # (x, z) of Y × across
    forward = _smooth_segments(forward, lengths, starts)
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    rw, ry = _yaw_quat(forward[:, 0], forward[:, 1])
    rw, ry = rw.astype(dt), ry.astype(dt)
    rw[starts], ry[starts] = 1, 0

    # global swing of every bone: qbetween(raw direction, bone direction)
    v = gp[:, _CHILDREN] - gp[:, _BONE_PARENTS]
    v /= np.sqrt((v * v).sum(-1))[..., None]
    u = RAW_OFFSETS[1:].astype(dt)
    g = np.empty(v.shape[:-1] + (4,), dtype=dt)
    g[..., 0] = 1 + (u * v).sum(-1)
    g[..., 1:] = np.cross(u, v)
    gn = np.sqrt((g * g).sum(-1))
    if (gn < _DEGENERATE).any():
        t, b = np.argwhere(gn < _DEGENERATE)[0]
        k = int(clip_of[t])
        raise MotionError(
            f"bone {JOINT_NAMES[_BONE_PARENTS[b]]}->{JOINT_NAMES[b + 1]} points exactly opposite its rest "
            f"direction at frame {t - starts[k]} (the official code gives NaN here)", path=names[k],
            fix="perturb that pose slightly or drop the frame")
    g /= gn[..., None]
    # local = conj(ref) ⊗ g, ref = root facing (w, 0, y, 0) or the parent's swing
    ref = np.empty((n_total, N_JOINTS, 4), dtype=dt)
    ref[:, 0, 0], ref[:, 0, 1], ref[:, 0, 2], ref[:, 0, 3] = rw, 0, ry, 0
    ref[:, 1:] = g
    ref = ref[:, _REF]
    aw, ax, ay, az = (ref[..., i] for i in range(4))
    bw, bx, by, bz = (g[..., i] for i in range(4))
    lw = aw * bw + ax * bx + ay * by + az * bz
    lx = aw * bx - ax * bw - ay * bz + az * by
    ly = aw * by + ax * bz - ay * bw - az * bx
    lz = aw * bz - ax * by + ay * bx - az * bw
    s = 2 / (lw * lw + lx * lx + ly * ly + lz * lz)
    rot6d = np.stack([
        1 - s * (ly * ly + lz * lz), s * (lx * ly + lw * lz), s * (lx * lz - lw * ly),
        s * (lx * ly - lw * lz), 1 - s * (lx * lx + lz * lz), s * (ly * lz + lw * lx),
    ], axis=-1)

    # rows: every frame but the last of its clip (Q7)
    last = starts + lengths - 1
    keep = np.ones(n_total, dtype=bool)
    keep[last] = False
    t0 = np.flatnonzero(keep)
    t1 = t0 + 1
    out = np.empty((len(t0), FEATURE_DIM), dtype=np.float32)

    # C7 root velocities: linear rotated by r_rot[t+1] (Q5), angular = arcsin(dq.y) (Q4)
    vel = _yrot(rw[t1], ry[t1], (gp[t1, 0] - gp[t0, 0])[:, None])[:, 0]
    out[:, 0] = np.arcsin(ry[t1] * rw[t0] - rw[t1] * ry[t0])
    out[:, 1] = vel[:, 0]
    out[:, 2] = vel[:, 2]
    # C8 ric positions
    ric = gp[t0]
    ric[:, :, 0] -= ric[:, :1, 0]
    ric[:, :, 2] -= ric[:, :1, 2]
    ric = _yrot(rw[t0], ry[t0], ric)
    out[:, 3] = ric[:, 0, 1]
    out[:, 4:67] = ric[:, 1:].reshape(len(t0), 63)
    out[:, 67:193] = rot6d[t0].reshape(len(t0), 126)
    # C9 local velocities rotated by r_rot[t]
    dp = gp[t1] - gp[t0]
    out[:, 193:259] = _yrot(rw[t0], ry[t0], dp).reshape(len(t0), 66)
    # C5 foot contacts
    feet = dp[:, [7, 10, 8, 11]]
    out[:, 259:263] = ((feet * feet).sum(-1) < feet_threshold)
    return out


def _encode_compiled(p: np.ndarray, lengths: np.ndarray, feet_threshold: float, names: list[str]) -> np.ndarray:
    from vimo.motion import kernels as K

    starts, _ = _segments(lengths)
    gp = np.empty_like(p)
    fwd = np.empty((len(p), 2))
    code, k, t, j = K.canonicalise(p, starts, lengths, K.BONE_ORDER, K.TGT64, K.TGT_LEG, gp, fwd)
    if code == K.ERR_FACING:
        raise MotionError("frame 0 has no horizontal facing (hips and shoulders vertical)", path=names[k],
                          fix="check the up axis of the input (must be +Y)")
    fwd = _smooth_segments(fwd, lengths, starts)
    out = np.empty((len(p) - len(lengths), FEATURE_DIM), dtype=np.float32)
    code, k, t, j = K.feature_rows(gp, fwd, starts, lengths, K.PARENTS64, K.REF, K.RAW64,
                                   float(feet_threshold), out)
    if code == K.ERR_ANTIPARALLEL:
        raise MotionError(
            f"bone {JOINT_NAMES[PARENTS[j]]}->{JOINT_NAMES[j]} points exactly opposite its rest direction at "
            f"frame {t} (the official code gives NaN here)", path=names[k],
            fix="perturb that pose slightly or drop the frame")
    return out


def _have_numba() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def joints_to_features_batch(clips: Sequence[np.ndarray], *, names: Sequence[str] | None = None,
                             feet_threshold: float = FEET_THRESHOLD, backend: str = "auto",
                             dtype: type = np.float32) -> list[np.ndarray]:
    """Encode many clips at once: list of (T_i, 22, 3) -> list of (T_i - 1, 263) float32.

    Same results as `joints_to_features` clip by clip. `names` label the clips in errors (e.g. file
    paths). `backend`: "compiled" (numba loops, float64 inside), "numpy" (whole-array NumPy in
    `dtype`), or "auto" (compiled when numba is installed).
    """
    if len(clips) == 0:
        return []
    names = [str(n) for n in names] if names is not None else [f"clip[{i}]" for i in range(len(clips))]
    arrays = [np.asarray(c) for c in clips]
    for a, n in zip(arrays, names):
        _check_shape(a, n, 2)
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    if backend == "auto":
        backend = "compiled" if _have_numba() else "numpy"
    flat = np.concatenate(arrays).astype(np.float64 if backend == "compiled" else dtype, copy=False)
    _check_values(flat, _segments(lengths)[0], names)
    if backend == "compiled":
        out = _encode_compiled(flat, lengths, feet_threshold, names)
    elif backend == "numpy":
        out = _encode(flat, lengths, feet_threshold, names)
    else:
        raise MotionError(f"unknown backend {backend!r}", path="joints_to_features_batch",
                          fix="use 'auto', 'compiled' or 'numpy'")
    if not np.isfinite(out).all():  # never hand out NaN
        raise MotionError("encoding produced non-finite values", path=names[0],
                          fix="report this clip; check it for degenerate poses")
    return np.split(out, np.cumsum(lengths - 1)[:-1])


def joints_to_features(joints: np.ndarray, *, feet_threshold: float = FEET_THRESHOLD,
                       backend: str = "auto", name: str | None = None) -> np.ndarray:
    """(T, 22, 3) metres, Y up, 20 fps, SMPL joint order -> (T-1, 263) float32 HumanML3D features."""
    return joints_to_features_batch([joints], names=[name or "joints"], feet_threshold=feet_threshold,
                                    backend=backend)[0]


def uniform_skeleton(joints: np.ndarray) -> np.ndarray:
    """Retarget (T, 22, 3) to the HumanML3D target bone lengths (clip 000021), scaling the root
    trajectory by the right-leg ratio of frame 0 (Q8). Bone directions are kept per frame."""
    arr = check_joints(joints, min_frames=1)
    return _uniform_skeleton(arr.astype(np.float32), np.array([0]), np.zeros(len(arr), dtype=np.int64))

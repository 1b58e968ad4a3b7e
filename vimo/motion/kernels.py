"""Compiled (numba) per-frame loops of the batch encoder; the NumPy path in `features.py` is the
fallback and computes the same quantities. numba is a core dependency because the batch encoder's
speed target (>= 300k frames/s on one core) is out of reach for whole-array NumPy on this layout.

Working precision is float64 inside the loops (the reference is float32; agreement is to float32
rounding). Kernels return an error code instead of raising: (code, clip, frame, joint).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from vimo.motion.skeleton import KINEMATIC_CHAINS, PARENTS, RAW_OFFSETS, TARGET_BONE_LENGTHS

ERR_NONE, ERR_FACING, ERR_ANTIPARALLEL = 0, 1, 2

_BONE_ORDER = np.array([(p, c) for chain in KINEMATIC_CHAINS for p, c in zip(chain[:-1], chain[1:])],
                       dtype=np.int64)
_CHAIN_STARTS = {chain[1] for chain in KINEMATIC_CHAINS}
REF = np.array([0] + [0 if c in _CHAIN_STARTS else PARENTS[c] for c in range(1, 22)], dtype=np.int64)
_PARENTS = PARENTS.astype(np.int64)
_RAW = RAW_OFFSETS.astype(np.float64)
_TGT = TARGET_BONE_LENGTHS.astype(np.float64)
_TGT_LEG = float(np.float32(TARGET_BONE_LENGTHS[5] + TARGET_BONE_LENGTHS[8]))
_EPS = 1e-6


@njit(cache=True, nogil=True)
def _yaw(fx, fz):
    w = 1.0 + fz
    y = -fx
    n = math.sqrt(w * w + y * y)
    if n < _EPS:
        return 0.0, 1.0
    return w / n, y / n


@njit(cache=True, nogil=True)
def canonicalise(p, starts, lengths, bone_order, tgt, tgt_leg, gp, fwd):
    """Uniform skeleton, floor, xz origin, face +Z (C1-C4) into gp (N, 22, 3); per-frame heading
    forward (x, z) of C6 (hips swapped, Q1) into fwd (N, 2), before smoothing."""
    new = np.empty((22, 3))
    for k in range(len(starts)):
        s = starts[k]
        T = lengths[k]
        leg = 0.0
        for (a, b) in ((2, 5), (5, 8)):
            dx = p[s, b, 0] - p[s, a, 0]
            dy = p[s, b, 1] - p[s, a, 1]
            dz = p[s, b, 2] - p[s, a, 2]
            leg += math.sqrt(dx * dx + dy * dy + dz * dz)
        scale = tgt_leg / leg
        ymin = 1e300
        for t in range(s, s + T):
            for c in range(3):
                new[0, c] = p[t, 0, c] * scale
            for m in range(bone_order.shape[0]):
                a = bone_order[m, 0]
                b = bone_order[m, 1]
                dx = p[t, b, 0] - p[t, a, 0]
                dy = p[t, b, 1] - p[t, a, 1]
                dz = p[t, b, 2] - p[t, a, 2]
                f = tgt[b] / math.sqrt(dx * dx + dy * dy + dz * dz)
                new[b, 0] = new[a, 0] + dx * f
                new[b, 1] = new[a, 1] + dy * f
                new[b, 2] = new[a, 2] + dz * f
            for j in range(22):
                for c in range(3):
                    gp[t, j, c] = new[j, c]
                if new[j, 1] < ymin:
                    ymin = new[j, 1]
        ox = gp[s, 0, 0]
        oz = gp[s, 0, 2]
        ax = (gp[s, 2, 0] - gp[s, 1, 0]) + (gp[s, 17, 0] - gp[s, 16, 0])
        ay = (gp[s, 2, 1] - gp[s, 1, 1]) + (gp[s, 17, 1] - gp[s, 16, 1])
        az = (gp[s, 2, 2] - gp[s, 1, 2]) + (gp[s, 17, 2] - gp[s, 16, 2])
        an = math.sqrt(ax * ax + ay * ay + az * az)
        fx = az / an
        fz = -ax / an
        fn = math.sqrt(fx * fx + fz * fz)
        if not fn > _EPS:
            return ERR_FACING, k, 0, 0
        w, y = _yaw(fx / fn, fz / fn)
        cc = 1.0 - 2.0 * y * y
        ss = 2.0 * w * y
        for t in range(s, s + T):
            for j in range(22):
                x = gp[t, j, 0] - ox
                z = gp[t, j, 2] - oz
                gp[t, j, 0] = cc * x + ss * z
                gp[t, j, 1] -= ymin
                gp[t, j, 2] = cc * z - ss * x
            ax = (gp[t, 1, 0] - gp[t, 2, 0]) + (gp[t, 17, 0] - gp[t, 16, 0])
            ay = (gp[t, 1, 1] - gp[t, 2, 1]) + (gp[t, 17, 1] - gp[t, 16, 1])
            az = (gp[t, 1, 2] - gp[t, 2, 2]) + (gp[t, 17, 2] - gp[t, 16, 2])
            an = math.sqrt(ax * ax + ay * ay + az * az)
            fwd[t, 0] = az / an
            fwd[t, 1] = -ax / an
    return ERR_NONE, 0, 0, 0


@njit(cache=True, nogil=True)
def feature_rows(gp, fwd, starts, lengths, parents, ref, raw, thresh, out):
    """C5-C10 for every frame but the last of each clip; fwd holds the smoothed heading."""
    g = np.empty((22, 4))
    for k in range(len(starts)):
        s = starts[k]
        T = lengths[k]
        r0 = s - k
        for t in range(s, s + T - 1):
            r = r0 + (t - s)
            if t == s:
                w0, y0 = 1.0, 0.0  # Q2: frame 0 facing forced to identity
            else:
                fn = math.sqrt(fwd[t, 0] ** 2 + fwd[t, 1] ** 2)
                w0, y0 = _yaw(fwd[t, 0] / fn, fwd[t, 1] / fn)
            fn = math.sqrt(fwd[t + 1, 0] ** 2 + fwd[t + 1, 1] ** 2)
            w1, y1 = _yaw(fwd[t + 1, 0] / fn, fwd[t + 1, 1] / fn)
            c0 = 1.0 - 2.0 * y0 * y0
            s0 = 2.0 * w0 * y0
            c1 = 1.0 - 2.0 * y1 * y1
            s1 = 2.0 * w1 * y1
            # C7: angular (Q4: no sign fix) and linear root velocity rotated by r_rot[t+1] (Q5)
            v = y1 * w0 - w1 * y0
            out[r, 0] = math.asin(min(1.0, max(-1.0, v)))
            dx = gp[t + 1, 0, 0] - gp[t, 0, 0]
            dz = gp[t + 1, 0, 2] - gp[t, 0, 2]
            out[r, 1] = c1 * dx + s1 * dz
            out[r, 2] = c1 * dz - s1 * dx
            out[r, 3] = gp[t, 0, 1]
            rx = gp[t, 0, 0]
            rz = gp[t, 0, 2]
            g[0, 0] = w0
            g[0, 1] = 0.0
            g[0, 2] = y0
            g[0, 3] = 0.0
            for j in range(1, 22):
                # C8 ric
                x = gp[t, j, 0] - rx
                z = gp[t, j, 2] - rz
                b = 4 + 3 * (j - 1)
                out[r, b] = c0 * x + s0 * z
                out[r, b + 1] = gp[t, j, 1]
                out[r, b + 2] = c0 * z - s0 * x
                # C6 swing of the bone, local = conj(ref) * swing, then 6D
                pj = parents[j]
                vx = gp[t, j, 0] - gp[t, pj, 0]
                vy = gp[t, j, 1] - gp[t, pj, 1]
                vz = gp[t, j, 2] - gp[t, pj, 2]
                vn = math.sqrt(vx * vx + vy * vy + vz * vz)
                vx /= vn
                vy /= vn
                vz /= vn
                ux = raw[j, 0]
                uy = raw[j, 1]
                uz = raw[j, 2]
                qw = 1.0 + ux * vx + uy * vy + uz * vz
                qx = uy * vz - uz * vy
                qy = uz * vx - ux * vz
                qz = ux * vy - uy * vx
                qn = math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
                if qn < _EPS:
                    return ERR_ANTIPARALLEL, k, t - s, j
                qw /= qn
                qx /= qn
                qy /= qn
                qz /= qn
                g[j, 0] = qw
                g[j, 1] = qx
                g[j, 2] = qy
                g[j, 3] = qz
                m = ref[j]
                aw = g[m, 0]
                ax = g[m, 1]
                ay = g[m, 2]
                az = g[m, 3]
                lw = aw * qw + ax * qx + ay * qy + az * qz
                lx = aw * qx - ax * qw - ay * qz + az * qy
                ly = aw * qy + ax * qz - ay * qw - az * qx
                lz = aw * qz - ax * qy + ay * qx - az * qw
                f2 = 2.0 / (lw * lw + lx * lx + ly * ly + lz * lz)
                b = 67 + 6 * (j - 1)
                out[r, b] = 1.0 - f2 * (ly * ly + lz * lz)
                out[r, b + 1] = f2 * (lx * ly + lw * lz)
                out[r, b + 2] = f2 * (lx * lz - lw * ly)
                out[r, b + 3] = f2 * (lx * ly - lw * lz)
                out[r, b + 4] = 1.0 - f2 * (lx * lx + lz * lz)
                out[r, b + 5] = f2 * (ly * lz + lw * lx)
            # C9 local velocities rotated by r_rot[t]
            for j in range(22):
                dx = gp[t + 1, j, 0] - gp[t, j, 0]
                dy = gp[t + 1, j, 1] - gp[t, j, 1]
                dz = gp[t + 1, j, 2] - gp[t, j, 2]
                b = 193 + 3 * j
                out[r, b] = c0 * dx + s0 * dz
                out[r, b + 1] = dy
                out[r, b + 2] = c0 * dz - s0 * dx
            # C5 foot contacts: L ankle, L toe, R ankle, R toe
            for m, j in enumerate((7, 10, 8, 11)):
                dx = gp[t + 1, j, 0] - gp[t, j, 0]
                dy = gp[t + 1, j, 1] - gp[t, j, 1]
                dz = gp[t + 1, j, 2] - gp[t, j, 2]
                out[r, 259 + m] = 1.0 if dx * dx + dy * dy + dz * dz < thresh else 0.0
    return ERR_NONE, 0, 0, 0


BONE_ORDER = _BONE_ORDER
PARENTS64 = _PARENTS
RAW64 = _RAW
TGT64 = _TGT
TGT_LEG = _TGT_LEG

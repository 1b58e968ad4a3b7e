"""Quaternion and 6D-rotation maths used by the HumanML3D representation.

Quaternions are (w, x, y, z), Hamilton product, active rotation q·v·q⁻¹. NumPy, any float dtype,
arbitrary leading dimensions.
"""
from __future__ import annotations

import numpy as np


def qmul(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Hamilton product q ⊗ r, (..., 4) each."""
    qw, qx, qy, qz = np.moveaxis(q, -1, 0)
    rw, rx, ry, rz = np.moveaxis(r, -1, 0)
    return np.stack([
        qw * rw - qx * rx - qy * ry - qz * rz,
        qw * rx + qx * rw + qy * rz - qz * ry,
        qw * ry - qx * rz + qy * rw + qz * rx,
        qw * rz + qx * ry - qy * rx + qz * rw,
    ], axis=-1)


def qconj(q: np.ndarray) -> np.ndarray:
    """Conjugate; the inverse of a unit quaternion (this is what the reference calls qinv)."""
    out = q.copy()
    out[..., 1:] *= -1
    return out


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (..., 3) by quaternions q (..., 4) (broadcasting)."""
    qvec = q[..., 1:]
    uv = np.cross(qvec, v)
    uuv = np.cross(qvec, uv)
    return v + 2 * (q[..., :1] * uv + uuv)


def qbetween(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Shortest-arc rotation taking u onto v: normalise(|u||v| + u·v, u × v). Degenerate for u = −v."""
    xyz = np.cross(u, v)
    w = np.sqrt((u * u).sum(-1) * (v * v).sum(-1)) + (u * v).sum(-1)
    q = np.concatenate([w[..., None], xyz], axis=-1)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) -> (..., 3, 3); q need not be unit (scaled by 2/|q|²)."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    s = 2.0 / (q * q).sum(-1)
    m = np.stack([
        1 - s * (y * y + z * z), s * (x * y - w * z), s * (x * z + w * y),
        s * (x * y + w * z), 1 - s * (x * x + z * z), s * (y * z - w * x),
        s * (x * z - w * y), s * (y * z + w * x), 1 - s * (x * x + y * y),
    ], axis=-1)
    return m.reshape(q.shape[:-1] + (3, 3))


def matrix_to_cont6d(m: np.ndarray) -> np.ndarray:
    """First two columns of the rotation matrix: (R00, R10, R20, R01, R11, R21)."""
    return np.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)


def quat_to_cont6d(q: np.ndarray) -> np.ndarray:
    return matrix_to_cont6d(quat_to_matrix(q))


def cont6d_to_matrix(c: np.ndarray) -> np.ndarray:
    """(..., 6) -> (..., 3, 3): Gram-Schmidt as the reference (x = a1/|a1|, z = x × a2 / |.|, y = z × x)."""
    a1, a2 = c[..., 0:3], c[..., 3:6]
    x = a1 / np.linalg.norm(a1, axis=-1, keepdims=True)
    z = np.cross(x, a2)
    z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)

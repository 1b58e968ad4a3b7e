"""A mannequin mesh built from the 22 HumanML3D joints: tapered capsules per bone, a head, hands and
feet. Rendering needs no licensed body model file with it (joints-only sources, no SMPL files).

    mesh = build_mannequin(joints)          # joints (T, 22, 3) float32, metres, Y up
    mesh.vertices[t], mesh.normals[t], mesh.faces

Every capsule is a template sphere split at its equator: the upper half rides on the bone's end,
the lower half on its start, and the ring between them is the cylinder. Vertex normals are the
template's sphere normals turned with the bone, so they are exact for straight capsules.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vimo.errors import MotionError

#: (start joint, end joint, start radius m, end radius m); an end of -1 / -2 is the left / right hand
#: tip, -3 the top of the head, -4 the nose (points derived from the joints)
BONES: tuple[tuple[int, int, float, float], ...] = (
    # legs
    (1, 4, 0.075, 0.055), (4, 7, 0.052, 0.040), (7, 10, 0.042, 0.034),
    (2, 5, 0.075, 0.055), (5, 8, 0.052, 0.040), (8, 11, 0.042, 0.034),
    # pelvis and trunk
    (1, 2, 0.085, 0.085), (0, 3, 0.110, 0.105), (3, 6, 0.105, 0.110), (6, 9, 0.115, 0.120),
    (9, 12, 0.060, 0.050), (13, 14, 0.070, 0.070), (16, 17, 0.060, 0.060),
    # shoulders and arms
    (9, 13, 0.065, 0.060), (9, 14, 0.065, 0.060), (13, 16, 0.060, 0.055), (14, 17, 0.060, 0.055),
    (16, 18, 0.048, 0.040), (17, 19, 0.048, 0.040), (18, 20, 0.040, 0.032), (19, 21, 0.040, 0.032),
    (20, -1, 0.034, 0.026), (21, -2, 0.034, 0.026),
    # neck, head, nose (the nose shows where the head faces)
    (12, 15, 0.050, 0.055), (15, -3, 0.098, 0.090), (15, -4, 0.020, 0.016),
)
#: the widest capsule's radius (its tessellation sets the outline error of all)
WIDEST_M = max(max(r0, r1) for _, _, r0, r1 in BONES)
HAND_LENGTH_M = 0.09
HEAD_TOP_M = 0.11
NOSE_M = 0.105


@dataclass
class MannequinMesh:
    """vertices, normals: (T, V, 3) float32 (metres, Y up; unit normals); faces: (F, 3) int32."""

    vertices: np.ndarray
    normals: np.ndarray
    faces: np.ndarray


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-9)


def _template(n_lat: int, n_lon: int, top: bool = True, bottom: bool = True
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit sphere rings from the top pole to the bottom pole with the equator doubled, each pole one
    vertex (a ring of copies would add n_lon zero-area triangles per pole, which llvmpipe still pays
    for per multisampled block). Returns directions (V, 3), anchor (V,) 1 = bone end / 0 = bone
    start, faces (F, 3), counter-clockwise seen from outside; without the top (bone end) or bottom
    (bone start) half's faces when `top` / `bottom` is False."""
    upper = np.linspace(0.0, np.pi / 2, n_lat + 1)[1:]
    polar = np.concatenate([upper, np.pi - upper[::-1]])  # equator twice: the cylinder joins them
    lon = np.linspace(0.0, 2 * np.pi, n_lon, endpoint=False)
    p, l = np.meshgrid(polar, lon, indexing="ij")
    rings = np.stack([np.sin(p) * np.cos(l), np.cos(p), np.sin(p) * np.sin(l)], axis=-1).reshape(-1, 3)
    dirs = np.concatenate([[[0.0, 1.0, 0.0]], rings, [[0.0, -1.0, 0.0]]])
    anchor = np.concatenate([[1.0], np.repeat(np.concatenate([np.ones(n_lat), np.zeros(n_lat)]), n_lon), [0.0]])
    j = np.arange(n_lon)
    k = (j + 1) % n_lon
    faces = [np.stack([np.zeros(n_lon, int), 1 + k, 1 + j], axis=-1)] if top else []  # the top pole's fan
    for i in range(2 * n_lat - 1):  # bands between rings i and i + 1; band n_lat - 1 is the cylinder
        if (i < n_lat - 1 and not top) or (i > n_lat - 1 and not bottom):
            continue
        a, b = 1 + i * n_lon + j, 1 + i * n_lon + k
        c, d = a + n_lon, b + n_lon
        faces += [np.stack([a, b, c], axis=-1), np.stack([b, d, c], axis=-1)]
    last, pole = 1 + (2 * n_lat - 1) * n_lon, len(dirs) - 1
    if bottom:
        faces.append(np.stack([last + j, last + k, np.full(n_lon, pole)], axis=-1))  # the bottom pole's fan
    return dirs, anchor, np.concatenate(faces).astype(np.int32)


def bone_tessellation(radius: float, n_lat: int, n_lon: int, error_m: float) -> tuple[int, int]:
    """(rings per half, segments per ring) of a capsule of `radius`: the fewest segments (at least 6,
    at most n_lon) whose polygon lies within `error_m` of the circle, r (1 - cos(pi / n)) <= error_m,
    and rings in the same proportion (at least 2)."""
    if error_m <= 0:
        n = n_lon
    elif radius <= error_m:
        n = 6
    else:
        n = int(np.clip(np.ceil(np.pi / np.arccos(1.0 - error_m / radius) - 1e-9), 6, n_lon))
    return int(np.clip(round(n_lat * n / n_lon), 2, n_lat)), n


def hidden_caps(tessellation: list[tuple[int, int]], lengths: np.ndarray, margin_m: float = 0.001
                ) -> set[tuple[int, int]]:
    """(bone, end) of the capsule halves (end 1: at the bone's end joint, 0: at its start) that lie
    inside another capsule at the same joint in every frame, faceting included, so they are never
    seen: drawing them only costs (llvmpipe shades multisampled blocks before the depth test can
    drop them). `tessellation`: each bone's (rings per half, segments); `lengths`: each bone's
    shortest length over the clip (m). The half of radius r at joint J is inside capsule k (radius R
    at J, R2 at its other end, length L, n segments, m rings per half) when, with a margin, the ball
    (J, r) is inside k's faceted half-sphere at J, r <= R cos(pi / n) cos(pi / 2m), and inside its
    faceted cone for every distance s in [0, r] along k's axis, (R + (R2 - R) s / L) cos(pi / n) >=
    sqrt(r^2 - s^2), with L >= r."""
    ends: dict[int, list[tuple[int, int, float, float]]] = {}
    for b, (start, end, r0, r1) in enumerate(BONES):
        ends.setdefault(start, []).append((b, 0, r0, r1))
        ends.setdefault(end, []).append((b, 1, r1, r0))
    hidden = set()
    s = np.linspace(0.0, 1.0, 65)
    for caps in ends.values():
        for b, end, r, _ in caps:
            for k, _, big, other in caps:
                if k == b:
                    continue
                rings, n = tessellation[k]
                length = float(lengths[k])
                if r + margin_m > big * np.cos(np.pi / n) * np.cos(np.pi / (2 * rings)) or length < r + margin_m:
                    continue
                depth = s * r
                cone = (big + (other - big) * depth / length) * np.cos(np.pi / n)
                if np.all(cone - np.sqrt(np.maximum(r * r - depth * depth, 0.0)) >= margin_m):
                    hidden.add((b, end))
                    break
    return hidden


def _body_forward(joints: np.ndarray) -> np.ndarray:
    """(T, 3) horizontal facing from hips and shoulders (left = +X, up = +Y, forward = +Z at rest)."""
    left = (joints[:, 1] - joints[:, 2]) + (joints[:, 16] - joints[:, 17])
    fwd = np.cross(left, np.array([0.0, 1.0, 0.0]))
    fwd[:, 1] = 0.0
    return _unit(fwd)


def _derived_points(joints: np.ndarray) -> dict[int, np.ndarray]:
    """Hand tips, head top and nose tip, (T, 3) each."""
    up = _unit(joints[:, 15] - joints[:, 12])
    fwd = _body_forward(joints)
    fwd = _unit(fwd - np.sum(fwd * up, axis=-1, keepdims=True) * up)
    return {
        -1: joints[:, 20] + HAND_LENGTH_M * _unit(joints[:, 20] - joints[:, 18]),
        -2: joints[:, 21] + HAND_LENGTH_M * _unit(joints[:, 21] - joints[:, 19]),
        -3: joints[:, 15] + HEAD_TOP_M * up,
        -4: joints[:, 15] + 0.03 * up + NOSE_M * fwd,
    }


def _bone_rotations(direction: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations taking +Y to `direction` (unit); the twist is arbitrary (capsules are round)."""
    ref = np.where(np.abs(direction[..., :1]) < 0.9, np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]))
    x = _unit(np.cross(direction, ref))
    z = np.cross(x, direction)
    return np.stack([x, direction, z], axis=-1)


def build_mannequin(joints: np.ndarray, *, n_lat: int = 5, n_lon: int = 14,
                    error_m: float | None = None, drop_hidden: bool = True) -> MannequinMesh:
    """The mannequin of every frame of `joints` ((T, 22, 3), metres, Y up). The widest capsule has
    `n_lon` segments per ring and `n_lat` rings per half; narrower ones as few as keep their outline
    within `error_m` of a true circle (default: the widest capsule's error, 3 mm; 0: every capsule
    like the widest). Small parts cost as much per triangle as large ones (rasterisers shade whole
    pixel blocks along every edge), so equal error rather than equal counts halves the triangles.
    `drop_hidden`: leave out the capsule halves that are inside another capsule in every frame
    (hidden_caps; the same pixels, about a ninth fewer triangles; the mesh is then closed only as a union)."""
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[1:] != (22, 3):
        raise MotionError(f"joints have shape {j.shape}, expected (T, 22, 3)", fix="pass HumanML3D 22-joint tracks")
    if not np.isfinite(j).all():
        raise MotionError("joints hold NaN or inf", fix="repair or drop the clip")
    extra = _derived_points(j)

    def point(k: int) -> np.ndarray:
        return j[:, k] if k >= 0 else extra[k]

    starts = np.stack([point(a) for a, _, _, _ in BONES], axis=1)  # (T, B, 3)
    ends = np.stack([point(b) for _, b, _, _ in BONES], axis=1)
    axis = ends - starts
    length = np.linalg.norm(axis, axis=-1, keepdims=True)
    axis = np.where(length > 1e-6, axis / np.maximum(length, 1e-9), np.array([0.0, 1.0, 0.0]))
    rot = _bone_rotations(axis)  # (T, B, 3, 3)
    if error_m is None:
        error_m = WIDEST_M * (1.0 - np.cos(np.pi / n_lon))
    tessellation = [bone_tessellation(max(r0, r1), n_lat, n_lon, error_m) for _, _, r0, r1 in BONES]
    hidden = hidden_caps(tessellation, length[..., 0].min(axis=0)) if drop_hidden else set()
    verts, norms, faces, offset = [], [], [], 0
    for k, (_, _, r0, r1) in enumerate(BONES):
        dirs, anchor, tri = _template(*tessellation[k], top=(k, 1) not in hidden, bottom=(k, 0) not in hidden)
        normals = np.einsum("tij,vj->tvi", rot[:, k], dirs)  # (T, V, 3)
        base = np.where(anchor[None, :, None] > 0.5, ends[:, k, None, :], starts[:, k, None, :])
        verts.append(base + np.where(anchor > 0.5, r1, r0)[None, :, None] * normals)
        norms.append(normals)
        faces.append(tri + offset)
        offset += len(dirs)
    return MannequinMesh(vertices=np.concatenate(verts, axis=1).astype(np.float32),
                         normals=np.concatenate(norms, axis=1).astype(np.float32),
                         faces=np.concatenate(faces).astype(np.int32))


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(T, V, 3) float32 area-weighted unit vertex normals of triangle meshes (T, V, 3) with faces (F, 3)."""
    v = np.asarray(vertices, dtype=np.float64)
    tri = v[:, faces]  # (T, F, 3, 3)
    fn = np.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0])
    out = np.zeros_like(v)
    for k in range(3):
        np.add.at(out, (slice(None), faces[:, k]), fn)
    return _unit(out).astype(np.float32)

"""Penetration between two triangle meshes (SMPL-family bodies), per frame: how deep and how much one body
is inside the other. The functional core of the mesh measure in vimo.metrics.reaction.

Inside or outside
    A point p is inside a mesh when its generalised winding number is over 1/2:
        w(p) = (1 / 4 pi) sum over triangles (a, b, c) of the signed solid angle they span seen from p,
        Omega = 2 atan2(a . (b x c), |a||b||c| + (a . b)|c| + (b . c)|a| + (c . a)|b|),  a, b, c = corners - p
    (van Oosterom and Strackee). It is 1 inside and 0 outside a closed, outward-oriented mesh and degrades
    gracefully on meshes with small holes (SMPL-X's eyes and mouth, open tubes).
Depth (per frame)
    depth(t) = max over the vertices of either body inside the other of their distance to the other's
    surface (exact point-triangle distance), 0 when none is inside. Vertices farther than MESH_REACH_M from
    every vertex of the other body are taken as outside without a test (a body is thinner than that).
Volume (per frame, on frames with depth > 0)
    the points of a grid of edge `voxel` (default 2 cm; coarser when more than MAX_MESH_VOXELS points would
    be needed) inside both meshes, over the bounding box of the vertices found inside the other body
    (grown by one voxel), times voxel^3.

Speed
    Triangles are grouped by the 5 cm grid cell of their centroid. In the winding number a cluster farther
    from the point than FAR_RADII (3) of its radius counts as one dipole (its area-weighted normal n:
    Omega ~ n . (c - p) / |c - p|^3, the first-order term of fast winding numbers, Barill et al. 2018): an
    error under 0.02 of a turn (tested against the exact sum), far from the 1/2 that decides. The surface
    distance skips clusters whose bounding sphere is farther than the best triangle so far (exact). Loops are
    numba-compiled (numba is a core dependency). Two meshes of 10,242 vertices overlapping by 15 cm take about
    0.2 s per frame on one core pair (0.26 s with the volume); frames whose bounding boxes do not meet ~1 ms.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from vimo.errors import VimoError
from vimo.metrics.reaction import voxel_grid

#: a vertex farther than this from every vertex of the other body is not tested (outside)
MESH_REACH_M = 0.25
#: grid edge of the mesh overlap volume, and the most grid points per frame
DEFAULT_MESH_VOXEL = 0.02
MAX_MESH_VOXELS = 8000


class MeshMeasureError(VimoError):
    """Meshes that cannot be measured (wrong shapes, NaN, faces out of range)."""


@njit(cache=True)
def _segment_sq(px, py, pz, ax, ay, az, bx, by, bz):  # pragma: no cover - compiled
    dx, dy, dz = bx - ax, by - ay, bz - az
    dd = dx * dx + dy * dy + dz * dz
    t = 0.0
    if dd > 1e-24:
        t = ((px - ax) * dx + (py - ay) * dy + (pz - az) * dz) / dd
        t = min(max(t, 0.0), 1.0)
    ex, ey, ez = px - ax - t * dx, py - ay - t * dy, pz - az - t * dz
    return ex * ex + ey * ey + ez * ez


@njit(cache=True)
def _triangle_sq(px, py, pz, tri, k):  # pragma: no cover - compiled
    """Squared distance from p to triangle k of tri."""
    ax, ay, az = tri[k, 0, 0], tri[k, 0, 1], tri[k, 0, 2]
    bx, by, bz = tri[k, 1, 0], tri[k, 1, 1], tri[k, 1, 2]
    cx, cy, cz = tri[k, 2, 0], tri[k, 2, 1], tri[k, 2, 2]
    e1x, e1y, e1z = bx - ax, by - ay, bz - az
    e2x, e2y, e2z = cx - ax, cy - ay, cz - az
    nx, ny, nz = e1y * e2z - e1z * e2y, e1z * e2x - e1x * e2z, e1x * e2y - e1y * e2x
    nn = nx * nx + ny * ny + nz * nz
    if nn > 1e-24:
        # the projection onto the plane, and whether it falls inside the triangle (barycentric signs)
        s = ((px - ax) * nx + (py - ay) * ny + (pz - az) * nz) / nn
        qx, qy, qz = px - s * nx, py - s * ny, pz - s * nz
        inside = True
        for (ux, uy, uz, vx, vy, vz) in ((ax, ay, az, bx, by, bz), (bx, by, bz, cx, cy, cz),
                                         (cx, cy, cz, ax, ay, az)):
            wx = (vy - uy) * (qz - uz) - (vz - uz) * (qy - uy)
            wy = (vz - uz) * (qx - ux) - (vx - ux) * (qz - uz)
            wz = (vx - ux) * (qy - uy) - (vy - uy) * (qx - ux)
            if wx * nx + wy * ny + wz * nz < 0.0:
                inside = False
        if inside:
            return s * s * nn
    # the closest point is on an edge
    return min(_segment_sq(px, py, pz, ax, ay, az, bx, by, bz), _segment_sq(px, py, pz, bx, by, bz, cx, cy, cz),
               _segment_sq(px, py, pz, cx, cy, cz, ax, ay, az))


@njit(cache=True, parallel=True)
def _surface_distance(points: np.ndarray, tri: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    n, f = points.shape[0], tri.shape[0]
    out = np.empty(n)
    for i in prange(n):
        best = np.inf
        for k in range(f):
            best = min(best, _triangle_sq(points[i, 0], points[i, 1], points[i, 2], tri, k))
        out[i] = np.sqrt(best)
    return out


@njit(cache=True, inline="always")
def _solid_angle(px, py, pz, tri, k):  # pragma: no cover - compiled
    ax, ay, az = tri[k, 0, 0] - px, tri[k, 0, 1] - py, tri[k, 0, 2] - pz
    bx, by, bz = tri[k, 1, 0] - px, tri[k, 1, 1] - py, tri[k, 1, 2] - pz
    cx, cy, cz = tri[k, 2, 0] - px, tri[k, 2, 1] - py, tri[k, 2, 2] - pz
    la = np.sqrt(ax * ax + ay * ay + az * az)
    lb = np.sqrt(bx * bx + by * by + bz * bz)
    lc = np.sqrt(cx * cx + cy * cy + cz * cz)
    det = ax * (by * cz - bz * cy) - ay * (bx * cz - bz * cx) + az * (bx * cy - by * cx)
    den = (la * lb * lc + (ax * bx + ay * by + az * bz) * lc + (bx * cx + by * cy + bz * cz) * la
           + (cx * ax + cy * ay + cz * az) * lb)
    return 2.0 * np.arctan2(det, den)


@njit(cache=True, parallel=True)
def _winding_clustered(points, tri, order, starts, centre, radius, dipole, beta):  # pragma: no cover - compiled
    n, k_n = points.shape[0], centre.shape[0]
    out = np.zeros(n)
    for i in prange(n):
        px, py, pz = points[i, 0], points[i, 1], points[i, 2]
        total = 0.0
        for c in range(k_n):
            dx, dy, dz = centre[c, 0] - px, centre[c, 1] - py, centre[c, 2] - pz
            d2 = dx * dx + dy * dy + dz * dz
            if d2 > (beta * radius[c]) ** 2:  # far: the cluster as a dipole (its area-weighted normal)
                total += (dipole[c, 0] * dx + dipole[c, 1] * dy + dipole[c, 2] * dz) / (d2 * np.sqrt(d2))
            else:
                for j in range(starts[c], starts[c + 1]):
                    total += _solid_angle(px, py, pz, tri, order[j])
        out[i] = total / (4.0 * np.pi)
    return out


@njit(cache=True, parallel=True)
def _distance_clustered(points, tri, order, starts, centre, radius):  # pragma: no cover - compiled
    n, k_n = points.shape[0], centre.shape[0]
    out = np.empty(n)
    for i in prange(n):
        px, py, pz = points[i, 0], points[i, 1], points[i, 2]
        low = np.empty(k_n)  # no triangle of cluster c is nearer than low[c]
        for c in range(k_n):
            dx, dy, dz = centre[c, 0] - px, centre[c, 1] - py, centre[c, 2] - pz
            low[c] = max(np.sqrt(dx * dx + dy * dy + dz * dz) - radius[c], 0.0)
        best = np.inf
        for c in np.argsort(low):
            if low[c] * low[c] >= best:
                break
            for j in range(starts[c], starts[c + 1]):
                d2 = _triangle_sq(px, py, pz, tri, order[j])
                if d2 < best:
                    best = d2
        out[i] = np.sqrt(best)
    return out


#: the edge (m) of the grid cells that group a mesh's triangles into clusters, and how many of its radii a
#: point must be from a cluster for the cluster to count as one dipole in the winding number
CLUSTER_CELL_M = 0.05
FAR_RADII = 3.0


class _Clusters:
    """A mesh's triangles (F, 3, 3) grouped by the CLUSTER_CELL_M grid cell of their centroids: per cluster
    the area-weighted centre, the radius holding its triangles, and the area-weighted normal (dipole)."""

    def __init__(self, tri: np.ndarray):
        self.tri = np.ascontiguousarray(tri, dtype=np.float64)
        cen = self.tri.mean(1)
        _, inv = np.unique(np.floor(cen / CLUSTER_CELL_M).astype(np.int64), axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        k = int(inv.max()) + 1 if inv.size else 0
        self.order = np.argsort(inv, kind="stable").astype(np.int64)
        self.starts = np.concatenate([[0], np.cumsum(np.bincount(inv, minlength=k))]).astype(np.int64)
        cross = np.cross(self.tri[:, 1] - self.tri[:, 0], self.tri[:, 2] - self.tri[:, 0])
        area = 0.5 * np.linalg.norm(cross, axis=-1)
        # centres weighted by area (a cluster of degenerate triangles only: by count)
        weight = np.where(np.bincount(inv, weights=area, minlength=k)[inv] > 0, area, 1.0)
        total = np.bincount(inv, weights=weight, minlength=k)
        self.centre = np.stack([np.bincount(inv, weights=weight * cen[:, d], minlength=k) for d in range(3)], -1)
        self.centre /= total[:, None]
        self.dipole = np.stack([np.bincount(inv, weights=0.5 * cross[:, d], minlength=k) for d in range(3)], -1)
        reach = np.linalg.norm(self.tri - self.centre[inv][:, None], axis=-1).max(1)
        self.radius = np.zeros(k)
        np.maximum.at(self.radius, inv, reach)

    def winding(self, points: np.ndarray) -> np.ndarray:
        return _winding_clustered(points, self.tri, self.order, self.starts, self.centre, self.radius,
                                  self.dipole, FAR_RADII)

    def distance(self, points: np.ndarray) -> np.ndarray:
        return _distance_clustered(points, self.tri, self.order, self.starts, self.centre, self.radius)


@njit(cache=True, parallel=True)
def _winding(points: np.ndarray, tri: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    n, f = points.shape[0], tri.shape[0]
    out = np.zeros(n)
    for i in prange(n):
        total = 0.0
        for k in range(f):
            total += _solid_angle(points[i, 0], points[i, 1], points[i, 2], tri, k)
        out[i] = total / (4.0 * np.pi)
    return out


def _points(points: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3)


def winding_numbers(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, *, exact: bool = False
                    ) -> np.ndarray:
    """(N,) generalised winding numbers of points (N, 3) with respect to the mesh (vertices (V, 3), faces (F, 3)).
    Clusters of triangles far from a point (FAR_RADII of their radius) count as one dipole each (first order,
    as in fast winding numbers), unless `exact`."""
    p = _points(points)
    if p.shape[0] == 0:
        return np.zeros(0)
    tri = np.ascontiguousarray(np.asarray(vertices, np.float64)[faces])
    return _winding(p, tri) if exact else _Clusters(tri).winding(p)


def surface_distances(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, *, exact: bool = False
                      ) -> np.ndarray:
    """(N,) distance of points (N, 3) to the mesh's surface (the closest point of any triangle). Clusters of
    triangles that cannot hold the closest point are skipped, which gives the same distances; `exact` tries
    every triangle."""
    p = _points(points)
    if p.shape[0] == 0:
        return np.zeros(0)
    tri = np.ascontiguousarray(np.asarray(vertices, np.float64)[faces])
    return _surface_distance(p, tri) if exact else _Clusters(tri).distance(p)


def _check(vertices: np.ndarray, faces: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces)
    if v.ndim != 3 or v.shape[-1] != 3:
        raise MeshMeasureError(f"{name} vertices have shape {v.shape}, expected (T, V, 3)",
                               fix="pass one mesh per frame (posed body-model vertices)")
    if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer):
        raise MeshMeasureError(f"{name} faces have shape {f.shape} ({f.dtype}), expected (F, 3) integers",
                               fix="pass the body model's triangle list")
    if f.size and (f.min() < 0 or f.max() >= v.shape[1]):
        raise MeshMeasureError(f"{name} faces index vertex {int(f.max())} of {v.shape[1]}",
                               fix="pass the faces of the same body model")
    if not np.isfinite(v).all():
        raise MeshMeasureError(f"{name} vertices hold NaN or inf", fix="repair or drop the clip")
    return v, f.astype(np.int64)


@dataclass
class MeshPenetration:
    depth: np.ndarray
    """(T,) metres"""
    volume: np.ndarray
    """(T,) m^3"""


def _inside_other(points: np.ndarray, other_v: np.ndarray, other: _Clusters, tree) -> np.ndarray:
    """Indices of `points` inside the other mesh (skipping those far from all of its vertices)."""
    lo, hi = other_v.min(0), other_v.max(0)
    cand = np.nonzero(((points >= lo) & (points <= hi)).all(1))[0]
    if cand.size == 0:
        return cand
    near, _ = tree.query(points[cand], distance_upper_bound=MESH_REACH_M)
    cand = cand[np.isfinite(near)]
    if cand.size == 0:
        return cand
    return cand[other.winding(_points(points[cand])) > 0.5]


def mesh_penetration(reactor_vertices: np.ndarray, reactor_faces: np.ndarray, actor_vertices: np.ndarray,
                     actor_faces: np.ndarray, *, voxel: float = DEFAULT_MESH_VOXEL, volume: bool = True
                     ) -> MeshPenetration:
    """Per-frame depth (m) and volume (m^3) by which two meshes overlap (see the module docstring):
    vertices (T, V, 3) per body in one frame (metres), faces (F, 3) each."""
    from scipy.spatial import cKDTree

    rv, rf = _check(reactor_vertices, reactor_faces, "reactor")
    av, af = _check(actor_vertices, actor_faces, "actor")
    if rv.shape[0] != av.shape[0]:
        raise MeshMeasureError(f"the reactor's mesh has {rv.shape[0]} frames and the actor's {av.shape[0]}",
                               fix="pose both bodies over the same frames")
    t_n = rv.shape[0]
    depth, vol = np.zeros(t_n), np.zeros(t_n)
    for t in range(t_n):
        r, a = rv[t], av[t]
        if (np.maximum(r.min(0), a.min(0)) > np.minimum(r.max(0), a.max(0))).any():
            continue  # the boxes do not meet
        r_mesh, a_mesh = _Clusters(r[rf]), _Clusters(a[af])
        r_in = _inside_other(r, a, a_mesh, cKDTree(a))
        a_in = _inside_other(a, r, r_mesh, cKDTree(r))
        if r_in.size == 0 and a_in.size == 0:
            continue
        d = 0.0
        if r_in.size:
            d = max(d, float(a_mesh.distance(_points(r[r_in])).max()))
        if a_in.size:
            d = max(d, float(r_mesh.distance(_points(a[a_in])).max()))
        depth[t] = d
        if volume and d > 0:
            pts = np.concatenate([r[r_in], a[a_in]])
            grid, edge = voxel_grid(pts.min(0) - voxel, pts.max(0) + voxel, voxel, MAX_MESH_VOXELS)
            in_r = r_mesh.winding(_points(grid)) > 0.5
            both = np.zeros(len(grid), bool)
            both[in_r] = a_mesh.winding(_points(grid[in_r])) > 0.5
            vol[t] = float(both.sum()) * edge ** 3
    return MeshPenetration(depth, vol)

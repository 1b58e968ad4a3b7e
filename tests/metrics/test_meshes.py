"""vimo.metrics.meshes (the SMPL-family mesh penetration) against closed forms: winding numbers and surface
distances of a sphere, two spheres at a known overlap (depth 2r - d, the lens volume), a sphere inside
another (depth R - r, the small sphere's volume), and the mesh measures inside vimo.metrics.reaction."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tests.metrics.test_reaction import FPS, rest_pose, still
from vimo.metrics import meshes as mx
from vimo.metrics import reaction as rx


def icosphere(level: int = 4, radius: float = 1.0, centre=(0.0, 0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """A closed, outward-oriented sphere mesh: an icosahedron subdivided `level` times, on the sphere."""
    t = (1 + 5 ** 0.5) / 2
    verts = [np.array(p, float) for p in ((-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t),
                                          (0, -1, -t), (0, 1, -t), (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1))]
    verts = [v / np.linalg.norm(v) for v in verts]
    faces = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2),
             (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5), (2, 4, 11),
             (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    for _ in range(level):
        cache: dict[tuple[int, int], int] = {}

        def mid(i: int, j: int) -> int:
            key = (min(i, j), max(i, j))
            if key not in cache:
                m = verts[i] + verts[j]
                verts.append(m / np.linalg.norm(m))
                cache[key] = len(verts) - 1
            return cache[key]

        new = []
        for a, b, c in faces:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            new += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = new
    return np.asarray(verts) * radius + np.asarray(centre), np.asarray(faces, dtype=np.int64)


def test_winding_numbers_and_surface_distances_of_a_sphere():
    v, f = icosphere(3)
    pts = np.array([[0, 0, 0], [0.5, 0.3, -0.2], [0.97, 0, 0], [1.5, 0, 0], [0, -3, 0]], float)
    np.testing.assert_allclose(mx.winding_numbers(pts, v, f, exact=True), [1, 1, 1, 0, 0], atol=1e-9)
    np.testing.assert_allclose(mx.winding_numbers(pts, v, f), [1, 1, 1, 0, 0], atol=0.01)  # far clusters as dipoles
    d = mx.surface_distances(pts, v, f)
    # inscribed triangles sit slightly inside the sphere: distances within a level-3 face's sagitta (~5 mm)
    np.testing.assert_allclose(d, [1.0, 1 - math.sqrt(0.38), 0.03, 0.5, 2.0], atol=6e-3)
    assert mx.winding_numbers(np.zeros((0, 3)), v, f).shape == (0,)


def torus(big: float = 0.3, small: float = 0.1, n: int = 96, m: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """A closed, outward-oriented torus about +Y (not convex: its hole is outside)."""
    u, w = np.meshgrid(np.linspace(0, 2 * np.pi, n, endpoint=False), np.linspace(0, 2 * np.pi, m, endpoint=False),
                       indexing="ij")
    verts = np.stack([(big + small * np.cos(w)) * np.cos(u), small * np.sin(w),
                      (big + small * np.cos(w)) * np.sin(u)], -1).reshape(-1, 3)
    faces = []
    for i in range(n):
        for j in range(m):
            a, b = i * m + j, ((i + 1) % n) * m + j
            c, d = i * m + (j + 1) % m, ((i + 1) % n) * m + (j + 1) % m
            faces += [(a, c, b), (b, c, d)]
    return verts, np.asarray(faces, dtype=np.int64)


def test_clustered_winding_numbers_and_distances_agree_with_the_exact_sums():
    """The fast paths (far clusters of triangles as dipoles; clusters that cannot hold the nearest point
    skipped) against every-triangle sums, on a torus, whose hole is outside it."""
    v, f = torus()
    rng = np.random.default_rng(0)
    pts = rng.uniform([-0.5, -0.2, -0.5], [0.5, 0.2, 0.5], size=(3000, 3))
    exact = mx.winding_numbers(pts, v, f, exact=True)
    fast = mx.winding_numbers(pts, v, f)
    assert np.abs(fast - exact).max() < 0.02
    # the torus' own inside test, by hand: distance from the tube's centre circle under the tube radius
    ring = np.hypot(np.hypot(pts[:, 0], pts[:, 2]) - 0.3, pts[:, 1])
    clear = np.abs(ring - 0.1) > 0.005  # not within 5 mm of the surface (the mesh is a polygon of it)
    assert ((fast > 0.5) == (ring < 0.1))[clear].all() and ((fast > 0.5) & (ring < 0.1)).sum() > 100
    np.testing.assert_allclose(mx.surface_distances(pts, v, f), mx.surface_distances(pts, v, f, exact=True),
                               rtol=0, atol=1e-12)
    assert np.abs(mx.surface_distances(pts, v, f) - np.abs(ring - 0.1)).max() < 0.004


def test_two_spheres_overlap_by_the_lens_and_apart_frames_by_nothing():
    v, f = icosphere(4, radius=0.1)
    d = np.array([0.15, 0.10, 0.25, 0.19])  # centre distances: overlapping, deep, apart, barely touching
    a = np.repeat(v[None], len(d), 0) + [0.0, 1.0, 0.0]
    b = v[None] + np.stack([d, np.ones_like(d), np.zeros_like(d)], -1)[:, None]
    pen = mx.mesh_penetration(a, f, b, f)
    np.testing.assert_allclose(pen.depth, np.maximum(0.2 - d, 0), atol=1.5e-3)
    lens = math.pi * (0.4 + d) * np.maximum(0.2 - d, 0) ** 2 / 12  # two spheres of r = 0.1 at distance d
    assert pen.volume[0] == pytest.approx(lens[0], rel=0.05) and pen.volume[1] == pytest.approx(lens[1], rel=0.05)
    assert pen.volume[2] == 0.0 and pen.depth[2] == 0.0
    # no volume asked: depths alone
    assert mx.mesh_penetration(a, f, b, f, volume=False).volume.sum() == 0.0


def test_a_body_inside_another_is_as_deep_as_the_gap_to_its_surface():
    big, fb = icosphere(4, radius=0.3)
    small, fs = icosphere(3, radius=0.1, centre=(0.05, 0.0, 0.0))
    pen = mx.mesh_penetration(small[None], fs, big[None], fb)
    assert pen.depth[0] == pytest.approx(0.3 - 0.05, abs=3e-3)  # the small sphere's far side, (-0.05, 0, 0)
    assert pen.volume[0] == pytest.approx(4 / 3 * math.pi * 0.1 ** 3, rel=0.12)


def test_bad_meshes_are_one_line_errors():
    v, f = icosphere(1)
    ok = v[None]
    with pytest.raises(mx.MeshMeasureError, match="expected \\(T, V, 3\\)"):
        mx.mesh_penetration(v, f, ok, f)
    with pytest.raises(mx.MeshMeasureError, match="faces index vertex"):
        mx.mesh_penetration(ok, f + 1, ok, f)
    bad = ok.copy()
    bad[0, 3, 1] = np.nan
    with pytest.raises(mx.MeshMeasureError, match="NaN"):
        mx.mesh_penetration(ok, f, bad, f)
    with pytest.raises(mx.MeshMeasureError, match="frames"):
        mx.mesh_penetration(np.repeat(ok, 2, 0), f, ok, f)
    with pytest.raises(mx.MeshMeasureError, match="integers"):
        mx.mesh_penetration(ok, f.astype(float), ok, f)


def test_clip_measures_carry_the_mesh_measures_and_outliers_follow_the_mesh_depth():
    """A reactor and an actor 0.5 m apart whose 'meshes' are spheres around their chests: the capsules do not
    touch, the spheres (r = 0.3) overlap by 0.1 m: the clip is a penetrating outlier by its meshes."""
    frames = 6
    r_j, a_j = still(rest_pose((0.0, 0.9, 0.0)), frames), still(rest_pose((0.5, 0.9, 0.0)), frames)
    v, f = icosphere(3, radius=0.3)
    meshes = ((r_j[:, 9:10] + v[None], f), (a_j[:, 9:10] + v[None], f))
    m = rx.clip_measures(r_j, a_j, FPS, meshes=meshes, volume=False)
    assert m.penetration_frames == 0.0 and m.mesh is not None
    assert m.mesh["mesh_penetration_frames"] == 1.0
    assert m.mesh["mesh_max_penetration_depth"] == pytest.approx(0.1, abs=4e-3)
    d = m.as_dict()
    assert set(rx.MESH_KEYS) <= set(d)
    plain = rx.clip_measures(r_j, a_j, FPS, volume=False)
    assert rx.outliers({"x": m})["penetrating"] == ["x"] and rx.outliers({"x": plain})["penetrating"] == []
    s = rx.summarise([m, plain])
    assert s["mesh_pairs"] == 1 and s["mesh_penetration_frames"] == 1.0
    assert "mesh_pairs" not in rx.summarise([plain])
    with pytest.raises(rx.ReactionMeasureError, match="meshes of"):
        rx.clip_measures(r_j, a_j, FPS, meshes=((meshes[0][0][:2], f), meshes[1]))

"""SYNTHETIC external-style videos: procedural scenes seen from a standing viewer's eyes, drawn by the same
clay renderer as the bodies (vimo.pipelines.video.render) and written as H.264 mp4 with a CSV manifest that
`vimo videos add` imports (every row labelled synthetic). They stand in for the filmed or generated clips of
ViMo's Animal-Human and Scene-Human categories in the demo and the tests.

    manifest = write_scene_videos(Path("scenes"), size=(320, 240), per_scene=2, seed=0)

Scenes (the viewer stands at the origin, eyes 1.6 m up, looking along -Z and 11 degrees down; a floor at y = 0):

- `ball_thrown`: a ball thrown from 8-10 m away on an arc that reaches the viewer's face (Scene-Human,
  `ball_thrown_towards`);
- `four_legged_approaching`: a four-legged figure (body, legs trotting, head, tail) walking up to 2.4 m in front
  (Animal-Human, `dog_approaching`); `big_cat_approaching`: the same figure 1.7 times larger, slower, stopping
  further away (Animal-Human, `lion_approaching`);
- `object_falling`: a box dropping from 3 m onto the floor a metre to the side, with a small bounce (Scene-Human,
  `object_falling_nearby`).

Two of the sub-categories are not in vimo's default taxonomy (whose 32 names follow the paper's count);
`scene_taxonomy` returns a taxonomy with them added, for a workspace's `taxonomy.json`.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vimo import atomic

EYE = np.array([0.0, 1.6, 0.0])
LOOK_AT = np.array([0.0, 0.8, -4.0])
YFOV_DEG = 55.0
GRAVITY = 9.81
LICENCE = "MIT"
NOTE = "SYNTHETIC: procedural scene rendered by vimo (vimo.pipelines.samples.external_scenes)"

#: sub-categories the scenes need beyond vimo's default taxonomy
EXTRA_SUB_CATEGORIES: dict[str, dict[str, Any]] = {
    "ball_thrown_towards": {"name": "ball thrown towards", "broad": "Scene-Human", "group": None, "evidence": "vimo"},
    "object_falling_nearby": {"name": "object falling nearby", "broad": "Scene-Human", "group": None,
                              "evidence": "vimo"},
}


# ----------------------------------------------------------------------------------------------
# meshes: (vertices (V, 3), normals (V, 3), faces (F, 3)), metres, Y up

Mesh = tuple[np.ndarray, np.ndarray, np.ndarray]


def box(center: np.ndarray, size: tuple[float, float, float], rotation: np.ndarray | None = None) -> Mesh:
    """An axis-aligned box (turned by `rotation` (3, 3) about its centre) with flat-shaded faces."""
    r = np.eye(3) if rotation is None else rotation
    half = np.asarray(size, dtype=np.float64) / 2
    verts, norms, faces = [], [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            n = np.zeros(3)
            n[axis] = sign
            u, v = [a for a in range(3) if a != axis]
            quad = []
            for du, dv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                p = np.zeros(3)
                p[axis], p[u], p[v] = sign * half[axis], du * half[u], dv * half[v]
                quad.append(p)
            base = len(verts)
            verts += quad
            norms += [n] * 4
            faces += _quad_faces(base, np.array(quad), n)
    v = np.asarray(verts) @ r.T + center
    return v, np.asarray(norms) @ r.T, np.asarray(faces)


def _quad_faces(base: int, quad: np.ndarray, normal: np.ndarray) -> list[list[int]]:
    """Two triangles of a quad (corners in order around it), wound counter-clockwise seen from `normal`."""
    tri = [[0, 1, 2], [0, 2, 3]]
    if np.dot(np.cross(quad[1] - quad[0], quad[2] - quad[0]), normal) < 0:
        tri = [[0, 2, 1], [0, 3, 2]]
    return [[base + i for i in t] for t in tri]


def sphere(center: np.ndarray, radius: float, n_lat: int = 10, n_lon: int = 16) -> Mesh:
    """A UV sphere with smooth normals."""
    lat = np.linspace(0, np.pi, n_lat + 1)
    lon = np.linspace(0, 2 * np.pi, n_lon, endpoint=False)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    n = np.stack([np.sin(la) * np.cos(lo), np.cos(la), np.sin(la) * np.sin(lo)], -1).reshape(-1, 3)
    faces = []
    for i in range(n_lat):
        for j in range(n_lon):
            a, b = i * n_lon + j, i * n_lon + (j + 1) % n_lon
            c, d = a + n_lon, b + n_lon
            faces += [[a, b, d], [a, d, c]]
    return center + radius * n, n, np.asarray(faces)


def floor(half_size: float = 12.0) -> Mesh:
    """The floor: a square at y = 0. The renderer has one clay material, so the floor is told its normals point
    down: away from the camera's light rig it shows the ambient light only, a dark ground under lit objects."""
    v = np.array([[-half_size, 0, -half_size], [half_size, 0, -half_size], [half_size, 0, half_size],
                  [-half_size, 0, half_size]], dtype=np.float64)
    up = np.array([0.0, 1.0, 0.0])
    return v, np.tile(-up, (4, 1)), np.asarray(_quad_faces(0, v, up))


def merge(parts: list[Mesh]) -> Mesh:
    verts, norms, faces, base = [], [], [], 0
    for v, n, f in parts:
        verts.append(v)
        norms.append(n)
        faces.append(f + base)
        base += len(v)
    return (np.concatenate(verts).astype(np.float32), np.concatenate(norms).astype(np.float32),
            np.concatenate(faces).astype(np.int32))


def _rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


# ----------------------------------------------------------------------------------------------
# the scenes: time (s) -> mesh of everything but the floor

def ball_thrown(rng: np.random.Generator, seconds: float) -> Callable[[float], Mesh]:
    start = np.array([rng.uniform(-1.0, 1.0), 1.9, -rng.uniform(8.0, 10.0)])
    target = EYE + np.array([rng.uniform(-0.15, 0.15), -0.05, -0.35])
    flight = seconds * rng.uniform(0.8, 0.9)
    t0 = seconds * 0.05
    # the arc: straight line plus the gravity drop, with the launch velocity that meets the target at t0 + flight
    velocity = (target - start) / flight + np.array([0.0, 0.5 * GRAVITY * flight, 0.0])

    def at(t: float) -> Mesh:
        s = min(max(t - t0, 0.0), flight)
        p = start + velocity * s - np.array([0.0, 0.5 * GRAVITY * s * s, 0.0])
        return sphere(p, 0.11)

    return at


def four_legged_approaching(rng: np.random.Generator, seconds: float, scale: float = 1.0) -> Callable[[float], Mesh]:
    """A four-legged figure walking up to the viewer; `scale` 1 is dog-sized, about 1.7 a big cat's size."""
    x = rng.uniform(-0.6, 0.6)
    z0, z1 = -rng.uniform(7.0, 8.5) * scale, -2.4 * scale
    gait_hz = rng.uniform(2.2, 2.8) / np.sqrt(scale)

    def at(t: float) -> Mesh:
        u = min(t / seconds, 1.0)
        z = z0 + (z1 - z0) * (1 - (1 - u) ** 2)  # slowing down as it arrives
        v, n, f = _four_legged_mesh(t, gait_hz, 2 * (1 - u))
        return v * scale + np.array([x, 0.0, z]), n, f

    return at


def big_cat_approaching(rng: np.random.Generator, seconds: float) -> Callable[[float], Mesh]:
    return four_legged_approaching(rng, seconds, scale=1.7)


def _four_legged_mesh(t: float, gait_hz: float, speed: float) -> Mesh:
    """The dog-sized figure at the origin facing +Z (the viewer), trotting with relative `speed`."""
    phase = 2 * np.pi * gait_hz * t
    bob = 0.02 * np.sin(2 * phase) * speed
    body_y = 0.5 + bob
    parts = [box(np.array([0.0, body_y, 0.0]), (0.32, 0.28, 0.85))]
    # legs swing about the hips, diagonal pairs together (a trot); the figure faces +Z (the viewer)
    for k, (dx, dz) in enumerate(((-0.11, 0.32), (0.11, 0.32), (-0.11, -0.32), (0.11, -0.32))):
        swing = 0.45 * speed * np.sin(phase + (np.pi if k in (1, 2) else 0.0))
        rot = _rot_x(swing)
        hip = np.array([dx, body_y - 0.1, dz])
        parts.append(box(hip + rot @ np.array([0.0, -0.2, 0.0]), (0.08, 0.4, 0.08), rot))
    parts.append(box(np.array([0.0, body_y + 0.22, 0.5]), (0.22, 0.22, 0.26)))        # head
    parts.append(box(np.array([0.0, body_y + 0.17, 0.68]), (0.1, 0.1, 0.14)))          # snout
    parts.append(box(np.array([-0.08, body_y + 0.37, 0.47]), (0.05, 0.1, 0.04)))   # ears
    parts.append(box(np.array([0.08, body_y + 0.37, 0.47]), (0.05, 0.1, 0.04)))
    wag = _rot_x(-0.8 + 0.2 * np.sin(3 * phase))
    parts.append(box(np.array([0.0, body_y + 0.12, -0.48]) + wag @ np.array([0.0, 0.0, -0.12]),
                     (0.05, 0.05, 0.26), wag))                                  # tail
    return merge(parts)


def object_falling(rng: np.random.Generator, seconds: float) -> Callable[[float], Mesh]:
    side = rng.choice([-1.0, 1.0])
    x, z = side * rng.uniform(0.8, 1.1), -rng.uniform(1.6, 2.2)
    size = rng.uniform(0.35, 0.5)
    y0, t0 = 3.2, seconds * rng.uniform(0.1, 0.2)
    rest = size / 2
    fall = np.sqrt(2 * (y0 - rest) / GRAVITY)
    bounce_v = 0.3 * GRAVITY * fall  # restitution 0.3
    spin = rng.uniform(0.5, 1.5)

    def at(t: float) -> Mesh:
        s = t - t0
        if s <= 0:
            y, angle = y0, 0.0
        elif s < fall:
            y, angle = y0 - 0.5 * GRAVITY * s * s, spin * s
        else:
            b = s - fall
            y = rest + max(bounce_v * b - 0.5 * GRAVITY * b * b, 0.0)
            angle = spin * fall
        return box(np.array([x, y, z]), (size, size, size), _rot_x(angle))

    return at


@dataclass(frozen=True)
class Scene:
    name: str
    sub_category: str
    build: Callable[[np.random.Generator, float], Callable[[float], Mesh]]
    text: str


SCENES: dict[str, Scene] = {
    "ball_thrown": Scene("ball_thrown", "ball_thrown_towards", ball_thrown, "a ball is thrown at the viewer"),
    "four_legged_approaching": Scene("four_legged_approaching", "dog_approaching", four_legged_approaching,
                                     "a dog-sized four-legged animal walks up to the viewer"),
    "big_cat_approaching": Scene("big_cat_approaching", "lion_approaching", big_cat_approaching,
                                 "a lion-sized four-legged animal walks up to the viewer"),
    "object_falling": Scene("object_falling", "object_falling_nearby", object_falling,
                            "a box falls to the floor next to the viewer"),
}


def camera_pose() -> np.ndarray:
    """(4, 4) camera-to-world pose of the viewer (OpenGL)."""
    from vimo.pipelines.video.camera import look_at

    return look_at(EYE[None], LOOK_AT[None])[0]


def scene_frames(scene: Scene, *, size: tuple[int, int], fps: float, seconds: float,
                 seed: int) -> list[np.ndarray]:
    """The RGB frames ((H, W, 3) uint8) of one scene variant."""
    from vimo.pipelines.video.render import get_renderer

    at = scene.build(np.random.default_rng(seed), seconds)
    renderer = get_renderer(*size)
    ground = floor()
    pose = camera_pose()
    frames = []
    for i in range(int(round(seconds * fps))):
        v, n, f = merge([ground, at(i / fps)])
        frames.append(renderer.frame(v, n, f, pose, np.radians(YFOV_DEG)))
    return frames


def write_scene_videos(folder: Path, *, size: tuple[int, int] = (320, 240), fps: float = 20.0, seconds: float = 2.0,
                       per_scene: int = 1, seed: int = 0, scenes: tuple[str, ...] = tuple(SCENES)) -> Path:
    """Write `per_scene` variants of each scene as `<scene>-<k>.mp4` and a manifest for `vimo videos add`;
    returns the manifest's path."""
    from vimo.pipelines.video.encode import write_mp4

    folder = Path(folder)
    rows = []
    for s_index, name in enumerate(scenes):
        scene = SCENES[name]
        for k in range(per_scene):
            path = folder / f"{name}-{k}.mp4"
            write_mp4(path, scene_frames(scene, size=size, fps=fps, seconds=seconds,
                                         seed=seed * 1000 + s_index * 100 + k), fps=fps)
            rows.append({"path": path.name, "sub_category": scene.sub_category, "emotion": "", "licence": LICENCE,
                         "source_url": "", "note": f"{NOTE}: {scene.text}", "redistributable": "yes",
                         "synthetic": "yes"})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic.write_text(folder / "manifest.csv", buf.getvalue())


def scene_taxonomy(base: dict[str, Any]) -> dict[str, Any]:
    """A copy of taxonomy data `base` (the schema of vimo/data/taxonomy.json) with the scenes' extra
    sub-categories added where missing."""
    out = {**base, "sub_categories": dict(base["sub_categories"])}
    for slug, entry in EXTRA_SUB_CATEGORIES.items():
        out["sub_categories"].setdefault(slug, dict(entry))
    out["name"] = f"{base.get('name', 'taxonomy')}+external-scenes"
    return out

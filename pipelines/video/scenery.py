"""What surrounds the rendered body: a floor with a subtle grid, soft contact shadows under the body
and a horizon where the floor fades into the sky, so that camera motion, distance and ground
contact show in the video. This module holds the numbers (pure numpy); vimo.pipelines.video.compose_gl
draws them.

    scenery = clip_scenery(joints, meshes.vertices)     # joints (T, 22, 3), vertices (T, V, 3), metres, Y up
    scenery.floor_y, scenery.casters[t]                 # floor height (m); (K, 4) shadow casters of frame t

The floor lies at the lowest point the body's mesh reaches over the clip (feet on the ground,
whatever the source's floor convention). A contact shadow is a soft dark disc on the floor under
each caster joint (pelvis, knees, ankles, feet, hands) that grows wider and fainter as the joint
rises, and is gone above CASTER_FADE_M: feet that touch the floor sit in a dark patch, a raised
foot leaves a faint one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: colours (linear 0-1, drawn as they are): the sky above the horizon is the old flat background
SKY = (0.62, 0.63, 0.65)
FLOOR = (0.50, 0.50, 0.51)
GRID = (0.44, 0.44, 0.45)
#: the far floor fades into this haze; a little darker than the sky, so the horizon shows as a soft line
HAZE = (0.57, 0.58, 0.60)
HAZE_DISTANCE_M = 25.0
GRID_SPACING_M = 1.0
#: caster joints (HumanML3D indices) and their radii (m)
CASTERS = ((0, 0.16), (4, 0.08), (5, 0.08), (7, 0.07), (8, 0.07), (10, 0.07), (11, 0.07), (20, 0.06), (21, 0.06))
#: a caster this high above the floor casts nothing
CASTER_FADE_M = 0.9
#: darkness of a shadow right under a joint that touches the floor (0 = none, 1 = black)
SHADOW_STRENGTH = 0.55


@dataclass
class Scenery:
    """floor_y: the floor's height (m, Y up); casters: (T, K, 4) float32 per frame (x, y, z, radius),
    or None without contact shadows."""

    floor_y: float
    casters: np.ndarray | None


def floor_height(vertices: np.ndarray) -> float:
    """The lowest point of a body's meshes over a clip (vertices (T, V, 3), Y up)."""
    return float(np.min(np.asarray(vertices)[..., 1]))


def shadow_casters(joints: np.ndarray) -> np.ndarray:
    """(T, K, 4) float32: the caster joints of (T, 22, 3) joints with their radii."""
    j = np.asarray(joints, dtype=np.float32)
    idx = [k for k, _ in CASTERS]
    radius = np.array([r for _, r in CASTERS], np.float32)
    return np.concatenate([j[:, idx], np.broadcast_to(radius[None, :, None], (len(j), len(idx), 1))], axis=-1)


def clip_scenery(joints: np.ndarray, vertices: np.ndarray, *, shadows: bool = True) -> Scenery:
    """The scenery of one clip: the floor under the body `vertices` (T, V, 3) and, with `shadows`, the
    casters of its `joints` (T, 22, 3)."""
    return Scenery(floor_height(vertices), shadow_casters(joints) if shadows else None)


def shadow_darkening(point: np.ndarray, floor_y: float, casters: np.ndarray) -> np.ndarray:
    """How much the contact shadows darken floor points `point` (..., 3) for casters (K, 4): a factor
    in [0, 1] (0 = unchanged). The GLSL in compose_gl.BACKDROP_FRAGMENT computes the same."""
    p = np.asarray(point, dtype=np.float64)[..., None, :]
    c = np.asarray(casters, dtype=np.float64)
    height = np.maximum(c[:, 1] - floor_y, 0.0)
    fade = np.clip(1.0 - height / CASTER_FADE_M, 0.0, 1.0) ** 2
    sigma = c[:, 3] + 0.35 * height
    d2 = (p[..., 0] - c[:, 0]) ** 2 + (p[..., 2] - c[:, 2]) ** 2
    a = SHADOW_STRENGTH * fade * np.exp(-d2 / (2 * sigma ** 2))
    return 1.0 - np.prod(1.0 - a, axis=-1)


def shadow_reach(floor_y: float, casters: np.ndarray, sigmas: float) -> tuple[np.ndarray, np.ndarray]:
    """(live (K,) bool, reach (K,) m): which casters cast a shadow, and how far on the floor it darkens
    by more than a full-strength shadow (a caster on the floor) does `sigmas` standard deviations from
    its centre. A raised caster's shadow is fainter, so it fades below that level sooner: its reach is
    sigma * sqrt(2 ln(strength / cut)), `sigmas` sigma for a caster on the floor, and it is not live
    once its strength is under the cut."""
    c = np.asarray(casters, dtype=np.float64)
    height = np.maximum(c[:, 1] - floor_y, 0.0)
    strength = SHADOW_STRENGTH * np.clip(1.0 - height / CASTER_FADE_M, 0.0, 1.0) ** 2
    ratio = strength / (SHADOW_STRENGTH * np.exp(-sigmas ** 2 / 2))
    reach = (c[:, 3] + 0.35 * height) * np.sqrt(2 * np.log(np.maximum(ratio, 1.0)))
    return ratio > 1.0, reach


def shadow_area(floor_y: float, casters: np.ndarray, sigmas: float) -> np.ndarray:
    """(x, z, side) of the floor square holding every live caster's shadow out to `sigmas` standard
    deviations (the shadow map's area)."""
    live, reach = shadow_reach(floor_y, casters, sigmas)
    c = np.asarray(casters, dtype=np.float64)
    if not live.any():
        return np.array([c[0, 0] - 0.5, c[0, 2] - 0.5, 1.0])
    lo = (c[live][:, [0, 2]] - reach[live, None]).min(0)
    hi = (c[live][:, [0, 2]] + reach[live, None]).max(0)
    side = float((hi - lo).max())
    return np.array([lo[0], lo[1], side])

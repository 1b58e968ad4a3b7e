"""The SYNTHETIC external-style scenes: rendered through the clay renderer (EGL), they show what they claim
(a ball growing as it comes at the viewer, animals growing as they walk up, a box falling and coming to
rest), and `vimo videos add` imports their manifest as labelled, synthetic external videos."""
from __future__ import annotations

import numpy as np
import pytest

from vimo.atomic import write_json
from vimo.pipelines.samples.external_scenes import (
    EXTRA_SUB_CATEGORIES, SCENES, box, scene_frames, scene_taxonomy, write_scene_videos,
)
from vimo.pipelines.video.external import ImportOptions, import_videos
from vimo.taxonomy import Taxonomy
from vimo.workspace import Workspace

SIZE, FPS, SECONDS = (96, 72), 10.0, 2.0


def lit(frame: np.ndarray) -> np.ndarray:
    """(H, W) bool: the clay-lit object; the background (~160) and the floor (ambient only, ~115) are darker."""
    return frame.astype(np.float64).mean(-1) > 185


@pytest.fixture(scope="module")
def frames() -> dict[str, list[np.ndarray]]:
    return {name: scene_frames(s, size=SIZE, fps=FPS, seconds=SECONDS, seed=3) for name, s in SCENES.items()}


def test_the_ball_and_the_animal_come_at_the_viewer(frames):
    ball = [int(lit(f).sum()) for f in frames["ball_thrown"]]
    assert ball[0] < 10 and ball[-1] > 40 * max(ball[0], 1)
    assert all(b >= a for a, b in zip(ball[5:], ball[6:]))  # it only grows once in flight
    for name in ("four_legged_approaching", "big_cat_approaching"):
        animal = [int(lit(f).sum()) for f in frames[name]]
        assert animal[-1] > 4 * animal[0] > 0, name
    # the big cat stops further away but stands taller in the last frame than the dog
    tall = {n: np.ptp(np.nonzero(lit(frames[n][-1]).any(1))[0]) for n in ("four_legged_approaching",
                                                                         "big_cat_approaching")}
    assert tall["big_cat_approaching"] > tall["four_legged_approaching"]


def test_the_box_falls_and_comes_to_rest(frames):
    rows = [np.nonzero(lit(f))[0] for f in frames["object_falling"]]
    visible = [i for i, r in enumerate(rows) if len(r)]
    first = visible[0]
    assert first > 0  # it starts above the view
    centre = [rows[i].mean() for i in visible]
    assert centre[-1] > centre[0] + 10  # lower in the image (rows grow downwards)
    assert np.array_equal(frames["object_falling"][-1], frames["object_falling"][-2])  # at rest


def test_box_faces_point_outwards():
    v, n, f = box(np.zeros(3), (1.0, 2.0, 3.0))
    tri = v[f]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    centroid_dir = tri.mean(1)
    assert (np.einsum("ij,ij->i", normal, centroid_dir) > 0).all()
    assert np.allclose(np.abs(v).max(0), [0.5, 1.0, 1.5])


def test_the_manifest_imports_as_labelled_synthetic_videos(tmp_path):
    manifest = write_scene_videos(tmp_path / "scenes", size=SIZE, fps=FPS, seconds=1.0, per_scene=1, seed=1)
    with Workspace.init(tmp_path / "ws") as w:
        write_json(w.root / "taxonomy.json", scene_taxonomy(Taxonomy.default_data()))
    summary = import_videos(ImportOptions(src=manifest, workspace=tmp_path / "ws"))
    assert (summary.imported, summary.quarantined) == (4, 0), summary.lines()
    with Workspace.open(tmp_path / "ws") as w:
        videos = w.catalog.query("videos", "kind='external'")
        subs = {v["provenance"]["labels"]["sub_category"]: v for v in videos}
        assert set(subs) == {"ball_thrown_towards", "dog_approaching", "lion_approaching", "object_falling_nearby"}
        assert {v["provenance"]["labels"]["broad_category"] for v in videos} == {"Scene-Human", "Animal-Human"}
        assert all(v["provenance"]["synthetic"] and v["provenance"]["reencoded"] == [] for v in videos)
        assert all((v["n_frames"], v["width"], v["height"]) == (10, 96, 72) for v in videos)
        assert all("SYNTHETIC" in v["provenance"]["note"] for v in videos)


def test_the_scene_taxonomy_keeps_the_default_and_adds_two():
    base = Taxonomy.default_data()
    tax = Taxonomy.from_dict(scene_taxonomy(base))
    assert set(tax.sub_categories) == set(base["sub_categories"]) | set(EXTRA_SUB_CATEGORIES)
    assert tax.sub("object_falling_nearby").broad == "Scene-Human" and len(base["sub_categories"]) == 32


"""A release with all three broad categories: Human-Human pairs of the dataset workspace plus external videos
(real tiny H.264 files imported with `vimo videos add`) paired from a motion library of single-person clips.
The HERO-style loaders (vimo.models.data: the release view, the RVQ windows, the reaction crops) read it like
any release; the splits and the card count Animal-Human and Scene-Human like Human-Human."""
from __future__ import annotations

import csv
import subprocess

import numpy as np
import pytest

from tests.dataset.conftest import add_clip, build_workspace, write_recipe
from vimo.models.data import MotionWindows, ReactionPlan, ReleaseFolder
from vimo.pairs import assemble_pairs
from vimo.pipelines.video.external import ImportOptions, import_videos
from vimo.release import build_release, verify_release
from vimo.workspace import Workspace

#: external sub-category -> broad category (3 videos each: each stratum can put a video in the test split)
EXTERNAL = {"dog_approaching": "Animal-Human", "lion_approaching": "Animal-Human", "explosion": "Scene-Human",
            "automobile_rush_towards": "Scene-Human"}
PER_SUB = 3


def _mp4(path, pattern: str, seconds: float) -> None:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"{pattern}=size=96x64:rate=20", "-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(path)], check=True)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    base = tmp_path_factory.mktemp("three")
    root = build_workspace(base / "ws", interx=False)
    folder = base / "incoming"
    folder.mkdir()
    rows = ["path,sub_category,licence"]
    for s, sub in enumerate(EXTERNAL):
        for k in range(PER_SUB):
            name = f"{sub}-{k}.mp4"
            _mp4(folder / name, ("testsrc", "testsrc2", "smptebars", "rgbtestsrc")[s], 0.6 + 0.1 * k)
            rows.append(f"{name},{sub},CC-BY-4.0")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    summary = import_videos(ImportOptions(src=folder / "manifest.csv", workspace=root))
    assert summary.imported == len(EXTERNAL) * PER_SUB, summary.lines()
    rng = np.random.default_rng(5)
    with Workspace.open(root) as ws:
        # the motion library: three single-person clips per external sub-category (no actor), labelled
        for sub in EXTERNAL:
            for k in range(PER_SUB):
                add_clip(ws, rng, f"library/{sub}-{k}", "joints", f"{sub}-{k}", {"sub_category": sub},
                         redistributable=True, n_frames=60 + 10 * k)
        added = assemble_pairs(ws, per_external=2)
        for i, pid in enumerate(added.added):
            ws.catalog.set_pair_status(pid, "accepted", motion_quality=4.0 + 0.1 * (i % 5),
                                       reaction_plausibility=3.5 + 0.1 * (i % 7))
    recipe = write_recipe(base / "r.toml", root)
    recipe.write_text(recipe.read_text().replace('unseen_sub_categories = ["grappling", "dancing"]',
                                                 'unseen_sub_categories = ["grappling", "lion_approaching"]'))
    return build_release(recipe).path


def test_all_three_broad_categories_are_released_and_split(release):
    with open(release / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    by_broad: dict[str, set[str]] = {}
    for r in rows:
        by_broad.setdefault(r["broad_category"], set()).add(r["video_kind"])
    assert by_broad == {"Human-Human": {"real", "external"}, "Animal-Human": {"external"},
                        "Scene-Human": {"external"}}
    external = [r for r in rows if r["broad_category"] != "Human-Human"]
    assert len({r["video_id"] for r in external}) == len(EXTERNAL) * PER_SUB
    assert all(r["video_path"].startswith(f"videos/{r['sub_category']}/") for r in external)
    # per-category test subsets, like Human-Human's
    test = set((release / "test.txt").read_text().splitlines())
    for broad in ("human_human", "animal_human", "scene_human"):
        lines = (release / "splits" / f"broad-{broad}.txt").read_text().splitlines()
        assert lines and set(lines) <= test, broad
    # Seen/Unseen over a new sub-category: every lion video is Unseen test, none is in Seen training
    su_test = (release / "splits/seen_unseen/test.txt").read_text()
    su_train = (release / "splits/seen_unseen/train.txt").read_text()
    assert su_test.count("lion_approaching/") == PER_SUB and "lion_approaching/" not in su_train
    # T2: external training videos with their (up to) two library reactions; a reaction whose motion is in val
    # or test (library motions are shared between videos) is left out
    t2 = (release / "splits/t2/train.txt").read_text().splitlines()
    per_video: dict[str, int] = {}
    for line in t2:
        per_video[line.split()[0]] = per_video.get(line.split()[0], 0) + 1
    ext_train = [v for v in per_video if v.split("/")[1] in EXTERNAL]
    assert ext_train and {per_video[v] for v in ext_train} <= {1, 2} and 2 in {per_video[v] for v in ext_train}
    card = (release / "README.md").read_text()
    for broad in ("Human-Human", "Animal-Human", "Scene-Human"):
        assert f"| {broad} |" in card
    # one base pair per video: the 12 imported videos and the dataset workspace's 18 synthetic Human-Human ones
    n_external = len({r["video_id"] for r in rows if r["video_kind"] == "external"})
    assert n_external == len(EXTERNAL) * PER_SUB + 18 and f"{n_external} of these pairs show an external video" in card
    assert verify_release(release) == []


@pytest.mark.parametrize("split", [None, "t2", "seen_unseen"])
def test_the_hero_loaders_read_it(release, split):
    rf = ReleaseFolder(release, split)
    mean, std = rf.statistics()
    assert mean.shape == std.shape == (263,) and (std > 0).all()
    train, test = rf.pairs("train"), rf.pairs("test")
    assert train and test
    for video, motion in train + test:
        assert rf.path(video).is_file() and video.startswith("videos/")
    motions = [rf.motion(m) for m in rf.motions("train")]
    assert all(m.ndim == 2 and m.shape[1] == 263 for m in motions)
    windows = MotionWindows(motions, 16, mean, std)
    assert len(windows) > 0 and windows[len(windows) - 1].shape == (16, 263)
    plan = ReactionPlan([len(m) for m in motions], batch_size=4, seed=0)
    crops = [c for batch in plan.epoch(0) for c in batch]
    assert crops and {c.index for c in crops} <= set(range(len(motions)))
    assert all(c.length % 4 == 0 and c.start + c.length <= len(motions[c.index]) for c in crops)

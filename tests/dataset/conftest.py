"""A small workspace with clips of three sources, their videos and accepted pairs (with scores),
and recipes over it. Features are random (T, 263) arrays written into ws/clips/, videos are tiny
files (the release code copies and checksums them; it never decodes them)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from vimo.atomic import save_npy, write_bytes
from vimo.workspace import Workspace

HARMONY = [("train/01_hugging/001_hugging", "hugging"), ("train/02_grappling/003_grappling", "grappling"),
           ("train/03_grappling2/010_grappling2", "grappling2"), ("test/09_karate/001_karate", "karate"),
           ("test/07_ballroom/002_ballroom", "ballroom"), ("train/04_sword/005_sword", "sword")]
INTERX_ACTIONS = {0: "Hug", 1: "Handshake", 7: "Push", 13: "Walk towards"}
EMOTIONS = ("happily", "angrily", "expressionlessly")


def _features(rng: np.random.Generator, n: int) -> np.ndarray:
    return (rng.normal(size=(n, 263)) * 0.1).astype(np.float32)


def actor_joints(n: int, distance: float = 1.5) -> np.ndarray:
    """(n, 22, 3) float32: a person standing `distance` metres in front of the reactor (the HumanML3D rest pose
    with its pelvis at 0.9 m), facing it."""
    from vimo.motion.skeleton import PARENTS, TARGET_OFFSETS

    pose = np.zeros((22, 3))
    for k in range(1, 22):
        pose[k] = pose[PARENTS[k]] + TARGET_OFFSETS[k] * [-1, 1, -1]
    return np.repeat((pose + [0.0, 0.9, distance])[None], n, axis=0).astype(np.float32)


def camera_doc(frames: int, fps: float = 20.0) -> dict:
    """A vimo-camera-track-v1 document: a camera 2 m behind the clip's origin, 1.6 m up, looking at +Z."""
    pose = np.eye(4)
    pose[:3, 2] = [0.0, 0.0, -1.0]
    pose[:3, 0] = [-1.0, 0.0, 0.0]
    pose[:3, 3] = [0.0, 1.6, -2.0]
    return {"format": "vimo-camera-track-v1", "fps": fps, "width": 64, "height": 48, "yfov_rad": 0.7,
            "convention": "opengl-camera-to-world", "frame": "clip", "camera_to_world": [pose.tolist()] * frames}


def add_clip(ws: Workspace, rng: np.random.Generator, clip_id: str, source: str, sequence: str, labels: dict,
             *, redistributable: bool, n_frames: int | None = None, status: str = "ok", actor: bool = False) -> None:
    n = int(n_frames or rng.integers(30, 160))
    rel = f"clips/{clip_id.replace('/', '_')}/features_reactor.npy"
    save_npy(ws.root / rel, _features(rng, n))
    extra = {}
    if actor:
        extra["actor_joints"] = rel.replace("features_reactor", "joints_actor")
        save_npy(ws.root / extra["actor_joints"], actor_joints(n + 1))  # joints: one frame more than features
    ws.catalog.add_clip(clip_id=clip_id, source=source, sequence_id=sequence, n_frames=n, reactor="r", actor="a",
                        reactor_features=rel, labels=labels, status=status, licence=f"{source} licence",
                        provenance={"source": source, "redistributable": redistributable}, **extra)


def add_video(ws: Workspace, video_id: str, kind: str, clip_id: str | None, parent: str | None = None,
              redistributable: bool | None = None, camera_frames: int | None = None) -> None:
    import hashlib
    import json

    rel = f"videos/{kind}/{video_id}.mp4"
    write_bytes(ws.root / rel, f"fake mp4 of {video_id}".encode())
    prov = {} if redistributable is None else {"redistributable": redistributable}
    if camera_frames is not None:
        data = json.dumps(camera_doc(camera_frames)).encode()
        write_bytes(ws.root / f"videos/{kind}/{video_id}.camera.json", data)
        prov["camera_track"] = {"file": f"{video_id}.camera.json", "sha256": hashlib.sha256(data).hexdigest(),
                                "frames": camera_frames}
    ws.catalog.add_video(video_id=video_id, kind=kind, clip_id=clip_id, parent_video_id=parent, path=rel,
                         provenance=prov)


def build_workspace(root: Path, *, seed: int = 0, interx: bool = True) -> Path:
    """~70 accepted pairs: Harmony4D captures (real videos, labels from the activity), Inter-X
    sequences of 8 subject groups (rendered + restyled videos), synthetic 'walking towards' with three
    emotions, and extra pairing-round reactions for T2/T3."""
    rng = np.random.default_rng(seed)
    with Workspace.init(root) as ws:
        for seq, activity in HARMONY:
            for seg in range(3):
                cid = f"harmony4d/{seq}/{seg}"
                add_clip(ws, rng, cid, "harmony4d", seq, {"activity": activity}, redistributable=True, actor=True)
                add_video(ws, f"h4d-{seq.replace('/', '-')}-{seg}", "real", cid)
                ws.catalog.add_pair(pair_id=f"h4d-{seq.split('/')[-1]}-{seg}",
                                    video_id=f"h4d-{seq.replace('/', '-')}-{seg}", clip_id=cid, status="accepted",
                                    origin="source", motion_quality=float(rng.uniform(3, 5)),
                                    reaction_plausibility=float(rng.uniform(3, 5)))
        if interx:
            for g in range(1, 9):
                for a, name in INTERX_ACTIONS.items():
                    seq = f"G{g:03d}T000A{a:03d}R000"
                    cid = f"interx/{seq}"
                    add_clip(ws, rng, cid, "interx", seq, {"action_id": a, "action": name}, redistributable=False,
                             actor=True)
                    add_video(ws, f"ix-{seq}-render", "rendered", cid,
                              camera_frames=ws.catalog.get("clips", cid)["n_frames"])
                    add_video(ws, f"ix-{seq}", "restyled", cid, parent=f"ix-{seq}-render")
                    ws.catalog.add_pair(pair_id=f"ix-{seq}", video_id=f"ix-{seq}", clip_id=cid, status="accepted",
                                        origin="source", motion_quality=float(rng.uniform(3, 5)),
                                        reaction_plausibility=float(rng.uniform(3, 5)))
        synth_clips = []
        for i in range(18):
            emotion = EMOTIONS[i % 3]
            cid = f"synthetic/approach-{i}"
            add_clip(ws, rng, cid, "synthetic", f"approach-{i}", {"kind": "approach"}, redistributable=True)
            synth_clips.append(cid)
            add_video(ws, f"syn-{i}", "external", None)
            ws.catalog.add_pair(pair_id=f"syn-{i:02d}", video_id=f"syn-{i}", clip_id=cid, status="accepted",
                                origin="pairing", broad_category="Human-Human", sub_category="walking_towards",
                                emotion=emotion, motion_quality=4.5, reaction_plausibility=4.5)
        # extra reactions from pairing rounds: synthetic videos paired with further synthetic motions
        for i in range(18):
            for k in (1, 2):
                j = (i + 3 * k) % 18
                ws.catalog.add_pair(pair_id=f"syn-{i:02d}-x{k}", video_id=f"syn-{i}", clip_id=synth_clips[j],
                                    status="accepted", origin="pairing", broad_category="Human-Human",
                                    sub_category="walking_towards", emotion=EMOTIONS[i % 3],
                                    motion_quality=4.0 - 0.5 * k, reaction_plausibility=4.0)
        # pairs that must stay out: rejected, quarantined clip, too short
        add_clip(ws, rng, "synthetic/short", "synthetic", "short", {"kind": "wave"}, redistributable=True, n_frames=10)
        add_video(ws, "syn-short", "external", None)
        ws.catalog.add_pair(pair_id="zz-short", video_id="syn-short", clip_id="synthetic/short", status="accepted",
                            origin="pairing", motion_quality=4.0, reaction_plausibility=4.0)
        ws.catalog.add_pair(pair_id="zz-rejected", video_id="syn-short", clip_id=synth_clips[0], status="rejected")
    return root


RECIPE = """
[release]
name = "{name}"
version = "{version}"
workspace = "{workspace}"
internal = {internal}
description = "Test release."

[filters]
{filters}

[split]
seed = {seed}
test_fraction = 0.25
unseen_sub_categories = ["grappling", "dancing"]
reactions_per_video = [2, 3]
"""


def write_recipe(path: Path, workspace: Path, *, name: str = "vimo-test", version: str = "1.0.0",
                 internal: bool = True, seed: int = 0,
                 filters: str = "min_motion_quality = 2.0\nmin_reaction_plausibility = 2.0") -> Path:
    path.write_text(RECIPE.format(name=name, version=version, workspace=workspace.as_posix(),
                                  internal=str(internal).lower(), seed=seed, filters=filters))
    return path


@pytest.fixture(scope="session")
def dataset_ws(tmp_path_factory) -> Path:
    return build_workspace(tmp_path_factory.mktemp("dataset") / "ws")


@pytest.fixture(scope="session")
def built_release(dataset_ws, tmp_path_factory) -> Path:
    """One internal release built from the session workspace (read-only for the tests)."""
    from vimo.release import build_release

    recipe = write_recipe(tmp_path_factory.mktemp("recipes") / "r.toml", dataset_ws)
    return build_release(recipe).path


@pytest.fixture
def fresh_ws(tmp_path) -> Path:
    return build_workspace(tmp_path / "ws")


@pytest.fixture
def release_copy(built_release, tmp_path) -> Path:
    dst = tmp_path / built_release.name
    shutil.copytree(built_release, dst)
    return dst

"""Reactions for one video from trained HERO checkpoints, written as files, optionally rendered to mp4
(models generate, pipelines render: `vimo generate` calls `generate_for_video`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class GeneratedReactions:
    """What `generate_for_video` wrote."""

    frames: int
    """frames of each reaction"""
    files: list[Path]
    """features, joints (and mp4) files, in sample order"""


def generate_for_video(video: Path, checkpoints: Path, out: Path, *, length: int = 88, samples: int = 1,
                       preset: str = "hero", encoder: str = "pixel", feature_cache: Path | None = None,
                       seed: int = 10107, device: str = "cpu", mp4: bool = False,
                       size: str = "640x480") -> GeneratedReactions:
    """Writes <out>/<video>_<k>.features.npy (T, 263), <video>_<k>.joints.npy (T, 22, 3) and, with `mp4`,
    <video>_<k>.mp4 for k < samples."""
    from vimo.atomic import save_npy
    from vimo.models.generate import generate_reactions, load_hero
    from vimo.models.train import build_encoder, load_video_frames
    from vimo.models.video_encoder import FeatureCache

    hero = load_hero(checkpoints, preset, device)
    enc = build_encoder(encoder, hero.preset.transformer.video_dim)
    cache = FeatureCache.for_run(out, feature_cache)
    feats_in = cache.features(load_video_frames(video) if video.suffix == ".npy" else video, enc)
    features, joints = generate_reactions(hero, feats_in, frames=length, samples=samples, seed=seed)
    files = []
    for k in range(samples):
        files.append(save_npy(out / f"{video.stem}_{k}.features.npy", features[k]))
        files.append(save_npy(out / f"{video.stem}_{k}.joints.npy", joints[k]))
        if mp4:
            files.append(render_reaction_mp4(joints[k], out / f"{video.stem}_{k}.mp4", size=size))
    return GeneratedReactions(frames=int(features.shape[1]), files=files)


def render_reaction_mp4(joints: np.ndarray, path: Path, *, size: str = "640x480", fps: float = 20.0) -> Path:
    """A generated reaction (T, 22, 3) as a mannequin seen from the front, H.264 yuv420p."""
    from vimo.extras import require

    require("render")
    from vimo.pipelines.video import encode
    from vimo.pipelines.video.camera import camera_path
    from vimo.pipelines.video.render import body_meshes, render_frames

    width, height = (int(v) for v in size.lower().split("x"))
    meshes = body_meshes(joints)
    cam = camera_path("front", joints, None, fps=fps, aspect=width / height)
    encode.write_mp4(path, render_frames(meshes, cam, width, height), fps=fps)
    return path

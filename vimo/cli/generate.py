"""`vimo generate`: reaction motions for a video from trained HERO checkpoints.

Examples:
    vimo generate --video clip.mp4 --checkpoints checkpoints/vimo --encoder tc-clip=zero_shot_k400_tc_clip.pth -o out/
    vimo generate --video clip.mp4 --checkpoints runs/ --preset tiny --length 120 --samples 3 -o out/
Writes <out>/<video>_<k>.features.npy (T, 263) and <out>/<video>_<k>.joints.npy (T, 22, 3) per sample.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

console = Console(stderr=True)


def generate(video: Path = typer.Option(..., "--video", help="video file (mp4, ...) or (F, H, W, 3) uint8 .npy frames"),
             checkpoints: Path = typer.Option(..., "--checkpoints", help="folder with the rvq, mask and res runs"),
             out: Path = typer.Option(..., "--out", "-o", help="output folder"),
             length: int = typer.Option(88, help="frames (rounded down to a multiple of 4, at most 200)"),
             samples: int = typer.Option(1, help="reactions to generate"),
             preset: str = typer.Option("hero", help="sizes of the checkpoints: hero or tiny"),
             encoder: str = typer.Option("pixel", help="pixel | tc-clip=PATH | openai-clip=PATH (as in training)"),
             feature_cache: Optional[Path] = typer.Option(None, help="video feature cache folder"),
             seed: int = typer.Option(10107, help="seed"),
             device: str = typer.Option("cpu", help="torch device"),
             mp4: bool = typer.Option(False, "--mp4", help="also render each reaction to an H.264 mp4 "
                                                          "(needs the render extra)"),
             size: str = typer.Option("640x480", help="--mp4 frame size WxH")) -> None:
    """Generate reaction motions (263-d features and joints) for one video.

    vimo generate --video clip.mp4 --checkpoints runs/ --out gen/ --samples 3 --mp4
    """
    from vimo.atomic import save_npy
    from vimo.models.generate import generate_reactions, load_hero
    from vimo.models.train import build_encoder, load_video_frames
    from vimo.models.video_encoder import FeatureCache

    hero = load_hero(checkpoints, preset, device)
    enc = build_encoder(encoder, hero.preset.transformer.video_dim)
    cache = FeatureCache(feature_cache or out / "video_features")
    feats_in = cache.features(load_video_frames(video) if video.suffix == ".npy" else video, enc)
    features, joints = generate_reactions(hero, feats_in, frames=length, samples=samples, seed=seed)
    for k in range(samples):
        save_npy(out / f"{video.stem}_{k}.features.npy", features[k])
        save_npy(out / f"{video.stem}_{k}.joints.npy", joints[k])
        if mp4:
            render_reaction_mp4(joints[k], out / f"{video.stem}_{k}.mp4", size=size)
    console.print(f"[green]wrote[/] {samples} reaction(s) of {features.shape[1]} frames -> {out}")


def render_reaction_mp4(joints, path: Path, *, size: str = "640x480", fps: float = 20.0) -> Path:
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

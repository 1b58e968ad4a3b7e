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
result = Console()  # results on stdout; progress, notes and errors on stderr


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
    from vimo.flows.generate import generate_for_video
    from vimo.threads import configure_torch_threads

    configure_torch_threads()  # intra-op threads sized to the free cores (vimo.threads)
    done = generate_for_video(video, checkpoints, out, length=length, samples=samples, preset=preset,
                              encoder=encoder, feature_cache=feature_cache, seed=seed, device=device, mp4=mp4,
                              size=size)
    result.print(f"[green]wrote[/] {samples} reaction(s) of {done.frames} frames -> {out}")

"""Rendering speed: end-to-end frames/s (mesh update + render + H.264 encode) against real time, for
`vimo render` as it is and for the path before the speed work (the baseline), in the same run.

    python benchmarks/render.py [--frames 200] [--clips 4] [--workers 2] [--seconds 6] [--device egl:N]

Baseline = pyrender's own shader over the whole frame, no floor, x264 medium (what `vimo render`
did before vimo.pipelines.video.clay_gl / compose_gl). Current = the defaults: clay program inside
the body's screen box, floor + contact shadows + horizon, x264 preset auto (ultrafast at 1280x720).
Measured on synthetic two-person clips (vimo.synthetic, 20 fps, the mannequin body):
1. One process, one clip of --frames frames at 1280x720: frames/s, the ratio to real time (20 fps)
   and the CPU time per frame of this process plus ffmpeg. CPU time is steadier than frames/s when
   other jobs share the machine; `capacity` = cores / CPU time per frame is what the whole machine
   would do with nothing else running (an estimate; part 2 measures it).
2. The whole machine: --clips clips through `vimo render` (local executor, --workers processes) at
   1280x720: aggregate frames/s and ratio to real time, baseline then current, and their ratio.
The load average is printed next to every figure: other jobs lower every frames/s figure, so the
ratio to the baseline measured in the same run is the number to compare across runs.
Interpreter start-up and imports are excluded in part 1 (warm-up frames are rendered first).
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

REAL_TIME_FPS = 20.0
SIZE = (1280, 720)
#: (label, renderer, floor, x264 preset)
PATHS = (("baseline: pyrender shader, no floor, x264 medium", "pyrender", False, "medium"),
         ("current: clay, floor + shadows, x264 auto", "clay", True, "auto"))


def _cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its finished children (ffmpeg)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def one_clip(frames: int, renderer: str, floor: bool, preset: str) -> tuple[float, float]:
    """(frames/s, CPU ms per frame) of mesh update + render + encode of one clip in this process."""
    from vimo.pipelines.video import encode
    from vimo.pipelines.video.camera import camera_path
    from vimo.pipelines.video.render import body_meshes, render_frames
    from vimo.pipelines.video.scenery import clip_scenery
    from vimo.synthetic import generate

    x = generate("handshake", seed=0, fps=20, duration_s=frames / 20)
    w, h = SIZE
    fast = renderer == "clay"
    warm = body_meshes(x.actor[:5])
    list(render_frames(warm, camera_path("front", x.actor[:5], x.reactor[:5], aspect=w / h), w, h, fast=fast,
                       scenery=clip_scenery(x.actor[:5], warm.vertices) if floor else None))
    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), _cpu_seconds()
        meshes = body_meshes(x.actor)
        scenery = clip_scenery(x.actor, meshes.vertices) if floor else None
        path = camera_path("reactor-view", x.actor, x.reactor, fps=20, aspect=w / h)
        # as in vimo render: the clay path hands x264 yuv420p from GL, the reference path RGB
        frames = render_frames(meshes, path, w, h, fast=fast, scenery=scenery, yuv=fast)
        n = encode.write_mp4(Path(tmp) / "b.mp4", frames, fps=20, preset=encode.preset_for(preset, w, h),
                             pix_fmt="yuv420p" if fast else "rgb24")
        return n / (time.perf_counter() - t0), 1000 * (_cpu_seconds() - c0) / n


def machine(ws: Path, workers: int, renderer: str, floor: bool, preset: str, device: str | None = None) -> float:
    """Aggregate frames/s of `vimo render` over every clip of the workspace."""
    from vimo.pipelines.video.render import RenderOptions, render_workspace

    s = render_workspace(RenderOptions(workspace=ws, size=SIZE, workers=workers, force=True, renderer=renderer,
                                       floor=floor, preset=preset, device=device))
    assert s.failed == 0, s.failures
    return s.fps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--clips", type=int, default=4, help="at most 8 (one per interaction kind)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=6.0, help="length of each clip in part 2")
    ap.add_argument("--skip-one", action="store_true", help="skip part 1")
    ap.add_argument("--device", default=None, help="EGL device of part 2, egl:N (default: as vimo render)")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    print(f"real time = {REAL_TIME_FPS:g} frames/s; {SIZE[0]}x{SIZE[1]}; mannequin, reactor-view; {cores} cores; "
          f"{_load()}")
    if not args.skip_one:
        print(f"1. one process, one clip of {args.frames} frames:")
        for label, renderer, floor, preset in PATHS:
            fps, cpu_ms = one_clip(args.frames, renderer, floor, preset)
            print(f"  {label:50s} {fps:6.1f} frames/s = {fps / REAL_TIME_FPS:4.2f} x real time; CPU {cpu_ms:5.1f} "
                  f"ms/frame, capacity {1000 * cores / cpu_ms:5.1f} frames/s ({_load()})", flush=True)
    from vimo.pipelines.samples.video import write_synthetic_workspace

    kinds = ("approach", "wave", "handshake", "push", "dodge", "hug", "walk_past", "high_five")
    print(f"2. {args.clips} clips of {args.seconds:g} s through vimo render, {args.workers} workers"
          f"{'' if args.device is None else ', EGL device ' + args.device}:")
    with tempfile.TemporaryDirectory() as tmp:
        ws = write_synthetic_workspace(Path(tmp) / "ws", kinds=kinds[:args.clips], duration_s=args.seconds)
        rates = []
        for label, renderer, floor, preset in PATHS:
            fps = machine(ws, args.workers, renderer, floor, preset, args.device)
            rates.append(fps)
            print(f"  {label:50s} {fps:6.1f} frames/s = {fps / REAL_TIME_FPS:4.2f} x real time ({_load()})",
                  flush=True)
    print(f"  current / baseline: {rates[1] / rates[0]:4.2f} x")


if __name__ == "__main__":
    main()

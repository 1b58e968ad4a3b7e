"""Rendering speed: end-to-end frames/s (mesh update + render + H.264 encode) against real time.

    python benchmarks/render.py [--frames 200] [--clips 4] [--workers 2]

Measured in one run, on synthetic two-person clips (vimo.synthetic, 20 fps, the mannequin body):
1. One process, one clip of --frames frames, at 640x360 and 1280x720, for pyrender's own shader and
   depth read-back (`fast=False`, the path before vimo.pipelines.video.clay_gl) and the clay program
   with colour-only read-back (the default), for the default encoder preset (medium) and a faster
   one (veryfast): frames/s, the ratio to real time (20 fps), and the CPU time per frame of this
   process plus ffmpeg. The CPU time is steadier than frames/s when other jobs share the machine;
   `capacity` = cores / CPU time per frame is what the whole machine would do with nothing else
   running (an estimate; part 2 measures it).
2. The whole machine: --clips clips of a workspace rendered through `vimo render`'s local executor
   with --workers processes at 1280x720 vs the same clips with one worker: aggregate frames/s,
   the ratio to real time and the speed-up.
Interpreter start-up and imports are excluded (warm-up frames are rendered first).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fixtures

REAL_TIME_FPS = 20.0


def _cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its finished children (ffmpeg)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def one_clip(frames: int, size: tuple[int, int], preset: str, fast: bool) -> tuple[float, float]:
    """(frames/s, CPU ms per frame) of mesh update + render + encode of one clip in this process."""
    from vimo.pipelines.video import encode
    from vimo.pipelines.video.camera import camera_path
    from vimo.pipelines.video.render import body_meshes, render_frames
    from vimo.synthetic import generate

    x = generate("handshake", seed=0, fps=20, duration_s=frames / 20)
    w, h = size
    warm = body_meshes(x.actor[:5])
    list(render_frames(warm, camera_path("front", x.actor[:5], x.reactor[:5], aspect=w / h), w, h, fast=fast))
    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), _cpu_seconds()
        meshes = body_meshes(x.actor)
        path = camera_path("reactor-view", x.actor, x.reactor, fps=20, aspect=w / h)
        n = encode.write_mp4(Path(tmp) / "b.mp4", render_frames(meshes, path, w, h, fast=fast), fps=20,
                             preset=preset)
        return n / (time.perf_counter() - t0), 1000 * (_cpu_seconds() - c0) / n


def machine(clips: int, workers: int, seconds: float) -> tuple[float, float]:
    from tests.fixtures.video import write_synthetic_workspace
    from vimo.pipelines.video.render import RenderOptions, render_workspace

    kinds = ("approach", "wave", "handshake", "push", "dodge", "hug", "walk_past", "high_five")
    with tempfile.TemporaryDirectory() as tmp:
        ws = write_synthetic_workspace(Path(tmp) / "ws", kinds=kinds[:clips], duration_s=seconds)
        out = []
        for n in (1, workers):
            s = render_workspace(RenderOptions(workspace=ws, size=(1280, 720), workers=n, force=True))
            assert s.failed == 0, s.failures
            out.append(s.frames / s.seconds)
        return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--clips", type=int, default=4, help="at most 8 (one per interaction kind)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=6.0, help="length of each clip in part 2")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    print(f"real time = {REAL_TIME_FPS:g} frames/s; one clip of {args.frames} frames, mannequin, reactor-view; "
          f"{cores} cores; load average before: {os.getloadavg()[0]:.2f}")
    for preset in ("medium", "veryfast"):
        for size in ((640, 360), (1280, 720)):
            for fast, label in ((False, "pyrender shader"), (True, "clay program")):
                fps, cpu_ms = one_clip(args.frames, size, preset, fast)
                print(f"  1 process  {size[0]}x{size[1]}  x264 {preset:8s}  {label:15s}  {fps:6.1f} frames/s  "
                      f"= {fps / REAL_TIME_FPS:4.2f} x real time;  CPU {cpu_ms:5.1f} ms/frame, "
                      f"capacity {1000 * cores / cpu_ms:5.1f} frames/s", flush=True)
    one, many = machine(args.clips, args.workers, args.seconds)
    print(f"{args.clips} clips of {args.seconds:g} s at 1280x720 through vimo render (x264 medium):")
    print(f"  1 worker   {one:6.1f} frames/s = {one / REAL_TIME_FPS:4.2f} x real time")
    print(f"  {args.workers} workers  {many:6.1f} frames/s = {many / REAL_TIME_FPS:4.2f} x real time "
          f"(speed-up {many / one:4.2f} x)")
    print(f"load average after: {os.getloadavg()[0]:.2f} (other jobs on the machine lower every frames/s figure)")


if __name__ == "__main__":
    main()

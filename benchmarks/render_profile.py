"""Where the time of one rendered frame goes: each step of `vimo render`'s per-frame work, timed alone.

    python benchmarks/render_profile.py [--frames 100] [--size 1280x720] [--no-floor]

Steps, for one clip (mannequin, reactor-view camera, 20 fps), in one process:
  mesh       building the mannequin of every frame (per frame share)
  scene      swapping the body node and uploading it (pyrender's _update_context)
  body draw  the forward pass into the 4x multisampled framebuffer (rasterisation + shading, under the
             body's scissor box on the fast path), glFinish'ed
  resolve+backdrop+read-back   vimo.pipelines.video.compose_gl: MSAA resolve of the box, the shadow map,
             the fused pass (floor / shadow / horizon, the body laid over it, yuv420p planes) and the
             read-back of the planes, as vimo render does (--reference: the RGB path, pyrender's shader)
  x264 <p>   ffmpeg's CPU time per frame to encode the frames (yuv420p in as from vimo render, rgb24 with
             --reference; yuv420p H.264 out) with preset <p>, the PSNR and the rate
  rgb->yuv   (--reference only) ffmpeg's CPU time per frame for the colour conversion alone
Rendering steps are wall-clock times (llvmpipe spreads a draw over every core), then the same steps' CPU
times (this process, every thread: what limits several workers on a full machine); ffmpeg steps are CPU
times of the child process. The load average is printed next to the figures: other jobs inflate wall-clock times.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _self_cpu() -> float:
    """CPU seconds of this process, every thread (llvmpipe's rasteriser threads included)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def profile_render(frames: int, size: tuple[int, int], fast: bool, scenery: bool) -> tuple[dict[str, float], list]:
    """Per-frame wall-clock ms of each rendering step, and the frames."""
    from OpenGL import GL
    from pyrender.constants import RenderFlags

    from vimo.pipelines.video.camera import camera_path
    from vimo.pipelines.video.render import body_meshes, get_renderer
    from vimo.pipelines.video.scenery import clip_scenery
    from vimo.synthetic import generate

    w, h = size
    x = generate("handshake", seed=0, fps=20, duration_s=frames / 20)
    t0 = time.perf_counter()
    meshes = body_meshes(x.actor)
    mesh_ms = 1000 * (time.perf_counter() - t0) / len(meshes.vertices)
    path = camera_path("reactor-view", x.actor, x.reactor, fps=20, aspect=w / h)
    look = clip_scenery(x.actor, meshes.vertices) if scenery else None
    r = get_renderer(w, h, fast=fast)
    inner = r._renderer._renderer
    flags = RenderFlags.OFFSCREEN
    times = {k: 0.0 for k in ("scene", "body draw (MSAA)", "resolve+backdrop+read-back")}
    cpu = dict.fromkeys(times, 0.0)
    out = []
    n = len(meshes.vertices)
    for t in range(-3, n):  # three warm-up frames
        k = max(t, 0)
        extra = {} if look is None else dict(floor_y=look.floor_y, casters=look.casters[k])
        a, ca = time.perf_counter(), _self_cpu()
        r._pose(meshes.vertices[k], meshes.normals[k], meshes.faces, path.poses[k], path.yfov)
        r._renderer._platform.make_current()
        inner._update_context(r.scene, flags)
        b, cb = time.perf_counter(), _self_cpu()
        # the body pass alone (under the same scissor box as in frame())
        box = r.screen_box(meshes.vertices[k], path.poses[k]) if fast else (0, 0, w, h)
        x0, y0, x1, y1 = box or (0, 0, 0, 0)
        GL.glEnable(GL.GL_SCISSOR_TEST)
        GL.glScissor(x0, y0, x1 - x0, y1 - y0)
        read, inner._read_main_framebuffer = inner._read_main_framebuffer, lambda scene, flags: None
        inner._forward_pass(r.scene, flags)
        GL.glFinish()
        inner._read_main_framebuffer = read
        c, cc = time.perf_counter(), _self_cpu()
        frame = r._compositor.compose(inner._main_fb_ms, box, path.poses[k], path.yfov,
                                      extra.get("floor_y"), extra.get("casters"),
                                      None if look is None else r.shadow_box(look.floor_y, look.casters[k],
                                                                             path.poses[k]), yuv=fast)
        d, cd = time.perf_counter(), _self_cpu()
        if t >= 0:
            for key, dt, dc in zip(times, (b - a, c - b, d - c), (cb - ca, cc - cb, cd - cc)):
                times[key] += dt
                cpu[key] += dc
            out.append(frame)
    res = {"mesh": mesh_ms}
    res.update({k: 1000 * v / n for k, v in times.items()})
    res.update({f"{k} CPU": 1000 * v / n for k, v in cpu.items()})
    return res, out


def profile_ffmpeg(frames: list, fps: float, presets: tuple[str, ...]) -> dict[str, float]:
    """ffmpeg's CPU ms per frame to encode `frames` (RGB (H, W, 3), or planar yuv420p (H * 3 / 2, W) as
    vimo render hands them over) with each x264 preset, the PSNR of the result and its rate; for RGB
    frames also the rgb24 -> yuv420p conversion alone."""
    from vimo.pipelines.video import encode

    ffmpeg = encode._ffmpeg().get_ffmpeg_exe()
    yuv = frames[0].ndim == 2
    h, w = (frames[0].shape[0] * 2 // 3, frames[0].shape[1]) if yuv else frames[0].shape[:2]
    raw = b"".join(f.tobytes() for f in frames)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(f"x264 {p}", ["-c:v", "libx264", "-preset", p, "-crf", str(encode.CRF), "-pix_fmt", "yuv420p",
                               str(Path(tmp) / f"{p}.mp4")]) for p in presets]
        if not yuv:
            jobs.append(("rgb->yuv", ["-pix_fmt", "yuv420p", "-f", "rawvideo", "-y", os.devnull]))
        for name, tail in jobs:
            cmd = [ffmpeg, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p" if yuv else "rgb24",
                   "-s", f"{w}x{h}", "-r", str(fps), "-i", "pipe:0", *tail]
            c0 = _child_cpu()
            subprocess.run(cmd, input=raw, check=True)
            out[name] = 1000 * (_child_cpu() - c0) / len(frames)
            if name.startswith("x264"):
                out[name.replace("x264", "psnr")] = psnr(frames, Path(tail[-1]), ffmpeg, yuv)
                out[name.replace("x264", "kB/s")] = Path(tail[-1]).stat().st_size / 1000 / (len(frames) / fps)
    return out


def psnr(frames: list, mp4: Path, ffmpeg: str, yuv: bool) -> float:
    """PSNR (dB; over the RGB channels, or over the yuv420p planes) of the decoded video against the
    frames that were encoded."""
    from vimo.pipelines.video import encode

    if yuv:
        raw = subprocess.run([ffmpeg, "-v", "error", "-i", str(mp4), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"],
                             capture_output=True, check=True).stdout
        decoded = np.frombuffer(raw, np.uint8).reshape(-1, *frames[0].shape)
    else:
        decoded = encode.read_frames(mp4)
    err = [np.mean((a.astype(np.float64) - b) ** 2) for a, b in zip(frames, decoded)]
    return float(10 * np.log10(255 ** 2 / max(np.mean(err), 1e-12)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--no-floor", action="store_true", help="without the floor, contact shadows and horizon")
    ap.add_argument("--reference", action="store_true", help="pyrender's own shader instead of the clay program")
    ap.add_argument("--presets", default="medium,veryfast,superfast,ultrafast")
    args = ap.parse_args()
    from vimo.pipelines.video.encode import parse_size

    size = parse_size(args.size)
    print(f"{args.size}, {args.frames} frames, {'pyrender shader' if args.reference else 'clay program'}, "
          f"scenery {'off' if args.no_floor else 'on'}; {os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}")
    res, frames = profile_render(args.frames, size, not args.reference, not args.no_floor)
    res.update(profile_ffmpeg(frames, 20.0, tuple(args.presets.split(","))))
    for k, v in res.items():
        unit = "dB" if k.startswith("psnr") else "kB/s" if k.startswith("kB/s") else "ms/frame"
        print(f"  {k:16s} {v:8.1f} {unit}")
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())

"""H.264 mp4 files that play in a browser: writing frames (yuv420p, constant frame rate, faststart,
atomic) and reading back what a file holds (codec, pixel format, size, frame count, fps).

Both go through the static ffmpeg that the imageio-ffmpeg wheel ships (it includes libx264), so no
system ffmpeg is needed.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from vimo.errors import InputFormatError, VimoError

CRF = 18
PRESET = "medium"


def _ffmpeg():
    from vimo.extras import require

    return require("render", "imageio_ffmpeg")


def check_size(width: int, height: int) -> None:
    """yuv420p needs even dimensions; imageio would silently pad them otherwise."""
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise VimoError(f"video size {width}x{height} is not usable", fix="pass an even WIDTHxHEIGHT, e.g. 1280x720")


def parse_size(text: str) -> tuple[int, int]:
    """'1280x720' -> (1280, 720), checked."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise VimoError(f"size {text!r} is not WIDTHxHEIGHT", fix="pass e.g. --size 1280x720") from None
    check_size(w, h)
    return w, h


def write_mp4(path: str | Path, frames: Iterable[np.ndarray], *, fps: float, crf: int = CRF,
              preset: str = PRESET) -> int:
    """Encode RGB frames ((H, W, 3) uint8, all one size) to an H.264 yuv420p mp4, atomically (a
    temporary file renamed into place once ffmpeg has finished). Returns the number of frames."""
    ffmpeg = _ffmpeg()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.mp4")
    writer = None
    count = 0
    size = None
    try:
        for frame in frames:
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise VimoError(f"frame {count} is {frame.dtype} {frame.shape}, expected (H, W, 3) uint8",
                                path=path, fix="pass RGB uint8 frames")
            if writer is None:
                size = (frame.shape[1], frame.shape[0])
                check_size(*size)
                writer = ffmpeg.write_frames(
                    str(tmp), size, fps=fps, codec="libx264", pix_fmt_in="rgb24", pix_fmt_out="yuv420p",
                    macro_block_size=1, quality=None,
                    output_params=["-crf", str(crf), "-preset", preset, "-movflags", "+faststart",
                                   "-fps_mode", "cfr"])
                writer.send(None)
            elif (frame.shape[1], frame.shape[0]) != size:
                raise VimoError(f"frame {count} is {frame.shape[1]}x{frame.shape[0]}, the video is "
                                f"{size[0]}x{size[1]}", path=path, fix="pass frames of one size")
            writer.send(np.ascontiguousarray(frame))
            count += 1
        if writer is None:
            raise VimoError("no frame to encode", path=path, fix="pass at least one frame")
        writer.close()
        writer = None
        os.replace(tmp, path)
    finally:
        if writer is not None:
            try:
                writer.close()
            except Exception:  # noqa: BLE001  (the original error matters, not the encoder's)
                pass
        if tmp.exists():
            tmp.unlink()
    return count


@dataclass
class VideoInfo:
    codec: str
    pix_fmt: str
    width: int
    height: int
    fps: float
    n_frames: int

    def as_record(self) -> dict:
        return {"codec": self.codec, "width": self.width, "height": self.height, "fps": self.fps,
                "n_frames": self.n_frames}


def probe(path: str | Path) -> VideoInfo:
    """What a video file holds (the frame count is counted, not estimated from the duration)."""
    ffmpeg = _ffmpeg()
    path = Path(path)
    if not path.is_file():
        raise InputFormatError("video file does not exist", path=path, fix="check the path or re-create the video")
    try:
        reader = ffmpeg.read_frames(str(path))
        meta = next(reader)
        reader.close()
        n_frames, _ = ffmpeg.count_frames_and_secs(str(path))
    except (OSError, RuntimeError, StopIteration) as exc:
        raise InputFormatError(f"is not a readable video ({type(exc).__name__}: {str(exc).splitlines()[0]})",
                               path=path, fix="re-create the video") from None
    return VideoInfo(codec=str(meta.get("codec")), pix_fmt=str(meta.get("pix_fmt", "")).split("(")[0],
                     width=int(meta["size"][0]), height=int(meta["size"][1]), fps=float(meta["fps"]),
                     n_frames=int(n_frames))


def read_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Decode a video to RGB frames ((H, W, 3) uint8)."""
    ffmpeg = _ffmpeg()
    reader = ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    for raw in reader:
        yield np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()

"""H.264 mp4 files that play in a browser: writing frames (yuv420p, constant frame rate, faststart,
atomic) and reading back what a file holds (codec, pixel format, size, frame count, fps).

Both go through the static ffmpeg that the imageio-ffmpeg wheel ships (it includes libx264), so no
system ffmpeg is needed.
"""
from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from vimo.errors import InputFormatError, VimoError

CRF = 18
PRESET = "medium"
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
#: `auto`: the x264 preset chosen by frame size. Measured on clay renders with the floor at 1280x720,
#: CRF 18 (benchmarks/render_profile.py): medium 44.6 ms CPU/frame, 44.6 dB, 82 kB/s; veryfast 22.5 ms,
#: 44.6 dB, 76 kB/s; superfast 15.5 ms, 44.8 dB, 196 kB/s; ultrafast 8.6 ms, 44.7 dB, 261 kB/s. From
#: 1280x720 up, ultrafast keeps medium's PSNR for a fifth of the encoder CPU (files about 3x larger, still
#: about 2 Mbit/s); below it medium costs little and keeps files smallest.
AUTO_PRESET_FROM_PIXELS = 1280 * 720


def preset_for(preset: str, width: int, height: int) -> str:
    """The x264 preset to use: `preset` itself, or for `auto` the one for this frame size."""
    if preset != "auto":
        return preset
    return "ultrafast" if width * height >= AUTO_PRESET_FROM_PIXELS else "medium"
#: frames waiting for the encoder pipe (each 2.7 MB at 1280x720)
QUEUE_FRAMES = 4


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


class _PipeFeeder:
    """Sends frames to the ffmpeg writer from a thread, so that producing the next frame (rendering,
    decoding) overlaps with pushing this one through the pipe. A send error is kept and raised in
    the producer by `put` / `finish`; after one, the thread only drains the queue (the producer
    never blocks on a dead consumer)."""

    def __init__(self, writer: Any):
        self._writer = writer
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mp4-feeder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            frame = self._queue.get()
            if frame is None:
                return
            if self.error is None:
                try:
                    self._writer.send(frame)
                except BaseException as exc:  # noqa: BLE001  (re-raised in the producer)
                    self.error = exc

    def put(self, frame: np.ndarray) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put(frame)

    def finish(self) -> None:
        """Wait until every queued frame is sent; raise the send error, if any."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self.error is not None:
            raise self.error


def frame_size(frame: np.ndarray, pix_fmt: str) -> tuple[int, int] | None:
    """(width, height) of an rgb24 frame (H, W, 3) or a yuv420p frame (H * 3 / 2, W) (the Y plane, then
    the U and V planes of (H / 2, W / 2) each, row after row), uint8; None when it is neither."""
    if frame.dtype != np.uint8:
        return None
    if pix_fmt == "rgb24" and frame.ndim == 3 and frame.shape[2] == 3:
        return frame.shape[1], frame.shape[0]
    if pix_fmt == "yuv420p" and frame.ndim == 2 and frame.shape[0] % 3 == 0 and frame.shape[1] % 2 == 0:
        return frame.shape[1], frame.shape[0] * 2 // 3
    return None


def write_mp4(path: str | Path, frames: Iterable[np.ndarray], *, fps: float, crf: int = CRF,
              preset: str = PRESET, pix_fmt: str = "rgb24") -> int:
    """Encode frames (all one size; `pix_fmt` rgb24: RGB (H, W, 3) uint8; yuv420p: planar BT.601
    limited-range YUV (H * 3 / 2, W) uint8, passed to x264 without conversion) to an H.264 yuv420p
    mp4, atomically (a temporary file renamed into place once ffmpeg has finished). Returns the
    number of frames. Frames are fed to ffmpeg from a thread while the next one is produced."""
    ffmpeg = _ffmpeg()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.mp4")
    writer = None
    feeder = None
    count = 0
    size = None
    try:
        expected = "(H, W, 3) uint8" if pix_fmt == "rgb24" else "(H * 3 / 2, W) uint8"
        for frame in frames:
            this = frame_size(frame, pix_fmt)
            if this is None:
                raise VimoError(f"frame {count} is {frame.dtype} {frame.shape}, expected {pix_fmt} {expected}",
                                path=path, fix=f"pass {pix_fmt} uint8 frames")
            if writer is None:
                size = this
                check_size(*size)
                writer = ffmpeg.write_frames(
                    str(tmp), size, fps=fps, codec="libx264", pix_fmt_in=pix_fmt, pix_fmt_out="yuv420p",
                    macro_block_size=1, quality=None,
                    output_params=["-crf", str(crf), "-preset", preset, "-movflags", "+faststart",
                                   "-fps_mode", "cfr"])
                writer.send(None)
                feeder = _PipeFeeder(writer)
            elif this != size:
                raise VimoError(f"frame {count} is {this[0]}x{this[1]}, the video is "
                                f"{size[0]}x{size[1]}", path=path, fix="pass frames of one size")
            feeder.put(np.ascontiguousarray(frame))
            count += 1
        if writer is None:
            raise VimoError("no frame to encode", path=path, fix="pass at least one frame")
        feeder.finish()
        writer.close()
        writer = None
        os.replace(tmp, path)
    finally:
        if feeder is not None:
            try:
                feeder.finish()
            except BaseException:  # noqa: BLE001  (the original error matters, not the feeder's)
                pass
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



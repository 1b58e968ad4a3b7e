"""Real stimulus videos: the frames of one camera over each clip's frame range, as an mp4 that is
synchronised with the clip's motion (same first frame, same fps), registered as a `real` video.

    vimo clips cut egohumans /data/egohumans --workspace ws                  # the reactor's Aria
    vimo clips cut harmony4d /data/Harmony4D --workspace ws --camera exo:cam05 --size 1280x720

Frames come from the official image folders (docs/sources.md §7), 1-based file numbers
equal to the motion's source frame numbers:
    aria        <seq>/ego/<reactor>/images/rgb/NNNNN.jpg   (what the reactor saw)
    exo:camNN   <seq>/exo/camNN/images/NNNNN.jpg           (a static GoPro)
Frames dropped in capture (a known gap in some image folders) are filled with the previous frame
so the video keeps one frame per motion frame; the count is recorded, and a clip missing more than
MAX_FILLED_FRACTION of its frames fails. Aria frames are written as stored (`aria_orientation`
"stored"): the stored rgb images are the native sensor image turned 90 degrees clockwise
(x' = W - y, y' = x), which is the upright view; "native" turns them back to the sensor's
orientation. Checked against the official EgoHumans code (lib/datasets/aria_camera.py): its image
size is "for the rotated images wrt to humans", the `rotated_rgb` folder holds "the original VRS
format images", and its undistortion turns a stored frame 90 degrees counter-clockwise into the
sensor frame, remaps it and turns it back clockwise. So the stored frames are what the wearer saw
upright; undoing the turn is only for work in the sensor frame (calibration, projection).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from vimo.atomic import sha256_file
from vimo import __version__
from vimo.errors import InputFormatError, VimoError
from vimo.pipelines.convert import canonical_fps
from vimo.pipelines.video import encode
from vimo.pipelines.video.batch import VideoResult, VideoSummary, run_and_record

SOURCES = ("egohumans", "harmony4d")
MAX_FILLED_FRACTION = 0.1
_EXO = re.compile(r"^exo:(cam\d\d)$")


def camera_folder(camera: str, reactor: str) -> str:
    """The image folder of a camera inside a sequence folder."""
    if camera == "aria":
        return f"ego/{reactor}/images/rgb"
    m = _EXO.match(camera)
    if m is None:
        raise VimoError(f"unknown camera {camera!r}", fix="use aria or exo:camNN (e.g. exo:cam01)")
    return f"exo/{m.group(1)}/images"


def camera_slug(camera: str) -> str:
    return camera.replace(":", "-")


@dataclass
class CutOptions:
    """How `vimo clips cut` runs. Each field is also a flag (vimo.cli.options)."""

    source: str
    """egohumans or harmony4d"""
    src: Path
    """root folder of the dataset (the one vimo convert read)"""
    workspace: Path
    """the build workspace"""
    camera: str = "aria"
    """aria (the reactor's glasses) or exo:camNN"""
    size: tuple[int, int] | None = None
    """(width, height) to resize to, even (on the command line: WIDTHxHEIGHT); default: the camera's size"""
    aria_orientation: str = "stored"
    """stored (upright, as the dataset ships them) or native (the Aria sensor's orientation)"""
    workers: int = 1
    """parallel clips (processes, or Ray CPUs)"""
    executor: str = "local"
    """local (process pool) or ray"""
    ray_address: str | None = None
    """Ray cluster address (default: RAY_ADDRESS, else a local instance)"""
    limit: int | None = None
    """cut only the first N clips"""
    force: bool = False
    """cut again even when the video validates"""

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise VimoError(f"real clips can be cut from {', '.join(SOURCES)}, not {self.source!r}",
                            fix="render the clips of other sources with vimo render")
        self.src = Path(self.src).expanduser().absolute()
        self.workspace = Path(self.workspace).expanduser()
        camera_folder(self.camera, "aria01")
        if self.size is not None:
            encode.check_size(*self.size)
        if self.aria_orientation not in ("stored", "native"):
            raise VimoError(f"--aria-orientation must be stored or native, got {self.aria_orientation!r}",
                            fix="pass --aria-orientation stored")


@dataclass(frozen=True)
class CutJob:
    workspace: str
    src: str
    clip_id: str
    sequence_id: str
    reactor: str
    frames: tuple[int, ...]
    fps: float
    camera: str
    size: tuple[int, int] | None
    aria_orientation: str
    out_rel: str
    licence: str | None


class CutResult(VideoResult):
    """status: cut | failed."""


@dataclass
class CutSummary(VideoSummary):
    cut: int = 0
    filled_frames: int = 0


def frame_numbers(clip: dict[str, Any]) -> tuple[int, ...]:
    """The source frame numbers of a clip's rows, from its catalog row (first, last, count, source fps)."""
    n, first, last = int(clip["n_frames"]), clip["frame_start"], clip["frame_end"]
    stride = (last - first) / (n - 1) if n > 1 else 1
    if first is None or last is None or abs(stride - round(stride)) > 1e-6 or round(stride) < 1:
        raise InputFormatError(f"clip {clip['clip_id']} spans source frames {first}-{last} in {n} rows, not an "
                               "integer stride", path=None, fix="re-run vimo convert for this source")
    return tuple(int(first) + int(round(stride)) * i for i in range(n))


def load_frames(folder: Path, numbers: tuple[int, ...]) -> tuple[list[Path], int]:
    """The image file of every frame number; dropped frames take the previous (or next) file.
    Returns (paths, how many were filled)."""
    found = [folder / f"{n:05d}.jpg" for n in numbers]
    exists = [p.is_file() for p in found]
    if not any(exists):
        raise InputFormatError(f"holds none of frames {numbers[0]:05d}-{numbers[-1]:05d}.jpg", path=folder,
                               fix="check --camera and that the sequence's images were extracted")
    missing = exists.count(False)
    if missing > MAX_FILLED_FRACTION * len(numbers):
        first = found[exists.index(False)]
        raise InputFormatError(f"{missing} of {len(numbers)} frames are missing (first {first.name})", path=folder,
                               fix="re-extract the image archive or exclude the clip")
    out: list[Path] = []
    last = found[exists.index(True)]
    for p, ok in zip(found, exists):
        last = p if ok else last
        out.append(last)
    return out, missing


def _frames(job: CutJob, paths: list[Path]) -> Iterator[np.ndarray]:
    from PIL import Image

    size = job.size
    for p in paths:
        try:
            with Image.open(p) as im:
                im = im.convert("RGB")
                if job.camera == "aria" and job.aria_orientation == "native":
                    im = im.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise: undo the stored turn
                if size is None:
                    w, h = im.size
                    size = (w - w % 2, h - h % 2)
                if im.size != size:
                    im = im.resize(size, Image.Resampling.BILINEAR)
                yield np.asarray(im, dtype=np.uint8)
        except OSError as exc:
            raise InputFormatError(f"is not a readable image ({exc})", path=p,
                                   fix="re-extract the image archive") from None


def cut_clip(job: CutJob) -> CutResult:
    """One unit of work: the clip's frames -> mp4. Never raises for bad input."""
    try:
        seq = Path(job.src) / job.sequence_id
        folder = seq / camera_folder(job.camera, job.reactor)
        paths, filled = load_frames(folder, job.frames)
        out = Path(job.workspace) / job.out_rel
        n = encode.write_mp4(out, _frames(job, paths), fps=job.fps)
        info = encode.probe(out)
        if info.n_frames != n:
            raise VimoError(f"the file holds {info.n_frames} frames, {n} were written", path=out,
                            fix="run vimo clips cut again")
        record = {
            "video_id": f"{job.clip_id}.real-{camera_slug(job.camera)}", "kind": "real", "clip_id": job.clip_id,
            "path": job.out_rel, "checksum": sha256_file(out), **info.as_record(), "licence": job.licence,
            "status": "ok",
            "provenance": {"camera": job.camera, "folder": str(folder.relative_to(job.src)),
                           "first_frame": job.frames[0], "last_frame": job.frames[-1], "filled_frames": filled,
                           "aria_orientation": job.aria_orientation if job.camera == "aria" else None,
                           "size": list(job.size) if job.size else None, "vimo_version": __version__,
                           "pix_fmt": info.pix_fmt},
        }
        return CutResult(job.clip_id, "cut", record=record, frames=n)
    except VimoError as exc:
        return CutResult(job.clip_id, "failed", reason=exc.one_line())
    except Exception as exc:  # noqa: BLE001
        return CutResult(job.clip_id, "failed", reason=f"{job.src}/{job.sequence_id}: unexpected "
                         f"{type(exc).__name__}: {exc}")


def cut_workspace(options: CutOptions, progress: Callable[[CutResult, int, int], None] | None = None) -> CutSummary:
    """Cut the real video of every ok clip of `options.source` in the workspace catalog."""
    from vimo.pipelines.executors import make_executor
    from vimo.workspace import Workspace

    t0 = time.perf_counter()
    if not options.src.is_dir():
        raise InputFormatError(f"the {options.source} root folder does not exist", path=options.src,
                               fix="pass the folder the dataset was extracted to")
    ws = Workspace.open(options.workspace)
    slug = camera_slug(options.camera)
    summary = CutSummary(camera=options.camera)
    kind = f"cut:{slug}"
    try:
        clips = ws.catalog.clips(status="ok", source=options.source)
        if options.limit is not None:
            clips = clips[: options.limit]
        jobs = []
        for c in clips:
            vid = f"{c['clip_id']}.real-{slug}"
            row = ws.catalog.get("videos", vid)
            if not options.force and row is not None and (ws.root / row["path"]).is_file() \
                    and sha256_file(ws.root / row["path"]) == row["checksum"]:
                summary.skipped += 1
                continue
            try:
                numbers = frame_numbers(c)
            except VimoError as exc:
                summary.failed += 1
                summary.failures.append((c["clip_id"], exc.one_line()))
                continue
            jobs.append(CutJob(workspace=str(options.workspace), src=str(options.src), clip_id=c["clip_id"],
                               sequence_id=c["sequence_id"], reactor=c["reactor"], frames=numbers, fps=canonical_fps(),
                               camera=options.camera, size=options.size, aria_orientation=options.aria_orientation,
                               out_rel=f"videos/real/{slug}/{c['clip_id']}.mp4", licence=c.get("licence")))
        summary.clips = len(clips)
        ws.catalog.enqueue(kind, [j.clip_id for j in jobs])
        executor = make_executor(options.executor, options.workers, options.ray_address)

        def filled(result: CutResult) -> None:
            summary.filled_frames += result.record["provenance"]["filled_frames"]

        run_and_record(ws, kind, executor, cut_clip, jobs, summary, done="cut", total=len(jobs), on_done=filled,
                       progress=progress)
    finally:
        ws.close()
    summary.seconds = time.perf_counter() - t0
    return summary

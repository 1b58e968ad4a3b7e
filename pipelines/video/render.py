"""Render one person's motion of every clip: one clay-lit body on a neutral background, headless
(pyrender on EGL; Mesa's software device is enough), encoded to an H.264 yuv420p mp4 and
registered in the workspace catalog as a `rendered` video of its clip.

    from vimo.pipelines.video.render import RenderOptions, render_workspace
    summary = render_workspace(RenderOptions(workspace="ws", camera="reactor-view", size=(1280, 720)))
    summary = render_workspace(RenderOptions(workspace="ws", subject="reactor"))   # the rendered reaction

`subject="actor"` (default) renders the actor, by default from the reactor's eyes (`reactor-view`):
the stimulus the reactor saw. `subject="reactor"` renders the reactor's motion, by default with the
third-person `front` camera facing the reactor: the "rendered reaction" that rating rounds show
next to the input video. The catalog row's `provenance.subject` says which ("actor" / "reactor").

The body is the SMPL-family mesh of a model file when `body_models` is given (posed by inverse
kinematics from the clip's joints: clips keep joints, not model parameters), else a mannequin
built from the 22 joints, so rendering never needs licensed files. The lights are a three-point
rig attached to the camera, so the side the camera sees is always lit.

Output (actor): <ws>/videos/rendered/<camera>/<clip_id>.mp4, video id `<clip_id>.render-<camera>`,
jobs kind "render:<camera>"; (reactor): <ws>/videos/rendered/reaction/<camera>/<clip_id>.mp4, video
id `<clip_id>.reaction-<camera>`, jobs kind "render-reaction:<camera>". The catalog row's provenance
holds the render settings, and a re-run skips a clip whose file still has the recorded checksum and
settings.

A run holds the workspace's writer lock (vimo.workspace.writer_lock) and starts by deleting the
temporary mp4 files of killed runs (`remove_video_leftovers`).
"""
from __future__ import annotations

import os

# Must be set before OpenGL is first imported anywhere in the process (PyOpenGL reads it once).
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import re  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable, Iterator  # noqa: E402

import numpy as np  # noqa: E402

from vimo import __version__  # noqa: E402
from vimo.atomic import sha256_file  # noqa: E402
from vimo.errors import InputFormatError, MotionError, VimoError  # noqa: E402
from vimo.pipelines.video import encode  # noqa: E402
from vimo.pipelines.video.batch import VideoResult, VideoSummary, run_and_record  # noqa: E402
from vimo.pipelines.video.camera import CAMERAS, CameraPath, camera_path  # noqa: E402
from vimo.pipelines.video.mannequin import build_mannequin, vertex_normals  # noqa: E402
from vimo.pipelines.video.scenery import Scenery, clip_scenery  # noqa: E402
from vimo.workspace import clips_dir  # noqa: E402

#: the render format: bump when the look of a rendered video changes (re-runs then redo every clip)
RENDER_VERSION = 3  # 3: the mannequin tessellated to one outline error, the gamma polynomial
#: the flat background without the floor (the sky above the horizon with it)
BACKGROUND = (0.62, 0.63, 0.65)
CLAY = (0.80, 0.74, 0.68)
#: (yaw deg, pitch deg, intensity): key from the upper left, fill from the right, rim from behind
LIGHT_RIG = ((-35.0, -30.0, 2.3), (40.0, -10.0, 0.9), (180.0, -35.0, 1.8))
AMBIENT = 0.22
#: whose motion a render shows, and the camera each uses by default
SUBJECTS = ("actor", "reactor")
#: clay: the fast path; pyrender: pyrender's own shader over the whole frame (the reference)
RENDERERS = ("clay", "pyrender")
DEFAULT_CAMERA = {"actor": "reactor-view", "reactor": "front"}


def _pyrender():
    """pyrender, imported headless, with the numpy-2 shim pyrender 0.1.45 needs (Mesh.bounds uses np.infty)."""
    from vimo.extras import require

    if not hasattr(np, "infty"):
        np.infty = np.inf  # type: ignore[attr-defined]
    return require("render", "pyrender")


def _rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """4x4 pose turning a camera-frame light (shining along -Z) by yaw about +Y, then pitch about +X."""
    y, p = np.radians(yaw_deg), np.radians(pitch_deg)
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    pose = np.eye(4)
    pose[:3, :3] = ry @ rx
    return pose


class ClayRenderer:
    """One offscreen renderer with a clay material, a camera-attached light rig and a backdrop (the
    floor, contact shadows and horizon of vimo.pipelines.video.scenery, or the flat background).

    Reuse one per process (`get_renderer`): replacing an EGL renderer without `close()` first breaks
    the context (EGL_BAD_DISPLAY). pyrender draws the body into its 4x multisampled buffer over
    transparent black; vimo.pipelines.video.compose_gl resolves it and lays it over the backdrop.
    `fast` (default) draws the body with the specialised clay program (vimo.pipelines.video.clay_gl)
    and only inside a scissor box around the projected body; False keeps pyrender's own shader over
    the whole frame (the reference the fast path is tested against).
    """

    def __init__(self, width: int, height: int, *, fast: bool = True, device: int | None = None):
        pr = _pyrender()
        encode.check_size(width, height)
        self.width, self.height = width, height
        self._pr = pr
        self._renderer = None
        self._renderer = _offscreen_renderer(pr, width, height, device)
        self.device = device
        self.scene = pr.Scene(bg_color=[0.0, 0.0, 0.0, 0.0], ambient_light=[AMBIENT] * 3)
        self._camera = pr.PerspectiveCamera(yfov=np.radians(40.0), aspectRatio=width / height, znear=0.05,
                                            zfar=100.0)
        self._camera_node = self.scene.add(self._camera, pose=np.eye(4))
        for yaw, pitch, intensity in LIGHT_RIG:
            light = pr.DirectionalLight(color=[1.0, 1.0, 1.0], intensity=intensity)
            self.scene.add(light, pose=_rotation(yaw, pitch), parent_node=self._camera_node)
        self._material = pr.MetallicRoughnessMaterial(baseColorFactor=[*CLAY, 1.0], metallicFactor=0.0,
                                                      roughnessFactor=0.75)
        self._body = None
        self.fast = fast
        from vimo.pipelines.video import compose_gl

        self._compositor = compose_gl.Compositor(width, height, exact_shadows=not fast)
        self._frame_args: dict[str, Any] = {}
        inner = self._renderer._renderer  # pyrender.Renderer of the offscreen renderer
        if fast:
            from vimo.pipelines.video import clay_gl

            inner._program_cache = clay_gl.program_cache(len(LIGHT_RIG))
        inner._read_main_framebuffer = self._reader(inner)

    def _reader(self, inner: Any) -> Any:
        """pyrender's read-back replaced for plain RGB renders by the compositing steps (frame top row
        first, no depth); renders that ask for depth, RGBA or segmentation go to pyrender's own reader."""
        from pyrender.constants import RenderFlags

        original = inner._read_main_framebuffer

        def read(scene: Any, flags: Any) -> Any:
            if flags & (RenderFlags.DEPTH_ONLY | RenderFlags.RGBA | RenderFlags.SEG) or not self._frame_args:
                return original(scene, flags)
            return self._compositor.compose(inner._main_fb_ms, **self._frame_args), None

        return read

    def screen_box(self, points: np.ndarray, camera_pose: np.ndarray, margin: int = 2
                   ) -> tuple[int, int, int, int] | None:
        """The GL pixel box (x0, y0, x1, y1) holding every projected point ((N, 3), world) with a margin,
        the whole frame when a point is behind the camera, None when the box is out of view."""
        w, h = self.width, self.height
        m = self._camera.get_projection_matrix(w, h) @ np.linalg.inv(camera_pose)
        clip = np.asarray(points, dtype=np.float64).reshape(-1, 3) @ m[:, :3].T + m[:, 3]
        if (clip[:, 3] <= 1e-6).any():
            return 0, 0, w, h
        ndc = clip[:, :2] / clip[:, 3:]
        lo, hi = ndc.min(0), ndc.max(0)
        x0, y0 = (int(np.floor((v + 1) / 2 * n)) - margin for v, n in zip(lo, (w, h)))
        x1, y1 = (int(np.ceil((v + 1) / 2 * n)) + margin for v, n in zip(hi, (w, h)))
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None

    def shadow_box(self, floor_y: float, casters: np.ndarray, camera_pose: np.ndarray
                   ) -> tuple[int, int, int, int] | None:
        """The screen box of the floor squares the contact shadows of `casters` ((K, 4)) reach."""
        from vimo.pipelines.video.compose_gl import SHADOW_REACH_SIGMA
        from vimo.pipelines.video.scenery import shadow_reach

        live, reach = shadow_reach(floor_y, casters, SHADOW_REACH_SIGMA)
        if not live.any():
            return None
        reach = reach[live]
        corners = []
        for sx, sz in ((-1, -1), (-1, 1), (1, -1), (1, 1)):
            corners.append(np.stack([casters[live, 0] + sx * reach, np.full(live.sum(), floor_y),
                                     casters[live, 2] + sz * reach], axis=-1))
        return self.screen_box(np.concatenate(corners), camera_pose)

    def frame(self, vertices: np.ndarray, normals: np.ndarray, faces: np.ndarray, camera_pose: np.ndarray,
              yfov: float, *, floor_y: float | None = None, casters: np.ndarray | None = None,
              yuv: bool = False) -> np.ndarray:
        """One RGB frame (H, W, 3) uint8 of the body (vertices/normals (V, 3), faces (F, 3)) seen from
        `camera_pose` (4x4 camera-to-world, OpenGL), over the floor at `floor_y` with contact shadows
        of `casters` ((K, 4), scenery.shadow_casters), or over the flat background (`floor_y` None).
        `yuv`: the frame as x264 takes it, planar yuv420p (H * 3 / 2, W) uint8 (compose_gl.Compositor)."""
        from OpenGL import GL

        self._pose(vertices, normals, faces, camera_pose, yfov)
        whole = (0, 0, self.width, self.height)
        self._camera.yfov = float(yfov)
        box = self.screen_box(vertices, camera_pose) if self.fast else whole
        shadows = None
        if floor_y is not None and casters is not None:
            shadows = self.shadow_box(floor_y, casters, camera_pose) if self.fast else whole
        self._frame_args = dict(box=box, camera_pose=camera_pose, yfov=float(yfov), floor_y=floor_y, casters=casters,
                                shadow_box=shadows, yuv=yuv)
        try:
            with warnings.catch_warnings():
                # PyOpenGL 3.1.0 (pinned by pyrender) calls numpy's deprecated tostring() on some calls
                warnings.filterwarnings("ignore", message=r".*tostring\(\) is deprecated",
                                        category=DeprecationWarning)
                self._renderer._platform.make_current()
                x0, y0, x1, y1 = box or (0, 0, 0, 0)
                GL.glEnable(GL.GL_SCISSOR_TEST)  # pyrender's clear and draws stay inside the body's box
                GL.glScissor(x0, y0, x1 - x0, y1 - y0)
                color, _ = self._renderer.render(self.scene)
        finally:
            self._frame_args = {}
        return color

    def _pose(self, vertices: np.ndarray, normals: np.ndarray, faces: np.ndarray, camera_pose: np.ndarray,
              yfov: float, t: int = 0) -> None:
        """Put this frame's body and camera into the scene."""
        pr = self._pr
        if self._body is not None:
            self.scene.remove_node(self._body)
        prim = pr.Primitive(positions=vertices, normals=normals, indices=faces, material=self._material)
        self._body = self.scene.add(pr.Mesh([prim]))
        self._camera.yfov = float(yfov)
        self.scene.set_pose(self._camera_node, camera_pose)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer._platform.make_current()
            self._compositor.delete()
            self._renderer.delete()
            self._renderer = None


def parse_device(text: str | None) -> int | None:
    """'egl:N' -> N (the EGL device index); None or 'egl' -> None (the default device)."""
    if text is None or text == "egl":
        return None
    m = re.fullmatch(r"egl:(\d+)", text.strip())
    if m is None:
        raise VimoError(f"render device {text!r} is not egl:N", fix="pass e.g. --device egl:0 (see `vimo info`)")
    return int(m.group(1))


def egl_devices() -> int:
    """How many EGL devices the machine exposes (Mesa's software device counts as one)."""
    _pyrender()
    from pyrender.platforms import egl

    try:
        return len(egl.query_devices())
    except RuntimeError:  # no device-query extension: only the default display
        return 1


def _offscreen_renderer(pr: Any, width: int, height: int, device: int | None) -> Any:
    """pyrender's OffscreenRenderer on EGL device `device` (None: EGL_DEVICE_ID, else 0)."""
    if device is not None:
        n = egl_devices()
        if device >= n:
            have = "none" if n == 0 else f"{n} (egl:0{'' if n == 1 else f' .. egl:{n - 1}'})"
            raise VimoError(f"EGL device {device} does not exist: this machine has {have}",
                            fix="pass --device egl:0, or check the GPU driver's EGL vendor file (`vimo info`)")
        os.environ["EGL_DEVICE_ID"] = str(device)
    try:
        return pr.OffscreenRenderer(width, height)
    except Exception as exc:  # noqa: BLE001  (EGL/driver errors come in many types)
        raise VimoError(f"headless OpenGL (EGL) is not available: {type(exc).__name__}: {exc}",
                        fix="install libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libgbm1 libxrender1 "
                            "(apt-get) and keep PYOPENGL_PLATFORM=egl") from None


_RENDERER: ClayRenderer | None = None


def get_renderer(width: int, height: int, *, fast: bool = True, device: int | None = None) -> ClayRenderer:
    """The process's renderer at this size (the previous one is deleted first when the size, the
    path or the device changes)."""
    global _RENDERER
    key = (width, height, fast, device)
    if _RENDERER is not None and (_RENDERER.width, _RENDERER.height, _RENDERER.fast, _RENDERER.device) != key:
        _RENDERER.close()
        _RENDERER = None
    if _RENDERER is None:
        _RENDERER = ClayRenderer(width, height, fast=fast, device=device)
    return _RENDERER


# ----------------------------------------------------------------------------- bodies

@dataclass
class BodyMeshes:
    """vertices, normals (T, V, 3) float32; faces (F, 3) int32; `kind` says what was built."""

    vertices: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    kind: str


def body_meshes(joints: np.ndarray, *, body_models: str | Path | None = None, model_type: str = "smpl",
                gender: str = "neutral", cache_dir: str | Path | None = None) -> BodyMeshes:
    """The meshes of one person's motion (joints (T, 22, 3), metres, Y up): the mannequin, or the
    SMPL-family mesh posed from the joints when `body_models` names a model folder or file."""
    if body_models is None:
        m = build_mannequin(joints)
        return BodyMeshes(m.vertices, m.normals, m.faces, "mannequin")
    from vimo.pipelines.body import load_body_model
    from vimo.pipelines.video.posing import pose_body_model

    model = load_body_model(body_models, model_type, gender, cache_dir=cache_dir)
    verts, faces = pose_body_model(model, joints)
    return BodyMeshes(verts.astype(np.float32), vertex_normals(verts, faces), faces.astype(np.int32),
                      f"{model.model_type}-{model.gender}:{model.sha256[:12]}")


def render_frames(meshes: BodyMeshes, path: CameraPath, width: int, height: int, *, fast: bool = True,
                  scenery: Scenery | None = None, device: int | None = None, yuv: bool = False
                  ) -> Iterator[np.ndarray]:
    """RGB frames (H, W, 3) uint8 (`yuv`: planar yuv420p (H * 3 / 2, W) uint8), one per mesh frame,
    over the floor of `scenery` (None: the flat background). `fast`: see ClayRenderer."""
    renderer = get_renderer(width, height, fast=fast, device=device)
    for t in range(len(meshes.vertices)):
        extra: dict[str, Any] = {"yuv": yuv}
        if scenery is not None:
            extra.update(floor_y=scenery.floor_y, casters=None if scenery.casters is None else scenery.casters[t])
        yield renderer.frame(meshes.vertices[t], meshes.normals[t], meshes.faces, path.poses[t], path.yfov, **extra)


def resample(joints: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Linear resampling of (T, 22, 3) joints; the same array when the rates agree."""
    if abs(fps_in - fps_out) < 1e-9:
        return joints
    t = len(joints)
    n = max(2, int(round((t - 1) * fps_out / fps_in)) + 1)
    src = np.arange(t) / fps_in
    dst = np.arange(n) / fps_out
    flat = joints.reshape(t, -1)
    out = np.stack([np.interp(dst, src, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    return out.reshape(n, *joints.shape[1:])


# ----------------------------------------------------------------------------- workspace runs

@dataclass
class RenderOptions:
    """How `vimo render` runs. Each field is also a flag (vimo.cli.options)."""

    workspace: Path
    """the build workspace"""
    camera: str | None = None
    """reactor-view (the reactor's eyes), front or orbit; default: reactor-view for the actor, front for the
    reactor"""
    size: tuple[int, int] = (1280, 720)
    """(width, height) in pixels, even (on the command line: WIDTHxHEIGHT)"""
    fps: float = 20.0
    """output frame rate (20 = one frame per motion frame)"""
    body_models: Path | None = None
    """folder of SMPL-family model files; without it a mannequin is built from the joints"""
    model_type: str = "smpl"
    """smpl, smplh or smplx (with body_models)"""
    gender: str = "neutral"
    """neutral, male or female (with body_models)"""
    workers: int = 1
    """parallel clips (processes, or Ray CPUs)"""
    executor: str = "local"
    """local (process pool) or ray"""
    ray_address: str | None = None
    """Ray cluster address (default: RAY_ADDRESS, else a local instance)"""
    crf: int = encode.CRF
    """x264 constant rate factor (quality; lower is better)"""
    preset: str = "auto"
    """x264 encoder speed: auto (default: ultrafast from 1280x720 up, which gives medium's PSNR at CRF 18 on
    clay renders for a fifth of the encoder CPU, in files about 3x larger; medium below) or any x264 preset"""
    clip_ids: list[str] | None = None
    """render only these clips (default: every ok clip of the catalog that has an actor)"""
    limit: int | None = None
    """render only the first N clips"""
    force: bool = False
    """render again even when the video validates"""
    subject: str = "actor"
    """actor (the stimulus) or reactor (the rendered reaction)"""
    floor: bool = True
    """draw a floor with a subtle grid and a horizon (--no-floor: the flat grey background of earlier renders)"""
    shadows: bool = True
    """soft contact shadows on the floor under the body (with the floor)"""
    device: str | None = None
    """EGL device to render on, egl:N (default: EGL_DEVICE_ID, else egl:0; Mesa's software device is one)"""
    renderer: str = "clay"
    """clay (default: the specialised clay program inside the body's screen box) or pyrender (pyrender's own
    shader over the whole frame: the slower reference, within 2 grey levels of clay)"""

    def __post_init__(self) -> None:
        self.workspace = Path(self.workspace).expanduser()
        if self.subject not in SUBJECTS:
            raise VimoError(f"unknown subject {self.subject!r}", fix=f"use one of: {', '.join(SUBJECTS)}")
        if self.camera is None:
            self.camera = DEFAULT_CAMERA[self.subject]
        if self.camera not in CAMERAS:
            raise VimoError(f"unknown camera {self.camera!r}", fix=f"use one of: {', '.join(CAMERAS)}")
        if self.subject == "reactor" and self.camera == "reactor-view":
            raise VimoError("the reactor-view camera looks out of the reactor's eyes, so it cannot show the reactor",
                            fix="render the reactor with --camera front (default) or --camera orbit")
        encode.check_size(*self.size)
        if self.preset != "auto" and self.preset not in encode.PRESETS:
            raise VimoError(f"unknown x264 preset {self.preset!r}",
                            fix=f"use auto or one of: {', '.join(encode.PRESETS)}")
        if not 1 <= self.fps <= 120:
            raise VimoError(f"--fps must be within 1-120, got {self.fps}", fix="pass e.g. --fps 20")
        if self.body_models is not None:
            self.body_models = Path(self.body_models).expanduser()
        parse_device(self.device)
        if self.renderer not in RENDERERS:
            raise VimoError(f"unknown renderer {self.renderer!r}", fix=f"use one of: {', '.join(RENDERERS)}")


@dataclass(frozen=True)
class RenderJob:
    """One clip to render (picklable, for the executors)."""

    workspace: str
    clip_id: str
    out_rel: str
    camera: str
    width: int
    height: int
    fps: float
    body_models: str | None
    model_type: str
    gender: str
    crf: int
    preset: str
    subject: str = "actor"
    floor: bool = True
    shadows: bool = True
    device: int | None = None
    renderer: str = "clay"

    def settings(self) -> dict[str, Any]:
        """What the look of the file depends on (the subject is in the video id, not here; the device
        only says where it was drawn)."""
        s = asdict(self)
        for k in ("workspace", "clip_id", "out_rel", "subject", "device"):
            s.pop(k)
        s["render_version"] = RENDER_VERSION
        return s


class RenderResult(VideoResult):
    """status: rendered | skipped | failed."""


@dataclass
class RenderSummary(VideoSummary):
    subject: str = "actor"
    rendered: int = 0
    video_fps: float = 20.0
    """the videos' frame rate (real time)"""
    remaining_clips: int = 0
    """clips of the catalog this run did not render (outside --limit / --clip, or failed)"""
    remaining_frames: int = 0
    """their video frames"""

    @property
    def fps(self) -> float:
        """rendered frames per wall-clock second of the whole run"""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def realtime(self) -> float:
        """seconds of video per wall-clock second"""
        return self.fps / self.video_fps

    @property
    def projected_s(self) -> float | None:
        """wall-clock seconds the remaining clips would take at this run's rate (None: no rate)"""
        return self.remaining_frames / self.fps if self.fps > 0 else None

    def as_dict(self) -> dict[str, Any]:
        return dict(super().as_dict(), fps=self.fps, realtime=self.realtime, projected_s=self.projected_s)


def format_duration(seconds: float | None) -> str:
    """'3.2 h', '12 min', '40 s' ('unknown' for None)."""
    if seconds is None:
        return "unknown"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def video_id(clip_id: str, camera: str, subject: str = "actor") -> str:
    """`<clip>.render-<camera>` for the actor (the stimulus), `<clip>.reaction-<camera>` for the reactor."""
    return f"{clip_id}.{'render' if subject == 'actor' else 'reaction'}-{camera}"


def output_path(clip_id: str, camera: str, subject: str = "actor") -> str:
    """The video's path relative to the workspace root."""
    folder = camera if subject == "actor" else f"reaction/{camera}"
    return f"videos/rendered/{folder}/{clip_id}.mp4"


def job_kind(camera: str, subject: str = "actor") -> str:
    """The catalog's jobs kind of a render run."""
    return f"render:{camera}" if subject == "actor" else f"render-reaction:{camera}"


def load_clip_joints(clip_dir: Path) -> tuple[dict, np.ndarray | None, np.ndarray]:
    """(meta, actor (T, 22, 3) or None, reactor (T, 22, 3)) of a validated clip folder."""
    from vimo.pipelines.convert import validate_clip

    meta = validate_clip(clip_dir)
    files = meta["files"]
    reactor = np.load(clip_dir / files["joints_reactor"]["path"]).astype(np.float64)
    actor = None
    if "joints_actor" in files:
        actor = np.load(clip_dir / files["joints_actor"]["path"]).astype(np.float64)
    for who, arr in (("actor", actor), ("reactor", reactor)):
        if arr is not None and not np.isfinite(arr).all():
            raise MotionError(f"the {who}'s joints hold NaN or inf", path=clip_dir, fix="re-run vimo convert")
    return meta, actor, reactor


def render_clip(job: RenderJob) -> RenderResult:
    """One unit of work (runs in a worker): clip joints -> meshes -> frames -> mp4. Never raises for
    bad input: the result says why it failed."""
    t0 = time.perf_counter()
    ws = Path(job.workspace)
    try:
        meta, actor, reactor = load_clip_joints(clips_dir(ws) / job.clip_id)
        if actor is None and job.subject == "actor":
            raise MotionError("the clip has no actor to render (a single-person source)",
                              path=clips_dir(ws) / job.clip_id, fix="render clips of two-person sources")
        clip_fps = float(meta.get("fps", 20.0))
        actor_r = None if actor is None else resample(actor, clip_fps, job.fps)
        reactor_r = resample(reactor, clip_fps, job.fps)
        # the camera frames the subject; the other person is only the reactor-view camera's eyes
        subject, other = (actor_r, reactor_r) if job.subject == "actor" else (reactor_r, actor_r)
        meshes = body_meshes(subject, body_models=job.body_models, model_type=job.model_type, gender=job.gender,
                             cache_dir=ws / "cache" / "body")
        path = camera_path(job.camera, subject, other, fps=job.fps, aspect=job.width / job.height)
        out = ws / job.out_rel
        scenery = clip_scenery(subject, meshes.vertices, shadows=job.shadows) if job.floor else None
        # the clay path hands x264 yuv420p straight from GL; the reference path keeps ffmpeg's conversion
        yuv = job.renderer == "clay"
        frames = render_frames(meshes, path, job.width, job.height, scenery=scenery, device=job.device,
                               fast=job.renderer == "clay", yuv=yuv)
        n = encode.write_mp4(out, frames, fps=job.fps, crf=job.crf, preset=job.preset,
                             pix_fmt="yuv420p" if yuv else "rgb24")
        track = write_camera_track(out, path, fps=job.fps, width=job.width, height=job.height)
        info = encode.probe(out)
        if info.n_frames != n or (info.width, info.height) != (job.width, job.height):
            raise VimoError(f"the encoded file holds {info.n_frames} frames at {info.width}x{info.height}, "
                            f"{n} at {job.width}x{job.height} were written", path=out, fix="re-run vimo render")
        record = {
            "video_id": video_id(job.clip_id, job.camera, job.subject), "kind": "rendered", "clip_id": job.clip_id,
            "path": job.out_rel, "checksum": sha256_file(out), **info.as_record(),
            "licence": (meta.get("provenance") or {}).get("licence"), "status": "ok",
            "provenance": {"subject": job.subject, "body": meshes.kind,
                           "renderer": "pyrender-egl/"
                           + ("clay-program" if job.renderer == "clay" else "pyrender-shader"),
                           "settings": job.settings(),
                           "clip_checksum": meta["files"][f"joints_{job.subject}"]["sha256"], "clip_fps": clip_fps,
                           "vimo_version": __version__, "pix_fmt": info.pix_fmt, "camera_track": track},
        }
        return RenderResult(job.clip_id, "rendered", record=record, frames=n, seconds=time.perf_counter() - t0)
    except VimoError as exc:
        return RenderResult(job.clip_id, "failed", reason=exc.one_line(), seconds=time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001  (one bad clip must not stop the batch)
        return RenderResult(job.clip_id, "failed", reason=f"{ws / 'clips' / job.clip_id}: unexpected "
                            f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - t0)


#: the format of a rendered video's camera-track sidecar
CAMERA_TRACK_FORMAT = "vimo-camera-track-v1"


def camera_track_path(video: Path) -> Path:
    """`<stem>.camera.json` next to the video."""
    return video.with_name(f"{video.stem}.camera.json")


def camera_track(path: CameraPath, *, fps: float, width: int, height: int) -> dict[str, Any]:
    """The camera of every frame as the sidecar's JSON object: 4x4 camera-to-world matrices (OpenGL:
    the camera looks along its -Z, +Y up; row-major) in the clip's frame (the reactor's canonical
    frame, metres, Y up), and the pinhole intrinsics (vertical field of view, square pixels, principal
    point at the centre)."""
    return {"format": CAMERA_TRACK_FORMAT, "fps": float(fps), "width": int(width), "height": int(height),
            "yfov_rad": float(path.yfov), "convention": "opengl-camera-to-world", "frame": "clip",
            "camera_to_world": np.round(np.asarray(path.poses, dtype=np.float64), 7).tolist()}


def write_camera_track(video: Path, path: CameraPath, *, fps: float, width: int, height: int) -> dict[str, Any]:
    """Write the sidecar next to `video` (atomically); returns its provenance entry
    {"file", "sha256", "frames"}."""
    import json

    from vimo.atomic import write_text

    track = camera_track(path, fps=fps, width=width, height=height)
    sidecar = write_text(camera_track_path(video), json.dumps(track, separators=(",", ":")) + "\n")
    return {"file": sidecar.name, "sha256": sha256_file(sidecar), "frames": int(len(path.poses))}


def _up_to_date(ws: Any, job: RenderJob) -> bool:
    """True when the catalog row, the file's checksum and the settings all match (a re-run skips it).
    An actor render made before subjects were recorded gets `provenance.subject` added."""
    row = ws.catalog.get("videos", video_id(job.clip_id, job.camera, job.subject))
    if row is None or row.get("provenance", {}).get("settings") != job.settings():
        return False
    try:
        path = ws.resolve(row["path"])
    except VimoError:
        return False
    clip_meta = clips_dir(ws.root) / job.clip_id / "meta.json"
    if not path.is_file() or not clip_meta.is_file():
        return False
    import json

    sha = json.loads(clip_meta.read_text()).get("files", {}).get(f"joints_{job.subject}", {}).get("sha256")
    if sha != row["provenance"].get("clip_checksum") or sha256_file(path) != row["checksum"]:
        return False
    track = row["provenance"].get("camera_track")
    sidecar = camera_track_path(path)
    if track is None or not sidecar.is_file() or sha256_file(sidecar) != track.get("sha256"):
        return False
    if row["provenance"].get("subject") != job.subject:
        ws.catalog.add_video(video_id=row["video_id"], provenance={**row["provenance"], "subject": job.subject})
    return True


def make_jobs(options: RenderOptions, clips: list[dict]) -> list[RenderJob]:
    w, h = options.size
    return [RenderJob(workspace=str(options.workspace), clip_id=c["clip_id"],
                      out_rel=output_path(c["clip_id"], options.camera, options.subject), camera=options.camera,
                      width=w, height=h, fps=float(options.fps),
                      body_models=None if options.body_models is None else str(options.body_models),
                      model_type=options.model_type, gender=options.gender, crf=options.crf,
                      preset=encode.preset_for(options.preset, w, h),
                      subject=options.subject, floor=options.floor, shadows=options.floor and options.shadows,
                      device=parse_device(options.device), renderer=options.renderer)
            for c in clips]


#: `.<stem>.<pid>.tmp.mp4`: the temporary file of vimo.pipelines.video.encode.write_mp4
_TMP_MP4 = re.compile(r"^\..+\.(\d+)\.tmp\.mp4$")


def remove_video_leftovers(workspace: str | Path) -> list[Path]:
    """Delete the temporary mp4 files under videos/ whose writer process is gone (a killed render or
    cut); returns them. A file whose pid is alive is kept: it may be another run's file in progress."""
    from vimo.workspace import pid_alive, videos_dir

    gone = []
    root = videos_dir(workspace)
    if root.is_dir():
        for f in sorted(root.rglob(".*.tmp.mp4")):
            m = _TMP_MP4.match(f.name)
            if m and f.is_file() and not pid_alive(int(m.group(1))):
                f.unlink(missing_ok=True)
                gone.append(f)
    return gone


def render_workspace(options: RenderOptions,
                     progress: Callable[[RenderResult, int, int], None] | None = None) -> RenderSummary:
    """Render the subject of every ok clip of the workspace catalog (or of `options.clip_ids`) through
    the chosen executor: the actor of two-person clips, or the reactor of every clip; registers each
    video in the catalog; returns the summary."""
    from vimo.pipelines.executors import make_executor
    from vimo.workspace import Workspace, writer_lock

    t0 = time.perf_counter()
    with writer_lock(options.workspace, "render"):
        remove_video_leftovers(options.workspace)
        ws = Workspace.open(options.workspace)
        summary = RenderSummary(camera=options.camera, subject=options.subject, video_fps=float(options.fps))
        kind = job_kind(options.camera, options.subject)
        try:
            clips = [c for c in ws.catalog.clips(status="ok") if c.get(f"{options.subject}_joints")]
            eligible = clips
            if options.clip_ids is not None:
                known = {c["clip_id"] for c in clips}
                unknown = [c for c in options.clip_ids if c not in known]
                if unknown:
                    what = "an ok two-person clip" if options.subject == "actor" else "an ok clip"
                    raise InputFormatError(f"clip {unknown[0]!r} is not {what} of the catalog",
                                           path=ws.root, fix="list the clips with: vimo clips list --workspace WS")
                wanted = set(options.clip_ids)
                clips = [c for c in clips if c["clip_id"] in wanted]
            if options.limit is not None:
                clips = clips[: options.limit]
            jobs = make_jobs(options, clips)
            summary.clips = len(jobs)
            ws.catalog.enqueue(kind, [j.clip_id for j in jobs])
            todo = []
            for job in jobs:
                if not options.force and _up_to_date(ws, job):
                    summary.skipped += 1
                    ws.catalog.finish(kind, job.clip_id)
                    if progress is not None:
                        progress(RenderResult(job.clip_id, "skipped"), summary.skipped, len(jobs))
                else:
                    todo.append(job)
            # spawned, not forked: a child forked from a process that holds an EGL / llvmpipe context
            # hangs in its first render (measured: `--workers 2` after a render in the parent never ended)
            executor = make_executor(options.executor, options.workers, options.ray_address, start_method="spawn")
            run_and_record(ws, kind, executor, render_clip, todo, summary, done="rendered", total=len(jobs),
                           first=summary.skipped + 1, progress=progress)
            done = {j.clip_id for j in jobs} - {cid for cid, _ in summary.failures}
            left = [c for c in eligible if c["clip_id"] not in done]
            summary.remaining_clips = len(left)
            summary.remaining_frames = int(sum(round(int(c.get("n_frames") or 0) * options.fps
                                                     / float(c.get("fps") or options.fps)) for c in left))
        finally:
            ws.close()
    summary.seconds = time.perf_counter() - t0
    return summary

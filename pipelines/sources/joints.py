"""Raw joint files: (T, 22, 3) .npy from anywhere, with the frame rate and up axis given by the user.

    vimo convert joints my_mocap/ --workspace ws --fps 30 --up-axis +z
    vimo synth generate --out synth/ && vimo convert joints synth/ --workspace ws --fps 20

`<name>_actor.npy` + `<name>_reactor.npy` side by side form a pair (the layout `vimo synth`
writes); any other .npy is a single person (a reactor without an actor). Frames are resampled
to 20 fps by time (`sample_positions`): by striding when the rate is a multiple of 20 (frames 0, k,
2k, ...), else by linear interpolation at t = k / 20 s exactly.
The bodies must agree with the declared up axis (within canonical.DECLARED_UP_TOLERANCE_DEG).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vimo.motion.skeleton import FPS
from vimo.atomic import load_npy
from vimo.errors import InputFormatError
from vimo.pipelines import canonical
from vimo.pipelines.sources.base import (
    ClipRef, Source, SourceConfig, TwoPersonMotion, printable_name, register_source,
)
from vimo.motion import check_joints

# ----------------------------------------------------------------------------- conventions
TARGET_FPS = FPS  # HumanML3D frame rate (vimo.motion.skeleton)
JOINT_ORDER = "SMPL (HumanML3D 22 joints)"
LICENCE = "as declared by the user (--licence)"

EXPECTED_TREE = """\
<root>/
  <name>_actor.npy, <name>_reactor.npy    a pair, (T, 22, 3) each
  <other>.npy                              one person, (T, 22, 3) (or (T, J>22, 3): first 22 used)"""


@dataclass
class JointsConfig(SourceConfig):
    """Raw joints options (the files carry no metadata, so the user states it)."""

    fps: float = field(default=20.0, metadata={"help": "frame rate of the files"})
    up_axis: str = field(default="+y", metadata={"help": "up axis of the files: +y, +z, -z, ..."})
    licence: str = field(default="unknown", metadata={"help": "licence of the data, recorded in every clip"})


#: a source rate within this relative distance of an integer multiple of the target is strided: AMASS
#: stores e.g. 59.999996 for 60 fps captures; 1e-5 drifts less than a millisecond per minute
STRIDE_RATE_TOLERANCE = 1e-5


def integer_stride(fps: float, target: float = TARGET_FPS) -> int | None:
    """k when `fps` is k x `target` (within STRIDE_RATE_TOLERANCE), else None (59.94 / 20, 250 / 20)."""
    ratio = fps / target
    k = int(round(ratio))
    return k if k >= 1 and abs(ratio - k) <= STRIDE_RATE_TOLERANCE * ratio else None


def sample_positions(n_frames: int, fps: float, target: float = TARGET_FPS) -> tuple[np.ndarray, int | None]:
    """Where the `target`-rate samples t = k / target s fall in a source of `n_frames` at `fps`, as (K,)
    float source-frame positions (t x fps) within [0, n_frames - 1], and the stride when the rate is an
    integer multiple of the target (positions are then exactly 0, k, 2k, ..., as HumanML3D keeps)."""
    stride = integer_stride(fps, target)
    if stride is not None:
        return np.arange(0, n_frames, stride, dtype=np.float64), stride
    count = int(np.floor((n_frames - 1) * target / fps + 1e-9)) + 1
    return np.minimum(np.arange(count) * (fps / target), n_frames - 1), None


def interpolate_linear(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(T, ...) values at fractional frame `positions` (K,) -> (K, ...), linear between neighbours."""
    i0 = np.clip(np.floor(positions).astype(int), 0, len(values) - 1)
    i1 = np.clip(i0 + 1, 0, len(values) - 1)
    w = (positions - i0).reshape((-1,) + (1,) * (values.ndim - 1))
    return (1 - w) * values[i0] + w * values[i1]


def resample(joints: np.ndarray, fps: float, target: float = TARGET_FPS) -> tuple[np.ndarray, np.ndarray]:
    """(T, 22, 3) at `fps` -> (joints at `target`, source frame position of each row (float)): the stride
    frames when the rate is an integer multiple, else positions linearly interpolated."""
    positions, stride = sample_positions(len(joints), fps, target)
    if stride is not None:
        return joints[positions.astype(int)], positions
    return interpolate_linear(joints, positions), positions


def resample_record(fps: float, method: str) -> dict:
    """Provenance of a resampling to 20 fps: {"method": "stride", "stride": k} when the rate is an integer
    multiple of 20, else {"method": `method`, "source_fps": fps, "target_fps": 20}."""
    stride = integer_stride(fps)
    if stride is not None:
        return {"method": "stride", "stride": stride}
    return {"method": method, "source_fps": float(fps), "target_fps": float(TARGET_FPS)}


@register_source("joints")
class JointsSource(Source):
    config_class = JointsConfig
    config: JointsConfig
    summary = "Raw joints: (T, 22, 3) .npy files (pairs as <name>_actor/_reactor.npy), fps and up axis given"
    licence = LICENCE
    expected_tree = EXPECTED_TREE

    def preflight(self) -> list[str]:
        if not self.root.is_dir():
            return [f"{self.root}: the joints folder does not exist"]
        problems = []
        if not any(self.root.rglob("*.npy")):
            problems.append(f"{self.root}: holds no .npy file")
        if not 1 <= self.config.fps <= 1000:
            problems.append(f"--fps must be within 1-1000, got {self.config.fps}")
        try:
            canonical.axis_vector(self.config.up_axis)
        except Exception as exc:  # noqa: BLE001  (reported as a preflight line)
            problems.append(str(exc))
        return problems

    def discover(self) -> list[ClipRef]:
        files = sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*.npy"))
        present = set(files)
        refs = []
        for rel in files:
            if rel.endswith("_reactor.npy") and rel[:-12] + "_actor.npy" in present:
                continue
            if rel.endswith("_actor.npy") and rel[:-10] + "_reactor.npy" in present:
                stem = rel[:-10]
                refs.append(ClipRef(key=printable_name(stem.replace("/", "-")), sequence_id=stem,
                                    paths=(stem + "_reactor.npy", stem + "_actor.npy")))
            else:
                stem = rel[:-4]
                refs.append(ClipRef(key=printable_name(stem.replace("/", "-")), sequence_id=stem, paths=(rel,)))
        return refs

    def load(self, ref: ClipRef) -> list[TwoPersonMotion]:
        self.check_names(ref)
        rot = canonical.rotation_to_y_up(canonical.axis_vector(self.config.up_axis))
        people = []
        for rel in ref.paths:
            path = self.inside_root(rel)
            arr = load_npy(path, what="joints")
            if arr.ndim == 3 and arr.shape[1] > 22 and arr.shape[2] == 3:
                arr = arr[:, :22]
            arr = check_joints(arr, path=path, min_frames=2).astype(np.float64)
            people.append(canonical.apply_rotation(arr, rot))
        if len(people) == 2 and len(people[0]) != len(people[1]):
            raise InputFormatError(f"has {len(people[1])} frames, the reactor file has {len(people[0])}",
                                   path=self.inside_root(ref.paths[1]), fix="both persons need the same frames")
        canonical.check_declared_up(people, "+y", path=self.inside_root(ref.paths[0]))
        out = []
        for p, rel in zip(people, ref.paths):
            canonical.check_units(p, self.config.fps, path=self.inside_root(rel))
        resampled = [resample(p, self.config.fps) for p in people]
        frames = resampled[0][1]
        provenance = {
            "source": self.name, "sequence_id": ref.sequence_id, "source_fps": self.config.fps,
            "stride": self.config.fps / TARGET_FPS, "files": list(ref.paths),
            "resample": resample_record(self.config.fps, "linear-time"),
            "actor_reactor_rule": "file names: <name>_reactor.npy / <name>_actor.npy" if len(people) == 2
            else "single person: no actor", "raw_label": None, "licence": self.config.licence,
            "redistributable": False, "split": None, "up_axis": {"declared": self.config.up_axis},
        }
        out.append(TwoPersonMotion(
            reactor=resampled[0][0].astype(np.float32),
            actor=resampled[1][0].astype(np.float32) if len(people) == 2 else None, fps=TARGET_FPS,
            source_frames=np.round(frames, 6), direction="",
            persons={"reactor": "reactor", "actor": "actor"} if len(people) == 2 else {"reactor": "person"},
            provenance=provenance, labels={}))
        return out

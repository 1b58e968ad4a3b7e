"""AMASS SMPL-H (.npz "SMPL+H G") -> joints as HumanML3D's raw_pose_processing, but exactly 20 fps at every rate.

    vimo convert amass /data/AMASS --workspace ws --body-models ~/body_models
    vimo convert amass /data/AMASS --workspace ws --body-models ~/body_models --humanml3d-stride

For motion libraries (single person: every clip is a reactor without an actor). Facts:
docs/sources.md §5: male model if gender == 'male', else female (neutral and undecodable
values included); betas[:10]; joints (x, y, z) -> (-x, z, y). Files without `mocap_framerate` or
`trans` (e.g. shape.npz) are skipped, as in the reference.

Frame rate: AMASS sub-datasets are 59.94, 60, 100, 120 or 250 fps (`mocap_framerate`). When the rate
is a multiple of 20 the frames 0, k, 2k, ... are kept, exactly as HumanML3D. Otherwise HumanML3D's
step int(fps / 20) does not give 20 fps (59.94 -> 29.97 fps, 250 -> 20.8 fps), so vimo samples
t = k / 20 s exactly instead: each joint's local rotation is slerped between the two neighbouring
source frames and the translation interpolated linearly, then the joints come from forward
kinematics (bones stay rigid; interpolating joint positions would shorten them). The clip's
provenance records the method (`resample`). --humanml3d-stride reproduces the reference's step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vimo.motion.skeleton import FPS
from vimo.errors import InputFormatError, MotionError
from vimo.pipelines import canonical
from vimo.pipelines.sources.base import (
    ClipRef, Source, SourceConfig, TwoPersonMotion, check_frame_count, printable_name, read_npz, register_source,
)
from vimo.pipelines.sources.joints import interpolate_linear, resample_record, sample_positions

# ----------------------------------------------------------------------------- conventions
UP_AXIS = "+z"
#: HumanML3D's net axis change for AMASS: (x, y, z) -> (-x, z, y), det +1
TO_Y_UP = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
BODY_MODEL = "smplh"
NUM_BETAS = 10
TARGET_FPS = FPS  # HumanML3D frame rate (vimo.motion.skeleton)
LICENCE = "AMASS: non-commercial research licence (amass.is.tue.mpg.de); internal builds only"
REDISTRIBUTABLE = False

EXPECTED_TREE = """\
<root>/<dataset>/<subject>/<motion>_poses.npz      poses (T, 156), trans (T, 3), betas (16,), gender, mocap_framerate
body models (--body-models DIR):
  DIR/smplh/SMPLH_MALE.npz|pkl, SMPLH_FEMALE.npz|pkl"""


def gender_of(value: Any) -> str:
    """HumanML3D's rule: 'male' -> male model, anything else -> female."""
    if isinstance(value, np.ndarray):
        value = value.item() if value.size == 1 else ""
    if isinstance(value, bytes):
        value = value.decode("latin1", "replace")
    return "male" if str(value).strip().lower() == "male" else "female"


_MODELS: dict[tuple[str, str], Any] = {}


@dataclass
class AmassConfig(SourceConfig):
    """AMASS options."""

    pattern: str = field(default="**/*.npz", metadata={"help": "glob of the motion files under the root"})
    humanml3d_stride: bool = field(default=False, metadata={
        "help": "keep every int(fps / 20)-th frame as HumanML3D does, also when the rate is not a multiple of 20 "
                "(59.94 fps then gives 29.97 fps clips, flagged fps_not_20); default: exactly 20 fps by time"})


def slerp_axis_angle(rotvecs: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(T, J, 3) axis-angle rotations -> (K, J, 3) at fractional frame `positions` (K,): for each joint the
    geodesic (slerp) between the two neighbouring frames' rotations."""
    from scipy.spatial.transform import Rotation

    rv = np.asarray(rotvecs, dtype=np.float64)
    t, j = rv.shape[:2]
    i0 = np.clip(np.floor(positions).astype(int), 0, t - 1)
    i1 = np.clip(i0 + 1, 0, t - 1)
    w = np.repeat(positions - i0, j)[:, None]
    r0 = Rotation.from_rotvec(rv[i0].reshape(-1, 3))
    r1 = Rotation.from_rotvec(rv[i1].reshape(-1, 3))
    step = (r0.inv() * r1).as_rotvec()
    return (r0 * Rotation.from_rotvec(w * step)).as_rotvec().reshape(len(positions), j, 3)


def resample_pose(poses: np.ndarray, trans: np.ndarray, fps: float, *, humanml3d_stride: bool = False
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, dict[str, Any]]:
    """AMASS poses (T, >=66) and trans (T, 3) at `fps` -> (root_orient (K, 3), body_pose (K, 63), trans (K, 3),
    output fps, provenance record). Integer ratios (and --humanml3d-stride) keep frames 0, k, 2k, ...;
    others are sampled at t = k / 20 s by slerp of the 22 local rotations and linear translation."""
    if humanml3d_stride:
        step = int(fps / TARGET_FPS)
        keep = np.arange(0, len(poses), step)
        return (poses[keep, :3], poses[keep, 3:66], trans[keep], fps / step,
                {"method": "humanml3d-stride", "stride": step, "source_fps": fps, "positions": keep.astype(float)})
    positions, stride = sample_positions(len(poses), fps, TARGET_FPS)
    record: dict[str, Any] = resample_record(fps, "slerp-time")
    if stride is not None:
        keep = positions.astype(int)
        return poses[keep, :3], poses[keep, 3:66], trans[keep], float(TARGET_FPS), {**record, "positions": positions}
    rot = slerp_axis_angle(poses[:, :66].reshape(len(poses), 22, 3), positions).reshape(len(positions), 66)
    record.update(rotations="slerp of each joint's local rotation", translation="linear")
    return (rot[:, :3], rot[:, 3:66], interpolate_linear(trans, positions), float(TARGET_FPS),
            {**record, "positions": positions})


def frame_rate(value: Any, path: Path) -> float:
    """`mocap_framerate` as a finite number (one value, any array shape); InputFormatError otherwise."""
    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype.kind not in "fiu":
        found = "empty" if arr.size == 0 else f"{arr.dtype} {arr.shape}"
        raise InputFormatError(f"mocap_framerate is {found}, expected one number (frames per second)", path=path,
                               fix="AMASS files hold the capture rate (60-250 fps); re-download the file")
    fps = float(arr.reshape(-1)[0])
    if not math.isfinite(fps):
        raise InputFormatError(f"mocap_framerate is {fps}, expected a finite number (frames per second)", path=path,
                               fix="AMASS files hold the capture rate (60-250 fps); re-download the file")
    return fps


@register_source("amass")
class AmassSource(Source):
    config_class = AmassConfig
    config: AmassConfig
    summary = ("AMASS: SMPL-H motion library, Z up, HumanML3D's gender rule, exactly 20 fps (stride when the rate is a "
               "multiple of 20, else slerp at t = k/20 s) (one person)")
    licence = LICENCE
    expected_tree = EXPECTED_TREE

    def preflight(self) -> list[str]:
        from vimo.pipelines.body import body_model_problems

        if not self.root.is_dir():
            return [f"{self.root}: the AMASS root folder does not exist"]
        problems = []
        if not any(self.root.glob(self.config.pattern)):
            problems.append(f"{self.root}: no file matches {self.config.pattern}")
        return problems + body_model_problems(self.config.body_models, BODY_MODEL, ("male", "female"),
                                              source="AMASS")

    def discover(self) -> list[ClipRef]:
        refs = []
        for p in sorted(self.root.glob(self.config.pattern)):
            rel = p.relative_to(self.root).as_posix()
            seq = rel[:-4]
            refs.append(ClipRef(key=printable_name(seq.replace("/", "-")), sequence_id=seq, paths=(rel,)))
        return refs

    def load(self, ref: ClipRef) -> list[TwoPersonMotion]:
        from vimo.pipelines.body import forward_joints, load_body_model, rest_joints

        self.check_names(ref)
        path = self.inside_root(ref.paths[0])
        raw = read_npz(path, what="AMASS motion file")
        if "mocap_framerate" not in raw or "trans" not in raw:
            return []  # shape.npz and friends: skipped by the reference too
        for key in ("poses", "betas"):
            if key not in raw:
                raise InputFormatError(f"has no key '{key}'", path=path, fix="use the AMASS 'SMPL+H G' release files")
        fps = frame_rate(raw["mocap_framerate"], path)
        poses = np.asarray(raw["poses"])
        trans = np.asarray(raw["trans"])
        if poses.dtype.kind not in "fiu" or trans.dtype.kind not in "fiu":
            raise InputFormatError(f"poses ({poses.dtype}) / trans ({trans.dtype}) are not numeric arrays", path=path,
                                   fix="use the AMASS 'SMPL+H G' release files")
        poses, trans = poses.astype(np.float64), trans.astype(np.float64)
        if poses.ndim != 2 or poses.shape[1] < 66 or trans.shape != (len(poses), 3):
            raise InputFormatError(f"poses {poses.shape} / trans {trans.shape} are not (T, 156) / (T, 3)", path=path,
                                   fix="use the AMASS 'SMPL+H G' release files")
        check_frame_count(len(poses), path=path, fix="re-download the file, or exclude it (an empty take)")
        if not (np.isfinite(poses).all() and np.isfinite(trans).all()):
            raise MotionError("poses or trans hold NaN/inf", path=path, fix="exclude or repair the file")
        if fps < TARGET_FPS:
            raise InputFormatError(f"mocap_framerate is {fps:g}, below {TARGET_FPS} fps", path=path,
                                   fix="AMASS files are 60-250 fps; check the file")
        root_orient, body_pose, moved, real_fps, resampled = resample_pose(
            poses, trans, fps, humanml3d_stride=self.config.humanml3d_stride)
        positions = resampled.pop("positions")
        gender = gender_of(raw.get("gender", ""))
        key = (str(self.config.body_models), gender)
        if key not in _MODELS:
            _MODELS[key] = load_body_model(Path(self.config.body_models), BODY_MODEL, gender)
        model = _MODELS[key]
        betas = np.asarray(raw["betas"], dtype=np.float64).reshape(-1)[:NUM_BETAS]
        source_world = forward_joints(model, rest_joints(model, betas), root_orient, body_pose, moved)
        j = canonical.apply_rotation(source_world, TO_Y_UP)
        canonical.check_units(j, real_fps, path=path, who="subject")
        # a file fitted in another world (e.g. Y up) would otherwise give a clip whose body lies flat
        canonical.check_declared_up([source_world], UP_AXIS, path=path)
        provenance = {
            "source": self.name, "sequence_id": ref.sequence_id, "source_fps": fps,
            "stride": resampled.get("stride"), "resample": resampled,
            "files": [ref.paths[0]], "actor_reactor_rule": "single person (motion library): no actor",
            "raw_label": None, "licence": LICENCE, "redistributable": REDISTRIBUTABLE, "split": None,
            "body_model": {"type": BODY_MODEL, "gender": gender, "betas": NUM_BETAS},
            "up_axis": {"declared": UP_AXIS, "mapping": "(x, y, z) -> (-x, z, y)"},
        }
        labels = {"dataset": ref.sequence_id.split("/")[0]}
        return [TwoPersonMotion(reactor=j.astype(np.float32), actor=None, fps=real_fps,
                                source_frames=np.round(positions, 6),
                                direction="", persons={"reactor": "subject"}, provenance=provenance,
                                labels=labels)]

"""AMASS SMPL-H (.npz "SMPL+H G") -> 20 fps joints, exactly as HumanML3D's raw_pose_processing did.

    vimo convert amass /data/AMASS --workspace ws --body-models ~/body_models

For motion libraries (single person: every clip is a reactor without an actor). Facts:
docs/sources.md §5: male model if gender == 'male', else female (neutral and undecodable
values included); betas[:10]; step = int(mocap_framerate / 20) (so 50 fps gives 25 fps and 60
gives 20: the reference's quirk, kept; the clip records its real rate); joints (x, y, z) -> (-x, z, y).
Files without `mocap_framerate` or `trans` (e.g. shape.npz) are skipped, as in the reference.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vimo.motion.skeleton import FPS
from vimo.errors import InputFormatError, MotionError
from vimo.pipelines import canonical
from vimo.pipelines.sources.base import (
    ClipRef, Source, SourceConfig, TwoPersonMotion, read_npz, register_source,
)

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


@register_source("amass")
class AmassSource(Source):
    config_class = AmassConfig
    config: AmassConfig
    summary = "AMASS: SMPL-H motion library, Z up, HumanML3D's downsampling and gender rule (one person)"
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
            refs.append(ClipRef(key=seq.replace("/", "-"), sequence_id=seq, paths=(rel,)))
        return refs

    def load(self, ref: ClipRef) -> list[TwoPersonMotion]:
        from vimo.pipelines.body import forward_joints, load_body_model, rest_joints

        path = self.inside_root(ref.paths[0])
        raw = read_npz(path, what="AMASS motion file")
        if "mocap_framerate" not in raw or "trans" not in raw:
            return []  # shape.npz and friends: skipped by the reference too
        for key in ("poses", "betas"):
            if key not in raw:
                raise InputFormatError(f"has no key '{key}'", path=path, fix="use the AMASS 'SMPL+H G' release files")
        fps = float(np.asarray(raw["mocap_framerate"]).reshape(-1)[0])
        poses = np.asarray(raw["poses"], dtype=np.float64)
        trans = np.asarray(raw["trans"], dtype=np.float64)
        if poses.ndim != 2 or poses.shape[1] < 66 or trans.shape != (len(poses), 3):
            raise InputFormatError(f"poses {poses.shape} / trans {trans.shape} are not (T, 156) / (T, 3)", path=path,
                                   fix="use the AMASS 'SMPL+H G' release files")
        if not (np.isfinite(poses).all() and np.isfinite(trans).all()):
            raise MotionError("poses or trans hold NaN/inf", path=path, fix="exclude or repair the file")
        step = int(fps / TARGET_FPS)
        if step < 1:
            raise InputFormatError(f"mocap_framerate is {fps:g}, below {TARGET_FPS} fps", path=path,
                                   fix="AMASS files are 60-250 fps; check the file")
        keep = np.arange(0, len(poses), step)
        gender = gender_of(raw.get("gender", ""))
        key = (str(self.config.body_models), gender)
        if key not in _MODELS:
            _MODELS[key] = load_body_model(Path(self.config.body_models), BODY_MODEL, gender)
        model = _MODELS[key]
        betas = np.asarray(raw["betas"], dtype=np.float64).reshape(-1)[:NUM_BETAS]
        j = forward_joints(model, rest_joints(model, betas), poses[keep, :3], poses[keep, 3:66], trans[keep])
        j = canonical.apply_rotation(j, TO_Y_UP)
        real_fps = fps / step
        canonical.check_units(j, real_fps, path=path, who="subject")
        provenance = {
            "source": self.name, "sequence_id": ref.sequence_id, "source_fps": fps, "stride": step,
            "files": [ref.paths[0]], "actor_reactor_rule": "single person (motion library): no actor",
            "raw_label": None, "licence": LICENCE, "redistributable": REDISTRIBUTABLE, "split": None,
            "body_model": {"type": BODY_MODEL, "gender": gender, "betas": NUM_BETAS},
            "up_axis": {"declared": UP_AXIS, "mapping": "(x, y, z) -> (-x, z, y)"},
        }
        labels = {"dataset": ref.sequence_id.split("/")[0]}
        return [TwoPersonMotion(reactor=j.astype(np.float32), actor=None, fps=real_fps, source_frames=keep,
                                direction="", persons={"reactor": "subject"}, provenance=provenance,
                                labels=labels)]

"""The HumanML3D 22-joint skeleton as data (SMPL body joints 0-21, SMPL order).

Numbers follow the official HumanML3D `paramUtil.py` / `motion_representation` (see
docs/humanml3d.md §1). Canonical frame: metres, +Y up, facing +Z at frame 0, left = +X.
"""
from __future__ import annotations

import numpy as np

N_JOINTS = 22
FEATURE_DIM = 263  # 4 + 3*21 + 6*21 + 3*22 + 4
FPS = 20

JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist",
)

PARENTS = np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19])

#: t2m_kinematic_chain, in the order the reference processes it
KINEMATIC_CHAINS = ([0, 2, 5, 8, 11], [0, 1, 4, 7, 10], [0, 3, 6, 9, 12, 15],
                    [9, 14, 17, 19, 21], [9, 13, 16, 18, 20])

#: t2m_raw_offsets: unit rest direction of each bone (child joint)
RAW_OFFSETS = np.array([
    [0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, -1, 0],
    [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1],
    [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0],
], dtype=np.float32)

#: bone lengths (m) of the HumanML3D target skeleton: frame 0 of clip 000021, float32
TARGET_BONE_LENGTHS = np.array([
    0.0, 0.10307393223047256, 0.10988342016935349, 0.13156823813915253, 0.3936232626438141,
    0.3901881277561188, 0.14319021999835968, 0.4324330985546112, 0.42564353346824646,
    0.05736473575234413, 0.14338184893131256, 0.14941902458667755, 0.21936005353927612,
    0.13748674094676971, 0.14338286221027374, 0.1030392199754715, 0.13161404430866241,
    0.12298443913459778, 0.25683990120887756, 0.26309171319007874, 0.26601195335388184,
    0.2698764503002167,
], dtype=np.float32)

#: tgt_offsets of the official pipeline: raw direction x target length, (22, 3) float32
TARGET_OFFSETS = (RAW_OFFSETS * TARGET_BONE_LENGTHS[:, None]).astype(np.float32)

#: facing joints as listed by the reference: r_hip, l_hip, r_shoulder, l_shoulder
FACE_JOINTS = (2, 1, 17, 16)
FOOT_LEFT = (7, 10)
FOOT_RIGHT = (8, 11)
#: "leg" bones whose frame-0 lengths set the uniform-skeleton scale (right knee, right ankle)
LEG_BONES = (5, 8)
FEET_THRESHOLD = 0.002

#: mirror augmentation ("M" files): right <-> left joint lists
MIRROR_RIGHT = (2, 5, 8, 11, 14, 17, 19, 21)
MIRROR_LEFT = (1, 4, 7, 10, 13, 16, 18, 20)
MIRROR_RIGHT_HAND = (22, 23, 24, 34, 35, 36, 25, 26, 27, 31, 32, 33, 28, 29, 30)
MIRROR_LEFT_HAND = (43, 44, 45, 46, 47, 48, 40, 41, 42, 37, 38, 39, 49, 50, 51)

#: feature layout: name -> slice of the 263 dims
FEATURE_SLICES = {
    "root_rot_velocity": slice(0, 1),
    "root_linear_velocity": slice(1, 3),
    "root_y": slice(3, 4),
    "ric": slice(4, 67),
    "rot6d": slice(67, 193),
    "local_velocity": slice(193, 259),
    "foot_contact": slice(259, 263),
}

#: groups whose std is averaged by the official Mean/Std computation
STD_GROUPS = (slice(0, 1), slice(1, 3), slice(3, 4), slice(4, 67), slice(67, 193),
              slice(193, 259), slice(259, 263))


def bone_order() -> list[tuple[int, int]]:
    """(parent, child) pairs in chain-processing order, each child once."""
    seen, order = set(), []
    for chain in KINEMATIC_CHAINS:
        for parent, child in zip(chain[:-1], chain[1:]):
            if child not in seen:
                seen.add(child)
                order.append((parent, child))
    return order

"""Mirror augmentation of raw joints, as HumanML3D's "M" files (docs/humanml3d.md §5)."""
from __future__ import annotations

import numpy as np

from vimo.errors import MotionError
from vimo.motion.skeleton import MIRROR_LEFT, MIRROR_LEFT_HAND, MIRROR_RIGHT, MIRROR_RIGHT_HAND


def mirror_joints(joints: np.ndarray) -> np.ndarray:
    """Negate x and swap left/right joints: (T, J, 3) with J = 22 (body) or 52 (body + hands).

    Applied to raw joints before encoding; mirror(mirror(x)) == x.
    """
    arr = np.asarray(joints)
    if arr.ndim != 3 or arr.shape[-1] != 3 or arr.shape[1] < 22:
        raise MotionError(f"has shape {arr.shape}, expected (T, 22 or 52, 3)", path="joints",
                          fix="pass raw joint positions")
    out = arr.copy()
    out[..., 0] *= -1
    right, left = list(MIRROR_RIGHT), list(MIRROR_LEFT)
    out[:, right], out[:, left] = out[:, left].copy(), out[:, right].copy()
    if arr.shape[1] > 24:  # the reference swaps hand joints only for 52-joint arrays
        rh, lh = list(MIRROR_RIGHT_HAND), list(MIRROR_LEFT_HAND)
        out[:, rh], out[:, lh] = out[:, lh].copy(), out[:, rh].copy()
    return out

"""Normalisation statistics (Mean.npy / Std.npy) as the official HumanML3D computation, and the
training-time feat_bias adjustment (docs/humanml3d.md §6).

`FeatureStats` holds per-dimension count / mean / M2 (Chan's parallel merge), so statistics can be
computed one clip at a time, merged per split, and equal the computation over the concatenation.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from vimo.errors import MotionError
from vimo.motion.skeleton import FEATURE_DIM, STD_GROUPS


@dataclass
class FeatureStats:
    """Running per-dimension statistics of feature rows (float64 accumulators)."""

    dim: int = FEATURE_DIM
    count: int = 0
    mean: np.ndarray = field(default=None)  # type: ignore[assignment]
    m2: np.ndarray = field(default=None)  # type: ignore[assignment]
    skipped: int = 0  # arrays left out because they hold NaN/inf (as the official script)

    def __post_init__(self) -> None:
        if self.mean is None:
            self.mean = np.zeros(self.dim)
        if self.m2 is None:
            self.m2 = np.zeros(self.dim)

    def update(self, rows: np.ndarray) -> "FeatureStats":
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            raise MotionError(f"feature array has shape {rows.shape}, expected (T, {self.dim})",
                              path="features", fix="pass HumanML3D feature rows")
        if not np.isfinite(rows).all():
            self.skipped += 1
            return self
        if len(rows) == 0:
            return self
        other = FeatureStats(self.dim, len(rows), rows.mean(axis=0), ((rows - rows.mean(axis=0)) ** 2).sum(axis=0))
        return self._merge_inplace(other)

    def merge(self, other: "FeatureStats") -> "FeatureStats":
        out = FeatureStats(self.dim, self.count, self.mean.copy(), self.m2.copy(), self.skipped)
        out._merge_inplace(other)
        out.skipped += other.skipped
        return out

    def _merge_inplace(self, other: "FeatureStats") -> "FeatureStats":
        if other.count == 0:
            return self
        n = self.count + other.count
        delta = other.mean - self.mean
        self.mean = self.mean + delta * (other.count / n)
        self.m2 = self.m2 + other.m2 + delta ** 2 * (self.count * other.count / n)
        self.count = n
        return self

    def finalize(self, *, group_average: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) float32; population std, then each group's std replaced by the group mean."""
        if self.count == 0:
            raise MotionError("no finite feature rows to compute statistics from", path="features",
                              fix="check the input folder holds (T, 263) .npy files")
        std = np.sqrt(self.m2 / self.count)
        if group_average:
            std = group_average_std(std)
        return self.mean.astype(np.float32), std.astype(np.float32)


def group_average_std(std: np.ndarray) -> np.ndarray:
    """Replace each group's std values by that group's mean std (root rot vel, root lin vel,
    root y, ric, rot6d, local velocity, foot contact), as the official Mean/Std."""
    out = np.array(std, dtype=np.float64)
    for sl in STD_GROUPS:
        out[sl] = out[sl].mean()
    return out


def feature_stats(arrays: Iterable[np.ndarray], *, group_average: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Mean/Std over all rows of all arrays (arrays with NaN are skipped, as the official script)."""
    acc = FeatureStats()
    for a in arrays:
        acc.update(a)
    return acc.finalize(group_average=group_average)


def apply_feat_bias(std: np.ndarray, feat_bias: float = 5.0, *, times: int = 2) -> np.ndarray:
    """The training-time std adjustment of text-to-motion / MoMask / HERO: root dims 0:4 and foot
    contacts 259:263 divided by feat_bias. The official loaders apply it in place to one array shared
    by the train and val datasets, so it happens twice (÷25): `times=2` reproduces that, `times=1`
    is the intended single division."""
    out = np.array(std, dtype=np.float32, copy=True)
    for _ in range(times):
        out[0:4] /= feat_bias
        out[259:263] /= feat_bias
    return out

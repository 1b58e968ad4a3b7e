"""Pairing proposals: candidate reactions for a video from the workspace's motion pool, a pairing
round to judge them, and the accepted candidates as extra pairs.

Ranking: candidates of the video's own sub-category first, then the rest; within each group the
nearest by a motion descriptor (per-dimension mean and standard deviation over time of the 263-d
features, z-scored over the pool) to the video's query motion (its recorded reaction, or the actor's
motion of a rendered video). Without a query motion, the order inside a group is by motion id.
This is how T2/T3 training sets (2-3 reactions per video) and pairs for videos without a recorded
reaction are made.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from vimo.errors import MotionError

FEATURE_DIM = 263


def motion_descriptor(features: np.ndarray) -> np.ndarray:
    """(T, 263) float32 HumanML3D features -> (526,) float64: mean and std over time."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[1] != FEATURE_DIM or f.shape[0] < 1:
        raise MotionError(f"features must be (T, {FEATURE_DIM}) with T >= 1, got {f.shape}",
                          fix="pass HumanML3D 263-d features (vimo motion encode)")
    if not np.isfinite(f).all():
        raise MotionError("features hold NaN or inf", fix="re-encode the motion")
    return np.concatenate([f.mean(0), f.std(0)])


@dataclass(frozen=True)
class PoolMotion:
    """A reaction motion of the pool: id, taxonomy sub-category, (526,) descriptor."""

    motion_id: str
    sub_category: str
    descriptor: np.ndarray


@dataclass(frozen=True)
class Candidate:
    motion_id: str
    same_sub_category: bool
    distance: float
    """z-scored Euclidean distance to the query motion; NaN without a query"""


def rank_candidates(sub_category: str, pool: Sequence[PoolMotion], *, query: np.ndarray | None = None,
                    k: int = 5, exclude: Iterable[str] = ()) -> list[Candidate]:
    """The `k` best candidate reactions for a video of `sub_category` (see the module docstring)."""
    excluded = set(exclude)
    usable = [m for m in pool if m.motion_id not in excluded]
    if not usable or k <= 0:
        return []
    descs = np.stack([m.descriptor for m in usable])
    if query is not None:
        scale = descs.std(0)
        scale[scale < 1e-8] = 1.0
        dist = np.linalg.norm((descs - np.asarray(query, dtype=np.float64)) / scale, axis=1)
    else:
        dist = np.full(len(usable), np.nan)
    order = sorted(range(len(usable)), key=lambda i: (usable[i].sub_category != sub_category,
                                                      0.0 if np.isnan(dist[i]) else dist[i], usable[i].motion_id))
    return [Candidate(usable[i].motion_id, usable[i].sub_category == sub_category, float(dist[i]))
            for i in order[:k]]


def pairing_task_id(video_id: str, motion_id: str) -> str:
    return f"{video_id}::{motion_id}"


def split_task_id(task_id: str) -> tuple[str, str]:
    video_id, sep, motion_id = task_id.partition("::")
    if not sep:
        raise ValueError(f"not a pairing task id: {task_id!r}")
    return video_id, motion_id


def pairing_items(proposals: Mapping[str, Sequence[Candidate]], video_media: Mapping[str, str],
                  reaction_media: Mapping[str, str]):
    """TaskItems of a pairing round: one per (video, candidate). Media paths are relative to the
    workspace's videos folder: the video and the rendered candidate reaction."""
    from vimo.annotation.rounds import TaskItem

    items = []
    for video_id, cands in proposals.items():
        for rank, c in enumerate(cands, 1):
            items.append(TaskItem(pairing_task_id(video_id, c.motion_id),
                                  media={"input_video": video_media[video_id],
                                         "reaction_video": reaction_media[c.motion_id]},
                                  data={"video_id": video_id, "motion_id": c.motion_id, "rank": rank,
                                        "same_sub_category": c.same_sub_category}))
    return items


@dataclass(frozen=True)
class AcceptedPair:
    video_id: str
    motion_id: str
    plausible: int
    votes: int


def accepted_pairs(votes: Mapping[str, Counter], *, min_votes: int = 1, min_share: float = 0.5) -> list[AcceptedPair]:
    """Candidates judged plausible: at least `min_votes` votes and a share of 'plausible' above
    `min_share` (strictly; 'unsure' counts as a vote, not as plausible)."""
    out = []
    for task_id, c in sorted(votes.items()):
        total = sum(c.values())
        if total >= min_votes and c.get("plausible", 0) / total > min_share:
            video_id, motion_id = split_task_id(task_id)
            out.append(AcceptedPair(video_id, motion_id, c.get("plausible", 0), total))
    return out

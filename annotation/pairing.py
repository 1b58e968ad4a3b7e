"""Pairing proposals: candidate reactions for a video from the workspace's motion pool, a pairing
round to judge them, and the accepted candidates as extra pairs.

Ranking: candidates of the video's own sub-category first, then the rest; within each group the
nearest by a motion descriptor (per-dimension mean and standard deviation over time of the 263-d
features, z-scored over the pool) to the video's query motion: its recorded reaction, or, for an external
video (no recorded reaction), the mean descriptor of the library's motions of its sub-category
(`category_query`: the typical reaction to that kind of stimulus). Without any query motion, the order
inside a group is by motion id. This is how T2/T3 training sets (2-3 reactions per video) and pairs for
videos without a recorded reaction are made. The ranking lives in vimo.pairs (core) and is re-exported here.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Mapping, Sequence

# the ranking itself is pure computation over motions and lives in the core (vimo.pairs), so that
# `vimo pairs assemble` proposes library reactions for external videos without an annotation round
from vimo.pairs import (  # noqa: F401  (re-exported: the annotation wing's public surface)
    FEATURE_DIM, Candidate, PoolMotion, category_query, motion_descriptor, rank_candidates,
)


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

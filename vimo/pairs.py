"""Source pairs: each video that shows a clip's actor (as its reactor saw it) paired with that clip's
reaction.

A converted clip holds two people: the actor, whose motion the reactor watches, and the reactor. A
video of the actor (a `real` clip cut from the reactor's camera, a `rendered` reactor-view video, or
a `restyled` version of either) together with the reactor's motion is a genuine ViMo pair of the
source: `origin = "source"`. `assemble_pairs` adds one such pair per eligible video to the catalog,
status `candidate`, so that a rating round scores it; pairs found by annotators in pairing rounds are
added by vimo.annotation.writeback instead.

Eligible: the video belongs to a clip whose status is `ok` (or `flagged` with `allow_flagged`), it is
not a rendered *reaction* (`provenance.subject == "reactor"`, those are what rating tasks show next to
the input video), and its status is one of `video_statuses` (default `ok` and `usable`: a restyled
video waits in `pending_screening` until a screening round finds it usable). Existing pairs are left
as they are (their scores and status survive a re-run). The pair's taxonomy label comes from the
clip's source label where the taxonomy maps it.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from vimo.taxonomy import Taxonomy

VIDEO_KINDS: tuple[str, ...] = ("real", "rendered", "restyled")
VIDEO_STATUSES: tuple[str, ...] = ("ok", "usable")


@dataclass
class AssembleSummary:
    added: list[str] = field(default_factory=list)
    existing: int = 0
    skipped: Counter = field(default_factory=Counter)
    """reason -> count"""
    unlabelled: int = 0
    """pairs added without a taxonomy label (the clip's source label is not mapped)"""

    def as_dict(self) -> dict[str, Any]:
        return {"added": len(self.added), "existing": self.existing, "skipped": dict(self.skipped),
                "unlabelled": self.unlabelled}


def source_pair_id(video_id: str) -> str:
    """The id of a video's source pair (one per video)."""
    return f"src:{video_id}"


def assemble_pairs(ws: Any, *, video_kinds: Iterable[str] = VIDEO_KINDS,
                   video_statuses: Iterable[str] = VIDEO_STATUSES, sources: Iterable[str] = (),
                   allow_flagged: bool = False, taxonomy: Taxonomy | None = None) -> AssembleSummary:
    """Add the source pair of every eligible video of workspace `ws` (see the module docstring)."""
    kinds, statuses, wanted = set(video_kinds), set(video_statuses), set(sources)
    cat = ws.catalog
    taxonomy = taxonomy or Taxonomy.for_workspace(ws.root)
    clips = {c["clip_id"]: c for c in cat.query("clips")}
    have = {(p["video_id"], p["clip_id"]) for p in cat.query("pairs")}
    out = AssembleSummary()
    for v in cat.query("videos", order="video_id"):
        clip = clips.get(v.get("clip_id") or "")
        subject = (v.get("provenance") or {}).get("subject")
        if v["kind"] not in kinds:
            out.skipped[f"video kind {v['kind']}"] += 1
        elif clip is None:
            out.skipped["video without a clip"] += 1
        elif subject == "reactor":
            out.skipped["rendered reaction (shown in rating tasks, not an input video)"] += 1
        elif v["status"] not in statuses:
            out.skipped[f"video status {v['status']}"] += 1
        elif clip["status"] != "ok" and not (allow_flagged and clip["status"] == "flagged"):
            out.skipped[f"clip status {clip['status']}"] += 1
        elif wanted and clip["source"] not in wanted:
            out.skipped[f"source {clip['source']} filtered out"] += 1
        elif (v["video_id"], clip["clip_id"]) in have:
            out.existing += 1
        else:
            label = taxonomy.label_for(clip["source"], clip.get("labels") or {})
            out.unlabelled += label is None
            pair_id = source_pair_id(v["video_id"])
            cat.add_pair(pair_id=pair_id, video_id=v["video_id"], clip_id=clip["clip_id"], status="candidate",
                         origin="source", licence=clip.get("licence"),
                         broad_category=label.broad_category if label else None,
                         sub_category=label.sub_category if label else None,
                         labels=dict(clip.get("labels") or {}))
            have.add((v["video_id"], clip["clip_id"]))
            out.added.append(pair_id)
    return out

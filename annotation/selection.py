"""Round tasks chosen from the workspace catalog.

- screening: videos of kind restyled / external still waiting for a verdict (status filter), one task
  per video;
- rating: pairs (status `candidate` by default; optionally by clip source, sub-category and a seeded
  sample), one task per pair with the pair's input video and the rendered reaction side by side;
- pairing: for each video, candidate reaction clips from the motion pool (clips with status `ok`),
  ranked by `vimo.annotation.pairing.rank_candidates`, one task per (video, candidate); an external video
  (no clip) takes its sub-category from its own labels and, as query, the pool's typical reaction of it.

A rendered reaction of a clip is a `rendered` video of that clip that no pair uses as its input video
and whose provenance does not mark it as showing the actor (`provenance.subject == "actor"`); one
marked `subject: reactor` is preferred. Media paths of the tasks are relative to the workspace's
videos/ folder, which Label Studio's local-files storage serves. Whatever cannot be shown (file missing,
outside videos/, no rendered reaction, no motion features) is skipped with a reason, never silently.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from vimo.annotation.pairing import (
    Candidate, PoolMotion, category_query, motion_descriptor, pairing_items, rank_candidates,
)
from vimo.annotation.rounds import TaskItem
from vimo.errors import InputFormatError, PathEscapeError, VimoError, require_inside
from vimo.pairs import video_label

SCREENING_VIDEO_KINDS: tuple[str, ...] = ("restyled", "external")
#: restyled videos wait in `pending_screening` (vimo restyle fetch); external ones arrive as `ok`
SCREENING_STATUSES: tuple[str, ...] = ("pending_screening", "ok")
RATING_STATUSES: tuple[str, ...] = ("candidate",)
PAIRING_VIDEO_STATUSES: tuple[str, ...] = ("ok", "usable")
POOL_CLIP_STATUS = "ok"


@dataclass
class CatalogSelection:
    """Which catalog items a round asks for; stored in the round's params (`catalog`)."""

    statuses: tuple[str, ...] | None = None
    """video statuses (screening, pairing) or pair statuses (rating); None: the kind's default"""
    video_kinds: tuple[str, ...] | None = None
    """video kinds (screening: default restyled + external; pairing: default any)"""
    sources: tuple[str, ...] = ()
    """clip sources: the pair's clip (rating) or the motion pool (pairing); empty: any"""
    sub_categories: tuple[str, ...] = ()
    """the pair's sub-category (rating) or the video's (pairing); empty: any"""
    sample: int | None = None
    """at most this many items (pairs, videos), drawn with `seed` from the eligible ones"""
    seed: int = 0
    per_video: int = 3
    """pairing: candidates per video"""
    ids: tuple[str, ...] = ()
    """only these pair ids (rating) or video ids (screening, pairing); empty: any"""

    def __post_init__(self) -> None:
        for name in ("statuses", "video_kinds", "sources", "sub_categories", "ids"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, tuple(value))
        if self.sample is not None and self.sample < 1:
            raise InputFormatError(f"sample must be >= 1, got {self.sample}", fix="pass --sample 1 or more")
        if self.per_video < 1:
            raise InputFormatError(f"per_video must be >= 1, got {self.per_video}", fix="pass --per-video 1 or more")

    def as_params(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "CatalogSelection":
        return cls(**{k: v for k, v in params.items() if k in cls.__dataclass_fields__})


@dataclass
class Selection:
    """The tasks a selection yields, and what it had to leave out (id -> why)."""

    kind: str
    items: list[TaskItem]
    skipped: dict[str, str] = field(default_factory=dict)
    eligible: int = 0
    """items that passed the filters and could be shown (before sampling)"""

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, "tasks": len(self.items), "eligible": self.eligible, "skipped": dict(self.skipped)}


class _Unshowable(Exception):
    """An item whose media cannot be served; its message is the reason."""


# ----------------------------------------------------------------------------------------------
# media


def media_path(root: Path, media_root: Path, rel: str) -> str:
    """A catalog path (relative to the workspace root) as a task media path (relative to `media_root`)."""
    try:
        path = require_inside(root / rel, root)
    except PathEscapeError:
        raise _Unshowable(f"path {rel!r} leaves the workspace") from None
    try:
        out = path.relative_to(media_root.resolve()).as_posix()
    except ValueError:
        raise _Unshowable(f"{rel} is not under {media_root.name}/ (Label Studio serves only that folder)") from None
    if not path.is_file():
        raise _Unshowable(f"{rel} does not exist")
    return out


def reaction_videos(catalog: Any) -> dict[str, dict[str, Any]]:
    """clip id -> the rendered video that shows its reaction (see the module docstring)."""
    inputs = {p["video_id"] for p in catalog.query("pairs")}
    best: dict[str, tuple[tuple, dict[str, Any]]] = {}
    for v in catalog.query("videos", "kind='rendered' AND clip_id IS NOT NULL"):
        subject = (v.get("provenance") or {}).get("subject")
        if v["video_id"] in inputs or subject == "actor" or v.get("status") == "unusable":
            continue
        key = (subject != "reactor", v["video_id"])
        if v["clip_id"] not in best or key < best[v["clip_id"]][0]:
            best[v["clip_id"]] = (key, v)
    return {c: v for c, (_, v) in best.items()}


def _sample(ids: Sequence[str], n: int | None, seed: int) -> list[str]:
    """`n` of the sorted `ids`, drawn with `seed` (all of them when n is None or large enough)."""
    ids = sorted(ids)
    if n is None or n >= len(ids):
        return ids
    pick = np.random.default_rng(seed).choice(len(ids), size=n, replace=False)
    return [ids[i] for i in sorted(pick)]


def _marks(values: Sequence[str]) -> str:
    return ",".join("?" * len(values))


# ----------------------------------------------------------------------------------------------
# the three kinds


def select_screening(catalog: Any, root: Path, media_root: Path, sel: CatalogSelection) -> Selection:
    """One task per video to screen: `video` (media), `video_id`, `video_kind`."""
    kinds = sel.video_kinds or SCREENING_VIDEO_KINDS
    statuses = sel.statuses or SCREENING_STATUSES
    rows = catalog.query("videos", f"kind IN ({_marks(kinds)}) AND status IN ({_marks(statuses)})",
                         (*kinds, *statuses))
    if sel.ids:
        rows = [v for v in rows if v["video_id"] in set(sel.ids)]
    media, skipped = {}, {}
    for v in rows:
        try:
            media[v["video_id"]] = media_path(root, media_root, v["path"])
        except _Unshowable as exc:
            skipped[v["video_id"]] = str(exc)
    by_id = {v["video_id"]: v for v in rows}
    items = [TaskItem(vid, media={"video": media[vid]}, data={"video_id": vid, "video_kind": by_id[vid]["kind"]})
             for vid in _sample(list(media), sel.sample, sel.seed)]
    return Selection("screening", items, skipped, len(media))


def select_rating(catalog: Any, root: Path, media_root: Path, sel: CatalogSelection) -> Selection:
    """One task per pair: `input_video` (the pair's video), `reaction_video` (its clip's rendered
    reaction), and the catalog ids `pair_id`, `video_id`, `clip_id`, `sub_category`."""
    statuses = sel.statuses or RATING_STATUSES
    pairs = catalog.query("pairs", f"status IN ({_marks(statuses)})", tuple(statuses))
    clips = {c["clip_id"]: c for c in catalog.query("clips")}
    videos = {v["video_id"]: v for v in catalog.query("videos")}
    reactions = reaction_videos(catalog)
    media, skipped = {}, {}
    for p in pairs:
        pid = p["pair_id"]
        if sel.ids and pid not in set(sel.ids):
            continue
        if sel.sources and clips[p["clip_id"]]["source"] not in sel.sources:
            continue
        if sel.sub_categories and p.get("sub_category") not in sel.sub_categories:
            continue
        reaction = reactions.get(p["clip_id"])
        try:
            if reaction is None:
                raise _Unshowable(f"clip {p['clip_id']} has no rendered reaction video (vimo render)")
            media[pid] = {"input_video": media_path(root, media_root, videos[p["video_id"]]["path"]),
                          "reaction_video": media_path(root, media_root, reaction["path"])}
        except _Unshowable as exc:
            skipped[pid] = str(exc)
    by_id = {p["pair_id"]: p for p in pairs}
    items = [TaskItem(pid, media=media[pid],
                      data={"pair_id": pid, "video_id": by_id[pid]["video_id"], "clip_id": by_id[pid]["clip_id"],
                            "sub_category": by_id[pid].get("sub_category") or ""})
             for pid in _sample(list(media), sel.sample, sel.seed)]
    return Selection("rating", items, skipped, len(media))


def clip_sub_categories(catalog: Any, taxonomy: Any | None = None) -> dict[str, str]:
    """clip id -> sub-category: a labelled pair of the clip, else the clip's own label
    (`labels.sub_category`), else the taxonomy's mapping of its source label; '' when unknown."""
    out: dict[str, str] = {}
    for p in catalog.query("pairs", "sub_category IS NOT NULL AND sub_category != ''"):
        out.setdefault(p["clip_id"], p["sub_category"])
    for c in catalog.query("clips"):
        if c["clip_id"] in out:
            continue
        labels = c.get("labels") or {}
        sub = labels.get("sub_category")
        if not sub and taxonomy is not None:
            label = taxonomy.label_for(c["source"], labels)
            sub = label.sub_category if label else None
        out[c["clip_id"]] = sub or ""
    return out


def _descriptor(root: Path, clip: Mapping[str, Any]) -> np.ndarray:
    from vimo.atomic import load_npy

    rel = clip.get("reactor_features")
    if not rel:
        raise _Unshowable(f"clip {clip['clip_id']} has no reactor features")
    try:
        return motion_descriptor(load_npy(require_inside(root / rel, root), what="reactor features"))
    except VimoError as exc:
        raise _Unshowable(exc.one_line()) from None


def select_pairing(catalog: Any, root: Path, media_root: Path, sel: CatalogSelection,
                   taxonomy: Any | None = None) -> tuple[Selection, dict[str, list[Candidate]]]:
    """For each video, `per_video` candidate reactions from the motion pool, ranked (same sub-category
    first, then nearest to the video's own reaction by motion descriptor). The video's own clip and
    clips already paired with it are never proposed. Returns the selection and the proposals."""
    statuses = sel.statuses or PAIRING_VIDEO_STATUSES
    where = f"status IN ({_marks(statuses)})"
    args: tuple = tuple(statuses)
    if sel.video_kinds:
        where += f" AND kind IN ({_marks(sel.video_kinds)})"
        args += tuple(sel.video_kinds)
    videos = catalog.query("videos", where, args)
    reactions = reaction_videos(catalog)
    # rendered reactions are what a pairing task shows, not videos to pair
    reaction_ids = {v["video_id"] for v in reactions.values()}
    videos = [v for v in videos if v["video_id"] not in reaction_ids and (not sel.ids or v["video_id"] in sel.ids)]
    clips = {c["clip_id"]: c for c in catalog.query("clips")}
    subs = clip_sub_categories(catalog, taxonomy)
    paired: dict[str, set[str]] = defaultdict(set)
    video_sub: dict[str, str] = {}
    for p in catalog.query("pairs"):
        paired[p["video_id"]].add(p["clip_id"])
        if p.get("sub_category"):
            video_sub.setdefault(p["video_id"], p["sub_category"])
    skipped: dict[str, str] = {}
    pool: list[PoolMotion] = []
    reaction_media: dict[str, str] = {}
    descriptors: dict[str, np.ndarray] = {}
    for cid, c in sorted(clips.items()):
        if c["status"] != POOL_CLIP_STATUS or (sel.sources and c["source"] not in sel.sources):
            continue
        try:
            descriptors[cid] = _descriptor(root, c)
            if cid not in reactions:
                raise _Unshowable(f"clip {cid} has no rendered reaction video (vimo render)")
            reaction_media[cid] = media_path(root, media_root, reactions[cid]["path"])
        except _Unshowable as exc:
            skipped[f"clip:{cid}"] = str(exc)
            continue
        pool.append(PoolMotion(cid, subs.get(cid, ""), descriptors[cid]))
    video_media: dict[str, str] = {}
    for v in videos:
        vid = v["video_id"]
        sub = (video_sub.get(vid) or subs.get(v.get("clip_id") or "", "")
               or (video_label(v) or {}).get("sub_category", ""))
        if sel.sub_categories and sub not in sel.sub_categories:
            continue
        try:
            video_media[vid] = media_path(root, media_root, v["path"])
        except _Unshowable as exc:
            skipped[vid] = str(exc)
    by_id = {v["video_id"]: v for v in videos}
    proposals: dict[str, list[Candidate]] = {}
    # library motions external videos already have: spread over them (vimo.pairs.rank_candidates)
    external = {v["video_id"] for v in catalog.query("videos", "kind='external'")}
    used = Counter(c for vid in external for c in paired.get(vid, ()))
    for vid in _sample(list(video_media), sel.sample, sel.seed):
        v = by_id[vid]
        own = v.get("clip_id")
        query = descriptors.get(own) if own else None
        if own and query is None and own in clips:
            try:
                query = _descriptor(root, clips[own])
            except _Unshowable:
                query = None  # no recorded reaction to compare with: order by id within each group
        sub = video_sub.get(vid) or subs.get(own or "", "") or (video_label(v) or {}).get("sub_category", "")
        spread = None
        if own is None:  # an external video: no recorded reaction, the typical one of its sub-category instead
            query, spread = category_query(sub, pool), used
        cands = rank_candidates(sub, pool, query=query, k=sel.per_video, exclude=paired[vid] | {own} - {None},
                                used=spread)
        if cands:
            proposals[vid] = cands
            if own is None:
                used.update(c.motion_id for c in cands)
        else:
            skipped[vid] = "no candidate reaction left in the motion pool"
    items = pairing_items(proposals, video_media, reaction_media)
    for item in items:
        item.data["clip_id"] = item.data["motion_id"]
    return Selection("pairing", items, skipped, len(video_media)), proposals


def select(kind: str, catalog: Any, root: str | Path, media_root: str | Path, sel: CatalogSelection,
           taxonomy: Any | None = None) -> Selection:
    """The tasks of a `kind` round chosen from the catalog (see the module docstring)."""
    root, media_root = Path(root).resolve(), Path(media_root).resolve()
    if kind == "screening":
        return select_screening(catalog, root, media_root, sel)
    if kind == "rating":
        return select_rating(catalog, root, media_root, sel)
    if kind == "pairing":
        return select_pairing(catalog, root, media_root, sel, taxonomy)[0]
    raise InputFormatError(f"a {kind} round is not built from the catalog",
                           fix="build screening, rating or pairing rounds from the catalog; an inspection "
                               "round takes its tasks from the round it inspects")

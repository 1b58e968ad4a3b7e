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

External videos (`vimo videos add`: an animal, a ball, a door; no recorded reaction) get their reactions
from the workspace's **motion library**: every usable clip's reaction, whether a single-person clip
(AMASS, raw joints: a reactor without an actor) or the reactor of a two-person clip, each with a
sub-category and a text (`label_library` sets them from a CSV; otherwise the clip's pair or source label).
`propose_external` ranks library motions for each external video: same sub-category first (the ones fewer
external videos already have first: a library is spread over the videos, so that videos are not tied
together by a shared reaction, a leakage key of the splits), then by motion descriptor (nearest to the
typical library reaction of the video's sub-category, `category_query`).
`assemble_pairs(per_external=k)` adds the top k as `candidate` pairs (origin `library`, labelled with the
video's labels) that a rating round judges like any pair; a pairing round (vimo.annotation) proposes from
the same pool and ranking when annotators should vote on candidates first.
"""
from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from vimo.errors import InputFormatError, MotionError, VimoError
from vimo.taxonomy import Taxonomy

VIDEO_KINDS: tuple[str, ...] = ("real", "rendered", "restyled")
VIDEO_STATUSES: tuple[str, ...] = ("ok", "usable")
FEATURE_DIM = 263
LIBRARY_ORIGIN = "library"
LIBRARY_CLIP_STATUSES: tuple[str, ...] = ("ok",)


# ----------------------------------------------------------------------------------------------
# ranking candidate reactions (pure)

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
                    k: int = 5, exclude: Iterable[str] = (), used: Mapping[str, int] | None = None) -> list[Candidate]:
    """The `k` best candidate reactions for a video of `sub_category`: the pool's motions of that
    sub-category first, then the others; within each group the nearest to `query` (z-scored descriptor
    distance; by motion id without a query). `used` (motion id -> how many other videos already have it)
    spreads a library: among the motions of the video's sub-category, the less used come first."""
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
    used = used or {}

    def key(i: int) -> tuple:
        same = usable[i].sub_category == sub_category
        return (not same, used.get(usable[i].motion_id, 0) if same else 0,
                0.0 if np.isnan(dist[i]) else dist[i], usable[i].motion_id)

    order = sorted(range(len(usable)), key=key)
    return [Candidate(usable[i].motion_id, usable[i].sub_category == sub_category, float(dist[i]))
            for i in order[:k]]


def category_query(sub_category: str, pool: Sequence[PoolMotion]) -> np.ndarray | None:
    """The query of a video without a recorded reaction: the mean descriptor of the pool's motions of its
    sub-category (None when the pool holds none)."""
    same = [m.descriptor for m in pool if sub_category and m.sub_category == sub_category]
    return np.mean(np.stack(same), axis=0) if same else None


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
                   allow_flagged: bool = False, taxonomy: Taxonomy | None = None,
                   per_external: int = 0) -> AssembleSummary:
    """Add the source pair of every eligible video of workspace `ws`, and with `per_external` > 0 that many
    library candidate pairs for each external video (see the module docstring)."""
    kinds, statuses, wanted = set(video_kinds), set(video_statuses), set(sources)
    cat = ws.catalog
    taxonomy = taxonomy or Taxonomy.for_workspace(ws.root)
    clips = {c["clip_id"]: c for c in cat.query("clips")}
    have = {(p["video_id"], p["clip_id"]) for p in cat.query("pairs")}
    out = AssembleSummary()
    for v in cat.query("videos", order="video_id"):
        clip = clips.get(v.get("clip_id") or "")
        subject = (v.get("provenance") or {}).get("subject")
        if v["kind"] == "external" and per_external > 0:
            continue  # paired from the motion library below
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
    if per_external > 0:
        _assemble_library_pairs(ws, out, per_external, set(video_statuses), taxonomy)
    return out


def _assemble_library_pairs(ws: Any, out: AssembleSummary, per_video: int, statuses: set[str],
                            taxonomy: Taxonomy) -> None:
    """Top up each eligible external video to `per_video` library candidate pairs (a re-run adds none)."""
    cat = ws.catalog
    clips = {c["clip_id"]: c for c in cat.query("clips")}
    pool, _ = library_pool(ws, motion_library(ws, taxonomy=taxonomy))
    for v in cat.query("videos", "kind='external'", order="video_id"):
        label = video_label(v)
        if v["status"] not in statuses:
            out.skipped[f"external video status {v['status']}"] += 1
            continue
        if label is None:
            out.skipped["external video without a sub-category"] += 1
            continue
        vid = v["video_id"]
        have = [p for p in cat.query("pairs", "video_id=?", (vid,)) if p.get("origin") == LIBRARY_ORIGIN]
        out.existing += len(have)
        if len(have) >= per_video:
            continue
        cands = propose_external(ws, per_video=per_video - len(have), video_ids=[vid], statuses=statuses,
                                 pool=pool).get(vid, [])
        if not cands and not have:
            out.skipped["external video: the motion library holds no candidate"] += 1
        for rank, c in enumerate(cands, len(have) + 1):
            clip = clips[c.motion_id]
            pair_id = library_pair_id(vid, c.motion_id)
            cat.add_pair(pair_id=pair_id, video_id=vid, clip_id=c.motion_id, status="candidate",
                         origin=LIBRARY_ORIGIN, licence=clip.get("licence"),
                         broad_category=label.get("broad_category"), sub_category=label.get("sub_category"),
                         emotion=label.get("emotion"),
                         labels={"library": {"rank": rank, "same_sub_category": c.same_sub_category,
                                             "distance": None if np.isnan(c.distance) else round(c.distance, 4)}})
            out.added.append(pair_id)

# ----------------------------------------------------------------------------------------------
# the motion library and external videos

@dataclass
class LibraryMotion:
    """A reaction of the motion library: a usable clip's reactor."""

    motion_id: str
    """the clip id"""
    kind: str
    """single-person (AMASS, raw joints: no actor) or reactor (of a two-person clip)"""
    source: str
    sub_category: str
    """'' when unknown (such a motion is proposed only after the labelled ones)"""
    text: str
    features: str | None
    """the reactor's 263-d features, relative to the workspace root"""

    def as_dict(self) -> dict[str, Any]:
        return {"motion_id": self.motion_id, "kind": self.kind, "source": self.source,
                "sub_category": self.sub_category, "text": self.text, "features": self.features}


def video_label(video: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The taxonomy labels an external video carries ({"broad_category", "sub_category", "emotion"}), None
    when it has none."""
    labels = ((video or {}).get("provenance") or {}).get("labels") or {}
    return dict(labels) if labels.get("sub_category") else None


def _clip_text(labels: Mapping[str, Any]) -> str:
    text = labels.get("text")
    if not text and isinstance(labels.get("texts"), list) and labels["texts"]:
        text = labels["texts"][0]
    return str(text or "")


def motion_library(ws: Any, *, taxonomy: Taxonomy | None = None,
                   statuses: Iterable[str] = LIBRARY_CLIP_STATUSES) -> list[LibraryMotion]:
    """Every library motion of workspace `ws` (clips of `statuses` with reactor features), sorted by id. Its
    sub-category: the clip's own label (`labels.sub_category`, see `label_library`), else a labelled pair of
    the clip, else the taxonomy's mapping of its source label."""
    cat = ws.catalog
    taxonomy = taxonomy or Taxonomy.for_workspace(ws.root)
    by_pair: dict[str, str] = {}
    for p in cat.query("pairs", "sub_category IS NOT NULL AND sub_category != ''"):
        by_pair.setdefault(p["clip_id"], p["sub_category"])
    wanted = set(statuses)
    out = []
    for c in cat.query("clips"):
        if c["status"] not in wanted or not c.get("reactor_features"):
            continue
        labels = c.get("labels") or {}
        sub = labels.get("sub_category") or by_pair.get(c["clip_id"])
        if not sub:
            mapped = taxonomy.label_for(c["source"], labels)
            sub = mapped.sub_category if mapped else ""
        out.append(LibraryMotion(c["clip_id"], "reactor" if c.get("actor_features") else "single-person",
                                 c["source"], sub or "", _clip_text(labels), c.get("reactor_features")))
    return out


def label_library(ws: Any, csv_path: str | Path, *, taxonomy: Taxonomy | None = None) -> int:
    """Label library motions from a CSV with the columns `clip_id` or `sequence_id` (every clip of that source
    sequence), `sub_category` and optionally `text`; returns how many clips were labelled. An unknown id or
    sub-category is an error naming the row (nothing is written then)."""
    path = Path(csv_path)
    taxonomy = taxonomy or Taxonomy.for_workspace(ws.root)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items() if k is not None} for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputFormatError(f"is not a readable CSV ({exc})", path=path, fix="save it as UTF-8 CSV") from None
    if "sub_category" not in header or not {"clip_id", "sequence_id"} & set(header):
        raise InputFormatError("library labels need the columns clip_id (or sequence_id) and sub_category",
                               path=path, fix="give a header row: clip_id,sub_category,text")
    clips = ws.catalog.query("clips")
    by_id = {c["clip_id"]: c for c in clips}
    changes: dict[str, dict[str, Any]] = {}
    for i, row in enumerate(rows, start=2):
        where = f"{path.name} row {i}"
        if row.get("clip_id"):
            targets = [by_id[row["clip_id"]]] if row["clip_id"] in by_id else []
        else:
            targets = [c for c in clips if c["sequence_id"] == row.get("sequence_id")]
        if not targets:
            missing = row.get("clip_id") or row.get("sequence_id")
            raise InputFormatError(f"{where}: no clip {missing!r} in the workspace", path=path,
                                   fix="use ids from `vimo videos library` or `vimo clips list`")
        try:
            sub = taxonomy.resolve_sub_category(row.get("sub_category", ""))
        except VimoError as exc:
            raise InputFormatError(f"{where}: {exc.problem}", path=path, fix=exc.fix) from None
        for c in targets:
            labels = dict(changes.get(c["clip_id"], c.get("labels") or {}))
            labels["sub_category"] = sub.slug
            if row.get("text"):
                labels["text"] = row["text"]
            changes[c["clip_id"]] = labels
    with ws.catalog.transaction():
        for clip_id, labels in changes.items():
            ws.catalog.upsert("clips", {"clip_id": clip_id, "labels": labels})
    return len(changes)


def library_pool(ws: Any, library: Sequence[LibraryMotion]) -> tuple[list[PoolMotion], dict[str, str]]:
    """The library as a ranking pool (descriptors from the features files), and motion id -> why it could
    not join (features missing or unreadable)."""
    from vimo.atomic import load_npy

    pool, skipped = [], {}
    for m in library:
        try:
            pool.append(PoolMotion(m.motion_id, m.sub_category,
                                   motion_descriptor(load_npy(ws.resolve(m.features), what="reactor features"))))
        except VimoError as exc:
            skipped[m.motion_id] = exc.one_line()
    return pool, skipped


def propose_external(ws: Any, *, per_video: int = 3, taxonomy: Taxonomy | None = None,
                     video_ids: Iterable[str] = (), statuses: Iterable[str] = VIDEO_STATUSES,
                     pool: Sequence[PoolMotion] | None = None) -> dict[str, list[Candidate]]:
    """video id -> its `per_video` best library candidates, for every labelled external video of `statuses`
    (default `ok` and `usable`: not one a screening found unusable), in video id order. Clips already paired
    with the video are not proposed again; motions that other external videos have (paired, or proposed
    earlier in this call) come after the unused ones of the same sub-category."""
    cat = ws.catalog
    if pool is None:
        pool, _ = library_pool(ws, motion_library(ws, taxonomy=taxonomy))
    wanted, ids = set(statuses), set(video_ids)
    paired: dict[str, set[str]] = {}
    external = {v["video_id"] for v in cat.query("videos", "kind='external'")}
    for p in cat.query("pairs"):
        paired.setdefault(p["video_id"], set()).add(p["clip_id"])
    used = Counter(c for vid in external for c in paired.get(vid, ()))
    out: dict[str, list[Candidate]] = {}
    for v in cat.query("videos", "kind='external'", order="video_id"):
        label = video_label(v)
        if v["status"] not in wanted or label is None or (ids and v["video_id"] not in ids):
            continue
        sub = label["sub_category"]
        cands = rank_candidates(sub, pool, query=category_query(sub, pool), k=per_video,
                                exclude=paired.get(v["video_id"], set()), used=used)
        if cands:
            out[v["video_id"]] = cands
            used.update(c.motion_id for c in cands)
    return out


def library_pair_id(video_id: str, clip_id: str) -> str:
    """The id of a library candidate pair of an external video."""
    return f"lib:{video_id}~{clip_id}"

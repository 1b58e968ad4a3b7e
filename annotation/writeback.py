"""Results of a round written back to the workspace catalog.

- rating: `pairs.motion_quality` / `reaction_plausibility` (means of the counted annotations),
  `pairs.scores` (per-annotator scores, counts, mean, spread, decision, the round) and `pairs.status`
  accepted / rejected by the round's thresholds; an inspector's keep_pair / drop_pair wins. An
  undecided pair keeps its status.
- screening: `videos.status` usable / unusable by the majority of counted votes (a tie decides
  nothing), the votes in `videos.provenance.screening`.
- pairing: each accepted candidate becomes a new pair (status `candidate`, origin = the round id)
  unless the (video, clip) pair exists already.

Idempotent: a value is written only when it differs from the catalog's, so a re-pull changes nothing
that did not change on the server. Precedence: a pair or video holding the results of a round that
ranks higher (a main round over a trial round; among equal stages the later-created round) is not
overwritten by a lower one, whatever the order of the pulls.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Mapping

from vimo.annotation.agreement import DIMENSIONS, AcceptPolicy, pair_results
from vimo.annotation.ledger import RoundRecord
from vimo.annotation.pairing import accepted_pairs
from vimo.pairs import video_label

STAGE_RANK = {"trial": 0, "main": 1}


@dataclass
class WriteBack:
    """What a write-back did to the catalog (ids are pair ids, or video ids for screening)."""

    round_id: str
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    """pairing: new pair ids"""
    undecided: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)
    """items holding the results of a higher-ranked round, left as they are"""
    missing: list[str] = field(default_factory=list)
    """catalog ids the round refers to that the catalog no longer has"""

    def summary(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("changed", "unchanged", "added", "undecided", "superseded",
                                                   "missing")}


def _rank(stage: str | None, created_at: str | None, round_id: str | None) -> tuple:
    return (STAGE_RANK.get(stage or "", -1), created_at or "", round_id or "")


def _outranked(r: RoundRecord, held: Mapping[str, Any] | None) -> bool:
    """True when `held` (the round stamp stored with a result) belongs to a higher-ranked round."""
    if not held or not held.get("round") or held.get("round") == r.id:
        return False
    return _rank(held.get("stage"), held.get("round_created_at"), held["round"]) > _rank(r.stage, r.created_at, r.id)


def _stamp(r: RoundRecord) -> dict[str, Any]:
    return {"round": r.id, "stage": r.stage, "round_created_at": r.created_at}


def _finite(x: float) -> float | None:
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


def _catalog_id(tasks: Mapping[str, dict], task_id: str, key: str) -> str | None:
    info = tasks.get(task_id)
    return None if info is None else info["data"].get(key)


def write_back_rating(rounds: Any, r: RoundRecord, catalog: Any, policy: AcceptPolicy) -> WriteBack:
    out = WriteBack(r.id)
    tasks = rounds.ledger.tasks(r.id)
    ratings = rounds.ratings(r.id)
    verdicts = rounds.pair_verdicts(r.id)
    results = pair_results(ratings, policy, verdicts)
    by_annotator: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for x in ratings:
        if x.dimension in DIMENSIONS:
            by_annotator[x.task][x.annotator][x.dimension] = x.score
    with catalog.transaction():
        for task, res in sorted(results.items()):
            pair_id = _catalog_id(tasks, task, "pair_id")
            pair = catalog.get("pairs", pair_id) if pair_id else None
            if pair is None:
                out.missing.append(pair_id or task)
                continue
            if _outranked(r, pair.get("scores")):
                out.superseded.append(pair_id)
                continue
            scores = {**_stamp(r),
                      "annotators": {a: dict(s) for a, s in sorted(by_annotator[task].items())},
                      "counts": {d: s.count for d, s in res.scores.items()},
                      "mean": {d: _finite(s.mean) for d, s in res.scores.items()},
                      "spread": {d: _finite(s.std) for d, s in res.scores.items()},
                      "decision": res.decision, "reason": res.reason,
                      "inspector": verdicts.get(task)}
            update: dict[str, Any] = {"motion_quality": _finite(res.scores["motion_quality"].mean),
                                      "reaction_plausibility": _finite(res.scores["reaction_plausibility"].mean),
                                      "scores": scores}
            if res.decision in ("accepted", "rejected"):
                update["status"] = res.decision
            else:
                out.undecided.append(pair_id)
            _apply(catalog, "pairs", pair_id, {k: v for k, v in update.items() if pair.get(k) != v}, out)
    return out


#: the key column of each table a write-back touches
KEYS = {"pairs": "pair_id", "videos": "video_id"}


def _apply(catalog: Any, table: str, row_id: str, changes: dict[str, Any], out: WriteBack) -> None:
    """Write a row's changed fields (if any) and count it as changed or unchanged."""
    if changes:
        catalog.upsert(table, {KEYS[table]: row_id, **changes})
        out.changed.append(row_id)
    else:
        out.unchanged.append(row_id)


def screening_decision(votes: Mapping[str, int], min_votes: int = 1) -> str | None:
    """'usable' / 'unusable' by majority of at least `min_votes` votes; None for a tie or too few."""
    usable, unusable = votes.get("usable", 0), votes.get("unusable", 0)
    if usable + unusable < min_votes or usable == unusable:
        return None
    return "usable" if usable > unusable else "unusable"


def write_back_screening(rounds: Any, r: RoundRecord, catalog: Any, min_votes: int) -> WriteBack:
    out = WriteBack(r.id)
    tasks = rounds.ledger.tasks(r.id)
    with catalog.transaction():
        for task, votes in sorted(rounds.choice_votes(r.id, "usable").items()):
            video_id = _catalog_id(tasks, task, "video_id")
            video = catalog.get("videos", video_id) if video_id else None
            if video is None:
                out.missing.append(video_id or task)
                continue
            provenance = dict(video.get("provenance") or {})
            if _outranked(r, provenance.get("screening")):
                out.superseded.append(video_id)
                continue
            decision = screening_decision(votes, min_votes)
            screening = {**_stamp(r), "votes": dict(sorted(votes.items())), "decision": decision}
            changes: dict[str, Any] = {}
            if provenance.get("screening") != screening:
                changes["provenance"] = {**provenance, "screening": screening}
            if decision is None:
                out.undecided.append(video_id)
            elif video["status"] != decision:
                changes["status"] = decision
            _apply(catalog, "videos", video_id, changes, out)
    return out


def pairing_pair_id(video_id: str, clip_id: str) -> str:
    """Id of a pair made by a pairing round."""
    return f"{video_id}~{clip_id}"


def write_back_pairing(rounds: Any, r: RoundRecord, catalog: Any, min_votes: int) -> WriteBack:
    out = WriteBack(r.id)
    tasks = rounds.ledger.tasks(r.id)
    votes = rounds.choice_votes(r.id, "plausible")
    accepted = {(a.video_id, a.motion_id): a for a in accepted_pairs(votes, min_votes=min_votes)}
    labelled: dict[str, dict[str, Any]] = {}
    for p in catalog.query("pairs", "sub_category IS NOT NULL AND sub_category != ''"):
        labelled.setdefault(p["video_id"], p)
    with catalog.transaction():
        for task in sorted(votes):
            data = tasks.get(task, {}).get("data", {})
            video_id, clip_id = data.get("video_id"), data.get("clip_id") or data.get("motion_id")
            if (video_id, clip_id) not in accepted:
                out.undecided.append(task)
                continue
            if catalog.get("videos", video_id) is None or catalog.get("clips", clip_id) is None:
                out.missing.append(task)
                continue
            existing = catalog.query("pairs", "video_id=? AND clip_id=?", (video_id, clip_id))
            if existing:
                out.unchanged.append(existing[0]["pair_id"])
                continue
            a = accepted[(video_id, clip_id)]
            sibling = labelled.get(video_id) or video_label(catalog.get("videos", video_id)) or {}
            pair_id = pairing_pair_id(video_id, clip_id)
            catalog.add_pair(pair_id=pair_id, video_id=video_id, clip_id=clip_id, status="candidate", origin=r.id,
                             broad_category=sibling.get("broad_category"), sub_category=sibling.get("sub_category"),
                             emotion=sibling.get("emotion"),
                             labels={"pairing": {**_stamp(r), "plausible": a.plausible, "votes": a.votes,
                                                 "rank": data.get("rank"),
                                                 "same_sub_category": data.get("same_sub_category")}})
            out.added.append(pair_id)
    return out


def write_back(rounds: Any, round_id: str, catalog: Any, policy: AcceptPolicy | None = None) -> WriteBack:
    """Write a pulled round's results into the catalog (see the module docstring)."""
    r = rounds.ledger.round(round_id)
    params = r.params or {}
    min_votes = int(params.get("min_votes", 1))
    if r.kind == "rating":
        return write_back_rating(rounds, r, catalog, policy or policy_of(r))
    if r.kind == "screening":
        return write_back_screening(rounds, r, catalog, min_votes)
    if r.kind == "pairing":
        return write_back_pairing(rounds, r, catalog, min_votes)
    return WriteBack(r.id)  # an inspection round writes into the round it inspects


def policy_of(r: RoundRecord) -> AcceptPolicy:
    """The accept thresholds a round was created with (defaults when none were given)."""
    return AcceptPolicy(**(r.params or {}).get("accept_policy", {}))

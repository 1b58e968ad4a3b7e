"""Split policies of a release: base train / val / test, Seen / Unseen, T2 / T3 and the per-category
and per-emotion test subsets (HERO supplement Tab. 5-8), with leakage guards.

Pure computation over `SplitItem`s (the release module builds them from the catalog):

* base (train / val / test): one pair per video (its *primary* pair: a genuine source pair first, then the best scored);
  pairs that share a leakage key (same video, motion clip, source sequence, Inter-X subject group,
  Ego-Humans / Harmony4D capture) form one component, and whole components are assigned to a split,
  seeded and stratified by sub-category and emotion, so no key is ever on both sides;
* T2 / T3 (`t2/train`, `t3/train`): each base training video with its 2 or 3 best accepted reactions
  (reactions whose keys touch val or test are skipped); the test set is the base test set;
* Seen / Unseen (`seen_unseen/train`, `seen_unseen/val`, `seen_unseen/test`): chosen sub-categories held
  out entirely: the test set is every primary pair of those sub-categories, the training (validation) set
  the base training (validation) pairs of the other sub-categories that share no `unseen_guard` key with a
  held-out pair (the base val set would select checkpoints on Unseen pairs);
* subsets of the base test set by broad category, sub-category and emotion (`broad-*`, `sub-*`,
  `emotion-*`).
"""
from __future__ import annotations

import math
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from vimo.errors import VimoError

#: leakage key kinds: a key of one kind must never be on both sides of a split
GUARD_KINDS: tuple[str, ...] = ("video", "motion", "sequence", "subject_group", "capture")
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: sources whose sequences are captures of a multi-camera session (their capture is a leakage unit)
CAPTURE_SOURCES = ("egohumans", "harmony4d")


#: a val / test split whose fraction is positive gets at least this many pairs (a FID needs two samples; whole
#: leakage components are moved from train) when the stratified assignment left fewer and the training split
#: keeps at least one component: small releases (a demo's, a test's) otherwise get no val pairs, since no
#: stratum is large enough for its share
MIN_PER_SPLIT = 2


class SplitError(VimoError):
    """A split policy that cannot be applied to these pairs."""


class LeakageError(SplitError):
    """A leakage key (video, sequence, subject group, capture) on both sides of a split."""


@dataclass(frozen=True)
class SplitItem:
    """One accepted pair as the split policies see it."""

    pair_id: str
    video_id: str
    motion_id: str
    broad_category: str
    sub_category: str
    emotion: str | None = None
    keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """guard kind -> leakage keys of the pair (see `leakage_keys`)"""
    origin: str | None = None
    """'source': a genuine pair of the source dataset; 'pairing': matched in an annotation round"""
    score: float | None = None
    """mean rating (1-5) of the pair, used to rank a video's reactions"""


@dataclass
class SplitPolicy:
    """How a release is split (the [split] table of a release recipe)."""

    seed: int = 0
    """seed of the component order (same seed, same pairs -> same split)"""
    test_fraction: float = 0.2
    """share of the base pairs in the test split (stratified by sub-category)"""
    val_fraction: float = 0.1
    """share of the base pairs in the validation split (0: no val split). `vimo bench` selects checkpoints on
    it (never on test); a split with a positive fraction gets at least one val pair when the pairs allow it
    (see `MIN_PER_SPLIT`)"""
    unseen_sub_categories: tuple[str, ...] = ()
    """sub-categories held out of Seen training (the paper holds out 6)"""
    n_unseen: int = 0
    """when no explicit list is given: hold out this many sub-categories, chosen by the seed"""
    reactions_per_video: tuple[int, ...] = (2, 3)
    """T<k> training lists to write (each training video with k accepted reactions)"""
    guard: tuple[str, ...] = GUARD_KINDS
    """leakage key kinds kept apart between train, val and test"""
    unseen_guard: tuple[str, ...] = ("video", "motion", "sequence", "capture")
    """key kinds kept apart between Seen training and the Unseen set (an Inter-X subject group performs
    every action, so keeping groups apart would empty the Seen set of Inter-X)"""
    allow_leakage: bool = False
    """accept a split with leakage (pinned assignments that conflict); the violations are recorded"""

    def check(self) -> None:
        for name in ("test_fraction", "val_fraction"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0 <= v < 1):
                raise SplitError(f"{name} must be in [0, 1), got {v!r}", fix=f"set {name} = 0.2 (for example)")
        if self.test_fraction + self.val_fraction >= 1:
            raise SplitError("test_fraction + val_fraction must be below 1", fix="lower one of them")
        unknown = [k for k in (*self.guard, *self.unseen_guard) if k not in GUARD_KINDS]
        if unknown:
            raise SplitError(f"unknown guard kinds {unknown}", fix=f"use {', '.join(GUARD_KINDS)}")
        if any(int(k) < 2 for k in self.reactions_per_video):
            raise SplitError(f"reactions_per_video must be >= 2, got {list(self.reactions_per_video)}",
                             fix="use e.g. [2, 3] for T2 and T3")
        if self.n_unseen < 0:
            raise SplitError(f"n_unseen must be >= 0, got {self.n_unseen}", fix="use e.g. 6")


@dataclass(frozen=True)
class Violation:
    """A leakage key found in two splits, with the pairs on each side."""

    kind: str
    key: str
    sides: tuple[tuple[str, tuple[str, ...]], ...]

    def describe(self) -> str:
        parts = "; ".join(f"{split}: {', '.join(ids[:3])}{' ...' if len(ids) > 3 else ''}"
                          for split, ids in self.sides)
        return f"{self.kind} {self.key} is in {' and '.join(s for s, _ in self.sides)} ({parts})"


@dataclass
class Splits:
    """The result: the base assignment and every named list (pair ids, sorted)."""

    assignment: dict[str, str]
    lists: dict[str, list[str]]
    unseen_sub_categories: list[str]
    violations: list[Violation] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def split_of(self, pair_id: str) -> str | None:
        return self.assignment.get(pair_id)


def slug(text: str) -> str:
    """'Human-Human' -> 'human_human' (file-name form of a label)."""
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")


def leakage_keys(*, video_id: str, motion_id: str, motion_source: str, motion_sequence: str,
                 video_source: str | None = None, video_sequence: str | None = None) -> dict[str, tuple[str, ...]]:
    """Leakage keys of one pair. `video_id` should be the root of a restyle chain (a restyled video
    and the rendered video it came from are one video); the video's own clip (source, sequence), when
    it was rendered from or cut out of one, counts like the motion's."""
    keys: dict[str, set[str]] = {"video": {f"video:{video_id}"}, "motion": {f"motion:{motion_id}"},
                                 "sequence": set(), "subject_group": set(), "capture": set()}
    for source, seq in ((motion_source, motion_sequence), (video_source, video_sequence)):
        if not source or not seq:
            continue
        keys["sequence"].add(f"sequence:{source}/{seq}")
        if source == "interx" and re.match(r"G\d{3}", seq):
            keys["subject_group"].add(f"interx-group:{seq[:4]}")
        if source in CAPTURE_SOURCES:
            # a capture is one recording session: the sequence folder (Harmony4D's carries its train/test
            # top folder, since names repeat across them)
            keys["capture"].add(f"capture:{source}/{seq}")
    return {k: tuple(sorted(v)) for k, v in keys.items()}


# ----------------------------------------------------------------------------------- leakage
def check_leakage(items: Iterable[SplitItem], assignment: Mapping[str, str],
                  kinds: Sequence[str] = GUARD_KINDS) -> list[Violation]:
    """Every key of `kinds` that occurs in more than one split of `assignment` (pair id -> split)."""
    where: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for it in items:
        split = assignment.get(it.pair_id)
        if split is None:
            continue
        for kind in kinds:
            for key in it.keys.get(kind, ()):
                where[(kind, key)][split].append(it.pair_id)
    out = []
    for (kind, key), sides in sorted(where.items()):
        if len(sides) > 1:
            out.append(Violation(kind, key, tuple((s, tuple(sorted(ids))) for s, ids in sorted(sides.items()))))
    return out


def raise_on_leakage(violations: Sequence[Violation], what: str) -> None:
    if violations:
        more = f" (+{len(violations) - 1} more)" if len(violations) > 1 else ""
        raise LeakageError(f"{what}: {violations[0].describe()}{more}",
                           fix="drop or relabel one side, or set allow_leakage = true in [split] to accept it")


# ----------------------------------------------------------------------------------- the policy
def _rank(it: SplitItem) -> tuple:
    score = it.score if it.score is not None and math.isfinite(it.score) else -math.inf
    return (it.origin != "source", -score, it.pair_id)


def _stratum(it: SplitItem) -> tuple[str, str]:
    return (it.sub_category, it.emotion or "")


def _components(items: Sequence[SplitItem], kinds: Sequence[str]) -> list[list[SplitItem]]:
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, it in enumerate(items):
        for kind in kinds:
            for key in it.keys.get(kind, ()):
                j = first.setdefault(key, i)
                ri, rj = find(i), find(j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
    groups: dict[int, list[SplitItem]] = defaultdict(list)
    for i, it in enumerate(items):
        groups[find(i)].append(it)
    return sorted((sorted(g, key=lambda x: x.pair_id) for g in groups.values()), key=lambda g: g[0].pair_id)


def _assign(components: list[list[SplitItem]], policy: SplitPolicy, previous: Mapping[str, str]) -> dict[str, str]:
    fractions = {"test": policy.test_fraction, "val": policy.val_fraction}
    totals = Counter(_stratum(it) for comp in components for it in comp)
    counts: dict[str, Counter] = {"test": Counter(), "val": Counter()}
    assignment: dict[str, str] = {}
    free = []
    for comp in components:
        pinned = {previous[it.pair_id] for it in comp if it.pair_id in previous}
        if not pinned:
            free.append(comp)
            continue
        only = next(iter(pinned)) if len(pinned) == 1 else None
        for it in comp:  # conflicting pins stay as they were: check_leakage reports them
            split = previous.get(it.pair_id, only or "train")
            assignment[it.pair_id] = split
            if split in counts:
                counts[split][_stratum(it)] += 1
    random.Random(policy.seed).shuffle(free)
    for comp in free:
        best, best_gain = "train", 0
        for split, frac in fractions.items():
            if frac <= 0:
                continue
            gain, local = 0, Counter()
            for it in comp:
                need = frac * totals[_stratum(it)] - counts[split][_stratum(it)] - local[_stratum(it)]
                gain += 1 if need >= 0.5 else -1
                local[_stratum(it)] += 1
            if gain > best_gain:
                best, best_gain = split, gain
        for it in comp:
            assignment[it.pair_id] = best
            if best in counts:
                counts[best][_stratum(it)] += 1
    _fill_empty_splits(free, fractions, assignment)
    return assignment


def _fill_empty_splits(free: list[list[SplitItem]], fractions: Mapping[str, float], assignment: dict[str, str]) -> None:
    """Give every split with a positive fraction that got fewer than `MIN_PER_SPLIT` pairs free components from
    train, while train keeps one: the smallest component whose strata keep a training pair, in seeded order."""
    for split in ("test", "val"):
        if fractions[split] <= 0:
            continue
        while sum(s == split for s in assignment.values()) < MIN_PER_SPLIT:
            train = [c for c in free if assignment[c[0].pair_id] == "train"]
            if len(train) < 2:
                break
            in_train = Counter(_stratum(it) for c in train for it in c)
            keeps = [c for c in train if all(in_train[_stratum(it)] > sum(_stratum(x) == _stratum(it) for x in c)
                                             for it in c)]
            comp = min(keeps or train, key=len)
            for it in comp:
                assignment[it.pair_id] = split


def make_splits(items: Sequence[SplitItem], policy: SplitPolicy,
                previous: Mapping[str, str] | None = None) -> Splits:
    """Apply `policy` to accepted pairs. `previous` (pair id -> split, e.g. from an earlier release)
    pins pairs to their old split; pins that put one leakage key on both sides are violations."""
    policy.check()
    if not items:
        raise SplitError("no pairs to split", fix="accept pairs in the workspace or loosen the recipe's filters")
    ids = Counter(it.pair_id for it in items)
    dup = [p for p, n in ids.items() if n > 1]
    if dup:
        raise SplitError(f"pair ids occur more than once: {dup[:3]}", fix="pass each pair once")
    previous = {k: v for k, v in (previous or {}).items() if v in SPLITS}
    by_video: dict[str, list[SplitItem]] = defaultdict(list)
    for it in items:
        by_video[it.video_id].append(it)
    for v in by_video.values():
        v.sort(key=_rank)
    base = sorted((v[0] for v in by_video.values()), key=lambda x: x.pair_id)
    assignment = _assign(_components(base, policy.guard), policy, previous)
    violations = check_leakage(base, assignment, policy.guard)
    if violations and not policy.allow_leakage:
        raise_on_leakage(violations, "the base split leaks")

    lists: dict[str, list[str]] = {s: sorted(p for p, x in assignment.items() if x == s) for s in SPLITS}
    notes: dict[str, Any] = {"videos": len(by_video), "base_pairs": len(base),
                             "extra_reactions": len(items) - len(base)}
    held_keys = {k for it in base if assignment[it.pair_id] != "train"
                 for kind in policy.guard for k in it.keys.get(kind, ())}

    # T<k>: each training video with up to k accepted reactions
    for k in sorted({int(k) for k in policy.reactions_per_video}):
        chosen, short, skipped = [], 0, 0
        for it in base:
            if assignment[it.pair_id] != "train":
                continue
            picked = []
            for cand in by_video[it.video_id]:
                if len(picked) == k:
                    break
                if any(key in held_keys for kind in policy.guard for key in cand.keys.get(kind, ())):
                    skipped += 1
                    continue
                picked.append(cand.pair_id)
            short += len(picked) < k
            chosen.extend(picked)
        lists[f"t{k}/train"] = sorted(chosen)
        notes[f"t{k}"] = {"pairs": len(chosen), "videos_with_fewer_reactions": short,
                          "reactions_skipped_for_leakage": skipped}

    # Seen / Unseen
    present = sorted({it.sub_category for it in base})
    unseen = sorted(policy.unseen_sub_categories)
    missing = [s for s in unseen if s not in present]
    if missing:
        raise SplitError(f"held-out sub-categories have no accepted pairs: {missing}",
                         fix=f"choose among {', '.join(present)}")
    if not unseen and policy.n_unseen:
        if policy.n_unseen >= len(present):
            raise SplitError(f"n_unseen = {policy.n_unseen} leaves no seen sub-category ({len(present)} present)",
                             fix="hold out fewer sub-categories")
        unseen = sorted(random.Random(policy.seed).sample(present, policy.n_unseen))
    if unseen:
        unseen_set = set(unseen)
        test_items = [it for it in base if it.sub_category in unseen_set]
        unseen_keys = {k for it in test_items for kind in policy.unseen_guard for k in it.keys.get(kind, ())}
        kept: dict[str, list[str]] = {"train": [], "val": []}
        dropped = Counter()
        for it in base:
            side = assignment[it.pair_id]
            if side not in kept or it.sub_category in unseen_set:
                continue
            if any(k in unseen_keys for kind in policy.unseen_guard for k in it.keys.get(kind, ())):
                dropped[side] += 1
                continue
            kept[side].append(it.pair_id)
        seen = kept["train"]
        lists["seen_unseen/train"] = sorted(seen)
        lists["seen_unseen/val"] = sorted(kept["val"])
        lists["seen_unseen/test"] = sorted(it.pair_id for it in test_items)
        su = {p: "train" for p in seen} | {p: "val" for p in kept["val"]} | {it.pair_id: "test" for it in test_items}
        leaks = check_leakage(base, su, policy.unseen_guard)
        if leaks:  # cannot happen by construction; kept as the guard of the guard
            raise_on_leakage(leaks, "the Seen/Unseen split leaks")
        notes["seen_unseen"] = {"unseen_sub_categories": unseen, "seen_train_pairs": len(seen),
                                "seen_val_pairs": len(kept["val"]), "unseen_pairs": len(test_items),
                                "seen_pairs_dropped_for_leakage": dropped["train"],
                                "seen_val_pairs_dropped_for_leakage": dropped["val"]}

    # per-category / per-emotion evaluation subsets of the base test set
    for it in base:
        if assignment[it.pair_id] != "test":
            continue
        lists.setdefault(f"broad-{slug(it.broad_category)}", []).append(it.pair_id)
        lists.setdefault(f"sub-{slug(it.sub_category)}", []).append(it.pair_id)
        if it.emotion:
            lists.setdefault(f"emotion-{slug(it.emotion)}", []).append(it.pair_id)
    for name in lists:
        lists[name].sort()
    return Splits(assignment, lists, unseen, violations, notes)

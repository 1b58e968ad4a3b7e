"""Verifying, diffing and listing releases."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vimo import atomic
from vimo.atomic import sha256_file
from vimo.errors import VimoError
from vimo.motion.skeleton import FEATURE_DIM
from vimo.splits import SPLITS
from vimo.release.layout import (CHECKSUMS, INFO, MANIFEST, MEAN, MOTIONS_DIR, OWN_ACTOR, STD, ReleaseError, is_digest,
                                 motion_list, pair_list, read_checksums, read_info, read_manifest, release_digest)

# ----------------------------------------------------------------------------------- verify
@dataclass(frozen=True)
class Problem:
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


@dataclass(frozen=True)
class ExpectedDigest:
    """The release digest a release must have, and where that value comes from."""

    digest: str
    """sha256 hex of the release's CHECKSUMS.sha256 (layout.release_digest)"""
    source: str
    """who says so, completing 'differs from ...': 'the one recorded at build time', 'the one given (--digest)'"""


def verify_release(root: str | Path, *, expected: ExpectedDigest | None = None) -> list[Problem]:
    """Every problem of a release folder (empty: it verifies): checksums, unlisted files, statistics,
    list files, array shapes, manifest consistency and leakage between the splits; with `expected`, also
    the release digest (which catches a file edited together with its CHECKSUMS.sha256 line)."""
    root = Path(root)
    problems: list[Problem] = []
    if not root.is_dir():
        return [Problem(str(root), "release folder does not exist")]
    try:
        listed = read_checksums(root)
    except ReleaseError as exc:
        return [Problem(str(exc.path or root), exc.problem)]
    if expected is not None:
        actual = release_digest(root)
        if actual != expected.digest:
            problems.append(Problem(CHECKSUMS, f"digest differs from {expected.source} ({actual} vs "
                                               f"{expected.digest})"))
    for rel, digest in sorted(listed.items()):
        p = root / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            problems.append(Problem(rel, "path in CHECKSUMS.sha256 leaves the release"))
        elif not p.is_file():
            problems.append(Problem(rel, "listed in CHECKSUMS.sha256 but missing"))
        elif sha256_file(p) != digest:
            problems.append(Problem(rel, "checksum mismatch (file changed after the build)"))
    for p in sorted(x for x in root.rglob("*") if x.is_file() and x.name != CHECKSUMS):
        rel = p.relative_to(root).as_posix()
        if rel not in listed:
            problems.append(Problem(rel, "not listed in CHECKSUMS.sha256 (added after the build)"))
    try:
        read_info(root)
    except VimoError as exc:
        problems.append(Problem(INFO, exc.problem))
    problems += _check_structure(root)
    return problems


def recorded_digest(root: str | Path, workspace: str | Path) -> str | None:
    """The release digest recorded in a workspace's catalog when `root` was built (releases.checksum), found
    by the release's path, else by the name and version of its meta/info.json; None when the catalog does not
    hold the release."""
    from vimo.workspace import Workspace

    root = Path(root).resolve()
    with Workspace.open(workspace) as ws:
        rows = ws.catalog.query("releases")
        for r in rows:
            path = Path(r["path"])
            if (path if path.is_absolute() else ws.root / path).resolve() == root:
                return _checked_digest(r, ws.catalog.path)
        try:
            info = read_info(root)
        except VimoError:
            return None
        for r in rows:
            if (r["name"], r["version"]) == (info.get("name"), info.get("version")):
                return _checked_digest(r, ws.catalog.path)
    return None


def _checked_digest(row: dict[str, Any], catalog: Path) -> str:
    digest = row.get("checksum") or ""
    if not is_digest(digest):
        raise ReleaseError(f"release {row['name']}-{row['version']} has no valid digest recorded ({digest!r})",
                           path=catalog, fix="run vimo release build with its recipe again (an identical "
                                             "release is left as it is and its digest recorded)")
    return digest


def workspace_of(root: str | Path) -> Path | None:
    """The workspace a release folder lives in (<ws>/releases/<name>-<version>/), or None."""
    from vimo.workspace import CONFIG_NAME

    ws = Path(root).resolve().parent.parent
    return ws if (ws / CONFIG_NAME).is_file() else None


def _check_structure(root: Path) -> list[Problem]:
    problems: list[Problem] = []
    for name in (MEAN, STD):
        try:
            arr = atomic.load_npy(root / name, what="statistics")
        except VimoError as exc:
            problems.append(Problem(name, exc.problem))
            continue
        if arr.shape != (FEATURE_DIM,) or not np.isfinite(arr).all():
            problems.append(Problem(name, f"has shape {arr.shape} or non-finite values, expected (263,)"))
        elif name == STD and (arr <= 0).any():
            problems.append(Problem(name, "has zero or negative values"))
    sides: dict[str, list[tuple[str, str]]] = {}
    for split in SPLITS:
        path = root / pair_list(split)
        if not path.is_file():
            if split != "val":
                problems.append(Problem(pair_list(split), "missing"))
            continue
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
        sides[split] = []
        for i, line in enumerate(lines, 1):
            parts = line.split()
            if len(parts) != 2:
                problems.append(Problem(pair_list(split), f"line {i} has {len(parts)} fields, expected 2"))
                continue
            sides[split].append((parts[0], parts[1]))
        motions = root / motion_list(split)
        if not motions.is_file():
            problems.append(Problem(motion_list(split), "missing"))
        elif set(motions.read_text().split()) != {m for _, m in sides[split]}:
            problems.append(Problem(motion_list(split), f"does not list the motions of {pair_list(split)}"))
    checked: set[str] = set()
    for split, pairs in sides.items():
        for video, motion in pairs:
            for rel in (video, motion):
                if rel in checked:
                    continue
                checked.add(rel)
                p = root / rel
                if ".." in Path(rel).parts or not p.is_file():
                    problems.append(Problem(rel, f"referenced by {split}.txt but missing"))
                elif rel.startswith(MOTIONS_DIR + "/"):
                    problems += _check_motion(root, rel)
    names = list(sides)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            for what, idx in (("video", 0), ("motion", 1)):
                both = {x[idx] for x in sides[a]} & {x[idx] for x in sides[b]}
                if both:
                    problems.append(Problem(f"{b}.txt", f"{len(both)} {what}s also in {a}.txt, e.g. {sorted(both)[0]}"))
    try:
        rows = read_manifest(root)
    except ReleaseError as exc:
        return problems + [Problem(MANIFEST, exc.problem)]
    by_split: dict[str, set[tuple[str, str]]] = defaultdict(set)
    keys_at: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        by_split[r["split"]].add((r["video_path"], r["motion_path"]))
        if r["split"] in SPLITS:
            for k in filter(None, (r.get("leakage_keys") or "").split(";")):
                keys_at[k].add(r["split"])
    for split, pairs in sides.items():
        if set(pairs) != by_split.get(split, set()):
            problems.append(Problem(MANIFEST, f"rows of split {split} do not match {split}.txt"))
    for r in rows:
        problems += _check_two_person(root, r)
    leaks = sorted(k for k, s in keys_at.items() if len(s) > 1)
    if leaks:
        problems.append(Problem(MANIFEST, f"{len(leaks)} leakage keys in more than one split, e.g. {leaks[0]}"))
    return problems


def _check_two_person(root: Path, row: dict[str, Any]) -> list[Problem]:
    """An original pair's actor joints: (n_frames, 22, 3) finite; an extra pair (another actor) has none."""
    rel = row.get("actor_joints_path") or ""
    if not rel:
        return []
    if row.get("video_actor") != OWN_ACTOR:
        return [Problem(MANIFEST, f"pair {row['pair_id']} shows another actor but names actor joints {rel}")]
    try:
        joints = atomic.load_npy(root / rel, what="actor joints")
    except VimoError as exc:
        return [Problem(rel, exc.problem)]
    if joints.shape != (int(row["n_frames"]), 22, 3) or not np.isfinite(joints).all():
        return [Problem(rel, f"has shape {joints.shape} or NaN/inf, expected ({row['n_frames']}, 22, 3)")]
    return []


def _check_motion(root: Path, rel: str) -> list[Problem]:
    try:
        feats = atomic.load_npy(root / rel, what="motion features")
    except VimoError as exc:
        return [Problem(rel, exc.problem)]
    if feats.ndim != 2 or feats.shape[1] != FEATURE_DIM or feats.dtype != np.float32:
        return [Problem(rel, f"has shape {feats.shape} {feats.dtype}, expected (T, 263) float32")]
    if not np.isfinite(feats).all():
        return [Problem(rel, "has NaN/inf values")]
    jrel = "joints/" + rel.split("/", 1)[1]
    try:
        joints = atomic.load_npy(root / jrel, what="joints")
    except VimoError as exc:
        return [Problem(jrel, exc.problem)]
    if joints.shape != (feats.shape[0], 22, 3):
        return [Problem(jrel, f"has shape {joints.shape}, expected ({feats.shape[0]}, 22, 3)")]
    return []



# ----------------------------------------------------------------------------------- diff / list
@dataclass
class ReleaseDiff:
    added: list[str]
    removed: list[str]
    changed: dict[str, list[str]]
    """pair id -> manifest columns whose value changed"""
    moved: dict[str, tuple[str, str]]
    """pair id -> (split in A, split in B)"""
    statistics_changed: bool

    @property
    def identical(self) -> bool:
        return not (self.added or self.removed or self.changed or self.moved or self.statistics_changed)


_DIFF_IGNORED = {"split", "lists"}


def diff_releases(a: str | Path, b: str | Path) -> ReleaseDiff:
    """Pairs added, removed and changed, and split moves, from release A to release B."""
    ra = {r["pair_id"]: r for r in read_manifest(Path(a))}
    rb = {r["pair_id"]: r for r in read_manifest(Path(b))}
    changed = {}
    for pid in sorted(set(ra) & set(rb)):
        cols = sorted(c for c in set(ra[pid]) | set(rb[pid])
                      if c not in _DIFF_IGNORED and ra[pid].get(c) != rb[pid].get(c))
        if cols:
            changed[pid] = cols
    moved = {pid: (ra[pid]["split"], rb[pid]["split"]) for pid in sorted(set(ra) & set(rb))
             if ra[pid]["split"] != rb[pid]["split"]}
    stats = any(sha256_file(Path(a) / n) != sha256_file(Path(b) / n) for n in (MEAN, STD)
                if (Path(a) / n).is_file() and (Path(b) / n).is_file())
    return ReleaseDiff(sorted(set(rb) - set(ra)), sorted(set(ra) - set(rb)), changed, moved, stats)


def list_releases(workspace: str | Path) -> list[dict[str, Any]]:
    """Releases registered in a workspace's catalog, with whether each folder still verifies its listing."""
    from vimo.workspace import Workspace

    with Workspace.open(workspace) as ws:
        rows = ws.catalog.query("releases", order="name, version")
        out = []
        for r in rows:
            path = Path(r["path"])
            path = path if path.is_absolute() else ws.root / path
            out.append({"name": r["name"], "version": r["version"], "path": str(path), "exists": path.is_dir(),
                        "pairs": (r.get("counts") or {}).get("pairs"), "internal": bool(
                            (r.get("recipe") or {}).get("release", {}).get("internal", False))})
        return out

"""Releases: build (from a TOML recipe), verify, diff and list immutable, versioned, checksummed
release folders in the layout the official HERO loader reads (see docs/release.md §1):

    <name>-<version>/
      vector_263/<motion_id>.npy   (T, 263) float32 reactor features
      joints/<motion_id>.npy       (T, 22, 3) float32 joints recovered from the features (metres, Y up)
      videos/<sub_category>/<video>.mp4
      Mean.npy Std.npy             (263,) float32, from the train split only
      train.txt test.txt [val.txt] "<video relpath> <motion relpath>" per line
      motions_train.txt motions_test.txt [motions_val.txt]
      splits/                      t2/ t3/ seen_unseen/ (train/test lists + their own Mean/Std),
                                   broad-*.txt sub-*.txt emotion-*.txt (test subsets)
      manifest.csv                 one row per pair: ids, labels, provenance, licence, QA, scores
      meta/info.json               format version, vimo version, recipe, input checksums, counts
      meta/figures/*.png           the data card's plots
      README.md                    the data card
      CHECKSUMS.sha256             sha256 of every other file

A build stages everything in a hidden folder and renames it into place; building an existing
version again is a no-op when the result is identical and refused otherwise.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from vimo import __version__, atomic
from vimo.atomic import sha256_file
from vimo.errors import FormatVersionError, InputFormatError, MotionError, VimoError, WorkspaceError
from vimo.splits import SPLITS, SplitItem, SplitPolicy, Splits, leakage_keys, make_splits
from vimo.taxonomy import Taxonomy, TaxonomyError

FORMAT_VERSION = 1
FEATURE_DIM = 263
CHECKSUMS = "CHECKSUMS.sha256"
MANIFEST = "manifest.csv"
INFO = "meta/info.json"
MANIFEST_COLUMNS = (
    "pair_id", "split", "lists", "video_id", "video_path", "video_kind", "video_sha256", "motion_id",
    "motion_path", "joints_path", "n_frames", "motion_sha256", "clip_id", "source", "sequence_id",
    "frame_start", "frame_end", "broad_category", "group", "sub_category", "emotion", "origin",
    "motion_quality", "reaction_plausibility", "score", "licence_id", "licence", "redistributable",
    "leakage_keys", "clip_status",
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class ReleaseError(VimoError):
    """A release that cannot be built, or a release folder that breaks the release rules."""


class LicenceError(ReleaseError):
    """Data whose licence forbids redistribution in a release not marked internal."""


class ReleaseExistsError(ReleaseError):
    """A release version that already exists with different content (releases are immutable)."""


# ----------------------------------------------------------------------------------- recipe
@dataclass
class ReleaseSection:
    """The [release] table of a recipe."""

    name: str
    """release name, e.g. 'vimo-base' (the folder is <name>-<version>)"""
    version: str
    """release version, e.g. '1.0.0'; a version once built never changes"""
    workspace: Path
    """the workspace the pairs come from (relative paths: relative to the recipe file)"""
    internal: bool = False
    """an internal build may hold data whose licence forbids redistribution (Inter-X); the card says so"""
    out: Path | None = None
    """folder that receives the release (default: <workspace>/releases)"""
    description: str = ""
    """one paragraph for the data card"""
    follow: Path | None = None
    """an earlier release whose pairs keep their split (stable splits across versions)"""


@dataclass
class ReleaseFilters:
    """The [filters] table of a recipe: which pairs go in."""

    status: str = "accepted"
    """pair status to include"""
    min_motion_quality: float | None = None
    """minimum mean motion-quality rating (1-5); genuine source pairs without ratings pass"""
    min_reaction_plausibility: float | None = None
    """minimum mean reaction-plausibility rating (1-5); genuine source pairs without ratings pass"""
    sources: list[str] | None = None
    """only these motion sources (None: all)"""
    exclude_sources: list[str] = field(default_factory=list)
    """never these motion sources"""
    licences: list[str] | None = None
    """only pairs whose licence id is in this list (None: all)"""
    video_kinds: list[str] | None = None
    """only these video kinds: real, rendered, restyled, external (None: all)"""
    allow_flagged: bool = False
    """include clips the converter flagged in QA (quarantined clips never go in)"""
    min_frames: int = 20
    """shortest motion (feature rows) kept; HERO's evaluation loader needs >= 20"""
    max_frames: int = 200
    """longest motion kept; HERO's max_motion_length is 200"""


@dataclass
class Recipe:
    release: ReleaseSection
    filters: ReleaseFilters
    split: SplitPolicy
    raw: dict[str, Any]
    path: Path | None = None

    @property
    def folder_name(self) -> str:
        return f"{self.release.name}-{self.release.version}"


def _section(cls: type, table: Mapping[str, Any], where: str, path: Path | None) -> Any:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(table) - names)
    if unknown:
        raise ReleaseError(f"[{where}] has unknown keys {unknown}", path=path,
                           fix=f"use only {', '.join(sorted(names))}")
    try:
        return cls(**table)
    except TypeError as exc:
        raise ReleaseError(f"[{where}] is incomplete ({exc})", path=path, fix="add the missing keys") from None


def _toml_loads(text: str, path: Path | None) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise ReleaseError("reading TOML recipes on Python 3.10 needs tomli", path=path,
                               fix="pip install tomli (or use Python 3.11+)") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ReleaseError(f"is not valid TOML ({exc})", path=path, fix="fix the recipe's syntax") from None


def recipe_from_dict(raw: Mapping[str, Any], *, base: Path | None = None, path: Path | None = None) -> Recipe:
    """A Recipe from its TOML tables; relative paths are taken relative to `base`."""
    unknown = sorted(set(raw) - {"release", "filters", "split"})
    if unknown:
        raise ReleaseError(f"has unknown tables {unknown}", path=path, fix="use [release], [filters] and [split]")
    if "release" not in raw:
        raise ReleaseError("has no [release] table", path=path, fix="add [release] with name, version, workspace")
    rel_table = dict(raw["release"])
    for key in ("workspace", "out", "follow"):
        if rel_table.get(key) is not None:
            p = Path(str(rel_table[key]))
            rel_table[key] = p if p.is_absolute() or base is None else (base / p)
    release = _section(ReleaseSection, rel_table, "release", path)
    if not _NAME.fullmatch(release.name) or not _NAME.fullmatch(release.version):
        raise ReleaseError(f"name {release.name!r} / version {release.version!r} must be letters, digits, '.', "
                           "'-' or '_'", path=path, fix="e.g. name = 'vimo-base', version = '1.0.0'")
    filters = _section(ReleaseFilters, dict(raw.get("filters", {})), "filters", path)
    split_table = dict(raw.get("split", {}))
    for key in ("unseen_sub_categories", "reactions_per_video", "guard", "unseen_guard"):
        if key in split_table:
            split_table[key] = tuple(split_table[key])
    policy = _section(SplitPolicy, split_table, "split", path)
    return Recipe(release, filters, policy, json.loads(json.dumps(dict(raw), default=str)), path)


def load_recipe(path: str | Path) -> Recipe:
    """Read a TOML recipe (see data_cards/README.md for an example)."""
    p = Path(path)
    if not p.is_file():
        raise ReleaseError("recipe file does not exist", path=p, fix="check the path")
    return recipe_from_dict(_toml_loads(p.read_text(encoding="utf-8"), p), base=p.parent.resolve(), path=p)


# ----------------------------------------------------------------------------------- selection
@dataclass
class ReleasePair:
    """One pair that passed the filters, with everything the release writes about it."""

    pair: dict[str, Any]
    video: dict[str, Any]
    clip: dict[str, Any]
    broad_category: str
    group: str | None
    sub_category: str
    emotion: str | None
    licence_id: str
    licence: str
    redistributable: bool
    features_path: Path
    video_file: Path
    n_frames: int
    keys: dict[str, tuple[str, ...]]
    motion_id: str
    score: float | None

    @property
    def pair_id(self) -> str:
        return self.pair["pair_id"]


def safe_name(identifier: str) -> str:
    """A file-name form of a catalog id, unique: ids that need changing get a short hash."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", identifier).strip("-.")
    if s == identifier and s:
        return s
    return f"{s}-{hashlib.sha1(identifier.encode()).hexdigest()[:8]}" if s else hashlib.sha1(
        identifier.encode()).hexdigest()[:12]


def _root_video(videos: Mapping[str, dict], video_id: str) -> str:
    seen = set()
    while videos.get(video_id, {}).get("parent_video_id") and video_id not in seen:
        seen.add(video_id)
        video_id = videos[video_id]["parent_video_id"]
    return video_id


def _mean_score(pair: Mapping[str, Any]) -> float | None:
    vals = [pair.get(k) for k in ("motion_quality", "reaction_plausibility") if pair.get(k) is not None]
    return float(np.mean(vals)) if vals else None


def load_features(path: Path) -> np.ndarray:
    """(T, 263) float32 features of a clip, checked (one-line error naming the file otherwise)."""
    arr = atomic.load_npy(path, what="motion features")
    if arr.ndim != 2 or arr.shape[1] != FEATURE_DIM:
        raise MotionError(f"has shape {arr.shape}, expected (T, 263)", path=path, fix="re-convert the clip")
    if not np.isfinite(arr).all():
        raise MotionError("has NaN/inf values", path=path, fix="re-convert the clip")
    return arr.astype(np.float32)


def select_pairs(ws: Any, recipe: Recipe, taxonomy: Taxonomy) -> tuple[list[ReleasePair], Counter]:
    """The pairs of the workspace that pass the recipe's filters, and why the others did not."""
    f = recipe.filters
    cat = ws.catalog
    videos = {v["video_id"]: v for v in cat.query("videos")}
    clips = {c["clip_id"]: c for c in cat.query("clips")}
    out: list[ReleasePair] = []
    excluded: Counter = Counter()
    for pair in cat.query("pairs"):
        if pair["status"] != f.status:
            excluded[f"status {pair['status']}"] += 1
            continue
        clip, video = clips[pair["clip_id"]], videos[pair["video_id"]]
        source = clip["source"]
        if clip["status"] == "quarantined" or (clip["status"] == "flagged" and not f.allow_flagged):
            excluded[f"clip {clip['status']}"] += 1
            continue
        if (f.sources is not None and source not in f.sources) or source in f.exclude_sources:
            excluded[f"source {source} filtered out"] += 1
            continue
        if f.video_kinds is not None and video["kind"] not in f.video_kinds:
            excluded[f"video kind {video['kind']} filtered out"] += 1
            continue
        genuine = pair.get("origin") == "source"
        low = False
        for key, minimum in (("motion_quality", f.min_motion_quality),
                             ("reaction_plausibility", f.min_reaction_plausibility)):
            value = pair.get(key)
            if minimum is not None and (value is None and not genuine or value is not None and value < minimum):
                low = True
        if low:
            excluded["scores below the minimum (or unrated)"] += 1
            continue
        try:
            if pair.get("sub_category"):
                label = taxonomy.check(pair.get("broad_category"), pair["sub_category"], pair.get("emotion"))
            else:
                mapped = taxonomy.label_for(source, clip.get("labels") or {})
                if mapped is None:
                    excluded["no taxonomy label (pair unlabelled, source label not mapped)"] += 1
                    continue
                label = taxonomy.check(mapped.broad_category, mapped.sub_category, pair.get("emotion"))
        except TaxonomyError as exc:
            excluded[f"label: {exc.problem}"] += 1
            continue
        lic = taxonomy.licence(source)
        prov_ok = (clip.get("provenance") or {}).get("redistributable")
        redistributable = (lic.redistributable if lic else bool(prov_ok)) and prov_ok is not False
        video_prov = (video.get("provenance") or {}).get("redistributable")
        if video_prov is False:
            redistributable = False
        if video.get("clip_id") and video["clip_id"] in clips:
            vsrc = clips[video["clip_id"]]["source"]
            vlic = taxonomy.licence(vsrc)
            if (vlic and not vlic.redistributable) or (clips[video["clip_id"]].get("provenance") or {}).get(
                    "redistributable") is False:
                redistributable = False
        licence_id = lic.id if lic else (pair.get("licence") or clip.get("licence") or "unknown")
        licence_text = lic.name if lic else (pair.get("licence") or clip.get("licence") or "unknown")
        if f.licences is not None and licence_id not in f.licences:
            excluded[f"licence {licence_id} filtered out"] += 1
            continue
        if not clip.get("reactor_features"):
            excluded["clip has no reactor features"] += 1
            continue
        features_path = ws.resolve(clip["reactor_features"])
        n_frames = int(load_features(features_path).shape[0])
        if not f.min_frames <= n_frames <= f.max_frames:
            excluded[f"motion length outside {f.min_frames}-{f.max_frames} frames"] += 1
            continue
        video_file = ws.resolve(video["path"])
        if not video_file.is_file():
            raise InputFormatError("video file of an accepted pair does not exist", path=video_file,
                                   fix="restore the video or reject the pair")
        vclip = clips.get(video.get("clip_id") or "")
        keys = leakage_keys(video_id=_root_video(videos, video["video_id"]), motion_id=clip["clip_id"],
                            motion_source=source, motion_sequence=clip["sequence_id"],
                            video_source=vclip["source"] if vclip else None,
                            video_sequence=vclip["sequence_id"] if vclip else None)
        out.append(ReleasePair(pair, video, clip, label.broad_category, taxonomy.sub(label.sub_category).group,
                               label.sub_category, label.emotion, licence_id, licence_text, redistributable,
                               features_path, video_file, n_frames, keys, safe_name(clip["clip_id"]),
                               _mean_score(pair)))
    return out, excluded


def licence_gate(pairs: list[ReleasePair], internal: bool) -> dict[str, Any]:
    """Refuse non-redistributable data outside internal builds; returns the licence summary."""
    by_licence: dict[str, dict[str, Any]] = {}
    for p in pairs:
        entry = by_licence.setdefault(p.licence_id, {"licence": p.licence, "redistributable": p.redistributable,
                                                     "pairs": 0, "sources": set()})
        entry["pairs"] += 1
        entry["sources"].add(p.clip["source"])
        entry["redistributable"] = entry["redistributable"] and p.redistributable
    blocked = Counter(p.clip["source"] for p in pairs if not p.redistributable)
    if blocked and not internal:
        what = ", ".join(f"{n} pairs from {s}" for s, n in sorted(blocked.items()))
        raise LicenceError(f"{what} may not be redistributed", fix="add internal = true to [release] for an internal "
                           "build, or exclude those sources with [filters] exclude_sources")
    return {k: {**v, "sources": sorted(v["sources"])} for k, v in sorted(by_licence.items())}


# ----------------------------------------------------------------------------------- build
@dataclass
class BuildResult:
    path: Path
    status: str
    """'built' or 'unchanged' (an identical release already existed)"""
    counts: dict[str, Any]
    excluded: dict[str, int]


def _lines_of(names: list[str], rows: Mapping[str, dict]) -> tuple[str, str]:
    pairs = "".join(f"{rows[p]['video_path']} {rows[p]['motion_path']}\n" for p in names)
    seen: dict[str, None] = {}
    for p in names:
        seen.setdefault(rows[p]["motion_path"], None)
    return pairs, "".join(f"{m}\n" for m in seen)


def _stats_of(pair_ids: list[str], rows: Mapping[str, dict], per_motion: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    from vimo.motion import FeatureStats

    acc = FeatureStats()
    for motion in dict.fromkeys(rows[p]["motion_path"] for p in pair_ids):
        acc = acc.merge(per_motion[motion])
    mean, std = acc.finalize()
    if not (std > 0).all():
        raise ReleaseError("the train split has feature dimensions with zero spread (Std.npy would hold 0)",
                           fix="add more varied training motions")
    return mean, std


def _write_tree(stage: Path, pairs: list[ReleasePair], splits: Splits, recipe: Recipe, taxonomy: Taxonomy,
                licences: dict, excluded: Counter, progress: Callable[[str], None]) -> dict[str, Any]:
    from vimo.motion import FeatureStats, recover_from_ric

    used = set().union(*map(set, splits.lists.values()))
    chosen = sorted((p for p in pairs if p.pair_id in used), key=lambda p: p.pair_id)
    membership: dict[str, list[str]] = defaultdict(list)
    for name, ids in sorted(splits.lists.items()):
        for pid in ids:
            membership[pid].append(name)
    video_dir: dict[str, str] = {}
    for p in chosen:
        video_dir.setdefault(p.video["video_id"], p.sub_category)

    progress(f"writing {len(chosen)} pairs")
    rows: dict[str, dict[str, Any]] = {}
    per_motion: dict[str, FeatureStats] = {}
    written_videos: set[str] = set()
    for p in chosen:
        motion_rel = f"vector_263/{p.motion_id}.npy"
        joints_rel = f"joints/{p.motion_id}.npy"
        vid = p.video["video_id"]
        video_rel = f"videos/{video_dir[vid]}/{safe_name(vid)}{p.video_file.suffix.lower() or '.mp4'}"
        if motion_rel not in per_motion:
            feats = load_features(p.features_path)
            atomic.save_npy(stage / motion_rel, feats)
            atomic.save_npy(stage / joints_rel, recover_from_ric(feats).astype(np.float32))
            per_motion[motion_rel] = FeatureStats().update(feats)
        if video_rel not in written_videos:
            (stage / video_rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p.video_file, stage / video_rel)
            written_videos.add(video_rel)
        pair = p.pair
        rows[p.pair_id] = {
            "pair_id": p.pair_id, "split": splits.split_of(p.pair_id) or "extra",
            "lists": ";".join(membership[p.pair_id]), "video_id": vid, "video_path": video_rel,
            "video_kind": p.video["kind"], "video_sha256": sha256_file(p.video_file), "motion_id": p.motion_id,
            "motion_path": motion_rel, "joints_path": joints_rel, "n_frames": p.n_frames,
            "motion_sha256": sha256_file(p.features_path), "clip_id": p.clip["clip_id"], "source": p.clip["source"],
            "sequence_id": p.clip["sequence_id"], "frame_start": p.clip.get("frame_start"),
            "frame_end": p.clip.get("frame_end"), "broad_category": p.broad_category, "group": p.group or "",
            "sub_category": p.sub_category, "emotion": p.emotion or "", "origin": pair.get("origin") or "",
            "motion_quality": pair.get("motion_quality"), "reaction_plausibility": pair.get("reaction_plausibility"),
            "score": None if p.score is None else round(p.score, 6), "licence_id": p.licence_id,
            "licence": p.licence, "redistributable": p.redistributable,
            "leakage_keys": ";".join(k for kind in sorted(p.keys) for k in p.keys[kind]),
            "clip_status": p.clip["status"],
        }

    progress("statistics of the train split")
    mean, std = _stats_of(splits.lists["train"], rows, per_motion)
    atomic.save_npy(stage / "Mean.npy", mean)
    atomic.save_npy(stage / "Std.npy", std)
    for split in SPLITS:
        ids = splits.lists[split]
        if split == "val" and not ids:
            continue
        pair_lines, motion_lines = _lines_of(ids, rows)
        atomic.write_text(stage / f"{split}.txt", pair_lines)
        atomic.write_text(stage / f"motions_{split}.txt", motion_lines)
    for name, ids in sorted(splits.lists.items()):
        if name in SPLITS:
            continue
        pair_lines, motion_lines = _lines_of(ids, rows)
        atomic.write_text(stage / "splits" / f"{name}.txt", pair_lines)
        if "/" in name:
            folder, part = name.split("/")
            atomic.write_text(stage / "splits" / folder / f"motions_{part}.txt", motion_lines)
            if part == "train" and ids:
                m, s = _stats_of(ids, rows, per_motion)
                atomic.save_npy(stage / "splits" / folder / "Mean.npy", m)
                atomic.save_npy(stage / "splits" / folder / "Std.npy", s)

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for pid in sorted(rows):
        writer.writerow({k: ("" if v is None else v) for k, v in rows[pid].items()})
    atomic.write_text(stage / MANIFEST, buf.getvalue())

    counts = release_counts(list(rows.values()), splits)
    info = {
        "format_version": FORMAT_VERSION, "vimo_version": __version__, "name": recipe.release.name,
        "version": recipe.release.version, "internal": recipe.release.internal,
        "description": recipe.release.description, "recipe": recipe.raw,
        "taxonomy": {"name": taxonomy.name, "version": taxonomy.version, "sha256": taxonomy.checksum},
        "inputs": input_checksums(chosen), "counts": counts, "excluded": dict(sorted(excluded.items())),
        "licences": licences, "splits": {"notes": splits.notes, "unseen_sub_categories": splits.unseen_sub_categories,
                                         "violations": [asdict(v) for v in splits.violations],
                                         "lists": {k: len(v) for k, v in sorted(splits.lists.items())}},
        "statistics": "Mean.npy / Std.npy over the motions of train.txt only (splits/<variant>/ over its train list)",
    }
    atomic.write_json(stage / INFO, info)
    return info


def release_counts(rows: list[dict[str, Any]], splits: Splits) -> dict[str, Any]:
    """Counts per split and, within the base splits, per broad category / sub-category / emotion / source."""
    base = [r for r in rows if r["split"] in SPLITS]
    out: dict[str, Any] = {"pairs": len(rows), "base_pairs": len(base),
                           "videos": len({r["video_id"] for r in rows}), "motions": len({r["motion_id"] for r in rows})}
    for col in ("split", "broad_category", "sub_category", "emotion", "source", "video_kind"):
        table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for r in base:
            table[str(r[col] or "-")][r["split"]] += 1
        out[f"by_{col}"] = {k: dict(sorted(v.items())) for k, v in sorted(table.items())}
    out["lists"] = {k: len(v) for k, v in sorted(splits.lists.items())}
    return out


def input_checksums(pairs: list[ReleasePair]) -> dict[str, str]:
    """One digest over the catalog rows of the chosen pairs, one over their feature files, one over videos."""
    rows = hashlib.sha256()
    feats = hashlib.sha256()
    vids = hashlib.sha256()
    for p in sorted(pairs, key=lambda x: x.pair_id):
        row = {k: v for k, v in p.pair.items() if k != "created_at"}
        rows.update(json.dumps(row, sort_keys=True, default=str).encode())
        feats.update(f"{p.clip['clip_id']} {sha256_file(p.features_path)}\n".encode())
        vids.update(f"{p.video['video_id']} {sha256_file(p.video_file)}\n".encode())
    return {"pairs": rows.hexdigest(), "features": feats.hexdigest(), "videos": vids.hexdigest()}


def write_checksums(root: Path) -> str:
    """Write CHECKSUMS.sha256 over every file below `root` (sorted POSIX paths); returns its text."""
    lines = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != CHECKSUMS):
        lines.append(f"{sha256_file(path)}  {path.relative_to(root).as_posix()}\n")
    text = "".join(lines)
    atomic.write_text(root / CHECKSUMS, text)
    return text


def read_checksums(root: Path) -> dict[str, str]:
    path = root / CHECKSUMS
    if not path.is_file():
        raise ReleaseError(f"has no {CHECKSUMS}", path=root, fix="pass a release folder built by vimo release build")
    out = {}
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, rel = line.partition("  ")
        if not sep or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ReleaseError(f"line {i} is not '<sha256>  <path>'", path=path, fix="rebuild the release")
        out[rel] = digest
    return out


def previous_splits(release: Path) -> dict[str, str]:
    """pair id -> base split of an earlier release (its manifest)."""
    return {r["pair_id"]: r["split"] for r in read_manifest(release) if r["split"] in SPLITS}


@dataclass
class SplitPlan:
    """What a recipe would release, without writing anything (`vimo split`)."""

    pairs: list[ReleasePair]
    excluded: dict[str, int]
    licences: dict[str, Any]
    splits: Splits


def plan_splits(recipe: Recipe | str | Path) -> SplitPlan:
    """Select, licence-check and split the pairs of a recipe (a dry run of the build)."""
    from vimo.workspace import Workspace

    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    with Workspace.open(recipe.release.workspace) as ws:
        pairs, excluded = select_pairs(ws, recipe, Taxonomy.for_workspace(ws.root))
    if not pairs:
        raise ReleaseError(f"no pair passes the recipe's filters (excluded: {dict(excluded)})", path=recipe.path,
                           fix="accept pairs in the workspace or loosen [filters]")
    licences = licence_gate(pairs, recipe.release.internal)
    items = [SplitItem(p.pair_id, p.video["video_id"], p.clip["clip_id"], p.broad_category, p.sub_category,
                       p.emotion, p.keys, p.pair.get("origin"), p.score) for p in pairs]
    previous = previous_splits(recipe.release.follow) if recipe.release.follow else None
    return SplitPlan(pairs, dict(excluded), licences, make_splits(items, recipe.split, previous))


def build_release(recipe: Recipe | str | Path, *, progress: Callable[[str], None] | None = None) -> BuildResult:
    """Build the release a recipe describes (see the module docstring for the layout)."""
    from vimo.cards import render_card
    from vimo.workspace import Workspace

    step = progress or (lambda msg: None)
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    step("selecting and splitting pairs")
    plan = plan_splits(recipe)
    pairs, excluded, licences, splits = plan.pairs, Counter(plan.excluded), plan.licences, plan.splits
    with Workspace.open(recipe.release.workspace) as ws:
        taxonomy = Taxonomy.for_workspace(ws.root)

        out = Path(recipe.release.out) if recipe.release.out else ws.folder("releases")
        out.mkdir(parents=True, exist_ok=True)
        final = out / recipe.folder_name
        stage = Path(tempfile.mkdtemp(prefix=f".{recipe.folder_name}.", suffix=".staging", dir=out))
        try:
            info = _write_tree(stage, pairs, splits, recipe, taxonomy, licences, excluded, step)
            step("data card")
            render_card(stage, workspace=ws.root, out=stage)
            text = write_checksums(stage)
            if final.exists():
                status = _compare_existing(final, stage)
                shutil.rmtree(stage)
            else:
                os.rename(stage, final)
                status = "built"
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        try:
            rel_path = ws.rel(final)
        except VimoError:
            rel_path = str(final.resolve())
        ws.catalog.add_release(name=recipe.release.name, version=recipe.release.version, path=rel_path,
                               checksum=hashlib.sha256(text.encode()).hexdigest(), recipe=recipe.raw,
                               counts=info["counts"])
    return BuildResult(final, status, info["counts"], dict(excluded))


def _compare_existing(final: Path, stage: Path) -> str:
    old, new = read_checksums(final), read_checksums(stage)
    if old == new:
        return "unchanged"
    differing = sorted(set(old) ^ set(new) | {k for k in set(old) & set(new) if old[k] != new[k]})
    raise ReleaseExistsError(f"release exists with different content ({len(differing)} files differ: "
                             f"{', '.join(differing[:3])}{' ...' if len(differing) > 3 else ''})", path=final, fix="releases are immutable: bump the version in the recipe")


# ----------------------------------------------------------------------------------- verify
@dataclass(frozen=True)
class Problem:
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def read_manifest(root: Path) -> list[dict[str, str]]:
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise ReleaseError(f"has no {MANIFEST}", path=root, fix="pass a release folder built by vimo release build")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("pair_id", "split", "video_path", "motion_path") if c not in (reader.fieldnames or [])]
        if missing:
            raise ReleaseError(f"lacks the columns {missing}", path=path, fix="rebuild the release")
        return list(reader)


def read_info(root: Path) -> dict[str, Any]:
    path = Path(root) / INFO
    if not path.is_file():
        raise ReleaseError(f"has no {INFO}", path=root, fix="pass a release folder built by vimo release build")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ReleaseError(f"is not valid JSON ({exc})", path=path, fix="rebuild the release") from None
    if info.get("format_version") != FORMAT_VERSION:
        raise FormatVersionError(f"release format version {info.get('format_version')} differs from this vimo's "
                                 f"{FORMAT_VERSION}", path=path,
                                 fix="rebuild it with this vimo (vimo release build RECIPE with a new version)")
    return info


def verify_release(root: str | Path) -> list[Problem]:
    """Every problem of a release folder (empty: it verifies): checksums, unlisted files, statistics,
    list files, array shapes, manifest consistency and leakage between the splits."""
    root = Path(root)
    problems: list[Problem] = []
    if not root.is_dir():
        return [Problem(str(root), "release folder does not exist")]
    try:
        listed = read_checksums(root)
    except ReleaseError as exc:
        return [Problem(str(exc.path or root), exc.problem)]
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


def _check_structure(root: Path) -> list[Problem]:
    problems: list[Problem] = []
    for name in ("Mean.npy", "Std.npy"):
        try:
            arr = atomic.load_npy(root / name, what="statistics")
        except VimoError as exc:
            problems.append(Problem(name, exc.problem))
            continue
        if arr.shape != (FEATURE_DIM,) or not np.isfinite(arr).all():
            problems.append(Problem(name, f"has shape {arr.shape} or non-finite values, expected (263,)"))
        elif name == "Std.npy" and (arr <= 0).any():
            problems.append(Problem(name, "has zero or negative values"))
    sides: dict[str, list[tuple[str, str]]] = {}
    for split in SPLITS:
        path = root / f"{split}.txt"
        if not path.is_file():
            if split != "val":
                problems.append(Problem(f"{split}.txt", "missing"))
            continue
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
        sides[split] = []
        for i, line in enumerate(lines, 1):
            parts = line.split()
            if len(parts) != 2:
                problems.append(Problem(f"{split}.txt", f"line {i} has {len(parts)} fields, expected 2"))
                continue
            sides[split].append((parts[0], parts[1]))
        motions = root / f"motions_{split}.txt"
        if not motions.is_file():
            problems.append(Problem(f"motions_{split}.txt", "missing"))
        elif set(motions.read_text().split()) != {m for _, m in sides[split]}:
            problems.append(Problem(f"motions_{split}.txt", f"does not list the motions of {split}.txt"))
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
                elif rel.startswith("vector_263/"):
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
    leaks = sorted(k for k, s in keys_at.items() if len(s) > 1)
    if leaks:
        problems.append(Problem(MANIFEST, f"{len(leaks)} leakage keys in more than one split, e.g. {leaks[0]}"))
    return problems


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
    stats = any(sha256_file(Path(a) / n) != sha256_file(Path(b) / n) for n in ("Mean.npy", "Std.npy")
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


# ----------------------------------------------------------------------------------- export
def export_humanml3d(release: str | Path, out: str | Path, *, overwrite: bool = False) -> dict[str, int]:
    """A plain HumanML3D layout of a release: new_joint_vecs/<id>.npy (T, 263), new_joints/<id>.npy
    (T, 22, 3), Mean.npy, Std.npy and train/val/test/all.txt listing motion ids (no texts: ViMo has none)."""
    release, out = Path(release), Path(out)
    problems = verify_release(release)
    if problems:
        raise ReleaseError(f"release does not verify ({problems[0]})", path=release,
                           fix="run vimo release verify and rebuild the release")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise WorkspaceError("output folder is not empty", path=out, fix="choose an empty folder or pass --overwrite")
    counts: dict[str, int] = {}
    ids_all: dict[str, None] = {}
    for split in SPLITS:
        path = release / f"motions_{split}.txt"
        if not path.is_file():
            continue
        ids = [Path(m).stem for m in path.read_text().split()]
        for mid in ids:
            ids_all.setdefault(mid, None)
        atomic.write_text(out / f"{split}.txt", "".join(f"{m}\n" for m in ids))
        counts[split] = len(ids)
    for mid in ids_all:
        atomic.write_bytes(out / "new_joint_vecs" / f"{mid}.npy", (release / "vector_263" / f"{mid}.npy").read_bytes())
        atomic.write_bytes(out / "new_joints" / f"{mid}.npy", (release / "joints" / f"{mid}.npy").read_bytes())
    for name in ("Mean.npy", "Std.npy"):
        atomic.write_bytes(out / name, (release / name).read_bytes())
    atomic.write_text(out / "all.txt", "".join(f"{m}\n" for m in ids_all))
    counts["motions"] = len(ids_all)
    return counts

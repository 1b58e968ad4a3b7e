"""Building a release: selecting the pairs of a workspace, the licence gate, staging the tree and renaming it
into place (building an existing version again is a no-op when identical, refused otherwise)."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from vimo import __version__, atomic
from vimo.atomic import sha256_file
from vimo.errors import InputFormatError, MotionError, VimoError
from vimo.motion.skeleton import FEATURE_DIM
from vimo.splits import SPLITS, SplitItem, Splits, leakage_keys, make_splits
from vimo.taxonomy import Taxonomy, TaxonomyError
from vimo.release.layout import (ACTOR_JOINTS_DIR, CAMERAS_DIR, FORMAT_VERSION, INFO, MANIFEST, MANIFEST_COLUMNS,
                                 MEAN, OTHER_ACTOR, OWN_ACTOR, SPLITS_DIR, STD, LicenceError,
                                 ReleaseError, ReleaseExistsError, motion_list, motion_path, pair_list,
                                 read_checksums, read_manifest, release_digest, write_checksums)
from vimo.release.recipe import Recipe, load_recipe
from vimo.workspace import writer_lock

# ----------------------------------------------------------------------------------- selection
#: the `excluded` reason of pairs left out for their clip's QA flags: this prefix + the flags joined by " + "
FLAGGED = "clip flagged: "


def clip_flags(clip: Mapping[str, Any]) -> list[str]:
    """The QA flags of a catalog clip row (sorted)."""
    return sorted((clip.get("qa") or {}).get("flags") or [])


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
    own_actor: bool = False
    """the video shows this clip's actor (real frames or a render of the actor's motion): an original pair"""
    actor_joints_path: Path | None = None
    """the clip's actor joints (reactor's canonical frame) for an original pair that has them"""
    camera: tuple[Path, dict[str, Any]] | None = None
    """(sidecar file, provenance record) of the camera track of the video (or of the render it restyles)"""

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


def shows_own_actor(videos: Mapping[str, dict], video: Mapping[str, Any], clip_id: str) -> bool:
    """Whether a pair's video shows the actor of the pair's own clip: the video (or the video it derives from)
    belongs to that clip and is not a render of the reactor. Extra T2/T3 reactions, matched to a video of another
    clip, and external videos do not."""
    seen: set[str] = set()
    v: Mapping[str, Any] | None = video
    while v is not None and v["video_id"] not in seen:
        seen.add(v["video_id"])
        if (v.get("provenance") or {}).get("subject") == "reactor":
            return False
        if v.get("clip_id"):
            return v["clip_id"] == clip_id
        v = videos.get(v.get("parent_video_id") or "")
    return False


def camera_sidecar(ws: Any, videos: Mapping[str, dict], video: Mapping[str, Any]) -> tuple[Path, dict] | None:
    """The camera track recorded in the provenance of a video, or of the render it derives from (restyling
    keeps the camera): (sidecar path next to that video, the `camera_track` record), or None."""
    seen: set[str] = set()
    v: Mapping[str, Any] | None = video
    while v is not None and v["video_id"] not in seen:
        seen.add(v["video_id"])
        track = (v.get("provenance") or {}).get("camera_track")
        if isinstance(track, Mapping) and track.get("file"):
            return ws.resolve(v["path"]).with_name(Path(str(track["file"])).name), dict(track)
        v = videos.get(v.get("parent_video_id") or "")
    return None


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
        if clip["status"] == "quarantined":
            excluded["clip quarantined"] += 1
            continue
        flags = clip_flags(clip)
        if set(flags) & set(f.drop_flags) or (clip["status"] == "flagged" and not f.allow_flagged):
            excluded[FLAGGED + " + ".join(flags) if flags else "clip flagged"] += 1
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
        own = shows_own_actor(videos, video, clip["clip_id"])
        out.append(ReleasePair(pair, video, clip, label.broad_category, taxonomy.sub(label.sub_category).group,
                               label.sub_category, label.emotion, licence_id, licence_text, redistributable,
                               features_path, video_file, n_frames, keys, safe_name(clip["clip_id"]),
                               _mean_score(pair), own,
                               ws.resolve(clip["actor_joints"]) if own and clip.get("actor_joints") else None,
                               camera_sidecar(ws, videos, video)))
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
    digest: str = ""
    """the release digest (layout.release_digest), also recorded in the catalog's releases.checksum"""


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
    actor_written: dict[str, bool] = {}
    cameras: dict[str, str] = {}
    reaction_problems: list[str] = []
    for p in chosen:
        motion_rel = motion_path(p.motion_id)
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
        actor_rel = f"{ACTOR_JOINTS_DIR}/{p.motion_id}.npy"
        if p.actor_joints_path is not None and actor_rel not in actor_written:
            actor_written[actor_rel] = _write_actor_joints(stage / actor_rel, p, reaction_problems)
        two_person = p.actor_joints_path is not None and actor_written.get(actor_rel, False)
        if p.camera is not None and vid not in cameras:
            cameras[vid] = _write_camera(stage, vid, *p.camera, reaction_problems)
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
            "clip_status": p.clip["status"], "video_actor": OWN_ACTOR if p.own_actor else OTHER_ACTOR,
            "two_person": two_person, "actor_joints_path": actor_rel if two_person else "",
            "camera_path": cameras.get(vid) or "",
        }

    progress("statistics of the train split")
    mean, std = _stats_of(splits.lists["train"], rows, per_motion)
    atomic.save_npy(stage / MEAN, mean)
    atomic.save_npy(stage / STD, std)
    for split in SPLITS:
        ids = splits.lists[split]
        if split == "val" and not ids:
            continue
        pair_lines, motion_lines = _lines_of(ids, rows)
        atomic.write_text(stage / pair_list(split), pair_lines)
        atomic.write_text(stage / motion_list(split), motion_lines)
    for name, ids in sorted(splits.lists.items()):
        if name in SPLITS:
            continue
        pair_lines, motion_lines = _lines_of(ids, rows)
        atomic.write_text(stage / SPLITS_DIR / f"{name}.txt", pair_lines)
        if "/" in name:
            folder, part = name.split("/")
            atomic.write_text(stage / SPLITS_DIR / folder / motion_list(part), motion_lines)
            if part == "train" and ids:
                m, s = _stats_of(ids, rows, per_motion)
                atomic.save_npy(stage / SPLITS_DIR / folder / MEAN, m)
                atomic.save_npy(stage / SPLITS_DIR / folder / STD, s)

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
        "qa_flags": dict(sorted(Counter(flag for p in chosen for flag in clip_flags(p.clip)).items())),
        "licences": licences, "splits": {"notes": splits.notes, "unseen_sub_categories": splits.unseen_sub_categories,
                                         "violations": [asdict(v) for v in splits.violations],
                                         "lists": {k: len(v) for k, v in sorted(splits.lists.items())}},
        "statistics": "Mean.npy / Std.npy over the motions of train.txt only (splits/<variant>/ over its train list)",
        "reaction_data": {"two_person_pairs": sum(bool(r["two_person"]) for r in rows.values()),
                          "other_actor_pairs": sum(r["video_actor"] == OTHER_ACTOR for r in rows.values()),
                          "actor_joints": sum(actor_written.values()), "cameras": sum(map(bool, cameras.values())),
                          "problems": reaction_problems},
    }
    atomic.write_json(stage / INFO, info)
    return info


def _write_actor_joints(target: Path, p: ReleasePair, problems: list[str]) -> bool:
    """Copy an original pair's actor joints (checked: (T, 22, 3) finite, T = the features' rows + 1); a bad file
    leaves the pair without two-person measures and is reported in meta/info.json, the build goes on."""
    try:
        joints = atomic.load_npy(p.actor_joints_path, what="actor joints")
    except VimoError as exc:
        problems.append(f"{p.pair_id}: {exc.one_line()}")
        return False
    # a clip's joint tracks have one frame more than its 263-d features (the last frame has no velocity); the
    # release keeps the frames the features (and joints/) describe
    if joints.ndim != 3 or joints.shape[1:] != (22, 3) or joints.shape[0] not in (p.n_frames, p.n_frames + 1) \
            or not np.isfinite(joints).all():
        problems.append(f"{p.pair_id}: {p.actor_joints_path}: actor joints have shape {joints.shape} or NaN/inf, "
                        f"expected ({p.n_frames + 1}, 22, 3) (fix: re-convert the clip)")
        return False
    atomic.save_npy(target, joints[:p.n_frames].astype(np.float32))
    return True


def _write_camera(stage: Path, video_id: str, sidecar: Path, record: Mapping[str, Any], problems: list[str]) -> str:
    """Copy a video's camera track to cameras/<video>.json after checking it against its provenance record
    (sha256, format, frame count); returns its release path, or '' (reported) when it does not check."""
    from vimo.metrics.reaction import ReactionMeasureError, camera_track

    rel = f"{CAMERAS_DIR}/{safe_name(video_id)}.json"
    fix = "re-render the video (vimo render writes the camera track next to the mp4)"
    if not sidecar.is_file():
        problems.append(f"{video_id}: {sidecar}: camera track missing (fix: {fix})")
        return ""
    data = sidecar.read_bytes()
    if record.get("sha256") and hashlib.sha256(data).hexdigest() != record["sha256"]:
        problems.append(f"{video_id}: {sidecar}: sha256 differs from the video's provenance (fix: {fix})")
        return ""
    try:
        track = camera_track(json.loads(data), path=sidecar)
    except (ValueError, ReactionMeasureError) as exc:
        problems.append(f"{video_id}: {exc.one_line() if isinstance(exc, VimoError) else f'{sidecar}: {exc}'}")
        return ""
    if record.get("frames") is not None and int(record["frames"]) != track.camera_to_world.shape[0]:
        problems.append(f"{video_id}: {sidecar}: {track.camera_to_world.shape[0]} camera frames, the provenance "
                        f"records {record['frames']} (fix: {fix})")
        return ""
    atomic.write_bytes(stage / rel, data)
    return rel


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
    """Build the release a recipe describes (see the module docstring for the layout), holding the
    workspace's writer lock; the staging folders of killed builds are removed first."""
    step = progress or (lambda msg: None)
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    with writer_lock(recipe.release.workspace, "release build"):
        return _build_locked(recipe, step)


def _build_locked(recipe: Recipe, step: Callable[[str], None]) -> BuildResult:
    from vimo.cards import render_card
    from vimo.workspace import Workspace

    step("selecting and splitting pairs")
    plan = plan_splits(recipe)
    pairs, excluded, licences, splits = plan.pairs, Counter(plan.excluded), plan.licences, plan.splits
    with Workspace.open(recipe.release.workspace) as ws:
        taxonomy = Taxonomy.for_workspace(ws.root)

        out = Path(recipe.release.out) if recipe.release.out else ws.folder("releases")
        out.mkdir(parents=True, exist_ok=True)
        final = out / recipe.folder_name
        remove_staging_leftovers(out)
        stage = Path(tempfile.mkdtemp(prefix=f".{recipe.folder_name}.pid{os.getpid()}.", suffix=".staging", dir=out))
        try:
            info = _write_tree(stage, pairs, splits, recipe, taxonomy, licences, excluded, step)
            step("data card")
            render_card(stage, workspace=ws.root, out=stage)
            write_checksums(stage)
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
        digest = release_digest(final)
        ws.catalog.add_release(name=recipe.release.name, version=recipe.release.version, path=rel_path,
                               checksum=digest, recipe=recipe.raw, counts=info["counts"])
    return BuildResult(final, status, info["counts"], dict(excluded), digest)


#: `.<release folder>.pid<pid>.<random>.staging`: the folder a build writes before renaming it into place
_STAGING = re.compile(r"^\.(?P<name>.+)\.pid(?P<pid>\d+)\.[A-Za-z0-9_]+\.staging$")


def remove_staging_leftovers(out: Path) -> list[Path]:
    """Delete the staging folders of killed builds in `out`: those whose builder process is gone, and
    those of an older vimo that named no process (`.<name>.<random>.staging`); returns them. Runs under
    the workspace's writer lock, so no other build of this workspace is writing."""
    from vimo.workspace import pid_alive

    gone = []
    for d in sorted(out.glob(".*.staging")):
        m = _STAGING.match(d.name)
        if d.is_dir() and (m is None or not pid_alive(int(m.group("pid")))):
            shutil.rmtree(d, ignore_errors=True)
            gone.append(d)
    return gone


def _compare_existing(final: Path, stage: Path) -> str:
    old, new = read_checksums(final), read_checksums(stage)
    if old == new:
        return "unchanged"
    differing = sorted(set(old) ^ set(new) | {k for k in set(old) & set(new) if old[k] != new[k]})
    raise ReleaseExistsError(f"release exists with different content ({len(differing)} files differ: "
                             f"{', '.join(differing[:3])}{' ...' if len(differing) > 3 else ''})", path=final, fix="releases are immutable: bump the version in the recipe")

"""Source sequences -> workspace clips: preflight, idempotent units of work, quarantine, summary.

    from vimo.pipelines.convert import ConvertOptions, convert
    from vimo.pipelines.sources import get_source
    source = get_source("interx")("/data/Inter-X_Dataset", get_source("interx").config_class(body_models=...))
    summary = convert(source, ConvertOptions(workspace="ws", workers=2))

One unit of work = one source sequence (`ClipRef`). It loads the sequence (20 fps, metres, Y up),
cuts clips of min_frames-max_frames rows (canonical.equal_windows over each eligible span), puts
both persons in the reactor's canonical frame, encodes 263-d features for both, computes the QA
figures, and writes every clip as one folder, atomically (built in a temporary folder, then
renamed into place; checksums in meta.json catch anything a power loss tears):

    <ws>/clips/<clip_id>/features_reactor.npy  (T-1, 263) float32
                         features_actor.npy    (T-1, 263) float32   (two-person sources)
                         joints_reactor.npy    (T, 22, 3) float32, metres, Y up, reactor's canonical frame
                         joints_actor.npy      (T, 22, 3) float32, same frame
                         meta.json             provenance, labels, QA, file checksums, format version
    <ws>/convert/<source>/items/<key>.json     what the unit produced (clip ids, person-frame accounting)
                                               and with which config
    <ws>/quarantine/<source>/<key>.json        why a unit failed (one line naming the file)

The workspace (vimo.workspace) is created when missing; its SQLite catalog gets one `clips` row
per clip, built from the clip's meta.json as written (file paths, features checksum: the same row
whether a run converted the unit or skipped it), and one `jobs` row per unit (kind
"convert:<source>", quarantined units with their reason), written by the main process only. A run
holds the workspace's writer lock (vimo.workspace.writer_lock): a second run on the same workspace
fails at once naming the first; the leftovers of killed runs are removed at the start. A re-run skips every unit whose record matches the config and whose clips validate
(`validate_clip`), and redoes the rest; the outputs are byte-identical (nothing in them depends on
time or order). A failing unit writes no clip.

Person-frame accounting: every unit reports how many (person, frame) pairs its files hold and where
each went, in exactly one of: `used` (in a clip, measured), `interpolated` (in a clip, filled across a
short gap), or skipped as `absent`, `non_finite`, `invalid_person`, `no_partner` (no other usable person
in that frame) or `not_in_clip` (outside every interaction span, in a span too short for a clip, or
left over when a span is cut into equal windows); see `count_person_frames`. The counts are stored in
the unit's record, so the summary of a resumed run still covers the units an earlier run converted.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vimo.atomic import write_json
from vimo.errors import (InputFormatError, MotionError, PathEscapeError, VimoError, check_format_version,
                         require_inside)
from vimo.motion import joints_to_features_batch
from vimo.pipelines import canonical
from vimo.pipelines.sources.base import (
    PERSON_FRAME_REASONS, SOURCES, ClipRef, NoUsablePairError, SequenceCoverage, Source, TwoPersonMotion, check_disk,
    get_source,
)
from vimo.workspace import Workspace, clips_dir, quarantine_dir, writer_lock

CLIP_FORMAT = "vimo-clip"
CLIP_FORMAT_VERSION = 1
MIN_FRAMES = 40
MAX_FRAMES = 200
#: a QA figure beyond its limit adds a flag to the clip (it is still written)
QA_LIMITS = {"recovery_max_m": 1e-3, "foot_skate_mps": 0.5, "bone_cv_max": 0.02}
CLIP_FILES = ("features_reactor", "features_actor", "joints_reactor", "joints_actor")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class PreflightError(VimoError):
    """The input layout, body models or disk are not ready; `problems` lists every one."""

    def __init__(self, problems: list[str], *, path: str | Path | None, expected_tree: str):
        self.problems = problems
        self.expected_tree = expected_tree
        super().__init__(f"{len(problems)} problem(s) before conversion: " + "; ".join(problems), path=path,
                         fix="provide the missing pieces (expected layout in `vimo convert <source> --help`)")


@dataclass
class ConvertOptions:
    """How a conversion runs. Each field is also a `vimo convert` flag."""

    workspace: Path
    workers: int = 1
    executor: str = "local"
    ray_address: str | None = None
    max_failures: int | None = None
    min_frames: int = MIN_FRAMES
    max_frames: int = MAX_FRAMES
    limit: int | None = None

    def __post_init__(self) -> None:
        self.workspace = Path(self.workspace).expanduser()
        if not 2 <= self.min_frames <= self.max_frames:
            raise VimoError(f"need 2 <= min_frames <= max_frames, got {self.min_frames}, {self.max_frames}",
                            fix="pass e.g. --min-frames 40 --max-frames 200")


@dataclass(frozen=True)
class ItemJob:
    """Everything a worker needs for one unit of work (picklable)."""

    source: str
    root: str
    config: tuple[tuple[str, Any], ...]
    ref: ClipRef
    workspace: str
    min_frames: int
    max_frames: int
    fingerprint: str


#: what became of a unit, for the summary (key -> meaning)
OUTCOMES = {
    "clips": "converted into clips",
    "no_interaction": "no clip: no (reactor, actor) pair meets the interaction rule",
    "too_short": "no clip: every interaction span is shorter than --min-frames",
    "no_clip": "no clip (recorded by an older vimo, which kept no reason)",
    "no_pair_together": "quarantined: no pair is present together long enough",
    "bad_input": "quarantined: a file is missing, unreadable or malformed",
    "bad_motion": "quarantined: the motion fails a check (units, up axis, NaN, length)",
    "unexpected": "quarantined: unexpected error (a vimo bug; traceback in the quarantine record)",
}
#: the person-frame counters of a unit and of the summary: seen = the sum of all the others
PERSON_FRAME_KEYS = ("seen", "used", "interpolated") + PERSON_FRAME_REASONS
#: how the summary names each skipped person-frame reason
PERSON_FRAME_LABELS = {
    "absent": "absent (not in the frame's file)",
    "non_finite": "non-finite joints",
    "invalid_person": "invalid person (skipped by config)",
    "no_partner": "no other usable person in the frame",
    "not_in_clip": "outside every interaction span or too short for a clip",
}


@dataclass
class ItemResult:
    key: str
    status: str  # converted | skipped | empty | quarantined
    clips: list[str] = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0
    reason: str | None = None
    metas: list[dict] = field(default_factory=list)
    #: a key of OUTCOMES (a skipped unit: the outcome recorded when it was converted)
    outcome: str | None = None
    #: PERSON_FRAME_KEYS -> count; None when unknown (a quarantined unit whose files could not be read)
    person_frames: dict[str, int] | None = None


@dataclass
class ConvertSummary:
    """Counts of one run. `clips`, `outcomes` and `person_frames` cover every unit of the run, also
    those skipped because an earlier run converted them (read back from their records); `frames` and
    `seconds` are the work of this run only."""

    source: str
    items: int = 0
    converted: int = 0
    skipped: int = 0
    empty: int = 0
    quarantined: int = 0
    clips: int = 0
    frames: int = 0
    seconds: float = 0.0
    quarantine: list[tuple[str, str]] = field(default_factory=list)
    max_failures: int | None = None
    flags: dict[str, int] = field(default_factory=dict)
    """clips per QA flag (e.g. order_suspect), over the clips of converted and skipped units"""
    #: OUTCOMES key -> units
    outcomes: dict[str, int] = field(default_factory=dict)
    #: PERSON_FRAME_KEYS -> (person, frame) pairs over the units whose accounting is known
    person_frames: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PERSON_FRAME_KEYS, 0))
    #: units without person-frame accounting (quarantined before their files were read, or recorded
    #: by an older vimo)
    person_frames_unknown: int = 0

    @property
    def over_budget(self) -> bool:
        return self.max_failures is not None and self.quarantined > self.max_failures

    @property
    def kept_share(self) -> float | None:
        """Measured person-frames in clips / person-frames seen (None when nothing was seen)."""
        seen = self.person_frames.get("seen", 0)
        return self.person_frames.get("used", 0) / seen if seen else None

    def add(self, result: ItemResult) -> None:
        """Count one unit's result."""
        setattr(self, result.status, getattr(self, result.status) + 1)
        if result.status in ("converted", "skipped"):
            self.clips += len(result.clips)
        self.frames += result.frames
        if result.status == "quarantined":
            self.quarantine.append((result.key, result.reason or ""))
        if result.outcome is not None:
            self.outcomes[result.outcome] = self.outcomes.get(result.outcome, 0) + 1
        if result.person_frames is None:
            self.person_frames_unknown += 1
        else:
            for k in PERSON_FRAME_KEYS:
                self.person_frames[k] += int(result.person_frames.get(k, 0))

    def report_lines(self) -> list[str]:
        """The units by outcome and the person-frame accounting, in words (what `vimo convert` prints)."""
        lines = ["units: " + ", ".join(f"{n} {OUTCOMES.get(k, k)}" for k, n in sorted(
            self.outcomes.items(), key=lambda kv: list(OUTCOMES).index(kv[0]) if kv[0] in OUTCOMES else 99))]
        pf = self.person_frames
        known = self.items - self.person_frames_unknown
        scope = f"{known} of {self.items} units" + (", including units converted by an earlier run"
                                                      if self.skipped else "")
        if pf["seen"]:
            skipped = [f"{pf[k]} {PERSON_FRAME_LABELS[k]}" for k in PERSON_FRAME_REASONS if pf[k]]
            lines.append(f"person-frames ({scope}): {pf['seen']} seen, {pf['used']} kept in clips "
                         f"({pf['used'] / pf['seen']:.1%})"
                         + (f" + {pf['interpolated']} interpolated across short gaps" if pf["interpolated"] else "")
                         + ("; skipped: " + ", ".join(skipped) if skipped else ""))
        if self.person_frames_unknown:
            lines.append(f"person-frames not counted for {self.person_frames_unknown} unit(s): quarantined before "
                         f"their files could be read, or recorded by an older vimo (delete "
                         f"convert/{self.source}/items/ to recount)")
        if self.flags:
            lines.append("clips flagged by QA (kept, marked; `vimo clips list` says why): "
                         + ", ".join(f"{n} {flag}" for flag, n in sorted(self.flags.items())))
        return lines

    def as_dict(self) -> dict:
        d = asdict(self)
        d["over_budget"] = self.over_budget
        share = self.kept_share
        d["person_frames_kept_share"] = None if share is None else round(share, 6)
        return d


# ----------------------------------------------------------------------------- clips (pure)

@dataclass
class ClipData:
    clip_id: str
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]


def clip_id(source: str, ref: ClipRef, motion: TwoPersonMotion, start: int, stop: int) -> str:
    parts = [source, ref.key] + ([motion.direction] if motion.direction else []) + [f"{start:05d}-{stop:05d}"]
    return _SAFE.sub("_", "-".join(parts))


def build_clips(source: str, ref: ClipRef, motions: list[TwoPersonMotion], *, min_frames: int = MIN_FRAMES,
                max_frames: int = MAX_FRAMES, coverage: SequenceCoverage | None = None) -> list[ClipData]:
    """Cut, canonicalise, encode and QA every clip of one sequence's motions (no I/O).

    With the sequence's `coverage`, every clip's provenance gets `person_frames` (person -> frames,
    present, finite, in_clips, interpolated over the whole sequence) and a clip holding interpolated
    rows of a person is flagged `<reactor|actor>_frames_interpolated` (with their count in the meta)."""
    pending: list[tuple[str, TwoPersonMotion, int, int, canonical.CanonicalFrame, np.ndarray, np.ndarray | None]] = []
    for m in motions:
        spans = m.segments if m.segments is not None else [(0, len(m.reactor))]
        for a, b in spans:
            for s, e in canonical.equal_windows(a, b, max_frames, min_frames):
                reactor = m.reactor[s:e].astype(np.float64)
                frame = canonical.reactor_frame(reactor)
                r = canonical.to_frame(reactor, frame)
                act = None if m.actor is None else canonical.to_frame(m.actor[s:e], frame)
                pending.append((clip_id(source, ref, m, s, e), m, s, e, frame, r, act))
    if not pending:
        return []
    tracks = []
    names = []
    for cid, m, s, e, frame, r, act in pending:
        tracks.append(r)
        names.append(f"{cid} (reactor)")
        if act is not None:
            tracks.append(act)
            names.append(f"{cid} (actor)")
    feats = iter(joints_to_features_batch(tracks, names=names))
    windows = [(m.persons, s, e) for _, m, s, e, *_ in pending]
    per_person = None if coverage is None else person_frames_by_person(coverage, windows)
    clips = []
    for cid, m, s, e, frame, r, act in pending:
        arrays = {"joints_reactor": r, "features_reactor": next(feats)}
        if act is not None:
            arrays["joints_actor"] = act
            arrays["features_actor"] = next(feats)
        qa: dict[str, Any] = {"reactor": canonical.person_qa(r, arrays["features_reactor"], m.fps)}
        if act is not None:
            qa["actor"] = canonical.person_qa(act, arrays["features_actor"], m.fps)
        flags = list(m.qa_flags)
        for who in ("reactor", "actor"):
            for k, limit in QA_LIMITS.items():
                if who in qa and qa[who][k] > limit:
                    flags.append(f"{who}_{k}_high")
        if abs(m.fps - canonical_fps()) > 1e-6:
            flags.append("fps_not_20")
        filled = {}
        if coverage is not None:
            for who, name in m.persons.items():
                if name in coverage.finite and (n := int((~coverage.finite[name][s:e]).sum())):
                    filled[who] = n
                    flags.append(f"{who}_frames_interpolated")
        qa["flags"] = flags
        sf = np.asarray(m.source_frames[s:e])
        provenance = m.provenance if per_person is None else dict(m.provenance, person_frames=per_person)
        meta = {
            "format": CLIP_FORMAT, "format_version": CLIP_FORMAT_VERSION, "clip_id": cid,
            "source": source, "sequence_id": ref.sequence_id, "unit": ref.key, "fps": m.fps, "n_frames": e - s,
            "rows": [s, e], "source_frames": {"first": _num(sf[0]), "last": _num(sf[-1]), "count": int(len(sf))},
            "persons": m.persons, "provenance": provenance, "labels": m.labels,
            "canonical_frame": frame.as_dict(), "qa": qa,
        }
        if coverage is not None:
            meta["interpolated_frames"] = filled
        clips.append(ClipData(clip_id=cid, arrays=arrays, meta=meta))
    return clips


def canonical_fps() -> float:
    return 20.0


def _num(v: Any) -> int | float:
    f = float(v)
    return int(f) if f.is_integer() else round(f, 6)


# ----------------------------------------------------------------------------- person-frame accounting (pure)

def _in_clips(coverage: SequenceCoverage, windows: list[tuple[dict[str, str], int, int]]) -> dict[str, np.ndarray]:
    """person -> (T,) bool: the row is inside a clip where the person is the reactor or the actor."""
    used = {p: np.zeros(coverage.frames, dtype=bool) for p in coverage.present}
    for persons, s, e in windows:
        for name in persons.values():
            if name in used:
                used[name][s:e] = True
    return used


def person_frames_by_person(coverage: SequenceCoverage,
                            windows: list[tuple[dict[str, str], int, int]]) -> dict[str, dict[str, int]]:
    """person -> {frames, present, finite, in_clips, interpolated} of one sequence, given its clip
    windows (persons of the clip, first row, stop row)."""
    used = _in_clips(coverage, windows)
    out = coverage.as_dict()
    for p, row in out.items():
        row["in_clips"] = int(used[p].sum())
        row["interpolated"] = int((used[p] & ~coverage.finite[p]).sum())
    return out


def count_person_frames(coverage: SequenceCoverage,
                        windows: list[tuple[dict[str, str], int, int]]) -> dict[str, int]:
    """Where every (person, frame) of one sequence went: PERSON_FRAME_KEYS -> count.

    Each person-frame lands in the first of: in a clip and finite -> used; in a clip, not finite ->
    interpolated; not in the frame's file -> absent; present, not finite -> non_finite; the person is
    skipped (coverage.skipped) -> invalid_person; no other usable person is finite in that frame ->
    no_partner; else not_in_clip. seen = persons x frames = the sum of the rest.
    """
    used = _in_clips(coverage, windows)
    usable = [p for p in coverage.present if p not in coverage.skipped]
    finite_count = np.zeros(coverage.frames, dtype=int)
    for p in usable:
        finite_count += coverage.finite[p]
    counts = dict.fromkeys(PERSON_FRAME_KEYS, 0)
    for p in coverage.present:
        present, finite, u = coverage.present[p], coverage.finite[p], used[p]
        rest = ~u
        counts["used"] += int((u & finite).sum())
        counts["interpolated"] += int((u & ~finite).sum())
        counts["absent"] += int((rest & ~present).sum())
        counts["non_finite"] += int((rest & present & ~finite).sum())
        rest = rest & finite
        if p in coverage.skipped:
            counts["invalid_person"] += int(rest.sum())
            continue
        alone = finite_count - 1 <= 0  # finite here, so it counts itself
        counts["no_partner"] += int((rest & alone).sum())
        counts["not_in_clip"] += int((rest & ~alone).sum())
    counts["seen"] = sum(v for k, v in counts.items() if k != "seen")
    return counts


# ----------------------------------------------------------------------------- clip folders (I/O)

def _npy_bytes(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


def write_clip(workspace: str | Path, clip: ClipData) -> Path:
    """Write one clip folder atomically (temporary folder, then rename); replaces an old one."""
    return _write_clip(workspace, clip)[0]


def _write_clip(workspace: str | Path, clip: ClipData) -> tuple[Path, dict]:
    """write_clip, returning also the meta exactly as meta.json holds it (with `files`): the catalog
    row of a clip is built from it, so a row written now equals one read back from disk later."""
    root = clips_dir(workspace)
    root.mkdir(parents=True, exist_ok=True)
    final = root / clip.clip_id
    tmp = root / f".tmp-{clip.clip_id}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    files = {}
    for name in CLIP_FILES:
        if name not in clip.arrays:
            continue
        data = _npy_bytes(clip.arrays[name])
        (tmp / f"{name}.npy").write_bytes(data)
        files[name] = {"path": f"{name}.npy", "shape": list(clip.arrays[name].shape),
                       "sha256": hashlib.sha256(data).hexdigest()}
    text = json.dumps(dict(clip.meta, files=files), indent=2, sort_keys=True, default=_json_default) + "\n"
    (tmp / "meta.json").write_text(text)
    # No fsync per file: the rename makes a kill atomic, and after a power loss every clip is
    # checked against the sha256 sums in its meta.json (validate_clip) before a re-run skips it.
    if final.exists():
        trash = root / f".old-{clip.clip_id}-{os.getpid()}"
        os.replace(final, trash)
        os.replace(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, final)
    return final, json.loads(text)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def validate_clip(clip_dir: str | Path) -> dict:
    """Check one clip folder (format version, every file present with its shape and checksum).
    Returns its meta; raises InputFormatError / FormatVersionError naming the file."""
    d = Path(clip_dir)
    meta_path = d / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise InputFormatError("clip has no meta.json", path=meta_path, fix="re-run vimo convert") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputFormatError(f"is not valid JSON ({exc})", path=meta_path, fix="re-run vimo convert") from None
    if meta.get("format") != CLIP_FORMAT:
        raise InputFormatError("is not a vimo clip meta.json", path=meta_path, fix="re-run vimo convert")
    check_format_version(meta.get("format_version"), CLIP_FORMAT_VERSION, what="clip", path=meta_path,
                         older_fix="re-run `vimo convert <source> SRC --workspace WS` to rewrite the clips")
    n = int(meta["n_frames"])
    if "features_reactor" not in meta.get("files", {}) or "joints_reactor" not in meta.get("files", {}):
        raise InputFormatError("lists no reactor files", path=meta_path, fix="re-run vimo convert")
    for name, info in meta["files"].items():
        try:
            p = require_inside(info["path"], d)
        except PathEscapeError:
            raise InputFormatError(f"names the {name} file {info['path']!r}, outside the clip folder", path=meta_path,
                                   fix="re-run vimo convert to rewrite the clip") from None
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            raise InputFormatError("clip file is missing", path=p, fix="re-run vimo convert") from None
        if hashlib.sha256(data).hexdigest() != info["sha256"]:
            raise InputFormatError("checksum differs from meta.json (changed or truncated)", path=p,
                                   fix="re-run vimo convert")
        want = [n - 1, 263] if name.startswith("features") else [n, 22, 3]
        if info["shape"] != want:
            raise InputFormatError(f"shape {info['shape']}, expected {want}", path=p, fix="re-run vimo convert")
    return meta


def remove_leftovers(workspace: str | Path) -> list[Path]:
    """Delete what a killed run left behind: half-written clip folders (clips/.tmp-*, .old-*) and
    half-written records (.<name>.<random>.tmp in convert/ and quarantine/); returns them. Call it
    with the workspace's writer lock held (vimo.workspace.writer_lock): no other run is writing."""
    gone = []
    root = clips_dir(workspace)
    if root.is_dir():
        for d in root.iterdir():
            if d.is_dir() and (d.name.startswith(".tmp-") or d.name.startswith(".old-")):
                shutil.rmtree(d, ignore_errors=True)
                gone.append(d)
    for folder in (Path(workspace) / "convert", quarantine_dir(workspace)):
        if folder.is_dir():
            for f in folder.rglob(".*.tmp"):
                if f.is_file():
                    f.unlink(missing_ok=True)
                    gone.append(f)
    return gone


def list_clips(workspace: str | Path) -> list[dict]:
    """Every valid clip of a workspace: id, source, provenance, labels, QA and absolute file paths;
    invalid folders are listed with `error`."""
    out = []
    root = clips_dir(workspace)
    if not root.is_dir():
        return out
    for d in sorted(root.iterdir()):
        if not d.is_dir() or d.name.startswith("."):
            continue
        try:
            meta = validate_clip(d)
        except VimoError as exc:
            out.append({"clip_id": d.name, "error": exc.one_line()})
            continue
        meta = dict(meta)
        meta["paths"] = {k: str((d / v["path"]).resolve()) for k, v in meta.pop("files").items()}
        out.append(meta)
    return out


# ----------------------------------------------------------------------------- workspace catalog

def catalog_job_kind(source: str) -> str:
    return f"convert:{source}"


def clip_record(meta: dict, files: dict[str, str] | None = None) -> dict[str, Any]:
    """The catalog row (vimo.catalog `clips` table) of one clip's meta.json."""
    cid = meta["clip_id"]
    if files is not None:
        names = files
    elif "files" in meta:
        names = {k: v["path"] for k, v in meta["files"].items()}
    else:  # a meta without its files: the reactor's, and the actor's when the clip has one
        who = ("reactor", "actor") if meta["persons"].get("actor") else ("reactor",)
        names = {f"{kind}_{w}": f"{kind}_{w}.npy" for w in who for kind in ("features", "joints")}
    prov = meta["provenance"]
    present = set(names)
    flags = meta["qa"].get("flags", [])
    return {
        "clip_id": cid, "source": meta["source"], "sequence_id": meta["sequence_id"],
        "source_split": prov.get("split"), "frame_start": meta["source_frames"]["first"],
        "frame_end": meta["source_frames"]["last"], "source_fps": prov.get("source_fps"),
        "n_frames": meta["n_frames"], "actor": meta["persons"].get("actor"), "reactor": meta["persons"]["reactor"],
        "actor_rule": prov.get("actor_reactor_rule"),
        "raw_order_label": None if prov.get("raw_label") is None else json.dumps(prov["raw_label"], sort_keys=True),
        **{f"{who}_{kind}": (f"clips/{cid}/{names[f'{kind}_{who}']}" if f"{kind}_{who}" in present else None)
           for who in ("reactor", "actor") for kind in ("features", "joints")},
        "labels": meta["labels"], "qa": meta["qa"], "provenance": prov, "licence": prov.get("licence"),
        "status": "flagged" if flags else "ok", "reason": ", ".join(flags) or None,
        "checksum": (meta.get("files") or {}).get("features_reactor", {}).get("sha256"),
    }


def record_in_catalog(catalog: Any, workspace: Path, source: str, job: "ItemJob", result: "ItemResult") -> None:
    """Register one unit's outcome in the workspace catalog: its job state, its clips (upserted),
    clips it no longer produces (deleted). Runs in the main process only (one SQLite writer)."""
    kind = catalog_job_kind(source)
    if result.status == "quarantined":
        catalog.fail(kind, job.ref.key, result.reason or "", quarantine=True)
    else:
        catalog.finish(kind, job.ref.key)
    metas = {m["clip_id"]: m for m in result.metas}
    for cid in result.clips:
        if cid not in metas:  # a skipped unit (its worker validated the clips): the row is rebuilt from
            try:              # meta.json, so it equals the row a run that converted the unit wrote
                metas[cid] = json.loads((clips_dir(workspace) / cid / "meta.json").read_text())
            except (OSError, ValueError):
                continue
    for cid, meta in metas.items():
        catalog.add_clip(**clip_record(meta))
    for row in catalog.clips(source=source):
        if row["sequence_id"] == job.ref.sequence_id and row["clip_id"] not in result.clips:
            catalog.delete("clips", row["clip_id"])


# ----------------------------------------------------------------------------- units of work

_SOURCE_CACHE: dict[tuple, Source] = {}


def _source_for(job: ItemJob) -> Source:
    key = (job.source, job.root, job.config)
    if key not in _SOURCE_CACHE:
        cls = get_source(job.source)
        cfg = dict(job.config)
        if cfg.get("body_models") is not None:
            cfg["body_models"] = Path(cfg["body_models"])
        _SOURCE_CACHE[key] = cls(job.root, cls.config_class(**cfg))
    return _SOURCE_CACHE[key]


def item_record_path(workspace: str | Path, source: str, key: str) -> Path:
    return Path(workspace) / "convert" / source / "items" / f"{_SAFE.sub('_', key)}.json"


def quarantine_path(workspace: str | Path, source: str, key: str) -> Path:
    return quarantine_dir(workspace, source) / f"{_SAFE.sub('_', key)}.json"


def _done(job: ItemJob) -> dict | None:
    """The record of a finished unit whose record matches and whose clips all validate, else None."""
    rec = item_record_path(job.workspace, job.source, job.ref.key)
    try:
        record = json.loads(rec.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if record.get("fingerprint") != job.fingerprint or record.get("status") not in ("converted", "empty"):
        return None
    try:
        for cid in record["clips"]:
            validate_clip(clips_dir(job.workspace) / cid)
    except (VimoError, KeyError, ValueError):
        return None
    return record


def convert_item(job: ItemJob) -> ItemResult:
    """One unit of work (runs in a worker). Never raises for bad input: it is quarantined."""
    t0 = time.perf_counter()
    done = _done(job)
    if done is not None:
        outcome = done.get("outcome") or ("clips" if done["clips"] else "no_clip")  # older records lack it
        return ItemResult(key=job.ref.key, status="skipped", clips=list(done["clips"]), seconds=time.perf_counter() - t0,
                          outcome=outcome, person_frames=done.get("person_frames"))
    ws = Path(job.workspace)
    rec_path = item_record_path(ws, job.source, job.ref.key)
    q_path = quarantine_path(ws, job.source, job.ref.key)
    written: list[Path] = []
    try:
        source = _source_for(job)
        motions, coverage = source.load_with_coverage(job.ref)
        clips = build_clips(job.source, job.ref, motions, min_frames=job.min_frames, max_frames=job.max_frames,
                            coverage=coverage)
        short = [m for m in motions if m.segments is None and len(m.reactor) < job.min_frames]
        if short:  # a whole-sequence source: too short is bad input, not "no interaction"
            where = Path(job.root) / job.ref.paths[0]
            raise MotionError(f"has {len(short[0].reactor)} frames at {short[0].fps:g} fps, clips need at least "
                              f"{job.min_frames}", path=where, fix="exclude the sequence or lower --min-frames")
        previous = _previous_clips(rec_path)
        metas = []
        for clip in clips:
            folder, meta = _write_clip(ws, clip)
            written.append(folder)
            metas.append(meta)
        ids = [c.clip_id for c in clips]
        for stale in sorted(set(previous) - set(ids)):
            shutil.rmtree(clips_dir(ws) / stale, ignore_errors=True)
        status = "converted" if clips else "empty"
        reason = None if clips else _empty_reason(job, motions)
        outcome = "clips" if clips else ("too_short" if motions else "no_interaction")
        counts = None if coverage is None else count_person_frames(coverage, _windows(clips))
        write_json(rec_path, {"unit": job.ref.key, "sequence_id": job.ref.sequence_id, "status": status,
                              "clips": ids, "reason": reason, "fingerprint": job.fingerprint, "outcome": outcome,
                              "person_frames": counts})
        if q_path.exists():
            q_path.unlink()
        frames = sum(c.meta["n_frames"] for c in clips)
        return ItemResult(key=job.ref.key, status=status, clips=ids, frames=frames, reason=reason,
                          seconds=time.perf_counter() - t0, metas=metas, outcome=outcome,
                          person_frames=counts)
    except Exception as exc:  # noqa: BLE001  (a bad item must not stop the run)
        for d in written:
            shutil.rmtree(d, ignore_errors=True)
        if isinstance(exc, VimoError):
            reason = exc.one_line()
        else:
            where = job.ref.paths[0] if job.ref.paths else job.ref.sequence_id
            reason = f"{Path(job.root) / where}: unexpected {type(exc).__name__}: {exc}"
        for p in _previous_clips(rec_path):
            shutil.rmtree(clips_dir(ws) / p, ignore_errors=True)
        if rec_path.exists():
            rec_path.unlink()
        # the person-frames of a unit quarantined for want of a pair are known (none is in a clip);
        # those of a unit whose files are broken are not
        counts = count_person_frames(exc.coverage, []) if isinstance(exc, NoUsablePairError) else None
        outcome = _quarantine_outcome(exc)
        write_json(q_path, {"unit": job.ref.key, "sequence_id": job.ref.sequence_id, "reason": reason,
                            "error": type(exc).__name__, "outcome": outcome, "person_frames": counts,
                            "traceback": None if isinstance(exc, VimoError) else traceback.format_exc(limit=5)})
        return ItemResult(key=job.ref.key, status="quarantined", reason=reason, seconds=time.perf_counter() - t0,
                          outcome=outcome, person_frames=counts)


def _windows(clips: list[ClipData]) -> list[tuple[dict[str, str], int, int]]:
    return [(c.meta["persons"], c.meta["rows"][0], c.meta["rows"][1]) for c in clips]


def _quarantine_outcome(exc: Exception) -> str:
    if isinstance(exc, NoUsablePairError):
        return "no_pair_together"
    if isinstance(exc, MotionError):
        return "bad_motion"
    if isinstance(exc, VimoError):
        return "bad_input"
    return "unexpected"


def count_flags(counts: dict[str, int], workspace: Path, result: ItemResult) -> None:
    """Add the QA flags of a unit's clips to `counts` (flag -> clips); a skipped unit's flags are read
    from its clips' meta.json."""
    metas = result.metas or [json.loads((clips_dir(workspace) / cid / "meta.json").read_text())
                             for cid in result.clips]
    for meta in metas:
        for flag in meta["qa"].get("flags", []):
            counts[flag] = counts.get(flag, 0) + 1


def _previous_clips(rec_path: Path) -> list[str]:
    try:
        return list(json.loads(rec_path.read_text()).get("clips", []))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return []


def _empty_reason(job: ItemJob, motions: list[TwoPersonMotion]) -> str:
    if not motions:
        return f"{job.ref.sequence_id}: no motion (no qualifying pair or not a motion file)"
    longest = max((b - a for m in motions for a, b in (m.segments or [(0, len(m.reactor))])), default=0)
    return (f"{job.ref.sequence_id}: longest eligible span is {longest} frames, clips need >= {job.min_frames}")


# ----------------------------------------------------------------------------- the run

def fingerprint(source: Source, options: ConvertOptions) -> str:
    """What the outputs depend on: source name and config, clip bounds, clip format version."""
    what = {"source": source.name, "config": {k: v for k, v in source.config_dict().items()},
            "min": options.min_frames, "max": options.max_frames, "format": CLIP_FORMAT_VERSION}
    if source.output_version != 1:  # left out at 1, so that older workspaces keep matching
        what["output_version"] = source.output_version
    blob = json.dumps(what, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def preflight(source: Source, options: ConvertOptions) -> list[ClipRef]:
    """Check the whole input layout, the body models and the disk before any work; returns the
    units of work. PreflightError lists every problem at once."""
    problems = list(source.preflight())
    refs: list[ClipRef] = []
    if not problems:
        try:
            refs = source.discover()
        except (OSError, VimoError) as exc:
            problems.append(exc.one_line() if isinstance(exc, VimoError) else f"{source.root}: {exc}")
        if not problems and not refs:
            problems.append(f"{source.root}: no sequence to convert")
    ws = options.workspace
    if ws.exists() and not ws.is_dir():
        problems.append(f"{ws}: the workspace exists and is not a folder")
    else:
        probe = ws
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not os.access(probe, os.W_OK):
            problems.append(f"{probe}: not writable")
        if options.limit is not None:
            refs = refs[: options.limit]
        disk = check_disk(ws, source.estimate_bytes(refs))
        if disk:
            problems.append(disk)
    if problems:
        raise PreflightError(problems, path=source.root, expected_tree=source.expected_tree)
    return refs


def make_jobs(source: Source, options: ConvertOptions, refs: list[ClipRef]) -> list[ItemJob]:
    fp = fingerprint(source, options)
    cfg = tuple(sorted(source.config_dict().items()))
    return [ItemJob(source=source.name, root=str(source.root), config=cfg, ref=r, workspace=str(options.workspace),
                    min_frames=options.min_frames, max_frames=options.max_frames, fingerprint=fp) for r in refs]


def convert(source: Source, options: ConvertOptions,
            progress: Callable[[ItemResult, int, int], None] | None = None) -> ConvertSummary:
    """Preflight, then every unit of work through the chosen executor; returns the summary.
    `progress(result, done, total)` is called in this process after each unit."""
    from vimo.pipelines.executors import make_executor

    t0 = time.perf_counter()
    refs = preflight(source, options)
    jobs = make_jobs(source, options, refs)
    summary = ConvertSummary(source=source.name, items=len(jobs), max_failures=options.max_failures)
    with writer_lock(options.workspace, "convert", create=True):
        workspace = Workspace.init(options.workspace)
        remove_leftovers(options.workspace)
        by_key = {j.ref.key: j for j in jobs}
        workspace.catalog.enqueue(catalog_job_kind(source.name), list(by_key))
        executor = make_executor(options.executor, options.workers, options.ray_address)
        try:
            for i, result in enumerate(executor.map(convert_item, jobs), 1):
                summary.add(result)
                if result.status in ("converted", "skipped"):
                    count_flags(summary.flags, options.workspace, result)
                record_in_catalog(workspace.catalog, options.workspace, source.name, by_key[result.key], result)
                if progress is not None:
                    progress(result, i, len(jobs))
        finally:
            executor.close()
            workspace.close()
    summary.quarantine.sort()
    summary.flags = dict(sorted(summary.flags.items()))
    summary.seconds = time.perf_counter() - t0
    write_json(options.workspace / "convert" / source.name / "last_run.json", summary.as_dict())
    return summary


def registered_sources() -> dict[str, type[Source]]:
    import vimo.pipelines.sources  # noqa: F401

    return dict(SOURCES)

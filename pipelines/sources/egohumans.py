"""Ego-Humans (Khirodkar et al., ICCV 2023): per-frame world SMPL joints of 2-4 Aria wearers.

    vimo convert egohumans /data/egohumans --workspace ws
    vimo convert egohumans /data/egohumans --workspace ws --max-distance-m 2.5 --one-direction

Layout and facts: docs/sources.md §3. No body model is needed: every per-frame dict holds
the fitted SMPL `joints` (SMPL-45 keypoints, the first 22 are the body joints). The world is the
anchor Aria's SLAM frame, gravity-aligned but with an undocumented up axis: the axis is estimated per
sequence from the stance feet (canonical.estimate_up, axis_aligned) and the world snapped to it exactly.

Which person reacts is a rule (there are no labels): by default every ordered pair of valid
wearers (reactor, actor) gives clips over the frames where the reactor faces the actor within
--facing-deg at most --max-distance-m away, for at least --min-seconds (gaps of up to
--max-gap-frames closed). Wearers listed as invalid in the official per-sequence configs
(pipelines/data/egohumans_sequence_configs.csv) are skipped.

Kept and skipped: a person missing from a frame's file, or with NaN/inf joints there, is simply not
available in that frame; each pair gets clips where both are present. A hole of at most
--max-gap-frames inside an interaction span is filled by linear interpolation of the joints (the clip
is flagged <reactor|actor>_frames_interpolated); a longer hole splits the span. A sequence is
quarantined only when no pair is present together for --min-seconds, or when its files are broken
(a missing frame file, an unreadable one, wrong shapes, a person listed as expected who never appears,
non-metric units). The summary counts every person-frame: kept in clips, interpolated, or skipped as
absent, non-finite, invalid person, without a partner in the frame, or outside any interaction span.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from itertools import combinations, permutations
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vimo.errors import InputFormatError, MotionError
from vimo.pipelines import canonical
from vimo.pipelines.sources.base import (
    ClipRef, NoUsablePairError, SequenceCoverage, Source, SourceConfig, TwoPersonMotion, printable_name,
    read_npy_object, register_source,
)

# ----------------------------------------------------------------------------- conventions
FPS = 20  # third-party inspection; no fps in the official material (docs/sources.md §3.3)
UP_AXIS = None  # estimated per sequence from the bodies
UNITS = "metres"
JOINT_KEY = "joints"  # SMPL-45 keypoints; [:22] are the SMPL body joints
PERSON_PATTERN = re.compile(r"^aria\d\d$")
FRAME_PATTERN = re.compile(r"^(\d{5})\.npy$")
SMPL_DIR = "processed_data/smpl"
LICENCE = "Ego-Humans: code Apache-2.0 (CMU and Meta); no data licence published - ask the authors before release"
REDISTRIBUTABLE = False
CONFIG_TABLE = "egohumans_sequence_configs.csv"

EXPECTED_TREE = """\
<root>/
  <NN_activity>/<NNN_activity>/              e.g. 01_tagging/001_tagging (found by glob)
    processed_data/smpl/00001.npy ...        per-frame dict aria01..aria04 -> {joints (45, 3), ...}
    ego/ariaNN/                              optional (Aria recordings)"""


@dataclass
class EgoHumansConfig(SourceConfig):
    """Interaction and reactor rules (Ego-Humans and Harmony4D)."""

    max_distance_m: float = field(default=3.0, metadata={
        "help": "largest horizontal pelvis distance between reactor and actor, metres"})
    facing_deg: float = field(default=60.0, metadata={
        "help": "the reactor's forward must point at the actor within this angle, degrees"})
    min_seconds: float = field(default=2.0, metadata={"help": "shortest interaction window, seconds"})
    max_gap_frames: int = field(default=10, metadata={
        "help": "breaks of the distance/facing rule, and holes where a person is absent or NaN, of at most this "
                "many frames are closed (missing joints interpolated linearly); longer ones split the span"})
    both_directions: bool = field(default=True, metadata={
        "help": "take every pair in both directions (each person once the reactor); off: only the "
                "direction with more qualifying frames"})
    reactor_must_wear_aria: bool = field(default=True, metadata={
        "help": "the reactor must be an Aria wearer (an ego/<person> folder exists)"})
    axis_aligned_world: bool = field(default=True, metadata={
        "help": "the world is gravity-aligned (Aria SLAM world; Harmony4D's COLMAP frame made so): the estimated "
                "up is snapped to the nearest signed axis, so a lean never tilts a clip, and a sequence whose floor "
                "is far from every axis is refused; off: today's estimate, snapped only within 5 deg, else "
                "rotated by the raw estimate and flagged up_axis_estimated"})
    invalid_persons: str = field(default="", metadata={
        "help": "extra persons to skip in every sequence, comma-separated (e.g. aria04)"})


@lru_cache(maxsize=1)
def official_invalid_arias() -> dict[str, frozenset[str]]:
    """sequence folder name (e.g. 004_basketball) -> INVALID_ARIAS of its official config."""
    text = resources.files("vimo.pipelines").joinpath("data", CONFIG_TABLE).read_text(encoding="utf-8")
    out = {}
    for row in csv.DictReader(text.splitlines()):
        out[row["sequence"]] = frozenset(row["invalid_arias"].split())
    return out


def read_frame_joints(path: Path) -> dict[str, np.ndarray]:
    """One per-frame file -> person -> (22, 3) float64 joints (keys checked, first 22 kept)."""
    data = read_npy_object(path, what="per-frame SMPL file")
    if not isinstance(data, dict):
        raise InputFormatError(f"holds {type(data).__name__}, expected a dict person -> SMPL dict", path=path,
                               fix="re-extract the sequence archive")
    out = {}
    for person, entry in data.items():
        if not isinstance(entry, dict) or JOINT_KEY not in entry:
            raise InputFormatError(f"entry {person!r} has no '{JOINT_KEY}' key", path=path,
                                   fix="re-extract the sequence archive (processed_data/smpl)")
        j = np.asarray(entry[JOINT_KEY])
        if j.dtype.kind not in "fiu":
            raise InputFormatError(f"{person}['{JOINT_KEY}'] has shape {j.shape} dtype {j.dtype}, expected a numeric "
                                   "(45, 3) array", path=path, fix="re-extract the sequence archive (processed_data/smpl)")
        if j.ndim != 2 or j.shape[0] < 22 or j.shape[1] != 3:
            raise InputFormatError(f"{person}['{JOINT_KEY}'] has shape {j.shape}, expected (45, 3)", path=path,
                                   fix="re-extract the sequence archive")
        out[str(person)] = j[:22].astype(np.float64)
    return out


class PerFrameSmplSource(Source):
    """The per-frame-dict layout shared by Ego-Humans and Harmony4D."""

    config_class = EgoHumansConfig
    config: EgoHumansConfig
    fps: ClassVar[float] = FPS
    output_version = 2  # 2: persons absent in some frames no longer quarantine the sequence
    redistributable: ClassVar[bool] = REDISTRIBUTABLE
    #: the world is gravity-aligned (Aria SLAM; Harmony4D's COLMAP frame made so): the up estimate only picks
    #: the axis, so a lean never tilts a clip (canonical.estimate_up)
    world_axis_aligned: ClassVar[bool] = True

    # -- what differs between the two datasets
    def sequence_dirs(self) -> list[tuple[str, Path]]:
        """(key, sequence folder) pairs, sorted by key."""
        found = []
        for smpl in sorted(self.root.glob(f"*/*/{SMPL_DIR}")):
            seq = smpl.parent.parent
            found.append((f"{seq.parent.name}-{seq.name}", seq))
        return found

    def invalid_persons(self, seq_dir: Path) -> set[str]:
        extra = {p.strip() for p in self.config.invalid_persons.split(",") if p.strip()}
        return set(official_invalid_arias().get(seq_dir.name, frozenset())) | extra

    def expected_persons(self, seq_dir: Path) -> set[str] | None:
        """Persons that must be present in every frame (None: whoever the files hold)."""
        return None

    def labels(self, seq_dir: Path) -> dict[str, Any]:
        activity = re.sub(r"^\d+_", "", seq_dir.parent.name)
        return {"activity": activity, "activity_folder": seq_dir.parent.name}

    def split(self, seq_dir: Path) -> str | None:
        return None

    # -- Source
    def preflight(self) -> list[str]:
        if not self.root.is_dir():
            return [f"{self.root}: the {self.name} root folder does not exist"]
        problems = []
        if not self.sequence_dirs():
            problems.append(f"{self.root}: no sequence found (no */*/{SMPL_DIR} folder)")
        for name, value, lo, hi in (("--max-distance-m", self.config.max_distance_m, 0.1, 50),
                                    ("--facing-deg", self.config.facing_deg, 1, 180),
                                    ("--min-seconds", self.config.min_seconds, 0.05, 60)):
            if not lo <= value <= hi:
                problems.append(f"{name} must be within {lo}-{hi}, got {value}")
        return problems

    def discover(self) -> list[ClipRef]:
        refs = []
        for key, seq in self.sequence_dirs():
            rel = seq.relative_to(self.root).as_posix()
            refs.append(ClipRef(key=printable_name(key), sequence_id=rel, paths=(f"{rel}/{SMPL_DIR}",)))
        return refs

    def _stack(self, seq_dir: Path) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Frame numbers (T,), person -> (T, 22, 3) joints (NaN where absent), person -> (T,) present."""
        smpl = self.inside_root(seq_dir.relative_to(self.root) / SMPL_DIR)
        numbers = []
        for p in smpl.iterdir():
            m = FRAME_PATTERN.match(p.name)
            if m:
                numbers.append(int(m.group(1)))
        numbers.sort()
        if not numbers:
            raise InputFormatError("holds no NNNNN.npy frame file", path=smpl, fix="re-extract the sequence archive")
        if numbers[0] != 1:
            raise InputFormatError(f"frame numbering starts at {numbers[0]:05d}.npy, expected 00001.npy", path=smpl,
                                   fix="renumber the frame files from 00001 (the official numbering) or re-extract "
                                       "the sequence archive")
        if numbers != list(range(1, len(numbers) + 1)):
            missing = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))
            raise InputFormatError(f"frame file {missing[0]:05d}.npy is missing ({len(missing)} missing in "
                                   f"1..{numbers[-1]})", path=smpl / f"{missing[0]:05d}.npy",
                                   fix="re-extract the sequence archive; frames must be contiguous from 00001")
        frames: list[dict[str, np.ndarray]] = []
        for n in numbers:
            path = self.inside_root(seq_dir.relative_to(self.root) / SMPL_DIR / f"{n:05d}.npy")
            frames.append(read_frame_joints(path))
        persons = sorted(set().union(*frames))
        t = len(frames)
        joints = {p: np.full((t, 22, 3), np.nan) for p in persons}
        present = {p: np.zeros(t, dtype=bool) for p in persons}
        for i, fr in enumerate(frames):
            for p, j in fr.items():
                joints[p][i] = j
                present[p][i] = True
        return np.asarray(numbers), joints, present

    def load(self, ref: ClipRef) -> list[TwoPersonMotion]:
        return self.load_with_coverage(ref)[0]

    def load_with_coverage(self, ref: ClipRef) -> tuple[list[TwoPersonMotion], SequenceCoverage]:
        self.check_names(ref)
        seq_dir = self.root / ref.sequence_id
        smpl = seq_dir / SMPL_DIR
        numbers, joints, present = self._stack(seq_dir)
        invalid = self.invalid_persons(seq_dir)
        must = self.expected_persons(seq_dir)
        valid = [p for p in joints if p not in invalid and PERSON_PATTERN.match(p)]
        if must is not None:
            absent_everywhere = sorted(must - set(joints) - invalid)
            if absent_everywhere:
                raise InputFormatError(f"{absent_everywhere[0]} never appears in the per-frame files", path=smpl,
                                       fix=f"re-extract the sequence, or skip it with --invalid-persons "
                                           f"{absent_everywhere[0]}")
        if len(valid) < 2:
            raise MotionError(f"{len(valid)} valid person(s) ({', '.join(valid) or 'none'}), two are needed",
                              path=smpl, fix="check the invalid-person list of this sequence")
        # absent or non-finite frames are simply not available for that person
        finite = {p: present[p] & np.isfinite(joints[p]).all(axis=(1, 2)) for p in joints}
        for p in joints:
            joints[p][~finite[p]] = np.nan
        coverage = SequenceCoverage(frames=len(numbers), present=present, finite=finite,
                                    skipped={p: "invalid_person" for p in joints if p not in valid})
        min_frames = max(2, int(round(self.config.min_seconds * self.fps)))
        gap = self.config.max_gap_frames
        together = {pair: spans for pair in combinations(valid, 2)
                    if (spans := canonical.runs(finite[pair[0]] & finite[pair[1]], min_frames, gap))}
        if not together:
            seen = ", ".join(f"{p} {int(finite[p].sum())}/{len(numbers)}" for p in valid)
            raise NoUsablePairError(
                f"no (reactor, actor) pair is present together for >= {min_frames} frames (gaps <= {gap} closed); "
                f"finite frames per person: {seen}", coverage=coverage, path=smpl,
                fix="nothing to convert here; lower --min-seconds or raise --max-gap-frames to use shorter "
                    "overlaps, or exclude the sequence")
        people = [joints[p] for p in valid]
        up = canonical.estimate_up(people, axis_aligned=self.world_axis_aligned and self.config.axis_aligned_world,
                                     path=smpl)
        rot = np.array(up.rotation)
        world = {p: canonical.apply_rotation(joints[p], rot) for p in valid}
        for p in valid:  # per run of finite frames: leaving and coming back elsewhere is no speed error
            for s, e in canonical.runs(finite[p], 1):
                canonical.check_units(world[p][s:e], self.fps, path=smpl, who=p)
        flags = list(up.qa_flags)
        wearers = {p for p in valid if (seq_dir / "ego" / p).is_dir()} if self.config.reactor_must_wear_aria \
            else set(valid)
        candidates: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for r, a in permutations(valid, 2):
            if r not in wearers:
                continue
            mask = canonical.interaction_mask(world[r], world[a], max_distance_m=self.config.max_distance_m,
                                              facing_deg=self.config.facing_deg)
            spans = canonical.runs(mask, min_frames, gap)
            if spans:
                candidates[(r, a)] = spans
        if not self.config.both_directions:
            for r, a in list(candidates):
                if (a, r) in candidates and (r, a) in candidates:
                    mine = sum(e - s for s, e in candidates[(r, a)])
                    theirs = sum(e - s for s, e in candidates[(a, r)])
                    drop = (a, r) if (mine, a) >= (theirs, r) else (r, a)
                    candidates.pop(drop)
        rule = (f"reactor {'wears an Aria and ' if self.config.reactor_must_wear_aria else ''}faces the actor within "
                f"{self.config.facing_deg:g} deg at <= {self.config.max_distance_m:g} m for >= "
                f"{self.config.min_seconds:g} s (gaps <= {gap} frames closed; a person's absent or "
                f"non-finite frames inside a closed gap are interpolated linearly); "
                f"{'both directions' if self.config.both_directions else 'one direction per pair'}")
        motions = []
        for (r, a), spans in sorted(candidates.items()):
            provenance = {
                "source": self.name, "sequence_id": ref.sequence_id, "source_fps": self.fps, "stride": 1,
                "files": [f"{ref.sequence_id}/{SMPL_DIR}/NNNNN.npy"], "actor_reactor_rule": rule,
                "raw_label": None, "licence": self.licence, "redistributable": self.redistributable,
                "split": self.split(seq_dir), "valid_persons": valid, "skipped_persons": sorted(invalid & set(joints)),
                "up_axis": up.as_dict(),
            }
            motions.append(TwoPersonMotion(
                reactor=fill_gaps(world[r], finite[r], spans, gap).astype(np.float32),
                actor=fill_gaps(world[a], finite[a], spans, gap).astype(np.float32), fps=self.fps,
                source_frames=numbers, direction=f"{r}-{a}", persons={"reactor": r, "actor": a},
                provenance=provenance, labels=self.labels(seq_dir), qa_flags=list(flags), segments=spans))
        return motions, coverage


def fill_gaps(joints: np.ndarray, finite: np.ndarray, spans: list[tuple[int, int]], max_gap: int) -> np.ndarray:
    """(T, 22, 3) joints with every non-finite row inside `spans` linearly interpolated, per coordinate,
    between the person's nearest finite rows before and after it (a copy; rows outside stay as they are).

    Spans come from canonical.runs(mask, ..., max_gap) of a mask that is False wherever the person is not
    finite, so every such hole is <= max_gap rows and has finite rows on both sides inside the span.
    """
    out = np.array(joints, dtype=np.float64, copy=True)
    for s, e in spans:
        rows = np.flatnonzero(finite[s:e]) + s
        if len(rows) == e - s:
            continue
        holes = np.setdiff1d(np.arange(s, e), rows)
        if len(rows) == 0 or holes[0] < rows[0] or holes[-1] > rows[-1]:
            raise ValueError(f"span {s}-{e} does not start and end on finite rows")
        longest = int(np.max(np.diff(rows))) - 1
        if longest > max_gap:
            raise ValueError(f"a hole of {longest} rows in span {s}-{e} exceeds max_gap {max_gap}")
        flat = out.reshape(len(out), -1)
        for c in range(flat.shape[1]):
            flat[holes, c] = np.interp(holes, rows, flat[rows, c])
    return out


@register_source("egohumans")
class EgoHumansSource(PerFrameSmplSource):
    summary = "Ego-Humans: per-frame world SMPL joints of 2-4 Aria wearers, 20 fps, up estimated"
    licence = LICENCE
    expected_tree = EXPECTED_TREE

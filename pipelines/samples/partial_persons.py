"""Fake Ego-Humans / Harmony4D trees whose persons are missing in some frames, as in real captures.

    tree = write_partial_tree(tmp_path / "eh", EGO_PARTIAL)                       # Ego-Humans layout
    tree = write_partial_tree(tmp_path / "h4d", HARMONY_PARTIAL, harmony4d=True)  # Harmony4D layout
    punch_holes(seq_dir, [Hole("aria03", 0, 70)])                                 # on any written sequence

A `Hole` removes a person from the per-frame files of rows [start, stop) ("absent": a wearer who
joins late, leaves the view, or whose fit failed) or writes NaN into one of its joints ("nan").
`person_frame_truth` computes, from the specs alone, which person-frames the files hold, so that
tests and benchmarks/partial_persons.py can check the converter's accounting against it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vimo.pipelines.samples.sources import EgoSequence, EgoTree, write_egohumans_tree, write_harmony4d_tree

FPS = 20


@dataclass(frozen=True)
class Hole:
    """Rows [start, stop) (0-based; the frame file of row i is i + 1) where `person` is missing."""

    person: str
    start: int
    stop: int
    kind: str = "absent"  # "absent": not in the frame's dict; "nan": joint 4 is NaN


@dataclass(frozen=True)
class PartialSequence:
    spec: EgoSequence
    holes: tuple[Hole, ...] = ()
    note: str = ""

    @property
    def frames(self) -> int:
        return int(round(self.spec.duration_s * FPS))

    @property
    def persons(self) -> tuple[str, ...]:
        return ("aria01", "aria02") + (("aria03", "aria04") if self.spec.second_kind else ())


@dataclass
class PartialTree:
    root: Path
    tree: EgoTree
    #: sequence folder relative to the root -> its spec
    sequences: dict[str, PartialSequence] = field(default_factory=dict)


def punch_holes(seq_dir: Path, holes: tuple[Hole, ...] | list[Hole]) -> None:
    """Apply `holes` to the processed_data/smpl/NNNNN.npy files of one written sequence."""
    for hole in holes:
        for row in range(hole.start, hole.stop):
            path = seq_dir / "processed_data" / "smpl" / f"{row + 1:05d}.npy"
            data = np.load(path, allow_pickle=True).item()
            if hole.kind == "absent":
                data.pop(hole.person, None)
            elif hole.kind == "nan":
                data[hole.person]["joints"][4] = np.nan
            else:
                raise ValueError(f"unknown hole kind {hole.kind!r}")
            np.save(path, np.array(data, dtype=object), allow_pickle=True)


def write_partial_tree(root: str | Path, sequences: list[PartialSequence], *, harmony4d: bool = False) -> PartialTree:
    """Write the sequences (pipelines.samples.sources), then punch their holes."""
    specs = [s.spec for s in sequences]
    tree = write_harmony4d_tree(root, specs) if harmony4d else write_egohumans_tree(root, specs)
    out = PartialTree(root=Path(root), tree=tree)
    for seq in sequences:
        rel = f"{seq.spec.split or 'train'}/" if harmony4d else ""
        rel += f"{seq.spec.activity}/{seq.spec.name}"
        punch_holes(out.root / rel, seq.holes)
        out.sequences[rel] = seq
    return out


def person_frame_truth(seq: PartialSequence) -> dict[str, dict[str, np.ndarray]]:
    """person -> {"present": (T,) bool, "finite": (T,) bool}, from the spec alone."""
    t = seq.frames
    out = {}
    for p in seq.persons:
        present = np.ones(t, dtype=bool)
        finite = np.ones(t, dtype=bool)
        for h in seq.holes:
            if h.person == p:
                (present if h.kind == "absent" else finite)[h.start:h.stop] = False
        out[p] = {"present": present, "finite": present & finite}
    return out


def _eh(name: str, *holes: Hole, note: str, four: bool = True, seed: int = 1) -> PartialSequence:
    return PartialSequence(EgoSequence("01_tagging", name, kind="handshake", second_kind="hug" if four else None,
                                       seed=seed, duration_s=9.0), holes, note)


#: Ego-Humans, 9 s (180 frames) each; four persons (aria01/aria02 and aria03/aria04 interact, 8 m apart)
EGO_PARTIAL = [
    _eh("001_tagging", Hole("aria03", 0, 70), note="aria03 joins late (absent in rows 0-69)"),
    _eh("002_tagging", Hole("aria04", 120, 180), note="aria04 leaves the view at row 120", seed=2),
    _eh("003_tagging", Hole("aria01", 50, 51, "nan"), note="one NaN frame of aria01 (row 50)", seed=3),
    _eh("004_tagging", Hole("aria02", 100, 103), note="aria02's fit fails for 3 frames (within the gap)", seed=4),
    _eh("005_tagging", Hole("aria02", 100, 112), note="aria02's fit fails for 12 frames (beyond the gap)",
        seed=5),
    _eh("006_tagging", Hole("aria01", 0, 80), Hole("aria02", 110, 180), four=False, seed=6,
        note="aria01 and aria02 overlap for 30 frames only (< 2 s): no usable pair"),
]

#: Harmony4D, 9 s each, aria01/aria02
HARMONY_PARTIAL = [
    PartialSequence(EgoSequence("01_hugging", "001_hugging", kind="hug", split="train", duration_s=9.0, seed=7,
                                wearers=("aria01", "aria02")), (Hole("aria02", 60, 80),),
                    "aria02 missing for 20 frames: the span is split"),
    PartialSequence(EgoSequence("01_hugging", "001_hugging", kind="handshake", split="test", duration_s=9.0,
                                seed=8, wearers=("aria01", "aria02")), (Hole("aria01", 10, 13, "nan"),),
                    "aria01 NaN for 3 frames: interpolated"),
]

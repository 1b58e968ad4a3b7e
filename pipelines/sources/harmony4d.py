"""Harmony4D (Khirodkar, Song et al., NeurIPS 2024): two people in close contact, per-frame world SMPL.

    vimo convert harmony4d /data/Harmony4D --workspace ws
    vimo convert harmony4d /data/Harmony4D --workspace ws --no-reactor-must-wear-aria

Layout and facts: docs/sources.md §4. Same per-frame dict format as Ego-Humans, always
`aria01` / `aria02` (also in exo-only sequences, where nobody wears glasses: there, the default
rule that the reactor wears an Aria finds no reactor; pass --no-reactor-must-wear-aria). The
official split is the top folder (train/ or test/) and is part of every clip id, because the
same sequence name exists in both. The world is gravity-aligned (world_axis_aligned, inherited): its up
axis is estimated per sequence and snapped to exactly (Z-up worlds have been seen).

Kept and skipped: as Ego-Humans (vimo convert egohumans --help). A frame where aria01 or aria02 is
missing or has NaN joints is not available for that person; holes of at most --max-gap-frames inside an
interaction span are interpolated, longer ones split it; the sequence is quarantined only when the two
are not present together for --min-seconds (or when aria01/aria02 never appears, or a file is broken).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from vimo.pipelines.sources.base import register_source
from vimo.pipelines.sources.egohumans import SMPL_DIR, PerFrameSmplSource

# ----------------------------------------------------------------------------- conventions
FPS = 20  # exo rgb.mp4 r_frame_rate 20/1 (third-party; docs/sources.md §4.2)
UP_AXIS = None  # estimated per sequence
PERSONS = ("aria01", "aria02")
SPLITS = ("train", "test")
BODY_MODEL = "SMPL neutral v1.1.0 (joints shipped; no model file needed)"
LICENCE = "Harmony4D: MIT (Hugging Face card Jyun-Ting/Harmony4D); keep the MIT notice and cite the paper"
REDISTRIBUTABLE = True

EXPECTED_TREE = """\
<root>/
  train/<NN_activity>/<NNN_activity>/processed_data/smpl/00001.npy ...   dict aria01, aria02 -> {joints (45, 3), ...}
  test/<NN_activity>/<NNN_activity>/processed_data/smpl/00001.npy ...
  .../ego/aria01, ego/aria02                                             ego-exo sequences only"""


@register_source("harmony4d")
class Harmony4DSource(PerFrameSmplSource):
    summary = "Harmony4D: per-frame world SMPL joints of two people (train/ and test/), 20 fps, up estimated"
    licence = LICENCE
    expected_tree = EXPECTED_TREE
    redistributable = REDISTRIBUTABLE
    fps = FPS

    def sequence_dirs(self) -> list[tuple[str, Path]]:
        found = []
        for split in SPLITS:
            for smpl in sorted((self.root / split).glob(f"*/*/{SMPL_DIR}")):
                seq = smpl.parent.parent
                found.append((f"{split}-{seq.parent.name}-{seq.name}", seq))
        return found

    def invalid_persons(self, seq_dir: Path) -> set[str]:
        return {p.strip() for p in self.config.invalid_persons.split(",") if p.strip()}

    def expected_persons(self, seq_dir: Path) -> set[str] | None:
        return set(PERSONS)

    def split(self, seq_dir: Path) -> str | None:
        return seq_dir.parent.parent.name

    def labels(self, seq_dir: Path) -> dict[str, Any]:
        return {"activity": re.sub(r"^\d+_", "", seq_dir.parent.name), "activity_folder": seq_dir.parent.name}

    def preflight(self) -> list[str]:
        problems = super().preflight()
        if self.root.is_dir() and not any((self.root / s).is_dir() for s in SPLITS):
            problems.append(f"{self.root}: neither train/ nor test/ exists")
        return problems

"""The release format: its version, the files of a release folder and their readers (used by the
builder, the verifier, the data card and vimo.models alike). The layout:

    <name>-<version>/
      vector_263/<motion_id>.npy   (T, 263) float32 reactor features
      joints/<motion_id>.npy       (T, 22, 3) float32 joints recovered from the features (metres, Y up)
      actor_joints/<motion_id>.npy (T, 22, 3) float32 joints of the actor of an original pair, in the reactor's
                                   canonical frame (two-person measures; the HERO loaders ignore it)
      cameras/<video>.json         camera track of a rendered video (vimo-camera-track-v1), when it has one
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

The release digest, `release_digest`, is the sha256 of the bytes of CHECKSUMS.sha256 (what
`sha256sum CHECKSUMS.sha256` prints). That file lists the sha256 of every other file, meta/info.json
included, so a release whose files match CHECKSUMS.sha256 and whose digest equals the one recorded at build
time (the catalog's `releases.checksum`, printed by `vimo release build`) is byte for byte the release built.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any


from vimo import atomic
from vimo.atomic import sha256_file
from vimo.errors import VimoError, check_format_version

FORMAT_VERSION = 1
CHECKSUMS = "CHECKSUMS.sha256"
MOTIONS_DIR = "vector_263"
JOINTS_DIR = "joints"
ACTOR_JOINTS_DIR = "actor_joints"
CAMERAS_DIR = "cameras"
VIDEOS_DIR = "videos"
SPLITS_DIR = "splits"
MEAN, STD = "Mean.npy", "Std.npy"


def pair_list(kind: str) -> str:
    """'<video relpath> <motion relpath>' list of a split: `train.txt`, `test.txt`, `val.txt`."""
    return f"{kind}.txt"


def motion_list(kind: str) -> str:
    """Motion relpath list of a split (HumanML3D style): `motions_train.txt`, ..."""
    return f"motions_{kind}.txt"


def motion_path(motion_id: str) -> str:
    """A motion's features, relative to the release root."""
    return f"{MOTIONS_DIR}/{motion_id}.npy"

MANIFEST = "manifest.csv"
INFO = "meta/info.json"
MANIFEST_COLUMNS = (
    "pair_id", "split", "lists", "video_id", "video_path", "video_kind", "video_sha256", "motion_id",
    "motion_path", "joints_path", "n_frames", "motion_sha256", "clip_id", "source", "sequence_id",
    "frame_start", "frame_end", "broad_category", "group", "sub_category", "emotion", "origin",
    "motion_quality", "reaction_plausibility", "score", "licence_id", "licence", "redistributable",
    "leakage_keys", "clip_status", "video_actor", "two_person", "actor_joints_path", "camera_path",
)
#: `video_actor` of a pair whose video shows its own clip's actor (an original pair) / another person or scene
OWN_ACTOR, OTHER_ACTOR = "own", "other"


class ReleaseError(VimoError):
    """A release that cannot be built, or a release folder that breaks the release rules."""


class LicenceError(ReleaseError):
    """Data whose licence forbids redistribution in a release not marked internal."""


class ReleaseExistsError(ReleaseError):
    """A release version that already exists with different content (releases are immutable)."""



def write_checksums(root: Path) -> str:
    """Write CHECKSUMS.sha256 over every file below `root` (sorted POSIX paths); returns its text."""
    lines = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != CHECKSUMS):
        lines.append(f"{sha256_file(path)}  {path.relative_to(root).as_posix()}\n")
    text = "".join(lines)
    atomic.write_text(root / CHECKSUMS, text)
    return text


def release_digest(root: str | Path) -> str:
    """The release digest: sha256 (hex) of the bytes of `<root>/CHECKSUMS.sha256` (see the module docstring)."""
    path = Path(root) / CHECKSUMS
    if not path.is_file():
        raise ReleaseError(f"has no {CHECKSUMS}", path=root, fix="pass a release folder built by vimo release build")
    return sha256_file(path)


def is_digest(text: str) -> bool:
    """Whether `text` is a sha256 hex digest (64 lower-case hex characters)."""
    return re.fullmatch(r"[0-9a-f]{64}", text) is not None


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
    check_format_version(info.get("format_version"), FORMAT_VERSION, what="release", path=path,
                         older_fix="rebuild it with this vimo (vimo release build RECIPE with a new version)")
    return info

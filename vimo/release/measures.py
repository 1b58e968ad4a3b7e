"""Reaction measures of a release's original pairs (the two persons of `joints/` + `actor_joints/`, and the
camera of `cameras/` where the video has one): what the data card and `vimo bench` compare against."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from vimo import atomic
from vimo.errors import VimoError
from vimo.metrics.reaction import CameraTrack, ClipMeasures, ReactionReference, camera_track, clip_measures
from vimo.motion.skeleton import FPS
from vimo.release.layout import ReleaseError, read_manifest


def is_two_person(row: Mapping[str, Any]) -> bool:
    """A manifest row of an original pair with the actor's joints (extra T2/T3 pairs are not)."""
    return str(row.get("two_person", "")).lower() == "true" and bool(row.get("actor_joints_path"))


def two_person_rows(root: str | Path, rows: Iterable[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The manifest rows of `root` whose pairs have two-person measures (releases older than the columns: none)."""
    return [dict(r) for r in (read_manifest(Path(root)) if rows is None else rows) if is_two_person(r)]


def load_camera(root: str | Path, row: Mapping[str, Any]) -> CameraTrack | None:
    """The camera track of a row's video (None when it has none)."""
    rel = row.get("camera_path") or ""
    if not rel:
        return None
    path = Path(root) / rel
    try:
        return camera_track(json.loads(path.read_text()), path=path)
    except (OSError, ValueError) as exc:
        raise ReleaseError(f"camera track unreadable ({exc})", path=path, fix="rebuild the release") from None


def load_actor(root: str | Path, row: Mapping[str, Any]):
    """(T, 22, 3) actor joints of a two-person row, reactor's canonical frame."""
    return atomic.load_npy(Path(root) / row["actor_joints_path"], what="actor joints")


@dataclass
class Mesher:
    """Poses a body-model mesh on joints (vimo card --body-models): `pose(joints (T, 22, 3))` -> (vertices
    (T, V, 3), faces (F, 3)); `label` names the body model in the card."""

    pose: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    label: str


def measure_pairs(root: str | Path, rows: Iterable[Mapping[str, Any]], *, fps: float = FPS,
                  problems: list[str] | None = None, mesher: Mesher | None = None) -> dict[str, ClipMeasures]:
    """pair id -> measures of the real pair (reactor joints recovered from its features, its actor, its camera;
    with `mesher`, both bodies' meshes for the mesh penetration). A pair whose files cannot be measured is left
    out and reported in `problems` (when given) or raised."""
    out: dict[str, ClipMeasures] = {}
    for row in rows:
        try:
            reactor = atomic.load_npy(Path(root) / row["joints_path"], what="joints")
            actor = load_actor(root, row)
            meshes = None
            if mesher is not None:
                n = min(len(reactor), len(actor))
                meshes = (mesher.pose(np.asarray(reactor[:n])), mesher.pose(np.asarray(actor[:n])))
            out[row["pair_id"]] = clip_measures(reactor, actor, fps, camera=load_camera(root, row), meshes=meshes)
        except VimoError as exc:
            if problems is None:
                raise
            problems.append(f"{row['pair_id']}: {exc.one_line()}")
    return out


def reference_of(measures: Mapping[str, ClipMeasures]) -> ReactionReference:
    """The real pairs' distributions (clearances, onset lags) to compare generated reactions with."""
    return ReactionReference.from_clips(list(measures.values()))

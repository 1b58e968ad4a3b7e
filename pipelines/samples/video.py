"""Workspaces with a few short synthetic two-person clips (the joints source), and pixel statistics
that say whether a rendered body is in frame, lit and moving."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vimo.atomic import save_npy
from vimo.synthetic import generate

#: the renderer's background (pipelines.video.render.BACKGROUND) in 0-255
BACKGROUND_RGB = np.array([0.62, 0.63, 0.65]) * 255


def write_synthetic_workspace(root: Path, kinds: tuple[str, ...] = ("wave", "push"), duration_s: float = 2.5,
                              seed: int = 3) -> Path:
    """A workspace whose catalog holds one clip per kind (duration_s at 20 fps); returns its root."""
    from vimo.pipelines.convert import ConvertOptions, convert
    from vimo.pipelines.sources import get_source

    src = root.parent / f"{root.name}-joints"
    for i, kind in enumerate(kinds):
        x = generate(kind, seed=seed + i, fps=20, duration_s=duration_s)
        save_npy(src / f"{kind}_actor.npy", x.actor)
        save_npy(src / f"{kind}_reactor.npy", x.reactor)
    cls = get_source("joints")
    summary = convert(cls(src, cls.config_class(fps=20.0, licence="CC0 (synthetic)")), ConvertOptions(workspace=root))
    assert summary.quarantined == 0 and summary.clips == len(kinds), summary
    return root


def body_mask(frame: np.ndarray, tol: float = 12.0) -> np.ndarray:
    """(H, W) bool: pixels that differ from the flat background by more than `tol` (any channel)."""
    return (np.abs(frame.astype(np.float64) - BACKGROUND_RGB).max(axis=-1) > tol)

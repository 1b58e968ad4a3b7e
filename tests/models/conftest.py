"""Fixtures of the model tests: a tiny HERO-readable release folder built in tmp_path."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

HML3D = Path(__file__).parents[1] / "data" / "humanml3d"


def write_tiny_release(root: Path, *, n_train: int = 6, n_test: int = 3, seed: int = 0) -> Path:
    """Motions: HumanML3D Mean + 0.5 Std x noise (24..40 frames; one crop of the real clip 012314);
    videos: (F, 16, 16, 3) uint8 frames arrays stored as .npy under videos/<sub>/."""
    rng = np.random.default_rng(seed)
    mean, std = np.load(HML3D / "Mean.npy"), np.load(HML3D / "Std.npy")
    real = np.load(HML3D / "new_joint_vecs_012314.npy")
    (root / "vector_263").mkdir(parents=True)
    np.save(root / "Mean.npy", mean)
    np.save(root / "Std.npy", std)
    lines: dict[str, list[str]] = {"train": [], "test": []}
    for i in range(n_train + n_test):
        split = "train" if i < n_train else "test"
        n = int(rng.integers(24, 41))
        motion = real[:n] if i == 0 else (mean + 0.5 * std * rng.standard_normal((n, 263))).astype(np.float32)
        np.save(root / "vector_263" / f"m{i:03d}.npy", motion.astype(np.float32))
        sub = ("explosion", "dribbling")[i % 2]
        (root / "videos" / sub).mkdir(parents=True, exist_ok=True)
        frames = rng.integers(0, 256, (int(rng.integers(8, 20)), 16, 16, 3), dtype=np.uint8)
        np.save(root / "videos" / sub / f"{sub}-{i:03d}.npy", frames)
        lines[split].append(f"videos/{sub}/{sub}-{i:03d}.npy vector_263/m{i:03d}.npy")
    for split, rows in lines.items():
        (root / f"{split}.txt").write_text("\n".join(rows) + "\n")
        (root / f"motions_{split}.txt").write_text("\n".join(r.split()[1] for r in rows) + "\n")
    return root


@pytest.fixture
def tiny_release(tmp_path) -> Path:
    return write_tiny_release(tmp_path / "release")

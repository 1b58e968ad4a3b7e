"""Fixtures of the model tests: a tiny HERO-readable release folder built in tmp_path."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

HML3D = Path(__file__).parents[1] / "data" / "humanml3d"


def write_tiny_release(root: Path, *, n_train: int = 6, n_test: int = 3, seed: int = 0,
                       lengths: tuple[int, int] = (24, 40), n_val: int = 3) -> Path:
    """Motions: HumanML3D Mean + 0.5 Std x noise (`lengths` = 24..40 frames inclusive by default, the tiny preset's
    max_motion_length; one crop of the real 170-frame clip 012314); videos: (F, 16, 16, 3) uint8 frames arrays
    stored as .npy under videos/<sub>/. `n_val` validation pairs (val.txt, motions_val.txt; `vimo bench` selects
    checkpoints on them) are drawn after the train and test pairs, so those do not depend on it; 0: no val list."""
    rng = np.random.default_rng(seed)
    mean, std = np.load(HML3D / "Mean.npy"), np.load(HML3D / "Std.npy")
    real = np.load(HML3D / "new_joint_vecs_012314.npy")
    (root / "vector_263").mkdir(parents=True)
    np.save(root / "Mean.npy", mean)
    np.save(root / "Std.npy", std)
    lines: dict[str, list[str]] = {"train": [], "test": []} | ({"val": []} if n_val else {})
    for i in range(n_train + n_test + n_val):
        split = "train" if i < n_train else "test" if i < n_train + n_test else "val"
        n = int(rng.integers(lengths[0], lengths[1] + 1))
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


#: motion lengths of `long_release`: most longer than the tiny preset's max_motion_length (40), as the 40..200
#: frame clips of a real vimo release; the real clip 012314 (170 frames) is cut to its length
LONG_FRAMES = (32, 160)


@pytest.fixture
def long_release(tmp_path) -> Path:
    """A tiny release whose motions are 32..160 frames long (most > the tiny max_motion_length 40)."""
    return write_tiny_release(tmp_path / "long-release", n_train=8, n_test=6, seed=3, lengths=LONG_FRAMES)


def _stats(root: Path, motions: list[str]) -> tuple[np.ndarray, np.ndarray]:
    arr = np.concatenate([np.load(root / m) for m in motions])
    return arr.mean(0).astype(np.float32), arr.std(0).astype(np.float32)


def _write_list(path: Path, pairs: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(pairs) + "\n")


def write_split_release(root: Path, *, n_train: int = 8, n_test: int = 6, seed: int = 0) -> Path:
    """`write_tiny_release` plus the split folders vimo.release writes (same names and files):
    `splits/t2/` (each training video with its pair and one extra reaction), `splits/seen_unseen/` (the
    `dribbling` videos held out: Seen training / validation = the base training / val pairs of `explosion`,
    Unseen test = every `dribbling` pair), each with train/test lists, motions lists and their own Mean/Std, and a
    flat test subset `splits/sub-explosion.txt`."""
    write_tiny_release(root, n_train=n_train, n_test=n_test, seed=seed)
    rng = np.random.default_rng(seed + 1)
    mean, std = np.load(HML3D / "Mean.npy"), np.load(HML3D / "Std.npy")
    train = (root / "train.txt").read_text().split("\n")[:-1]
    test = (root / "test.txt").read_text().split("\n")[:-1]
    t2 = []
    for line in train:
        video, motion = line.split()
        extra = motion.replace(".npy", "-r2.npy")
        n = int(rng.integers(24, 41))
        np.save(root / extra, (mean + 0.6 * std * rng.standard_normal((n, 263))).astype(np.float32))
        t2 += [line, f"{video} {extra}"]
    val = (root / "val.txt").read_text().split("\n")[:-1]
    lists = {"t2/train": t2, "seen_unseen/train": [ln for ln in train if "explosion" in ln],
             "seen_unseen/val": [ln for ln in val if "explosion" in ln],
             "seen_unseen/test": [ln for ln in train + test + val if "dribbling" in ln]}
    for name, pairs in lists.items():
        folder, part = name.split("/")
        _write_list(root / "splits" / folder / f"{part}.txt", pairs)
        motions = [ln.split()[1] for ln in pairs]
        _write_list(root / "splits" / folder / f"motions_{part}.txt", motions)
        if part == "train":
            m, s = _stats(root, motions)
            np.save(root / "splits" / folder / "Mean.npy", m)
            np.save(root / "splits" / folder / "Std.npy", s)
    _write_list(root / "splits" / "sub-explosion.txt", [ln for ln in test if "explosion" in ln])
    return root


@pytest.fixture
def split_release(tmp_path) -> Path:
    return write_split_release(tmp_path / "release")


@dataclass
class LearnedBench:
    tmp: Path
    release: Path
    out: Path
    results: dict


@pytest.fixture(scope="session")
def learned_bench(tmp_path_factory, worker_id) -> LearnedBench:
    """`vimo bench --preset tiny` with the preset's own step budgets (RVQ 1,000, transformers 2,000, evaluator
    600 optimiser steps) on the learnable release (36 train / 6 val / 32 test pairs) with two subset lists, the
    last checkpoints kept (`--select-on none`: a 6-pair val set would make the selection a coin toss; selection
    itself is tested in test_bench_validity.py), evaluation batches of 8 as in the demo (pools of 8 for R-precision
    and the chance test: the release's 6 kinds make a pool of 32 hold 5 near-twins of every pair, so even a
    perfect kind-level evaluator would hit about 6 of 32 there, too close to chance to test reliably). About 5
    minutes on 2 cores; the bench and learning tests share it (under pytest-xdist, across the workers)."""
    import json

    if worker_id == "master":  # a serial run
        return _learned_bench(tmp_path_factory.mktemp("bench"))
    # pytest-xdist: one build for the whole run, in the run's base folder (shared by the workers), the others
    # wait on the lock and read it
    from tests.locking import exclusive

    root = tmp_path_factory.getbasetemp().parent / "learned_bench"
    root.mkdir(exist_ok=True)
    with exclusive(root / "lock"):
        if not (root / "b1/results.json").is_file():
            shutil.rmtree(root / "vimo-learnable", ignore_errors=True)
            shutil.rmtree(root / "b1", ignore_errors=True)
            return _learned_bench(root)
    return LearnedBench(root, root / "vimo-learnable", root / "b1", json.loads((root / "b1/results.json").read_text()))


def _learned_bench(tmp: Path) -> LearnedBench:
    import json

    import typer
    from typer.testing import CliRunner

    from vimo.cli.bench import bench

    from .learnable import write_learnable_release

    release = write_learnable_release(tmp / "vimo-learnable", n_train=36, n_val=6, n_test=32)
    test = (release / "test.txt").read_text().splitlines()
    (release / "splits").mkdir()
    (release / "splits/wave.txt").write_text("\n".join(ln for ln in test if "/wave/" in ln) + "\n")
    (release / "splits/push.txt").write_text("\n".join(ln.split()[1] for ln in test if "/push/" in ln) + "\n")
    (release / "splits/train_t2.txt").write_text((release / "train.txt").read_text())
    app = typer.Typer()
    app.command()(bench)
    app.command("noop")(lambda: None)
    out = tmp / "b1"
    r = CliRunner().invoke(app, ["bench", str(release), "--out", str(out), "--preset", "tiny", "--replications", "3",
                                 "--select-on", "none", "--batch-size", "8", "--no-progress"])
    assert r.exit_code == 0, r.output
    return LearnedBench(tmp, release, out, json.loads((out / "results.json").read_text()))

"""Training data of the reference HERO over a HERO-readable release folder (HumanML3D layout).

A release root holds `vector_263/*.npy` (T, 263) float32 features, `Mean.npy` / `Std.npy` (263,),
`train.txt` / `test.txt` ("<video relpath> <motion relpath>" per line) and `motions_train.txt` /
`motions_test.txt` (motion relpaths). Two datasets reproduce the official loaders and their quirks:

* `MotionWindows` (RVQ stage): every window of `window` frames of every motion with >= `window` frames, with
  the official index mapping (window 0 of the first motion is drawn twice, the very last window never);
* `ReactionPlan` (transformer stages): per pair a crop to a multiple of 4 frames (2/3: floor, 1/3: one unit
  shorter) at a random offset, zero-padded to `max_motion_length`; the official trainers materialise the
  loader once, so crops and batch order are frozen for all epochs (`frozen=True`, the default).

Motions longer than `max_motion_length` (M). The official loaders never see them (HumanML3D and ViMo keep
motions of at most 200 frames = the hero preset's M), but vimo releases hold clips of up to 200 frames and the
CPU-sized `tiny` preset has M = 40, so every reader applies one explicit rule (`ReactionPlan(longer=...)`):

* training (`longer="window"`: transformer stages, the vimo evaluator): the official crop (unit-length coin and
  random offset over the whole motion) is drawn first, then, when it is longer than M, a window of M frames
  (M floored to a multiple of the unit) at a random offset inside it. The windows come from their own seeded
  stream ([seed, epoch, 1]) and are drawn again every epoch, also under `frozen=True` (the frozen quirk keeps
  the official crops and batch order), so a long motion contributes different windows across epochs and
  seeds, reproducibly for a given seed;
* evaluation (`longer="head"`: bench test sets, MultiModality, in-training FID, reconstruction, human-eval
  samples): a longer motion is its first M frames (aligned with the start of its video), then the official
  crop rule applies to those M frames; with the materialised test loader the crops are identical across
  replications and variants, and the benchmark records how many motions were cut (results.json / report.md).

Motions of at most M frames keep the exact official behaviour: their crops, coin flips and batch order are those
the official loader draws for the whole list (the windows come from a separate stream), so the hero preset on a
release of motions <= 200 frames is unchanged. Motions shorter than 2 units still fail with a one-line
MotionError.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vimo.atomic import load_npy
from vimo.errors import InputFormatError, MotionError, require_inside
from vimo.motion import apply_feat_bias
from vimo.motion.skeleton import FEATURE_DIM
from vimo.release.layout import MEAN, SPLITS_DIR, STD, motion_list, pair_list


#: name of the release's own train / test lists (as opposed to a folder under `splits/`)
BASE_SPLIT = "base"


def available_splits(root: str | Path) -> list[str]:
    """`base` and every `splits/<name>/` folder of a release that holds a `train.txt` (as vimo.release writes:
    `t2`, `t3`, `seen_unseen`); the flat `splits/*.txt` lists are test subsets, not training splits."""
    folder = Path(root) / SPLITS_DIR
    names = sorted(d.name for d in folder.iterdir() if d.is_dir() and (d / pair_list("train")).is_file()) \
        if folder.is_dir() else []
    return [BASE_SPLIT, *names]


class ReleaseFolder:
    """Read-only view of a HERO-readable release root (paths inside the lists must stay inside the root).

    `split` selects a training split of the release: `splits/<split>/train.txt` (+ its `motions_train.txt`)
    replaces the base training lists, the split folder's `test.txt` (Seen/Unseen) replaces the base test lists
    when it has one (T2/T3 have none: their test set is the base one), and its `Mean.npy` / `Std.npy` (the
    statistics of its training list) replace the base statistics. `train_list` (a "<video> <motion>" file,
    absolute or relative to the root) replaces only the training pairs: test lists and statistics stay the
    base ones. List entries are always relative to the release root."""

    def __init__(self, root: str | Path, split: str | None = None, train_list: str | Path | None = None):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise InputFormatError("release folder does not exist", path=self.root,
                                   fix="pass the folder that holds vector_263/, Mean.npy, train.txt")
        self.split = None if split in (None, "", BASE_SPLIT) else str(split)
        self.split_dir: Path | None = None
        self.train_list: Path | None = None
        if self.split is not None:
            names = available_splits(self.root)
            if self.split not in names:
                raise InputFormatError(f"has no training split '{self.split}'", path=self.root / SPLITS_DIR,
                                       fix=f"use one of: {', '.join(names)}")
            self.split_dir = self.root / SPLITS_DIR / self.split
        if train_list is not None:
            if self.split is not None:
                raise InputFormatError("a split and a train list were both given", path=Path(train_list),
                                       fix="pass either --split NAME or --train-list FILE")
            path = Path(train_list)
            path = (path if path.is_absolute() else self.root / path).resolve()
            if not path.is_file():
                raise InputFormatError("train list does not exist", path=path,
                                       fix="pass a '<video> <motion>' list, absolute or relative to the release")
            self.train_list = path

    @property
    def split_name(self) -> str:
        """`base`, the split's name, or `list:<relpath>` for a custom train list."""
        if self.train_list is not None:
            return f"list:{self._rel(self.train_list)}"
        return self.split or BASE_SPLIT

    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def _folder_of(self, kind: str) -> Path:
        """Folder whose `<kind>.txt` / `motions_<kind>.txt` serve list `kind` (train / test / val)."""
        if self.split_dir is not None and (self.split_dir / pair_list(kind)).is_file():
            return self.split_dir
        return self.root

    def list_path(self, kind: str) -> Path:
        """The pair list of `kind` (train / test / val) this view reads."""
        if kind == "train" and self.train_list is not None:
            return self.train_list
        p = self._folder_of(kind) / pair_list(kind)
        if not p.is_file():
            raise InputFormatError(f"release has no {p.name}", path=p, fix="pass a complete HERO-readable release")
        return p

    def statistics_folder(self) -> Path:
        """Where Mean.npy / Std.npy are read: the split folder when it has them, else the root."""
        if self.split_dir is not None and (self.split_dir / MEAN).is_file() and (self.split_dir / STD).is_file():
            return self.split_dir
        return self.root

    def describe(self) -> dict[str, str]:
        """What this view trains and tests on (relpaths; recorded in run.json and benchmark results)."""
        stats = self.statistics_folder()
        return {"name": self.split_name, "train_list": self._rel(self.list_path("train")),
                "test_list": self._rel(self.list_path("test")), "statistics": self._rel(stats / MEAN)}

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean.npy, Std.npy as (263,) float32 (the split's own when it has them)."""
        folder = self.statistics_folder()
        out = []
        for name in (MEAN, STD):
            path = folder / name
            if not path.is_file():
                raise InputFormatError(f"release has no {name}", path=path, fix="pass a complete HERO-readable release")
            arr = load_npy(path, what="statistics")
            if arr.shape != (FEATURE_DIM,) or not np.isfinite(arr).all():
                raise InputFormatError(f"has shape {arr.shape} or non-finite values, expected (263,) finite",
                                       path=path, fix="recompute the release statistics")
            out.append(arr.astype(np.float32))
        if (out[1] <= 0).any():
            raise InputFormatError("has zero or negative std values", path=folder / STD,
                                   fix="recompute the release statistics")
        return out[0], out[1]

    @staticmethod
    def _lines(path: Path) -> list[str]:
        return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]

    def motions(self, split: str) -> list[str]:
        """Motion relpaths of `motions_<split>.txt` (of the split folder / train list when one is selected; a
        custom train list, or a split folder without the motions file, gives the motions of its pairs)."""
        if split == "train" and self.train_list is not None:
            return list(dict.fromkeys(m for _, m in self.pairs("train")))
        folder = self._folder_of(split)
        path = folder / motion_list(split)
        if folder != self.root and not path.is_file():
            return list(dict.fromkeys(m for _, m in self.pairs(split)))
        if not path.is_file():
            raise InputFormatError(f"release has no {path.name}", path=path, fix="pass a complete HERO-readable release")
        return self._lines(path)

    def pairs(self, split: str) -> list[tuple[str, str]]:
        """(video relpath, motion relpath) of `<split>.txt`."""
        path = self.list_path(split)
        out = []
        for i, line in enumerate(self._lines(path), 1):
            parts = line.split()
            if len(parts) != 2:
                raise InputFormatError(f"line {i} has {len(parts)} fields, expected '<video> <motion>'",
                                       path=path, fix="write one pair per line")
            out.append((parts[0], parts[1]))
        return out

    def path(self, rel: str) -> Path:
        return require_inside(self.root / rel, self.root)

    def motion(self, rel: str) -> np.ndarray:
        """(T, 263) float32 features of a motion relpath, checked."""
        p = self.path(rel)
        arr = load_npy(p, what="motion features")
        if arr.ndim != 2 or arr.shape[1] != FEATURE_DIM:
            raise MotionError(f"has shape {arr.shape}, expected (T, 263)", path=p, fix="re-export the motion")
        if not np.isfinite(arr).all():
            raise MotionError("has NaN/inf values", path=p, fix="re-export the motion")
        return arr.astype(np.float32)


def rvq_normalisation(mean: np.ndarray, std: np.ndarray, feat_bias: float = 5.0, times: int = 2):
    """Mean and feat_bias-adjusted std of the RVQ stage (saved as <rvq>/meta/{mean,std}.npy).

    `times=2` is the official result: HERO's train_vq_vimo.py builds the train and the test motion datasets
    from the same arrays and each divides dims 0:4 and 259:263 by feat_bias in place (÷25 in total)."""
    return np.asarray(mean, np.float32).copy(), apply_feat_bias(std, feat_bias, times=times)


class MotionWindows:
    """All `window`-frame windows of the motions with >= window frames, normalised: item -> (window, 263)."""

    def __init__(self, motions: list[np.ndarray], window: int, mean: np.ndarray, std: np.ndarray):
        self.window = window
        self.data = [m for m in motions if m.shape[0] >= window]
        if not self.data:
            raise MotionError(f"no motion has {window} frames or more", fix="lower the window or add longer motions")
        self.cumsum = np.cumsum([0] + [m.shape[0] - window + 1 for m in self.data])
        self.mean, self.std = mean, std

    def __len__(self) -> int:
        return int(self.cumsum[-1])

    def locate(self, item: int) -> tuple[int, int]:
        """Official mapping item -> (motion, start): item k in (cumsum[m], cumsum[m+1]] is window
        k - cumsum[m] - 1 of motion m, item 0 is window 0 of motion 0."""
        if item == 0:
            return 0, 0
        m = int(np.searchsorted(self.cumsum, item)) - 1
        return m, int(item - self.cumsum[m] - 1)

    def __getitem__(self, item: int) -> np.ndarray:
        m, start = self.locate(item)
        return (self.data[m][start:start + self.window] - self.mean) / self.std


def crop_length(length: int, unit: int, double: bool) -> int:
    """Frames kept: floor to a multiple of `unit`, one unit less when `double` (official coin 'double')."""
    return (length // unit - 1) * unit if double else (length // unit) * unit


@dataclass
class Crop:
    """One planned transformer sample: pair index, start frame and kept frames."""

    index: int
    start: int
    length: int


#: ReactionPlan rules for motions longer than max_motion_length (see the module docstring)
LONGER_WINDOW = "window"
LONGER_HEAD = "head"
LONGER_RULES = {LONGER_WINDOW: "a seeded random window of max_motion_length frames, new every epoch",
                LONGER_HEAD: "the first max_motion_length frames"}


class ReactionPlan:
    """Batches of crops over pairs; `frozen` reuses epoch 0's plan for every epoch (official quirk).

    `longer` is the rule for motions longer than `max_length`: `window` (training) or `head` (evaluation);
    see the module docstring. `longer_count` is how many of `lengths` it applies to."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int, *, unit: int = 4, max_length: int = 200,
                 frozen: bool = True, drop_last: bool = False, shuffle: bool = True, longer: str = LONGER_WINDOW):
        if longer not in LONGER_RULES:
            raise InputFormatError(f"unknown rule '{longer}' for motions longer than max_motion_length",
                                   fix=f"use one of: {', '.join(LONGER_RULES)}")
        if max_length < 2 * unit:
            raise InputFormatError(f"max_motion_length {max_length} is shorter than {2 * unit} frames",
                                   fix=f"use a max_motion_length of at least {2 * unit} frames")
        for i, n in enumerate(lengths):
            if n < 2 * unit:
                raise MotionError(f"pair {i} has {n} frames, fewer than {2 * unit}", fix="drop too-short motions")
        self.lengths, self.batch_size, self.seed = list(lengths), batch_size, seed
        self.unit, self.frozen, self.drop_last, self.shuffle = unit, frozen, drop_last, shuffle
        self.max_length, self.longer = max_length, longer
        self.window = (max_length // unit) * unit
        self.longer_count = sum(n > max_length for n in self.lengths)
        self._frozen_plan: list[list[Crop]] | None = None

    def _source_length(self, n: int) -> int:
        """Frames the official crop is drawn from: the first max_length under `head`, all of them otherwise."""
        return min(n, self.max_length) if self.longer == LONGER_HEAD else n

    def _plan(self, epoch: int) -> list[list[Crop]]:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.lengths)) if self.shuffle else np.arange(len(self.lengths))
        crops = []
        for i in order:
            n = self._source_length(self.lengths[i])
            length = crop_length(n, self.unit, bool(rng.integers(3) == 2))
            crops.append(Crop(int(i), int(rng.integers(0, n - length + 1)), length))
        stop = len(crops) - (len(crops) % self.batch_size if self.drop_last else 0)
        return [crops[k:k + self.batch_size] for k in range(0, stop, self.batch_size)]

    def _windows(self, plan: list[list[Crop]], epoch: int) -> list[list[Crop]]:
        """`plan` with every crop longer than the window cut to a seeded random window of it (own stream)."""
        if not any(c.length > self.window for batch in plan for c in batch):
            return plan
        rng = np.random.default_rng([self.seed, epoch, 1])
        out = []
        for batch in plan:
            row = []
            for c in batch:
                if c.length > self.window:
                    c = Crop(c.index, c.start + int(rng.integers(0, c.length - self.window + 1)), self.window)
                row.append(c)
            out.append(row)
        return out

    def epoch(self, epoch: int) -> list[list[Crop]]:
        if not self.frozen:
            return self._windows(self._plan(epoch), epoch)
        if self._frozen_plan is None:
            self._frozen_plan = self._plan(0)
        return self._windows(self._frozen_plan, epoch)

    def batches_per_epoch(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def longer_note(self, what: str) -> str | None:
        """One line saying how many of `what` are longer than max_length and what was done, or None."""
        if not self.longer_count:
            return None
        return (f"{what}: {self.longer_count} of {len(self.lengths)} motions longer than max_motion_length "
                f"{self.max_length} were cropped to {self.window} frames ({LONGER_RULES[self.longer]})")


def window_batches(n_items: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Shuffled, drop_last batches of window items for one RVQ epoch (a new order every epoch)."""
    order = np.random.default_rng([seed, epoch]).permutation(n_items)
    return [order[k:k + batch_size] for k in range(0, n_items - n_items % batch_size, batch_size)]


def padded_motion(motion: np.ndarray, crop: Crop, mean: np.ndarray, std: np.ndarray, max_length: int) -> np.ndarray:
    """Normalised crop zero-padded to (max_length, 263) float32."""
    if crop.length > max_length or crop.start + crop.length > motion.shape[0]:
        raise MotionError(f"crop of {crop.length} frames at {crop.start} does not fit a motion of "
                          f"{motion.shape[0]} frames padded to {max_length}",
                          fix="plan crops with ReactionPlan(max_length=max_motion_length)")
    out = np.zeros((max_length, motion.shape[1]), np.float32)
    out[:crop.length] = (motion[crop.start:crop.start + crop.length] - mean) / std
    return out

"""File-level motion jobs behind `vimo motion ...`: encode / decode .npy files and folders,
statistics of a feature folder. Bad files are quarantined with a one-line reason; writes are atomic;
a re-run skips outputs that already exist and validate."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vimo import atomic
from vimo.errors import InputFormatError, VimoError
from vimo.motion.features import joints_to_features_batch
from vimo.motion.recover import check_features, recover_from_ric, recover_from_rot
from vimo.motion.skeleton import FEATURE_DIM
from vimo.motion.stats import FeatureStats


@dataclass
class BatchReport:
    """What a folder job did: written / skipped (already valid) / quarantined with reasons."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    quarantined: dict[str, str] = field(default_factory=dict)
    frames: int = 0

    def summary(self) -> str:
        return (f"{len(self.written)} written, {len(self.skipped)} skipped (already valid), "
                f"{len(self.quarantined)} quarantined, {self.frames} frames")


def _load_joints(path: Path, first_22: bool) -> np.ndarray:
    arr = atomic.load_npy(path, what="joints")
    if first_22 and arr.ndim == 3 and arr.shape[1] > 22:
        arr = arr[:, :22]
    return arr


def _valid_features(path: Path, n_rows: int | None = None) -> bool:
    try:
        arr = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return False
    return arr.ndim == 2 and arr.shape[1] == FEATURE_DIM and (n_rows is None or arr.shape[0] == n_rows)


def encode_file(src: str | Path, dst: str | Path, *, first_22: bool = False) -> np.ndarray:
    """(T, 22, 3) joints .npy -> (T-1, 263) features .npy (atomic). Returns the features."""
    src = Path(src)
    feats = joints_to_features_batch([_load_joints(src, first_22)], names=[str(src)])[0]
    atomic.save_npy(dst, feats)
    return feats


def encode_folder(src_dir: str | Path, dst_dir: str | Path, *, first_22: bool = False,
                  chunk: int = 256, overwrite: bool = False) -> BatchReport:
    """Encode every `*.npy` of src_dir into dst_dir (same names), in batches of `chunk` clips.

    A file that fails is quarantined (listed in the report and in dst_dir/quarantine.tsv) and the
    job goes on; outputs that exist and validate are skipped, so a killed run resumes.
    """
    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    if not src_dir.is_dir():
        raise InputFormatError("is not a folder", path=src_dir, fix="pass a folder of (T, 22, 3) .npy files")
    report = BatchReport()
    files = sorted(src_dir.glob("*.npy"))
    if not files:
        raise InputFormatError("holds no .npy files", path=src_dir, fix="pass a folder of (T, 22, 3) .npy files")
    todo: list[tuple[Path, np.ndarray]] = []
    for f in files:
        out = dst_dir / f.name
        if not overwrite and out.exists() and _valid_features(out):
            report.skipped.append(f.name)
            continue
        try:
            todo.append((f, _load_joints(f, first_22)))
        except VimoError as err:
            report.quarantined[f.name] = err.one_line()
    for i in range(0, len(todo), chunk):
        part = todo[i:i + chunk]
        try:
            results = joints_to_features_batch([a for _, a in part], names=[str(f) for f, _ in part])
        except VimoError:
            results = []
            for f, a in part:  # isolate the bad clip(s), keep the good ones
                try:
                    results.append(joints_to_features_batch([a], names=[str(f)])[0])
                except VimoError as err:
                    results.append(None)
                    report.quarantined[f.name] = err.one_line()
        for (f, _), feats in zip(part, results):
            if feats is None:
                continue
            atomic.save_npy(dst_dir / f.name, feats)
            report.written.append(f.name)
            report.frames += len(feats) + 1
    if report.quarantined:
        lines = "".join(f"{name}\t{reason}\n" for name, reason in sorted(report.quarantined.items()))
        atomic.write_text(dst_dir / "quarantine.tsv", "file\treason\n" + lines)
    return report


def decode_file(src: str | Path, dst: str | Path, *, method: str = "ric") -> np.ndarray:
    """(T, 263) features .npy -> (T, 22, 3) joints .npy by recover_from_ric or recover_from_rot."""
    src = Path(src)
    feats = check_features(atomic.load_npy(src, what="features"), path=src)
    if method == "ric":
        joints = recover_from_ric(feats)
    elif method == "rot":
        joints = recover_from_rot(feats)
    else:
        raise InputFormatError(f"unknown recovery method {method!r}", path=src, fix="use --method ric or rot")
    atomic.save_npy(dst, joints)
    return joints


def stats_folder(src_dir: str | Path, out_dir: str | Path, *, group_average: bool = True
                 ) -> tuple[np.ndarray, np.ndarray, BatchReport]:
    """Mean.npy / Std.npy of every (T, 263) `*.npy` in src_dir (NaN files skipped and reported)."""
    src_dir = Path(src_dir)
    files = sorted(src_dir.glob("*.npy")) if src_dir.is_dir() else []
    if not files:
        raise InputFormatError("holds no .npy feature files", path=src_dir,
                               fix="pass the folder of (T, 263) feature files (e.g. vector_263/)")
    acc, report = FeatureStats(), BatchReport()
    for f in files:
        try:
            arr = check_features(atomic.load_npy(f, what="features"), path=f)
            if arr.ndim != 2:
                raise InputFormatError(f"has shape {arr.shape}, expected (T, 263)", path=f, fix="one clip per file")
        except VimoError as err:
            report.quarantined[f.name] = err.one_line()
            continue
        acc.update(arr)
        report.written.append(f.name)
        report.frames += len(arr)
    mean, std = acc.finalize(group_average=group_average)
    atomic.save_npy(Path(out_dir) / "Mean.npy", mean)
    atomic.save_npy(Path(out_dir) / "Std.npy", std)
    return mean, std, report

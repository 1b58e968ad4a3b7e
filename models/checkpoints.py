"""Reading torch checkpoint files and loading state dicts strictly, with one-line typed errors."""
from __future__ import annotations

import collections
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from vimo.errors import InputFormatError


class CheckpointError(InputFormatError):
    """A checkpoint file that is missing, unreadable, or whose keys / shapes do not match the model."""


def read_checkpoint(path: str | Path, *, what: str = "checkpoint") -> dict[str, Any]:
    """torch.load a checkpoint dict on CPU (tensors only, no arbitrary pickles)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} file does not exist", path=path, fix="pass the path of an existing file")
    try:
        with torch.serialization.safe_globals([collections.Counter]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated / foreign files
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise CheckpointError(f"is not a readable torch {what} ({reason})", path=path,
                              fix="re-download or re-save the file; it may be truncated") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"holds a {type(obj).__name__}, not a {what} dict", path=path,
                              fix="pass the checkpoint file as saved by torch.save({...})")
    return obj


def entry(ckpt: Mapping[str, Any], key: str, path: str | Path, *, what: str = "checkpoint") -> Any:
    """`ckpt[key]` or a CheckpointError naming the file and the keys that are there."""
    if key not in ckpt:
        have = ", ".join(sorted(map(str, ckpt))[:8]) or "nothing"
        raise CheckpointError(f"{what} has no '{key}' entry (it has: {have})", path=path,
                              fix=f"pass a {what} file that holds '{key}'")
    return ckpt[key]


def check_state_dict(expected: Mapping[str, torch.Tensor], given: Mapping[str, Any], path: str | Path | None,
                     *, what: str = "state dict") -> None:
    """Raise CheckpointError on the first missing, unexpected or mis-shaped key (with the counts)."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    if missing:
        raise CheckpointError(f"{what} lacks key '{missing[0]}' ({len(missing)} missing, "
                              f"{len(unexpected)} unexpected)", path=path,
                              fix="pass a checkpoint of the same architecture and sizes")
    if unexpected:
        raise CheckpointError(f"{what} has unexpected key '{unexpected[0]}' ({len(unexpected)} unexpected)",
                              path=path, fix="pass a checkpoint of the same architecture and sizes")
    for k, ref in expected.items():
        val = given[k]
        if not isinstance(val, torch.Tensor):
            raise CheckpointError(f"{what} key '{k}' holds a {type(val).__name__}, not a tensor", path=path,
                                  fix="pass an unmodified checkpoint")
        if tuple(val.shape) != tuple(ref.shape):
            raise CheckpointError(f"{what} key '{k}' has shape {tuple(val.shape)}, expected {tuple(ref.shape)}",
                                  path=path, fix="pass a checkpoint of the same sizes (preset) as the model")
        if val.is_floating_point() and not torch.isfinite(val).all():
            raise CheckpointError(f"{what} key '{k}' holds NaN or inf", path=path,
                                  fix="use a checkpoint saved before training diverged")


def load_strict(model: nn.Module, state: Mapping[str, Any], path: str | Path | None,
                *, what: str = "state dict") -> nn.Module:
    """Check keys and shapes against `model.state_dict()`, then load with strict=True."""
    check_state_dict(model.state_dict(), state, path, what=what)
    model.load_state_dict(dict(state), strict=True)
    return model

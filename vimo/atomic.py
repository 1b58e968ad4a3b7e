"""Atomic writes (temp file in the same folder + fsync + rename), checked .npy reads, file checksums."""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vimo.errors import InputFormatError


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically: readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def save_npy(path: str | Path, array: np.ndarray) -> Path:
    """np.save, atomically."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return write_bytes(path, buf.getvalue())


def load_npy(path: str | Path, *, what: str = "array") -> np.ndarray:
    """np.load with one-line errors for missing, truncated or pickled files."""
    path = Path(path)
    if not path.is_file():
        raise InputFormatError(f"{what} file does not exist", path=path, fix="check the path")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        msg = str(exc)
        if "pickle" in msg.lower():
            raise InputFormatError(f"holds a pickled object, not a plain {what}", path=path,
                                   fix="save it with np.save on a numeric array") from None
        raise InputFormatError(f"is not a readable .npy ({msg})", path=path,
                               fix="re-export the file; it may be truncated") from None
    except (OSError, EOFError) as exc:
        raise InputFormatError(f"is truncated or not a .npy file ({exc})", path=path,
                               fix="re-export or re-download the file") from None
    if not isinstance(arr, np.ndarray):
        raise InputFormatError(f"holds {type(arr).__name__}, not a .npy {what}", path=path,
                               fix="save a single array with np.save")
    return arr


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()

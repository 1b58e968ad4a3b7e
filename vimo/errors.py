"""Typed errors of the vimo library.

Every error carries the path it concerns, the problem and the fix, and renders as one line.
The library raises them; only the CLI edge turns them into a red line and an exit code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


class VimoError(Exception):
    """Base error: `path` (file or folder concerned, may be None), `problem`, `fix`."""

    exit_code = 1

    def __init__(self, problem: str, *, path: str | Path | None = None, fix: str | None = None):
        self.path = None if path is None else str(path)
        self.problem = problem
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = []
        if self.path:
            parts.append(f"{self.path}:")
        parts.append(self.problem.rstrip("."))
        line = " ".join(parts)
        if self.fix:
            line += f" (fix: {self.fix.rstrip('.')})"
        return line


class MotionError(VimoError):
    """Motion data that cannot become HumanML3D features (shape, NaN, too short, degenerate bones)."""


class InputFormatError(VimoError):
    """A file that is missing, truncated or has wrong keys / shapes / dtypes."""


class PathEscapeError(VimoError):
    """A path (or symlink) that resolves outside the root it must stay in."""


class FormatVersionError(VimoError):
    """An artifact written by another format version; the fix names the migration command."""


UPGRADE_FIX = "upgrade vimo (pip install -U vimo) to a version that knows this format"


def format_number(tag: Any, family: str | None = None) -> int | None:
    """The version of a format tag: an int as is, 'family/N' -> N (None when the family differs or the tag is
    unreadable)."""
    if isinstance(tag, bool):
        return None
    if isinstance(tag, int):
        return tag
    if isinstance(tag, str) and "/" in tag:
        name, _, number = tag.rpartition("/")
        if (family is None or name == family) and number.isdigit():
            return int(number)
    return None


def check_format_version(found: Any, expected: int | str, *, what: str, path: str | Path, older_fix: str,
                         error: type[VimoError] | None = None) -> None:
    """Raise in one line unless `found` is `expected` (an int version, or a 'family/N' tag whose family must
    match): an older format gets `older_fix` (the migration or rebuild command), a newer one 'upgrade vimo',
    an unreadable one both. The error is FormatVersionError, or `error` (a format's own error class)."""
    family = None
    if isinstance(expected, str):
        family, _, version = expected.rpartition("/")
        expected = int(version)
    number = format_number(found, family)
    if number == expected:
        return
    cls = error or FormatVersionError
    if number is None:
        raise cls(f"{what} format {found!r} is not one this vimo reads (version {expected})", path=path,
                  fix=f"{older_fix}; or, if a newer vimo wrote it, {UPGRADE_FIX}")
    if number < expected:
        raise cls(f"{what} format version {number} is older than this vimo's {expected}", path=path, fix=older_fix)
    raise cls(f"{what} format version {number} is newer than this vimo's {expected}", path=path, fix=UPGRADE_FIX)


class WorkspaceError(VimoError):
    """A workspace that does not exist, is not a workspace, or is inconsistent."""


class MissingExtraError(VimoError):
    """An optional dependency group is not installed; the fix is the pip command."""

    exit_code = 3


def require_inside(path: str | Path, root: str | Path) -> Path:
    """Resolve `path` (following symlinks) and make sure it stays inside `root`."""
    root_r = Path(root).resolve()
    p = Path(path)
    resolved = (p if p.is_absolute() else root_r / p).resolve()
    if resolved != root_r and root_r not in resolved.parents:
        raise PathEscapeError(
            f"resolves to {resolved}, outside the root {root_r}",
            path=path,
            fix="remove the link or move the file inside the root",
        )
    return resolved

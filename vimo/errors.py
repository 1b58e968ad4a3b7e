"""Typed errors of the vimo library.

Every error carries the path it concerns, the problem and the fix, and renders as one line.
The library raises them; only the CLI edge turns them into a red line and an exit code.
"""
from __future__ import annotations

from pathlib import Path


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

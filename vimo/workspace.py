"""A build workspace on disk: a config file, the working folders and the SQLite catalog.

    ws/
      vimo-workspace.json   config (format version, name, created, settings)
      catalog.sqlite        the catalog (vimo.catalog), WAL mode
      vimo.lock             the writer lock (`writer_lock`): pid and command of the run holding it
      clips/ videos/ rounds/ releases/ quarantine/ cache/ logs/ annotation/

Paths stored in the catalog are relative to the workspace root; `Workspace.resolve` turns them
back into absolute paths and refuses any that escape the root.

Commands that write files and catalog rows together (convert, render, release build, clips cut,
restyle) hold the writer lock for their whole run: a second one started on the same workspace fails
at once with one line naming the holder (it does not wait). The lock is an `flock` on vimo.lock, so
the kernel releases it when its process dies, even by kill -9; read-only commands take no lock.
`check_consistency` compares the catalog with the files (what `vimo workspace status` reports).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vimo import __version__, atomic
from vimo.catalog import FORMAT_VERSION, Catalog, migrate_command
from vimo.errors import FormatVersionError, VimoError, WorkspaceError, require_inside

CONFIG_NAME = "vimo-workspace.json"
CATALOG_NAME = "catalog.sqlite"
LOCK_NAME = "vimo.lock"
FOLDERS = ("clips", "videos", "rounds", "releases", "quarantine", "cache", "logs", "annotation")


# -- the layout: every module builds workspace paths through these (one owner of the path templates) ---------
def catalog_path(root: str | Path) -> Path:
    return Path(root) / CATALOG_NAME


def clips_dir(root: str | Path) -> Path:
    """clips/<clip_id>/ (meta.json, features and joints of each person; pipelines.convert writes them)"""
    return Path(root) / "clips"


def videos_dir(root: str | Path) -> Path:
    """videos/ (every video file; the Label Studio media root)"""
    return Path(root) / "videos"


def quarantine_dir(root: str | Path, source: str | None = None) -> Path:
    """quarantine/[<source>/] (one JSON reason per quarantined unit)"""
    return Path(root) / "quarantine" / source if source else Path(root) / "quarantine"


def annotation_dir(root: str | Path) -> Path:
    """annotation/ (label-studio/ data, templates/, rounds/<id>/ reports, exports/<id>/ snapshots)"""
    return Path(root) / "annotation"


def round_dir(root: str | Path, round_id: str) -> Path:
    return annotation_dir(root) / "rounds" / round_id


def exports_dir(root: str | Path, round_id: str) -> Path:
    return annotation_dir(root) / "exports" / round_id


def templates_dir(root: str | Path) -> Path:
    return annotation_dir(root) / "templates"


@dataclass
class Workspace:
    root: Path
    config: dict[str, Any]
    catalog: Catalog

    @classmethod
    def init(cls, root: str | Path, *, name: str | None = None, settings: dict[str, Any] | None = None) -> "Workspace":
        """Create a workspace (idempotent: an existing one is opened, never wiped)."""
        root = Path(root)
        if (root / CONFIG_NAME).exists():
            return cls.open(root)
        if root.exists() and not root.is_dir():
            raise WorkspaceError("exists and is not a folder", path=root, fix="choose another path")
        root.mkdir(parents=True, exist_ok=True)
        for folder in FOLDERS:
            (root / folder).mkdir(exist_ok=True)
        config = {"format_version": FORMAT_VERSION, "name": name or root.resolve().name,
                  "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "created_by": f"vimo {__version__}",
                  "settings": settings or {}}
        Catalog(root / CATALOG_NAME, workspace_root=root, create=True).close()
        atomic.write_json(root / CONFIG_NAME, config)  # written last: its presence marks a complete init
        return cls.open(root)

    @classmethod
    def open(cls, root: str | Path, *, check_version: bool = True) -> "Workspace":
        root = Path(root)
        cfg_path = root / CONFIG_NAME
        if not cfg_path.is_file():
            raise WorkspaceError("is not a vimo workspace (no vimo-workspace.json)", path=root,
                                 fix=f"run: vimo init {root}")
        try:
            config = json.loads(cfg_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise WorkspaceError(f"config is not valid JSON ({exc})", path=cfg_path,
                                 fix="restore it from a backup or re-create the workspace") from None
        version = config.get("format_version")
        if check_version and version != FORMAT_VERSION:
            newer = isinstance(version, int) and version > FORMAT_VERSION
            raise FormatVersionError(
                f"workspace format version {version} differs from this vimo's {FORMAT_VERSION}", path=root,
                fix="upgrade vimo" if newer else f"run: {migrate_command(root)}")
        catalog = Catalog(root / CATALOG_NAME, workspace_root=root, check_version=check_version)
        return cls(root=root, config=config, catalog=catalog)

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- paths -------------------------------------------------------------------------------------
    def resolve(self, relpath: str | Path) -> Path:
        """Absolute path of a catalog path; PathEscapeError if it leaves the workspace."""
        return require_inside(relpath, self.root)

    def rel(self, path: str | Path) -> str:
        """The catalog form of a path inside the workspace (POSIX, relative to the root)."""
        return require_inside(path, self.root).relative_to(self.root.resolve()).as_posix()

    def folder(self, name: str) -> Path:
        if name not in FOLDERS:
            raise WorkspaceError(f"unknown workspace folder {name!r}", path=self.root, fix=f"use one of {FOLDERS}")
        return self.root / name

    def status(self) -> dict[str, Any]:
        return {"root": str(self.root.resolve()), "name": self.config.get("name"),
                "format_version": self.catalog.format_version(), "journal_mode": self.catalog.journal_mode(),
                "counts": self.catalog.counts()}


# -- the writer lock ---------------------------------------------------------------------------------
class WorkspaceBusyError(WorkspaceError):
    """Another process holds the workspace's writer lock."""


#: resolved root -> [open lock file descriptor, depth]: the lock is re-entrant within one process
_HELD: dict[str, list[int]] = {}


def lock_holder(root: str | Path) -> dict[str, Any] | None:
    """What vimo.lock says about its last holder ({"pid", "command"}), None when unreadable."""
    try:
        return json.loads((Path(root) / LOCK_NAME).read_text())
    except (OSError, ValueError):
        return None


def current_writer(root: str | Path) -> dict[str, Any] | None:
    """The run holding the writer lock now ({"pid", "command"}), None when none does. Probes with a
    shared non-blocking flock held for microseconds (a writer starting in that instant would be
    refused once; read-only callers such as `vimo workspace status` use it)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        return None
    try:
        fd = os.open(Path(root) / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return lock_holder(root) or {}
    finally:
        os.close(fd)
    return None


@contextmanager
def writer_lock(root: str | Path, command: str, *, create: bool = False) -> Iterator[None]:
    """Hold the workspace's writer lock while the block runs. The folder must be a workspace, or, with
    `create`, is created when missing (the command then initialises it under the lock).

    Fails fast with WorkspaceBusyError ("another vimo convert (pid N) is using this workspace") when
    another process holds it. Re-entrant within one process (a flow that converts then renders).
    Where fcntl is missing (Windows) the block runs unlocked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover  (not POSIX)
        yield
        return
    root = Path(root)
    if create:
        root.mkdir(parents=True, exist_ok=True)
    elif not (root / CONFIG_NAME).is_file():
        raise WorkspaceError("is not a vimo workspace (no vimo-workspace.json)", path=root, fix=f"run: vimo init {root}")
    key = str(root.resolve())
    held = _HELD.get(key)
    if held is not None and held[1] > 0:
        held[1] += 1
        try:
            yield
        finally:
            held[1] -= 1
        return
    path = root / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        holder = lock_holder(root) or {}
        who = f"vimo {holder.get('command', 'command')}" + (f" (pid {holder['pid']})" if holder.get("pid") else "")
        raise WorkspaceBusyError(f"another {who} is using this workspace", path=root,
                                 fix="wait for it to end, or stop it; then run this command again "
                                     "(it resumes where the other stopped)") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": command}).encode() + b"\n", 0)
        _HELD[key] = [fd, 1]
        yield
    finally:
        _HELD.pop(key, None)
        os.close(fd)  # releases the flock


# -- catalog vs disk ----------------------------------------------------------------------------------
#: temporary names a killed writer leaves behind: clips/.tmp-<clip>-<pid>, clips/.old-<clip>-<pid>,
#: .<stem>.<pid>.tmp.mp4 (vimo.pipelines.video.encode), .<name>.pid<pid>.<random>.staging (vimo.release),
#: .<name>.<random>.tmp (vimo.atomic)
LEFTOVER = re.compile(r"^\.(tmp-.*|old-.*|.*\.tmp\.mp4|.*\.staging|.*\.tmp)$")


def pid_alive(pid: int) -> bool:
    """True when a live (not zombie) process with this id exists (it may be another program after a pid reuse)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    status = Path(f"/proc/{pid}/status")
    try:
        return "State:\tZ" not in status.read_text(errors="replace")
    except OSError:
        return True


@dataclass
class Consistency:
    """How the catalog and the files of a workspace agree. Each list holds one-line findings."""

    checked: dict[str, int] = field(default_factory=dict)
    clips_missing_on_disk: list[str] = field(default_factory=list)
    clips_not_in_catalog: list[str] = field(default_factory=list)
    clips_differ: list[str] = field(default_factory=list)
    videos_missing_on_disk: list[str] = field(default_factory=list)
    releases_missing_on_disk: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return (self.clips_missing_on_disk + self.clips_not_in_catalog + self.clips_differ
                + self.videos_missing_on_disk + self.releases_missing_on_disk)

    @property
    def consistent(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"consistent": self.consistent, "checked": self.checked,
                "clips_missing_on_disk": self.clips_missing_on_disk, "clips_not_in_catalog": self.clips_not_in_catalog,
                "clips_differ": self.clips_differ, "videos_missing_on_disk": self.videos_missing_on_disk,
                "releases_missing_on_disk": self.releases_missing_on_disk, "leftovers": self.leftovers}


_CLIP_FILE_COLUMNS = {"reactor_features": "features_reactor", "actor_features": "features_actor",
                      "reactor_joints": "joints_reactor", "actor_joints": "joints_actor"}


def check_consistency(ws: "Workspace") -> Consistency:
    """Compare the catalog with the files: every clip row against its folder's meta.json (the files it
    names, their existence, the features checksum), every clip folder against the rows, every video
    and release row against its path; and list the temporary leftovers of killed runs (which a re-run
    of the same command removes). Reads the features_reactor file of every clip (for its sha256)."""
    out = Consistency()
    root = ws.root
    rows = {r["clip_id"]: r for r in ws.catalog.query("clips")}
    folders = {d.name for d in clips_dir(root).iterdir() if d.is_dir() and not d.name.startswith(".")} \
        if clips_dir(root).is_dir() else set()
    referenced = set()
    for cid, row in sorted(rows.items()):
        named = [row[c] for c in _CLIP_FILE_COLUMNS if row.get(c)]
        parents = {Path(p).parent for p in named}
        referenced |= {p.parts[1] for p in parents if len(p.parts) > 1 and p.parts[0] == "clips"}
        missing = [p for p in named if not _exists_inside(root, p)]
        if not named or len(missing) == len(named):
            out.clips_missing_on_disk.append(f"clips/{cid}: in the catalog, not on disk")
        elif missing:
            out.clips_differ.append(f"clips/{cid}: {missing[0]} is missing")
        elif (problem := _clip_difference(root, cid, row, parents)) is not None:
            out.clips_differ.append(f"clips/{cid}: {problem}")
    for name in sorted(folders - referenced):
        out.clips_not_in_catalog.append(f"clips/{name}: on disk, not in the catalog")
    videos = ws.catalog.query("videos")
    for v in videos:
        if not _exists_inside(root, v["path"]):
            out.videos_missing_on_disk.append(f"{v['path']}: video {v['video_id']} is in the catalog, not on disk")
    releases = ws.catalog.query("releases")
    for r in releases:
        if not _exists_inside(root, r["path"]):
            out.releases_missing_on_disk.append(f"{r['path']}: release {r['name']} {r['version']} is in the catalog, "
                                                f"not on disk")
    for folder in ("clips", "videos", "releases", "convert", "quarantine"):
        base = root / folder
        if base.is_dir():
            for dirpath, dirnames, filenames in os.walk(base):
                for name in sorted(dirnames + filenames):
                    if LEFTOVER.match(name):
                        out.leftovers.append((Path(dirpath) / name).relative_to(root).as_posix())
                dirnames[:] = [d for d in dirnames if not LEFTOVER.match(d)]
    out.leftovers.sort()
    out.checked = {"clips": len(rows), "clip_folders": len(folders), "videos": len(videos), "releases": len(releases)}
    return out


def _exists_inside(root: Path, rel: str) -> bool:
    try:
        return require_inside(rel, root).exists()
    except VimoError:  # a path escaping the workspace is not one of its files
        return False


def _clip_difference(root: Path, cid: str, row: dict[str, Any], parents: set[Path]) -> str | None:
    """Why a clip row and its folder disagree, None when they agree. A folder written by vimo convert
    (with meta.json) must match the row file for file; without one, the row's checksum (if any) must
    be the features file's."""
    sha = hashlib.sha256(require_inside(row["reactor_features"], root).read_bytes()).hexdigest() \
        if row.get("reactor_features") else None
    folder = root / next(iter(parents)) if len(parents) == 1 else None
    if folder is None or not (folder / "meta.json").is_file():
        if row.get("checksum") is not None and row["checksum"] != sha:
            return "the catalog's features checksum differs from the file"
        return None
    try:
        files = json.loads((folder / "meta.json").read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return "meta.json is unreadable"
    rel = folder.relative_to(root).as_posix()
    for column, name in _CLIP_FILE_COLUMNS.items():
        want = f"{rel}/{files[name]['path']}" if name in files else None
        if row.get(column) != want:
            return f"the catalog's {column} is {row.get(column)!r}, meta.json says {want!r}"
    if row.get("checksum") != sha or files.get("features_reactor", {}).get("sha256") != sha:
        return "the features checksum differs between the catalog, meta.json and the file"
    return None


def migrate(root: str | Path) -> list[int]:
    """Bring a workspace (config + catalog) to this vimo's format version; returns the steps run."""
    root = Path(root)
    ws = Workspace.open(root, check_version=False)
    try:
        steps = ws.catalog.migrate()
        if ws.config.get("format_version") != FORMAT_VERSION:
            ws.config["format_version"] = FORMAT_VERSION
            atomic.write_json(root / CONFIG_NAME, ws.config)
        return steps
    finally:
        ws.close()

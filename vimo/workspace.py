"""A build workspace on disk: a config file, the working folders and the SQLite catalog.

    ws/
      vimo-workspace.json   config (format version, name, created, settings)
      catalog.sqlite        the catalog (vimo.catalog), WAL mode
      clips/ videos/ rounds/ releases/ quarantine/ cache/ logs/ annotation/

Paths stored in the catalog are relative to the workspace root; `Workspace.resolve` turns them
back into absolute paths and refuses any that escape the root.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vimo import __version__, atomic
from vimo.catalog import FORMAT_VERSION, Catalog, migrate_command
from vimo.errors import FormatVersionError, WorkspaceError, require_inside

CONFIG_NAME = "vimo-workspace.json"
CATALOG_NAME = "catalog.sqlite"
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

"""The workspace catalog: one SQLite file (WAL mode) holding clips, videos, pairs, annotation rounds,
annotations, resumable jobs and releases, with a stored format version and migrations.

Every write runs in a transaction (`with catalog.transaction():` groups several); upserts make
re-runs idempotent; readers in other processes see consistent snapshots while a writer writes (WAL).
Flexible fields (labels, QA figures, provenance, scores, configs) are JSON columns.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vimo.errors import FormatVersionError, WorkspaceError

FORMAT_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clips (
    clip_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    sequence_id TEXT NOT NULL,
    source_split TEXT,
    frame_start INTEGER, frame_end INTEGER, source_fps REAL,
    n_frames INTEGER,
    actor TEXT, reactor TEXT, actor_rule TEXT, raw_order_label TEXT,
    reactor_features TEXT, actor_features TEXT, reactor_joints TEXT, actor_joints TEXT,
    labels TEXT NOT NULL DEFAULT '{}',
    qa TEXT NOT NULL DEFAULT '{}',
    provenance TEXT NOT NULL DEFAULT '{}',
    licence TEXT,
    status TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'quarantined', 'flagged')),
    reason TEXT,
    checksum TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS clips_source ON clips(source, sequence_id);
CREATE TABLE IF NOT EXISTS videos (
    video_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('real', 'rendered', 'restyled', 'external')),
    clip_id TEXT REFERENCES clips(clip_id) ON DELETE SET NULL,
    parent_video_id TEXT REFERENCES videos(video_id) ON DELETE SET NULL,
    path TEXT NOT NULL,
    checksum TEXT,
    n_frames INTEGER, fps REAL, width INTEGER, height INTEGER, codec TEXT,
    provenance TEXT NOT NULL DEFAULT '{}',
    licence TEXT,
    status TEXT NOT NULL DEFAULT 'ok',
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pairs (
    pair_id TEXT PRIMARY KEY,
    video_id TEXT NOT NULL REFERENCES videos(video_id),
    clip_id TEXT NOT NULL REFERENCES clips(clip_id),
    broad_category TEXT, sub_category TEXT, emotion TEXT,
    labels TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'candidate' CHECK (status IN ('candidate', 'accepted', 'rejected')),
    motion_quality REAL, reaction_plausibility REAL,
    scores TEXT NOT NULL DEFAULT '{}',
    licence TEXT,
    origin TEXT,
    created_at REAL NOT NULL,
    UNIQUE (video_id, clip_id)
);
-- annotation rounds (written by vimo.annotation): a round, its tasks, the annotations pulled from
-- Label Studio with validity / status / inspector verdicts, and the export snapshots they came from
CREATE TABLE IF NOT EXISTS rounds (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('screening', 'rating', 'pairing', 'inspection')),
    stage TEXT NOT NULL CHECK (stage IN ('trial', 'main')),
    status TEXT NOT NULL,
    project_id INTEGER, title TEXT NOT NULL,
    instructions_version INTEGER NOT NULL, instructions_md5 TEXT NOT NULL,
    config_version INTEGER NOT NULL, config_md5 TEXT NOT NULL,
    overlap INTEGER NOT NULL, max_per_annotator INTEGER, source_round TEXT,
    created_at TEXT NOT NULL, closed_at TEXT, params TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS round_tasks (
    round_id TEXT NOT NULL REFERENCES rounds(id), task_id TEXT NOT NULL, ls_task_id INTEGER,
    data TEXT NOT NULL, gold TEXT, pushed_at TEXT,
    PRIMARY KEY (round_id, task_id)
);
CREATE INDEX IF NOT EXISTS round_tasks_ls ON round_tasks(round_id, ls_task_id);
CREATE TABLE IF NOT EXISTS annotations (
    round_id TEXT NOT NULL REFERENCES rounds(id), ls_annotation_id INTEGER NOT NULL,
    task_id TEXT NOT NULL, ls_task_id INTEGER NOT NULL, annotator TEXT NOT NULL,
    result TEXT NOT NULL, answer TEXT NOT NULL, validity TEXT NOT NULL, problem TEXT,
    status TEXT NOT NULL, created_at TEXT, updated_at TEXT, lead_time REAL,
    export_md5 TEXT NOT NULL, on_server INTEGER NOT NULL DEFAULT 1,
    verdict TEXT, verdict_reason TEXT, inspector TEXT, pair_decision TEXT, verdict_round TEXT,
    PRIMARY KEY (round_id, ls_annotation_id)
);
CREATE TABLE IF NOT EXISTS exports (
    round_id TEXT NOT NULL REFERENCES rounds(id), md5 TEXT NOT NULL, path TEXT NOT NULL,
    taken_at TEXT NOT NULL, tasks INTEGER NOT NULL, annotations INTEGER NOT NULL,
    PRIMARY KEY (round_id, md5)
);
CREATE TABLE IF NOT EXISTS jobs (
    kind TEXT NOT NULL,
    unit TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'done', 'failed', 'quarantined')),
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    started_at REAL, finished_at REAL,
    PRIMARY KEY (kind, unit)
);
-- releases: checksum is the release digest, the sha256 of the release's CHECKSUMS.sha256
-- (vimo.release.layout.release_digest), which vimo release verify compares with the folder's
CREATE TABLE IF NOT EXISTS releases (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    path TEXT NOT NULL,
    checksum TEXT,
    recipe TEXT NOT NULL DEFAULT '{}',
    counts TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    PRIMARY KEY (name, version)
);
"""

#: table -> (primary key columns, JSON columns)
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "clips": (("clip_id",), ("labels", "qa", "provenance")),
    "videos": (("video_id",), ("provenance",)),
    "pairs": (("pair_id",), ("labels", "scores")),
    "rounds": (("id",), ("params",)),
    "round_tasks": (("round_id", "task_id"), ("data", "gold")),
    "annotations": (("round_id", "ls_annotation_id"), ("result", "answer")),
    "exports": (("round_id", "md5"), ()),
    "jobs": (("kind", "unit"), ()),
    "releases": (("name", "version"), ("recipe", "counts")),
}

#: tables whose created_at is epoch seconds filled in by the catalog (the annotation tables store ISO text)
_EPOCH_TIMES = {"clips", "videos", "pairs", "releases"}

#: migrations[n] upgrades a catalog from format version n to n + 1
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}


def migrate_command(root: Path | str) -> str:
    return f"vimo workspace migrate -w {root}"


def unreadable_fix(path: Path, root: Path) -> str:
    """What to do about a catalog file SQLite cannot read. Moving the catalog and the workspace config aside
    makes `vimo convert` re-create both and re-register the clips already on disk (their units are skipped,
    not converted again); what only the catalog held (pairs, videos, rounds, releases) is not restored."""
    return (f"restore {path.name} from a backup; else move {path.name} and vimo-workspace.json aside and re-run "
            f"`vimo convert <source> <root> -w {root}`, which re-registers the clips in {root / 'clips'} (pairs, "
            "videos, annotation rounds and releases recorded only in the catalog are lost)")


def storable(text: str) -> str:
    """`text` as SQLite can store it: bytes that are not UTF-8 (lone surrogates from an undecodable file name)
    are written as \\xNN."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class Catalog:
    """A connection to a workspace catalog. One per thread (sqlite3 connections are not shared)."""

    def __init__(self, path: str | Path, *, workspace_root: str | Path | None = None, create: bool = False,
                 check_version: bool = True):
        self.path = Path(path)
        self.root = Path(workspace_root) if workspace_root else self.path.parent
        if not create and not self.path.exists():
            raise WorkspaceError("has no catalog", path=self.path, fix=f"run: vimo init {self.root}")
        self._conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = 0
        try:
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            if not create:
                self.check_readable()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            raise WorkspaceError(f"not a readable vimo catalog ({exc})", path=self.path,
                                 fix=unreadable_fix(self.path, self.root)) from None
        if create:
            with self.transaction():
                for stmt in _statements(SCHEMA):
                    self._conn.execute(stmt)
                self._conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('format_version', ?)",
                                   (str(FORMAT_VERSION),))
        if check_version:
            found = self.format_version()
            if found != FORMAT_VERSION:
                direction = "older" if found < FORMAT_VERSION else "newer"
                fix = (f"run: {migrate_command(self.root)}" if found < FORMAT_VERSION
                       else "upgrade vimo (pip install -U vimo) to a version that knows this format")
                raise FormatVersionError(f"catalog format version {found} is {direction} than this vimo's "
                                         f"{FORMAT_VERSION}", path=self.path, fix=fix)

    # -- connection and transactions ----------------------------------------------------------
    @property
    def connection(self) -> sqlite3.Connection:
        """The catalog's connection (autocommit; write inside `transaction()`), for the annotation ledger."""
        return self._conn

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error); nested calls join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    def check_readable(self) -> None:
        """sqlite3.DatabaseError when the file is not a database or its pages are damaged (PRAGMA quick_check:
        every b-tree page read once, no index cross-check; milliseconds for a typical catalog)."""
        rows = self._conn.execute("PRAGMA quick_check").fetchall()
        problems = [r[0] for r in rows if r[0] != "ok"]
        if problems:
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            raise sqlite3.DatabaseError(f"malformed: {problems[0]}{more}")

    def format_version(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()
        return int(row[0]) if row else 0

    def journal_mode(self) -> str:
        return self._conn.execute("PRAGMA journal_mode").fetchone()[0]

    def migrate(self) -> list[int]:
        """Apply the registered migrations from the stored version up to FORMAT_VERSION."""
        done = []
        version = self.format_version()
        if version > FORMAT_VERSION:
            raise FormatVersionError(f"catalog format version {version} is newer than this vimo's {FORMAT_VERSION}",
                                     path=self.path, fix="upgrade vimo")
        while version < FORMAT_VERSION:
            step = MIGRATIONS.get(version)
            if step is None:
                raise FormatVersionError(f"no migration from format version {version}", path=self.path,
                                         fix="rebuild the workspace with vimo init on a new folder")
            with self.transaction() as conn:
                step(conn)
                conn.execute("UPDATE meta SET value=? WHERE key='format_version'", (str(version + 1),))
            done.append(version)
            version += 1
        return done

    # -- generic record access ----------------------------------------------------------------
    def upsert(self, table: str, record: dict[str, Any]) -> None:
        """Insert or update one row by its primary key (other columns keep their values if absent)."""
        keys, json_cols = _table(table)
        row = {k: (json.dumps(v, sort_keys=True, default=str) if k in json_cols and not isinstance(v, str) else v)
               for k, v in record.items()}
        if "created_at" in _columns(self._conn, table) and "created_at" not in row and table in _EPOCH_TIMES:
            row["created_at"] = time.time()
        missing = [k for k in keys if row.get(k) is None]
        if missing:
            raise WorkspaceError(f"{table} record lacks its key {missing}", path=self.path,
                                 fix=f"give {', '.join(missing)}")
        cols = list(row)
        updates = [c for c in cols if c not in keys and c != "created_at"]
        where = " AND ".join(f"{k}=?" for k in keys)
        key_values = [row[k] for k in keys]
        with self.transaction() as conn:
            try:
                exists = conn.execute(f"SELECT 1 FROM {table} WHERE {where}", key_values).fetchone()
                if exists is None:
                    conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                 [row[c] for c in cols])
                elif updates:  # partial update: columns not given keep their values
                    conn.execute(f"UPDATE {table} SET {', '.join(f'{c}=?' for c in updates)} WHERE {where}",
                                 [row[c] for c in updates] + key_values)
            except sqlite3.IntegrityError as exc:
                raise WorkspaceError(f"{table} record {key_values} violates the catalog's rules ({exc})",
                                     path=self.path, fix="add the records it refers to first") from None

    def get(self, table: str, *key: Any) -> dict[str, Any] | None:
        keys, _ = _table(table)
        where = " AND ".join(f"{k}=?" for k in keys)
        row = self._conn.execute(f"SELECT * FROM {table} WHERE {where}", key).fetchone()
        return None if row is None else _decode(table, row)

    def query(self, table: str, where: str = "", params: tuple = (), order: str | None = None) -> list[dict[str, Any]]:
        keys, _ = _table(table)
        sql = f"SELECT * FROM {table}" + (f" WHERE {where}" if where else "")
        sql += f" ORDER BY {order or ', '.join(keys)}"
        return [_decode(table, r) for r in self._conn.execute(sql, params).fetchall()]

    def delete(self, table: str, *key: Any) -> None:
        keys, _ = _table(table)
        with self.transaction() as conn:
            conn.execute(f"DELETE FROM {table} WHERE " + " AND ".join(f"{k}=?" for k in keys), key)

    def counts(self) -> dict[str, int]:
        return {t: self._conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}

    # -- named helpers --------------------------------------------------------------------------
    def add_clip(self, **record: Any) -> None:
        self.upsert("clips", record)

    def add_video(self, **record: Any) -> None:
        self.upsert("videos", record)

    def add_pair(self, **record: Any) -> None:
        self.upsert("pairs", record)

    def add_round(self, **record: Any) -> None:
        self.upsert("rounds", record)

    def add_annotation(self, **record: Any) -> None:
        self.upsert("annotations", record)

    def add_release(self, **record: Any) -> None:
        self.upsert("releases", record)

    def clips(self, status: str | None = None, source: str | None = None) -> list[dict[str, Any]]:
        cond, params = _conditions(status=status, source=source)
        return self.query("clips", cond, params)

    def pairs(self, status: str | None = None) -> list[dict[str, Any]]:
        cond, params = _conditions(status=status)
        return self.query("pairs", cond, params)

    def set_pair_status(self, pair_id: str, status: str, **scores: float) -> None:
        self.upsert("pairs", {"pair_id": pair_id, "status": status, **scores})

    # -- resumable jobs ---------------------------------------------------------------------------
    def enqueue(self, kind: str, units: list[str]) -> int:
        """Add units of work (already known units keep their state); returns how many are new."""
        with self.transaction() as conn:
            before = conn.total_changes
            conn.executemany("INSERT OR IGNORE INTO jobs(kind, unit) VALUES (?, ?)",
                             [(storable(kind), storable(u)) for u in units])
            return conn.total_changes - before

    def claim(self, kind: str, unit: str) -> bool:
        """Mark a unit running; False when it is already done (a re-run skips it)."""
        kind, unit = storable(kind), storable(unit)
        with self.transaction() as conn:
            row = conn.execute("SELECT status FROM jobs WHERE kind=? AND unit=?", (kind, unit)).fetchone()
            if row is not None and row[0] == "done":
                return False
            conn.execute("INSERT INTO jobs(kind, unit, status, attempts, started_at) VALUES (?, ?, 'running', 1, ?) "
                         "ON CONFLICT(kind, unit) DO UPDATE SET status='running', attempts=attempts+1, "
                         "started_at=excluded.started_at, reason=NULL", (kind, unit, time.time()))
            return True

    def finish(self, kind: str, unit: str) -> None:
        self._set_job(kind, unit, "done", None)

    def fail(self, kind: str, unit: str, reason: str, *, quarantine: bool = False) -> None:
        self._set_job(kind, unit, "quarantined" if quarantine else "failed", reason)

    def _set_job(self, kind: str, unit: str, status: str, reason: str | None) -> None:
        kind, unit, reason = storable(kind), storable(unit), None if reason is None else storable(reason)
        with self.transaction() as conn:
            conn.execute("INSERT INTO jobs(kind, unit, status, reason, finished_at) VALUES (?, ?, ?, ?, ?) "
                         "ON CONFLICT(kind, unit) DO UPDATE SET status=excluded.status, reason=excluded.reason, "
                         "finished_at=excluded.finished_at", (kind, unit, status, reason, time.time()))

    def pending(self, kind: str) -> list[str]:
        """Units not done yet, including those left 'running' by a killed run."""
        rows = self._conn.execute("SELECT unit FROM jobs WHERE kind=? AND status IN ('pending', 'running', 'failed') "
                                  "ORDER BY unit", (kind,)).fetchall()
        return [r[0] for r in rows]

    def jobs(self, kind: str | None = None) -> list[dict[str, Any]]:
        cond, params = _conditions(kind=kind)
        return self.query("jobs", cond, params)

    # -- pandas views -------------------------------------------------------------------------
    def dataframe(self, table: str):
        """The table as a pandas DataFrame, JSON columns decoded into dicts."""
        import pandas as pd

        rows = self.query(table)
        return pd.DataFrame(rows, columns=_columns(self._conn, table))

    def pairs_df(self):
        """Pairs joined with their video (kind, path) and clip (source, sequence, frames, licence)."""
        import pandas as pd

        sql = ("SELECT p.*, v.kind AS video_kind, v.path AS video_path, c.source AS clip_source, "
               "c.sequence_id AS clip_sequence_id, c.n_frames AS clip_n_frames, c.licence AS clip_licence "
               "FROM pairs p JOIN videos v ON v.video_id = p.video_id JOIN clips c ON c.clip_id = p.clip_id "
               "ORDER BY p.pair_id")
        rows = [_decode("pairs", r) for r in self._conn.execute(sql).fetchall()]
        cols = _columns(self._conn, "pairs") + ["video_kind", "video_path", "clip_source", "clip_sequence_id",
                                                 "clip_n_frames", "clip_licence"]
        return pd.DataFrame(rows, columns=cols)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _table(table: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if table not in TABLES:
        raise WorkspaceError(f"unknown catalog table {table!r}", path=None, fix=f"use one of {', '.join(TABLES)}")
    return TABLES[table]


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})").fetchall()]


def _decode(table: str, row: sqlite3.Row) -> dict[str, Any]:
    _, json_cols = TABLES[table]
    out = dict(row)
    for c in json_cols:
        if c in out and isinstance(out[c], str):
            out[c] = json.loads(out[c])
    return out


def _conditions(**equal: Any) -> tuple[str, tuple]:
    parts = [(k, v) for k, v in equal.items() if v is not None]
    return " AND ".join(f"{k}=?" for k, _ in parts), tuple(v for _, v in parts)

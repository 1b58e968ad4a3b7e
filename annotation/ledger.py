"""The round ledger: rounds, their tasks, annotations, export snapshots and inspector verdicts.

Tables `rounds`, `round_tasks`, `annotations`, `exports` of the workspace catalog
(<workspace>/catalog.sqlite, WAL; the schema is vimo.catalog's). Every write is one transaction; imports are
idempotent (keyed on the Label Studio annotation id, replaced only when its `updated_at` changed).
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from vimo.errors import WorkspaceError



def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class RoundRecord:
    id: str
    kind: str
    stage: str
    status: str
    project_id: int | None
    title: str
    instructions_version: int
    instructions_md5: str
    config_version: int
    config_md5: str
    overlap: int
    max_per_annotator: int | None
    source_round: str | None
    created_at: str
    closed_at: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class AnnotationRecord:
    round_id: str
    ls_annotation_id: int
    task_id: str
    ls_task_id: int
    annotator: str
    result: list
    answer: dict[str, Any]
    """the parsed result: {control name: value} (ratings as int, choices as list, text as str)"""
    validity: str
    """valid | invalid | skipped"""
    problem: str | None
    status: str
    """counted | invalid | skipped | duplicate | surplus | over_quota | rejected | gone"""
    created_at: str | None
    updated_at: str | None
    lead_time: float | None
    export_md5: str
    on_server: bool = True
    verdict: str | None = None
    verdict_reason: str | None = None
    inspector: str | None = None
    pair_decision: str | None = None
    verdict_round: str | None = None


class Ledger:
    """The annotation tables of a workspace catalog. The catalog (vimo.catalog) owns their schema, its format
    version and the connection; a folder that is not a workspace is refused, never given a catalog."""

    def __init__(self, catalog: Any, *, owner: Any = None):
        self.catalog = catalog
        self.path = Path(catalog.path)
        self.db = catalog.connection
        self._owner = owner

    @classmethod
    def of(cls, workspace: str | Path) -> "Ledger":
        """The ledger of a workspace (opened, its format version checked)."""
        from vimo.workspace import Workspace

        ws = Workspace.open(workspace)
        return cls(ws.catalog, owner=ws)

    def close(self) -> None:
        """Close the workspace this ledger opened (a catalog passed in stays open)."""
        if self._owner is not None:
            self._owner.close()
            self._owner = None

    # ---- rounds ---------------------------------------------------------------------------
    def add_round(self, r: RoundRecord) -> None:
        with self.catalog.transaction():
            self.db.execute("INSERT INTO rounds VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                            (r.id, r.kind, r.stage, r.status, r.project_id, r.title, r.instructions_version,
                             r.instructions_md5, r.config_version, r.config_md5, r.overlap, r.max_per_annotator,
                             r.source_round, r.created_at, r.closed_at, json.dumps(r.params, sort_keys=True)))

    def update_round(self, round_id: str, **changes: Any) -> None:
        if "params" in changes:
            changes["params"] = json.dumps(changes["params"], sort_keys=True)
        cols = ", ".join(f"{k}=?" for k in changes)
        with self.catalog.transaction():
            self.db.execute(f"UPDATE rounds SET {cols} WHERE id=?", (*changes.values(), round_id))

    def round(self, round_id: str) -> RoundRecord:
        row = self.db.execute("SELECT * FROM rounds WHERE id=?", (round_id,)).fetchone()
        if row is None:
            raise WorkspaceError(f"no annotation round {round_id!r}", path=self.path,
                                 fix="list rounds with `vimo annotate round status --workspace WS`")
        d = dict(row)
        d["params"] = json.loads(d["params"])
        return RoundRecord(**d)

    def rounds(self) -> list[RoundRecord]:
        ids = [r[0] for r in self.db.execute("SELECT id FROM rounds ORDER BY created_at, id")]
        return [self.round(i) for i in ids]

    def next_round_id(self, kind: str, stage: str) -> str:
        n = self.db.execute("SELECT COUNT(*) FROM rounds WHERE kind=? AND stage=?", (kind, stage)).fetchone()[0]
        while True:
            n += 1
            rid = f"{kind}-{stage}-{n:03d}"
            if self.db.execute("SELECT 1 FROM rounds WHERE id=?", (rid,)).fetchone() is None:
                return rid

    # ---- tasks ----------------------------------------------------------------------------
    def add_tasks(self, round_id: str, rows: Iterable[tuple[str, int | None, dict, dict | None]]) -> None:
        """Insert or update (task_id, ls_task_id, data, gold); an existing ls_task_id is kept if None."""
        stamp = now()
        with self.catalog.transaction():
            self.db.executemany(
                "INSERT INTO round_tasks VALUES (?,?,?,?,?,?) ON CONFLICT(round_id, task_id) DO UPDATE SET "
                "ls_task_id=COALESCE(excluded.ls_task_id, ls_task_id), data=excluded.data, gold=excluded.gold, "
                "pushed_at=COALESCE(excluded.pushed_at, pushed_at)",
                [(round_id, t, ls, json.dumps(data, sort_keys=True), None if gold is None else json.dumps(gold),
                  stamp if ls is not None else None) for t, ls, data, gold in rows])

    def tasks(self, round_id: str) -> dict[str, dict[str, Any]]:
        out = {}
        for row in self.db.execute("SELECT * FROM round_tasks WHERE round_id=? ORDER BY task_id", (round_id,)):
            out[row["task_id"]] = {"ls_task_id": row["ls_task_id"], "data": json.loads(row["data"]),
                                   "gold": None if row["gold"] is None else json.loads(row["gold"]),
                                   "pushed_at": row["pushed_at"]}
        return out

    # ---- exports and annotations -------------------------------------------------------------
    def add_export(self, round_id: str, md5: str, path: str, taken_at: str, tasks: int, annotations: int) -> bool:
        """Record a snapshot; False if this exact export (same md5) was recorded before."""
        with self.catalog.transaction():
            cur = self.db.execute("INSERT OR IGNORE INTO exports VALUES (?,?,?,?,?,?)",
                                  (round_id, md5, path, taken_at, tasks, annotations))
        return cur.rowcount == 1

    def exports(self, round_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM exports WHERE round_id=? ORDER BY rowid",
                                                 (round_id,))]

    def upsert_annotations(self, records: Iterable[AnnotationRecord]) -> tuple[int, int]:
        """Insert new annotations, replace changed ones (verdicts are kept); returns (new, updated)."""
        new = updated = 0
        with self.catalog.transaction():
            for a in records:
                old = self.db.execute("SELECT updated_at, on_server FROM annotations WHERE round_id=? "
                                      "AND ls_annotation_id=?", (a.round_id, a.ls_annotation_id)).fetchone()
                values = (a.task_id, a.ls_task_id, a.annotator, json.dumps(a.result, sort_keys=True),
                          json.dumps(a.answer, sort_keys=True), a.validity, a.problem, a.status, a.created_at,
                          a.updated_at, a.lead_time, a.export_md5)
                if old is None:
                    self.db.execute("INSERT INTO annotations (task_id, ls_task_id, annotator, result, answer, "
                                    "validity, problem, status, created_at, updated_at, lead_time, export_md5, "
                                    "round_id, ls_annotation_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                                    (*values, a.round_id, a.ls_annotation_id))
                    new += 1
                elif old["updated_at"] != a.updated_at or not old["on_server"]:
                    self.db.execute("UPDATE annotations SET task_id=?, ls_task_id=?, annotator=?, result=?, "
                                    "answer=?, validity=?, problem=?, status=?, created_at=?, updated_at=?, "
                                    "lead_time=?, export_md5=?, on_server=1 WHERE round_id=? AND ls_annotation_id=?",
                                    (*values, a.round_id, a.ls_annotation_id))
                    updated += 1
        return new, updated

    def mark_gone(self, round_id: str, present_ids: set[int]) -> int:
        """Annotations deleted on the server stay in the ledger, marked as no longer on the server."""
        ids = [r[0] for r in self.db.execute("SELECT ls_annotation_id FROM annotations WHERE round_id=? "
                                             "AND on_server=1", (round_id,)) if r[0] not in present_ids]
        with self.catalog.transaction():
            self.db.executemany("UPDATE annotations SET on_server=0 WHERE round_id=? AND ls_annotation_id=?",
                                [(round_id, i) for i in ids])
        return len(ids)

    def annotations(self, round_id: str) -> list[AnnotationRecord]:
        rows = self.db.execute("SELECT * FROM annotations WHERE round_id=? ORDER BY created_at, ls_annotation_id",
                               (round_id,))
        out = []
        for row in rows:
            d = dict(row)
            d["result"] = json.loads(d["result"])
            d["answer"] = json.loads(d["answer"])
            d["on_server"] = bool(d["on_server"])
            out.append(AnnotationRecord(**d))
        return out

    def set_statuses(self, round_id: str, statuses: dict[int, str]) -> None:
        with self.catalog.transaction():
            self.db.executemany("UPDATE annotations SET status=? WHERE round_id=? AND ls_annotation_id=?",
                                [(s, round_id, i) for i, s in statuses.items()])

    def set_verdict(self, round_id: str, ls_annotation_id: int, verdict: str, reason: str | None,
                    inspector: str, pair_decision: str | None, verdict_round: str) -> None:
        with self.catalog.transaction():
            cur = self.db.execute("UPDATE annotations SET verdict=?, verdict_reason=?, inspector=?, pair_decision=?, "
                                  "verdict_round=? WHERE round_id=? AND ls_annotation_id=?",
                                  (verdict, reason, inspector, pair_decision, verdict_round, round_id,
                                   ls_annotation_id))
        if cur.rowcount != 1:
            raise WorkspaceError(f"round {round_id} has no annotation {ls_annotation_id} to inspect", path=self.path,
                                 fix=f"pull round {round_id} before pulling its inspection")

    def rows(self, sql: str, *args: Any) -> Iterator[sqlite3.Row]:
        yield from self.db.execute(sql, args)

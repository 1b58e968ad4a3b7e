"""Annotation rounds in Label Studio: create, push, pull, status, close.

Kinds: screening (is this video usable?), rating (motion quality + reaction plausibility, 1-5, flags,
comment), pairing (is this candidate reaction plausible for this video?), inspection (accept or reject
another round's annotations; verdicts are written back to that round). Stages: trial (a small
sample, several annotators per task) and main.

What we do because Label Studio Community does not:
- validate every annotation against the round's labeling config on pull;
- enforce overlap (annotators per task) and per-annotator quotas ourselves (`maximum_annotations`
  only limits the server's queue);
- push idempotently: each task carries our id (`vimo_task`), and a re-push skips tasks the server has;
- pull snapshots the raw export to disk with its md5 and time *before* importing it into the ledger,
  idempotently; task meta is changed by read-merge-write (the API replaces the whole dict).

A round can take its tasks from the workspace catalog (`create_from_catalog`, vimo.annotation.selection);
each pull of such a round writes its results back into the catalog (vimo.annotation.writeback).
"""
from __future__ import annotations

import hashlib
import json
import math
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import quote, unquote

from vimo.annotation.agreement import (AcceptPolicy, Rating, annotator_stats, largest_disagreements,
                                       pair_results, plot_histograms, round_summary)
from vimo.annotation.labeling import KINDS, Templates
from vimo.annotation.ledger import AnnotationRecord, Ledger, RoundRecord, now
from vimo.annotation.writeback import WriteBack, policy_of, write_back
from vimo.atomic import write_bytes, write_json
from vimo.errors import InputFormatError, VimoError, WorkspaceError, require_inside
from vimo.workspace import exports_dir, round_dir, templates_dir, videos_dir

STAGES: tuple[str, ...] = ("trial", "main")
DEFAULT_OVERLAP = {"trial": 3, "main": 1}
#: task data key holding our task id (idempotent push)
TASK_KEY = "vimo_task"
ROUND_KEY = "vimo_round"
PUSH_BATCH = 1000


class RoundError(VimoError):
    """A round operation that cannot be done in the round's current state."""


@dataclass
class TaskItem:
    """One task to push: our id, media paths (relative to the videos folder) by task-data key, and
    extra data fields. `gold` holds expected answers of a gold task ({control: value})."""

    task_id: str
    media: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    gold: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class PushReport:
    round_id: str
    new: int
    already_on_server: int
    ls_task_ids: dict[str, int]


@dataclass
class PullReport:
    round_id: str
    snapshot: Path
    md5: str
    new_snapshot: bool
    tasks: int
    annotations: int
    new: int
    updated: int
    invalid: list[tuple[int, str]]
    """(Label Studio annotation id, problem) of annotations that fail the labeling config"""
    statuses: dict[str, int]
    verdicts_written: int = 0
    catalog: WriteBack | None = None
    """what the pull wrote into the workspace catalog (rounds built from the catalog; for an
    inspection round, the write-back of the inspected round)"""


# ----------------------------------------------------------------------------------------------
# labeling-config checks (the server does none)


@dataclass(frozen=True)
class ControlSpec:
    name: str
    tag: str
    required: bool
    single: bool
    max_rating: int | None


def control_specs(config_xml: str) -> dict[str, ControlSpec]:
    """Controls of a labeling config by name: tag, required, single choice, rating maximum."""
    root = ET.fromstring(config_xml)
    out = {}
    for el in root.iter():
        if "toName" not in el.attrib or "name" not in el.attrib:
            continue
        tag = el.tag.lower()
        single = tag == "choices" and el.attrib.get("choice", "single") in ("single", "single-radio")
        max_rating = int(el.attrib.get("maxRating", 5)) if tag == "rating" else None
        out[el.attrib["name"]] = ControlSpec(el.attrib["name"], tag, el.attrib.get("required") == "true", single,
                                             max_rating)
    return out


def parse_answer(result: Sequence[dict]) -> dict[str, Any]:
    """Label Studio result regions -> {control: value}: rating int, choices list, text str."""
    answer: dict[str, Any] = {}
    for region in result:
        name, value, kind = region.get("from_name"), region.get("value") or {}, str(region.get("type", "")).lower()
        if kind == "rating":
            answer[name] = value.get("rating")
        elif kind == "choices":
            answer[name] = list(value.get("choices", []))
        elif kind == "textarea":
            answer[name] = "\n".join(str(t) for t in value.get("text", []))
        else:
            answer[name] = value
    return answer


class AnnotationValidator:
    """Checks one annotation against a labeling config: the SDK's LabelInterface (unknown controls,
    values outside the config), plus required controls, single choices and repeated controls."""

    def __init__(self, config_xml: str):
        from vimo.extras import require

        require("annotate", "label_studio_sdk")
        from label_studio_sdk.label_interface import LabelInterface

        self.interface = LabelInterface(config_xml)
        self.controls = control_specs(config_xml)

    def problems(self, result: Sequence[dict]) -> list[str]:
        if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
            return ["result is not a list of regions"]
        errors = list(self.interface.validate_prediction({"result": result}, return_errors=True) or [])
        names = Counter(r.get("from_name") for r in result)
        for name, n in names.items():
            if n > 1:
                errors.append(f"control {name!r} answered {n} times")
        answer = parse_answer(result)
        for spec in self.controls.values():
            value = answer.get(spec.name)
            if spec.required and (value is None or value == [] or value == ""):
                errors.append(f"required control {spec.name!r} is missing")
            if spec.single and isinstance(value, list) and len(value) > 1:
                errors.append(f"control {spec.name!r} takes one choice, got {value}")
            if spec.max_rating is not None and value is not None and not (
                    isinstance(value, int) and 1 <= value <= spec.max_rating):
                msg = f"rating {spec.name!r} = {value!r} is outside 1..{spec.max_rating}"
                if not any(spec.name in e and "Invalid value" in e for e in errors):
                    errors.append(msg)
        return errors


# ----------------------------------------------------------------------------------------------
# the rounds of a workspace


LOCAL_FILES_PREFIX = "/data/local-files/?d="


def local_file_url(rel: str) -> str:
    """Task-data URL of a file under the server's local-files document root."""
    return LOCAL_FILES_PREFIX + quote(rel, safe="/")


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


class Rounds:
    """The annotation rounds of one workspace, against one Label Studio server.

    `client` is a label_studio_sdk.LabelStudio (see `vimo.annotation.server.connect`);
    `media_root` is the workspace's videos folder; media paths of tasks are relative to it. The
    server's local-files document root is its parent (see `vimo.annotation.server.ServerPaths`).
    """

    def __init__(self, workspace: str | Path, client: Any, *, media_root: str | Path | None = None,
                 ledger: Ledger | None = None, templates: Templates | None = None):
        self.workspace = Path(workspace).resolve()
        self.client = client
        self.media_root = Path(media_root).resolve() if media_root else videos_dir(self.workspace)
        self.ledger = ledger or Ledger.of(self.workspace)
        self.templates = templates or Templates(templates_dir(self.workspace))

    @property
    def catalog(self) -> Any:
        """The workspace catalog (vimo.catalog.Catalog) that holds the ledger's tables."""
        return self.ledger.catalog

    def close_connections(self) -> None:
        """Close the workspace the ledger opened."""
        self.ledger.close()

    # ---- paths ----------------------------------------------------------------------------
    def round_dir(self, round_id: str) -> Path:
        return round_dir(self.workspace, round_id)

    def exports_dir(self, round_id: str) -> Path:
        return exports_dir(self.workspace, round_id)

    # ---- create ---------------------------------------------------------------------------
    def create(self, kind: str, stage: str, *, overlap: int | None = None, max_per_annotator: int | None = None,
               instructions_version: int | None = None, config_version: int | None = None,
               source_round: str | None = None, title: str | None = None,
               params: dict[str, Any] | None = None, policy: AcceptPolicy | None = None,
               min_votes: int | None = None) -> RoundRecord:
        """A new round: a ledger row and a Label Studio project with the round's config and instructions.

        `policy` (rating) and `min_votes` (screening, pairing) are stored with the round and used when
        its results are written back to the catalog."""
        if kind not in KINDS:
            raise InputFormatError(f"unknown round kind {kind!r}", fix=f"use one of {', '.join(KINDS)}")
        if stage not in STAGES:
            raise InputFormatError(f"unknown stage {stage!r}", fix=f"use one of {', '.join(STAGES)}")
        if kind == "inspection":
            if not source_round:
                raise InputFormatError("an inspection round needs the round it inspects",
                                       fix="pass --source ROUND_ID")
            src = self.ledger.round(source_round)
            if src.kind == "inspection":
                raise InputFormatError("an inspection round cannot inspect another inspection round",
                                       fix="pass a screening, rating or pairing round")
        overlap = overlap or DEFAULT_OVERLAP[stage]
        params = dict(params or {})
        if policy is not None:
            params["accept_policy"] = asdict(policy)
        if min_votes is not None:
            if min_votes < 1:
                raise InputFormatError(f"min_votes must be >= 1, got {min_votes}", fix="pass --min-votes 1 or more")
            params["min_votes"] = min_votes
        if overlap < 1:
            raise InputFormatError(f"overlap must be >= 1, got {overlap}", fix="pass --overlap 1 or more")
        config = self.templates.config(kind, config_version)
        instructions = self.templates.instructions(kind, instructions_version)
        round_id = self.ledger.next_round_id(kind, stage)
        title = title or f"ViMo {round_id}"
        self.media_root.mkdir(parents=True, exist_ok=True)
        project = self.client.projects.create(
            title=title[:50], label_config=config.text, expert_instruction=instructions.body,
            show_instruction=True, maximum_annotations=overlap, show_skip_button=kind != "inspection",
            description=f"vimo round {round_id}: {kind}, {stage}, instructions v{instructions.version}, "
                        f"config v{config.version}")
        # serve the workspace's videos to this project (no sync: tasks are imported as JSON)
        self.client.import_storage.local.create(project=project.id, path=str(self.media_root),
                                                title="vimo videos", use_blob_urls=True)
        record = RoundRecord(round_id, kind, stage, "open", project.id, title, instructions.version, instructions.md5,
                             config.version, config.md5, overlap, max_per_annotator, source_round, now(),
                             params=params)
        self.ledger.add_round(record)
        write_json(self.round_dir(round_id) / "round.json", asdict(record))
        return record

    def select(self, kind: str, selection: Any) -> Any:
        """The tasks a `kind` round would get from the catalog (vimo.annotation.selection; no server needed)."""
        from vimo.annotation.selection import select
        from vimo.taxonomy import Taxonomy

        taxonomy = Taxonomy.for_workspace(self.workspace) if kind == "pairing" else None
        return select(kind, self.catalog, self.workspace, self.media_root, selection, taxonomy)

    def create_from_catalog(self, kind: str, stage: str, selection: Any = None, **create: Any) -> tuple[
            RoundRecord, Any, PushReport]:
        """A round whose tasks are chosen from the workspace catalog, created and pushed.

        `selection` is a vimo.annotation.selection.CatalogSelection (default: the kind's defaults);
        `create` takes `create`'s keywords. Returns (round, selection, push report); what the selection
        skipped (and why) is written to rounds/<id>/selection.json."""
        from vimo.annotation.selection import CatalogSelection

        selection = selection or CatalogSelection()
        chosen = self.select(kind, selection)
        if not chosen.items:
            reasons = "; ".join(f"{k}: {v}" for k, v in list(chosen.skipped.items())[:3])
            raise RoundError(f"the catalog holds nothing for a {kind} round with these filters"
                             + (f" (skipped: {reasons})" if reasons else ""),
                             path=self.workspace, fix="check the filters (status, kind, source, sub-category) "
                                                      "and that the videos and rendered reactions exist")
        params = dict(create.pop("params", None) or {})
        params["catalog"] = selection.as_params()
        record = self.create(kind, stage, params=params, **create)
        write_json(self.round_dir(record.id) / "selection.json", chosen.summary())
        return record, chosen, self.push(record.id, chosen.items)

    def items_from_ledger(self, round_id: str) -> list[TaskItem]:
        """The tasks recorded for a round, as TaskItems again (a re-push after an interrupted push)."""
        items = []
        base = self.media_root.parent
        for task_id, info in self.ledger.tasks(round_id).items():
            data, media = {}, {}
            for k, v in info["data"].items():
                if k in (TASK_KEY, ROUND_KEY):
                    continue
                if isinstance(v, str) and v.startswith(LOCAL_FILES_PREFIX):
                    path = require_inside(base / unquote(v[len(LOCAL_FILES_PREFIX):]), base)
                    media[k] = path.relative_to(self.media_root).as_posix()
                else:
                    data[k] = v
            items.append(TaskItem(task_id, media, data, info["gold"]))
        return items

    # ---- push -----------------------------------------------------------------------------
    def _server_tasks(self, project_id: int) -> list[dict]:
        raw = b"".join(self.client.projects.exports.download_sync(project_id, export_type="JSON",
                                                                   download_all_tasks=True,
                                                                   download_resources=False))
        return json.loads(raw or b"[]")

    def _server_task_ids(self, project_id: int) -> dict[str, int]:
        return {t["data"][TASK_KEY]: int(t["id"]) for t in self._server_tasks(project_id)
                if TASK_KEY in t.get("data", {})}

    def push(self, round_id: str, items: Iterable[TaskItem]) -> PushReport:
        """Import tasks; tasks whose id the server already has are skipped (idempotent re-push)."""
        r = self._open_round(round_id)
        items = list(items)
        ids = [i.task_id for i in items]
        dupes = [t for t, n in Counter(ids).items() if n > 1]
        if dupes:
            raise InputFormatError(f"task ids repeat within the push: {dupes[:5]}", fix="give each task its own id")
        on_server = self._server_task_ids(r.project_id)
        payloads = {i.task_id: self._payload(r, i) for i in items}
        # record first (server id unknown for new tasks): a crash between import and bookkeeping is
        # healed by the next push, which finds the tasks on the server by their vimo_task id
        self.ledger.add_tasks(round_id, [(i.task_id, on_server.get(i.task_id), payloads[i.task_id]["data"], i.gold)
                                         for i in items])
        todo = [i for i in items if i.task_id not in on_server]
        for start in range(0, len(todo), PUSH_BATCH):
            batch = todo[start:start + PUSH_BATCH]
            self.client.projects.import_tasks(r.project_id, request=[payloads[i.task_id] for i in batch],
                                              return_task_ids=True)
        # map our ids to the server's from the server itself (no reliance on the order of the reply)
        now_on_server = self._server_task_ids(r.project_id) if todo else on_server
        missing = [i.task_id for i in items if i.task_id not in now_on_server]
        if missing:
            raise RoundError(f"{len(missing)} task(s) are not on the server after the import, e.g. {missing[:3]}",
                             fix=f"re-run `vimo annotate round push {round_id}`; it skips what exists")
        self.ledger.add_tasks(round_id, [(i.task_id, now_on_server[i.task_id], payloads[i.task_id]["data"], i.gold)
                                         for i in todo])
        created = {i.task_id: now_on_server[i.task_id] for i in todo}
        return PushReport(round_id, len(created), len(items) - len(todo), {**on_server, **created})

    def _payload(self, r: RoundRecord, item: TaskItem) -> dict:
        data = dict(item.data)
        for key, rel in item.media.items():
            path = require_inside(self.media_root / rel, self.media_root)
            if not path.is_file():
                raise InputFormatError(f"media file of task {item.task_id} does not exist", path=path,
                                       fix="render or copy the video into the workspace's videos first")
            data[key] = local_file_url(path.relative_to(self.media_root.parent).as_posix())
        data[TASK_KEY] = item.task_id
        data[ROUND_KEY] = r.id
        return {"data": data, "meta": {**item.meta, "vimo": {"round": r.id, "task": item.task_id}}}

    # ---- pull -----------------------------------------------------------------------------
    def snapshot(self, round_id: str) -> tuple[Path, str, bytes, bool]:
        """Download the round's full JSON export and write it to disk (atomically) with its md5.

        Returns (path, md5, raw bytes, new); an identical export is stored once."""
        r = self.ledger.round(round_id)
        raw = b"".join(self.client.projects.exports.download_sync(r.project_id, export_type="JSON",
                                                                   download_all_tasks=True,
                                                                   download_resources=False))
        md5 = _md5(raw)
        folder = self.exports_dir(round_id)
        existing = sorted(folder.glob(f"*-{md5}.json")) if folder.is_dir() else []
        path = existing[0] if existing else folder / f"{_stamp()}-{md5}.json"
        if not existing:
            write_bytes(path, raw)
            write_bytes(path.with_suffix(".json.md5"), f"{md5}  {path.name}\n".encode())
        tasks = json.loads(raw or b"[]")
        n_ann = sum(len(t.get("annotations", [])) for t in tasks)
        new = self.ledger.add_export(round_id, md5, str(path.relative_to(self.workspace)), now(), len(tasks), n_ann)
        return path, md5, raw, new

    def pull(self, round_id: str) -> PullReport:
        """Snapshot the export, validate every annotation, import into the ledger, enforce quotas.

        An inspection round also writes its verdicts back to the inspected round."""
        r = self.ledger.round(round_id)
        path, md5, raw, new_snapshot = self.snapshot(round_id)
        tasks = json.loads(raw or b"[]")
        validator = AnnotationValidator(self.templates.config(r.kind, r.config_version).text)
        users = self._user_emails()
        records, invalid, present = [], [], set()
        for task in tasks:
            our_id = task.get("data", {}).get(TASK_KEY)
            if our_id is None:
                continue  # a task added by hand in the UI: not ours
            for ann in task.get("annotations", []):
                present.add(int(ann["id"]))
                result = ann.get("result") or []
                if ann.get("was_cancelled"):
                    validity, problem = "skipped", "skipped by the annotator"
                else:
                    errors = validator.problems(result)
                    validity, problem = ("invalid", "; ".join(errors)) if errors else ("valid", None)
                    if errors:
                        invalid.append((int(ann["id"]), problem))
                annotator = users.get(ann.get("completed_by"), f"user-{ann.get('completed_by')}")
                records.append(AnnotationRecord(
                    round_id, int(ann["id"]), our_id, int(task["id"]), annotator, result,
                    parse_answer(result) if validity == "valid" else {}, validity, problem,
                    validity if validity != "valid" else "counted", ann.get("created_at"), ann.get("updated_at"),
                    ann.get("lead_time"), md5))
        new, updated = self.ledger.upsert_annotations(records)
        self.ledger.mark_gone(round_id, present)
        statuses = self.enforce_quotas(round_id)
        report = PullReport(round_id, path, md5, new_snapshot, len(tasks), len(records), new, updated, invalid,
                            statuses)
        if r.kind == "inspection":
            report.verdicts_written = self._write_back_verdicts(r)
            src = self.ledger.round(r.source_round)
            if "catalog" in src.params:
                report.catalog = write_back(self, src.id, self.catalog)
        elif "catalog" in r.params:
            report.catalog = write_back(self, round_id, self.catalog)
        return report

    def write_back(self, round_id: str, policy: AcceptPolicy | None = None) -> WriteBack:
        """Write the round's pulled results into the workspace catalog (vimo.annotation.writeback)."""
        return write_back(self, round_id, self.catalog, policy)

    def enforce_quotas(self, round_id: str) -> dict[str, int]:
        """Recompute each annotation's status: overlap per task, quota per annotator, one per annotator
        and task (the latest edit counts), inspector rejections; returns counts per status."""
        r = self.ledger.round(round_id)
        anns = self.ledger.annotations(round_id)
        status: dict[int, str] = {}
        per_annotator: Counter = Counter()
        latest: dict[tuple[str, str], AnnotationRecord] = {}
        for a in anns:
            if not a.on_server and a.validity == "valid" and a.verdict is None:
                status[a.ls_annotation_id] = "gone"
            elif a.validity != "valid":
                status[a.ls_annotation_id] = a.validity
            elif a.verdict == "reject":
                status[a.ls_annotation_id] = "rejected"
            else:
                key = (a.task_id, a.annotator)
                prev = latest.get(key)
                if prev is None or (a.updated_at or "", a.ls_annotation_id) > (prev.updated_at or "",
                                                                                 prev.ls_annotation_id):
                    if prev is not None:
                        status[prev.ls_annotation_id] = "duplicate"
                    latest[key] = a
                else:
                    status[a.ls_annotation_id] = "duplicate"
        per_task: Counter = Counter()
        for a in sorted(latest.values(), key=lambda a: (a.created_at or "", a.ls_annotation_id)):
            if per_task[a.task_id] >= r.overlap:
                status[a.ls_annotation_id] = "surplus"
            elif r.max_per_annotator is not None and per_annotator[a.annotator] >= r.max_per_annotator:
                status[a.ls_annotation_id] = "over_quota"
            else:
                status[a.ls_annotation_id] = "counted"
                per_task[a.task_id] += 1
                per_annotator[a.annotator] += 1
        self.ledger.set_statuses(round_id, status)
        return dict(Counter(status.values()))

    # ---- inspection ------------------------------------------------------------------------
    def inspection_items(self, inspection_round: str) -> list[TaskItem]:
        """One inspection task per counted annotation of the inspected round."""
        r = self.ledger.round(inspection_round)
        src = self.ledger.round(r.source_round)
        tasks = self.ledger.tasks(src.id)
        items = []
        for a in self.ledger.annotations(src.id):
            if a.status != "counted":
                continue
            data = tasks[a.task_id]["data"]
            video = data.get("input_video") or data.get("video")
            reaction = data.get("reaction_video") or video
            summary = f"{src.id} task {a.task_id}, annotator {a.annotator}: " + "; ".join(
                f"{k.replace('_', ' ')} = {', '.join(v) if isinstance(v, list) else v}"
                for k, v in sorted(a.answer.items()) if v not in (None, "", []))
            items.append(TaskItem(f"{src.id}/{a.ls_annotation_id}",
                                  data={"input_video": video, "reaction_video": reaction, "summary": summary,
                                        "src_round": src.id, "src_task": a.task_id,
                                        "src_annotation": a.ls_annotation_id, "annotator": a.annotator}))
        return items

    def _write_back_verdicts(self, r: RoundRecord) -> int:
        """Verdicts of counted inspection annotations -> the inspected round (ledger + task meta)."""
        src = self.ledger.round(r.source_round)
        verdicts: dict[int, AnnotationRecord] = {}
        for a in self.ledger.annotations(r.id):
            if a.status != "counted":
                continue
            src_ann = int(self.ledger.tasks(r.id)[a.task_id]["data"]["src_annotation"])
            prev = verdicts.get(src_ann)
            if prev is None or (a.updated_at or "") >= (prev.updated_at or ""):
                verdicts[src_ann] = a  # with several inspectors the latest verdict wins
        src_anns = {a.ls_annotation_id: a for a in self.ledger.annotations(src.id)}
        meta_patches: dict[int, dict[str, Any]] = defaultdict(dict)
        for src_ann, a in verdicts.items():
            verdict = a.answer["verdict"][0]
            pair = (a.answer.get("pair_decision") or [None])[0]
            target = src_anns.get(src_ann)
            if target is None:
                raise WorkspaceError(f"inspection {r.id} refers to annotation {src_ann}, unknown in {src.id}",
                                     path=self.ledger.path, fix=f"vimo annotate round pull {src.id}")
            changed = (target.verdict, target.pair_decision, target.verdict_reason) != (
                verdict, pair, a.answer.get("reason") or None)
            self.ledger.set_verdict(src.id, src_ann, verdict, a.answer.get("reason") or None, a.annotator, pair,
                                    r.id)
            if changed:
                meta_patches[target.ls_task_id][str(src_ann)] = {"verdict": verdict, "pair_decision": pair,
                                                                 "inspector": a.annotator, "round": r.id}
                if verdict == "accept":
                    self.client.annotations.update(src_ann, ground_truth=True)
        for ls_task_id, patch in meta_patches.items():
            task = self.merge_task_meta(ls_task_id, {"vimo_inspection": patch})
            # a rejected annotation needs a replacement: raise the task's queue overlap by one each
            rejected = sum(1 for v in task.meta.get("vimo_inspection", {}).values() if v.get("verdict") == "reject")
            self.client.tasks.update(str(ls_task_id), overlap=src.overlap + rejected)
        self.enforce_quotas(src.id)
        return len(verdicts)

    def merge_task_meta(self, ls_task_id: int, patch: dict[str, Any]) -> Any:
        """Read the task's meta, merge `patch` into it (dicts merged one level deep), write it back."""
        task = self.client.tasks.get(str(ls_task_id))
        meta = dict(task.meta or {})
        for k, v in patch.items():
            meta[k] = {**meta[k], **v} if isinstance(v, dict) and isinstance(meta.get(k), dict) else v
        return self.client.tasks.update(str(ls_task_id), meta=meta)

    # ---- status, results, close ---------------------------------------------------------------
    def status(self, round_id: str) -> dict[str, Any]:
        r = self.ledger.round(round_id)
        tasks = self.ledger.tasks(round_id)
        anns = self.ledger.annotations(round_id)
        counted = Counter(a.task_id for a in anns if a.status == "counted")
        return {"round": r.id, "kind": r.kind, "stage": r.stage, "status": r.status, "project_id": r.project_id,
                "instructions_version": r.instructions_version, "config_version": r.config_version,
                "overlap": r.overlap, "tasks": len(tasks),
                "tasks_complete": sum(1 for t in tasks if counted[t] >= r.overlap),
                "annotations": dict(Counter(a.status for a in anns)),
                "annotators": len({a.annotator for a in anns if a.status == "counted"}),
                "exports": len(self.ledger.exports(round_id))}

    def ratings(self, round_id: str) -> list[Rating]:
        """Counted scores of a rating round as Rating records (task = our task id)."""
        out = []
        for a in self.ledger.annotations(round_id):
            if a.status != "counted":
                continue
            for dim, value in a.answer.items():
                if isinstance(value, int) and not isinstance(value, bool):
                    out.append(Rating(a.task_id, a.annotator, dim, float(value)))
        return out

    def pair_verdicts(self, round_id: str) -> dict[str, str]:
        """Inspector pair decisions of a round: task -> accept | reject (the latest one per task)."""
        out: dict[str, tuple[str, str]] = {}
        for a in self.ledger.annotations(round_id):
            if a.pair_decision in ("keep_pair", "drop_pair"):
                stamp = a.updated_at or ""
                if a.task_id not in out or stamp >= out[a.task_id][0]:
                    out[a.task_id] = (stamp, "accept" if a.pair_decision == "keep_pair" else "reject")
        return {t: v for t, (_, v) in out.items()}

    def choice_votes(self, round_id: str, control: str) -> dict[str, Counter]:
        """Counted choices of `control` per task (screening: usable, pairing: plausible)."""
        votes: dict[str, Counter] = defaultdict(Counter)
        for a in self.ledger.annotations(round_id):
            if a.status == "counted":
                for choice in a.answer.get(control) or []:
                    votes[a.task_id][choice] += 1
        return dict(votes)

    def report(self, round_id: str, policy: AcceptPolicy | None = None, top: int = 10) -> dict[str, Any]:
        """Results of a round, written to rounds/<id>/report.json (+ histograms.png for rating rounds).
        `policy`: the accept thresholds (default: the round's own)."""
        r = self.ledger.round(round_id)
        policy = policy or policy_of(r)
        out: dict[str, Any] = {"round": asdict(r), "status": self.status(round_id),
                               "exports": self.ledger.exports(round_id)}
        folder = self.round_dir(round_id)
        if r.kind == "rating":
            ratings = self.ratings(round_id)
            gold = {t: v["gold"] for t, v in self.ledger.tasks(round_id).items() if v["gold"]}
            results = pair_results(ratings, policy, self.pair_verdicts(round_id))
            out["summary"] = round_summary(ratings, results).as_dict()
            out["pairs"] = {t: asdict(p) for t, p in results.items()}
            out["annotators"] = {a: asdict(s) for a, s in annotator_stats(ratings, gold).items()}
            out["largest_disagreements"] = [{"task": t, "spread": s, "scores": sc}
                                            for t, s, sc in largest_disagreements(ratings, top)]
            if ratings:
                plot_histograms(ratings, folder / "histograms.png", title=round_id)
                out["histograms"] = str((folder / "histograms.png").relative_to(self.workspace))
        elif r.kind in ("screening", "pairing"):
            control = "usable" if r.kind == "screening" else "plausible"
            votes = self.choice_votes(round_id, control)
            out["votes"] = {t: dict(c) for t, c in votes.items()}
            out["largest_disagreements"] = sorted(
                ({"task": t, "votes": dict(c)} for t, c in votes.items() if len(c) > 1),
                key=lambda d: (-min(d["votes"].values()), d["task"]))[:top]
        write_json(folder / "report.json", _finite(out))
        return out

    def close(self, round_id: str, *, pull: bool = True, policy: AcceptPolicy | None = None) -> dict[str, Any]:
        """Final pull (unless `pull` is False), the report, and the round marked closed.

        `policy` replaces the thresholds the round was created with (stored, and used for the report
        and the catalog write-back); None keeps them."""
        r = self.ledger.round(round_id)
        if r.status == "closed":
            raise RoundError(f"round {round_id} is already closed", fix="create a new round")
        if policy is not None:
            self.ledger.update_round(round_id, params={**r.params, "accept_policy": asdict(policy)})
            r = self.ledger.round(round_id)
        if pull:
            self.pull(round_id)
        elif "catalog" in r.params:
            write_back(self, round_id, self.catalog)
        report = self.report(round_id, policy_of(r))
        self.ledger.update_round(round_id, status="closed", closed_at=now())
        write_json(self.round_dir(round_id) / "round.json", asdict(self.ledger.round(round_id)))
        return report

    def _open_round(self, round_id: str) -> RoundRecord:
        r = self.ledger.round(round_id)
        if r.status != "open":
            raise RoundError(f"round {round_id} is {r.status}", fix="create a new round to push more tasks")
        return r

    def _user_emails(self) -> dict[int, str]:
        # re-read on every pull: annotators may join between pulls
        return {u.id: u.email or u.username for u in self.client.users.list()}


def _finite(obj: Any) -> Any:
    """NaN/inf -> None so the report is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def bump_instructions(rounds: Rounds, trial_round: str, changes: Sequence[str], top: int = 5):
    """Next instructions version of a trial round's kind, listing the trial's largest disagreements."""
    r = rounds.ledger.round(trial_round)
    if r.stage != "trial":
        raise RoundError(f"round {trial_round} is a {r.stage} round; instructions are bumped from a trial",
                         fix="pass a trial round")
    report_path = rounds.round_dir(trial_round) / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else rounds.report(trial_round)
    lines = []
    for d in report.get("largest_disagreements", [])[:top]:
        detail = d.get("scores") or d.get("votes")
        lines.append(f"task {d['task']}: {json.dumps(detail, sort_keys=True)}")
    return rounds.templates.bump_instructions(r.kind, changes, trial_round=trial_round, disagreements=lines)

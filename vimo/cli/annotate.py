"""`vimo annotate`: Label Studio rounds (screening, rating, pairing, inspection) and their results.

The API token comes from $LABEL_STUDIO_API_KEY only (a legacy token or a personal access token);
$LABEL_STUDIO_URL points at a shared deployment instead of the workspace's local server.

Examples:
    export LABEL_STUDIO_API_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(20))')
    vimo annotate server start --workspace ws/
    vimo annotate round create screening --workspace ws/           # restyled/external videos to screen
    vimo annotate round create rating --stage trial --overlap 3 --sample 50 --seed 0 --workspace ws/
    vimo annotate round create pairing --per-video 3 --workspace ws/ # candidate reactions per video
    vimo annotate round create rating --tasks tasks.jsonl --workspace ws/   # tasks from a file instead
    vimo annotate round pull rating-trial-001 --workspace ws/        # results written back to the catalog
    vimo annotate round close rating-trial-001 --workspace ws/
    vimo annotate instructions bump rating-trial-001 --change "foot sliding caps quality at 4" --workspace ws/
    vimo annotate round create inspection --source rating-main-001 --workspace ws/
    vimo annotate round push inspection-main-001 --workspace ws/      # tasks built from the source round
    vimo annotate server stop --workspace ws/
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
server_app = typer.Typer(help="The workspace's local Label Studio server.", no_args_is_help=True)
round_app = typer.Typer(help="Annotation rounds: create, push, pull, status, close.", no_args_is_help=True)
instructions_app = typer.Typer(help="Versioned annotation instructions.", no_args_is_help=True)
app.add_typer(server_app, name="server")
app.add_typer(round_app, name="round")
app.add_typer(instructions_app, name="instructions")
console = Console(stderr=True)
result = Console()  # results on stdout; progress, notes and errors on stderr

WORKSPACE = typer.Option(..., "--workspace", "-w", help="the build workspace folder")


def _check(workspace: Path) -> Path:
    from vimo.errors import WorkspaceError

    if not workspace.is_dir():
        raise WorkspaceError("workspace folder does not exist", path=workspace, fix="vimo init WS")
    return workspace


def _rounds(workspace: Path):
    from vimo.annotation.rounds import Rounds
    from vimo.annotation.server import connect_workspace

    return Rounds(_check(workspace), connect_workspace(workspace))


def _offline_rounds(workspace: Path):
    from vimo.annotation.ledger import Ledger
    from vimo.annotation.rounds import Rounds

    return Rounds(_check(workspace), client=None, ledger=Ledger.of(workspace))


def _echo_json(obj) -> None:
    typer.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


JSON_OUT = typer.Option(False, "--json", help="machine-readable output")


def _echo_table(rows: list[dict], columns: list[str] | None = None) -> None:
    """Rows as a rich table on stdout (nested values as compact JSON)."""
    from rich.console import Console
    from rich.table import Table

    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    table = Table()
    for i, c in enumerate(columns):
        table.add_column(c, no_wrap=i == 0)  # ids stay whole
    for r in rows:
        table.add_row(*(json.dumps(v, sort_keys=True, default=str) if isinstance(v, (dict, list)) else
                        ("" if v is None else str(v)) for v in (r.get(c) for c in columns)))
    Console().print(table)


@server_app.command("start")
def server_start(workspace: Path = WORKSPACE,
                 port: Optional[int] = typer.Option(None, help="port on 127.0.0.1 (default: a free one)"),
                 admin_email: str = typer.Option("vimo-admin@example.com", help="admin user made on the first start"),
                 timeout: float = typer.Option(180.0, help="seconds to wait for /health")) -> None:
    """Start Label Studio for the workspace (detached) and wait until it answers.

    vimo annotate server start --workspace ws/
    """
    from vimo.annotation.server import LabelStudioServer, ServerPaths

    server = LabelStudioServer(ServerPaths.of(_check(workspace)))
    state = server.start(port=port, admin_email=admin_email, timeout=timeout)
    result.print(f"[green]Label Studio running[/] at {state.url} (pid {state.pid}, data {state.data_dir})")


@server_app.command("stop")
def server_stop(workspace: Path = WORKSPACE) -> None:
    """Stop the workspace's Label Studio.

    vimo annotate server stop --workspace ws/
    """
    from vimo.annotation.server import LabelStudioServer, ServerPaths

    stopped = LabelStudioServer(ServerPaths.of(workspace)).stop()
    result.print("[green]stopped[/]" if stopped else "no server was running")


@server_app.command("status")
def server_status(workspace: Path = WORKSPACE) -> None:
    """Whether the workspace's Label Studio runs, and where (JSON).

    vimo annotate server status --workspace ws/
    """
    from vimo.annotation.server import LabelStudioServer, ServerPaths

    _echo_json(LabelStudioServer(ServerPaths.of(workspace)).status())


@round_app.command("create")
def round_create(kind: str = typer.Argument(..., help="screening | rating | pairing | inspection"),
                 workspace: Path = WORKSPACE,
                 stage: str = typer.Option("main", help="trial | main"),
                 overlap: Optional[int] = typer.Option(None, help="annotators per task (default: trial 3, main 1)"),
                 max_per_annotator: Optional[int] = typer.Option(None, help="tasks one annotator may count for"),
                 source: Optional[str] = typer.Option(None, help="the round an inspection round inspects"),
                 instructions_version: Optional[int] = typer.Option(None, help="default: the latest"),
                 config_version: Optional[int] = typer.Option(None, help="default: the latest"),
                 tasks: Optional[Path] = typer.Option(None, help="JSONL tasks to push instead of the catalog's"),
                 from_catalog: bool = typer.Option(True, "--from-catalog/--empty",
                                                   help="choose the tasks from the catalog (default when no "
                                                        "--tasks), or create an empty round"),
                 status: list[str] = typer.Option([], "--status", help="video statuses (screening: pending_screening"
                                                  ", ok; pairing: ok, usable) or pair statuses (rating: candidate)"),
                 video_kind: list[str] = typer.Option([], "--video-kind", help="screening: restyled, external; "
                                                      "pairing: any"),
                 clip_source: list[str] = typer.Option([], "--clip-source", help="source of the pair's clip "
                                                       "(rating) or of the motion pool (pairing)"),
                 sub_category: list[str] = typer.Option([], "--sub-category", help="sub-category of the pair "
                                                        "(rating) or of the video (pairing)"),
                 only: list[str] = typer.Option([], "--id", help="only these pair ids (rating) or video ids"),
                 sample: Optional[int] = typer.Option(None, help="at most this many pairs / videos, drawn by --seed"),
                 seed: int = typer.Option(0, help="seed of --sample"),
                 per_video: int = typer.Option(3, help="pairing: candidate reactions per video"),
                 min_motion_quality: float = typer.Option(3.0, help="rating: reject pairs with a lower mean"),
                 min_reaction_plausibility: float = typer.Option(3.0, help="rating: reject pairs with a lower mean"),
                 min_ratings: int = typer.Option(1, help="rating: fewer ratings leave a pair undecided"),
                 min_votes: int = typer.Option(1, help="screening / pairing: votes needed for a decision"),
                 dry_run: bool = typer.Option(False, help="print the catalog selection; create nothing")) -> None:
    """Create a round and its Label Studio project, and push its tasks: from the catalog (default;
    filters below) or from --tasks JSONL. Inspection rounds take their tasks with `round push`.

    vimo annotate round create rating --stage trial --overlap 3 --sample 50 --seed 0 --workspace ws/
    """
    from vimo.annotation.agreement import AcceptPolicy
    from vimo.annotation.selection import CatalogSelection

    selection = CatalogSelection(statuses=tuple(status) or None, video_kinds=tuple(video_kind) or None,
                                 sources=tuple(clip_source), sub_categories=tuple(sub_category), sample=sample,
                                 seed=seed, per_video=per_video, ids=tuple(only))
    catalog_round = kind != "inspection" and tasks is None and from_catalog
    if dry_run:
        if not catalog_round:
            console.print("--dry-run shows a catalog selection; nothing to show for this round")
            raise typer.Exit(1)
        _echo_json(_offline_rounds(workspace).select(kind, selection).summary())
        return
    rounds = _rounds(workspace)
    create = dict(overlap=overlap, max_per_annotator=max_per_annotator, source_round=source,
                  instructions_version=instructions_version, config_version=config_version,
                  policy=AcceptPolicy(min_motion_quality, min_reaction_plausibility, min_ratings) if kind == "rating"
                  else None, min_votes=min_votes if kind in ("screening", "pairing") else None)
    if catalog_round:
        r, chosen, rep = rounds.create_from_catalog(kind, stage, selection, **create)
        if chosen.skipped:
            console.print(f"[yellow]skipped[/] {len(chosen.skipped)} item(s); reasons in "
                          f"{rounds.round_dir(r.id) / 'selection.json'}")
    else:
        r = rounds.create(kind, stage, **create)
        rep = rounds.push(r.id, _read_tasks(tasks)) if tasks is not None else None
    result.print(f"[green]created[/] {r.id} (project {r.project_id}, instructions v{r.instructions_version}, "
                  f"config v{r.config_version}, overlap {r.overlap})"
                  + (f"; pushed {rep.new} task(s)" if rep is not None else ""))
    typer.echo(r.id)


def _read_tasks(path: Path):
    from vimo.annotation.rounds import TaskItem
    from vimo.errors import InputFormatError

    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            items.append(TaskItem(str(row["task_id"]), dict(row.get("media", {})), dict(row.get("data", {})),
                                  row.get("gold"), dict(row.get("meta", {}))))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputFormatError(f"line {n} is not a task ({exc})", path=path,
                                   fix='one JSON object a line: {"task_id": ..., "media": {"input_video": "rel.mp4"}}')
    return items


@round_app.command("push")
def round_push(round_id: str = typer.Argument(...), workspace: Path = WORKSPACE,
               tasks: Optional[Path] = typer.Option(None, help="JSONL: task_id, media {key: path under videos/}, "
                                                               "data, gold; without it an inspection round gets "
                                                               "its source's annotations, any other round "
                                                               "re-pushes its recorded tasks")) -> None:
    """Import tasks into the round's project; a re-push never duplicates.

    vimo annotate round push rating-main-001 --tasks tasks.jsonl --workspace ws/
    vimo annotate round push rating-main-001 --workspace ws/   # after an interrupted push
    """
    from vimo.errors import InputFormatError

    rounds = _rounds(workspace)
    r = rounds.ledger.round(round_id)
    if tasks is None:
        if r.kind == "inspection":
            items = rounds.inspection_items(round_id)
        else:
            items = rounds.items_from_ledger(round_id)
            if not items:
                raise InputFormatError(f"round {round_id} has no recorded tasks to re-push",
                                       fix="pass --tasks tasks.jsonl")
    else:
        items = _read_tasks(tasks)
    rep = rounds.push(round_id, items)
    result.print(f"[green]pushed[/] {rep.new} new task(s); {rep.already_on_server} already on the server")


@round_app.command("pull")
def round_pull(round_id: str = typer.Argument(...), workspace: Path = WORKSPACE, as_json: bool = JSON_OUT) -> None:
    """Snapshot the export (with md5), validate and import the annotations, enforce quotas.

    vimo annotate round pull rating-main-001 --workspace ws/
    """
    rep = _rounds(workspace).pull(round_id)
    result.print(f"[green]pulled[/] {rep.annotations} annotation(s) ({rep.new} new, {rep.updated} updated); "
                  f"snapshot {rep.snapshot.name}")
    for ann_id, problem in rep.invalid:
        console.print(f"[yellow]invalid[/] annotation {ann_id}: {problem}")
    if rep.verdicts_written:
        result.print(f"wrote {rep.verdicts_written} inspector verdict(s) back to the inspected round")
    if rep.catalog is not None:
        result.print(f"catalog ({rep.catalog.round_id}): " + ", ".join(
            f"{n} {k}" for k, n in rep.catalog.summary().items() if n))
    if as_json:
        _echo_json(rep.statuses)
    else:
        _echo_table([{"status": k, "annotations": n} for k, n in sorted(rep.statuses.items())])


@round_app.command("status")
def round_status(round_id: Optional[str] = typer.Argument(None, help="default: every round"),
                 workspace: Path = WORKSPACE, as_json: bool = JSON_OUT) -> None:
    """Tasks, completed tasks, annotations by status (from the ledger; no server needed).

    vimo annotate round status --workspace ws/
    """
    rounds = _offline_rounds(workspace)
    ids = [round_id] if round_id else [r.id for r in rounds.ledger.rounds()]
    rows = [rounds.status(i) for i in ids]
    if as_json:
        _echo_json(rows)
    else:
        _echo_table(rows, ["round", "kind", "stage", "status", "tasks", "tasks_complete", "annotations",
                           "annotators", "exports"])


@round_app.command("close")
def round_close(round_id: str = typer.Argument(...), workspace: Path = WORKSPACE,
                min_motion_quality: Optional[float] = typer.Option(None, help="reject pairs with a lower mean "
                                                                   "(default: the round's threshold)"),
                min_reaction_plausibility: Optional[float] = typer.Option(None, help="reject pairs with a lower "
                                                                          "mean (default: the round's)"),
                min_ratings: Optional[int] = typer.Option(None, help="fewer ratings leave a pair undecided "
                                                          "(default: the round's)"),
                as_json: bool = JSON_OUT) -> None:
    """Final pull (results written back to the catalog), the round's report (agreement, histograms,
    decisions), and the round closed. Given thresholds replace the round's.

    vimo annotate round close rating-main-001 --workspace ws/
    """
    from dataclasses import replace

    from vimo.annotation.writeback import policy_of

    rounds = _rounds(workspace)
    policy = None
    given = {k: v for k, v in (("min_motion_quality", min_motion_quality),
                               ("min_reaction_plausibility", min_reaction_plausibility),
                               ("min_ratings", min_ratings)) if v is not None}
    if given:
        policy = replace(policy_of(rounds.ledger.round(round_id)), **given)
    report = rounds.close(round_id, policy=policy)
    result.print(f"[green]closed[/] {round_id}; report in {rounds.round_dir(round_id) / 'report.json'}")
    if "summary" in report:
        if as_json:
            _echo_json(report["summary"])
        else:
            _echo_table([{"item": k, "value": v} for k, v in report["summary"].items()])


@instructions_app.command("bump")
def instructions_bump(trial_round: str = typer.Argument(..., help="the trial round whose findings prompt the update"),
                      workspace: Path = WORKSPACE,
                      change: list[str] = typer.Option(..., "--change", help="what changed (repeatable)")) -> None:
    """Write the next instructions version, listing the trial's most disputed tasks.

    vimo annotate instructions bump rating-trial-001 --change "foot sliding caps quality at 4" --workspace ws/
    """
    from vimo.annotation.rounds import bump_instructions

    rounds = _offline_rounds(workspace)
    new = bump_instructions(rounds, trial_round, change)
    result.print(f"[green]wrote[/] {new.kind} instructions v{new.version} -> {new.path}")


@instructions_app.command("list")
def instructions_list(workspace: Optional[Path] = typer.Option(None, "--workspace", "-w", help="the build workspace"),
                      as_json: bool = JSON_OUT) -> None:
    """Versions of every kind's instructions and labeling config.

    vimo annotate instructions list --workspace ws/
    """
    from vimo.annotation.labeling import KINDS, Templates

    from vimo.workspace import templates_dir

    t = Templates(templates_dir(workspace) if workspace else None)
    versions = {k: {"instructions": t.instruction_versions(k), "configs": t.config_versions(k)} for k in KINDS}
    if as_json:
        _echo_json(versions)
    else:
        _echo_table([{"kind": k, **v} for k, v in versions.items()])

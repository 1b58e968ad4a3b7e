"""`vimo render`, `vimo clips cut` and `vimo restyle submit|status|fetch`: the stimulus videos of clips.

Examples:
    vimo render --workspace ws
    vimo render --workspace ws --subject reactor
    vimo render --workspace ws --camera front --size 640x360 --workers 2
    vimo render --workspace ws --no-floor --device egl:1
    vimo render --workspace ws --body-models ~/body_models --model-type smplx --executor ray
    vimo clips cut egohumans /data/egohumans --workspace ws
    vimo clips cut harmony4d /data/Harmony4D --workspace ws --camera exo:cam05 --size 1280x720
    RUNWAYML_API_SECRET=... vimo restyle submit --workspace ws --style photoreal-v1 --budget 300
    vimo restyle submit --workspace ws --dry-run
    vimo restyle status --workspace ws
    vimo restyle fetch --workspace ws

The commands that write (render, clips cut, restyle submit / fetch) hold the workspace's writer lock:
a second one on the same workspace stops at once, naming the one running. `restyle status` only reads.
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from vimo.cli.options import Spec, config_parameters, config_values, with_signature

console = Console(stderr=True)
result = Console()  # results on stdout; progress, notes and errors on stderr


def _parse_size(text: str) -> tuple[int, int]:
    from vimo.pipelines.video.encode import parse_size

    return parse_size(text)


JSON = inspect.Parameter("json_out", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                         default=typer.Option(False, "--json", help="print the summary as JSON"))
MAX_FAILURES = inspect.Parameter("max_failures", inspect.Parameter.KEYWORD_ONLY, annotation=int, default=typer.Option(
    0, help="exit non-zero when more clips than this fail (their reasons are printed; finished clips are skipped "
            "on a re-run)"))
SIZE = dict(cli_type=Optional[str], parse=_parse_size)

#: how RenderOptions' fields appear on the command line (the rest: --<field-name>, help = the field's docstring)
RENDER_SPECS = {
    "workspace": Spec(short="-w"),
    "size": Spec(default="1280x720", help="WIDTHxHEIGHT, even numbers", **SIZE),
    "preset": Spec(flag="--x264-preset"),
    "device": Spec(help="EGL device to render on: egl:N (default egl:0, or EGL_DEVICE_ID; Mesa's software "
                        "device is egl:0 on machines without a GPU)"),
    "clip_ids": Spec(flag="--clip", help="render only this clip id (repeatable)"),
}


def _render(*, json_out: bool = False, max_failures: int = 0, **kwargs: Any) -> None:
    from vimo.pipelines.video.render import RenderOptions, render_workspace

    from vimo.pipelines.video.render import format_duration

    summary = render_workspace(RenderOptions(**config_values(kwargs, RenderOptions, RENDER_SPECS)),
                               progress=_progress("render"))
    _report_batch(summary, json_out, max_failures,
                  f"{summary.subject}: rendered {summary.rendered}, skipped {summary.skipped} (up to date), failed "
                  f"{summary.failed} of {summary.clips} clips; {summary.frames} frames in {summary.seconds:.1f} s "
                  f"({summary.fps:.1f} frames/s = {summary.realtime:.2f}x real time); {summary.remaining_clips} "
                  f"clips ({summary.remaining_frames} frames) left to render: about "
                  f"{format_duration(summary.projected_s)} at this rate")


def _report_batch(summary: Any, json_out: bool, max_failures: int, line: str) -> None:
    """A batch job's summary (one line, or JSON), its failures on stderr, exit 1 past --max-failures."""
    if json_out:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        result.print(line)
        for cid, reason in summary.failures:
            console.print(f"[red]failed[/] {cid}: {reason}", markup=True, highlight=False)
    if summary.failed > max_failures:
        raise typer.Exit(1)


def _build_render() -> Any:
    from vimo.pipelines.video.render import RenderOptions

    doc = """Render the actor's motion of every two-person clip (or, with --subject reactor, the reactor's
    motion of every clip) as an H.264 mp4 (a `rendered` video).

    vimo render --workspace ws\n
    vimo render --workspace ws --subject reactor\n
    vimo render --workspace ws --camera orbit --size 640x360 --workers 2\n
    vimo render --workspace ws --no-floor --device egl:1
    """
    return with_signature(lambda **kw: _render(**kw), config_parameters(RenderOptions, RENDER_SPECS) + [MAX_FAILURES, JSON],
                          name="render", doc=doc)


#: how CutOptions' fields appear on the command line
CUT_SPECS = {
    "source": Spec(argument=True),
    "src": Spec(argument=True),
    "workspace": Spec(short="-w"),
    "size": Spec(help="resize to WIDTHxHEIGHT (default: the camera's size)", **SIZE),
}


def _clips_cut(*, json_out: bool = False, max_failures: int = 0, **kwargs: Any) -> None:
    from vimo.pipelines.video.clips import CutOptions, cut_workspace
    from vimo.workspace import writer_lock

    options = CutOptions(**config_values(kwargs, CutOptions, CUT_SPECS))
    with writer_lock(options.workspace, "clips cut"):
        summary = cut_workspace(options, progress=_progress("cut"))
    _report_batch(summary, json_out, max_failures,
                  f"cut {summary.cut}, skipped {summary.skipped}, failed {summary.failed} of {summary.clips} clips; "
                  f"{summary.frames} frames ({summary.filled_frames} dropped frames filled)")


def _build_cut() -> Any:
    from vimo.pipelines.video.clips import CutOptions

    doc = """Cut each clip's frames of one camera into an mp4 synchronised with the motion (a `real` video).

    vimo clips cut egohumans /data/egohumans --workspace ws\n
    vimo clips cut harmony4d /data/Harmony4D --workspace ws --camera exo:cam05 --size 1280x720
    """
    return with_signature(lambda **kw: _clips_cut(**kw), config_parameters(CutOptions, CUT_SPECS) + [MAX_FAILURES, JSON],
                          name="clips_cut", doc=doc)


render = _build_render()
clips_cut = _build_cut()


def _progress(verb: str):
    def show(result, done: int, total: int) -> None:
        console.print(f"[{done}/{total}] {verb} {result.clip_id}: {result.status}", highlight=False)

    return show


restyle_app = typer.Typer(
    help="Restyle rendered videos through Runway (key from RUNWAYML_API_SECRET; never logged).\n\n"
         "    vimo restyle submit --workspace ws --budget 300\n\n"
         "    vimo restyle status --workspace ws\n\n"
         "    vimo restyle fetch --workspace ws",
    no_args_is_help=True, add_completion=False)


#: how RestyleOptions' fields appear on the command line
RESTYLE_SPECS = {"workspace": Spec(short="-w"), "preset": Spec(flag="--style")}


def _restyle_submit(*, json_out: bool = False, **kwargs: Any) -> None:
    from vimo.pipelines.video.restyle import RestyleOptions, submit

    from vimo.workspace import writer_lock

    options = RestyleOptions(**config_values(kwargs, RestyleOptions, RESTYLE_SPECS))
    from contextlib import nullcontext

    with nullcontext() if options.dry_run else writer_lock(options.workspace, "restyle submit"):
        s = submit(options)
    if json_out:
        typer.echo(json.dumps(s.as_dict(), indent=2))
        return
    if options.dry_run:
        result.print(f"would submit {len(s.would_submit)} videos, about {s.estimated_credits:.0f} credits")
    else:
        result.print(f"submitted {len(s.submitted)} (about {s.estimated_credits:.0f} credits), "
                      f"{len(s.already)} already restyled; balance {s.credit_balance}")
    for vid, reason in s.unknown:
        console.print(f"[yellow]unknown[/] {vid}: {reason} (not resubmitted)", highlight=False)
    for vid, reason in s.failed:
        console.print(f"[red]failed[/] {vid}: {reason}", highlight=False)
    if s.stopped:
        console.print(f"[yellow]stopped[/]: {s.stopped}", highlight=False)


def _build_submit() -> Any:
    from vimo.pipelines.video.restyle import RestyleOptions

    doc = """Submit video-to-video tasks; every task id is recorded in the catalog before anything else.

    vimo restyle submit --workspace ws --dry-run\n
    vimo restyle submit --workspace ws --style photoreal-v1 --budget 300
    """
    return with_signature(lambda **kw: _restyle_submit(**kw), config_parameters(RestyleOptions, RESTYLE_SPECS)
                          + [JSON], name="restyle_submit", doc=doc)


restyle_submit = _build_submit()
restyle_app.command("submit")(restyle_submit)


@restyle_app.command("status")
def restyle_status(workspace: Path = typer.Option(..., "--workspace", "-w", help="the build workspace"),
                   json_out: bool = typer.Option(False, "--json", help="print the rows as JSON")) -> None:
    """One status call per submitted task (THROTTLED and RUNNING shown apart).

    vimo restyle status --workspace ws
    """
    from rich.table import Table

    from vimo.pipelines.video.restyle import status

    rows = status(workspace)
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("video", "task", "status", "progress")
    for r in rows:
        table.add_row(r["video_id"], str(r["task_id"]), str(r["status"]),
                      "" if r["progress"] is None else f"{100 * r['progress']:.0f}%")
    Console().print(table)


@restyle_app.command("fetch")
def restyle_fetch(workspace: Path = typer.Option(..., "--workspace", "-w", help="the build workspace"),
                  wait: bool = typer.Option(True, help="poll each task until it ends (else: one look)"),
                  deadline_s: float = typer.Option(1800.0, help="stop waiting for a task after this many seconds"),
                  json_out: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """Download finished outputs at once (checksummed); they wait in pending_screening for a screening round.

    vimo restyle fetch --workspace ws
    """
    from vimo.pipelines.video.restyle import fetch
    from vimo.workspace import writer_lock

    with writer_lock(workspace, "restyle fetch"):
        s = fetch(workspace, wait=wait, deadline_s=deadline_s)
    if json_out:
        typer.echo(json.dumps(s.as_dict(), indent=2))
        return
    result.print(f"fetched {len(s.fetched)}, still running {len(s.waiting)}, failed {len(s.failed)}, "
                  f"refused by moderation {len(s.safety)}")
    for vid, code in s.safety:
        console.print(f"[red]safety[/] {vid}: {code} (never resubmitted)", highlight=False)
    for vid, code in s.failed:
        console.print(f"[red]failed[/] {vid}: {code}", highlight=False)

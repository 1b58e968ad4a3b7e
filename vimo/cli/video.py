"""`vimo render`, `vimo clips cut` and `vimo restyle submit|status|fetch`: the stimulus videos of clips.

Examples:
    vimo render --workspace ws
    vimo render --workspace ws --subject reactor
    vimo render --workspace ws --camera front --size 640x360 --workers 2
    vimo render --workspace ws --body-models ~/body_models --model-type smplx --executor ray
    vimo clips cut egohumans /data/egohumans --workspace ws
    vimo clips cut harmony4d /data/Harmony4D --workspace ws --camera exo:cam05 --size 1280x720
    RUNWAYML_API_SECRET=... vimo restyle submit --workspace ws --preset photoreal-v1 --budget 300
    vimo restyle submit --workspace ws --dry-run
    vimo restyle status --workspace ws
    vimo restyle fetch --workspace ws
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

console = Console(stderr=True)


def render(workspace: Path = typer.Option(..., "--workspace", "-w", help="the build workspace"),
           subject: str = typer.Option("actor", help="actor (the stimulus) or reactor (the rendered reaction)"),
           camera: Optional[str] = typer.Option(
               None, help="reactor-view (the reactor's eyes), front or orbit; default: reactor-view for the actor, "
                          "front for the reactor"),
           size: str = typer.Option("1280x720", help="WIDTHxHEIGHT, even numbers"),
           fps: float = typer.Option(20.0, help="output frame rate (20 = one frame per motion frame)"),
           x264_preset: str = typer.Option("medium", "--x264-preset",
                                           help="encoder speed: medium (default) or a faster one such as veryfast "
                                                "(same quality at CRF 18 on clay renders, less CPU)"),
           body_models: Optional[Path] = typer.Option(
               None, help="folder of SMPL-family model files; without it a mannequin is built from the joints"),
           model_type: str = typer.Option("smpl", help="smpl, smplh or smplx (with --body-models)"),
           gender: str = typer.Option("neutral", help="neutral, male or female (with --body-models)"),
           workers: int = typer.Option(1, help="parallel clips (processes, or Ray CPUs)"),
           executor: str = typer.Option("local", help="local (process pool) or ray"),
           ray_address: Optional[str] = typer.Option(None, help="Ray cluster address (default: RAY_ADDRESS)"),
           clip: Optional[list[str]] = typer.Option(None, help="render only this clip id (repeatable)"),
           limit: Optional[int] = typer.Option(None, help="render only the first N clips"),
           force: bool = typer.Option(False, help="render again even when the video validates"),
           json_out: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """Render the actor's motion of every two-person clip (or, with --subject reactor, the reactor's
    motion of every clip) as an H.264 mp4 (a `rendered` video).

    vimo render --workspace ws\n
    vimo render --workspace ws --subject reactor\n
    vimo render --workspace ws --camera orbit --size 640x360 --workers 2
    """
    from vimo.pipelines.video.encode import parse_size
    from vimo.pipelines.video.render import RenderOptions, render_workspace

    options = RenderOptions(workspace=workspace, subject=subject, camera=camera, size=parse_size(size), fps=fps,
                            preset=x264_preset,
                            body_models=body_models, model_type=model_type, gender=gender, workers=workers,
                            executor=executor, ray_address=ray_address, clip_ids=clip or None, limit=limit, force=force)
    summary = render_workspace(options, progress=_progress("render"))
    if json_out:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        console.print(f"{summary.subject}: rendered {summary.rendered}, skipped {summary.skipped} (up to date), failed {summary.failed} "
                      f"of {summary.clips} clips; {summary.frames} frames in {summary.seconds:.1f} s "
                      f"({summary.fps:.1f} frames/s)")
        for cid, reason in summary.failures:
            console.print(f"[red]failed[/] {cid}: {reason}", markup=True, highlight=False)
    if summary.failed:
        raise typer.Exit(1)


def clips_cut(source: str = typer.Argument(..., help="egohumans or harmony4d"),
              src: Path = typer.Argument(..., help="root folder of the dataset (the one vimo convert read)"),
              workspace: Path = typer.Option(..., "--workspace", "-w", help="the build workspace"),
              camera: str = typer.Option("aria", help="aria (the reactor's glasses) or exo:camNN"),
              size: Optional[str] = typer.Option(None, help="resize to WIDTHxHEIGHT (default: the camera's size)"),
              aria_orientation: str = typer.Option(
                  "stored", help="stored (upright, as shipped) or native (the Aria sensor's orientation)"),
              workers: int = typer.Option(1, help="parallel clips"),
              executor: str = typer.Option("local", help="local (process pool) or ray"),
              limit: Optional[int] = typer.Option(None, help="cut only the first N clips"),
              force: bool = typer.Option(False, help="cut again even when the video validates"),
              json_out: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """Cut each clip's frames of one camera into an mp4 synchronised with the motion (a `real` video).

    vimo clips cut egohumans /data/egohumans --workspace ws\n
    vimo clips cut harmony4d /data/Harmony4D --workspace ws --camera exo:cam05 --size 1280x720
    """
    from vimo.pipelines.video.clips import CutOptions, cut_workspace
    from vimo.pipelines.video.encode import parse_size

    options = CutOptions(source=source, src=src, workspace=workspace, camera=camera,
                         size=parse_size(size) if size else None, aria_orientation=aria_orientation,
                         workers=workers, executor=executor, limit=limit, force=force)
    summary = cut_workspace(options, progress=_progress("cut"))
    if json_out:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        console.print(f"cut {summary.cut}, skipped {summary.skipped}, failed {summary.failed} of {summary.clips} "
                      f"clips; {summary.frames} frames ({summary.filled_frames} dropped frames filled)")
        for cid, reason in summary.failures:
            console.print(f"[red]failed[/] {cid}: {reason}", markup=True, highlight=False)
    if summary.failed:
        raise typer.Exit(1)


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


@restyle_app.command("submit")
def restyle_submit(workspace: Path = typer.Option(..., "--workspace", "-w", help="the build workspace"),
                   preset: str = typer.Option("photoreal-v1", help="versioned style preset (NAME-vN)"),
                   budget: Optional[float] = typer.Option(None, help="stop before this run's estimate passes "
                                                                     "this many credits"),
                   dry_run: bool = typer.Option(False, "--dry-run", help="list what would be submitted; call nothing"),
                   source_kind: str = typer.Option("rendered", help="restyle rendered (default) or real videos"),
                   url_prefix: Optional[str] = typer.Option(
                       None, help="HTTPS prefix where the workspace's files are hosted (for inputs over 5 MB)"),
                   limit: Optional[int] = typer.Option(None, help="submit at most N videos"),
                   resubmit_unknown: bool = typer.Option(
                       False, help="submit again videos whose earlier create call has an unknown outcome (may "
                                   "pay twice)"),
                   resubmit_failed: bool = typer.Option(False, help="submit again retryable failures"),
                   json_out: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """Submit video-to-video tasks; every task id is recorded in the catalog before anything else.

    vimo restyle submit --workspace ws --dry-run\n
    vimo restyle submit --workspace ws --preset photoreal-v1 --budget 300
    """
    from vimo.pipelines.video.restyle import RestyleOptions, submit

    s = submit(RestyleOptions(workspace=workspace, preset=preset, budget=budget, dry_run=dry_run,
                              source_kind=source_kind, url_prefix=url_prefix, limit=limit,
                              resubmit_unknown=resubmit_unknown, resubmit_failed=resubmit_failed))
    if json_out:
        typer.echo(json.dumps(s.as_dict(), indent=2))
        return
    if dry_run:
        console.print(f"would submit {len(s.would_submit)} videos, about {s.estimated_credits:.0f} credits")
    else:
        console.print(f"submitted {len(s.submitted)} (about {s.estimated_credits:.0f} credits), "
                      f"{len(s.already)} already restyled; balance {s.credit_balance}")
    for vid, reason in s.unknown:
        console.print(f"[yellow]unknown[/] {vid}: {reason} (not resubmitted)", highlight=False)
    for vid, reason in s.failed:
        console.print(f"[red]failed[/] {vid}: {reason}", highlight=False)
    if s.stopped:
        console.print(f"[yellow]stopped[/]: {s.stopped}", highlight=False)


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

    s = fetch(workspace, wait=wait, deadline_s=deadline_s)
    if json_out:
        typer.echo(json.dumps(s.as_dict(), indent=2))
        return
    console.print(f"fetched {len(s.fetched)}, still running {len(s.waiting)}, failed {len(s.failed)}, "
                  f"refused by moderation {len(s.safety)}")
    for vid, code in s.safety:
        console.print(f"[red]safety[/] {vid}: {code} (never resubmitted)", highlight=False)
    for vid, code in s.failed:
        console.print(f"[red]failed[/] {vid}: {code}", highlight=False)

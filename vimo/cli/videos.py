"""`vimo videos`: bring videos that have no recorded reaction (Animal-Human, Scene-Human, any filmed or
generated clip) into a workspace, list the workspace's videos, and show / label the motion library their
reactions are chosen from.

Examples:
    vimo videos add my_clips/ --workspace ws --sub-category dog_approaching --licence CC-BY-4.0
    vimo videos add manifest.csv --workspace ws            # columns: path, sub_category, licence (+ emotion, ...)
    vimo videos list --workspace ws --kind external --json
    vimo videos library --workspace ws --labels library_labels.csv
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
console = Console(stderr=True)


@app.command("add")
def add(src: Path = typer.Argument(..., help="a folder of .mp4 / .webm / .mov files, or a CSV manifest"),
        workspace: Path = typer.Option(..., "--workspace", "-w", help="the build workspace"),
        sub_category: Optional[str] = typer.Option(None, "--sub-category",
                                                   help="sub-category of files without their own label"),
        emotion: Optional[str] = typer.Option(None, "--emotion", help="emotion of files without their own"),
        licence: Optional[str] = typer.Option(None, "--licence",
                                              help="licence of files without their own (every video needs one)"),
        source_url: Optional[str] = typer.Option(None, "--source-url",
                                                 help="where files without their own come from (recorded only)"),
        redistributable: Optional[bool] = typer.Option(None, "--redistributable/--internal-only",
                                                       help="whether the videos may be passed on (default: from "
                                                            "the licence id)"),
        synthetic: bool = typer.Option(False, "--synthetic", help="the videos are generated, not filmed"),
        min_seconds: float = typer.Option(0.5, help="shortest usable video"),
        max_seconds: float = typer.Option(60.0, help="longest usable video"),
        max_failures: Optional[int] = typer.Option(None, "--max-failures",
                                                   help="exit non-zero when more items are quarantined"),
        as_json: bool = typer.Option(False, "--json", help="machine-readable summary")) -> None:
    """Import external videos: decoded, probed, content-hashed (the same file twice is one video), checked
    against the taxonomy, re-encoded to H.264 yuv420p when needed; bad items are quarantined with a reason.

    vimo videos add clips/ --workspace ws --sub-category dog_approaching --licence CC-BY-4.0\n
    vimo videos add manifest.csv --workspace ws --json
    """
    from vimo.pipelines.video.external import ImportOptions, import_videos

    opts = ImportOptions(src=src, workspace=workspace, sub_category=sub_category, emotion=emotion, licence=licence,
                         source_url=source_url, redistributable=redistributable, synthetic=synthetic,
                         min_seconds=min_seconds, max_seconds=max_seconds, max_failures=max_failures)
    summary = import_videos(opts, progress=lambda r, done, total: console.print(
        f"  [{done}/{total}] {r.status:<11} {r.unit}", highlight=False))
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        for line in summary.lines():
            typer.echo(line)
        if summary.quarantined:
            typer.echo(f"  reasons: {workspace / 'quarantine' / 'external'}")
    if summary.failed:
        raise typer.Exit(1)


@app.command("list")
def list_videos(workspace: Path = typer.Option(..., "--workspace", "-w", help="the build workspace"),
                kind: Optional[str] = typer.Option(None, "--kind", help="real | rendered | restyled | external"),
                as_json: bool = typer.Option(False, "--json", help="one JSON array with every field")) -> None:
    """The workspace's videos: id, kind, status, labels, licence, size.

    vimo videos list --workspace ws --kind external
    """
    from vimo.workspace import Workspace

    with Workspace.open(workspace) as ws:
        rows = ws.catalog.query("videos", "kind=?", (kind,)) if kind else ws.catalog.query("videos")
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    for v in rows:
        labels = (v.get("provenance") or {}).get("labels") or {}
        typer.echo(f"{v['video_id']:<44} {v['kind']:<9} {v['status']:<18} {labels.get('sub_category') or '-':<24} "
                   f"{v.get('licence') or '-':<14} {v.get('width')}x{v.get('height')} {v.get('n_frames')} frames")
    typer.echo(f"{len(rows)} videos")


@app.command("library")
def library(workspace: Path = typer.Option(..., "--workspace", "-w", help="the build workspace"),
            labels: Optional[Path] = typer.Option(None, "--labels",
                                                  help="CSV (clip_id or sequence_id, sub_category, [text]) that "
                                                       "labels library motions first"),
            as_json: bool = typer.Option(False, "--json", help="one JSON array, one object per motion")) -> None:
    """The motion library: every usable clip's reaction (single-person AMASS / joints clips and the reactors of
    two-person clips) with its sub-category and text, the pool pairing proposals choose from.

    vimo videos library --workspace ws\n
    vimo videos library --workspace ws --labels library_labels.csv --json
    """
    from vimo.pairs import label_library, motion_library
    from vimo.workspace import Workspace

    with Workspace.open(workspace) as ws:
        if labels is not None:
            n = label_library(ws, labels)
            console.print(f"labelled {n} library motion(s) from {labels}", highlight=False)
        rows = [m.as_dict() for m in motion_library(ws)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for m in rows:
        typer.echo(f"{m['motion_id']:<40} {m['kind']:<13} {m['sub_category'] or '-':<24} {m['text'] or ''}")
    typer.echo(f"{len(rows)} motions ({sum(not m['sub_category'] for m in rows)} without a sub-category)")

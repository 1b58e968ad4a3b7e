"""`vimo pairs`: assemble the source pairs of a workspace (video of the actor + the reactor's motion).

Examples:
    vimo pairs assemble --workspace ws                       # every usable real / rendered / restyled video
    vimo pairs assemble --workspace ws --kind real --source egohumans
    vimo pairs assemble --workspace ws --per-external 3      # + 3 library reactions per external video
    vimo pairs list --workspace ws --status candidate --json
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)


@app.command()
def assemble(workspace: Path = typer.Option(..., "--workspace", "-w", help="the build workspace"),
             kind: Optional[List[str]] = typer.Option(None, "--kind", help="video kinds (repeatable; default "
                                                      "real, rendered, restyled)"),
             source: Optional[List[str]] = typer.Option(None, "--source", help="clip sources (repeatable; "
                                                        "default any)"),
             allow_flagged: bool = typer.Option(False, help="also pair clips whose QA flagged them"),
             per_external: int = typer.Option(0, "--per-external", min=0,
                                              help="candidate reactions from the motion library per external "
                                                   "video (same sub-category first, then by motion descriptor)"),
             as_json: bool = typer.Option(False, "--json", help="machine-readable summary")) -> None:
    """One `candidate` source pair per usable video of a clip's actor, and with --per-external N the N best
    library reactions of each external video (a rating round scores them next)."""
    from vimo.pairs import VIDEO_KINDS, assemble_pairs
    from vimo.workspace import Workspace

    with Workspace.open(workspace) as ws:
        summary = assemble_pairs(ws, video_kinds=kind or VIDEO_KINDS, sources=source or (),
                                 allow_flagged=allow_flagged, per_external=per_external)
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
        return
    typer.echo(f"{len(summary.added)} pairs added, {summary.existing} already there"
               + (f", {summary.unlabelled} without a taxonomy label" if summary.unlabelled else ""))
    for reason, n in sorted(summary.skipped.items()):
        typer.echo(f"  skipped {n:>5}  {reason}")
    if summary.skipped.get("video kind external"):
        typer.echo("  (external videos have no recorded reaction: --per-external N pairs each with N reactions of "
                   "the motion library)")


@app.command("list")
def list_pairs(workspace: Path = typer.Option(..., "--workspace", "-w", help="the build workspace"),
               status: Optional[str] = typer.Option(None, help="candidate | accepted | rejected"),
               as_json: bool = typer.Option(False, "--json", help="one JSON object per pair")) -> None:
    """The workspace's pairs with their labels, scores and origin."""
    from vimo.workspace import Workspace

    with Workspace.open(workspace) as ws:
        rows = ws.catalog.pairs(status)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    for p in rows:
        scores = "" if p.get("motion_quality") is None else \
            f"  MQ {p['motion_quality']:.2f} RP {p['reaction_plausibility']:.2f}"
        typer.echo(f"{p['pair_id']:<48} {p['status']:<9} {p.get('origin') or '':<10} "
                   f"{p.get('sub_category') or '-':<24}{scores}")
    typer.echo(f"{len(rows)} pairs")

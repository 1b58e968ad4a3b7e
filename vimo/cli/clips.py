"""`vimo clips`: list a workspace's clips, cut real video clips for them.

Examples:
    vimo clips list --workspace ws --json
    vimo clips cut egohumans /data/egohumans --workspace ws
"""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from vimo.cli.video import clips_cut

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
console = Console(stderr=True)
result = Console()  # results on stdout; progress, notes and errors on stderr
app.command("cut")(clips_cut)


@app.command("list")
def list_command(workspace: Path = typer.Option(..., "--workspace", "-w", help="the build workspace"),
                 json_out: bool = typer.Option(False, "--json", help="one JSON array with every field")) -> None:
    """List clips: ids, provenance, labels, QA figures and flags, feature and joint file paths.

    A flagged clip shows its QA flags (e.g. order_suspect with the measured lead of the labelled reactor),
    and a legend under the table says what each flag means.

    vimo clips list --workspace ws\n
    vimo clips list --workspace ws --json
    """
    from collections import Counter

    from rich.table import Table

    from vimo.cards import flag_reason
    from vimo.pipelines.convert import list_clips

    clips = list_clips(workspace)
    if json_out:
        typer.echo(json.dumps(clips, indent=2, default=str))
        return
    table = Table("clip", "source / sequence", "frames", "reactor / actor", "labels", "recovery max (m)", "flags",
                  "features_reactor")
    seen: Counter = Counter()
    for c in clips:
        if "error" in c:
            table.add_row(c["clip_id"], "[red]invalid[/]", "", "", "", "", c["error"], "")
            continue
        labels = ", ".join(f"{k}={v}" for k, v in c["labels"].items() if k != "texts" and v is not None)
        qa = c["qa"]["reactor"]["recovery_max_m"]
        table.add_row(c["clip_id"], f"{c['source']} / {c['sequence_id']}", str(c["n_frames"]),
                      " / ".join(c["persons"].get(k, "-") for k in ("reactor", "actor")), labels, f"{qa:.2g}",
                      ", ".join(flag_label(f, c["provenance"]) for f in c["qa"]["flags"]) or "-",
                      c["paths"]["features_reactor"])
        seen.update(c["qa"]["flags"])
    Console().print(table)
    result.print(f"{len(clips)} clip(s)")
    for flag, n in sorted(seen.items()):
        result.print(f"{flag} ({n} clip(s)): {flag_reason(flag)}", highlight=False)


def flag_label(flag: str, provenance: dict) -> str:
    """A QA flag with its measured figure where the clip records one (order_suspect: the reactor's lead)."""
    audit = provenance.get("order_audit") or {}
    if flag == "order_suspect" and audit:
        lead = audit.get("lead_s")
        return f"{flag} (reactor leads {lead:.2f} s)" if lead is not None else f"{flag} (actor never moves)"
    return flag

"""`vimo clips`: list a workspace's clips, cut real video clips for them.

Examples:
    vimo clips list --workspace ws --json
    vimo clips cut egohumans /data/egohumans --workspace ws
"""
from __future__ import annotations

import typer

from vimo.cli.convert import list_command
from vimo.cli.video import clips_cut

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
app.command("list")(list_command)
app.command("cut")(clips_cut)

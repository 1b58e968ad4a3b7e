"""`vimo leaderboard`: rank benchmark results (no torch needed: it reads results.json files).

Examples:
    vimo leaderboard bench/vimo-1.0 bench/vimo-1.0-t2 bench/vimo-1.0-t3 --out bench/leaderboard
    vimo leaderboard bench/a bench/b --show-invalid       # list benchmarks the sanity rules mark INVALID
"""
from __future__ import annotations

from pathlib import Path
from typing import List

import typer
from rich.console import Console

console = Console(stderr=True)
result = Console()  # results on stdout; progress, notes and errors on stderr


def leaderboard(folders: List[Path] = typer.Argument(..., help="benchmark folders (each with results.json)"),
                out: Path = typer.Option(Path("."), "--out", "-o", help="where leaderboard.csv / .md are written"),
                set_name: str = typer.Option("test", "--set", help="evaluated set to rank (test or a splits/ list)"),
                show_invalid: bool = typer.Option(False, "--show-invalid", help="list benchmarks marked invalid "
                                                  "(labelled INVALID) instead of refusing them"),
                as_json: bool = typer.Option(False, "--json", help="print the ranked rows as JSON")) -> None:
    """Rank benchmarks by FID, one row per benchmark (a release or a training split of one: base, t2, ...);
    refuses results of different evaluators, protocols or checkpoint selection sets (bench a split with
    --evaluator of the base bench), and results marked invalid unless --show-invalid.

    vimo leaderboard bench/vimo-1.0 bench/vimo-1.0-t2 --out bench/leaderboard
    """
    from vimo.models.report import write_leaderboard

    rows = write_leaderboard(folders, out, set_name, show_invalid=show_invalid)
    if as_json:
        import json

        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    for r in rows:
        # markup off: "[t2]" is text, not a rich style tag
        label = "" if r["valid"] else f"  INVALID: {r['invalid_reason']}"
        rank = "-" if r["rank"] is None else f"{r['rank']}."
        result.print(f"{rank} {r['release']} [{r['split']}] (selected on {r['select_on']})  FID "
                      f"{r['fid']:.3f} ± {r['fid_ci95']:.3f}{label}", markup=False, highlight=False, soft_wrap=True)
    result.print(f"[green]leaderboard[/] {len(rows)} results -> {out / 'leaderboard.md'}")

"""`vimo init` and `vimo workspace`: build workspaces and their catalog.

Examples:
    vimo init ws/
    vimo workspace status -w ws/ --json
    vimo workspace show clips -w ws/ --limit 20
    vimo workspace migrate -w ws/
"""
from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)


def init(root: Path = typer.Argument(..., help="folder of the new workspace"),
         name: str = typer.Option(None, help="workspace name (default: the folder name)")) -> None:
    """Create a build workspace: config, folders, SQLite catalog (safe on an existing one).

    vimo init ws/
    """
    from vimo.workspace import Workspace

    with Workspace.init(root, name=name) as ws:
        typer.echo(f"workspace {ws.config['name']} ready at {root} (format version {ws.catalog.format_version()})")


@app.command()
def status(root: Path = typer.Option(..., "--workspace", "-w", help="the build workspace"),
           as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Counts per catalog table, format version, whether the catalog agrees with the files, the
    leftovers of killed runs, and the run holding the writer lock (if any).

    Agreement: every clip row against its folder (the files meta.json names, the features checksum),
    every folder against the rows, every video and release row against its file. After a killed
    `vimo convert` the clips written since the last catalog update show as "on disk, not in the
    catalog"; re-running the command registers them and removes the leftovers.

    vimo workspace status -w ws/
    """
    from vimo.workspace import Workspace, check_consistency, current_writer

    with Workspace.open(root) as ws:
        st = ws.status()
        st["consistency"] = check_consistency(ws).as_dict()
    st["writer"] = current_writer(root)
    if as_json:
        typer.echo(json.dumps(st, indent=2))
        return
    typer.echo(f"{st['name']} at {st['root']} (format {st['format_version']}, {st['journal_mode']})")
    for table, n in st["counts"].items():
        typer.echo(f"  {table:<12} {n}")
    if st["writer"] is not None:
        typer.echo(f"being written by vimo {st['writer'].get('command')} (pid {st['writer'].get('pid')})")
    c = st["consistency"]
    checked = c["checked"]
    what = (f"{checked['clips']} clip rows, {checked['clip_folders']} clip folders, {checked['videos']} videos, "
            f"{checked['releases']} releases")
    problems = [p for k in ("clips_missing_on_disk", "clips_not_in_catalog", "clips_differ", "videos_missing_on_disk",
                            "releases_missing_on_disk") for p in c[k]]
    if c["consistent"]:
        typer.echo(f"catalog and disk agree ({what})")
    else:
        typer.echo(f"catalog and disk disagree in {len(problems)} place(s) ({what}); re-run the command that "
                   f"wrote them (vimo convert / vimo render / vimo release build: it resumes and fixes the catalog)")
        for line in problems[:20]:
            typer.echo(f"  {line}")
        if len(problems) > 20:
            typer.echo(f"  ... {len(problems) - 20} more (--json lists all)")
    if c["leftovers"]:
        typer.echo(f"{len(c['leftovers'])} leftover(s) of killed runs (the next run of the same command removes "
                   f"them): " + ", ".join(c["leftovers"][:5]) + (" ..." if len(c["leftovers"]) > 5 else ""))


@app.command()
def show(table: str = typer.Argument(..., help="clips | videos | pairs | rounds | annotations | jobs | releases"),
         root: Path = typer.Option(..., "--workspace", "-w", help="the build workspace"),
         limit: int = typer.Option(20, help="rows to print"),
         as_json: bool = typer.Option(False, "--json", help="machine-readable output (every row)")) -> None:
    """Print a catalog table (pairs joined with their video and clip).

    vimo workspace show pairs -w ws/
    """
    from vimo.workspace import Workspace

    with Workspace.open(root) as ws:
        df = ws.catalog.pairs_df() if table == "pairs" else ws.catalog.dataframe(table)
    if as_json:
        typer.echo(df.to_json(orient="records", indent=2, default_handler=str))
        return
    typer.echo(df.head(limit).to_string() if len(df) else f"(no {table})")


@app.command()
def migrate(root: Path = typer.Option(..., "--workspace", "-w", help="the build workspace")) -> None:
    """Upgrade a workspace written by an older vimo to this version's format.

    vimo workspace migrate -w ws/
    """
    from vimo.workspace import migrate as run

    steps = run(root)
    typer.echo(f"migrated {root}: {len(steps)} step(s)" if steps else f"{root} is already up to date")

"""`vimo convert <source>` (one command per registered source) and `vimo clips list`.

Examples:
    vimo convert interx /data/Inter-X_Dataset --workspace ws --body-models ~/body_models --workers 2
    vimo convert interx /data/Inter-X_Dataset --workspace ws --body-models ~/body_models --neutral --split test
    vimo convert egohumans /data/egohumans --workspace ws --max-failures 5
    vimo convert harmony4d /data/Harmony4D --workspace ws --executor ray --ray-address auto
    vimo convert amass /data/AMASS --workspace ws --body-models ~/body_models
    vimo convert joints synth/ --workspace ws --fps 20 --up-axis +y
    vimo clips list --workspace ws --json
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from vimo.cli.options import PREFIX, config_parameters, config_values
from vimo.errors import VimoError

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, rich_markup_mode="rich")
console = Console(stderr=True)
result = Console()  # results on stdout; progress, notes and errors on stderr


def _common_parameters() -> list[inspect.Parameter]:
    P = inspect.Parameter
    kw = P.KEYWORD_ONLY
    return [
        P("src", kw, annotation=Path, default=typer.Argument(..., help="root folder of the source data")),
        P("workspace", kw, annotation=Path, default=typer.Option(..., "--workspace", "-w",
                                                                 help="the build workspace (clips/ go here)")),
        P("workers", kw, annotation=int, default=typer.Option(1, help="parallel workers (processes or Ray CPUs)")),
        P("executor", kw, annotation=str, default=typer.Option("local", help="local (process pool) or ray")),
        P("ray_address", kw, annotation=Optional[str], default=typer.Option(
            None, help="Ray cluster address (default: RAY_ADDRESS, else a local instance)")),
        P("max_failures", kw, annotation=Optional[int], default=typer.Option(
            None, help="exit non-zero when more units than this are quarantined")),
        P("min_frames", kw, annotation=int, default=typer.Option(40, help="shortest clip, frames at 20 fps")),
        P("max_frames", kw, annotation=int, default=typer.Option(200, help="longest clip; longer spans are split "
                                                                          "into equal windows")),
        P("limit", kw, annotation=Optional[int], default=typer.Option(None, help="convert only the first N units")),
        P("json_out", kw, annotation=bool, default=typer.Option(False, "--json", help="print the summary as JSON")),
    ]


def _make_command(name: str, source_class: type):
    def command(**kwargs: Any) -> None:
        cfg = config_values(kwargs, source_class.config_class)
        run_conversion(name, source_class, cfg, {k: v for k, v in kwargs.items() if not k.startswith(PREFIX)})

    command.__signature__ = inspect.Signature(_common_parameters() + config_parameters(source_class.config_class))
    command.__name__ = f"convert_{name}"
    command.__doc__ = (f"{source_class.summary}.\n\n{inspect.getdoc(inspect.getmodule(source_class)) or ''}\n\n"
                       f"Expected layout:\n\n{source_class.expected_tree}\n\nLicence: {source_class.licence}")
    return command


def run_conversion(name: str, source_class: type, cfg: dict[str, Any], common: dict[str, Any]) -> None:
    """Build the source and options, run the conversion with a progress bar, print the summary."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    from vimo.pipelines.convert import ConvertOptions, PreflightError, convert
    from vimo.workspace import quarantine_dir

    source = source_class(common["src"], source_class.config_class(**cfg))
    options = ConvertOptions(workspace=common["workspace"], workers=common["workers"], executor=common["executor"],
                             ray_address=common["ray_address"], max_failures=common["max_failures"],
                             min_frames=common["min_frames"], max_frames=common["max_frames"], limit=common["limit"])
    columns = (TextColumn(f"[bold]{name}[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(name, total=None, rate="")

            def progress(result: Any, done: int, total: int) -> None:
                elapsed = bar.tasks[0].elapsed or 1e-9
                bar.update(task, completed=done, total=total, rate=f"{done / elapsed:.1f} units/s")
                if result.status == "quarantined":
                    bar.console.print(f"[yellow]quarantined[/] {result.reason}", highlight=False)

            summary = convert(source, options, progress=progress)
    except PreflightError as err:
        console.print("[red]preflight failed:[/]")
        for line in err.problems:
            console.print(f"  - {line}", highlight=False)
        console.print(f"expected layout:\n{err.expected_tree}", highlight=False)
        raise
    if common["json_out"]:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        result.print(f"[green]done[/] {summary.items} units: {summary.converted} converted, {summary.skipped} "
                      f"skipped (already valid), {summary.empty} without a clip, {summary.quarantined} quarantined; "
                      f"{summary.clips} clips, {summary.frames} frames in {summary.seconds:.1f} s")
        for line in summary.report_lines():
            result.print(line, highlight=False, soft_wrap=True)
        for key, reason in summary.quarantine[:20]:
            console.print(f"  [yellow]quarantined[/] {key}: {reason}", highlight=False)
    if summary.over_budget:
        raise VimoError(f"{summary.quarantined} units quarantined, more than --max-failures {summary.max_failures}",
                        path=quarantine_dir(common["workspace"], name),
                        fix="read the quarantine reasons, fix the inputs and re-run (finished units are skipped)")


def _register_commands() -> None:
    from vimo.pipelines.convert import registered_sources

    for name, cls in sorted(registered_sources().items()):
        app.command(name=name, help=_make_command(name, cls).__doc__)(_make_command(name, cls))


_register_commands()

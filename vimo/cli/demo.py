"""`vimo demo`: the mission end to end on data vimo makes itself (see vimo.flows.demo for the steps).

Examples:
    vimo demo                          # -> demo_out/ (about 20 minutes on 2 cores)
    vimo demo --out demo_out --reduced # the small form the tests run
    vimo demo --force                  # start over instead of resuming
"""
from __future__ import annotations

from pathlib import Path

import typer


def demo(out: Path = typer.Option(Path("demo_out"), "--out", "-o", help="output folder (a finished step there is "
                                                                      "skipped)"),
         reduced: bool = typer.Option(False, help="the small form (fewer clips, smaller videos, shorter bench)"),
         seed: int = typer.Option(0, help="seed of everything random"),
         workers: int = typer.Option(2, help="parallel processes for conversion and rendering"),
         bench: bool = typer.Option(True, help="run the benchmark steps (needs the train extra)"),
         force: bool = typer.Option(False, "--force", help="start over: delete the output folder first")) -> None:
    """Run the mission end to end: fake sources -> convert -> render -> restyle (stand-in) -> screening,
    pairing and rating rounds on a local Label Studio (simulated annotators) -> release + card -> tiny
    HERO benchmark (base vs T2) -> summary.

    vimo demo --out demo_out
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from vimo.flows.demo import DemoConfig, Reporter, run_demo, summary_text

    console = Console()
    columns = (TextColumn("{task.description:<64}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        overall = bar.add_task("vimo demo", total=None)  # the reporter's first step() sets the total
        detail = bar.add_task("", total=None, visible=False)

        class Bars(Reporter):
            def step(self, name: str, index: int, total: int) -> None:
                bar.update(overall, completed=index, total=total,
                           description=f"step {min(index + 1, total)}/{total}: {name}")
                bar.update(detail, visible=False, completed=0, total=None, description="")

            def detail(self, description: str, done: int, total: int | None) -> None:
                bar.update(detail, visible=True, description=f"  {description}"[:64], completed=done, total=total)

            def note(self, text: str) -> None:
                bar.console.print(text, highlight=False, markup=False)

        res = run_demo(DemoConfig(out=out, reduced=reduced, seed=seed, workers=workers, bench=bench, fresh=force),
                       Bars())
        bar.update(detail, visible=False)
    print(summary_text(res))  # plain: long paths must not wrap

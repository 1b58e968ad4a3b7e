"""`vimo demo`: the mission end to end on synthetic data vimo generates itself.

Examples:
    vimo demo
    vimo demo --out demo_out --interactions 48 --seed 1
"""
from __future__ import annotations

from pathlib import Path

import typer


def demo(out: Path = typer.Option(Path("demo_out"), "--out", help="output folder"),
         interactions: int = typer.Option(24, help="number of synthetic interactions"),
         seed: int = typer.Option(0, help="seed of everything random")) -> None:
    """Run the mission end to end on the embedded synthetic data and print where each artefact is.

    vimo demo --out demo_out
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from vimo.demo import DemoConfig, run_demo, summary_text

    console = Console()
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("vimo demo", total=5)

        def step(desc: str) -> None:
            bar.update(task, description=desc)
            bar.advance(task)

        res = run_demo(DemoConfig(out=out, n_interactions=interactions, seed=seed), progress=step)
        bar.update(task, completed=5, description="done")
    console.print(summary_text(res))

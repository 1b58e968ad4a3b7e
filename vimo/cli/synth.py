"""`vimo synth`: seeded synthetic two-person interactions (the embedded default data).

Examples:
    vimo synth generate --out synth/
    vimo synth generate --out synth/ --n 100 --seed 7
    vimo synth generate --out interx_like/ --fps 120 --kinds handshake,hug,push
    vimo synth generate --out placed/ --n 8 --random-placement
    vimo synth kinds
"""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
console = Console(stderr=True)
result = Console()  # results on stdout; progress, notes and errors on stderr


@app.command()
def generate(
    out: Path = typer.Option(..., "--out", "-o", help="folder for <id>_actor.npy, <id>_reactor.npy, index.csv/json"),
    n: int = typer.Option(16, "--n", help="number of interactions (cycling through the kinds)"),
    seed: int = typer.Option(0, help="master seed: same seed, same files"),
    fps: float = typer.Option(20.0, help="frame rate (20 HumanML3D, 30 Ego-Humans, 120 Inter-X)"),
    kinds: str = typer.Option("", help="comma-separated kinds (default: all; see `vimo synth kinds`)"),
    random_placement: bool = typer.Option(False, "--random-placement",
                                          help="rotate and move each scene off its canonical placement"),
) -> None:
    """Write N interactions as (T, 22, 3) float32 joints (metres, +Y up, SMPL order) plus an index.

    vimo synth generate --out synth/ --n 100 --seed 7\n
    vimo synth generate --out interx_like/ --fps 120 --kinds handshake,hug,push
    """
    from vimo.synthetic import generate_many, write_interactions

    kind_list = [k.strip() for k in kinds.split(",") if k.strip()] or None
    interactions = generate_many(n, seed=seed, kinds=kind_list, fps=fps, random_placement=random_placement)
    write_interactions(interactions, out, generator={
        "n": n, "seed": seed, "fps": fps, "kinds": kind_list, "random_placement": random_placement})
    frames = sum(x.n_frames for x in interactions)
    result.print(f"[green]wrote[/] {len(interactions)} interactions ({frames} frames per person in total, "
                  f"{fps:g} fps) -> {out}")


@app.command(name="kinds")
def list_kinds() -> None:
    """List the interaction kinds with their categories and Inter-X action ids.

    vimo synth kinds
    """
    from vimo.synthetic import KINDS, describe_kind

    for kind in KINDS:
        info = describe_kind(kind)
        action = "-" if info["interx_action"] is None else f"A{info['interx_action']:03d}"
        typer.echo(f"{kind:14s} {info['broad_category']} / {info['sub_category']:24s} {action:5s} {info['text']}")

"""`vimo bench` (benchmark a release with the reference HERO) and `vimo leaderboard` (compare benchmarks).

Examples:
    vimo bench vimo-1.0/ --out bench/vimo-1.0 --evaluator checkpoints/vimo --checkpoints checkpoints/vimo --encoder tc-clip=zero_shot_k400_tc_clip.pth --device cuda
    vimo bench vimo-1.0/ --out bench/vimo-1.0 --device cuda            # trains HERO and a vimo evaluator first
    vimo bench demo_out/release --out bench/demo --preset tiny          # CPU-sized, end to end
    vimo bench vimo-1.0-t2/ --out bench/t2 --evaluator bench/vimo-1.0/evaluator/evaluator.tar
    vimo leaderboard bench/vimo-1.0 bench/t2 bench/t3 --out bench/leaderboard
Re-running `vimo bench` with the same --out resumes training and reuses the trained evaluator.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

console = Console(stderr=True)


def bench(release: Path = typer.Argument(..., help="HERO-readable release folder"),
          out: Optional[Path] = typer.Option(None, "--out", "-o", help="benchmark folder (default bench/<release name>)"),
          preset: str = typer.Option("hero", help="hero (paper sizes) or tiny (CPU)"),
          evaluator: Optional[Path] = typer.Option(None, help="official T2M evaluator folder (Comp_v6_KLD005/, "
                                                   "text_mot_match/) or a vimo evaluator.tar; default: train one"),
          checkpoints: Optional[Path] = typer.Option(None, help="folder with rvq/mask/res runs; default: train them"),
          encoder: str = typer.Option("pixel", help="pixel | tc-clip=PATH | openai-clip=PATH"),
          replications: int = typer.Option(20, help="replications (official 20)"),
          batch_size: int = typer.Option(32, help="evaluation batch (official 32)"),
          diversity_rule: str = typer.Option("hero", help="hero (13 pairs if N <= 300) | momask | t2m"),
          evaluator_space: str = typer.Option("official", help="official | consistent (normalisation fed to "
                                              "the evaluator)"),
          seed: int = typer.Option(10107, help="evaluation seed (official 10107)"),
          subsets: bool = typer.Option(True, help="also evaluate the splits/*.txt lists holding test pairs"),
          epochs: Optional[int] = typer.Option(None, help="override every stage's training epochs"),
          device: str = typer.Option("cpu", help="torch device, e.g. cuda"),
          progress: bool = typer.Option(True, help="progress bars while training")) -> None:
    """Benchmark a release: train or load HERO, evaluate with 20 replications, write report.md + results.json."""
    from vimo.models.bench import BenchConfig, run_bench

    out = out or Path("bench") / release.resolve().name
    cfg = BenchConfig(release=release, out=out, preset=preset, evaluator=evaluator, checkpoints=checkpoints,
                      encoder=encoder, replications=replications, batch_size=batch_size,
                      diversity_rule=diversity_rule, evaluator_space=evaluator_space, seed=seed, subsets=subsets,
                      epochs=epochs, device=device, progress=progress)
    results = run_bench(cfg)
    test = results["sets"]["test"]["metrics"]
    mm = test.get("multimodality")
    console.print(f"[green]bench[/] {results['provenance']['release_name']}: FID {test['fid']['mean']:.3f} ± "
                  f"{test['fid']['ci95']:.3f}, Diversity {test['diversity']['mean']:.3f} (real "
                  f"{test['diversity_real']['mean']:.3f})" + (f", MModality {mm['mean']:.3f}" if mm else "")
                  + f"; evaluator {results['evaluator']['id']} -> {out / 'report.md'}")


def leaderboard(folders: List[Path] = typer.Argument(..., help="benchmark folders (each with results.json)"),
                out: Path = typer.Option(Path("."), "--out", "-o", help="where leaderboard.csv / .md are written"),
                set_name: str = typer.Option("test", "--set", help="evaluated set to rank (test or a splits/ list)")
                ) -> None:
    """Rank benchmarks by FID; refuses results of different evaluators or protocols."""
    from vimo.models.report import write_leaderboard

    rows = write_leaderboard(folders, out, set_name)
    for r in rows:
        console.print(f"{r['rank']}. {r['release']}  FID {r['fid']:.3f} ± {r['fid_ci95']:.3f}")
    console.print(f"[green]leaderboard[/] {len(rows)} results -> {out / 'leaderboard.md'}")

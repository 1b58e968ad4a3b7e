"""`vimo bench` (benchmark a release with the reference HERO) and `vimo leaderboard` (compare benchmarks).

Examples:
    vimo bench vimo-1.0/ --out bench/vimo-1.0 --evaluator checkpoints/vimo --checkpoints checkpoints/vimo --select-on test --encoder tc-clip=zero_shot_k400_tc_clip.pth --device cuda
    vimo bench vimo-1.0/ --out bench/vimo-1.0 --device cuda            # trains HERO and a vimo evaluator first
    vimo bench demo_out/release --out bench/demo --preset tiny          # CPU-sized, end to end
    vimo bench vimo-1.0/ --split t2 --out bench/vimo-1.0-t2 --evaluator bench/vimo-1.0/evaluator/evaluator.tar
    vimo bench vimo-1.0/ --split t3 --out bench/vimo-1.0-t3 --evaluator bench/vimo-1.0/evaluator/evaluator.tar
    vimo leaderboard bench/vimo-1.0 bench/vimo-1.0-t2 bench/vimo-1.0-t3 --out bench/leaderboard
    vimo bench vimo-1.0/ --out bench/ablation --variant hero --variant vqvae --variant no-iie --variant no-die
    vimo bench vimo-1.0/ --split seen_unseen --out bench/unseen --evaluator bench/vimo-1.0/evaluator/evaluator.tar --variant hero --variant momask-video --variant bamm-video
    vimo bench vimo-1.0/ --out bench/ablation --variant hero --variant vqvae --human-eval study1 --workspace ws/
    vimo bench human-eval-report study1 --bench bench/ablation --workspace ws/
    vimo leaderboard bench/a bench/b --show-invalid       # list benchmarks the sanity rules mark INVALID
Re-running `vimo bench` with the same --out resumes training and reuses the trained evaluator.
Checkpoint selection: --select-on val (default) keeps each stage's best in-training FID on the release's val.txt;
--select-on test is HERO's official selection on the test split (labelled in results and the leaderboard);
--select-on none keeps the last epoch. A release without val.txt needs a rebuild with a val split or one of those.
Validity: results.json / report.md carry a sanity ladder (real vs real halves, RVQ reconstruction, generation,
decoded random / constant codes), collapse figures and the evaluator's chance test; a benchmark that breaks
them is written but marked "valid": false, and `vimo leaderboard` refuses it unless --show-invalid.
Splits: `--split t2|t3` trains every stage on splits/<name>/train.txt (its own Mean/Std) and tests on the base
test.txt; `--split seen_unseen` trains on splits/seen_unseen/train.txt and tests on the Unseen set
(splits/seen_unseen/test.txt). A split benchmark must be given the evaluator of the base benchmark with
--evaluator (it refuses to train its own): `vimo leaderboard` ranks base and split results as rows of one table
only when their evaluator and protocol are the same, and refuses otherwise.
Motions longer than the preset's max_motion_length (tiny: 40 frames, hero: 200): training (HERO and the vimo
evaluator) uses a seeded random window of max_motion_length frames, new every epoch; evaluation (test sets,
MultiModality, reconstruction) uses their first max_motion_length frames, identical across replications and
variants. report.md / results.json note how many motions were cut ("N of K motions longer than ...").
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
import typer.core
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
          select_on: str = typer.Option("val", "--select-on", help="checkpoint selection set: val (default; the "
                                        "release's val.txt), test (official HERO, selects on the test split; "
                                        "labelled) or none (last epoch)"),
          epochs: Optional[int] = typer.Option(None, help="override every stage's training epochs"),
          device: str = typer.Option("cpu", help="torch device, e.g. cuda"),
          progress: bool = typer.Option(True, help="progress bars while training"),
          split: Optional[str] = typer.Option(None, "--split", help="training split: base (default), t2 / t3 "
                                              "(splits/<name>/train.txt, base test set) or seen_unseen (tested on "
                                              "the Unseen set); needs --evaluator of the base benchmark"),
          variant: Optional[List[str]] = typer.Option(None, "--variant", help="model variant (repeatable): hero "
                                                      "(default), vqvae, layers-4..layers-8, no-iie, no-die, "
                                                      "momask-video, bamm-video"),
          human_eval: Optional[str] = typer.Option(None, "--human-eval", help="also push a BLIND rating round of "
                                                   "generated reactions under this name (needs --workspace)"),
          workspace: Optional[Path] = typer.Option(None, "--workspace", "-w", help="workspace whose Label Studio "
                                                   "gets the human-evaluation round"),
          human_eval_pairs: int = typer.Option(10, help="test pairs sampled for the human evaluation"),
          human_eval_overlap: int = typer.Option(3, help="raters per human-evaluation task"),
          render: Optional[bool] = typer.Option(None, "--render/--no-render", help="render reactions to mp4 for "
                                                "the human evaluation (default: when the render extra works)")
          ) -> None:
    """Benchmark a release: train or load HERO, evaluate with 20 replications, write report.md + results.json.

    Motions longer than the preset's max_motion_length (tiny: 40) are trained on seeded random windows of that
    many frames and evaluated on their first max_motion_length frames; the report notes how many were cut.

    Training split: vimo bench vimo-1.0/ --split t2 --evaluator bench/vimo-1.0/evaluator/evaluator.tar --out
    bench/vimo-1.0-t2 (scored with the base benchmark's evaluator; vimo leaderboard ranks base and t2 as rows of
    one table and refuses results of different evaluators or protocols).
    """
    from vimo.models.bench import BenchConfig, run_bench

    out = out or Path("bench") / release.resolve().name
    if human_eval and workspace is None:
        raise typer.BadParameter("--human-eval needs --workspace", param_hint="--workspace")
    cfg = BenchConfig(release=release, out=out, preset=preset, evaluator=evaluator, checkpoints=checkpoints,
                      encoder=encoder, replications=replications, batch_size=batch_size,
                      diversity_rule=diversity_rule, evaluator_space=evaluator_space, seed=seed, subsets=subsets,
                      epochs=epochs, device=device, progress=progress, variants=list(variant or ["hero"]),
                      split=split, select_on=select_on)
    results = run_bench(cfg)
    longer = results["provenance"].get("longer_than_max_motion_length") or {}
    if any(longer.values()):
        console.print(f"[yellow]note[/] motions longer than max_motion_length {results['protocol']['max_motion_length']}"
                      f": {longer.get('train', 0)} train (random windows), {longer.get('test', 0)} test (first "
                      f"{results['protocol']['max_motion_length']} frames); see {out / 'report.md'}")
    if human_eval:
        push_human_eval_round(cfg, human_eval, workspace, pairs=human_eval_pairs, overlap=human_eval_overlap,
                              render=render)
    test = results["sets"]["test"]["metrics"]
    mm = test.get("multimodality")
    console.print(f"[green]bench[/] {results['provenance']['release_name']} (split {results['split']['name']}): FID {test['fid']['mean']:.3f} ± "
                  f"{test['fid']['ci95']:.3f}, Diversity {test['diversity']['mean']:.3f} (real "
                  f"{test['diversity_real']['mean']:.3f})" + (f", MModality {mm['mean']:.3f}" if mm else "")
                  + f"; evaluator {results['evaluator']['id']}; selected on {results['protocol']['select_on']} "
                  f"-> {out / 'report.md'}")
    print_validity(results)


def print_validity(results) -> None:
    """One line for a valid benchmark; INVALID and its reasons (one line each) otherwise."""
    if results.get("valid"):
        console.print("[green]valid[/]: sanity ladder in order, no collapse, metrics finite")
        return
    reasons = results.get("invalid_reasons") or []
    console.print(f"[red]INVALID[/] benchmark ({len(reasons)} reasons; vimo leaderboard refuses it unless "
                  f"--show-invalid):")
    for r in reasons:
        console.print(f"  - {r}", markup=False, highlight=False, soft_wrap=True)


def leaderboard(folders: List[Path] = typer.Argument(..., help="benchmark folders (each with results.json)"),
                out: Path = typer.Option(Path("."), "--out", "-o", help="where leaderboard.csv / .md are written"),
                set_name: str = typer.Option("test", "--set", help="evaluated set to rank (test or a splits/ list)"),
                show_invalid: bool = typer.Option(False, "--show-invalid", help="list benchmarks marked invalid "
                                                  "(labelled INVALID) instead of refusing them")
                ) -> None:
    """Rank benchmarks by FID, one row per benchmark (a release or a training split of one: base, t2, ...);
    refuses results of different evaluators, protocols or checkpoint selection sets (bench a split with
    --evaluator of the base bench), and results marked invalid unless --show-invalid.

    vimo leaderboard bench/vimo-1.0 bench/vimo-1.0-t2 --out bench/leaderboard
    """
    from vimo.models.report import write_leaderboard

    rows = write_leaderboard(folders, out, set_name, show_invalid=show_invalid)
    for r in rows:
        # markup off: "[t2]" is text, not a rich style tag
        label = "" if r["valid"] else f"  INVALID: {r['invalid_reason']}"
        console.print(f"{r['rank']}. {r['release']} [{r['split']}] (selected on {r['select_on']})  FID "
                      f"{r['fid']:.3f} ± {r['fid_ci95']:.3f}{label}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"[green]leaderboard[/] {len(rows)} results -> {out / 'leaderboard.md'}")


def push_human_eval_round(cfg, name: str, workspace: Path, *, pairs: int, overlap: int, render: Optional[bool],
                          rounds=None):
    """Sample reactions of the benchmark's variants and push them as a blind rating round of `workspace`."""
    from vimo.flows.human_eval import default_renderer, push_human_eval
    from vimo.models.bench import human_eval_samples

    renderer = None
    if render is not False:
        renderer = default_renderer()
        if renderer is None and render:
            from vimo.errors import MissingExtraError

            raise MissingExtraError("--render needs the renderer (vimo.pipelines.video) and headless EGL",
                                    fix="pip install 'vimo[render]', or pass --no-render")
    if renderer is None:
        console.print("[yellow]human eval[/]: renderer not available; the tasks reference the generated joints "
                      "(.npy) next to the input videos")
    samples = human_eval_samples(cfg, pairs, cfg.seed)
    pushed = push_human_eval(samples, rounds or _rounds(workspace), cfg.out, name, seed=cfg.seed, overlap=overlap,
                             renderer=renderer)
    console.print(f"[green]human eval[/] {name}: round {pushed.round_id}, {pushed.tasks} blind tasks; mapping "
                  f"(private) -> {pushed.mapping}")
    return pushed


def _rounds(workspace: Path):
    from vimo.annotation.rounds import Rounds
    from vimo.annotation.server import connect_workspace

    if not workspace.is_dir():
        from vimo.errors import WorkspaceError

        raise WorkspaceError("workspace folder does not exist", path=workspace, fix="vimo init WS")
    return Rounds(workspace, connect_workspace(workspace))


def human_eval_report(name: str = typer.Argument(..., help="the --human-eval name of the round"),
                      bench_dir: Path = typer.Option(..., "--bench", "-b", help="the benchmark folder that pushed it"),
                      workspace: Path = typer.Option(..., "--workspace", "-w", help="the round's workspace"),
                      pull: bool = typer.Option(True, help="pull the round from Label Studio first")) -> None:
    """Pull a human-evaluation round and add mean scores per variant (95% CI) and agreement to the report.

    vimo bench human-eval-report study1 --bench bench/vimo-1.0 --workspace ws/
    """
    from vimo.flows.human_eval import human_eval_report as report

    entry = report(bench_dir, name, _rounds(workspace), pull=pull)
    for v, row in entry["variants"].items():
        rp = row.get("reaction_plausibility")
        console.print(f"{v}: Re.Plau. " + (f"{rp['mean']:.2f} ± {rp['ci95']:.2f}" if rp else "-"))
    console.print(f"[green]human eval[/] {name}: {entry['ratings']} ratings by {entry['annotators']} annotators "
                  f"-> {bench_dir / 'report.md'}")


class _BenchGroup(typer.core.TyperGroup):
    """`vimo bench RELEASE ...` runs the benchmark (the `run` command); named sub-commands stay reachable."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


bench_app = typer.Typer(cls=_BenchGroup, no_args_is_help=True, add_completion=False,
                        help="Benchmark a release (vimo bench RELEASE ...) and report human evaluations.")
bench_app.command("run")(bench)
bench_app.command("human-eval-report")(human_eval_report)

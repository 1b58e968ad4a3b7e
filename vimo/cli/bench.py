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

import inspect
from pathlib import Path
from typing import Any, Optional

import typer
import typer.core
from rich.console import Console

from vimo.cli.options import Spec, config_parameters, config_values, with_signature

console = Console(stderr=True)
result = Console()  # results on stdout; progress, notes and errors on stderr


#: how BenchConfig's fields appear on the command line (the rest: --<field-name>, help = the field's docstring)
SPECS = {
    "release": Spec(argument=True),
    "out": Spec(short="-o", optional=True, help="benchmark folder (default bench/<release name>)"),
    "preset": Spec(help="hero (paper sizes) or tiny (CPU)"),
    "variants": Spec(flag="--variant", help="model variant (repeatable): hero (default), vqvae, layers-4..layers-8, "
                                            "no-iie, no-die, momask-video, bamm-video"),
}
#: fields not offered on the command line (`select_by_fid` is the older spelling of --select-on none)
HIDDEN = ("select_by_fid",)


def _bench(*, human_eval: Optional[str] = None, workspace: Optional[Path] = None, human_eval_pairs: int = 10,
           human_eval_overlap: int = 3, render: Optional[bool] = None, as_json: bool = False, **kwargs: Any) -> None:
    from vimo.models.bench import BenchConfig, run_bench
    from vimo.threads import configure_torch_threads

    values = config_values(kwargs, BenchConfig)
    release: Path = values["release"]
    out = values["out"] = values.get("out") or Path("bench") / release.resolve().name
    if human_eval and workspace is None:
        raise typer.BadParameter("--human-eval needs --workspace", param_hint="--workspace")
    cfg = BenchConfig(**values)
    configure_torch_threads()  # intra-op threads sized to the free cores (vimo.threads)
    results = run_bench(cfg)
    longer = results["provenance"].get("longer_than_max_motion_length") or {}
    if any(longer.values()):
        console.print(f"[yellow]note[/] motions longer than max_motion_length {results['protocol']['max_motion_length']}"
                      f": {longer.get('train', 0)} train (random windows), {longer.get('test', 0)} test (first "
                      f"{results['protocol']['max_motion_length']} frames); see {out / 'report.md'}")
    if human_eval:
        push_human_eval_round(cfg, human_eval, workspace, pairs=human_eval_pairs, overlap=human_eval_overlap,
                              render=render)
    if as_json:
        import json

        typer.echo(json.dumps(results, indent=2, default=str))
        return
    test = results["sets"]["test"]["metrics"]
    mm = test.get("multimodality")
    result.print(f"[green]bench[/] {results['provenance']['release_name']} (split {results['split']['name']}): FID {test['fid']['mean']:.3f} ± "
                  f"{test['fid']['ci95']:.3f}, Diversity {test['diversity']['mean']:.3f} (real "
                  f"{test['diversity_real']['mean']:.3f})" + (f", MModality {mm['mean']:.3f}" if mm else "")
                  + f"; evaluator {results['evaluator']['id']}; selected on {results['protocol']['select_on']} "
                  f"-> {out / 'report.md'}")
    print_validity(results)


def _build_bench() -> Any:
    from vimo.models.bench import BenchConfig

    P, K = inspect.Parameter, inspect.Parameter.KEYWORD_ONLY
    human = [
        P("human_eval", K, annotation=Optional[str], default=typer.Option(
            None, "--human-eval", help="also push a BLIND rating round of generated reactions under this name "
                                       "(needs --workspace)")),
        P("workspace", K, annotation=Optional[Path], default=typer.Option(
            None, "--workspace", "-w", help="workspace whose Label Studio gets the human-evaluation round")),
        P("human_eval_pairs", K, annotation=int, default=typer.Option(10, help="test pairs sampled for the human "
                                                                               "evaluation")),
        P("human_eval_overlap", K, annotation=int, default=typer.Option(3, help="raters per human-evaluation task")),
        P("render", K, annotation=Optional[bool], default=typer.Option(
            None, "--render/--no-render", help="render reactions to mp4 for the human evaluation (default: when "
                                               "the render extra works)")),
        P("as_json", K, annotation=bool, default=typer.Option(False, "--json", help="print results.json")),
    ]
    doc = """Benchmark a release: train or load HERO, evaluate with 20 replications, write report.md + results.json.

    Motions longer than the preset's max_motion_length (tiny: 40) are trained on seeded random windows of that
    many frames and evaluated on their first max_motion_length frames; the report notes how many were cut.

    Training split: vimo bench vimo-1.0/ --split t2 --evaluator bench/vimo-1.0/evaluator/evaluator.tar --out
    bench/vimo-1.0-t2 (scored with the base benchmark's evaluator; vimo leaderboard ranks base and t2 as rows of
    one table and refuses results of different evaluators or protocols).
    """
    params = config_parameters(BenchConfig, SPECS, skip=HIDDEN) + human
    return with_signature(lambda **kw: _bench(**kw), params, name="bench", doc=doc)


bench = _build_bench()


def print_validity(results) -> None:
    """One line for a valid benchmark; INVALID and its reasons (one line each) otherwise."""
    if results.get("valid"):
        result.print("[green]valid[/]: sanity ladder in order, no collapse, metrics finite")
        return
    reasons = results.get("invalid_reasons") or []
    result.print(f"[red]INVALID[/] benchmark ({len(reasons)} reasons; vimo leaderboard refuses it unless "
                  f"--show-invalid):")
    for r in reasons:
        result.print(f"  - {r}", markup=False, highlight=False, soft_wrap=True)


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
    result.print(f"[green]human eval[/] {name}: round {pushed.round_id}, {pushed.tasks} blind tasks; mapping "
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
        result.print(f"{v}: Re.Plau. " + (f"{rp['mean']:.2f} ± {rp['ci95']:.2f}" if rp else "-"))
    result.print(f"[green]human eval[/] {name}: {entry['ratings']} ratings by {entry['annotators']} annotators "
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

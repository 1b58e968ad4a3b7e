"""`vimo train rvq|mask|res`: train the reference HERO on a release (faithful recipe by default).

Examples:
    vimo train rvq  vimo-1.0/ --out runs/rvq --init-from rvq_nq6_dc512_nc512_noshare_qdp0.2/model/net_best_fid.tar
    vimo train mask vimo-1.0/ --out runs/mask --rvq runs/rvq --encoder tc-clip=zero_shot_k400_tc_clip.pth
    vimo train res  vimo-1.0/ --out runs/res  --rvq runs/rvq --encoder tc-clip=zero_shot_k400_tc_clip.pth
    vimo train rvq  demo_out/release --out runs/tiny_rvq --preset tiny          # CPU-sized
    torchrun --nproc_per_node=2 -m vimo train mask vimo-1.0/ --out runs/mask --rvq runs/rvq
    vimo train rvq --config runs/rvq/run.json --max-steps 100    # a config file replaces the flags
    vimo train rvq  vimo-1.0/ --split t2 --out runs/t2/rvq          # T2 training split (its own Mean/Std)
    vimo train mask vimo-1.0/ --train-list my_pairs.txt --out runs/custom/mask --rvq runs/custom/rvq
Re-running the same command after a kill resumes from <out>/model/latest.tar.
Motions longer than the preset's max_motion_length (tiny: 40 frames, hero: 200) are trained on a seeded random
window of max_motion_length frames, new every epoch (the official crop rule is drawn first); shorter motions keep
the official crops. The count is printed and recorded in run.json ("notes").
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from vimo.cli.options import Spec, config_parameters, config_values, explicit_fields, with_signature

console = Console(stderr=True)
result = Console()  # results on stdout; progress, notes and errors on stderr

#: how TrainConfig's fields appear on the command line (the rest: --<field-name>, help = the field's docstring)
SPECS = {
    "stage": Spec(argument=True, help="rvq | mask | res"),
    "release": Spec(argument=True, optional=True),  # required unless --config gives it
    "out": Spec(short="-o", optional=True),
    "rvq_dir": Spec(flag="--rvq"),
    "preset": Spec(help="hero (paper sizes) or tiny (CPU)"),
}


def _train(ctx: typer.Context, config: Optional[Path] = None, as_json: bool = False, **kwargs: Any) -> None:
    from vimo.errors import InputFormatError
    from vimo.models.train import TrainConfig, config_from_file, main_from_env
    from vimo.threads import configure_torch_threads

    values = config_values(kwargs, TrainConfig)
    if config is None:
        if values.get("release") is None or values.get("out") is None:
            raise InputFormatError("RELEASE and --out are required without --config",
                                   fix="pass: vimo train STAGE RELEASE --out DIR, or --config FILE")
        cfg = TrainConfig(**values)
    else:  # the file, then every flag given on the command line (even with its default value)
        given = explicit_fields(ctx, TrainConfig) | {"stage"}
        cfg = config_from_file(config, **{k: values[k] for k in given})
    configure_torch_threads()  # intra-op threads sized to the free cores (vimo.threads)
    summary = main_from_env(cfg)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    last = summary["last"]
    for note in summary.get("notes", []):
        console.print(f"[yellow]note[/] {note}")
    state = "finished" if summary["finished"] else "stopped (re-run to resume)"
    result.print(f"[green]{cfg.stage}[/] {state}: {summary['steps']} steps, epoch {summary['epoch']}, "
                  f"loss {last.get('loss', float('nan')):.4f} -> {summary['latest']}")


def _build() -> Any:
    from vimo.models.train import TrainConfig

    P = inspect.Parameter
    params = [P("ctx", P.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
    generated = config_parameters(TrainConfig, SPECS)
    params += [p for p in generated if p.name in ("cfg_stage", "cfg_release")]
    params.append(P("config", P.KEYWORD_ONLY, annotation=Optional[Path], default=typer.Option(
        None, "--config", help="JSON of TrainConfig fields (e.g. a run.json); flags given on the command line win")))
    params += [p for p in generated if p.name not in ("cfg_stage", "cfg_release")]
    params.append(P("as_json", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(
        False, "--json", help="print the run summary as JSON")))
    return with_signature(lambda ctx, config=None, as_json=False, **kw: _train(ctx, config, as_json, **kw), params,
                          name="train",
                          doc="Train one stage of HERO (rvq, then mask and res).")


train = _build()

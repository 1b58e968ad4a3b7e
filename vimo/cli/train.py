"""`vimo train rvq|mask|res`: train the reference HERO on a release (faithful recipe by default).

Examples:
    vimo train rvq  --release vimo-1.0/ --out runs/rvq --init-from rvq_nq6_dc512_nc512_noshare_qdp0.2/model/net_best_fid.tar
    vimo train mask --release vimo-1.0/ --out runs/mask --rvq runs/rvq --encoder tc-clip=zero_shot_k400_tc_clip.pth
    vimo train res  --release vimo-1.0/ --out runs/res  --rvq runs/rvq --encoder tc-clip=zero_shot_k400_tc_clip.pth
    vimo train rvq  --release demo_out/release --out runs/tiny_rvq --preset tiny          # CPU-sized
    torchrun --nproc_per_node=2 -m vimo train mask --release vimo-1.0/ --out runs/mask --rvq runs/rvq
    vimo train rvq --config runs/rvq/run.json --max-steps 100    # a config file replaces the flags
    vimo train rvq  --release vimo-1.0/ --split t2 --out runs/t2/rvq          # T2 training split (its own Mean/Std)
    vimo train mask --release vimo-1.0/ --train-list my_pairs.txt --out runs/custom/mask --rvq runs/custom/rvq
Re-running the same command after a kill resumes from <out>/model/latest.tar.
Motions longer than the preset's max_motion_length (tiny: 40 frames, hero: 200) are trained on a seeded random
window of max_motion_length frames, new every epoch (the official crop rule is drawn first); shorter motions keep
the official crops. The count is printed and recorded in run.json ("notes").
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

console = Console(stderr=True)


def train(stage: str = typer.Argument(..., help="rvq | mask | res"),
          release: Optional[Path] = typer.Option(None, "--release", help="HERO-readable release folder"),
          out: Optional[Path] = typer.Option(None, "--out", "-o", help="run folder (resumed if it holds model/latest.tar)"),
          split: Optional[str] = typer.Option(None, "--split", help="training split of the release: base (default), "
                                              "or a splits/<name>/ folder (t2, t3, seen_unseen) with its own "
                                              "train list and Mean/Std"),
          train_list: Optional[Path] = typer.Option(None, "--train-list", help="'<video> <motion>' list replacing "
                                                    "train.txt (absolute or relative to the release; base "
                                                    "statistics)"),
          config: Optional[Path] = typer.Option(None, "--config", help="JSON of TrainConfig fields (e.g. a run.json); "
                                                "flags given on the command line win"),
          preset: str = typer.Option("hero", help="hero (paper sizes) or tiny (CPU)"),
          rvq: Optional[Path] = typer.Option(None, "--rvq", help="RVQ run folder (mask / res stages)"),
          init_from: Optional[Path] = typer.Option(None, "--init-from", help="MoMask/HERO RVQ checkpoint to fine-tune"),
          keep_codebooks: bool = typer.Option(False, help="keep the loaded codebooks (official: re-initialised)"),
          resample_each_epoch: bool = typer.Option(False, help="new crops / batch order each epoch (official: frozen)"),
          feat_bias_times: int = typer.Option(2, help="feat_bias divisions of root/contact std (official result: 2)"),
          encoder: str = typer.Option("pixel", help="pixel | tc-clip=PATH | openai-clip=PATH"),
          feature_cache: Optional[Path] = typer.Option(None, help="video feature cache (default <out>/video_features)"),
          epochs: Optional[int] = typer.Option(None, help="override the preset's epochs"),
          batch_size: Optional[int] = typer.Option(None, help="override the batch size (per process)"),
          max_steps: Optional[int] = typer.Option(None, help="stop after this many steps in total"),
          save_every: int = typer.Option(500, help="save latest.tar every N steps"),
          seed: Optional[int] = typer.Option(None, help="seed (default 3407)"),
          device: str = typer.Option("cpu", help="torch device, e.g. cuda"),
          precision: str = typer.Option("fp32", help="fp32 (official) or bf16 autocast"),
          progress: bool = typer.Option(True, help="show a progress bar")) -> None:
    """Train one stage of HERO (rvq, then mask and res)."""
    import inspect

    from vimo.errors import InputFormatError
    from vimo.models.train import config_from_file, main_from_env

    given = dict(stage=stage, release=release, out=out, split=split, train_list=train_list, preset=preset,
                 rvq_dir=rvq, init_from=init_from,
                 keep_codebooks=keep_codebooks, resample_each_epoch=resample_each_epoch,
                 feat_bias_times=feat_bias_times, encoder=encoder, feature_cache=feature_cache, epochs=epochs,
                 batch_size=batch_size, max_steps=max_steps, save_every=save_every, seed=seed, device=device,
                 precision=precision, progress=progress)
    if config is None:
        if release is None or out is None:
            raise InputFormatError("--release and --out are required without --config",
                                   fix="pass --release DIR --out DIR, or --config FILE")
        from vimo.models.train import TrainConfig
        cfg = TrainConfig(**given)
    else:
        names = {"rvq_dir": "rvq"}
        defaults = {k: p.default.default for k, p in inspect.signature(train).parameters.items()
                    if hasattr(p.default, "default")}
        changed = {k: v for k, v in given.items() if k == "stage" or v != defaults.get(names.get(k, k))}
        cfg = config_from_file(config, **changed)
    summary = main_from_env(cfg)
    last = summary["last"]
    for note in summary.get("notes", []):
        console.print(f"[yellow]note[/] {note}")
    state = "finished" if summary["finished"] else "stopped (re-run to resume)"
    console.print(f"[green]{stage}[/] {state}: {summary['steps']} steps, epoch {summary['epoch']}, "
                  f"loss {last.get('loss', float('nan')):.4f} -> {summary['latest']}")

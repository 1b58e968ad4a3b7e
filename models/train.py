"""Trainer of the reference HERO: `rvq` (RVQ-VAE fine-tune), `mask` (masked transformer), `res` (residual).

The official recipe (AdamW (0.9, 0.99), linear warm-up written into the optimiser for it = 1..W-1, then
MultiStepLR; the RVQ trainer steps the scheduler only from it >= W, the transformer trainers every iteration)
and the official data quirks are the defaults; deviations are flags of `TrainConfig`.

A run folder mirrors the official one: `model/latest.tar` (official keys + a `vimo` entry with the step,
position in the epoch, RNG states, EMA codebook statistics and metrics), `meta/{mean,std}.npy` (RVQ stage),
`opt.txt`, plus `run.json` and `metrics.csv`. A killed run resumes from `latest.tar` where it stopped;
the data order is a function of (seed, epoch), so a resumed run continues the same sequence of batches.

Example:
    from vimo.models.train import TrainConfig, train
    train(TrainConfig(stage="rvq", release="vimo-1.0", out="runs/rvq", preset="tiny"))
"""
from __future__ import annotations

import csv
import gc
import io
import json
import os
import random
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from vimo.atomic import save_npy, write_bytes, write_json, write_text
from vimo.errors import InputFormatError
from vimo.models.checkpoints import CheckpointError, entry, load_strict, read_checkpoint
from vimo.models.configs import Preset, StageRecipe, preset
from vimo.models.data import (
    LONGER_WINDOW, MotionWindows, ReactionPlan, ReleaseFolder, padded_motion, rvq_normalisation, window_batches,
)
from vimo.models.rvq import RVQVAE, check_finite, rvq_loss
from vimo.models.transformers import MaskTransformer, ResidualTransformer
from vimo.models.video_encoder import (
    FeatureCache, PixelStatsEncoder, load_openai_clip, load_tc_clip, read_video_frames,
)

STAGES = ("rvq", "mask", "res")
CHECKPOINT_FORMAT = "vimo-hero-train/1"
#: official state-dict / optimiser entry names of each stage's checkpoint
MODEL_KEY = {"rvq": "vq_model", "mask": "t2m_transformer", "res": "res_transformer"}
OPT_KEY = {"rvq": "opt_vq_model", "mask": "opt_t2m_transformer", "res": "opt_res_transformer"}


@dataclass
class TrainConfig:
    """One training run of one stage."""

    stage: str
    """`rvq`, `mask` or `res`"""
    release: Path
    """HERO-readable release root (vector_263/, Mean.npy, Std.npy, train.txt, motions_train.txt, videos)"""
    out: Path
    """run folder (created; an existing `model/latest.tar` there is resumed)"""
    split: str | None = None
    """training split of the release: `base` / None (train.txt), or a `splits/<name>/` folder (`t2`, `t3`,
    `seen_unseen`): its train list, its own Mean/Std, and its test list when it has one (see ReleaseFolder)"""
    train_list: Path | None = None
    """a '<video> <motion>' list (absolute or relative to the release) replacing train.txt only (base
    statistics and test list); exclusive with `split`"""
    preset: str | Preset = "hero"
    """model sizes and recipe: `hero` (paper), `tiny` (CPU), or a Preset object"""
    rvq_dir: Path | None = None
    """run folder of the trained RVQ (mask/res stages): its model and meta/{mean,std}.npy are used"""
    init_from: Path | None = None
    """RVQ stage: a MoMask/HERO RVQ checkpoint (`net_best_fid.tar`) to fine-tune from"""
    keep_codebooks: bool = False
    """RVQ fine-tune: keep the loaded codebooks (deviation; official: re-initialised from the first batch)"""
    resample_each_epoch: bool = False
    """transformer stages: new crops and batch order every epoch (deviation; official: frozen for all epochs)"""
    feat_bias_times: int = 2
    """how often feat_bias divides the root/contact std (official result: 2, i.e. ÷25; intended: 1)"""
    encoder: str = "pixel"
    """video encoder: `pixel` (weight-free default), `tc-clip=PATH` (HERO) or `openai-clip=PATH`"""
    feature_cache: Path | None = None
    """video feature cache folder (default: <out>/video_features)"""
    epochs: int | None = None
    """override the preset's epochs (exactly: the recipe's `min_steps` then does not apply)"""
    batch_size: int | None = None
    """override the preset's batch size (per process under torchrun)"""
    max_steps: int | None = None
    """stop (after saving) once this many optimiser steps are done in total"""
    save_every: int = 500
    """save `latest.tar` every this many steps (and at every epoch end)"""
    seed: int | None = None
    """seed (default: the preset's, 3407)"""
    device: str = "cpu"
    """torch device"""
    progress: bool = True
    """show a rich progress bar"""
    precision: str = "fp32"
    """`fp32` (official) or `bf16` (autocast of the forward pass; the RVQ quantiser stays fp32)"""


@dataclass
class RunState:
    """Where a run is: epochs done, batches done in the current epoch, total optimiser steps."""

    epoch: int = 0
    batch_in_epoch: int = 0
    total_it: int = 0
    metrics: list[dict[str, float]] = field(default_factory=list)


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def build_encoder(spec: str, video_dim: int):
    """`pixel` | `tc-clip=PATH` | `openai-clip=PATH` -> a frozen frame encoder with `encoder_id`, `out_dim`."""
    kind, _, path = spec.partition("=")
    if kind == "pixel" and not path:
        return PixelStatsEncoder(out_dim=video_dim)
    if kind == "tc-clip" and path:
        enc = load_tc_clip(path)
    elif kind == "openai-clip" and path:
        enc = load_openai_clip(path, temporal_context=False)
    else:
        raise InputFormatError(f"unknown video encoder '{spec}'",
                               fix="use pixel, tc-clip=PATH or openai-clip=PATH")
    if enc.out_dim != video_dim:
        raise InputFormatError(f"encoder '{spec}' gives {enc.out_dim}-d features, the preset expects {video_dim}",
                               fix="use the hero preset with CLIP towers")
    return enc


def load_video_frames(path: Path) -> np.ndarray:
    """A video file (mp4, ...) or an (F, H, W, 3) uint8 `.npy` frames array."""
    if path.suffix == ".npy":
        from vimo.atomic import load_npy
        return load_npy(path, what="video frames")
    return read_video_frames(path)


def release_video_features(release: ReleaseFolder, videos: list[str], encoder, cache: FeatureCache) -> dict:
    """video relpath -> (16, D) float32 features, through the cache (frames are decoded only on a miss)."""
    out = {}
    for rel in dict.fromkeys(videos):
        path = release.path(rel)
        if not path.is_file():
            raise InputFormatError("video file does not exist", path=path, fix="check the release's train.txt")
        if path.suffix == ".npy":
            out[rel] = cache.features(load_video_frames(path), encoder)
        else:
            out[rel] = cache.features(path, encoder)
    return out


def rank_share(batch: list, rank: int, world: int) -> list:
    """The contiguous part of a global batch that process `rank` trains on; a batch that does not split
    evenly is padded by repeating its first samples (as torch's DistributedSampler pads an epoch)."""
    share = -(-len(batch) // world)
    padded = list(batch) + list(batch)[: share * world - len(batch)]
    while len(padded) < share * world:
        padded += list(batch)
    return padded[rank * share:(rank + 1) * share]


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": _py_state_to_list(random.getstate()),
             "numpy": _np_state_to_list(np.random.get_state())}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _py_state_to_list(st):
    return [st[0], list(st[1]), st[2]]


def _np_state_to_list(st):
    return [st[0], torch.from_numpy(st[1].astype(np.int64)), int(st[2]), int(st[3]), float(st[4])]


def _restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    npst = state["numpy"]
    np.random.set_state((npst[0], npst[1].numpy().astype(np.uint32), npst[2], npst[3], npst[4]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class _Stage:
    """What differs between stages: model, batches of an epoch, loss of a batch, extra checkpoint state."""

    model: nn.Module
    scheduler_from_warm_up: bool
    notes: list[str] = []
    """data rules applied (e.g. motions longer than max_motion_length), recorded in run.json and the summary"""

    def batches(self, epoch: int) -> list: ...

    def loss(self, batch) -> tuple[torch.Tensor, dict[str, float], int]: ...

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass


class _RVQStage(_Stage):
    scheduler_from_warm_up = True

    def __init__(self, cfg: TrainConfig, p: Preset, release: ReleaseFolder, batch_size: int, seed: int, device):
        self.device, self.seed, self.batch_size = device, seed, batch_size
        mean, std = rvq_normalisation(*release.statistics(), p.feat_bias, cfg.feat_bias_times)
        self.mean, self.std = mean, std
        self.windows = MotionWindows([release.motion(r) for r in release.motions("train")], p.window, mean, std)
        self.model = RVQVAE(p.rvq)
        if cfg.init_from is not None:
            ckpt = read_checkpoint(cfg.init_from, what="RVQ-VAE checkpoint")
            load_strict(self.model, entry(ckpt, "vq_model", cfg.init_from), cfg.init_from, what="RVQ-VAE state dict")
            if cfg.keep_codebooks:
                self.model.keep_codebooks()
        self.model.to(device)

    def batches(self, epoch: int) -> list:
        return window_batches(len(self.windows), self.batch_size, self.seed, epoch)

    def loss(self, batch):
        x = torch.from_numpy(np.stack([self.windows[int(i)] for i in batch])).float().to(self.device)
        pred, commit, perplexity = self.model(x)
        total, parts = rvq_loss(pred, x, commit)
        parts["perplexity"] = float(perplexity)
        return total, parts, len(batch)

    def extra_state(self):
        return {"rvq_ema": _unwrap(self.model).ema_state()}

    def load_extra_state(self, state):
        _unwrap(self.model).load_ema_state(state["rvq_ema"])


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def load_rvq_run(rvq_dir: Path, p: Preset, device) -> tuple[RVQVAE, np.ndarray, np.ndarray]:
    """The RVQ of a run folder (`net_best_fid.tar` if present, else `latest.tar`) and its meta mean/std."""
    rvq_dir = Path(rvq_dir)
    model_dir = rvq_dir / "model"
    path = model_dir / "net_best_fid.tar"
    if not path.is_file():
        path = model_dir / "latest.tar"
    ckpt = read_checkpoint(path, what="RVQ-VAE checkpoint")
    model = RVQVAE(p.rvq)
    load_strict(model, entry(ckpt, "vq_model", path), path, what="RVQ-VAE state dict")
    from vimo.atomic import load_npy
    mean = load_npy(rvq_dir / "meta" / "mean.npy", what="RVQ meta mean").astype(np.float32)
    std = load_npy(rvq_dir / "meta" / "std.npy", what="RVQ meta std").astype(np.float32)
    return model.to(device).eval().requires_grad_(False), mean, std


class _TransformerStage(_Stage):
    scheduler_from_warm_up = False

    def __init__(self, cfg: TrainConfig, p: Preset, release: ReleaseFolder, batch_size: int, seed: int, device):
        if cfg.rvq_dir is None:
            raise InputFormatError(f"the {cfg.stage} stage needs the RVQ run folder", fix="pass --rvq DIR")
        self.device, self.p = device, p
        self.rvq, self.mean, self.std = load_rvq_run(cfg.rvq_dir, p, device)
        pairs = release.pairs("train")
        self.motions = [release.motion(m) for _, m in pairs]
        self.videos = [v for v, _ in pairs]
        encoder = build_encoder(cfg.encoder, p.transformer.video_dim)
        cache = FeatureCache.for_run(cfg.out, cfg.feature_cache)
        self.features = release_video_features(release, self.videos, encoder, cache)
        # motions longer than max_motion_length: a seeded random window of it, new every epoch (data.py)
        self.plan = ReactionPlan([m.shape[0] for m in self.motions], batch_size, seed, unit=p.unit_length,
                                 max_length=p.max_motion_length, frozen=not cfg.resample_each_epoch,
                                 longer=LONGER_WINDOW)
        self.notes = [n for n in [self.plan.longer_note("training pairs")] if n]
        self.model = (MaskTransformer if cfg.stage == "mask" else ResidualTransformer)(p.transformer).to(device)
        self.stage = cfg.stage

    def batches(self, epoch: int) -> list:
        return self.plan.epoch(epoch)

    def loss(self, batch):
        video = torch.from_numpy(np.stack([self.features[self.videos[c.index]] for c in batch])).to(self.device)
        motion = torch.from_numpy(np.stack([padded_motion(self.motions[c.index], c, self.mean, self.std,
                                                          self.p.max_motion_length) for c in batch])).to(self.device)
        m_lens = torch.tensor([c.length for c in batch], device=self.device) // self.p.unit_length
        codes = self.rvq.encode(motion)
        target = codes[..., 0] if self.stage == "mask" else codes
        loss, acc = self.model(target, video, m_lens)
        return loss, {"loss": float(loss.detach()), "acc": float(acc)}, len(batch)


def _write_opt_txt(path: Path, cfg: TrainConfig, p: Preset, recipe: StageRecipe, batch_size: int, epochs: int,
                   seed: int) -> None:
    opts = {"name": Path(cfg.out).name, "dataset_name": "vimo", "stage": cfg.stage, "preset": p.name,
            "batch_size": batch_size, "max_epoch": epochs, "lr": recipe.lr, "warm_up_iter": recipe.warm_up,
            "milestones": list(recipe.milestones),
            "relative_milestones": list(recipe.relative_milestones), "gamma": recipe.gamma, "weight_decay": recipe.weight_decay,
            "seed": seed, "window_size": p.window, "max_motion_length": p.max_motion_length,
            "unit_length": p.unit_length, "feat_bias": p.feat_bias, **{f"rvq_{k}": v for k, v in asdict(p.rvq).items()},
            **{f"trans_{k}": v for k, v in asdict(p.transformer).items()}}
    lines = ["------------ Options -------------"] + [f"{k}: {v}" for k, v in opts.items()]
    write_text(path, "\n".join(lines + ["-------------- End ----------------", ""]))


def _metrics_csv(rows: list[dict[str, float]]) -> str:
    if not rows:
        return ""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def config_from_file(path: str | Path, **overrides: Any) -> TrainConfig:
    """A TrainConfig from a JSON file of its fields (e.g. the `config` of a run's run.json), then `overrides`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputFormatError(f"is not a readable JSON config ({exc})", path=path, fix="pass a JSON object") from None
    data = data.get("config", data) if isinstance(data, dict) else data
    if not isinstance(data, dict):
        raise InputFormatError("holds no JSON object", path=path, fix="write the TrainConfig fields as an object")
    known = {f.name for f in fields(TrainConfig)}
    unknown = [k for k in data if k not in known]
    if unknown:
        raise InputFormatError(f"has unknown field '{unknown[0]}'", path=path, fix=f"use: {', '.join(sorted(known))}")
    merged = {**data, **overrides}
    for key in ("stage", "release", "out"):
        if merged.get(key) in (None, ""):
            raise InputFormatError(f"config lacks '{key}'", path=path, fix=f"add '{key}' to the file or pass it")
    for key in ("release", "out", "rvq_dir", "init_from", "feature_cache", "train_list"):
        if merged.get(key) is not None:
            merged[key] = Path(merged[key])
    return TrainConfig(**merged)


def parameter_order(model: nn.Module) -> list[str]:
    """Names of the trainable parameters in the order the optimiser state lists them (the official modules')."""
    return [n for n, q in _unwrap(model).named_parameters() if q.requires_grad]


def check_parameter_order(meta: dict[str, Any], model: nn.Module, latest: Path) -> None:
    """Refuse an optimiser state whose positions belong to other parameters: transformer checkpoints written before
    vimo registered parameters in the official order (no `parameter_order` recorded) would silently swap the
    Adam moments of the intention block's key/query (or fail on the residual tables' shapes)."""
    recorded = meta.get("parameter_order")
    if recorded is None and meta.get("stage") == "rvq":
        return  # the RVQ-VAE's order never changed
    if recorded != parameter_order(model):
        why = "records no parameter order (written by an earlier vimo)" if recorded is None else \
            "lists its optimiser state in another parameter order"
        raise CheckpointError(f"{why}: resuming would give Adam moments to the wrong parameters", path=latest,
                              fix="start the stage again in a new --out folder (its net_best_fid.tar still loads)")


def check_resumable(meta: dict[str, Any], stage: str, p: Preset, split: str, latest: Path) -> None:
    """Refuse to resume `latest` unless it was written by a run of the same stage, preset, model variant and
    training split. A checkpoint that does not record its variant takes the one of its run.json (the preset's
    `variant`), else `hero`; one that does not record its split was trained on `base`."""
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"is not a vimo training checkpoint (format {meta.get('format')!r})", path=latest,
                              fix="use a new --out folder for this run")
    variant = meta.get("variant")
    if variant is None:
        try:
            variant = json.loads((latest.parent.parent / "run.json").read_text())["preset"].get("variant")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            variant = None
    found = {"stage": meta.get("stage"), "preset": meta.get("preset"), "variant": variant or "hero",
             "split": meta.get("split", "base")}
    wanted = {"stage": stage, "preset": p.name, "variant": p.variant, "split": split}
    for key, value in wanted.items():
        if found[key] != value:
            raise CheckpointError(f"was written by a run of {key} {found[key]!r}, this run is {key} {value!r} "
                                  f"(stage {found['stage']}, preset {found['preset']}, variant {found['variant']}, "
                                  f"split {found['split']})",
                                  path=latest, fix=f"use a new --out folder for this {key}")


def _config_dict(cfg: TrainConfig) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}


def train(cfg: TrainConfig, *, evaluate: Callable[[nn.Module, int], dict[str, float]] | None = None) -> dict:
    """Run (or resume) one stage; returns a summary (steps, epochs, last metrics, paths).

    `evaluate(model, epoch)` -> metrics with 'fid', when given, is called after the epochs the recipe evaluates
    and keeps `model/net_best_fid.tar` at the lowest FID (the official checkpoint selection)."""
    run = _Run(cfg)
    run.resume_or_start()
    with _progress_bar(cfg, run) as advance:
        run.loop(evaluate, advance)
    return run.summary()


class _Run:
    """One stage's training run: set-up (release, stage, model, optimiser), resume, one optimiser step, epoch
    ends with evaluation, checkpoints. `train` wires them; DDP shares the global batch over processes."""

    def __init__(self, cfg: TrainConfig):
        if cfg.precision not in ("fp32", "bf16"):
            raise InputFormatError(f"unknown precision '{cfg.precision}'", fix="use fp32 or bf16")
        if cfg.stage not in STAGES:
            raise InputFormatError(f"unknown stage '{cfg.stage}'", fix=f"use one of: {', '.join(STAGES)}")
        self.cfg = cfg
        self.p = cfg.preset if isinstance(cfg.preset, Preset) else preset(cfg.preset)
        self.recipe = self.p.recipe(cfg.stage)
        self.seed = self.p.seed if cfg.seed is None else cfg.seed
        self.batch_size = cfg.batch_size or self.recipe.batch_size
        self.rank, self.world = _world()
        self.device = torch.device(cfg.device)
        self.out = Path(cfg.out)
        self.model_dir = self.out / "model"
        self.latest = self.model_dir / "latest.tar"
        seed_everything(self.seed)

        self.release = ReleaseFolder(cfg.release, cfg.split, cfg.train_list)
        # the global batch is split over processes: world x batch_size samples per optimiser step
        self.stage: _Stage = (_RVQStage if cfg.stage == "rvq" else _TransformerStage)(
            cfg, self.p, self.release, self.batch_size * self.world, self.seed, self.device)
        self.model = self.stage.model
        if self.world > 1:
            self.model = nn.parallel.DistributedDataParallel(self.model)
            self.stage.model = self.model
        self.steps_per_epoch = len(self.stage.batches(0))
        self.epochs = self.recipe.resolved_epochs(self.steps_per_epoch, cfg.epochs)
        self.optimizer, self.scheduler = make_optimizer(self.model, self.recipe, self.epochs * self.steps_per_epoch,
                                                        self.stage.scheduler_from_warm_up)
        self.state = RunState()
        self.best_fid = float("inf")

    def resume_or_start(self) -> None:
        """Load `latest.tar` when the run folder has one (checked against this run), else write the run's
        description (run.json, opt.txt, the RVQ's normalisation)."""
        cfg, latest, model = self.cfg, self.latest, _unwrap(self.model)
        if self.latest.is_file():
            ckpt = read_checkpoint(latest, what="training checkpoint")
            meta = entry(ckpt, "vimo", latest, what="training checkpoint")
            check_resumable(meta, cfg.stage, self.p, self.release.split_name, latest)
            check_parameter_order(meta, model, latest)
            load_strict(model, entry(ckpt, MODEL_KEY[cfg.stage], latest), latest, what="model state dict")
            self.optimizer.load_state_dict(entry(ckpt, OPT_KEY[cfg.stage], latest))
            self.scheduler.load_state_dict(entry(ckpt, "scheduler", latest))
            self.stage.load_extra_state(meta)
            _restore_rng(meta["rng"])
            self.state = RunState(int(ckpt["ep"]), int(meta["batch_in_epoch"]), int(ckpt["total_it"]),
                                  list(meta["metrics"]))
            self.best_fid = float(meta.get("best_fid", self.best_fid))
        elif self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            write_json(self.out / "run.json", {"config": _config_dict(cfg), "preset": asdict(self.p),
                                               "variant": self.p.variant, "data": self.release.describe(),
                                               "world_size": self.world, "notes": self.stage.notes})
            _write_opt_txt(self.out / "opt.txt", cfg, self.p, self.recipe, self.batch_size, self.epochs, self.seed)
            if cfg.stage == "rvq":
                save_npy(self.out / "meta" / "mean.npy", self.stage.mean)
                save_npy(self.out / "meta" / "std.npy", self.stage.std)

    def save(self, path: Path, *, full: bool = True) -> None:
        """A checkpoint (rank 0 only): the model, and with `full` the optimiser, scheduler and resume state."""
        if self.rank != 0:
            return
        cfg, state = self.cfg, self.state
        obj: dict[str, Any] = {MODEL_KEY[cfg.stage]: _unwrap(self.model).state_dict(), "ep": state.epoch,
                               "total_it": state.total_it}
        if full:
            obj[OPT_KEY[cfg.stage]] = self.optimizer.state_dict()
            obj["scheduler"] = self.scheduler.state_dict()
            obj["vimo"] = {"format": CHECKPOINT_FORMAT, "stage": cfg.stage, "preset": self.p.name,
                           "variant": self.p.variant, "split": self.release.split_name,
                           "batch_in_epoch": state.batch_in_epoch, "rng": _rng_state(), "metrics": state.metrics,
                           "best_fid": self.best_fid, "world_size": self.world,
                           "parameter_order": parameter_order(self.model), **self.stage.extra_state()}
        buf = io.BytesIO()
        torch.save(obj, buf)
        write_bytes(path, buf.getvalue())
        write_text(self.out / "metrics.csv", _metrics_csv(state.metrics))

    def step(self, batch: Any) -> dict[str, float]:
        """One optimiser step on this process's share of a global batch; returns its logged metrics."""
        cfg, state, optimizer, world = self.cfg, self.state, self.optimizer, self.world
        if world > 1:
            batch = rank_share(batch, self.rank, world)
        t0 = time.perf_counter()
        state.total_it += 1
        it = state.total_it
        warm_up_lr(optimizer, self.recipe, it)
        self.model.train()
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
            loss, parts, n = self.stage.loss(batch)
        check_finite(loss.detach().reshape(1), f"{cfg.stage} training, step {it}",
                     fix="lower the learning rate of the preset's recipe, or check the release with `vimo release verify`")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        lr_used = optimizer.param_groups[0]["lr"]
        scheduler_step(self.scheduler, self.recipe, it, self.stage.scheduler_from_warm_up)
        if world > 1:  # log the loss of the global batch, not of this process's share
            mean_loss = torch.tensor([parts["loss"]], dtype=torch.float64)
            dist.all_reduce(mean_loss)
            parts["loss"] = float(mean_loss) / world
        state.batch_in_epoch += 1
        rate = n * world / max(time.perf_counter() - t0, 1e-9)
        row = {"step": it, "epoch": state.epoch, "lr": lr_used, **parts, "samples": n * world, "samples_per_s": rate}
        state.metrics.append(row)
        return row

    def end_epoch(self, evaluate: Callable[[nn.Module, int], dict[str, float]] | None) -> None:
        """Count the epoch; evaluate when the recipe asks and keep the best checkpoint by FID."""
        state = self.state
        state.epoch += 1
        state.batch_in_epoch = 0
        if evaluate is not None and self.rank == 0 and self.recipe.evaluates_after(state.epoch, self.epochs):
            scores = evaluate(_unwrap(self.model), state.epoch)
            state.metrics[-1].update({f"eval_{k}": v for k, v in scores.items()})
            if scores.get("fid", float("inf")) < self.best_fid:
                self.best_fid = scores["fid"]
                self.save(self.model_dir / "net_best_fid.tar", full=False)

    def loop(self, evaluate: Callable[[nn.Module, int], dict[str, float]] | None,
             advance: Callable[[dict[str, float]], None]) -> None:
        """Epochs until the budget or `max_steps`; `latest.tar` every `save_every` steps and at every epoch end."""
        cfg, state = self.cfg, self.state
        stopped = False
        while state.epoch < self.epochs and not stopped:
            batches = self.stage.batches(state.epoch)
            while state.batch_in_epoch < len(batches):
                row = self.step(batches[state.batch_in_epoch])
                advance(row)
                if cfg.max_steps is not None and state.total_it >= cfg.max_steps:
                    stopped = True
                    break
                if state.total_it % cfg.save_every == 0:
                    self.save(self.latest)
            if not stopped:
                self.end_epoch(evaluate)
            self.save(self.latest)

    def summary(self) -> dict:
        state = self.state
        return {"stage": self.cfg.stage, "steps": state.total_it, "epoch": state.epoch,
                "finished": state.epoch >= self.epochs, "last": state.metrics[-1] if state.metrics else {},
                "latest": str(self.latest), "world_size": self.world, "notes": list(self.stage.notes)}


@contextmanager
def _progress_bar(cfg: TrainConfig, run: _Run) -> Iterator[Callable[[dict[str, float]], None]]:
    """A rich progress bar on rank 0 when asked (else a no-op); yields the per-step update."""
    if not (cfg.progress and run.rank == 0):
        yield lambda row: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn(f"[bold]{cfg.stage}[/]"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[info]}"), TimeRemainingColumn())
    progress.start()
    task = progress.add_task(cfg.stage, total=run.epochs * run.steps_per_epoch, completed=run.state.total_it, info="")
    try:
        yield lambda row: progress.update(task, advance=1, info=f"loss {row['loss']:.4f}  "
                                                                f"{row['samples_per_s']:.1f} samples/s")
    finally:
        progress.stop()


def make_optimizer(model: nn.Module, recipe: StageRecipe, total_steps: int, scheduler_from_warm_up: bool):
    """AdamW over the trainable parameters and the MultiStepLR of a run of `total_steps` optimiser steps."""
    params = [q for q in model.parameters() if q.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=recipe.lr, betas=recipe.betas, weight_decay=recipe.weight_decay)
    milestones = recipe.resolved_milestones(total_steps, scheduler_from_warm_up=scheduler_from_warm_up)
    return optimizer, torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=recipe.gamma)


def warm_up_lr(optimizer: torch.optim.Optimizer, recipe: StageRecipe, it: int) -> None:
    """Official linear warm-up, written into the optimiser before step `it` (counted from 1) for it < warm_up."""
    if it < recipe.warm_up:
        _set_lr(optimizer, recipe.lr * (it + 1) / (recipe.warm_up + 1))


def scheduler_step(scheduler, recipe: StageRecipe, it: int, scheduler_from_warm_up: bool) -> None:
    """After step `it`: the RVQ trainer steps MultiStepLR only from it >= warm_up, the transformer trainers always."""
    if not scheduler_from_warm_up or it >= recipe.warm_up:
        scheduler.step()


def lr_schedule(recipe: StageRecipe, steps: int, *, scheduler_from_warm_up: bool) -> list[float]:
    """The learning rate used at iterations 1..steps of a run of `steps` steps, by the functions `train` uses."""
    optimizer, scheduler = make_optimizer(nn.Linear(1, 1), recipe, steps, scheduler_from_warm_up)
    out = []
    for it in range(1, steps + 1):
        warm_up_lr(optimizer, recipe, it)
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler_step(scheduler, recipe, it, scheduler_from_warm_up)
    return out


def main_from_env(cfg: TrainConfig) -> dict:
    """Entry for torchrun: initialise the gloo/nccl process group from the environment, train, tear down."""
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cfg.device.startswith("cuda") else "gloo")
        try:
            summary = train(cfg)
            dist.barrier()  # rank 0 may still be writing the checkpoint; tear down together
            return summary
        finally:
            # free the DDP model (its reducer holds gloo work) while the group is alive: left to interpreter
            # shutdown it can abort with "terminate called without an active exception" (seen once under load)
            gc.collect()
            dist.destroy_process_group()
    return train(cfg)

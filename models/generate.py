"""Reaction generation with trained HERO checkpoints: video -> codes -> 263-d features -> joints.

Inference as the official `gen.py` / evaluation: length rounded down to a multiple of 4 (max 200 frames, the
preset's max_motion_length in general: 40 for `tiny`);
masked transformer with 10 steps, CFG scale 4, top-k 0.9, temperature 1; residual transformer with CFG 5 and
Gumbel sampling; the RVQ decoder sums all 6 layers' codes; features are denormalised with the RVQ meta
statistics and joints recovered with `recover_from_ric`.

A checkpoints folder holds three run folders, named either `rvq/`, `mask/`, `res/` (vimo runs) or as the
official release (`rvq_bs256_finetune_ep10/`, `mtrans_memo_cross_l6_bs64_ep200/`, `rtrans_memo_cross_l6_bs64_ep200/`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vimo.errors import InputFormatError
from vimo.models.checkpoints import CheckpointError, entry, load_strict, read_checkpoint
from vimo.models.configs import Preset, preset
from vimo.models.rvq import RVQVAE
from vimo.models.train import load_rvq_run
from vimo.models.transformers import MaskTransformer, ResidualTransformer
from vimo.motion import recover_from_ric

RUN_NAMES = {"rvq": ("rvq", "rvq_bs256_finetune_ep10"),
             "mask": ("mask", "mtrans_memo_cross_l6_bs64_ep200"),
             "res": ("res", "rtrans_memo_cross_l6_bs64_ep200")}
MAX_FRAMES = 200


def _run_dir(root: Path, stage: str) -> Path:
    for name in RUN_NAMES[stage]:
        if (root / name / "model").is_dir():
            return root / name
    raise InputFormatError(f"has no {stage} run folder ({' or '.join(RUN_NAMES[stage])}/model/)", path=root,
                           fix="pass the folder holding the rvq, mask and res runs")


def _model_file(run: Path) -> Path:
    for name in ("net_best_fid.tar", "latest.tar"):
        if (run / "model" / name).is_file():
            return run / "model" / name
    raise CheckpointError("has no net_best_fid.tar or latest.tar", path=run / "model", fix="train the stage first")


@dataclass
class Hero:
    """The three trained networks and the RVQ normalisation statistics."""

    rvq: RVQVAE
    mask: MaskTransformer
    res: ResidualTransformer
    mean: np.ndarray
    std: np.ndarray
    preset: Preset


def load_hero(checkpoints: str | Path, preset_name: str | Preset = "hero", device: str = "cpu") -> Hero:
    """Load RVQ, masked and residual transformers (strictly) from a checkpoints folder."""
    root = Path(checkpoints)
    p = preset_name if isinstance(preset_name, Preset) else preset(preset_name)
    rvq, mean, std = load_rvq_run(_run_dir(root, "rvq"), p, device)
    nets = []
    for stage, cls, key in (("mask", MaskTransformer, "t2m_transformer"), ("res", ResidualTransformer, "res_transformer")):
        path = _model_file(_run_dir(root, stage))
        model = cls(p.transformer)
        load_strict(model, entry(read_checkpoint(path, what=f"{stage} checkpoint"), key, path), path,
                    what=f"{stage} state dict")
        nets.append(model.to(device).eval().requires_grad_(False))
    return Hero(rvq, nets[0], nets[1], mean, std, p)


def token_length(frames: int, unit: int = 4, max_frames: int = MAX_FRAMES) -> int:
    """Frames -> tokens: rounded down to a multiple of `unit`, at most `max_frames` (official: 200; a model
    generates at most its preset's max_motion_length, the longest sample it was trained on), at least one
    token."""
    if frames < unit:
        raise InputFormatError(f"length {frames} is shorter than one token ({unit} frames)",
                               fix=f"ask for at least {unit} frames")
    return min(frames, max_frames) // unit


@torch.no_grad()
def generate_reactions(hero: Hero, video_features: np.ndarray, *, frames: int = 88, samples: int = 1,
                       seed: int = 10107, mask_cond_scale: float = 4.0, res_cond_scale: float = 5.0,
                       time_steps: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(16, D) video features -> features (K, T, 263) float32 and joints (K, T, 22, 3), T = 4 * tokens;
    `frames` is capped at the preset's max_motion_length (200 for `hero`, as the official gen.py; 40 for `tiny`)."""
    if video_features.ndim != 2 or video_features.shape[1] != hero.preset.transformer.video_dim:
        raise InputFormatError(f"video features have shape {video_features.shape}, expected "
                               f"(16, {hero.preset.transformer.video_dim})", fix="use the encoder of the checkpoints")
    n = token_length(frames, hero.preset.unit_length, hero.preset.max_motion_length)
    torch.manual_seed(seed)
    device = next(hero.mask.parameters()).device
    video = torch.from_numpy(np.ascontiguousarray(video_features, np.float32)).to(device)
    video = video.unsqueeze(0).expand(samples, -1, -1)
    lens = torch.full((samples,), n, dtype=torch.long, device=device)
    base = hero.mask.generate(video, lens, time_steps=time_steps, cond_scale=mask_cond_scale)
    codes = hero.res.generate(base, video, lens, cond_scale=res_cond_scale)
    normed = hero.rvq.forward_decoder(codes).cpu().numpy()
    features = (normed * hero.std + hero.mean).astype(np.float32)
    return features, recover_from_ric(features).astype(np.float32)

"""Where the trained runs of each model variant live, and loading them for generation.

A checkpoints folder holds HERO's runs (`rvq/`, `mask/`, `res/`, or the official run names) and one sub-folder
per other variant (`no-iie/mask/`, `vqvae/rvq/`, ...). A variant whose RVQ-VAE has HERO's sizes shares HERO's
RVQ run (the ablations change only the transformers); the single-quantiser `vqvae` trains its own and has no
residual transformer.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from vimo.errors import InputFormatError
from vimo.models.checkpoints import entry, load_strict, read_checkpoint
from vimo.models.configs import Preset
from vimo.models.generate import Hero, _model_file, _run_dir
from vimo.models.train import load_rvq_run
from vimo.models.transformers import MaskTransformer, ResidualTransformer


@dataclass(frozen=True)
class VariantRuns:
    """The run folders of one variant under a checkpoints folder."""

    name: str
    root: Path
    """folder of the variant's own runs"""
    rvq: Path
    """RVQ run folder (HERO's when shared)"""
    stages: tuple[str, ...]
    """stages the variant trains: rvq (unless shared), mask, res (unless single-quantiser)"""

    def run(self, stage: str) -> Path:
        return self.rvq if stage == "rvq" else self.root / stage


def has_residual(p: Preset) -> bool:
    """Whether the variant has a residual transformer (more than one quantiser layer)."""
    return p.rvq.num_quantizers > 1


def variant_runs(base: str | Path, p: Preset, hero: Preset) -> VariantRuns:
    """Run folders of variant `p` (p.variant) under checkpoints folder `base`, HERO's sizes being `hero`."""
    base = Path(base)
    root = base if p.variant == "hero" else base / p.variant
    shared = p.variant != "hero" and p.rvq == hero.rvq
    if p.variant == "hero":
        rvq = _existing_run(base, "rvq")
    else:
        rvq = _existing_run(base, "rvq") if shared else root / "rvq"
    stages = (() if shared else ("rvq",)) + ("mask",) + (("res",) if has_residual(p) else ())
    return VariantRuns(p.variant, root, rvq, stages)


def _existing_run(root: Path, stage: str) -> Path:
    try:
        return _run_dir(root, stage)
    except InputFormatError:  # not trained yet: the vimo run name
        return root / stage


def load_variant(runs: VariantRuns, p: Preset, device: str | torch.device = "cpu") -> Hero:
    """The variant's networks, loaded strictly (`res` is None for a single-quantiser VQ-VAE)."""
    rvq, mean, std = load_rvq_run(runs.rvq, p, device)
    nets: dict[str, torch.nn.Module | None] = {"mask": None, "res": None}
    for stage, cls, key in (("mask", MaskTransformer, "t2m_transformer"), ("res", ResidualTransformer, "res_transformer")):
        if stage not in runs.stages:
            continue
        run = _run_dir(runs.root, stage) if runs.name == "hero" else runs.root / stage
        path = _model_file(run)
        model = cls(p.transformer)
        load_strict(model, entry(read_checkpoint(path, what=f"{stage} checkpoint"), key, path), path,
                    what=f"{runs.name} {stage} state dict")
        nets[stage] = model.to(device).eval().requires_grad_(False)
    return Hero(rvq, nets["mask"], nets["res"], mean, std, p)


def checkpoint_files(runs: VariantRuns) -> dict[str, Path]:
    """stage -> the checkpoint file the variant uses (net_best_fid.tar when present)."""
    out = {}
    for stage in ("rvq", "mask", "res"):
        if stage == "rvq" or stage in runs.stages:
            run = runs.rvq if stage == "rvq" else (_run_dir(runs.root, stage) if runs.name == "hero"
                                                  else runs.root / stage)
            out[stage] = _model_file(run)
    return out

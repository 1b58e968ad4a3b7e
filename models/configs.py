"""Configuration dataclasses of the reference HERO, with the `hero` (paper / official) and `tiny` (CPU) presets.

Every field has a docstring; the command line builds these dataclasses, and `preset(name)` returns them.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from vimo.errors import InputFormatError


@dataclass
class RVQConfig:
    """MoMask's residual VQ-VAE (HERO fine-tunes MoMask's HumanML3D model with these sizes)."""

    input_dim: int = 263
    """motion feature dimension (HumanML3D 263-d)"""
    width: int = 512
    """channels of the encoder / decoder convolutions"""
    code_dim: int = 512
    """dimension of a code vector (= encoder output width, `output_emb_width`)"""
    nb_code: int = 512
    """codes per codebook"""
    num_quantizers: int = 6
    """residual quantiser layers"""
    down_t: int = 2
    """number of stride-2 down-sampling stages (time / 2**down_t)"""
    stride_t: int = 2
    """temporal stride of each down-sampling conv"""
    depth: int = 3
    """residual blocks per Resnet1D"""
    dilation_growth_rate: int = 3
    """dilations are growth**0..depth-1, applied in reverse order (9, 3, 1)"""
    dropout: float = 0.2
    """dropout after the second conv of every residual block"""
    mu: float = 0.99
    """EMA decay of the codebook statistics"""
    quantize_dropout_prob: float = 0.2
    """per-batch probability of keeping only layers 0..s (s uniform) in training"""
    sample_codebook_temp: float = 0.5
    """temperature of the Gumbel-max code assignment in training (argmin at eval)"""


@dataclass
class TransformerConfig:
    """HERO's masked / residual transformers (memo_cross variant: decoder layers with frame cross-attention)."""

    num_tokens: int = 512
    """codebook size of the RVQ (logits per position of the masked transformer)"""
    code_dim: int = 512
    """token-embedding width (= RVQ code dim)"""
    latent_dim: int = 384
    """transformer width"""
    ff_size: int = 1024
    """feed-forward width of each decoder layer"""
    num_layers: int = 6
    """decoder layers (`n_layers`)"""
    num_heads: int = 6
    """attention heads of the decoder layers"""
    dropout: float = 0.2
    """dropout of the decoder layers and the positional encoding"""
    cond_drop_prob: float = 0.1
    """classifier-free-guidance dropout of the intention token in training"""
    video_dim: int = 512
    """video feature width (TC-CLIP projection: 512)"""
    iie_heads: int = 8
    """heads of the interaction-intention (global-local cross-attention) block"""
    iie_dropout: float = 0.1
    """attention / residual / MLP dropout of the intention block"""
    iie_mlp_ratio: int = 4
    """MLP expansion of the intention block"""
    num_quantizers: int = 6
    """RVQ layers (the residual transformer predicts layers 1..num_quantizers-1)"""
    max_len: int = 5000
    """length of the sinusoidal positional-encoding table"""
    intention: str = "iie"
    """prefix token: `iie` (HERO's interaction-intention block) or `pooled` (cond_emb of the mean frame feature
    v_g: the `no-iie` ablation and the MoMask / BAMM video baselines)"""
    frame_memory: bool = True
    """decoder layers cross-attending to the per-frame features (HERO's DIE); False: encoder layers, self-attention
    only (`no-die`, and the encoder-only MoMask / BAMM baselines, state-dict prefix `seqTransEncoder`)"""
    attention: str = "bidirectional"
    """masked-transformer self-attention in training: `bidirectional` (MoMask, HERO) or `hybrid` (BAMM-style: each
    sample is trained with a causal mask with probability `causal_prob`, else bidirectionally)"""
    causal_prob: float = 0.5
    """probability of the causal mask per training sample under `attention = hybrid`"""


def epochs_reaching(epochs: int, min_steps: int, steps_per_epoch: int) -> int:
    """`epochs`, raised so that at least `min_steps` optimiser steps run (0: no floor)."""
    if min_steps and steps_per_epoch > 0:
        return max(epochs, -(-min_steps // steps_per_epoch))
    return epochs


@dataclass
class StageRecipe:
    """Optimiser and schedule of one training stage (AdamW, linear warm-up, MultiStepLR)."""

    batch_size: int
    """samples per optimiser step (per process under DDP: the global batch is world_size times this)"""
    epochs: int
    """passes over the training set"""
    warm_up: int
    """warm-up iterations: lr = lr*(it+1)/(warm_up+1) for it = 1..warm_up-1"""
    milestones: tuple[int, ...]
    """MultiStepLR milestones, in scheduler steps"""
    gamma: float
    """lr factor at each milestone"""
    weight_decay: float
    """AdamW weight decay"""
    lr: float = 2e-4
    """base learning rate"""
    betas: tuple[float, float] = (0.9, 0.99)
    """AdamW betas"""
    min_steps: int = 0
    """CPU presets: when the epochs come from this recipe (not given by the caller), raise them until the run makes
    at least this many optimiser steps, so a small release still trains long enough to learn"""
    evaluations: int = 0
    """in-training evaluations (checkpoint selection): 0 = after every epoch (official); N = after about N evenly
    spaced epochs and always after the last (CPU presets, whose small releases make many short epochs)"""
    relative_milestones: tuple[float, ...] = ()
    """milestones as fractions of the scheduler steps of the whole run (epochs x batches per epoch, minus the
    warm-up where the scheduler starts after it), used instead of `milestones` when given: a CPU-sized run is
    far shorter than the official iteration counts, and fixed ones ended the tiny runs' training before it began"""

    def resolved_epochs(self, steps_per_epoch: int, epochs: int | None = None) -> int:
        """`epochs` when given, else this recipe's epochs raised to reach `min_steps` optimiser steps."""
        return epochs if epochs is not None else epochs_reaching(self.epochs, self.min_steps, steps_per_epoch)

    def evaluates_after(self, epoch: int, epochs: int) -> bool:
        """Whether the in-training evaluation runs after epoch `epoch` (1-based) of `epochs`."""
        if not self.evaluations or epoch >= epochs:
            return True
        every = max(1, epochs // self.evaluations)
        return epoch % every == 0

    def resolved_milestones(self, total_steps: int, *, scheduler_from_warm_up: bool) -> list[int]:
        """The MultiStepLR milestones (in scheduler steps) of a run of `total_steps` optimiser steps."""
        if not self.relative_milestones:
            return list(self.milestones)
        steps = total_steps - (self.warm_up - 1 if scheduler_from_warm_up else 0)
        return sorted({max(1, round(f * max(steps, 1))) for f in self.relative_milestones})


@dataclass
class Preset:
    """A named set of model sizes and stage recipes."""

    name: str
    """preset name (`hero` or `tiny`)"""
    rvq: RVQConfig = field(default_factory=RVQConfig)
    """RVQ-VAE sizes"""
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    """masked / residual transformer sizes"""
    rvq_recipe: StageRecipe = field(default_factory=lambda: StageRecipe(256, 10, 20, (1600, 3200), 0.05, 0.0))
    """RVQ-VAE fine-tune recipe"""
    mask_recipe: StageRecipe = field(default_factory=lambda: StageRecipe(64, 200, 250, (6000,), 0.1, 1e-5))
    """masked transformer recipe"""
    res_recipe: StageRecipe = field(default_factory=lambda: StageRecipe(64, 200, 250, (6000,), 0.1, 1e-5))
    """residual transformer recipe"""
    window: int = 20
    """RVQ training window in frames (HERO: 20; MoMask: 64)"""
    max_motion_length: int = 200
    """frames every transformer sample is padded to (50 tokens)"""
    unit_length: int = 4
    """frames per token (RVQ down-sampling)"""
    feat_bias: float = 5.0
    """divisor of the std of dims 0:4 and 259:263 (official loaders)"""
    seed: int = 3407
    """training seed of the official scripts"""
    variant: str = "hero"
    """the named model variant these sizes describe (`hero`, or an ablation / baseline of `VARIANTS`)"""

    def recipe(self, stage: str) -> StageRecipe:
        return {"rvq": self.rvq_recipe, "mask": self.mask_recipe, "res": self.res_recipe}[stage]


def _hero() -> Preset:
    return Preset(name="hero")


def _tiny() -> Preset:
    """CPU-sized networks with recipes that let them learn on a small release in minutes: the official learning
    rate (2e-4) and fixed milestones (iteration counts of a 3,500-pair dataset on a GPU) left the tiny networks
    untrained (RVQ lr at 3e-7 by step 101, reconstructions and generations collapsed to the mean motion), so the
    tiny recipes use higher rates, milestones at 70 % of each run and a minimum number of steps."""
    return Preset(
        name="tiny",
        rvq=RVQConfig(width=32, code_dim=16, nb_code=32, num_quantizers=6),
        transformer=TransformerConfig(num_tokens=32, code_dim=16, latent_dim=64, ff_size=128, num_layers=2,
                                      num_heads=2, dropout=0.1, video_dim=32, iie_heads=2, max_len=256),
        rvq_recipe=StageRecipe(8, 2, 2, (), 0.1, 0.0, lr=3e-3, min_steps=1000, evaluations=5,
                               relative_milestones=(0.7,)),
        mask_recipe=StageRecipe(8, 2, 20, (), 0.1, 1e-5, lr=2e-3, min_steps=2000, evaluations=10,
                                relative_milestones=(0.7,)),
        res_recipe=StageRecipe(8, 2, 20, (), 0.1, 1e-5, lr=2e-3, min_steps=2000, evaluations=10,
                               relative_milestones=(0.7,)),
        window=20, max_motion_length=40,
    )


PRESETS = {"hero": _hero, "tiny": _tiny}


@dataclass(frozen=True)
class Variant:
    """A named ablation or baseline of the reference model: a change of the preset's configs."""

    name: str
    """name accepted by `vimo bench --variant`"""
    description: str
    """what differs from HERO (one line, quoted in reports)"""
    rvq: dict = field(default_factory=dict)
    """RVQConfig fields replaced"""
    transformer: dict = field(default_factory=dict)
    """TransformerConfig fields replaced"""
    hero_layers: int | None = None
    """decoder/encoder layers under the full-size `hero` preset (the `tiny` preset keeps its own)"""

    def apply(self, p: Preset) -> Preset:
        """`p` with this variant's changes (the residual transformer follows the quantiser count)."""
        t = dict(self.transformer)
        if self.hero_layers is not None and p.name == "hero":
            t["num_layers"] = self.hero_layers
        if "num_quantizers" in self.rvq:
            t["num_quantizers"] = self.rvq["num_quantizers"]
        return replace(p, rvq=replace(p.rvq, **self.rvq), transformer=replace(p.transformer, **t), variant=self.name)


#: layer counts of the `layers-N` ablation (seed supplement Tab. 4)
LAYER_ABLATION = range(4, 9)

VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("hero", "HERO: RVQ-VAE (6 quantisers), IIE prefix token, DIE frame cross-attention"),
    Variant("vqvae", "a single-quantiser VQ-VAE in place of the RVQ-VAE; no residual transformer (seed Tab. 3)",
            rvq={"num_quantizers": 1}),
    Variant("no-iie", "w/o IIE: the mean-pooled video feature v_g is the prefix token (no intention block)",
            transformer={"intention": "pooled"}),
    Variant("no-die", "w/o DIE: no per-frame cross-attention (encoder layers, IIE prefix token only)",
            transformer={"frame_memory": False}),
    Variant("momask-video", "MoMask with the pooled video feature as its text condition (encoder-only, "
            "8 layers at full size)", transformer={"intention": "pooled", "frame_memory": False}, hero_layers=8),
    Variant("bamm-video", "BAMM-style: MoMask's encoder trained with hybrid causal/bidirectional attention, "
            "pooled video condition (8 layers at full size)",
            transformer={"intention": "pooled", "frame_memory": False, "attention": "hybrid"}, hero_layers=8),
    *(Variant(f"layers-{n}", f"HERO with N_layers = {n} decoder units (seed Tab. 4)",
              transformer={"num_layers": n}) for n in LAYER_ABLATION),
)}


def variant_preset(base: str | Preset, name: str) -> Preset:
    """The preset `base` (name or object) changed into the variant `name` (see `VARIANTS`)."""
    if name not in VARIANTS:
        raise InputFormatError(f"unknown model variant '{name}'", fix=f"use one of: {', '.join(VARIANTS)}")
    p = base if isinstance(base, Preset) else preset(base)
    return VARIANTS[name].apply(p)


def preset(name: str, **overrides) -> Preset:
    """The named preset, with top-level fields replaced by `overrides`."""
    if name not in PRESETS:
        raise InputFormatError(f"unknown preset '{name}'", fix=f"use one of: {', '.join(PRESETS)}")
    p = PRESETS[name]()
    known = {f.name for f in fields(Preset)}
    bad = [k for k in overrides if k not in known]
    if bad:
        raise InputFormatError(f"unknown preset field '{bad[0]}'", fix=f"use one of: {', '.join(sorted(known))}")
    return replace(p, **overrides)

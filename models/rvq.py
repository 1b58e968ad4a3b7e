"""MoMask's residual VQ-VAE (the motion tokenizer of HERO), with the official parameter names.

Motion features (B, T, 263), normalised, -> encoder (time / 4) -> 6 residual quantisers with EMA codebooks
-> decoder -> (B, T, 263). Official checkpoints (`net_best_fid.tar` = {'vq_model': state_dict, 'ep': int})
load strictly through `load_rvq_checkpoint`.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from vimo.errors import VimoError
from vimo.models.checkpoints import CheckpointError, entry, load_strict, read_checkpoint
from vimo.models.configs import RVQConfig

#: root-relative joint positions (dims 4:67), the second reconstruction term (`loss_vel` in the official code)
LOCAL_POSITIONS = slice(4, 67)


class ResConv1DBlock(nn.Module):
    """ReLU -> Conv1d(k3, dilation d) -> ReLU -> Conv1d(k1) -> Dropout -> + input (no norm layers)."""

    def __init__(self, width: int, dilation: int, dropout: float):
        super().__init__()
        self.conv1 = nn.Conv1d(width, width, 3, 1, dilation, dilation)
        self.conv2 = nn.Conv1d(width, width, 1, 1, 0)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(F.relu(x))
        y = self.conv2(F.relu(y))
        return x + self.dropout(y)


class Resnet1D(nn.Module):
    """`depth` dilated residual blocks, dilations growth**k taken in reverse order (9, 3, 1)."""

    def __init__(self, width: int, depth: int, growth: int, dropout: float):
        super().__init__()
        # built in increasing dilation, then reversed (as the official code: the same draws under a seeded init)
        blocks = [ResConv1DBlock(width, growth ** k, dropout) for k in range(depth)]
        self.model = nn.Sequential(*blocks[::-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Encoder(nn.Module):
    """(B, 263, T) -> (B, code_dim, T / 2**down_t)."""

    def __init__(self, cfg: RVQConfig):
        super().__init__()
        k, pad = cfg.stride_t * 2, cfg.stride_t // 2
        layers: list[nn.Module] = [nn.Conv1d(cfg.input_dim, cfg.width, 3, 1, 1), nn.ReLU()]
        for _ in range(cfg.down_t):
            layers.append(nn.Sequential(nn.Conv1d(cfg.width, cfg.width, k, cfg.stride_t, pad),
                                        Resnet1D(cfg.width, cfg.depth, cfg.dilation_growth_rate, cfg.dropout)))
        layers.append(nn.Conv1d(cfg.width, cfg.code_dim, 3, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Decoder(nn.Module):
    """(B, code_dim, n) -> (B, n * 2**down_t, 263)."""

    def __init__(self, cfg: RVQConfig):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(cfg.code_dim, cfg.width, 3, 1, 1), nn.ReLU()]
        for _ in range(cfg.down_t):
            layers.append(nn.Sequential(Resnet1D(cfg.width, cfg.depth, cfg.dilation_growth_rate, cfg.dropout),
                                        nn.Upsample(scale_factor=2, mode="nearest"),
                                        nn.Conv1d(cfg.width, cfg.width, 3, 1, 1)))
        layers += [nn.Conv1d(cfg.width, cfg.width, 3, 1, 1), nn.ReLU(), nn.Conv1d(cfg.width, cfg.input_dim, 3, 1, 1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).permute(0, 2, 1)


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenate `x` (same shape on every process) over the process group in rank order."""
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, 0)


class NonFiniteError(VimoError):
    """A model produced NaN / inf scores where it picks codes (RVQ code assignment, transformer sampling).

    Sampling from such scores would silently return code 0 everywhere (argmax of NaN), so it stops instead."""


def check_finite(scores: torch.Tensor, stage: str, fix: str) -> None:
    """Raise NonFiniteError naming `stage` unless every entry of `scores` is finite."""
    if not bool(torch.isfinite(scores).all()):
        n_nan, n_inf = int(torch.isnan(scores).sum()), int(torch.isinf(scores).sum())
        raise NonFiniteError(f"{stage}: {n_nan} NaN and {n_inf} inf among {scores.numel()} scores", fix=fix)


def _log(t: torch.Tensor, eps: float = 1e-20) -> torch.Tensor:
    return torch.log(t.clamp(min=eps))


def gumbel_noise(like: torch.Tensor) -> torch.Tensor:
    """Standard Gumbel noise shaped like `like`, drawn as the official MoMask / HERO code draws it
    (`zeros_like(t).uniform_(0, 1)`, then -log(-log(u)) with the clamps inside the logs), so that the same
    torch seed gives the same codes. Finite everywhere: u in [0, 1) gives noise in [-log(46.05), +46.05]."""
    u = torch.zeros_like(like).uniform_(0, 1)
    return -_log(-_log(u))


class EMACodebook(nn.Module):
    """One quantiser layer: nearest code (Gumbel-max in training), EMA update, reset of dead codes.

    Only `codebook` is a buffer (state dict key `codebook`). The EMA statistics and the `initialised`
    flag are plain attributes, exactly as in the official code: a freshly loaded model re-initialises
    its codebook from the first training batch (the fine-tune pitfall of spec §1.5) unless
    `initialised` is set (see `RVQVAE.keep_codebooks`).
    """

    def __init__(self, nb_code: int, code_dim: int, mu: float):
        super().__init__()
        self.nb_code, self.code_dim, self.mu = nb_code, code_dim, mu
        self.register_buffer("codebook", torch.zeros(nb_code, code_dim))
        self.initialised = False
        self.code_sum: torch.Tensor | None = None
        self.code_count: torch.Tensor | None = None

    def _tile(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if n < self.nb_code:
            repeats = (self.nb_code + n - 1) // n
            x = x.repeat(repeats, 1)
            x = x + torch.randn_like(x) * (0.01 / self.code_dim ** 0.5)
        return x

    @torch.no_grad()
    def init_codebook(self, x: torch.Tensor) -> None:
        if _distributed():  # under DDP: initialise from the whole global batch, identically on every rank
            x = _gather(x)
        self.codebook.copy_(self._tile(x)[: self.nb_code])
        if _distributed():
            dist.broadcast(self.codebook, 0)
        self.code_sum = self.codebook.clone()
        self.code_count = torch.ones(self.nb_code, device=x.device)
        self.initialised = True

    def ema_state(self) -> dict[str, Any]:
        return {"initialised": self.initialised, "code_sum": self.code_sum, "code_count": self.code_count}

    def load_ema_state(self, state: dict[str, Any]) -> None:
        self.initialised = bool(state["initialised"])
        self.code_sum, self.code_count = state["code_sum"], state["code_count"]

    def nearest(self, x: torch.Tensor, temperature: float = 0.0) -> torch.Tensor:
        """(N, d) -> (N,) code indices; Gumbel-max over -distance when training with temperature > 0."""
        cb = self.codebook.t()
        dist = x.pow(2).sum(-1, keepdim=True) - 2 * x @ cb + cb.pow(2).sum(0, keepdim=True)
        logits = -dist
        check_finite(logits, "RVQ code assignment",
                     "the encoder output is not finite: check the motion features (normalised, no NaN) and the "
                     "RVQ weights (a diverged run or a corrupted checkpoint)")
        if self.training and temperature > 0:
            logits = logits / temperature + gumbel_noise(logits)
        return logits.argmax(-1)

    @torch.no_grad()
    def _update(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        if _distributed():  # under DDP: EMA statistics of the whole global batch (same result as one process)
            x, idx = _gather(x), _gather(idx)
        onehot = torch.zeros(self.nb_code, x.shape[0], device=x.device)
        onehot.scatter_(0, idx.view(1, -1), 1)
        code_sum = onehot @ x
        code_count = onehot.sum(-1)
        # dead codes are replaced by the first nb_code (tiled, jittered) current encoder outputs, as the official
        # code does: no extra shuffle, so the random stream stays the official one (the batch is shuffled anyway)
        code_rand = self._tile(x)[: self.nb_code]
        self.code_sum = self.mu * self.code_sum + (1 - self.mu) * code_sum
        self.code_count = self.mu * self.code_count + (1 - self.mu) * code_count
        usage = (self.code_count.view(-1, 1) >= 1.0).float()
        updated = self.code_sum / self.code_count.view(-1, 1)
        self.codebook.copy_(usage * updated + (1 - usage) * code_rand)
        if _distributed():  # the dead-code replacements draw random numbers: keep rank 0's everywhere
            dist.broadcast(self.codebook, 0)
        return _perplexity(code_count)

    def forward(self, x: torch.Tensor, temperature: float = 0.0):
        """x (B, d, n) -> quantised (B, d, n) straight-through, indices (B, n), commitment loss, perplexity.
        Always computed in float32 (distances and EMA sums are precision-sensitive), also under autocast."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self._forward(x.float(), temperature)

    def _forward(self, x: torch.Tensor, temperature: float):
        b, d, n = x.shape
        flat = x.permute(0, 2, 1).reshape(-1, d)
        if self.training and not self.initialised:
            self.init_codebook(flat.detach())
        idx = self.nearest(flat, temperature)
        q = F.embedding(idx, self.codebook)
        if self.training:
            perplexity = self._update(flat.detach(), idx)
        else:
            perplexity = _perplexity(torch.bincount(idx, minlength=self.nb_code).float())
        commit = F.mse_loss(flat, q.detach())
        q = flat + (q - flat).detach()
        return q.view(b, n, d).permute(0, 2, 1).contiguous(), idx.view(b, n), commit, perplexity


def _perplexity(counts: torch.Tensor) -> torch.Tensor:
    prob = counts / counts.sum()
    return torch.exp(-(prob * torch.log(prob + 1e-7)).sum())


class ResidualVQ(nn.Module):
    """`num_quantizers` EMA codebooks quantising the running residual, with quantiser dropout."""

    def __init__(self, cfg: RVQConfig):
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList([EMACodebook(cfg.nb_code, cfg.code_dim, cfg.mu)
                                     for _ in range(cfg.num_quantizers)])

    def forward(self, x: torch.Tensor, temperature: float | None = None, force_dropout_index: int = -1):
        """x (B, d, n) -> summed quantised (B, d, n), indices (B, n, Q) with -1 for dropped layers,
        mean commitment loss and mean perplexity over the active layers."""
        q_count = len(self.layers)
        drop = self.training and random.random() < self.cfg.quantize_dropout_prob
        last = q_count
        if drop:
            last = random.randrange(0, q_count)
        if force_dropout_index >= 0:
            drop, last = True, force_dropout_index
        residual, out = x, torch.zeros_like(x)
        indices, losses, perps = [], [], []
        for k, layer in enumerate(self.layers):
            if drop and k > last:
                indices.append(torch.full(x.shape[::2], -1, dtype=torch.long, device=x.device))
                continue
            q, idx, loss, perp = layer(residual, temperature or 0.0)
            residual = residual - q.detach()
            out = out + q
            indices.append(idx)
            losses.append(loss)
            perps.append(perp)
        return out, torch.stack(indices, -1), sum(losses) / len(losses), sum(perps) / len(perps)

    @torch.no_grad()
    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic (argmin) codes of every layer: (B, d, n) -> (B, n, Q), in float32."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self._quantize(x.float())

    def _quantize(self, x: torch.Tensor) -> torch.Tensor:
        residual, indices = x, []
        for layer in self.layers:
            idx = layer.nearest(residual.permute(0, 2, 1).reshape(-1, x.shape[1])).view(x.shape[0], -1)
            residual = residual - F.embedding(idx, layer.codebook).permute(0, 2, 1)
            indices.append(idx)
        return torch.stack(indices, -1)

    def codes_from_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, n, q<=Q) indices, -1 = none -> (q, B, n, d) code vectors (zero where -1)."""
        out = []
        for k in range(indices.shape[-1]):
            idx = indices[..., k]
            vec = F.embedding(idx.clamp(min=0), self.layers[k].codebook)
            out.append(vec * (idx >= 0).unsqueeze(-1).to(vec.dtype))
        return torch.stack(out, 0)


class RVQVAE(nn.Module):
    """The RVQ-VAE; submodule names (`encoder`, `decoder`, `quantizer`) match the official state dict."""

    def __init__(self, cfg: RVQConfig | None = None):
        super().__init__()
        self.cfg = cfg or RVQConfig()
        self.encoder = Encoder(self.cfg)
        self.decoder = Decoder(self.cfg)
        self.quantizer = ResidualVQ(self.cfg)

    def forward(self, motion: torch.Tensor):
        """motion (B, T, 263) -> reconstruction (B, T, 263), commitment loss, perplexity."""
        z = self.encoder(motion.permute(0, 2, 1).float())
        q, _, commit, perp = self.quantizer(z, temperature=self.cfg.sample_codebook_temp)
        return self.decoder(q), commit, perp

    @torch.no_grad()
    def encode(self, motion: torch.Tensor) -> torch.Tensor:
        """(B, T, 263) -> (B, T/4, Q) code indices (argmin)."""
        return self.quantizer.quantize(self.encoder(motion.permute(0, 2, 1).float()))

    def forward_decoder(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, n, q<=Q) indices (-1 = skip) -> (B, 4n, 263) normalised features."""
        codes = self.quantizer.codes_from_indices(indices).sum(0)
        return self.decoder(codes.permute(0, 2, 1))

    def keep_codebooks(self) -> None:
        """Mark every codebook initialised so a fine-tune keeps the loaded codes instead of the official
        re-initialisation from the first batch (spec §1.5 pitfall; a deviation, off by default).

        The EMA statistics are seeded as if every code had been used once per step at equilibrium
        (count 1/(1-mu)): a code then has to stay unused for ~log(1-mu)/log(mu) steps (~460 at mu 0.99)
        before the dead-code reset replaces it, instead of being replaced at the first step."""
        for layer in self.quantizer.layers:
            count = 1.0 / (1.0 - layer.mu)
            layer.code_count = torch.full((layer.nb_code,), count, device=layer.codebook.device)
            layer.code_sum = layer.codebook.detach().clone() * count
            layer.initialised = True

    def ema_state(self) -> list[dict[str, Any]]:
        return [layer.ema_state() for layer in self.quantizer.layers]

    def load_ema_state(self, states: list[dict[str, Any]]) -> None:
        for layer, st in zip(self.quantizer.layers, states):
            layer.load_ema_state(st)


def rvq_loss(pred: torch.Tensor, target: torch.Tensor, commit: torch.Tensor, *, local_weight: float = 0.5,
             commit_weight: float = 0.02) -> tuple[torch.Tensor, dict[str, float]]:
    """SmoothL1 on all dims + 0.5 x SmoothL1 on dims 4:67 + 0.02 x commitment (official weights)."""
    rec = F.smooth_l1_loss(pred, target)
    local = F.smooth_l1_loss(pred[..., LOCAL_POSITIONS], target[..., LOCAL_POSITIONS])
    total = rec + local_weight * local + commit_weight * commit
    return total, {"loss": float(total.detach()), "rec": float(rec.detach()), "local": float(local.detach()),
                   "commit": float(commit.detach())}


def load_rvq_checkpoint(path: str | Path, cfg: RVQConfig | None = None) -> RVQVAE:
    """Build an RVQVAE and load `vq_model` from a MoMask/HERO `net_best_fid.tar` / `latest.tar` strictly."""
    ckpt = read_checkpoint(path, what="RVQ-VAE checkpoint")
    state = entry(ckpt, "vq_model", path, what="RVQ-VAE checkpoint")
    if not isinstance(state, dict):
        raise CheckpointError("'vq_model' is not a state dict", path=path, fix="pass an official RVQ checkpoint")
    model = RVQVAE(cfg)
    load_strict(model, state, path, what="RVQ-VAE state dict")
    return model

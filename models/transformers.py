"""HERO's video-conditioned masked transformer (base codes) and residual transformer (codes of layers 1..5).

Both follow `transformer_memo_cross.py` of the official code: an interaction-intention block (IIE) turns the
per-frame video features into one intention vector e; e (nulled for classifier-free guidance) becomes a prefix
token through `cond_emb`, the same Linear maps the per-frame features to a memory, and post-LN
TransformerDecoder layers self-attend over [e, (layer token), motion tokens] and cross-attend to the memory
in every layer (DIE). Parameter names equal the official ones, so HERO checkpoints load strictly.

The ablations and baselines are options of the same classes (`TransformerConfig.intention`, `frame_memory`,
`attention`; named in `vimo.models.configs.VARIANTS`): the pooled feature as prefix token (w/o IIE), encoder
layers without frame cross-attention (w/o DIE; MoMask's encoder-only stack), BAMM-style hybrid attention.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical

from vimo.errors import InputFormatError
from vimo.models.checkpoints import CheckpointError, entry, load_strict, read_checkpoint
from vimo.models.configs import TransformerConfig
from vimo.models.rvq import check_finite, gumbel_noise


def lengths_to_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) token lengths -> (B, max_len) bool, True on real tokens."""
    return torch.arange(max_len, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def cosine_schedule(t: torch.Tensor) -> torch.Tensor:
    """Masking ratio cos(pi t / 2), computed in the dtype of t (float32 matters at inference, spec §1.6)."""
    return torch.cos(t * math.pi * 0.5)


def top_k_filter(logits: torch.Tensor, thres: float = 0.9) -> torch.Tensor:
    """Keep the ceil((1 - thres) * C) largest logits of the last dim, -inf elsewhere."""
    k = math.ceil((1 - thres) * logits.shape[-1])
    val, ind = logits.topk(k, dim=-1)
    out = torch.full_like(logits, float("-inf"))
    return out.scatter_(-1, ind, val)


def gumbel_sample(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Gumbel-max draw over the last dim: argmax(logits / T + G), i.e. a sample of softmax(logits / T)."""
    return (logits / max(temperature, 1e-10) + gumbel_noise(logits)).argmax(-1)


def categorical_sample(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Multinomial draw over the last dim from softmax(logits / T), as the official masked-transformer generation
    (`Categorical(probs).sample()`, one multinomial call: same random stream). HERO's and MoMask's active code
    applies T inside the softmax; the commented-out variant `Categorical(probs / T)` in their residual generation
    would ignore T (Categorical renormalises). T -> 0 gives the argmax here (the official code divides by 0)."""
    return Categorical(probs=F.softmax(logits / max(temperature, 1e-10), -1)).sample()


def sample_tokens(logits: torch.Tensor, stage: str, *, temperature: float, topk_filter_thres: float,
                  gumbel: bool) -> torch.Tensor:
    """(..., C) guided logits -> (...) codes: refuse non-finite logits (naming `stage`), keep the top-k, sample."""
    check_finite(logits, stage, "the transformer's logits are not finite: check the video features for NaN/inf and "
                                "the checkpoint weights (a diverged training run or a corrupted file)")
    filtered = top_k_filter(logits, topk_filter_thres)
    return gumbel_sample(filtered, temperature) if gumbel else categorical_sample(filtered, temperature)


class PositionalEncoding(nn.Module):
    """Sinusoidal table `pe` (max_len, 1, d) (a state-dict buffer in the official checkpoints) + dropout."""

    def __init__(self, d_model: int, dropout: float, max_len: int):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
        div = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * div)
        pe[:, 1::2] = torch.cos(position * div)
        self.register_buffer("pe", pe.unsqueeze(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(x + self.pe[: x.shape[0]])


class InputProcess(nn.Module):
    """(B, n, code_dim) -> (n, B, latent)."""

    def __init__(self, code_dim: int, latent_dim: int):
        super().__init__()
        self.poseEmbedding = nn.Linear(code_dim, latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.poseEmbedding(x.permute(1, 0, 2))


class OutputProcess(nn.Module):
    """BERT-style head: (n, B, latent) -> dense, GELU, LayerNorm(1e-12), poseFinal -> (B, out, n)."""

    def __init__(self, out_dim: int, latent_dim: int):
        super().__init__()
        self.dense = nn.Linear(latent_dim, latent_dim)
        self.LayerNorm = nn.LayerNorm(latent_dim, eps=1e-12)
        self.poseFinal = nn.Linear(latent_dim, out_dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.poseFinal(self.LayerNorm(F.gelu(self.dense(h)))).permute(1, 2, 0)


class GlobalLocalAttention(nn.Module):
    """Multi-head attention with separate key/query/value/proj Linears and attention + residual dropout.

    Registered in the official order (key, query, value, dropouts, proj): `parameters()` then lists them as the
    official module does, so optimiser states of official checkpoints line up, and a seeded init draws alike."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.key, self.query, self.value = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.attn_drop = nn.Dropout(dropout)
        self.resid_drop = nn.Dropout(dropout)
        self.proj = nn.Linear(dim, dim)

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        """q (B, Nq, D), kv (B, Nk, D) -> (B, Nq, D)."""
        b, nq, d = q.shape
        h = self.heads
        split = lambda t: t.view(b, t.shape[1], h, d // h).transpose(1, 2)  # noqa: E731
        qh, kh, vh = split(self.query(q)), split(self.key(kv)), split(self.value(kv))
        att = (qh @ kh.transpose(-2, -1)) * (1.0 / math.sqrt(d // h))
        att = self.attn_drop(att.softmax(-1))
        y = (att @ vh).transpose(1, 2).reshape(b, nq, d)
        return self.resid_drop(self.proj(y))


class IntentionBlock(nn.Module):
    """Interaction Intention Extraction (official `CrossattBlock`): pre-LN cross-attention of the pooled
    video feature (query) over the per-frame features (keys/values), then a GELU MLP; residual adds."""

    def __init__(self, dim: int, heads: int, dropout: float, mlp_ratio: int):
        super().__init__()
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = GlobalLocalAttention(dim, heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim),
                                 nn.Dropout(dropout))
        _init_weights(self)  # the official block initialises itself when built (the draws of a seeded init)

    def forward(self, v_global: torch.Tensor, v_local: torch.Tensor) -> torch.Tensor:
        """v_global (B, D), v_local (B, F, D) -> intention e (B, D)."""
        x = v_global.unsqueeze(1)
        x = x + self.attn(self.ln1(x), self.ln3(v_local))
        x = x + self.mlp(self.ln2(x))
        return x.squeeze(1)


def _init_weights(module: nn.Module) -> None:
    """Official init: Linear / Embedding weights N(0, 0.02), Linear biases 0, LayerNorm (1, 0)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            m.weight.data.normal_(0.0, 0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                m.bias.data.zero_()
        elif isinstance(m, nn.LayerNorm):
            m.bias.data.zero_()
            m.weight.data.fill_(1.0)


class _VideoConditioned(nn.Module):
    """Shared trunk: IIE, cond_emb, decoder stack with frame cross-attention, BERT head.

    Submodules are registered in the official order (input_process, IIE, decoder, [quant_emb], cond_emb,
    output_process, then the subclass's tables), so `parameters()` enumerates as the official modules do:
    AdamW states saved by the official trainers load position by position."""

    n_prefix = 1

    def __init__(self, cfg: TransformerConfig, out_dim: int):
        super().__init__()
        self.cfg = cfg
        self.cond_drop_prob = cfg.cond_drop_prob
        self.input_process = InputProcess(cfg.code_dim, cfg.latent_dim)
        self.position_enc = PositionalEncoding(cfg.latent_dim, cfg.dropout, cfg.max_len)
        if cfg.intention not in ("iie", "pooled"):
            raise InputFormatError(f"unknown intention '{cfg.intention}'", fix="use iie or pooled")
        if cfg.attention not in ("bidirectional", "hybrid"):
            raise InputFormatError(f"unknown attention '{cfg.attention}'", fix="use bidirectional or hybrid")
        if cfg.intention == "iie":
            self.global_local_crossatt_block = IntentionBlock(cfg.video_dim, cfg.iie_heads, cfg.iie_dropout,
                                                              cfg.iie_mlp_ratio)
        if cfg.frame_memory:
            layer = nn.TransformerDecoderLayer(cfg.latent_dim, cfg.num_heads, cfg.ff_size, cfg.dropout,
                                               activation="gelu")
            self.seqTransDecoder = nn.TransformerDecoder(layer, cfg.num_layers)
        else:  # MoMask's encoder-only stack (state-dict prefix `seqTransEncoder`)
            layer = nn.TransformerEncoderLayer(cfg.latent_dim, cfg.num_heads, cfg.ff_size, cfg.dropout,
                                               activation="gelu")
            self.seqTransEncoder = nn.TransformerEncoder(layer, cfg.num_layers, enable_nested_tensor=False)
        self._layer_embedding(cfg)
        self.cond_emb = nn.Linear(cfg.video_dim, cfg.latent_dim)
        self.output_process = OutputProcess(out_dim, cfg.latent_dim)

    def _layer_embedding(self, cfg: TransformerConfig) -> None:
        """Hook for the residual transformer's `quant_emb` (registered between the decoder and cond_emb)."""

    def _init_weights(self) -> None:
        _init_weights(self)

    def intention(self, video: torch.Tensor) -> torch.Tensor:
        """video (B, F, D) per-frame features -> e (B, D); v_g is the mean over frames (not normalised).
        Without IIE (`intention = pooled`) e is v_g itself."""
        if self.cfg.intention == "pooled":
            return video.mean(1)
        return self.global_local_crossatt_block(video.mean(1), video)

    def mask_cond(self, e: torch.Tensor, force_mask: bool) -> torch.Tensor:
        """CFG: null e for the unconditional pass, or per sample with prob cond_drop_prob in training."""
        if force_mask:
            return torch.zeros_like(e)
        if self.training and self.cond_drop_prob > 0:
            keep = 1.0 - torch.bernoulli(torch.full((e.shape[0], 1), self.cond_drop_prob, device=e.device))
            return e * keep
        return e

    def _decode(self, x: torch.Tensor, prefix: list[torch.Tensor], video: torch.Tensor, padding_mask: torch.Tensor,
                force_mask: bool, causal: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, n, code_dim) embedded tokens; prefix: extra (B, latent) tokens after e -> head output (B, C, n).
        causal (B,) bool: samples whose motion tokens attend only to the prefix and earlier tokens."""
        e = self.mask_cond(self.intention(video), force_mask)
        tokens = [self.cond_emb(e)] + prefix
        h = self.position_enc(self.input_process(x))
        seq = torch.cat([torch.stack(tokens, 0), h], 0)
        pad = torch.cat([torch.zeros_like(padding_mask[:, :len(tokens)]), padding_mask], 1)
        attn = None if causal is None else causal_attention_mask(causal, seq.shape[0], self.cfg.num_heads)
        if self.cfg.frame_memory:
            memory = self.cond_emb(video).permute(1, 0, 2)  # (F, B, latent), no positional encoding
            out = self.seqTransDecoder(tgt=seq, memory=memory, tgt_mask=attn, tgt_key_padding_mask=pad)
        else:
            out = self.seqTransEncoder(seq, mask=attn, src_key_padding_mask=pad)
        return self.output_process(out[len(tokens):])


def causal_attention_mask(causal: torch.Tensor, length: int, heads: int) -> torch.Tensor:
    """(B,) bool -> (B * heads, L, L) bool attention mask, True = blocked: causal samples see positions <= their
    own, the others see everything (BAMM's hybrid masking)."""
    upper = torch.triu(torch.ones(length, length, dtype=torch.bool, device=causal.device), diagonal=1)
    mask = upper.unsqueeze(0) & causal.view(-1, 1, 1)
    return mask.repeat_interleave(heads, 0)


def accuracy(logits: torch.Tensor, labels: torch.Tensor, ignore: int) -> torch.Tensor:
    keep = labels != ignore
    return (logits.argmax(1) == labels)[keep].float().mean() if keep.any() else torch.zeros(())


class MaskTransformer(_VideoConditioned):
    """Base-layer generator: tokens 0..C-1, [MASK] = C, [PAD] = C+1; logits over the C codes."""

    def __init__(self, cfg: TransformerConfig | None = None):
        cfg = cfg or TransformerConfig()
        super().__init__(cfg, cfg.num_tokens)
        self.mask_id, self.pad_id = cfg.num_tokens, cfg.num_tokens + 1
        self.token_emb = nn.Embedding(cfg.num_tokens + 2, cfg.code_dim)
        self._init_weights()

    def trans_forward(self, ids: torch.Tensor, video: torch.Tensor, padding_mask: torch.Tensor,
                      force_mask: bool = False, causal: torch.Tensor | None = None) -> torch.Tensor:
        """ids (B, n), video (B, F, D), padding_mask (B, n) True on pads -> logits (B, C, n)."""
        return self._decode(self.token_emb(ids), [], video, padding_mask, force_mask, causal)

    def forward(self, ids: torch.Tensor, video: torch.Tensor, m_lens: torch.Tensor):
        """Masked-token training loss. ids (B, n) base codes, m_lens (B,) token lengths -> (loss, acc)."""
        b, n = ids.shape
        real = lengths_to_mask(m_lens, n)
        ids = torch.where(real, ids, self.pad_id)
        ratio = cosine_schedule(torch.rand(b, device=ids.device))
        # the count uses the padded length n of the batch tensor, not each sample's length (official)
        n_masked = (n * ratio).round().clamp(min=1)
        mask = torch.rand(b, n, device=ids.device).argsort(-1) < n_masked.unsqueeze(-1)
        mask &= real
        labels = torch.where(mask, ids, self.mask_id)
        x = ids.clone()
        # BERT rule, drawn as the official code draws it (scalar-p bernoulli over the bool mask: the same stream)
        random_sub = torch.bernoulli(mask, p=0.1) & mask
        x = torch.where(random_sub, torch.randint_like(x, high=self.cfg.num_tokens), x)
        rest = mask & ~random_sub
        mask_sub = torch.bernoulli(rest, p=0.88) & rest
        x = torch.where(mask_sub, self.mask_id, x)
        causal = None
        if self.cfg.attention == "hybrid":  # BAMM-style: per sample, causal with probability causal_prob
            causal = torch.rand(b, device=ids.device) < self.cfg.causal_prob
        logits = self.trans_forward(x, video, ~real, causal=causal)
        loss = F.cross_entropy(logits, labels, ignore_index=self.mask_id)
        return loss, accuracy(logits, labels, self.mask_id)

    def guided_logits(self, ids, video, padding_mask, cond_scale: float) -> torch.Tensor:
        """u + s (c - u): u nulls only the intention token; the frame memory stays (official CFG)."""
        cond = self.trans_forward(ids, video, padding_mask)
        if cond_scale == 1:
            return cond
        uncond = self.trans_forward(ids, video, padding_mask, force_mask=True)
        return uncond + (cond - uncond) * cond_scale

    @torch.no_grad()
    def generate(self, video: torch.Tensor, m_lens: torch.Tensor, *, time_steps: int = 10, cond_scale: float = 4.0,
                 temperature: float = 1.0, topk_filter_thres: float = 0.9, gumbel: bool = False) -> torch.Tensor:
        """Iterative confidence-based unmasking. video (B, F, D), m_lens (B,) tokens -> (B, max n) codes, -1 on pads."""
        was_training = self.training
        self.eval()
        n = int(m_lens.max())
        pad = ~lengths_to_mask(m_lens, n)
        ids = torch.where(pad, self.pad_id, self.mask_id)
        scores = torch.where(pad, 1e5, 0.0)
        for tau in torch.linspace(0, 1, time_steps, device=video.device):  # float32, as the official code
            n_masked = torch.round(cosine_schedule(tau) * m_lens).clamp(min=1)
            ranks = scores.argsort(1).argsort(1)
            is_mask = ranks < n_masked.unsqueeze(-1)
            ids = torch.where(is_mask, self.mask_id, ids)
            logits = self.guided_logits(ids, video, pad, cond_scale).permute(0, 2, 1)
            pred = sample_tokens(logits, "masked-transformer generation", temperature=temperature,
                                 topk_filter_thres=topk_filter_thres, gumbel=gumbel)
            ids = torch.where(is_mask, pred, ids)
            scores = logits.softmax(-1).gather(2, pred.unsqueeze(-1)).squeeze(-1)
            scores = scores.masked_fill(~is_mask, 1e5)
        self.train(was_training)
        return torch.where(pad, -1, ids)


class ResidualTransformer(_VideoConditioned):
    """Predicts codes of layer j (1..Q-1) from the summed embeddings of layers 0..j-1; PAD = C (logits over C+1).

    `double_projection=True` reproduces the official output projection 2*(W h) + b (an in-place `+=` of
    itself plus the bias); it must stay on to use HERO / MoMask checkpoints.
    """

    n_prefix = 2

    def __init__(self, cfg: TransformerConfig | None = None, *, double_projection: bool = True):
        cfg = cfg or TransformerConfig()
        if cfg.num_quantizers < 2:
            raise InputFormatError(f"a residual transformer needs >= 2 quantiser layers, got {cfg.num_quantizers}",
                                   fix="a single-quantiser VQ-VAE (variant vqvae) has no residual transformer")
        super().__init__(cfg, cfg.code_dim)
        self.pad_id = cfg.num_tokens
        self.double_projection = double_projection
        q, c, d = cfg.num_quantizers, cfg.num_tokens + 1, cfg.code_dim
        # official registration (and draw) order: output projection, its bias, then the token embeddings
        self.output_proj_weight = nn.Parameter(torch.normal(mean=0, std=0.02, size=(q - 1, c, d)))
        self.output_proj_bias = nn.Parameter(torch.zeros(q, c))
        self.token_embed_weight = nn.Parameter(torch.normal(mean=0, std=0.02, size=(q - 1, c, d)))
        self._init_weights()

    def _layer_embedding(self, cfg: TransformerConfig) -> None:
        self.quant_emb = nn.Linear(cfg.num_quantizers, cfg.latent_dim)

    def output_project(self, h: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """h (B, code_dim, n), table (B,) = layer - 1 -> logits (B, C+1, n). Bias row = layer - 1 too."""
        out = torch.einsum("bcd,bdn->bcn", self.output_proj_weight[table], h)
        bias = self.output_proj_bias[table].unsqueeze(-1)
        if self.double_projection:  # the official `out += out + bias`: out + (out + bias), in that float order
            return out + (out + bias)
        return out + bias

    def trans_forward(self, codes_sum: torch.Tensor, layer: torch.Tensor, video: torch.Tensor,
                      padding_mask: torch.Tensor, force_mask: bool = False) -> torch.Tensor:
        """codes_sum (B, n, code_dim), layer (B,) in 1..Q-1 -> logits (B, C+1, n)."""
        q_tok = self.quant_emb(F.one_hot(layer, self.cfg.num_quantizers).float())
        h = self._decode(codes_sum, [q_tok], video, padding_mask, force_mask)
        return self.output_project(h, layer - 1)

    def history(self, ids: torch.Tensor, upto: torch.Tensor) -> torch.Tensor:
        """ids (B, n, Q) -> sum over k < upto[b] of table_k[ids[..., k]]: (B, n, code_dim)."""
        b, n, q = ids.shape
        total = torch.zeros(b, n, self.cfg.code_dim, device=ids.device)
        for k in range(q - 1):
            emb = F.embedding(ids[..., k], self.token_embed_weight[k])
            total = total + emb * (k < upto).view(b, 1, 1).to(emb.dtype)
        return total

    def forward(self, ids: torch.Tensor, video: torch.Tensor, m_lens: torch.Tensor):
        """Training loss. ids (B, n, Q) all RVQ codes, m_lens (B,) token lengths -> (loss, acc)."""
        b, n, q = ids.shape
        real = lengths_to_mask(m_lens, n)
        ids = torch.where(real.unsqueeze(-1), ids, self.pad_id)
        u = torch.rand(b, device=ids.device)
        layer = torch.round((1 - cosine_schedule(u)) * (q - 2)).long() + 1
        target = ids[torch.arange(b), :, layer]
        logits = self.trans_forward(self.history(ids, layer), layer, video, ~real)
        loss = F.cross_entropy(logits, target, ignore_index=self.pad_id)
        return loss, accuracy(logits, target, self.pad_id)

    @torch.no_grad()
    def generate(self, base_ids: torch.Tensor, video: torch.Tensor, m_lens: torch.Tensor, *, cond_scale: float = 5.0,
                 temperature: float = 1.0, topk_filter_thres: float = 0.9) -> torch.Tensor:
        """base_ids (B, n) (-1 or PAD on pads) -> (B, n, Q) codes of every layer, -1 on pads."""
        was_training = self.training
        self.eval()
        b, n = base_ids.shape
        pad = ~lengths_to_mask(m_lens, n)
        ids = torch.where(pad, self.pad_id, base_ids)
        layers = [ids]
        summed = torch.zeros(b, n, self.cfg.code_dim, device=video.device)
        for j in range(1, self.cfg.num_quantizers):
            summed = summed + F.embedding(ids, self.token_embed_weight[j - 1])
            qid = torch.full((b,), j, dtype=torch.long, device=video.device)
            cond = self.trans_forward(summed, qid, video, pad)
            if cond_scale != 1:
                uncond = self.trans_forward(summed, qid, video, pad, force_mask=True)
                cond = uncond + (cond - uncond) * cond_scale
            pred = sample_tokens(cond.permute(0, 2, 1), "residual-transformer generation", temperature=temperature,
                                 topk_filter_thres=topk_filter_thres, gumbel=True)
            ids = torch.where(pad, self.pad_id, pred)
            layers.append(ids)
        self.train(was_training)
        out = torch.stack(layers, -1)
        return torch.where(out == self.pad_id, -1, out)


def _load(model: nn.Module, path: str | Path, key: str, what: str) -> nn.Module:
    ckpt = read_checkpoint(path, what=what)
    state = entry(ckpt, key, path, what=what)
    if not isinstance(state, dict):
        raise CheckpointError(f"'{key}' is not a state dict", path=path, fix=f"pass an official {what}")
    return load_strict(model, state, path, what=f"{what} state dict")


def load_mask_transformer(path: str | Path, cfg: TransformerConfig | None = None) -> MaskTransformer:
    """Strictly load `t2m_transformer` of a HERO masked-transformer checkpoint (`net_best_fid.tar`, `latest.tar`)."""
    return _load(MaskTransformer(cfg), path, "t2m_transformer", "masked-transformer checkpoint")


def load_res_transformer(path: str | Path, cfg: TransformerConfig | None = None) -> ResidualTransformer:
    """Strictly load `res_transformer` of a HERO residual-transformer checkpoint (share_weight=False layout)."""
    return _load(ResidualTransformer(cfg), path, "res_transformer", "residual-transformer checkpoint")


def mask_schedule_counts(length: int, time_steps: int = 10) -> list[int]:
    """Tokens re-masked at each inference step for a sample of `length` tokens (float32 schedule)."""
    taus = torch.linspace(0, 1, time_steps)
    return [int(torch.round(cosine_schedule(t) * torch.tensor(float(length))).clamp(min=1)) for t in taus]


__all__ = ["categorical_sample", "causal_attention_mask", "gumbel_sample", "MaskTransformer", "ResidualTransformer",
           "IntentionBlock", "load_mask_transformer", "load_res_transformer", "lengths_to_mask", "mask_schedule_counts",
           "sample_tokens", "top_k_filter"]

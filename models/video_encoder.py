"""HERO's video side: frame sampling and preprocessing, video encoders, and a per-video feature cache.

Frames: 16 segments, the middle frame of each (test-mode TSN sampling for train and test), resized to
224x224 ignoring aspect ratio, normalised with ImageNet mean/std on the 0-255 scale, RGB -> (16, 3, 224, 224).

Encoders (all frozen, eval mode, fp32), each mapping (B, 16, 3, 224, 224) to per-frame features (B, 16, D):
  * `VisionTower(temporal_context=True)`  the TC-CLIP ViT-B/16 tower (HERO's encoder), weights from a
    user-given TC-CLIP checkpoint (`load_tc_clip`); written from the spec's description, not from TC-CLIP code;
  * `VisionTower(temporal_context=False)` OpenAI CLIP ViT-B/16 applied per frame (`load_openai_clip`);
  * `PixelStatsEncoder` the weight-free embedded default for CPU runs and tests.
No weights are ever downloaded. Features are cached per video, keyed by the video's checksum and the encoder id.
"""
from __future__ import annotations

import hashlib
import io
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vimo.atomic import sha256_file, write_bytes
from vimo.errors import InputFormatError
from vimo.extras import require
from vimo.models.checkpoints import CheckpointError, check_state_dict, read_checkpoint

N_SEGMENTS = 16
FRAME_SIZE = 224
#: ImageNet statistics on the 0-255 scale, RGB (TC-CLIP / mmaction convention used by HERO)
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


# ----------------------------------------------------------------------------- frames

def segment_middle_indices(n_frames: int, segments: int = N_SEGMENTS) -> np.ndarray:
    """Middle frame of each of `segments` equal segments: int(i*N/S + N/(2S)); short videos repeat frames."""
    if n_frames < 1:
        raise InputFormatError("video has no decodable frames", fix="re-encode the video")
    interval = n_frames / float(segments)
    return (np.arange(segments) * interval + interval / 2.0).astype(np.int32)


def check_frames(frames: np.ndarray, *, path: str | Path | None = None) -> np.ndarray:
    """Validate an (F, H, W, 3) uint8 RGB array."""
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3:
        shape = getattr(frames, "shape", None)
        raise InputFormatError(f"frames have shape {shape}, expected (F, H, W, 3) RGB", path=path,
                               fix="pass decoded RGB frames")
    if frames.dtype != np.uint8:
        raise InputFormatError(f"frames have dtype {frames.dtype}, expected uint8", path=path,
                               fix="pass 0-255 uint8 frames")
    if frames.shape[0] < 1 or frames.shape[1] < 1 or frames.shape[2] < 1:
        raise InputFormatError(f"frames array {frames.shape} is empty", path=path, fix="pass a non-empty video")
    return frames


def resize_frames(frames: torch.Tensor, size: int = FRAME_SIZE) -> torch.Tensor:
    """(F, H, W, 3) uint8 -> (F, 3, size, size) uint8, bilinear (half-pixel centres, no antialias), aspect
    ignored. The official pipeline resizes with OpenCV INTER_LINEAR on uint8 and rounds; torch's bilinear
    kernel is the same, OpenCV's fixed-point arithmetic may differ by one grey level."""
    x = frames.permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
    return x.round().clamp(0, 255).to(torch.uint8)


def normalise_frames(frames: torch.Tensor) -> torch.Tensor:
    """(F, 3, H, W) uint8 -> float32 (x - mean) / std with ImageNet statistics on the 0-255 scale."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (frames.float() - mean) / std


def preprocess_frames(frames: np.ndarray, *, path: str | Path | None = None) -> torch.Tensor:
    """All decoded frames (N, H, W, 3) uint8 -> HERO's network input (16, 3, 224, 224) float32."""
    frames = check_frames(frames, path=path)
    picked = frames[segment_middle_indices(frames.shape[0])]
    return normalise_frames(resize_frames(torch.from_numpy(np.ascontiguousarray(picked))))


def read_video_frames(path: str | Path, size: int = FRAME_SIZE) -> np.ndarray:
    """Decode a video (mp4 etc., through imageio-ffmpeg) -> (N, size, size, 3) uint8, every frame resized on
    the fly (resizing is per frame, so sampling afterwards equals sampling first)."""
    path = Path(path)
    if not path.is_file():
        raise InputFormatError("video file does not exist", path=path, fix="check the path")
    iio = require("render", "imageio.v2")
    resized = []
    try:
        reader = iio.get_reader(str(path), format="FFMPEG")
        try:
            for frame in reader:
                t = torch.from_numpy(np.ascontiguousarray(frame[..., :3])).unsqueeze(0)
                resized.append(resize_frames(t, size)[0].permute(1, 2, 0).numpy())
        finally:
            reader.close()
    except (OSError, RuntimeError, ValueError) as exc:
        if not resized:
            raise InputFormatError(f"cannot decode video ({str(exc).splitlines()[0][:160]})", path=path,
                                   fix="re-encode it as H.264 mp4") from None
    if not resized:
        raise InputFormatError("video has no decodable frames", path=path, fix="re-encode the video")
    return np.stack(resized)


# ----------------------------------------------------------------------------- encoders

class FrameEncoder(Protocol):
    """(B, 16, 3, 224, 224) normalised frames -> (B, 16, out_dim) per-frame features."""

    out_dim: int

    @property
    def encoder_id(self) -> str: ...

    def __call__(self, frames: torch.Tensor) -> torch.Tensor: ...


class PixelStatsEncoder(nn.Module):
    """Weight-free default encoder for CPU: per frame, an 8x8 average-pooled colour layout and the 8x8 pooled
    change from the previous sampled frame (384 numbers), mapped to `out_dim` by a fixed seeded random
    projection. Deterministic and cheap; it carries layout, colour and motion, nothing semantic."""

    def __init__(self, out_dim: int = 512, seed: int = 0, grid: int = 8):
        super().__init__()
        self.out_dim, self.seed, self.grid = out_dim, seed, grid
        g = torch.Generator().manual_seed(seed)
        n_in = 2 * 3 * grid * grid
        self.register_buffer("projection", torch.randn(n_in, out_dim, generator=g) / math.sqrt(n_in))

    @property
    def encoder_id(self) -> str:
        return f"pixel-stats-v1-g{self.grid}-d{self.out_dim}-s{self.seed}"

    @torch.no_grad()
    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, t = frames.shape[:2]
        pooled = F.adaptive_avg_pool2d(frames.flatten(0, 1), self.grid).reshape(b, t, -1)
        change = torch.cat([torch.zeros_like(pooled[:, :1]), pooled[:, 1:] - pooled[:, :-1]], 1)
        return torch.cat([pooled, change], -1) @ self.projection


@dataclass
class TowerConfig:
    """Sizes of the CLIP / TC-CLIP vision tower (defaults: ViT-B/16)."""

    width: int = 768
    """token width"""
    layers: int = 12
    """residual attention blocks"""
    heads: int = 12
    """attention heads"""
    patch: int = 16
    """patch size in pixels"""
    image: int = 224
    """input resolution (196 patches at ViT-B/16)"""
    out_dim: int = 512
    """output projection width"""
    context_tokens: int = 96
    """TC-CLIP context tokens per video"""
    seed_ratio: float = 0.3
    """share of each frame's patches kept as seed tokens (by CLS attention)"""
    merge_per_round: int = 100
    """tokens merged per bipartite soft-matching round"""


def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x)


class ContextAttention(nn.Module):
    """Separate q/k/v/out projections. Frame tokens attend to their own frame's tokens and (optionally) to the
    video's context tokens, with a learnable per-head bias on local vs global logits."""

    def __init__(self, width: int, heads: int, with_bias_table: bool):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(width, width) for _ in range(4))
        if with_bias_table:
            self.local_global_bias_table = nn.Parameter(torch.zeros(heads, 1, 2))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (BT, N, W) normed frame tokens, context (BT, M, W) normed or None ->
        (output (BT, N, W), CLS attention over the frame's own patches averaged over heads (BT, N-1))."""
        bt, n, w = x.shape
        h, d = self.heads, w // self.heads
        kv_in = x if context is None else torch.cat([x, context], 1)
        q = self.q_proj(x).view(bt, n, h, d).transpose(1, 2)
        k = self.k_proj(kv_in).view(bt, -1, h, d).transpose(1, 2)
        v = self.v_proj(kv_in).view(bt, -1, h, d).transpose(1, 2)
        logits = (q @ k.transpose(-2, -1)) / math.sqrt(d)
        if context is not None and hasattr(self, "local_global_bias_table"):
            table = self.local_global_bias_table  # (h, 1, 2): [local, global]
            bias = torch.cat([table[..., :1].expand(h, 1, n), table[..., 1:].expand(h, 1, k.shape[2] - n)], -1)
            logits = logits + bias.unsqueeze(0)
        probs = logits.softmax(-1)
        out = (probs @ v).transpose(1, 2).reshape(bt, n, w)
        cls_attn = probs[:, :, 0, 1:n].mean(1)
        return self.out_proj(out), cls_attn


class ResidualBlock(nn.Module):
    def __init__(self, width: int, heads: int, with_bias_table: bool):
        super().__init__()
        self.attn = ContextAttention(width, heads, with_bias_table)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, 4 * width))
        self.mlp.add_module("c_proj", nn.Linear(4 * width, width))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None):
        a, cls_attn = self.attn(self.ln_1(x), None if context is None else self.ln_1(context))
        x = x + a
        x = x + self.mlp.c_proj(quick_gelu(self.mlp.c_fc(self.ln_2(x))))
        return x, cls_attn


class _Blocks(nn.Module):
    def __init__(self, cfg: TowerConfig):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualBlock(cfg.width, cfg.heads, i >= 1) for i in range(cfg.layers)])


def merge_bipartite(x: torch.Tensor, size: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One round of bipartite soft matching: split tokens alternately into A and B, merge the r A-tokens most
    similar (cosine) to their best B-token into it (size-weighted mean). x (B, N, W), size (B, N, 1)."""
    a, b = x[:, ::2], x[:, 1::2]
    sa, sb = size[:, ::2], size[:, 1::2]
    r = min(r, a.shape[1])
    sim = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).transpose(1, 2)
    best, match = sim.max(-1)
    order = best.argsort(-1, descending=True)
    merged, kept = order[:, :r], order[:, r:]
    gather = lambda t, idx: t.gather(1, idx.unsqueeze(-1).expand(-1, -1, t.shape[-1]))  # noqa: E731
    dst = match.gather(1, merged)
    b_sum = (b * sb).scatter_add(1, dst.unsqueeze(-1).expand(-1, -1, b.shape[-1]), gather(a * sa, merged))
    b_size = sb.scatter_add(1, dst.unsqueeze(-1), gather(sa, merged))
    return torch.cat([gather(a, kept), b_sum / b_size], 1), torch.cat([gather(sa, kept), b_size], 1)


def build_context(tokens: torch.Tensor, cls_attn: torch.Tensor, n_frames: int, cfg: TowerConfig) -> torch.Tensor:
    """Seed tokens (top seed_ratio patches of each frame by CLS attention) of all frames, merged down to
    `context_tokens`. tokens (B*T, 1+P, W), cls_attn (B*T, P) -> (B, context_tokens, W)."""
    bt, n, w = tokens.shape
    k = int((n - 1) * cfg.seed_ratio)
    top = cls_attn.topk(k, dim=-1).indices + 1
    seeds = tokens.gather(1, top.unsqueeze(-1).expand(-1, -1, w)).view(bt // n_frames, n_frames * k, w)
    size = torch.ones(seeds.shape[0], seeds.shape[1], 1, dtype=seeds.dtype, device=seeds.device)
    while seeds.shape[1] > cfg.context_tokens:
        seeds, size = merge_bipartite(seeds, size, min(cfg.merge_per_round, seeds.shape[1] - cfg.context_tokens))
    return seeds


class VisionTower(nn.Module):
    """ViT with CLIP's parameter names (TC-CLIP layout: split q/k/v/out projections, bias tables in blocks >= 1).

    temporal_context=True: TC-CLIP's temporal contextualisation (each block's frame tokens also attend to
    context tokens rebuilt from the previous block's most-attended patches of all frames);
    temporal_context=False: plain per-frame CLIP.
    forward: (B, T, 3, H, W) -> per-frame CLS features (B, T, out_dim) after ln_post and proj (not normalised).
    """

    def __init__(self, cfg: TowerConfig | None = None, *, temporal_context: bool = True, name: str = "tower"):
        super().__init__()
        self.cfg = cfg = cfg or TowerConfig()
        self.temporal_context = temporal_context
        self.out_dim = cfg.out_dim
        self.weights_digest = "random"
        self.name = name
        grid = cfg.image // cfg.patch
        self.conv1 = nn.Conv2d(3, cfg.width, cfg.patch, cfg.patch, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(cfg.width) * cfg.width ** -0.5)
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, cfg.width) * cfg.width ** -0.5)
        self.ln_pre = nn.LayerNorm(cfg.width)
        self.transformer = _Blocks(cfg)
        self.ln_post = nn.LayerNorm(cfg.width)
        self.proj = nn.Parameter(torch.randn(cfg.width, cfg.out_dim) * cfg.width ** -0.5)
        self.last_context: torch.Tensor | None = None

    @property
    def encoder_id(self) -> str:
        mode = "tc" if self.temporal_context else "frames"
        return f"{self.name}-{mode}-w{self.cfg.width}-l{self.cfg.layers}-d{self.cfg.out_dim}-{self.weights_digest}"

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        size = self.cfg.image
        if frames.ndim != 5 or tuple(frames.shape[2:]) != (3, size, size):
            raise InputFormatError(f"tower input has shape {tuple(frames.shape)}, expected (B, T, 3, {size}, {size})",
                                   fix="preprocess frames with preprocess_frames")
        seeds = frames.shape[1] * int((self.positional_embedding.shape[0] - 1) * self.cfg.seed_ratio)
        if self.temporal_context and seeds < self.cfg.context_tokens:
            raise InputFormatError(f"{frames.shape[1]} frames give {seeds} seed tokens, fewer than the "
                                   f"{self.cfg.context_tokens} context tokens", fix="pass 16 frames, as HERO does")
        b, t = frames.shape[:2]
        x = self.conv1(frames.flatten(0, 1)).flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = self.ln_pre(torch.cat([cls, x], 1) + self.positional_embedding)
        context = None
        for block in self.transformer.resblocks:
            ctx_in = None if context is None else context.repeat_interleave(t, 0)
            x, cls_attn = block(x, ctx_in)
            if self.temporal_context:
                context = build_context(x, cls_attn, t, self.cfg)
        self.last_context = None if context is None else self.ln_post(context) @ self.proj
        return (self.ln_post(x[:, 0]) @ self.proj).view(b, t, -1)


def _file_digest(path: Path) -> str:
    return sha256_file(path)[:12]


def load_tc_clip(path: str | Path, cfg: TowerConfig | None = None) -> VisionTower:
    """TC-CLIP vision tower from a TC-CLIP / HERO checkpoint: `{'model': state_dict}` or a bare state dict;
    a DDP `module.` prefix is stripped, only `image_encoder.` keys are used, every tower key must be there."""
    path = Path(path)
    ckpt = read_checkpoint(path, what="TC-CLIP checkpoint")
    state = ckpt.get("model", ckpt) if isinstance(ckpt.get("model", None), dict) else ckpt
    vision = {}
    for key, val in state.items():
        key = key[len("module."):] if key.startswith("module.") else key
        if key.startswith("image_encoder."):
            vision[key[len("image_encoder."):]] = val
    if not vision:
        raise CheckpointError("has no 'image_encoder.' keys", path=path,
                              fix="pass the TC-CLIP checkpoint (e.g. zero_shot_k400_tc_clip_newkeys.pth)")
    tower = VisionTower(cfg, temporal_context=True, name="tc-clip")
    expected = tower.state_dict()
    unknown = [k for k in vision if k not in expected]
    check_state_dict(expected, {k: v for k, v in vision.items() if k in expected}, path,
                     what="TC-CLIP image_encoder")
    tower.load_state_dict({k: vision[k] for k in expected}, strict=True)
    tower.unused_keys = unknown
    tower.weights_digest = _file_digest(path)
    return tower.eval().requires_grad_(False)


def _read_openai_state(path: Path) -> dict[str, torch.Tensor]:
    """OpenAI releases ViT-B-16.pt as a TorchScript archive; a plain state-dict file is accepted too."""
    is_script = False
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            is_script = any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())
    if is_script:
        try:
            return {k: v for k, v in torch.jit.load(str(path), map_location="cpu").state_dict().items()}
        except Exception as exc:
            raise CheckpointError(f"is not a readable TorchScript CLIP archive ({str(exc).splitlines()[0][:160]})",
                                  path=path, fix="pass OpenAI's ViT-B-16.pt unmodified") from None
    ckpt = read_checkpoint(path, what="OpenAI CLIP checkpoint")
    return ckpt.get("state_dict", ckpt) if isinstance(ckpt.get("state_dict", None), dict) else ckpt


def load_openai_clip(path: str | Path, cfg: TowerConfig | None = None, *, temporal_context: bool = False) -> VisionTower:
    """OpenAI CLIP ViT-B/16 vision tower (`visual.` keys; `attn.in_proj_*` split row-wise into q, k, v).
    With temporal_context=True this is TC-CLIP's starting point: the bias tables start at zero."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("OpenAI CLIP checkpoint file does not exist", path=path, fix="pass ViT-B-16.pt")
    state = _read_openai_state(path)
    tower = VisionTower(cfg, temporal_context=temporal_context, name="openai-clip")
    w = tower.cfg.width
    mapped: dict[str, torch.Tensor] = {}
    for key, val in state.items():
        if not key.startswith("visual."):
            continue
        key = key[len("visual."):]
        if key.endswith("attn.in_proj_weight") or key.endswith("attn.in_proj_bias"):
            stem, kind = key.rsplit(".in_proj_", 1)
            if val.shape[0] != 3 * w:
                raise CheckpointError(f"key 'visual.{key}' has {val.shape[0]} rows, expected {3 * w}", path=path,
                                      fix="pass a ViT-B/16 CLIP checkpoint")
            for name, part in zip(("q_proj", "k_proj", "v_proj"), val.split(w, 0)):
                mapped[f"{stem}.{name}.{kind}"] = part.float()
        else:
            mapped[key] = val.float()
    expected = {k: v for k, v in tower.state_dict().items() if not k.endswith("local_global_bias_table")}
    check_state_dict(expected, {k: v for k, v in mapped.items() if k in expected}, path,
                     what="OpenAI CLIP visual")
    tower.load_state_dict({**tower.state_dict(), **{k: mapped[k] for k in expected}}, strict=True)
    tower.weights_digest = _file_digest(path)
    return tower.eval().requires_grad_(False)


# ----------------------------------------------------------------------------- feature cache

def video_checksum(video: str | Path | np.ndarray) -> str:
    """sha256 of the video file's bytes, or of an (F, H, W, 3) uint8 array's shape and bytes."""
    if isinstance(video, np.ndarray):
        h = hashlib.sha256(repr(video.shape).encode())
        h.update(np.ascontiguousarray(video).tobytes())
        return h.hexdigest()
    path = Path(video)
    if not path.is_file():
        raise InputFormatError("video file does not exist", path=path, fix="check the path")
    return sha256_file(path)


@torch.no_grad()
def encode_frames(encoder: FrameEncoder, frames: np.ndarray, *, path: str | Path | None = None) -> np.ndarray:
    """Decoded frames (N, H, W, 3) uint8 -> per-frame features (16, D) float32."""
    x = preprocess_frames(frames, path=path).unsqueeze(0)
    return encoder(x)[0].float().numpy()


class FeatureCache:
    """Per-video features on disk: `<root>/<encoder_id>/<sha256[:2]>/<sha256>.npz` with `frames` (16, D) and
    `pooled` (D,) (mean over frames, not normalised). Writes are atomic; a damaged entry is recomputed."""

    #: the cache's folder inside a run's output folder when the run is given none
    DEFAULT_FOLDER = "video_features"

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @classmethod
    def for_run(cls, out: str | Path, given: str | Path | None = None) -> "FeatureCache":
        """The cache at `given`, else the default one of the run writing into `out` (`<out>/video_features`)."""
        return cls(given if given else Path(out) / cls.DEFAULT_FOLDER)

    def path_for(self, checksum: str, encoder_id: str) -> Path:
        return self.root / encoder_id / checksum[:2] / f"{checksum}.npz"

    def read(self, checksum: str, encoder_id: str, dim: int) -> np.ndarray | None:
        p = self.path_for(checksum, encoder_id)
        if not p.is_file():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                feats = z["frames"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
            return None
        if feats.shape != (N_SEGMENTS, dim) or not np.isfinite(feats).all():
            return None
        return feats.astype(np.float32)

    def write(self, checksum: str, encoder_id: str, feats: np.ndarray) -> Path:
        buf = io.BytesIO()
        np.savez(buf, frames=feats.astype(np.float32), pooled=feats.mean(0).astype(np.float32))
        return write_bytes(self.path_for(checksum, encoder_id), buf.getvalue())

    def features(self, video: str | Path | np.ndarray, encoder: FrameEncoder) -> np.ndarray:
        """(16, D) features of a video file or a decoded (F, H, W, 3) uint8 array, from the cache or computed."""
        checksum = video_checksum(video)
        hit = self.read(checksum, encoder.encoder_id, encoder.out_dim)
        if hit is not None:
            return hit
        frames = video if isinstance(video, np.ndarray) else read_video_frames(video)
        feats = encode_frames(encoder, frames, path=None if isinstance(video, np.ndarray) else video)
        if not np.isfinite(feats).all():
            raise InputFormatError("encoder produced NaN features", path=None if isinstance(video, np.ndarray)
                                   else video, fix="check the encoder weights")
        self.write(checksum, encoder.encoder_id, feats)
        return feats

"""Motion feature extractors of the benchmark: the official T2M evaluator and the vimo video–motion evaluator.

* `T2MEvaluator`: Guo et al.'s movement + motion encoders (spec §3), loaded strictly from an official evaluator
  folder (`Comp_v6_KLD005/{opt.txt, meta/mean.npy, meta/std.npy}`, `text_mot_match/model/finest.tar`), fed as
  the official wrapper does: foot contacts dropped, batch sorted by length (embeddings returned un-sorted),
  GRU packed with lengths // unit_length.
* `VimoEvaluator`: the same two motion encoders plus a video-feature projection, trained contrastively on a
  release (`train_vimo_evaluator`) when official weights are absent, then frozen and saved as one versioned
  file; its id is derived from the file's sha256, so numbers of different evaluators are never compared.

Embeddings are (B, D) float32; motions are (B, T, 263) float32, already normalised (the official protocol
feeds them in the RVQ-normalised space), lengths in frames.
"""
from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from vimo.atomic import load_npy, sha256_file, write_bytes, write_text
from vimo.errors import InputFormatError, check_format_version
from vimo.models.checkpoints import CheckpointError, entry, load_strict, read_checkpoint
from vimo.models.configs import epochs_reaching
from vimo.motion.skeleton import FEATURE_DIM


EVALUATOR_FORMAT = "vimo-evaluator/1"
CONTACT_DIMS = 4


@dataclass
class EvaluatorConfig:
    """Sizes of the evaluator networks (defaults: the official T2M evaluator)."""

    dim_pose: int = FEATURE_DIM
    """motion feature dimension; the movement encoder sees dim_pose - 4 (foot contacts dropped)"""
    dim_movement_enc_hidden: int = 512
    """channels of the movement convolutions"""
    dim_movement_latent: int = 512
    """movement feature width (per 4 frames)"""
    dim_motion_hidden: int = 1024
    """GRU width of the motion encoder (hard-coded in the official wrapper)"""
    dim_coemb_hidden: int = 512
    """embedding width (hard-coded in the official wrapper)"""
    unit_length: int = 4
    """frames per movement step"""
    video_dim: int = 512
    """video feature width (vimo evaluator only)"""
    video_segments: int = 2
    """vimo evaluator only: the video's frames are averaged in this many consecutive segments whose means are
    concatenated, so the embedding keeps the order of what happens (1: one mean over all frames, the layout of
    evaluators written before this field, which load with 1)"""


def tiny_evaluator_config() -> EvaluatorConfig:
    """CPU-sized sizes for the `tiny` preset."""
    return EvaluatorConfig(dim_movement_enc_hidden=32, dim_movement_latent=32, dim_motion_hidden=64,
                           dim_coemb_hidden=32, video_dim=32)


class MovementConvEncoder(nn.Module):
    """(B, T, dim_pose-4) -> (B, T/4, latent): two stride-2 convs (k4, p1) with dropout 0.2 and LeakyReLU 0.2,
    then a per-step linear. Names `main.0`, `main.3`, `out_net` as the official state dict."""

    def __init__(self, input_size: int, hidden: int, output: int):
        super().__init__()
        self.main = nn.Sequential(nn.Conv1d(input_size, hidden, 4, 2, 1), nn.Dropout(0.2), nn.LeakyReLU(0.2, True),
                                  nn.Conv1d(hidden, output, 4, 2, 1), nn.Dropout(0.2), nn.LeakyReLU(0.2, True))
        self.out_net = nn.Linear(output, output)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_net(self.main(x.permute(0, 2, 1)).permute(0, 2, 1))


class MotionEncoderBiGRUCo(nn.Module):
    """(B, n, latent) movement features + (B,) step lengths sorted descending -> (B, coemb) embeddings."""

    def __init__(self, input_size: int, hidden: int, output: int):
        super().__init__()
        self.input_emb = nn.Linear(input_size, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.output_net = nn.Sequential(nn.Linear(hidden * 2, hidden), nn.LayerNorm(hidden),
                                        nn.LeakyReLU(0.2, True), nn.Linear(hidden, output))
        self.hidden = nn.Parameter(torch.randn((2, 1, hidden), requires_grad=True))

    def forward(self, x: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        h0 = self.hidden.repeat(1, x.shape[0], 1)
        packed = pack_padded_sequence(self.input_emb(x), steps.cpu(), batch_first=True, enforce_sorted=True)
        _, last = self.gru(packed, h0)
        return self.output_net(torch.cat([last[0], last[1]], -1))


class VideoProjection(nn.Module):
    """(B, F, video_dim) per-frame video features -> (B, coemb): per-frame MLP, mean over each of `segments`
    consecutive runs of frames (concatenated, so the embedding knows what came first), projection."""

    def __init__(self, video_dim: int, hidden: int, output: int, segments: int = 1):
        super().__init__()
        if segments < 1:
            raise ValueError(f"video_segments must be >= 1, got {segments}")
        self.segments = segments
        self.frame_net = nn.Sequential(nn.Linear(video_dim, hidden), nn.LeakyReLU(0.2, True), nn.Linear(hidden, hidden))
        self.output_net = nn.Sequential(nn.LayerNorm(segments * hidden), nn.LeakyReLU(0.2, True),
                                        nn.Linear(segments * hidden, output))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        h = self.frame_net(video)
        if video.shape[1] < self.segments:
            raise InputFormatError(f"video features have {video.shape[1]} frames, the evaluator averages "
                                   f"{self.segments} segments", fix="use the video encoder the evaluator was trained with")
        return self.output_net(torch.cat([part.mean(1) for part in torch.tensor_split(h, self.segments, dim=1)], -1))


class MotionEvaluator(nn.Module):
    """Movement + motion encoders and the feeding rule of the official wrapper."""

    kind = "motion"

    def __init__(self, cfg: EvaluatorConfig, mean: np.ndarray, std: np.ndarray, evaluator_id: str):
        super().__init__()
        self.cfg = cfg
        self.movement_encoder = MovementConvEncoder(cfg.dim_pose - CONTACT_DIMS, cfg.dim_movement_enc_hidden,
                                                    cfg.dim_movement_latent)
        self.motion_encoder = MotionEncoderBiGRUCo(cfg.dim_movement_latent, cfg.dim_motion_hidden,
                                                   cfg.dim_coemb_hidden)
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.evaluator_id = evaluator_id

    @property
    def device(self) -> torch.device:
        return self.motion_encoder.hidden.device

    def encode(self, motions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Differentiable embedding (training); rows returned in the input order."""
        if motions.ndim != 3 or motions.shape[-1] != self.cfg.dim_pose:
            raise InputFormatError(f"motions have shape {tuple(motions.shape)}, expected (B, T, {self.cfg.dim_pose})",
                                   fix="pass normalised 263-d features")
        lengths = torch.as_tensor(lengths).long().cpu()
        steps = lengths // self.cfg.unit_length
        if (steps < 1).any() or (lengths > motions.shape[1]).any():
            raise InputFormatError(f"lengths {lengths.tolist()} must be >= {self.cfg.unit_length} frames and at "
                                   f"most the padded length {motions.shape[1]}", fix="drop too-short motions")
        # official wrapper: sort by length descending (np.argsort reversed), drop foot contacts, pack by steps
        order = torch.from_numpy(np.argsort(lengths.numpy())[::-1].copy())
        x = motions[order.to(motions.device)][..., :-CONTACT_DIMS]
        movement = self.movement_encoder(x.float())
        emb = self.motion_encoder(movement, steps[order])
        return emb[torch.argsort(order).to(emb.device)]

    @torch.no_grad()
    def motion_embeddings(self, motions: torch.Tensor | np.ndarray, lengths) -> np.ndarray:
        """(B, T, 263) normalised motions, (B,) frame lengths -> (B, D) float32 embeddings (eval mode)."""
        was = self.training
        self.eval()
        x = torch.as_tensor(np.asarray(motions, np.float32) if isinstance(motions, np.ndarray) else motions)
        out = self.encode(x.to(self.device), torch.as_tensor(lengths)).float().cpu().numpy()
        self.train(was)
        return out

    def describe(self) -> dict[str, Any]:
        return {"id": self.evaluator_id, "kind": self.kind, "config": asdict(self.cfg)}


class T2MEvaluator(MotionEvaluator):
    """The official T2M motion evaluator (no video branch: no R-precision)."""

    kind = "t2m"


class VimoEvaluator(MotionEvaluator):
    """Contrastive video–motion evaluator: motion encoders as T2M plus a video projection."""

    kind = "vimo-contrastive"

    def __init__(self, cfg: EvaluatorConfig, mean: np.ndarray, std: np.ndarray, evaluator_id: str = "untrained",
                 video_encoder_id: str = "", metadata: dict[str, Any] | None = None):
        super().__init__(cfg, mean, std, evaluator_id)
        self.video_projection = VideoProjection(cfg.video_dim, cfg.dim_motion_hidden, cfg.dim_coemb_hidden,
                                                cfg.video_segments)
        self.video_encoder_id = video_encoder_id
        self.metadata = metadata or {}

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        if video.ndim != 3 or video.shape[-1] != self.cfg.video_dim:
            raise InputFormatError(f"video features have shape {tuple(video.shape)}, expected (B, F, "
                                   f"{self.cfg.video_dim})", fix="use the video encoder the evaluator was trained with")
        return self.video_projection(video.float())

    @torch.no_grad()
    def video_embeddings(self, video: torch.Tensor | np.ndarray) -> np.ndarray:
        """(B, F, video_dim) per-frame features -> (B, D) float32."""
        was = self.training
        self.eval()
        x = torch.as_tensor(np.asarray(video, np.float32) if isinstance(video, np.ndarray) else video)
        out = self.encode_video(x.to(self.device)).float().cpu().numpy()
        self.train(was)
        return out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "video_encoder_id": self.video_encoder_id,
                "trained_on": self.metadata.get("release_sha256"), "format": EVALUATOR_FORMAT}


# --- official T2M evaluator ----------------------------------------------------------------------------------


def parse_opt_txt(path: str | Path) -> dict[str, Any]:
    """`key: value` lines of an official opt.txt (banner lines skipped); ints, floats and booleans parsed."""
    path = Path(path)
    if not path.is_file():
        raise InputFormatError("opt.txt does not exist", path=path, fix="pass the official evaluator folder")
    out: dict[str, Any] = {}
    for line in path.read_text(errors="replace").splitlines():
        if ":" not in line or line.lstrip().startswith("-"):
            continue
        key, _, raw = line.partition(":")
        raw = raw.strip()
        value: Any = raw
        if raw in ("True", "False"):
            value = raw == "True"
        else:
            for cast in (int, float):
                try:
                    value = cast(raw)
                    break
                except ValueError:
                    pass
        out[key.strip()] = value
    if not out:
        raise InputFormatError("opt.txt has no 'key: value' lines", path=path, fix="pass the official opt.txt")
    return out


def _meta(path: Path, dim: int) -> np.ndarray:
    arr = load_npy(path, what="evaluator statistics")
    if arr.shape != (dim,) or not np.isfinite(arr).all():
        raise InputFormatError(f"has shape {arr.shape} or non-finite values, expected ({dim},)", path=path,
                               fix="use the meta/ files of the official evaluator zip")
    return arr.astype(np.float32)


def load_t2m_evaluator(root: str | Path, device: str | torch.device = "cpu") -> T2MEvaluator:
    """Strictly load the official evaluator from `root` = the folder holding `Comp_v6_KLD005/` and
    `text_mot_match/` (e.g. HERO's `checkpoints/vimo`, MoMask's `checkpoints/t2m`)."""
    root = Path(root)
    comp = root / "Comp_v6_KLD005"
    ckpt_path = root / "text_mot_match" / "model" / "finest.tar"
    opt = parse_opt_txt(comp / "opt.txt")
    if str(opt.get("dataset_name", "t2m")) == "kit":
        raise InputFormatError("is the KIT-ML evaluator (251-d)", path=comp / "opt.txt",
                               fix="use the HumanML3D / ViMo evaluator (263-d)")
    defaults = EvaluatorConfig()
    cfg = EvaluatorConfig(dim_movement_enc_hidden=int(opt.get("dim_movement_enc_hidden", defaults.dim_movement_enc_hidden)),
                          dim_movement_latent=int(opt.get("dim_movement_latent", defaults.dim_movement_latent)),
                          unit_length=int(opt.get("unit_length", defaults.unit_length)))
    mean, std = _meta(comp / "meta" / "mean.npy", cfg.dim_pose), _meta(comp / "meta" / "std.npy", cfg.dim_pose)
    ckpt = read_checkpoint(ckpt_path, what="T2M evaluator checkpoint")
    digest = sha256_file(ckpt_path)
    model = T2MEvaluator(cfg, mean, std, f"t2m-{digest[:16]}-u{cfg.unit_length}")
    for key in ("movement_encoder", "motion_encoder"):
        sub = getattr(model, key)
        state = entry(ckpt, key, ckpt_path, what="T2M evaluator checkpoint")
        if not isinstance(state, dict):
            raise CheckpointError(f"'{key}' is not a state dict", path=ckpt_path, fix="pass the official finest.tar")
        load_strict(sub, state, ckpt_path, what=f"{key} state dict")
    return model.to(device).eval().requires_grad_(False)


# --- vimo contrastive evaluator ------------------------------------------------------------------------------


def save_vimo_evaluator(model: VimoEvaluator, path: str | Path) -> str:
    """Write the frozen evaluator (`evaluator.tar` + `evaluator.tar.sha256`); returns its id."""
    path = Path(path)
    obj = {"movement_encoder": model.movement_encoder.state_dict(),
           "motion_encoder": model.motion_encoder.state_dict(),
           "video_projection": model.video_projection.state_dict(),
           "vimo": {"format": EVALUATOR_FORMAT, "config": asdict(model.cfg), "mean": torch.from_numpy(model.mean),
                    "std": torch.from_numpy(model.std), "video_encoder_id": model.video_encoder_id,
                    "metadata": json.dumps(model.metadata)}}
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes(path, buf.getvalue())
    digest = sha256_file(path)
    write_text(path.with_name(path.name + ".sha256"), f"{digest}  {path.name}\n")
    model.evaluator_id = evaluator_id_from_digest(digest)
    return model.evaluator_id


def evaluator_id_from_digest(digest: str) -> str:
    return f"vimo-{digest[:16]}"


def load_vimo_evaluator(path: str | Path, device: str | torch.device = "cpu") -> VimoEvaluator:
    """Strictly load a frozen vimo evaluator file, checking its format and its sha256 sidecar."""
    path = Path(path)
    if path.is_dir():
        path = path / "evaluator.tar"
    ckpt = read_checkpoint(path, what="vimo evaluator")
    digest = sha256_file(path)
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.is_file():
        recorded = sidecar.read_text().split()[0] if sidecar.read_text().split() else ""
        if recorded != digest:
            raise CheckpointError(f"sha256 {digest[:16]}… does not match {sidecar.name} ({recorded[:16]}…)",
                                  path=path, fix="the evaluator was modified; restore it or retrain a new one")
    meta = entry(ckpt, "vimo", path, what="vimo evaluator")
    check_format_version(meta.get("format"), EVALUATOR_FORMAT, what="vimo evaluator", path=path,
                         older_fix="retrain it with `vimo bench --retrain-evaluator` of this vimo version")
    # files written before `video_segments` existed average all frames at once
    cfg = EvaluatorConfig(**{"video_segments": 1, **meta["config"]})
    mean, std = np.asarray(meta["mean"], np.float32), np.asarray(meta["std"], np.float32)
    model = VimoEvaluator(cfg, mean, std, evaluator_id_from_digest(digest), meta.get("video_encoder_id", ""),
                          json.loads(meta.get("metadata", "{}")))
    for key in ("movement_encoder", "motion_encoder", "video_projection"):
        load_strict(getattr(model, key), entry(ckpt, key, path, what="vimo evaluator"), path, what=f"{key} state dict")
    return model.to(device).eval().requires_grad_(False)


def load_evaluator(path: str | Path, device: str | torch.device = "cpu") -> MotionEvaluator:
    """An official T2M evaluator folder or a vimo evaluator file / folder."""
    path = Path(path)
    if path.is_dir() and (path / "text_mot_match").is_dir():
        return load_t2m_evaluator(path, device)
    if path.is_file() or (path / "evaluator.tar").is_file():
        return load_vimo_evaluator(path, device)
    raise InputFormatError("is neither an official evaluator folder (Comp_v6_KLD005/, text_mot_match/) nor a "
                           "vimo evaluator (evaluator.tar)", path=path, fix="pass one of them to --evaluator")


def contrastive_loss(video: torch.Tensor, motion: torch.Tensor, same_video: torch.Tensor,
                     temperature: float = 0.1) -> torch.Tensor:
    """Symmetric InfoNCE over logits −‖v_i − m_j‖ / τ; every motion paired with the same video is a positive
    (releases such as T2/T3 pair a video with several reactions)."""
    logits = -torch.cdist(video, motion) / temperature
    target = same_video.float() / same_video.float().sum(1, keepdim=True)  # same_video is symmetric
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


@dataclass
class EvaluatorTraining:
    """Contrastive training of a vimo evaluator on a release's train pairs."""

    epochs: int = 50
    """passes over the train pairs (a new crop of every motion each epoch)"""
    min_steps: int = 0
    """raise `epochs` until training makes at least this many optimiser steps (CPU presets on small releases)"""
    batch_size: int = 64
    """pairs per step (the negatives of a pair are the others of its batch)"""
    lr: float = 1e-4
    """AdamW learning rate"""
    temperature: float = 0.1
    """InfoNCE temperature"""
    seed: int = 1234
    """seed of initialisation, crops and order"""
    max_length: int = 200
    """frames every motion is padded to (longer motions: a seeded random window of this many frames per epoch)"""
    extra: dict[str, Any] = field(default_factory=dict)
    """provenance recorded in the evaluator file (release checksum, encoder, ...)"""


def train_vimo_evaluator(motions: list[np.ndarray], videos: list[np.ndarray], video_ids: list[str],
                         mean: np.ndarray, std: np.ndarray, cfg: EvaluatorConfig, training: EvaluatorTraining,
                         video_encoder_id: str, device: str | torch.device = "cpu") -> VimoEvaluator:
    """Train on (T_i, 263) raw motions and their (16, D) video features; returns the frozen evaluator (unsaved,
    id `untrained` until `save_vimo_evaluator`). Motions are normalised with `mean`/`std` (pass the RVQ meta
    statistics so the evaluator sees what the benchmark feeds it)."""
    from vimo.models.data import LONGER_WINDOW, ReactionPlan, padded_motion

    if not motions or len(motions) != len(videos) or len(videos) != len(video_ids):
        raise InputFormatError(f"{len(motions)} motions, {len(videos)} videos, {len(video_ids)} ids",
                               fix="pass one video per motion")
    torch.manual_seed(training.seed)
    model = VimoEvaluator(cfg, mean, std, video_encoder_id=video_encoder_id, metadata=dict(training.extra))
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=training.lr)
    # motions longer than max_length: a seeded random window of max_length frames, new every epoch (data.py)
    plan = ReactionPlan([m.shape[0] for m in motions], training.batch_size, training.seed, unit=cfg.unit_length,
                        max_length=training.max_length, frozen=False, longer=LONGER_WINDOW)
    index = {v: i for i, v in enumerate(dict.fromkeys(video_ids))}
    ids = np.array([index[v] for v in video_ids])
    history = []
    epochs = epochs_reaching(training.epochs, training.min_steps, len(plan.epoch(0)))
    for epoch in range(epochs):
        total = 0.0
        batches = plan.epoch(epoch)
        for batch in batches:
            idx = [c.index for c in batch]
            x = torch.from_numpy(np.stack([padded_motion(motions[c.index], c, model.mean, model.std,
                                                         training.max_length) for c in batch])).to(device)
            lens = torch.tensor([c.length for c in batch])
            v = torch.from_numpy(np.stack([videos[i] for i in idx]).astype(np.float32)).to(device)
            same = torch.from_numpy(ids[idx][:, None] == ids[idx][None]).to(device)
            loss = contrastive_loss(model.encode_video(v), model.encode(x, lens), same, training.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach())
        history.append(total / max(len(batches), 1))
    if not np.isfinite(history).all():
        raise InputFormatError("evaluator training diverged (NaN loss)", fix="lower the learning rate")
    model.metadata.update({"loss_history": history, "training": {k: v for k, v in asdict(training).items()
                                                                 if k != "extra"}, "train_pairs": len(motions), "epochs": epochs,
                           "longer_than_max_length": plan.longer_count})
    return model.eval().requires_grad_(False)

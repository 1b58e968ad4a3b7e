"""Training speed of the reference HERO on CPU (tiny preset), with cached video features against decoding.

Measures, in one run on a synthetic HERO-readable release (random-but-valid motions, small mp4 videos):
  * steps/s and samples/s of each stage (rvq, mask, res) through `vimo.models.train.train`;
  * the masked-transformer step with cached per-video features (how the trainer runs) against the same step
    when every sample's video is decoded, preprocessed and encoded again (how the official loader runs);
    printed as a ratio (cached / decoding).

Usage:
    python benchmarks/train.py [--steps 20] [--videos 12]
    python benchmarks/train.py --preset hero --device cuda --precision bf16 --videos 80   # on a GPU machine
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vimo.models.configs import preset
from vimo.models.train import TrainConfig, load_video_frames, train
from vimo.models.transformers import MaskTransformer
from vimo.models.video_encoder import FeatureCache, PixelStatsEncoder, encode_frames


def write_release(root: Path, n: int, seed: int = 0, max_frames: int = 40) -> Path:
    import imageio.v2 as iio

    rng = np.random.default_rng(seed)
    mean = np.zeros(263, np.float32)
    std = np.ones(263, np.float32)
    (root / "vector_263").mkdir(parents=True)
    (root / "videos" / "synthetic").mkdir(parents=True)
    np.save(root / "Mean.npy", mean)
    np.save(root / "Std.npy", std)
    pairs = []
    for i in range(n):
        np.save(root / "vector_263" / f"m{i:03d}.npy", rng.standard_normal((int(rng.integers(24, max_frames + 1)), 263)).astype(np.float32))
        video = root / "videos" / "synthetic" / f"synthetic-{i:03d}.mp4"
        with iio.get_writer(str(video), fps=20, codec="libx264", macro_block_size=16) as w:
            for _ in range(48):
                w.append_data(rng.integers(0, 256, (128, 160, 3), dtype=np.uint8))
        pairs.append(f"videos/synthetic/{video.name} vector_263/m{i:03d}.npy")
    for split in ("train", "test"):
        (root / f"{split}.txt").write_text("\n".join(pairs) + "\n")
        (root / f"motions_{split}.txt").write_text("\n".join(p.split()[1] for p in pairs) + "\n")
    return root


def stage_speed(stage: str, release: Path, runs: Path, steps: int, preset_name: str, device: str,
                precision: str) -> tuple[float, float]:
    cfg = TrainConfig(stage=stage, release=release, out=runs / stage, preset=preset_name, progress=False,
                      rvq_dir=runs / "rvq", max_steps=steps, epochs=10_000, save_every=10**9, device=device,
                      precision=precision)
    train(cfg)
    rows = torch.load(runs / stage / "model" / "latest.tar", weights_only=False)["vimo"]["metrics"][2:]
    samples_per_s = statistics.median(r["samples_per_s"] for r in rows)
    steps_per_s = statistics.median(r["samples_per_s"] / r["samples"] for r in rows)
    return steps_per_s, samples_per_s


def cached_vs_decoding(release: Path, steps: int) -> tuple[float, float]:
    p = preset("tiny")
    torch.manual_seed(0)
    model = MaskTransformer(p.transformer)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4, betas=(0.9, 0.99))
    encoder = PixelStatsEncoder(out_dim=p.transformer.video_dim)
    videos = sorted((release / "videos" / "synthetic").glob("*.mp4"))
    b = p.mask_recipe.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        cache = FeatureCache(tmp)
        for v in videos:
            cache.features(v, encoder)
        ids = torch.randint(0, p.transformer.num_tokens, (b, 10))
        lens = torch.full((b,), 10)

        def step(feats):
            loss, _ = model(ids, torch.from_numpy(np.stack(feats)), lens)
            opt.zero_grad()
            loss.backward()
            opt.step()

        def run(get) -> float:
            times = []
            for s in range(steps):
                chosen = [videos[(s * b + k) % len(videos)] for k in range(b)]
                t0 = time.perf_counter()
                step([get(v) for v in chosen])
                times.append(time.perf_counter() - t0)
            return b / statistics.median(times)

        cached = run(lambda v: cache.features(v, encoder))
        decoding = run(lambda v: encode_frames(encoder, load_video_frames(v)))
    return cached, decoding


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--videos", type=int, default=12)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        max_frames = preset(args.preset).max_motion_length
        release = write_release(root / "release", args.videos, max_frames=max_frames)
        print(f"{args.device}, {args.preset} preset, {args.precision}, torch {torch.__version__}, "
              f"{torch.get_num_threads()} CPU threads")
        for stage in ("rvq", "mask", "res"):
            sps, samples = stage_speed(stage, release, root / "runs", args.steps, args.preset, args.device,
                                       args.precision)
            print(f"  {stage:4s}: {sps:7.1f} steps/s  {samples:8.1f} samples/s")
        cached, decoding = cached_vs_decoding(release, args.steps)
        print(f"  mask step, cached features : {cached:8.1f} samples/s")
        print(f"  mask step, decode + encode : {decoding:8.1f} samples/s")
        print(f"  ratio cached / decoding    : {cached / decoding:6.1f}x")


if __name__ == "__main__":
    main()

"""Speed of one evaluation replication's MultiModality generation: batched against the official loop.

The official evaluation generates the 30 reactions of a batch's videos in 30 sequential calls of batch 32;
`vimo.models.bench` repeats each video 30 times and generates them in one call (chunked at
`max_generation_batch`). Both run here on randomly initialised HERO networks (generation cost does not depend
on the weights) and the ratio official-loop time / batched time is printed, with the time of the
evaluator embedding of the 960 reactions.

With `--tiny-bench` it instead times, end to end, what a demo does from Python on the tests' synthetic release
(tests/models/conftest.py `write_split_release`, with splits/t2 and splits/seen_unseen): the base vimo evaluator
(`train_base_evaluator`), a base benchmark and a T2 benchmark (`run_bench(..., split="t2", evaluator=...)`),
tiny preset on CPU, and prints each wall time.

Usage:
    python benchmarks/bench.py                      # tiny preset, CPU
    python benchmarks/bench.py --preset hero --device cuda
    python benchmarks/bench.py --tiny-bench [--epochs 2 --replications 5 --threads 2]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from vimo.models.configs import preset
from vimo.models.evaluator import EvaluatorConfig, VimoEvaluator, tiny_evaluator_config
from vimo.models.generate import Hero
from vimo.models.rvq import RVQVAE
from vimo.models.transformers import MaskTransformer, ResidualTransformer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def generate(hero: Hero, video: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    base = hero.mask.generate(video, tokens, time_steps=10, cond_scale=4.0)
    return hero.rvq.forward_decoder(hero.res.generate(base, video, tokens, cond_scale=5.0))


def tiny_bench(args: argparse.Namespace) -> None:
    import sys
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' release writer
    from tests.models.conftest import write_split_release
    from vimo.models.bench import BenchConfig, run_bench, train_base_evaluator

    torch.set_num_threads(args.threads)
    common = dict(preset="tiny", epochs=args.epochs, replications=args.replications, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        release = write_split_release(Path(tmp) / "vimo-tiny", n_train=args.train_pairs, n_test=args.test_pairs)
        times = {"write release": time.perf_counter() - t0}
        t0 = time.perf_counter()
        ev = train_base_evaluator(BenchConfig(release=release, out=Path(tmp) / "base", **common))
        times["base evaluator"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        t2 = run_bench(BenchConfig(release=release, out=Path(tmp) / "t2", split="t2", evaluator=ev, **common))
        times["t2 bench (train + eval)"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        base = run_bench(BenchConfig(release=release, out=Path(tmp) / "base", **common))
        times["base bench (train + eval, evaluator reused)"] = time.perf_counter() - t0
    print(f"tiny bench, {args.train_pairs} train / {args.test_pairs} test pairs (T2: {t2['provenance']['train_pairs']}"
          f" train), epochs {args.epochs}, replications {args.replications}, torch threads {torch.get_num_threads()}")
    for key, value in times.items():
        print(f"{key:45s} {value:7.1f} s")
    print(f"{'demo total (evaluator + t2 bench)':45s} {times['base evaluator'] + times['t2 bench (train + eval)']:7.1f} s")
    for name, res in (("base", base), ("t2", t2)):
        fid = res["sets"]["test"]["metrics"]["fid"]
        print(f"{name}: FID {fid['mean']:.4g} ± {fid['ci95']:.2g}, one replication {res['timing']['replication_test_s']:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--videos", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--tiny-bench", action="store_true", help="time a tiny base + T2 benchmark end to end instead")
    ap.add_argument("--epochs", type=int, default=2, help="--tiny-bench: epochs of every stage")
    ap.add_argument("--replications", type=int, default=5, help="--tiny-bench: replications")
    ap.add_argument("--train-pairs", type=int, default=10, help="--tiny-bench: base training pairs")
    ap.add_argument("--test-pairs", type=int, default=36, help="--tiny-bench: test pairs")
    ap.add_argument("--threads", type=int, default=2, help="--tiny-bench: torch threads")
    args = ap.parse_args()
    if args.tiny_bench:
        tiny_bench(args)
        return
    p, device = preset(args.preset), torch.device(args.device)
    torch.manual_seed(0)
    hero = Hero(RVQVAE(p.rvq).to(device).eval(), MaskTransformer(p.transformer).to(device).eval(),
                ResidualTransformer(p.transformer).to(device).eval(), np.zeros(263), np.ones(263), p)
    ev_cfg = tiny_evaluator_config() if p.name == "tiny" else EvaluatorConfig()
    ev = VimoEvaluator(ev_cfg, np.zeros(263), np.ones(263)).to(device).eval()
    max_tokens = p.max_motion_length // p.unit_length
    video = torch.randn(args.videos, 16, p.transformer.video_dim, device=device)
    tokens = torch.randint(max(2, max_tokens // 2), max_tokens + 1, (args.videos,), device=device)

    def looped() -> None:
        for _ in range(args.repeats):
            generate(hero, video, tokens)

    def batched() -> torch.Tensor:
        return generate(hero, video.repeat_interleave(args.repeats, 0), tokens.repeat_interleave(args.repeats, 0))

    def timed(fn) -> float:
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        return time.perf_counter() - t0

    batched()  # warm-up
    loop_t = statistics.median(timed(looped) for _ in range(args.trials))
    batch_t = statistics.median(timed(batched) for _ in range(args.trials))
    out = batched()
    lens = (tokens * p.unit_length).repeat_interleave(args.repeats).cpu().numpy()
    emb_t = timed(lambda: ev.motion_embeddings(out, lens))
    print(f"preset {p.name}, device {device}, {args.videos} videos x {args.repeats} generations, threads "
          f"{torch.get_num_threads()}")
    print(f"official loop ({args.repeats} calls of {args.videos}): {loop_t:.3f} s")
    print(f"batched (1 call of {args.videos * args.repeats}):        {batch_t:.3f} s")
    print(f"ratio loop / batched: {loop_t / batch_t:.2f}x")
    print(f"evaluator embedding of {len(lens)} reactions: {emb_t:.3f} s")


if __name__ == "__main__":
    main()

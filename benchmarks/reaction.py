"""Cost of the reaction measures in `vimo bench`: their seconds against the whole benchmark's, in the same run.

A tiny benchmark (tiny preset, CPU) of the tests' learnable release (tests/models/learnable.py) whose test pairs
are given their actors (tests/models/test_bench_reaction.py `add_actors`), so every test pair is measured, real
and generated, in every replication. Prints the bench's total time, the reaction measures' time
(`timing.reaction_measures_s`) and their ratio; target: under 10 %.

Usage:
    python benchmarks/reaction.py                       # 20 replications, 2 epochs per stage
    python benchmarks/reaction.py --replications 5 --epochs 1
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replications", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=2, help="epochs of every stage")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    args = ap.parse_args()

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' release writers
    from tests.models.learnable import write_learnable_release
    from tests.models.test_bench_reaction import add_actors
    from vimo.models.bench import BenchConfig, run_bench

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        release = write_learnable_release(Path(tmp) / "vimo-learnable", n_train=36, n_val=6, n_test=32)
        add_actors(release)
        t0 = time.perf_counter()
        res = run_bench(BenchConfig(release=release, out=Path(tmp) / "b", preset="tiny", epochs=args.epochs,
                                    replications=args.replications, select_by_fid=False, progress=False))
        wall = time.perf_counter() - t0
    timing = res["timing"]
    reaction = res["sets"]["test"]["reaction"]
    total = timing["total_s"]
    evaluation = timing.get("eval_test_s", float("nan"))
    print(f"tiny bench: {reaction['pairs']} measured test pairs, {args.replications} replications, "
          f"epochs {args.epochs}, torch threads {torch.get_num_threads()}")
    print(f"{'bench total (train + evaluate)':40s} {total:8.1f} s   (wall {wall:.1f} s)")
    print(f"{'evaluation of the test set':40s} {evaluation:8.1f} s")
    print(f"{'reaction measures':40s} {timing['reaction_measures_s']:8.1f} s")
    print(f"ratio reaction / bench total: {timing['reaction_measures_s'] / total:.3f}   (target < 0.10)")
    print(f"ratio reaction / test-set evaluation: {timing['reaction_measures_s'] / evaluation:.3f}")


if __name__ == "__main__":
    main()

"""Speed of the batch HumanML3D encoder on one core, against a baseline measured in the same run.

    python benchmarks/features.py [--clips 1000] [--seed 0]

Clips: synthetic two-person interactions (vimo.synthetic), both persons, cut to 40-200 frames.
Baseline: `vimo.motion.reference.process_file_reference`, a per-clip transcription of the official
`process_file` (the official code runs at ~6,500 frames/s per core on a 180-frame clip, ~4,000 on a
mix of shorter clips). Target: the batch encoder >= 50x that, i.e. >= 300,000 frames/s.
Also checks that the timed outputs agree with the baseline within the issue's tolerances.
"""
from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def make_clips(n: int, seed: int) -> list[np.ndarray]:
    from vimo.synthetic import KINDS, generate

    rng = np.random.default_rng(seed)
    clips: list[np.ndarray] = []
    for i in range((n + 1) // 2):
        inter = generate(KINDS[i % len(KINDS)], seed=seed * 100_003 + i, fps=20,
                         duration_s=round(float(rng.uniform(2.5, 10.0)), 1))
        for person in (inter.actor, inter.reactor):
            T = len(person)
            length = int(rng.integers(40, min(200, T) + 1)) if T >= 40 else T
            start = int(rng.integers(0, T - length + 1))
            clips.append(np.ascontiguousarray(person[start:start + length]))
    return clips[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline-clips", type=int, default=60)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    from vimo.motion import joints_to_features_batch
    from vimo.motion.reference import process_file_reference

    clips = make_clips(args.clips, args.seed)
    frames = sum(len(c) for c in clips)
    joints_to_features_batch(clips[:4])  # load the compiled kernels (cached on disk after the first run)

    results = {}
    for backend in ("compiled", "numpy"):
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            out = joints_to_features_batch(clips, backend=backend)
            best = min(best, time.perf_counter() - t)
        results[backend] = (best, out)

    base = clips[: args.baseline_clips]
    base_frames = sum(len(c) for c in base)
    t = time.perf_counter()
    ref = [process_file_reference(c) for c in base]
    base_time = time.perf_counter() - t

    worst = {"0:67": 0.0, "67:193": 0.0, "193:259": 0.0, "contacts": 0}
    for a, b in zip(results["compiled"][1], ref):
        worst["0:67"] = max(worst["0:67"], float(np.abs(a[:, :67] - b[:, :67]).max()))
        worst["67:193"] = max(worst["67:193"], float(np.abs(a[:, 67:193] - b[:, 67:193]).max()))
        worst["193:259"] = max(worst["193:259"], float(np.abs(a[:, 193:259] - b[:, 193:259]).max()))
        worst["contacts"] += int((a[:, 259:] != b[:, 259:]).sum())

    base_fps = base_frames / base_time
    lengths = [len(c) for c in clips]
    print(f"clips: {len(clips)} ({min(lengths)}-{max(lengths)} frames, {frames} frames in all), one core")
    print(f"baseline per-clip reference transcription: {base_fps:,.0f} frames/s ({len(base)} clips)")
    for backend, (secs, _) in results.items():
        fps = frames / secs
        print(f"joints_to_features_batch[{backend}]: {fps:,.0f} frames/s ({secs * 1000:.0f} ms), "
              f"{fps / base_fps:.1f}x the baseline, {fps / 4000:.0f}x the official ~4,000 frames/s")
    ok = frames / results["compiled"][0] >= 300_000
    print(f"max |batch - reference|: {worst} (tolerance 1e-4 / 5e-4 / 1e-4)")
    print(f"target >= 300,000 frames/s: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()

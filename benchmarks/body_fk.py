"""Joints-only forward kinematics against smplx's full SMPL-X forward pass, one thread, same run.

    python benchmarks/body_fk.py [--frames 2048] [--batch 512] [--seed 0]

Model: a synthetic SMPL-X-sized model written with numpy (pipelines/samples/body_models.py):
10,475 vertices, 55 joints, shapedirs (10475, 3, 400), posedirs (10475, 3, 486), as in the
official v1.1 file, so smplx does the same amount of work as with the real one (about 300
frames/s on one thread here). Parameters: random Inter-X-like SMPL-X frames (betas per person,
global orient, 21 body joints, translation, 15+15 hand joints, zero face).
Baseline: smplx.SMPLX forward in batches of --batch (float32, its default), joints[:, :22].
Ours: rest_joints once per person + forward_joints on the same frames, float64, numpy; measured
on all frames at once and per 400-frame sequence (20 s at 20 fps, rest joints recomputed each).
Target: >= 100x. Also checks that both agree within 1e-5 m.
"""
from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    import torch

    torch.set_num_threads(1)
    from vimo.pipelines.samples.body_models import write_body_model
    from vimo.pipelines.body import build_smplx_module, forward_joints, load_body_model, rest_joints, smplx_forward

    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        write_body_model(tmp, "smplx", "male", n_betas=300, n_expression=100, n_vertices=10475, seed=args.seed)
        model = load_body_model(tmp, "smplx", "male")
        print(f"synthetic SMPL-X: {model.num_vertices} vertices, shapedirs {model.arrays['shapedirs'].shape}, "
              f"posedirs {model.arrays['posedirs'].shape} (written and loaded in {time.perf_counter() - t:.1f} s)")
        n = args.frames
        betas = rng.normal(0, 1, 10)
        go = rng.uniform(-np.pi, np.pi, (n, 3))
        body = rng.normal(0, 0.4, (n, 63))
        transl = rng.normal(0, 1, (n, 3))
        hands = rng.normal(0, 0.3, (2, n, 45))

        module = build_smplx_module(model, batch_size=args.batch)
        b = args.batch
        smplx_forward(model, betas, go[:b], body[:b], transl[:b], left_hand_pose=hands[0, :b],
                      right_hand_pose=hands[1, :b], module=module)  # warm-up
        out = {}

        def run_smplx() -> None:
            out["smplx"] = smplx_forward(model, betas, go, body, transl, left_hand_pose=hands[0],
                                         right_hand_pose=hands[1], module=module).joints[:, :22]

        t_smplx = best_of(run_smplx, 2)

        def run_fk() -> None:
            out["fk"] = forward_joints(model, rest_joints(model, betas), go, body, transl)

        t_fk = best_of(run_fk, 5)
        seq = 400

        def run_fk_sequences() -> None:
            for s in range(0, n, seq):
                forward_joints(model, rest_joints(model, betas), go[s:s + seq], body[s:s + seq], transl[s:s + seq])

        t_fk_seq = best_of(run_fk_sequences, 5)
        err = float(np.abs(out["fk"] - out["smplx"]).max())

    fps_smplx, fps_fk, fps_seq = n / t_smplx, n / t_fk, n / t_fk_seq
    print(f"smplx SMPL-X full forward (batch {args.batch}, float32, 1 thread): {fps_smplx:,.0f} frames/s")
    print(f"joints-only FK, {n} frames at once (float64, numpy):              {fps_fk:,.0f} frames/s")
    print(f"joints-only FK, per {seq}-frame sequence incl. rest joints:          {fps_seq:,.0f} frames/s")
    print(f"ratio: {fps_fk / fps_smplx:,.0f}x (all at once), {fps_seq / fps_smplx:,.0f}x (per sequence); "
          "target >= 100x")
    print(f"max |FK - smplx joints[:, :22]| = {err:.2e} m (tolerance 1e-5)")
    if err > 1e-5:
        raise SystemExit("FK and smplx disagree beyond 1e-5 m")


if __name__ == "__main__":
    main()

"""End-to-end conversion of a synthetic Inter-X-like tree, measured against baselines in the same run.

    python benchmarks/convert.py [--sequences 48] [--workers 2] [--seed 0]

Tree: --sequences sequences of two people, SMPL-X parameters at 120 fps, 5.9 s each on average
(Inter-X: 11,388 sequences, about 8.1 M frames per person, i.e. ~711 frames = 5.9 s per sequence),
written by pipelines/samples/sources.py with synthetic SMPL-X models (gendered, 10 betas).

Measured:
1. Frames through FK: kept frames only (every 6th) vs FK of all 120 fps frames then striding
   (the same joints; ratio ~6).
2. The whole conversion (load npz, FK, canonical frame, features of both persons, QA, atomic clip
   folders, catalog) with `--workers` processes vs one process: units/s, clips/s, frames/s, and the
   projected time for the full Inter-X.
3. The official route for comparison: smplx's full SMPL-X forward (official-size synthetic model,
   10,475 vertices, batch 512, one thread) over all 120 fps frames of both persons, projected.
Target: full Inter-X under 5 minutes on this 2-core machine. (FK vs smplx: benchmarks/body_fk.py.)
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

INTERX_SEQUENCES = 11_388
INTERX_FRAMES_PER_PERSON = 8.1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=48)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smplx-frames", type=int, default=1024)
    args = parser.parse_args()

    from vimo.pipelines.samples.sources import write_body_models, write_interx_tree
    from vimo.pipelines.body import forward_joints, load_body_model, rest_joints
    from vimo.pipelines.convert import ConvertOptions, convert
    from vimo.pipelines.sources import get_source

    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        models = write_body_models(tmp / "models", "smplx", ("male", "female"))
        durations = rng.uniform(3.0, 8.8, args.sequences)  # mean ~5.9 s like Inter-X
        seqs = []
        for i, d in enumerate(durations):
            seqs.append(write_interx_tree(tmp / "ix_parts" / f"{i}", models, n=1, seed=args.seed * 1000 + i,
                                          duration_s=round(float(d), 1), write_models=False))
        root = tmp / "ix"
        (root / "motions").mkdir(parents=True)
        (root / "annots").mkdir()
        import pickle
        import shutil

        orders = {}
        for i, tree in enumerate(seqs):
            (seq,) = tree.sequences
            new = f"G{1 + i // 100:03d}T{(i // 10) % 10:03d}{seq[8:12]}R{i % 100:03d}"
            shutil.move(str(tree.root / "motions" / seq), root / "motions" / new)
            orders[new] = tree.orders[seq]
        (root / "annots" / "interaction_order.pkl").write_bytes(pickle.dumps(orders, protocol=2))
        shutil.copy(seqs[0].root / "annots" / "action_setting.txt", root / "annots" / "action_setting.txt")
        frames_120 = sum(len(np.load(p)["trans"]) for p in (root / "motions").glob("*/P1.npz"))
        print(f"tree: {args.sequences} sequences, {frames_120:,} frames per person at 120 fps "
              f"({frames_120 / args.sequences:.0f} per sequence; Inter-X ~711), written in "
              f"{time.perf_counter() - t:.1f} s")

        # 1. only kept frames through FK
        model = load_body_model(models, "smplx", "male")
        npz = np.load(next((root / "motions").glob("*/P1.npz")))
        go, bp, tr = npz["root_orient"], npz["pose_body"].reshape(-1, 63), npz["trans"]
        rest = rest_joints(model, npz["betas"][0])
        reps = 20
        t = time.perf_counter()
        for _ in range(reps):
            full = forward_joints(model, rest, go, bp, tr)[::6]
        t_all = (time.perf_counter() - t) / reps
        t = time.perf_counter()
        for _ in range(reps):
            kept = forward_joints(model, rest, go[::6], bp[::6], tr[::6])
        t_kept = (time.perf_counter() - t) / reps
        assert np.allclose(full, kept)
        print(f"FK on kept frames only: {t_kept * 1e3:.2f} ms vs {t_all * 1e3:.2f} ms for all frames "
              f"-> {t_all / t_kept:.1f}x")

        # 2. end to end
        cls = get_source("interx")
        results = {}
        for workers in (1, args.workers):
            ws = tmp / f"ws_{workers}"
            t = time.perf_counter()
            s = convert(cls(root, cls.config_class(body_models=models)), ConvertOptions(workspace=ws, workers=workers))
            wall = time.perf_counter() - t
            assert s.quarantined == 0, s.quarantine
            results[workers] = (s, wall)
            proj = INTERX_SEQUENCES / (s.items / wall)
            print(f"convert, {workers} worker(s): {wall:.2f} s, {s.items / wall:.1f} units/s, {s.clips / wall:.1f} "
                  f"clips/s, {2 * frames_120 / wall:,.0f} source frames/s (both persons, 120 fps), "
                  f"{s.frames / wall:,.0f} clip frames/s (20 fps); projected full Inter-X: {proj / 60:.1f} min")
        (s1, w1), (sn, wn) = results[1], results[args.workers]
        print(f"speed-up with {args.workers} workers vs 1: {w1 / wn:.2f}x")

        # 3. the official route: full smplx SMPL-X forward over every 120 fps frame
        try:
            import torch

            from vimo.pipelines.samples.body_models import write_body_model
            from vimo.pipelines.body import build_smplx_module, smplx_forward

            torch.set_num_threads(1)
            big = tmp / "big"
            write_body_model(big, "smplx", "male", n_betas=300, n_expression=100, n_vertices=10475)
            bm = load_body_model(big, "smplx", "male")
            n = args.smplx_frames
            module = build_smplx_module(bm, batch_size=512)
            smplx_forward(bm, None, np.zeros((512, 3)), np.zeros((512, 63)), np.zeros((512, 3)), module=module)
            t = time.perf_counter()
            smplx_forward(bm, None, rng.normal(0, .3, (n, 3)), rng.normal(0, .3, (n, 63)), np.zeros((n, 3)),
                          module=module)
            fps = n / (time.perf_counter() - t)
            hours = 2 * INTERX_FRAMES_PER_PERSON / fps / 3600
            ours = INTERX_SEQUENCES / (sn.items / wn) / 60
            print(f"official route: smplx full forward {fps:,.0f} frames/s on one thread -> full Inter-X (both "
                  f"persons, all 120 fps frames) {hours:.1f} h on one core, {hours / args.workers:.1f} h on "
                  f"{args.workers}; ours {ours:.1f} min -> {hours * 60 / args.workers / ours:,.0f}x")
        except ImportError as exc:
            print(f"official route not measured ({exc}); install the 'render' extra")


if __name__ == "__main__":
    main()

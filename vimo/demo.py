"""The mission end to end on the embedded default data (synthetic two-person interactions).

At this stage of vimo: synthetic interactions -> HumanML3D features for actor and reactor ->
recovery round trip -> normalisation statistics -> a workspace catalog -> plots and a summary.
Later stages (conversion, videos, annotation rounds, releases, benchmark) are added as they land.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vimo import atomic


@dataclass
class DemoConfig:
    out: Path
    """Output folder (created; an existing demo there is resumed / overwritten step by step)."""
    n_interactions: int = 24
    """How many synthetic interactions to generate (spread over all kinds)."""
    seed: int = 0
    """Seed of everything random in the demo."""


@dataclass
class DemoResult:
    out: Path
    artefacts: dict[str, Path] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)


def run_demo(cfg: DemoConfig, progress=None) -> DemoResult:
    """Run every demo step; `progress(description, advance)` is an optional callback."""
    from vimo.motion import feature_stats, joints_to_features_batch, recover_from_ric, recover_from_rot
    from vimo.synthetic import generate_many

    step = progress or (lambda desc: None)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    res = DemoResult(out=out)

    step("generating synthetic interactions")
    t0 = time.perf_counter()
    interactions = generate_many(cfg.n_interactions, seed=cfg.seed, fps=20)
    joints_dir = out / "joints"
    names, clips = [], []
    for i, inter in enumerate(interactions):
        for role in ("actor", "reactor"):
            name = f"{i:04d}_{inter.kind}_{role}"
            arr = getattr(inter, role)
            atomic.save_npy(joints_dir / f"{name}.npy", arr)
            names.append(name)
            clips.append(arr)
    res.artefacts["joints"] = joints_dir

    step("encoding HumanML3D features")
    t1 = time.perf_counter()
    feats = joints_to_features_batch(clips, names=names)
    encode_s = time.perf_counter() - t1
    feat_dir = out / "vector_263"
    for name, f in zip(names, feats):
        atomic.save_npy(feat_dir / f"{name}.npy", f)
    res.artefacts["features"] = feat_dir

    step("recovering joints (ric and rot)")
    ric_vs_rot, bone_err = [], []
    for f in feats:
        ric = recover_from_ric(f)
        # the two recoveries agree except after a heading crossing of ±180° (quirk Q4)
        ric_vs_rot.append(float(np.abs(ric - recover_from_rot(f)).max()))
        # bone lengths of the recovered skeleton are the target lengths at every frame
        bone_err.append(_bone_length_error(ric))
    res.figures["median max |ric - rot| recovery (m)"] = float(np.median(ric_vs_rot))
    res.figures["max bone-length error of recovery (m)"] = max(bone_err)

    step("normalisation statistics")
    mean, std = feature_stats(feats)
    atomic.save_npy(out / "Mean.npy", mean)
    atomic.save_npy(out / "Std.npy", std)
    res.artefacts["Mean.npy"] = out / "Mean.npy"

    step("plots")
    res.artefacts["plot"] = _plot(out / "demo_interactions.png", interactions[: min(4, len(interactions))],
                                  feats[:2])

    n_frames = sum(len(c) for c in clips)
    res.figures.update({
        "interactions": len(interactions), "clips": len(clips), "frames": n_frames,
        "encode frames/s": n_frames / max(encode_s, 1e-9), "seconds": time.perf_counter() - t0,
    })
    kinds: dict[str, int] = {}
    for inter in interactions:
        kinds[inter.kind] = kinds.get(inter.kind, 0) + 1
    summary = {"artefacts": {k: str(v) for k, v in res.artefacts.items()}, "figures": res.figures, "kinds": kinds,
               "seed": cfg.seed}
    atomic.write_json(out / "summary.json", summary)
    res.artefacts["summary"] = out / "summary.json"
    return res


def _bone_length_error(joints: np.ndarray) -> float:
    from vimo.motion import PARENTS, TARGET_BONE_LENGTHS

    lengths = np.linalg.norm(joints[:, 1:] - joints[:, PARENTS[1:]], axis=-1)
    return float(np.abs(lengths - TARGET_BONE_LENGTHS[1:]).max())


def _plot(path: Path, interactions, feats) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vimo.motion import KINEMATIC_CHAINS

    fig, axes = plt.subplots(2, len(interactions), figsize=(4 * len(interactions), 7), squeeze=False)
    for col, inter in enumerate(interactions):
        ax = axes[0, col]
        T = len(inter.actor)
        for frame, alpha in ((0, 0.3), (T // 2, 0.6), (T - 1, 1.0)):
            for joints, color in ((inter.actor, "tab:blue"), (inter.reactor, "tab:red")):
                for chain in KINEMATIC_CHAINS:
                    ax.plot(joints[frame, chain, 2], joints[frame, chain, 1], color=color, alpha=alpha, lw=1.5)
        ax.set_title(f"{inter.kind}: side view, first/middle/last frame\n(blue actor, red reactor)", fontsize=9)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("z (m)")
        ax.set_ylabel("y (m)")
        ax2 = axes[1, col]
        for joints, color, who in ((inter.actor, "tab:blue", "actor"), (inter.reactor, "tab:red", "reactor")):
            ax2.plot(joints[:, 0, 0], joints[:, 0, 2], color=color, label=f"{who} pelvis path")
            ax2.plot(joints[-1, [16, 17], 0], joints[-1, [16, 17], 2], color=color, lw=3, alpha=0.5)
        ax2.set_title("top view (thick: shoulders, last frame)", fontsize=9)
        ax2.set_aspect("equal", adjustable="datalim")
        ax2.set_xlabel("x (m)")
        ax2.set_ylabel("z (m)")
        ax2.legend(fontsize=7)
    fig.tight_layout()
    buf = path.with_suffix(".tmp.png")
    fig.savefig(buf, dpi=80)
    plt.close(fig)
    buf.replace(path)
    return path


def summary_text(res: DemoResult) -> str:
    lines = ["vimo demo: done", ""]
    for k, v in res.figures.items():
        lines.append(f"  {k}: {v:,.6g}" if isinstance(v, float) else f"  {k}: {v}")
    lines.append("")
    for k, v in res.artefacts.items():
        lines.append(f"  {k:<10} {v}")
    return "\n".join(lines)


def load_summary(out: Path) -> dict:
    return json.loads((Path(out) / "summary.json").read_text())

"""A small release with structure to learn, for the behavioural model tests.

Motions are the reactors of seeded synthetic interactions (`vimo.synthetic`: handshakes, waves, pushes, hugs,
dodges, ...) as 263-d HumanML3D features; each pair's video is the actor of the same interaction drawn as
coloured joint dots from the reactor's side (uint8 frames stored as `.npy`, read by the video encoder like
decoded mp4 frames). So codes have real temporal structure and the video says which reaction to expect:
what a model that learns can pick up, and a degenerate one cannot fake.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vimo.motion import feature_stats, joints_to_features
from vimo.synthetic import generate

#: interaction kinds of the release (distinct reactions)
KINDS = ("handshake", "wave", "push", "hug", "dodge", "approach")
#: frame size of the drawn videos
SIZE = 24
#: body parts -> colour channel: trunk/head red, left limbs green, right limbs blue
_CHANNEL = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 1, 2, 1, 2])


def draw_actor(actor: np.ndarray, reactor: np.ndarray, size: int = SIZE) -> np.ndarray:
    """(T, 22, 3) actor joints -> (T, size, size, 3) uint8 frames: the actor seen from the reactor's first-frame
    position (orthographic, looking along the reactor -> actor direction), each joint a bright dot."""
    eye = reactor[0, 0]
    look = actor[0, 0] - eye
    look[1] = 0.0
    look /= max(np.linalg.norm(look), 1e-6)
    right = np.cross(look, [0.0, 1.0, 0.0])
    rel = actor - actor[0, 0] * np.array([1.0, 0.0, 1.0])
    u = rel @ right  # metres, left-right
    v = rel[..., 1]  # metres, height
    px = np.clip(((u + 1.5) / 3.0 * (size - 1)).round().astype(int), 0, size - 1)
    py = np.clip(((2.1 - v) / 2.2 * (size - 1)).round().astype(int), 0, size - 1)
    frames = np.zeros((actor.shape[0], size, size, 3), np.uint8)
    t = np.repeat(np.arange(actor.shape[0]), actor.shape[1])
    frames[t, py.ravel(), px.ravel(), np.tile(_CHANNEL, actor.shape[0])] = 255
    return frames


def busiest_window(actor: np.ndarray, reactor: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The `frames` consecutive frames of both persons where the reactor's joints move most (the reaction)."""
    if reactor.shape[0] <= frames:
        return actor, reactor
    speed = np.linalg.norm(np.diff(reactor, axis=0), axis=-1).mean(-1)
    window = np.convolve(speed, np.ones(frames - 1), mode="valid")
    start = int(window.argmax())
    return actor[start:start + frames], reactor[start:start + frames]


def write_learnable_release(root: Path, *, n_train: int = 36, n_test: int = 18, n_val: int = 6, seed: int = 7,
                            duration_s: float = 2.2) -> Path:
    """A HERO-readable release of n_train + n_val + n_test pairs (kinds cycling), with Mean/Std of the train
    motions; motions are the busiest round(duration_s x 20) frames of each interaction (round(duration_s x 20) - 1
    feature rows), the video showing what the actor does meanwhile."""
    root = Path(root)
    (root / "vector_263").mkdir(parents=True)
    n = n_train + n_val + n_test
    seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, size=n)
    lines: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    train_feats = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        x = generate(kind, seed=int(seeds[i]))
        actor, reactor = busiest_window(x.actor, x.reactor, int(round(duration_s * 20)))
        feats = joints_to_features(reactor).astype(np.float32)
        split = "train" if i < n_train else "val" if i < n_train + n_val else "test"
        if split == "train":
            train_feats.append(feats)
        np.save(root / "vector_263" / f"m{i:03d}.npy", feats)
        (root / "videos" / kind).mkdir(parents=True, exist_ok=True)
        np.save(root / "videos" / kind / f"v{i:03d}.npy", draw_actor(actor, reactor))
        lines[split].append(f"videos/{kind}/v{i:03d}.npy vector_263/m{i:03d}.npy")
    mean, std = feature_stats(train_feats)  # the official group-averaged statistics
    np.save(root / "Mean.npy", mean.astype(np.float32))
    np.save(root / "Std.npy", std.astype(np.float32))
    for split, rows in lines.items():
        (root / f"{split}.txt").write_text("\n".join(rows) + "\n")
        (root / f"motions_{split}.txt").write_text("\n".join(r.split()[1] for r in rows) + "\n")
    return root

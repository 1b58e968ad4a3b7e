"""`vimo bench --human-eval` with rendering: the sampled reactions become real H.264 mp4s (pyrender, headless
EGL) and the blind round pushed to a real Label Studio server (the session fixture of tests/annotation) points
its tasks to them; the server serves the very files. Tiny sizes, 2 pairs, one variant."""
from __future__ import annotations

import urllib.request

import numpy as np
import pytest

from tests.annotation.conftest import TEST_TOKEN, live_server  # noqa: F401  (session fixture: a real server)
from vimo.annotation.rounds import LOCAL_FILES_PREFIX, Rounds
from vimo.cli.bench import push_human_eval_round
from vimo.flows.human_eval import read_mapping
from vimo.models.bench import Bench, BenchConfig
from vimo.models.configs import variant_preset
from vimo.models.variants import variant_runs

from .conftest import write_tiny_release


def _mp4_videos(root):
    """The release's input videos as real H.264 mp4s (a release ships mp4s; the tiny one stores .npy frames)."""
    from vimo.pipelines.video.encode import write_mp4

    for name in ("train.txt", "test.txt"):
        lines = []
        for line in (root / name).read_text().splitlines():
            video, motion = line.split()
            frames = np.load(root / video).repeat(4, axis=1).repeat(4, axis=2)  # 64x64
            write_mp4(root / video.replace(".npy", ".mp4"), iter(frames), fps=20)
            lines.append(f"{video.replace('.npy', '.mp4')} {motion}")
        (root / name).write_text("\n".join(lines) + "\n")
    return root


def _get(url: str) -> bytes:
    req = urllib.request.Request(url, headers={"Authorization": f"Token {TEST_TOKEN}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def test_rendered_human_eval_round_points_to_real_mp4s(live_server, tmp_path, monkeypatch):  # noqa: F811
    import imageio.v2 as iio

    from vimo.pipelines.video.encode import probe

    monkeypatch.setenv("LABEL_STUDIO_API_KEY", TEST_TOKEN)
    monkeypatch.setenv("PYOPENGL_PLATFORM", "egl")
    release = _mp4_videos(write_tiny_release(tmp_path / "release", n_train=6, n_test=4))
    cfg = BenchConfig(release=release, out=tmp_path / "bench", preset="tiny", select_by_fid=False, progress=False,
                      subsets=False)
    bench = Bench(cfg)
    hero = variant_preset(bench.p, "hero")
    bench.train_variant(None, variant_runs(tmp_path / "bench/checkpoints", hero, bench.p), hero, max_steps=2)

    rounds = Rounds(live_server.workspace, live_server.client())
    pushed = push_human_eval_round(cfg, "rendered1", live_server.workspace, pairs=2, overlap=1, render=True,
                                   rounds=rounds)
    assert pushed.rendered and pushed.tasks == 4
    mapping = read_mapping(cfg.out, "rendered1")
    assert mapping["rendered"] is True and sorted(mapping["variants"]) == ["ground_truth", "hero"]
    folder = live_server.workspace / "videos" / "human_eval" / "rendered1"
    media = sorted(p.name for p in folder.iterdir())
    assert len(media) == 6 and all(m.endswith(".mp4") for m in media)  # 2 inputs + 4 reactions, no .npy stand-ins

    record = rounds.ledger.round(mapping["round"])
    server = {t["data"]["reaction_video"]: t["data"] for t in rounds._server_tasks(record.project_id)}
    assert len(server) == 4
    renders = {}
    for task_id, info in mapping["tasks"].items():
        path = rounds.media_root / info["reaction_media"]
        assert path.suffix == ".mp4" and task_id in path.name and info["variant"] not in path.name
        meta = probe(path)
        assert (meta.codec, meta.pix_fmt, meta.width, meta.height) == ("h264", "yuv420p", 640, 480)
        assert meta.n_frames == info["frames"] and info["frames"] % 4 == 0
        frames = np.stack(list(iio.mimread(path)))
        background = np.median(frames[:, :4, :4].reshape(-1, 3), axis=0)
        assert (np.abs(frames.astype(int) - background).sum(-1) > 30).mean(axis=(1, 2)).min() > 0.005  # a body
        # the pushed task points to this mp4 (and to its input video), and the server serves the same bytes
        url = LOCAL_FILES_PREFIX + path.relative_to(rounds.media_root.parent).as_posix()
        assert url in server
        assert _get(live_server.url + url) == path.read_bytes()
        assert server[url]["input_video"].endswith(info["input_media"]) and info["input_media"].endswith(".mp4")
        assert _get(live_server.url + server[url]["input_video"]) == (rounds.media_root / info["input_media"]).read_bytes()
        renders[(info["motion"], info["variant"])] = frames
    # the same pair's ground truth and generation are different motions, rendered from the same camera setup
    for motion in {m for m, _ in renders}:
        gt, gen = renders[(motion, "ground_truth")], renders[(motion, "hero")]
        n = min(len(gt), len(gen))
        assert np.abs(gt[:n].astype(int) - gen[:n].astype(int)).mean() > 0.1

"""`vimo render --executor ray`: a local Ray instance with 2 workers renders the clips (EGL inside Ray's
own worker processes), registers them like the local executor does, and the frames match."""
from __future__ import annotations

import numpy as np
import pytest

import ray  # the "ray" extra (pip install "vimo[ray]"), installed by `make test`
from vimo.pipelines.video.render import RenderOptions, render_workspace
from vimo.pipelines.samples.video import write_synthetic_workspace
from vimo.workspace import Workspace


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _frames(path) -> np.ndarray:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    return np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader])


def test_ray_renders_like_local(local_ray, tmp_path):
    ws = write_synthetic_workspace(tmp_path / "ws", kinds=("wave", "push", "bow"), duration_s=2.0)
    local = render_workspace(RenderOptions(workspace=ws, size=(96, 64), workers=1))
    with Workspace.open(ws) as w:
        first = {v["video_id"]: v for v in w.catalog.query("videos")}
        saved = {vid: _frames(w.resolve(v["path"])) for vid, v in first.items()}
    on_ray = render_workspace(RenderOptions(workspace=ws, size=(96, 64), workers=2, executor="ray", force=True))
    assert local.rendered == on_ray.rendered == 3 and on_ray.failed == 0
    assert local_ray.is_initialized()
    with Workspace.open(ws) as w:
        clips = {c["clip_id"]: c for c in w.catalog.clips()}
        for vid, v in ((r["video_id"], r) for r in w.catalog.query("videos")):
            assert v["provenance"]["subject"] == "actor" and v["kind"] == "rendered"
            frames = _frames(w.resolve(v["path"]))
            assert len(frames) == v["n_frames"] == clips[v["clip_id"]]["n_frames"]
            # the same pixels up to H.264 noise
            assert np.abs(frames.astype(float) - saved[vid].astype(float)).mean() < 1.0
            assert frames.std() > 3

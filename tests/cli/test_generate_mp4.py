"""`vimo generate --mp4`: a generated reaction rendered through the renderer (the CLI glues
vimo.models and vimo.pipelines)."""
from __future__ import annotations

import numpy as np

from vimo.flows.generate import render_reaction_mp4
from vimo.synthetic import walk


def test_reaction_mp4_is_h264_with_a_moving_body(tmp_path):
    import imageio.v2 as iio

    from vimo.pipelines.video.encode import probe

    joints = walk(seed=3, fps=20, n_frames=24)
    path = render_reaction_mp4(joints, tmp_path / "r.mp4", size="160x120")
    info = probe(path)
    assert (info.codec, info.pix_fmt, info.width, info.height, info.n_frames) == ("h264", "yuv420p", 160, 120, 24)
    frames = np.stack(list(iio.mimread(path)))
    background = np.median(frames[:, :4, :4].reshape(-1, 3), axis=0)
    body = np.abs(frames.astype(int) - background).sum(-1) > 30
    assert body.mean(axis=(1, 2)).min() > 0.01            # the body is in every frame
    assert frames.mean() > 20                              # lit, not black
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 0.5  # and it moves

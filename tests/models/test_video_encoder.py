"""Video side: HERO frame sampling / preprocessing, TC-CLIP and OpenAI-CLIP towers and loaders, feature cache."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from tests.models.official_keys import n_params, tc_clip_keys
from vimo.errors import InputFormatError
from vimo.models.checkpoints import CheckpointError
from vimo.models.video_encoder import (
    FeatureCache, PixelStatsEncoder, TowerConfig, VisionTower, load_openai_clip, load_tc_clip, merge_bipartite,
    preprocess_frames, read_video_frames, resize_frames, segment_middle_indices, video_checksum,
)

TINY = TowerConfig(width=32, layers=2, heads=2, out_dim=24)


def test_segment_middle_frames():
    for n in (1, 4, 15, 16, 17, 100, 161, 300):
        expect = [int(Fraction(i * n, 16) + Fraction(n, 32)) for i in range(16)]
        assert segment_middle_indices(n).tolist() == expect
    assert segment_middle_indices(160).tolist() == list(range(5, 160, 10))
    with pytest.raises(InputFormatError):
        segment_middle_indices(0)


def _bilinear_reference(img: np.ndarray, out: int) -> np.ndarray:
    """Half-pixel-centre bilinear resize of an (H, W) image, written with numpy loops over the output axes."""
    h, w = img.shape

    def axis(n_in):
        src = (np.arange(out) + 0.5) * n_in / out - 0.5
        src = np.clip(src, 0, None)
        lo = np.minimum(np.floor(src).astype(int), n_in - 1)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, src - lo

    ylo, yhi, wy = axis(h)
    xlo, xhi, wx = axis(w)
    top = img[ylo][:, xlo] * (1 - wx) + img[ylo][:, xhi] * wx
    bot = img[yhi][:, xlo] * (1 - wx) + img[yhi][:, xhi] * wx
    return top * (1 - wy[:, None]) + bot * wy[:, None]


def test_resize_ignores_aspect_and_is_half_pixel_bilinear():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (1, 30, 50, 3), dtype=np.uint8)
    ours = resize_frames(torch.from_numpy(frame), 224)[0].numpy()
    for c in range(3):
        ref = np.clip(np.round(_bilinear_reference(frame[0, :, :, c].astype(np.float64), 224)), 0, 255)
        assert np.abs(ours[c].astype(int) - ref.astype(int)).max() <= 1
    wide = np.zeros((1, 20, 80, 3), np.uint8)
    wide[:, :, 40:] = 255
    out = resize_frames(torch.from_numpy(wide), 224)[0]
    assert out.shape == (3, 224, 224) and int(out[0, :, :100].max()) == 0 and int(out[0, :, 124:].min()) == 255


def test_preprocess_samples_16_frames_and_normalises_on_0_255_scale():
    frames = np.zeros((32, 10, 12, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(32, dtype=np.uint8)[:, None, None] * 4  # red encodes the frame index
    frames[:, :, :, 1] = 116
    frames[:, :, :, 2] = 200
    x = preprocess_frames(frames)
    assert x.shape == (16, 3, 224, 224) and x.dtype == torch.float32
    picked = segment_middle_indices(32)
    assert torch.allclose(x[:, 0, 0, 0], (torch.tensor(picked * 4, dtype=torch.float32) - 123.675) / 58.395)
    assert torch.allclose(x[:, 1], torch.tensor((116 - 116.28) / 57.12))
    assert torch.allclose(x[:, 2], torch.tensor((200 - 103.53) / 57.375))
    for bad in (np.zeros((5, 8, 8), np.uint8), np.zeros((5, 8, 8, 3), np.float32), np.zeros((0, 8, 8, 3), np.uint8)):
        with pytest.raises(InputFormatError):
            preprocess_frames(bad)


def _expanded(shape, value=0.0):
    """A tensor of the official shape backed by a single number (keeps the saved file tiny)."""
    return torch.tensor([float(value)]).expand(*shape) if shape else torch.tensor(float(value))


def test_tc_clip_spec_table_and_strict_loading(tmp_path):
    keys = tc_clip_keys()
    assert abs(n_params(keys) / 1e6 - 86.19) < 0.01
    tower = VisionTower()
    assert {f"image_encoder.{k}": tuple(v.shape) for k, v in tower.state_dict().items()} == keys
    state = {f"module.{k}": _expanded(s) for k, s in keys.items()}
    state["module.image_encoder.proj"] = torch.randn(768, 512)
    state["module.prompt_learner.ctx"] = torch.zeros(4, 512)  # text side: ignored
    path = tmp_path / "zero_shot_k400_tc_clip.pth"
    torch.save({"model": state, "epoch": 10}, path)
    loaded = load_tc_clip(path)
    assert torch.equal(loaded.proj, state["module.image_encoder.proj"])
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    assert loaded.encoder_id.startswith("tc-clip-tc-w768")

    del state["module.image_encoder.transformer.resblocks.3.attn.local_global_bias_table"]
    torch.save({"model": state}, path)
    with pytest.raises(CheckpointError) as err:
        load_tc_clip(path)
    assert "transformer.resblocks.3.attn.local_global_bias_table" in str(err.value) and str(path) in str(err.value)


def test_openai_clip_loader_splits_in_proj(tmp_path):
    tower = VisionTower(TINY, temporal_context=False)
    w = TINY.width
    state = {}
    for k, v in tower.state_dict().items():
        if k.endswith("local_global_bias_table"):
            continue
        if ".q_proj." in k:
            kind = k.rsplit(".", 1)[1]
            stem = k.split(".attn.")[0]
            rows = torch.arange(3.0).repeat_interleave(w)
            state[f"visual.{stem}.attn.in_proj_{kind}"] = rows.view(-1, 1).expand(3 * w, w).clone() \
                if kind == "weight" else rows.clone()
        elif ".k_proj." in k or ".v_proj." in k:
            continue
        else:
            state[f"visual.{k}"] = torch.randn(v.shape)
    state["token_embedding.weight"] = torch.zeros(10, 8)  # text tower keys are ignored
    path = tmp_path / "clip_state.pt"
    torch.save(state, path)
    loaded = load_openai_clip(path, TINY)
    attn = loaded.transformer.resblocks[1].attn
    assert (attn.q_proj.weight == 0).all() and (attn.k_proj.weight == 1).all() and (attn.v_proj.weight == 2).all()
    assert (attn.v_proj.bias == 2).all()
    del state["visual.ln_post.weight"]
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="ln_post.weight"):
        load_openai_clip(path, TINY)


def test_temporal_context_mixes_frames_and_per_frame_clip_does_not():
    torch.manual_seed(0)
    tc = VisionTower(TINY, temporal_context=True).eval()
    with torch.no_grad():
        for block in tc.transformer.resblocks[1:]:
            block.attn.local_global_bias_table.normal_()
    frames = torch.randn(1, 16, 3, 224, 224)
    other = frames.clone()
    other[0, 9] = torch.randn(3, 224, 224)
    with torch.no_grad():
        a, b = tc(frames), tc(other)
        assert a.shape == (1, 16, 24) and tc.last_context.shape == (1, 96, 24)
        assert not torch.allclose(a[0, 0], b[0, 0])  # frame 0 sees frame 9 through the context tokens
        per_frame = VisionTower(TINY, temporal_context=False).eval()
        per_frame.load_state_dict(tc.state_dict())
        c, d = per_frame(frames), per_frame(other)
        assert torch.allclose(c[0, 0], d[0, 0]) and not torch.allclose(c[0, 9], d[0, 9])
    with pytest.raises(InputFormatError, match="224"):
        tc(torch.zeros(1, 16, 3, 112, 112))
    with pytest.raises(InputFormatError, match="seed tokens"):
        tc(torch.zeros(1, 1, 3, 224, 224))


def test_bipartite_merge_conserves_mass():
    x = torch.randn(2, 40, 8)
    size = torch.ones(2, 40, 1)
    y, s = merge_bipartite(x, size, 15)
    assert y.shape == (2, 25, 8) and torch.allclose(s.sum(1), torch.full((2, 1), 40.0))
    assert torch.allclose((y * s).sum(1), x.sum(1), atol=1e-4)


def test_feature_cache_keys_by_checksum_and_encoder(tmp_path):
    rng = np.random.default_rng(1)
    video = rng.integers(0, 256, (20, 24, 32, 3), dtype=np.uint8)
    enc = PixelStatsEncoder(out_dim=16)
    calls = []
    original = enc.forward
    enc.forward = lambda x: calls.append(1) or original(x)
    cache = FeatureCache(tmp_path / "cache")
    first = cache.features(video, enc)
    second = cache.features(video.copy(), enc)
    assert first.shape == (16, 16) and np.array_equal(first, second) and len(calls) == 1
    entry = cache.path_for(video_checksum(video), enc.encoder_id)
    with np.load(entry) as z:
        assert np.allclose(z["pooled"], first.mean(0))
    other_enc = PixelStatsEncoder(out_dim=16, seed=1)
    assert not np.allclose(cache.features(video, other_enc), first)
    entry.write_bytes(b"garbage")
    assert np.array_equal(cache.features(video, enc), first) and len(calls) == 2


def test_mp4_round_trip(tmp_path):
    import imageio.v2 as iio

    path = tmp_path / "clip.mp4"
    frames = np.zeros((20, 48, 64, 3), np.uint8)
    frames[..., 0] = (np.arange(20) * 12).astype(np.uint8)[:, None, None]
    with iio.get_writer(str(path), fps=20, codec="libx264", quality=9, macro_block_size=16) as w:
        for f in frames:
            w.append_data(f)
    decoded = read_video_frames(path)
    assert decoded.shape == (20, 224, 224, 3)
    assert np.abs(decoded[:, 100, 100, 0].astype(int) - frames[:, 0, 0, 0].astype(int)).max() < 12
    enc = PixelStatsEncoder(out_dim=8)
    assert FeatureCache(tmp_path / "c").features(path, enc).shape == (16, 8)
    assert len(video_checksum(path)) == 64
    with pytest.raises(InputFormatError):
        read_video_frames(tmp_path / "missing.mp4")
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(InputFormatError):
        read_video_frames(tmp_path / "bad.mp4")

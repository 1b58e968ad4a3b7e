"""HERO masked / residual transformers: official keys, strict loading, quirks, CFG, generation."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from tests.models.official_keys import mask_transformer_keys, n_params, res_transformer_keys
from vimo.models.checkpoints import CheckpointError
from vimo.models.configs import preset
from vimo.models.transformers import (
    MaskTransformer, ResidualTransformer, load_mask_transformer, load_res_transformer, mask_schedule_counts,
    top_k_filter,
)


def _random_state(keys: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(shape, generator=g) * 0.02 for k, shape in keys.items()}


@pytest.fixture(scope="module")
def hero_mask_state():
    return _random_state(mask_transformer_keys())


@pytest.fixture(scope="module")
def hero_res_state():
    return _random_state(res_transformer_keys(), seed=1)


def test_spec_param_counts():
    assert abs(n_params(mask_transformer_keys(), skip_buffers=("pe",)) / 1e6 - 15.99) < 0.01
    assert abs(n_params(res_transformer_keys(), skip_buffers=("pe",)) / 1e6 - 18.36) < 0.01


def test_load_hero_mask_checkpoint_strictly(tmp_path, hero_mask_state):
    path = tmp_path / "net_best_fid.tar"
    torch.save({"t2m_transformer": hero_mask_state, "ep": 12}, path)
    model = load_mask_transformer(path)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == mask_transformer_keys()
    assert torch.equal(model.state_dict()["token_emb.weight"], hero_mask_state["token_emb.weight"])


def test_load_hero_res_checkpoint_strictly_and_bad_keys(tmp_path, hero_res_state):
    path = tmp_path / "net_best_fid.tar"
    torch.save({"res_transformer": hero_res_state, "ep": 3}, path)
    model = load_res_transformer(path)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == res_transformer_keys()

    shared = dict(hero_res_state)  # a MoMask share_weight=True checkpoint is refused, naming the key
    shared.pop("output_proj_bias")
    shared["embed_proj_shared_weight"] = torch.zeros(4, 513, 512)
    torch.save({"res_transformer": shared}, path)
    with pytest.raises(CheckpointError) as err:
        load_res_transformer(path)
    assert "output_proj_bias" in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)
    torch.save({"t2m_transformer": hero_res_state}, path)
    with pytest.raises(CheckpointError, match="res_transformer"):
        load_res_transformer(path)


def _tiny_cfg(**kw):
    return replace(preset("tiny").transformer, **kw)


def test_residual_projection_reproduces_the_double_wh_quirk():
    torch.manual_seed(0)
    model = ResidualTransformer(_tiny_cfg())
    with torch.no_grad():
        model.output_proj_bias.normal_()
    h = torch.randn(2, 16, 5)
    table = torch.tensor([0, 3])
    out = model.output_project(h, table)
    for i, t in enumerate(table):
        expect = 2 * model.output_proj_weight[t] @ h[i] + model.output_proj_bias[t].unsqueeze(-1)
        assert torch.allclose(out[i], expect, atol=1e-5)
    model.double_projection = False
    assert torch.allclose(model.output_project(h, table)[0],
                          model.output_proj_weight[0] @ h[0] + model.output_proj_bias[0].unsqueeze(-1), atol=1e-5)


def _no_dropout_cfg(**kw):
    return _tiny_cfg(dropout=0.0, iie_dropout=0.0, **kw)


def test_cfg_nulls_only_the_intention_token_and_keeps_frame_memory():
    torch.manual_seed(0)
    model = MaskTransformer(_no_dropout_cfg(cond_drop_prob=1.0)).eval()
    ids = torch.randint(0, 32, (2, 6))
    pad = torch.zeros(2, 6, dtype=torch.bool)
    video = torch.randn(2, 16, 32)
    uncond = model.trans_forward(ids, video, pad, force_mask=True)
    cond = model.trans_forward(ids, video, pad)
    assert not torch.allclose(uncond, cond)
    # unconditional logits still depend on the frames (cross-attention memory)...
    other = torch.randn(2, 16, 32)
    assert not torch.allclose(uncond, model.trans_forward(ids, other, pad, force_mask=True))
    # ...and equal a pass whose intention vector is zero
    model.global_local_crossatt_block.forward = lambda g, l: torch.zeros_like(g)
    assert torch.allclose(uncond, model.trans_forward(ids, video, pad), atol=1e-6)
    # training-time CFG dropout with prob 1 is the same nulling
    del model.global_local_crossatt_block.forward
    model.train()
    assert torch.allclose(uncond, model.trans_forward(ids, video, pad), atol=1e-6)


def test_prefix_tokens_ignore_padding_and_padded_positions_do_not_leak():
    torch.manual_seed(0)
    model = MaskTransformer(_no_dropout_cfg()).eval()
    video = torch.randn(1, 16, 32)
    ids = torch.randint(0, 32, (1, 8))
    pad = torch.tensor([[False] * 5 + [True] * 3])
    a = model.trans_forward(ids, video, pad)
    ids2 = ids.clone()
    ids2[0, 5:] = 33
    b = model.trans_forward(ids2, video, pad)
    assert torch.allclose(a[..., :5], b[..., :5], atol=1e-5)


def test_float32_schedule_quirk():
    # cos(pi/2 * 6/9) is 0.49999997 in float32: an odd length L re-masks (L-1)/2 tokens at step 6
    assert mask_schedule_counts(7)[6] == 3 and mask_schedule_counts(49)[6] == 24
    assert mask_schedule_counts(7)[0] == 7 and mask_schedule_counts(7)[-1] == 1


def test_top_k_keeps_52_of_512():
    logits = torch.randn(3, 512)
    kept = torch.isfinite(top_k_filter(logits, 0.9)).sum(-1)
    assert kept.tolist() == [52, 52, 52]


def test_training_losses_fall_on_a_fixed_batch():
    torch.manual_seed(0)
    cfg = _tiny_cfg()
    video = torch.randn(4, 16, 32)
    # a learnable target: the code depends on the position and the layer only
    ids = ((torch.arange(10).view(1, 10, 1) * 3 + torch.arange(6).view(1, 1, 6) * 5) % 32).repeat(4, 1, 1)
    lens = torch.tensor([10, 8, 6, 4])
    for model, target in ((MaskTransformer(cfg), ids[..., 0]), (ResidualTransformer(cfg), ids)):
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        losses = []
        for _ in range(40):
            loss, acc = model(target, video, lens)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5, type(model).__name__


def test_generation_shapes_pads_and_determinism():
    cfg = _tiny_cfg()
    torch.manual_seed(0)
    mask_model, res_model = MaskTransformer(cfg), ResidualTransformer(cfg)
    video = torch.randn(3, 16, 32)
    lens = torch.tensor([7, 3, 5])

    def run(seed):
        torch.manual_seed(seed)
        base = mask_model.generate(video, lens)
        return base, res_model.generate(base, video, lens)

    base, codes = run(1)
    assert base.shape == (3, 7) and codes.shape == (3, 7, 6)
    assert (base[1, 3:] == -1).all() and (base[1, :3] >= 0).all() and (base[1, :3] < 32).all()
    assert (codes[2, 5:] == -1).all() and torch.equal(codes[..., 0], base)
    again = run(1)
    assert torch.equal(again[0], base) and torch.equal(again[1], codes)
    assert mask_model.training  # generation restores the mode

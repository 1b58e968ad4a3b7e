"""Generation from a checkpoints folder (official run-folder names), shapes and determinism."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vimo.errors import InputFormatError
from vimo.models.configs import preset
from vimo.models.generate import generate_reactions, load_hero, token_length
from vimo.models.rvq import RVQVAE
from vimo.models.transformers import MaskTransformer, ResidualTransformer


def _write_checkpoints(root):
    p = preset("tiny")
    torch.manual_seed(0)
    rvq = RVQVAE(p.rvq)
    for layer in rvq.quantizer.layers:
        layer.codebook.normal_()
    runs = {"rvq_bs256_finetune_ep10": ("vq_model", rvq, "net_best_fid.tar"),
            "mtrans_memo_cross_l6_bs64_ep200": ("t2m_transformer", MaskTransformer(p.transformer), "latest.tar"),
            "rtrans_memo_cross_l6_bs64_ep200": ("res_transformer", ResidualTransformer(p.transformer), "net_best_fid.tar")}
    for name, (key, model, fname) in runs.items():
        (root / name / "model").mkdir(parents=True)
        torch.save({key: model.state_dict(), "ep": 1}, root / name / "model" / fname)
    (root / "rvq_bs256_finetune_ep10" / "meta").mkdir()
    np.save(root / "rvq_bs256_finetune_ep10/meta/mean.npy", np.full(263, 0.5, np.float32))
    np.save(root / "rvq_bs256_finetune_ep10/meta/std.npy", np.full(263, 2.0, np.float32))
    return root


def test_generate_shapes_and_determinism(tmp_path):
    hero = load_hero(_write_checkpoints(tmp_path / "ckpt"), "tiny")
    video = np.random.default_rng(0).standard_normal((16, 32)).astype(np.float32)
    feats, joints = generate_reactions(hero, video, frames=30, samples=3, seed=5)
    assert feats.shape == (3, 28, 263) and joints.shape == (3, 28, 22, 3)
    assert np.isfinite(joints).all()
    again, _ = generate_reactions(hero, video, frames=30, samples=3, seed=5)
    assert np.array_equal(feats, again)
    other, _ = generate_reactions(hero, video, frames=30, samples=3, seed=6)
    assert not np.array_equal(feats, other)


def test_lengths_and_bad_inputs(tmp_path):
    assert token_length(88) == 22 and token_length(250) == 50 and token_length(7) == 1
    with pytest.raises(InputFormatError):
        token_length(3)
    with pytest.raises(InputFormatError, match="rvq"):
        load_hero(tmp_path, "tiny")
    hero = load_hero(_write_checkpoints(tmp_path / "c"), "tiny")
    with pytest.raises(InputFormatError, match="expected"):
        generate_reactions(hero, np.zeros((16, 512), np.float32))

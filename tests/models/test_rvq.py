"""RVQ-VAE: official key names / shapes, strict loading of `net_best_fid.tar`, training behaviour."""
from __future__ import annotations

import pytest
import torch

from tests.models.official_keys import n_params, rvq_keys
from vimo.models.checkpoints import CheckpointError
from vimo.models.configs import RVQConfig, preset
from vimo.models.rvq import RVQVAE, load_rvq_checkpoint, rvq_loss


def _official_state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {name: torch.randn(shape, generator=g) * 0.02 for name, shape in rvq_keys().items()}


def test_spec_table_counts():
    keys = rvq_keys()
    assert len(keys) == 72
    assert abs(n_params(keys, skip_buffers=("codebook",)) / 1e6 - 19.44) < 0.01


def test_hero_model_has_exactly_the_official_keys():
    model = RVQVAE(RVQConfig())
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == rvq_keys()


def test_load_official_tar_strictly(tmp_path):
    state = _official_state()
    path = tmp_path / "net_best_fid.tar"
    torch.save({"vq_model": state, "ep": 7}, path)
    model = load_rvq_checkpoint(path)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    model.eval()
    x = torch.randn(2, 24, 263)
    idx = model.encode(x)
    assert idx.shape == (2, 6, 6) and idx.min() >= 0 and idx.max() < 512
    assert model.forward_decoder(idx).shape == (2, 24, 263)


@pytest.mark.parametrize("mutate, word", [
    (lambda s: s.pop("decoder.model.6.bias"), "decoder.model.6.bias"),
    (lambda s: s.__setitem__("quantizer.layers.6.codebook", torch.zeros(512, 512)), "quantizer.layers.6.codebook"),
    (lambda s: s.__setitem__("encoder.model.0.weight", torch.zeros(512, 259, 3)), "encoder.model.0.weight"),
])
def test_wrong_key_is_one_line_error_naming_file_and_key(tmp_path, mutate, word):
    state = _official_state()
    mutate(state)
    path = tmp_path / "net_best_fid.tar"
    torch.save({"vq_model": state, "ep": 1}, path)
    with pytest.raises(CheckpointError) as err:
        load_rvq_checkpoint(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and word in msg


def test_missing_entry_and_truncated_file(tmp_path):
    p = tmp_path / "a.tar"
    torch.save({"ep": 1}, p)
    with pytest.raises(CheckpointError, match="vq_model"):
        load_rvq_checkpoint(p)
    torch.save({"vq_model": _official_state(), "ep": 1}, p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="truncated"):
        load_rvq_checkpoint(p)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_rvq_checkpoint(tmp_path / "none.tar")


def _tiny_model() -> RVQVAE:
    torch.manual_seed(0)
    return RVQVAE(preset("tiny").rvq)


def test_first_training_forward_reinitialises_codebooks_unless_kept():
    model = _tiny_model()
    for layer in model.quantizer.layers:
        layer.codebook.fill_(7.0)
    model.train()
    model(torch.randn(4, 20, 263))
    assert not torch.allclose(model.quantizer.layers[0].codebook, torch.full_like(model.quantizer.layers[0].codebook, 7.0))

    kept = _tiny_model()
    for layer in kept.quantizer.layers:
        layer.codebook.copy_(torch.randn_like(layer.codebook))
    before = kept.quantizer.layers[0].codebook.clone()
    kept.keep_codebooks()
    kept.train()
    kept.quantizer(kept.encoder(torch.randn(4, 20, 263).permute(0, 2, 1)), temperature=0.5, force_dropout_index=0)
    after = kept.quantizer.layers[0].codebook
    moved = (after - before).abs().amax(1) > 1e-6
    # only codes chosen for the 20 latent vectors move (by the EMA step); the others stay as loaded
    assert 0 < int(moved.sum()) <= 20
    assert (after - before).abs().max() < 0.1 * before.abs().max()


def test_quantiser_dropout_marks_dropped_layers():
    model = _tiny_model().train()
    z = model.encoder(torch.randn(3, 20, 263).permute(0, 2, 1))
    _, idx, _, _ = model.quantizer(z, temperature=0.5, force_dropout_index=2)
    assert (idx[..., 3:] == -1).all() and (idx[..., :3] >= 0).all()


def test_encode_picks_nearest_code_of_each_running_residual_and_loss_backprops():
    model = _tiny_model().train()
    x = torch.randn(8, 20, 263)
    model(x)  # initialises the codebooks from this batch
    model.eval()
    with torch.no_grad():
        z = model.encoder(x.permute(0, 2, 1)).permute(0, 2, 1)  # (B, n, d)
        idx = model.encode(x)
        codes = model.quantizer.codes_from_indices(idx)  # (Q, B, n, d)
        residual = z.clone()
        for k, layer in enumerate(model.quantizer.layers):
            brute = torch.cdist(residual.reshape(-1, z.shape[-1]), layer.codebook).argmin(-1)
            assert torch.equal(brute.view(idx.shape[:2]), idx[..., k])
            residual = residual - codes[k]
        dropped = idx.clone()
        dropped[..., 2:] = -1
        assert torch.allclose(model.quantizer.codes_from_indices(dropped)[2:], torch.zeros(1))
    model.train()
    model.train()
    pred, commit, _ = model(x)
    loss, parts = rvq_loss(pred, x, commit)
    loss.backward()
    assert model.encoder.model[0].weight.grad is not None and parts["loss"] > 0

"""Token-for-token parity with the official MoMask / HERO code, from data the official code produced.

tests/data/official_hero/ holds state dicts, inputs, seeds and outputs recorded by running the official modules
(README.md there says how); here the state dicts load strictly into vimo's modules, the same seeds are set, and
the codes / generations must be equal. Also: vimo's parameters are registered in the official order, so AdamW
states move between the two position by position.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from vimo.models.configs import RVQConfig, TransformerConfig, preset
from vimo.models.rvq import RVQVAE
from vimo.models.transformers import MaskTransformer, ResidualTransformer

DATA = Path(__file__).parents[1] / "data" / "official_hero"
#: the sizes the records were made at (the tiny preset's of the time; pinned here, since the preset may change):
#: official modules built with these sizes, see make_parity.py in the README
TINY = replace(preset("tiny"),
               rvq=RVQConfig(width=32, code_dim=16, nb_code=32, num_quantizers=6),
               transformer=TransformerConfig(num_tokens=32, code_dim=16, latent_dim=32, ff_size=64, num_layers=2,
                                             num_heads=2, video_dim=32, iie_heads=2, max_len=256))
#: the sizes of the optimiser records (official modules built at these sizes, see make_parity.py in the README)
MICRO = TransformerConfig(num_tokens=8, code_dim=8, latent_dim=8, ff_size=16, num_layers=2, num_heads=2, video_dim=8,
                          iie_heads=2, max_len=64)


def _load(name: str) -> dict:
    return torch.load(DATA / name, map_location="cpu", weights_only=True)


def _unpack(packed: dict) -> dict[str, torch.Tensor]:
    """keys / shapes / exponents / int8 vector -> state dict of float32 tensors k * 2**e."""
    q, out, at = packed["int8"].float(), {}, 0
    for key, shape, e in zip(packed["keys"], packed["shapes"], packed["exponents"].tolist()):
        n = math.prod(shape)
        out[key] = (q[at:at + n] * 2.0 ** e).reshape(shape)
        at += n
    assert at == q.numel()
    return out


def _quantise(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The rounding the generator applied to the official seeded init (k * 2**e, k an int8, e per tensor)."""
    out = {}
    for k, t in state.items():
        m = float(t.abs().max()) if t.numel() else 0.0
        e = 0 if m == 0 else math.ceil(math.log2(m / 127.0))
        out[k] = torch.round(t / 2.0 ** e).clamp(-127, 127) * 2.0 ** e
    return out


@pytest.fixture
def seeded():
    """Leave the global torch / python random streams as they were."""
    state = random.getstate()
    with torch.random.fork_rng(devices=[]):
        yield
    random.setstate(state)


def _strict(model: torch.nn.Module, state: dict) -> torch.nn.Module:
    model.load_state_dict(state, strict=True)
    return model


# ------------------------------------------------------------------------------------------------ RVQ-VAE

def test_rvq_training_codes_losses_and_ema_codebooks_match_official(seeded):
    d = _load("rvq.pt")
    model = _strict(RVQVAE(TINY.rvq), _unpack(d["state"]))
    seen = {}
    model.quantizer.register_forward_hook(lambda m, i, o: seen.update(codes=o[1]))
    opt = torch.optim.AdamW(model.parameters(), lr=d["lr"], betas=(0.9, 0.99), weight_decay=0.0)
    assert model.cfg.sample_codebook_temp == d["sample_codebook_temp"]
    torch.manual_seed(d["run_seed"])
    random.seed(d["random_seed"])
    model.train()
    dropped = []
    for k, (m, rec) in enumerate(zip(d["motions_x16"], d["steps"])):
        x = m.float() / 16
        out, commit, perp = model(x)  # first step: codebooks initialised from this batch
        loss = F.smooth_l1_loss(out, x) + 0.02 * commit
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert torch.equal(seen["codes"], rec["codes"].long()), f"step {k}: codes differ from the official ones"
        assert float(commit.detach()) == pytest.approx(rec["commit"], rel=1e-5)
        assert float(perp) == pytest.approx(rec["perplexity"], rel=1e-5)
        assert float(loss.detach()) == pytest.approx(rec["loss"], rel=1e-5)
        assert float(out.detach().double().sum()) == pytest.approx(rec["recon_sum"], rel=1e-4, abs=1e-3)
        torch.testing.assert_close(out.detach()[0, :4], rec["recon_head"], rtol=1e-5, atol=1e-5)
        dropped.append(int((rec["codes"][0, 0] == -1).sum()))
    assert dropped == [0, 2, 0, 5, 0]  # the records cover no dropout and quantiser dropout after layers 3 and 0
    books = torch.stack([layer.codebook for layer in model.quantizer.layers])
    torch.testing.assert_close(books, d["codebooks_after"], rtol=1e-5, atol=1e-6)
    model.eval()
    codes = model.encode(d["motions_x16"][0].float() / 16)
    assert torch.equal(codes, d["eval_codes"].long())
    with torch.no_grad():
        assert float(model.forward_decoder(codes).double().sum()) == pytest.approx(d["eval_recon_sum"], rel=1e-4)


def _assert_seeded_init_as_official(name: str, build) -> None:
    """`build()` under the record's init seed gives the official state dict, key order and values."""
    d = _load(name)
    torch.manual_seed(d["meta"]["init_seed"])
    ours = _quantise(build().state_dict())
    official = _unpack(d["state"])
    assert list(ours) == list(official)
    for k in official:
        assert torch.equal(ours[k], official[k]), k


def test_rvq_seeded_init_draws_as_official(seeded):
    _assert_seeded_init_as_official("rvq.pt", lambda: RVQVAE(TINY.rvq))


# ------------------------------------------------------------------------------------------------ transformers

def _cases(name: str) -> list[int]:
    return list(range(len(_load(name)["cases"])))


@pytest.mark.parametrize("case", _cases("mask.pt"))
def test_masked_transformer_generation_equals_official(case, seeded):
    d = _load("mask.pt")
    model = _strict(MaskTransformer(TINY.transformer), _unpack(d["state"]))
    c = d["cases"][case]
    torch.manual_seed(c["seed"])
    ids = model.generate(d["video"].float(), d["m_lens"], time_steps=c["time_steps"], cond_scale=c["cond_scale"],
                         temperature=c["temperature"], topk_filter_thres=c["topk_filter_thres"], gumbel=c["gumbel"])
    assert torch.equal(ids, c["ids"]), f"{'gumbel' if c['gumbel'] else 'categorical'} T={c['temperature']}"


@pytest.mark.parametrize("case", _cases("res.pt"))
def test_residual_transformer_generation_equals_official(case, seeded):
    d = _load("res.pt")
    model = _strict(ResidualTransformer(TINY.transformer), _unpack(d["state"]))
    c = d["cases"][case]
    torch.manual_seed(c["seed"])
    ids = model.generate(c["base_ids"], d["video"].float(), d["m_lens"], cond_scale=c["cond_scale"],
                         temperature=c["temperature"], topk_filter_thres=c["topk_filter_thres"])
    assert torch.equal(ids, c["ids"])


@pytest.mark.parametrize("name, cls", [("mask.pt", MaskTransformer), ("res.pt", ResidualTransformer)])
def test_training_loss_draws_as_official(name, cls, seeded):
    """One training forward under a seed (BERT masking / layer draw, dropouts, CFG dropout): same loss."""
    d = _load(name)
    model = _strict(cls(TINY.transformer if cls is MaskTransformer else replace(TINY.transformer, cond_drop_prob=0.2)),
                    _unpack(d["state"]))
    model.train()
    torch.manual_seed(d["train"]["seed"])
    with torch.no_grad():
        loss, acc = model(d["train"]["ids"], d["video"].float(), d["m_lens"])
    assert float(loss) == pytest.approx(d["train"]["loss"], rel=1e-5)
    assert float(acc) == pytest.approx(d["train"]["acc"], abs=1e-6)


@pytest.mark.parametrize("name, cls", [("mask.pt", MaskTransformer), ("res.pt", ResidualTransformer)])
def test_transformer_seeded_init_draws_as_official(name, cls, seeded):
    _assert_seeded_init_as_official(name, lambda: cls(TINY.transformer))


# ------------------------------------------------------------------------------------------------ parameter order

@pytest.mark.parametrize("key", ["mask_hero", "res_hero", "mask_tiny", "res_tiny"])
def test_parameters_are_registered_in_the_official_order(key):
    official = json.loads((DATA / "param_order.json").read_text())[key]
    cfg = preset("hero").transformer if key.endswith("hero") else TINY.transformer
    model = (MaskTransformer if key.startswith("mask") else ResidualTransformer)(cfg)
    ours = [[n, list(p.shape)] for n, p in model.named_parameters()]
    assert len(ours) == {"mask_hero": 137, "res_hero": 141}.get(key, len(official))
    assert ours == official
    assert set(model.state_dict()) == {n for n, _ in official} | {n for n, _ in model.named_buffers()}


def _from_flat(flat: torch.Tensor, shapes: list) -> list[torch.Tensor]:
    out, at = [], 0
    for s in shapes:
        n = math.prod(s)
        out.append(flat[at:at + n].reshape(s))
        at += n
    assert at == flat.numel()
    return out


def _micro(kind: str, rec: dict) -> torch.nn.Module:
    """vimo's module at the micro sizes, holding the official module's weights after its 3 AdamW steps."""
    model = (MaskTransformer if kind == "mask" else ResidualTransformer)(MICRO)
    state = dict(zip(rec["names"], _from_flat(rec["params"], rec["shapes"])))
    return _strict(model, {**state, **rec["buffers"]})


@pytest.mark.parametrize("kind", ["mask", "res"])
def test_official_adamw_state_resumes_in_vimo(kind):
    rec = _load("optim.pt")[kind]
    model = _micro(kind, rec)
    n = len(rec["names"])
    saved = {"state": {i: {"step": torch.tensor(rec["step"]), "exp_avg": m, "exp_avg_sq": v}
                       for i, (m, v) in enumerate(zip(_from_flat(rec["exp_avg"], rec["shapes"]),
                                                      _from_flat(rec["exp_avg_sq"], rec["shapes"])))},
             "param_groups": rec["param_groups"]}
    assert saved["param_groups"][0]["params"] == list(range(n))
    opt = torch.optim.AdamW(model.parameters(), lr=1.0)
    opt.load_state_dict(saved)
    official = dict(zip(rec["names"], range(n)))
    for name, p in model.named_parameters():
        st = opt.state[p]
        j = official[name]
        assert st["exp_avg"].shape == p.shape, name
        assert torch.equal(st["exp_avg"], saved["state"][j]["exp_avg"]), name
        assert torch.equal(st["exp_avg_sq"], saved["state"][j]["exp_avg_sq"]), name
    # the next step from the resumed state equals the official next step (same gradient sin(3 p))
    for p in model.parameters():
        p.grad = torch.sin(3 * p.detach())
    opt.step()
    after = dict(zip(rec["names"], _from_flat(rec["after_extra_step"], rec["shapes"])))
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), after[name], rtol=1e-6, atol=1e-7, msg=name)


@pytest.mark.parametrize("kind", ["mask", "res"])
def test_vimo_adamw_state_lines_up_with_the_official_parameters(kind, seeded):
    rec = _load("optim.pt")[kind]
    model = _micro(kind, rec)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.99), weight_decay=1e-5)
    g = torch.Generator().manual_seed(0)
    video, m_lens = torch.randn(4, 6, 8, generator=g), torch.tensor([6, 4, 5, 3])
    ids = torch.randint(0, 8, (4, 6) if kind == "mask" else (4, 6, 6), generator=g)
    model.train()
    torch.manual_seed(0)
    for _ in range(2):
        opt.zero_grad()
        model(ids, video, m_lens)[0].backward()
        opt.step()
    saved = opt.state_dict()
    ours = dict(model.named_parameters())
    # the official trainer's AdamW is built over the official module's parameters(): position i is names[i]
    for i, (name, shape) in enumerate(zip(rec["names"], rec["shapes"])):
        assert list(saved["state"][i]["exp_avg"].shape) == shape, name
        assert torch.equal(saved["state"][i]["exp_avg"], opt.state[ours[name]]["exp_avg"]), name
    stand_in = [torch.nn.Parameter(ours[name].detach().clone()) for name in rec["names"]]  # official order
    official_opt = torch.optim.AdamW(stand_in, lr=1e-2)
    official_opt.load_state_dict(saved)
    for name, p in zip(rec["names"], stand_in):
        st = official_opt.state[p]
        assert st["exp_avg"].shape == p.shape, name
        assert torch.equal(st["exp_avg_sq"], opt.state[ours[name]]["exp_avg_sq"]), name

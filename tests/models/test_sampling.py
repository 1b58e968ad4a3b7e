"""Behaviour of the random code draws: Gumbel-max and categorical sampling follow softmax(logits / T), RVQ training
codes are stochastic and eval codes are the nearest ones, generation is diverse, non-finite logits stop with a
typed error naming the stage (instead of silently sampling code 0)."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from scipy.stats import chisquare

from vimo.errors import VimoError
from vimo.models.configs import preset
from vimo.models.rvq import RVQVAE, EMACodebook, NonFiniteError, gumbel_noise
from vimo.models.transformers import MaskTransformer, ResidualTransformer, categorical_sample, gumbel_sample

TINY = preset("tiny")
LOGITS = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, 0.3, -0.4])
N = 20000


@pytest.fixture(autouse=True)
def _seed():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield


def _follows_softmax(draws: torch.Tensor, logits: torch.Tensor, temperature: float) -> None:
    counts = torch.bincount(draws, minlength=logits.numel()).double()
    expected = torch.softmax(logits.double() / temperature, -1) * draws.numel()
    assert counts.sum() == draws.numel()
    assert chisquare(counts.numpy(), expected.numpy()).pvalue > 1e-3, (counts.tolist(), expected.tolist())


def test_gumbel_noise_is_finite_standard_gumbel():
    g = gumbel_noise(torch.empty(200_000))
    assert torch.isfinite(g).all()
    assert g.unique().numel() > 100_000  # not constant
    assert float(g.mean()) == pytest.approx(0.5772, abs=0.02)  # Euler-Mascheroni constant
    assert float(g.std()) == pytest.approx(math.pi / math.sqrt(6), abs=0.02)


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_gumbel_max_draws_follow_softmax_over_temperature(temperature):
    draws = gumbel_sample(LOGITS.expand(N, -1), temperature)
    assert draws.unique().numel() == LOGITS.numel()
    _follows_softmax(draws, LOGITS, temperature)


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_categorical_draws_follow_softmax_over_temperature(temperature):
    draws = categorical_sample(LOGITS.expand(N, -1), temperature)
    assert draws.unique().numel() == LOGITS.numel()
    _follows_softmax(draws, LOGITS, temperature)


@pytest.mark.parametrize("sampler", [gumbel_sample, categorical_sample])
@pytest.mark.parametrize("temperature", [0.0, 1e-6])
def test_temperature_to_zero_gives_the_argmax(sampler, temperature):
    logits = torch.randn(500, 32)
    assert torch.equal(sampler(logits, temperature), logits.argmax(-1))


def test_sampling_respects_the_top_k_filter():
    logits = torch.randn(N, 32)
    filtered = torch.full_like(logits, float("-inf"))
    filtered[:, :4] = logits[:, :4]
    for sampler in (gumbel_sample, categorical_sample):
        assert int(sampler(filtered, 1.0).max()) <= 3


def _codebook(temperature_scale: float = 1.0) -> tuple[EMACodebook, torch.Tensor]:
    layer = EMACodebook(nb_code=6, code_dim=4, mu=0.99)
    layer.codebook.copy_(torch.randn(6, 4) * temperature_scale)
    layer.initialised = True
    return layer, torch.randn(1, 4) * temperature_scale


def test_rvq_training_codes_are_gumbel_max_draws_over_minus_distance():
    layer, x = _codebook(0.5)
    layer.train()
    draws = layer.nearest(x.expand(N, -1), temperature=0.5)
    neg_dist = -((x - layer.codebook) ** 2).sum(-1)
    _follows_softmax(draws, neg_dist, 0.5)
    layer.eval()
    assert torch.equal(layer.nearest(x.expand(10, -1), temperature=0.5), neg_dist.argmax().expand(10))


def test_rvq_training_codes_are_spread_and_eval_codes_are_the_nearest():
    model = RVQVAE(replace(TINY.rvq, quantize_dropout_prob=0.0))
    motion = torch.randn(8, 40, 263)
    model.train()
    _, _, perplexity = model(motion)  # first batch: initialises the codebooks
    _, _, perplexity = model(torch.randn(8, 40, 263))
    assert float(perplexity) > 4.0
    codes = []
    model.quantizer.register_forward_hook(lambda m, i, o: codes.append(o[1]))
    model(motion)
    assert codes[-1].unique().numel() > 8 and (codes[-1] >= 0).all()
    model.eval()
    z = model.encoder(motion.permute(0, 2, 1))
    ids = model.encode(motion)
    residual = z.permute(0, 2, 1).reshape(-1, z.shape[1])
    for k, layer in enumerate(model.quantizer.layers):  # eval: nearest code of each running residual (argmin)
        nearest = torch.cdist(residual, layer.codebook).argmin(-1)
        assert torch.equal(ids[..., k].reshape(-1), nearest)
        residual = residual - layer.codebook[nearest]
    _, _, eval_perplexity = model(motion)
    assert torch.isfinite(eval_perplexity)


def test_generation_draws_many_distinct_tokens():
    video, m_lens = torch.randn(4, 16, 32), torch.tensor([10, 9, 7, 5])
    mask = MaskTransformer(TINY.transformer)
    res = ResidualTransformer(TINY.transformer)
    real = torch.arange(10).unsqueeze(0) < m_lens.unsqueeze(1)
    for gumbel in (True, False):
        base = mask.generate(video, m_lens, gumbel=gumbel)
        assert (base[real] >= 0).all() and (base[~real] == -1).all()
        assert base[real].unique().numel() >= 5, base
    ids = res.generate(base, video, m_lens)
    assert (ids[~real] == -1).all()
    for k in range(1, ids.shape[-1]):
        # the residual head also scores the PAD class; a drawn PAD becomes -1 ("no code"), as in the official code
        layer = ids[..., k][real]
        assert layer.unique().numel() >= 5 and (layer > 0).sum() >= layer.numel() // 2, (k, layer)


def test_non_finite_logits_stop_with_an_error_naming_the_stage():
    video, m_lens = torch.randn(2, 16, 32), torch.tensor([6, 4])
    video[0, 3, 5] = float("nan")
    with pytest.raises(NonFiniteError, match="masked-transformer generation") as e:
        MaskTransformer(TINY.transformer).generate(video, m_lens)
    assert isinstance(e.value, VimoError) and "fix:" in str(e.value)
    base = torch.randint(0, 32, (2, 6))
    with pytest.raises(NonFiniteError, match="residual-transformer generation"):
        ResidualTransformer(TINY.transformer).generate(base, video, m_lens)
    layer, x = _codebook()
    x[0, 0] = float("inf")
    for training in (True, False):
        layer.train(training)
        with pytest.raises(NonFiniteError, match="RVQ code assignment"):
            layer.nearest(x, temperature=0.5)
    model = RVQVAE(TINY.rvq).eval()
    motion = torch.randn(1, 20, 263)
    motion[0, 2, 7] = float("nan")
    with pytest.raises(NonFiniteError, match="RVQ code assignment"):
        model.encode(motion)

"""The tiny reference HERO demonstrably learns and samples, and the bench can tell: judged on the run of
`vimo bench --preset tiny` (the preset's own step budgets) over a release with structure to learn
(tests/models/learnable.py; the `learned_bench` fixture of conftest.py, shared with test_bench.py).

A degenerate sampler (every code 0), a schedule that stops training before it starts, codes collapsed to one
mean motion, or an evaluator at chance fail here. Besides the bench's own verdict, the margins are recomputed
independently from its checkpoints, on more pairs than its test set (train + test videos)."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from vimo.models import metrics as M
from vimo.models.checkpoints import entry, load_strict, read_checkpoint
from vimo.models.configs import preset
from vimo.models.data import ReleaseFolder
from vimo.models.evaluator import load_vimo_evaluator
from vimo.models.rvq import RVQVAE
from vimo.models.train import build_encoder, release_video_features
from vimo.models.transformers import MaskTransformer, ResidualTransformer
from vimo.models.video_encoder import FeatureCache
from vimo.motion import recover_from_ric

P = preset("tiny")
FRAMES = P.max_motion_length  # 40 frames = 10 tokens: the bench evaluates these first frames


def _stage(bench, stage: str) -> dict:
    """A stage's last checkpoint (the bench ran with --select-on none)."""
    path = bench.out / "checkpoints" / stage / "model" / "latest.tar"
    return read_checkpoint(path), path


@pytest.fixture(scope="module")
def models(learned_bench) -> dict:
    b = learned_bench
    rvq_ckpt, rvq_path = _stage(b, "rvq")
    rvq = RVQVAE(P.rvq)
    load_strict(rvq, entry(rvq_ckpt, "vq_model", rvq_path), rvq_path, what="RVQ-VAE")
    rvq.eval()
    mask = MaskTransformer(P.transformer)
    mask.load_state_dict(_stage(b, "mask")[0]["t2m_transformer"])
    res = ResidualTransformer(P.transformer)
    res.load_state_dict(_stage(b, "res")[0]["res_transformer"])
    mask.eval(), res.eval()
    folder = ReleaseFolder(b.release)
    mean = np.load(b.out / "checkpoints/rvq/meta/mean.npy")
    std = np.load(b.out / "checkpoints/rvq/meta/std.npy")
    pairs = {k: folder.pairs(k) for k in ("train", "test")}
    encoder = build_encoder("pixel", P.transformer.video_dim)
    features = release_video_features(folder, [v for k in pairs for v, _ in pairs[k]], encoder,
                                      FeatureCache(b.tmp / "learning_features"))
    return {"rvq": rvq, "mask": mask, "res": res, "folder": folder, "mean": mean, "std": std, "pairs": pairs,
            "features": features, "evaluator": load_vimo_evaluator(b.out / "evaluator/evaluator.tar")}


def _motions(m: dict, pairs) -> np.ndarray:
    """(N, 40, 263) RVQ-normalised motions of pairs (their first 40 frames, as the bench evaluates)."""
    return np.stack([(m["folder"].motion(x)[:FRAMES] - m["mean"]) / m["std"] for _, x in pairs]).astype(np.float32)


def _joints(m: dict, normed: np.ndarray) -> np.ndarray:
    return np.stack([recover_from_ric(x * m["std"] + m["mean"]) for x in normed])


def _mpjpe(a: np.ndarray, b: np.ndarray) -> float:
    """Mean joint error (m) after aligning the roots of every frame."""
    return float(np.linalg.norm((a - a[:, :, :1]) - (b - b[:, :, :1]), axis=-1).mean())


def _perplexities(codes: np.ndarray, n_codes: int) -> list[float]:
    out = []
    for k in range(codes.shape[-1]):
        p = np.bincount(codes[..., k].ravel(), minlength=n_codes) / codes[..., k].size
        p = p[p > 0]
        out.append(float(np.exp(-(p * np.log(p)).sum())))
    return out


def test_every_stage_trained_its_budget_with_falling_loss_at_a_live_learning_rate(learned_bench):
    for stage in ("rvq", "mask", "res"):
        rows = list(csv.DictReader((learned_bench.out / "checkpoints" / stage / "metrics.csv").open()))
        assert int(rows[-1]["step"]) >= P.recipe(stage).min_steps, stage
        losses = np.array([float(r["loss"]) for r in rows])
        lrs = np.array([float(r["lr"]) for r in rows])
        tenth = len(losses) // 10
        assert losses[-tenth:].mean() < 0.7 * losses[:tenth].mean(), (stage, losses[:tenth].mean(),
                                                                     losses[-tenth:].mean())
        # the learning rate stays at the recipe's rate for most of the run (milestone at 70 %)
        assert (lrs >= 0.5 * P.recipe(stage).lr).mean() > 0.6, stage


def test_rvq_reconstructs_far_better_than_untrained_and_uses_its_codebooks(models):
    x = torch.from_numpy(_motions(models, models["pairs"]["test"]))
    rvq = models["rvq"]
    torch.manual_seed(0)
    untrained = RVQVAE(P.rvq)
    untrained.train()
    untrained(x)  # initialise its codebooks from data, as training would
    untrained.eval()
    with torch.no_grad():
        rec = rvq.forward_decoder(rvq.encode(x)).numpy()
        rec0 = untrained.forward_decoder(untrained.encode(x)).numpy()
        codes = rvq.encode(x).numpy()
    gt = _joints(models, x.numpy())
    err, err0 = _mpjpe(gt, _joints(models, rec)), _mpjpe(gt, _joints(models, rec0))
    assert err < 0.7 * err0 and err < 0.05, (err, err0)  # metres
    perplexity = _perplexities(codes, P.rvq.nb_code)
    assert min(perplexity) > 4.0, perplexity  # every layer uses many codes (a collapsed layer has 1)


def test_the_bench_ladder_is_in_order_with_margins(learned_bench):
    s = learned_bench.results["sets"]["test"]["sanity"]
    ladder, collapse, chance = s["ladder"], s["collapse"], s["chance"]
    assert ladder["generation"] < 0.7 * ladder["random_codes"], ladder
    assert ladder["generation"] < 0.5 * ladder["constant_codes"], ladder
    assert ladder["real_vs_real"] < min(ladder["random_codes"], ladder["constant_codes"]), ladder
    assert ladder["real_vs_real"] < min(ladder["random_codes_halves"], ladder["constant_codes_halves"]), ladder
    assert collapse["distinct_base_sequences"] >= 0.6 * collapse["pairs"] and collapse["diversity_ratio"] > 0.3
    assert chance["p_value"] < 0.05, chance  # the evaluator ranks real pairs above chance
    metrics = learned_bench.results["sets"]["test"]["metrics"]
    assert metrics["multimodality"]["mean"] > 0.1 * metrics["diversity_real"]["mean"], metrics["multimodality"]


@pytest.fixture(scope="module")
def judged(models) -> dict:
    """Generations for the train + test videos (68 pairs) from the bench's checkpoints, and the evaluator's
    embeddings of the real motions, the generations, a second draw, and decoded random / constant codes."""
    m = models
    judge = m["pairs"]["train"] + m["pairs"]["test"]
    x = _motions(m, judge)
    n = len(x)
    tokens = torch.full((n,), FRAMES // 4)
    video = torch.from_numpy(np.stack([m["features"][v] for v, _ in judge]))
    rvq, mask, res = m["rvq"], m["mask"], m["res"]
    torch.manual_seed(1)
    with torch.no_grad():
        base = mask.generate(video, tokens, time_steps=10, cond_scale=4.0)
        codes = res.generate(base, video, tokens, cond_scale=5.0)
        generated = rvq.forward_decoder(codes).numpy()
        again = rvq.forward_decoder(res.generate(mask.generate(video, tokens, cond_scale=4.0, gumbel=True), video,
                                                 tokens, cond_scale=5.0)).numpy()
        shape = (n, FRAMES // 4, P.rvq.num_quantizers)
        random_codes = rvq.forward_decoder(torch.randint(0, P.rvq.nb_code, shape)).numpy()
        constant = rvq.forward_decoder(torch.zeros(shape, dtype=torch.long)).numpy()
    lens = np.full(n, FRAMES)
    emb = {k: m["evaluator"].motion_embeddings(v.astype(np.float32), lens) for k, v in
           (("real", x), ("generated", generated), ("again", again), ("random", random_codes),
            ("constant", constant))}
    return {"emb": emb, "base": base.numpy(), "codes": codes.numpy()}


def test_generations_beat_random_and_constant_codes_and_are_diverse(judged):
    e = judged["emb"]
    fid = {k: M.fid(e["real"], e[k]) for k in ("generated", "random", "constant")}
    assert fid["generated"] < 0.7 * fid["random"], fid
    assert fid["generated"] < 0.5 * fid["constant"], fid
    rng = np.random.default_rng(0)
    n = len(e["real"])
    div_real, div_gen = M.diversity(e["real"], n, rng), M.diversity(e["generated"], n, rng)
    assert div_gen > 0.3 * div_real, (div_gen, div_real)
    # a second draw for the same videos differs (MultiModality above zero)
    assert np.linalg.norm(e["generated"] - e["again"], axis=1).mean() > 0.1 * div_real


def test_generated_codes_spread_like_real_ones(judged):
    base, codes = judged["base"], judged["codes"]
    # most videos get their own token sequence (two videos of one kind may legitimately share one)
    assert len({tuple(r) for r in base}) >= 0.6 * len(base), len({tuple(r) for r in base})
    assert len(np.unique(base)) >= P.transformer.num_tokens // 4
    for k in range(1, codes.shape[-1]):  # residual layers are sampled too, not left at one code
        assert len(np.unique(codes[..., k])) >= 4, k

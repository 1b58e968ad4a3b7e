"""Metrics against direct numpy / scipy computations of the official formulas."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import linalg

from vimo.models import metrics as M
from vimo.models.metrics import MetricError


def _reference_fid(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(s1 @ s2)
    root = root.real if np.iscomplexobj(root) else root
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(root))


def test_fid_matches_scipy_and_has_no_warnings():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((200, 8))
    b = rng.standard_normal((150, 8)) * 1.5 + 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the removed `disp` argument would warn on scipy 1.17
        value = M.fid(a, b)
    assert value == pytest.approx(_reference_fid(a, b), rel=1e-10)
    assert M.fid(a, a) == pytest.approx(0.0, abs=1e-8)
    # 1-d case: closed form (μ1−μ2)² + (σ1−σ2)²
    x, y = rng.standard_normal((500, 1)), rng.standard_normal((500, 1)) * 2 + 1
    s1, s2 = np.cov(x[:, 0]), np.cov(y[:, 0])
    assert M.fid(x, y) == pytest.approx((x.mean() - y.mean()) ** 2 + (math.sqrt(s1) - math.sqrt(s2)) ** 2)


def test_fid_eps_fallback_and_bad_input(monkeypatch):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((50, 4)), rng.standard_normal((50, 4))
    calls = []
    real_sqrtm = linalg.sqrtm

    def flaky(m, *args, **kwargs):
        assert not args and not kwargs  # never passes `disp`
        calls.append(m.copy())
        return np.full_like(m, np.inf) if len(calls) == 1 else real_sqrtm(m)

    monkeypatch.setattr(M.linalg, "sqrtm", flaky)
    value = M.fid(a, b)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    off = np.eye(4) * 1e-6
    expect = (np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s1) + np.trace(s2)
              - 2 * np.trace(real_sqrtm((s1 + off) @ (s2 + off)).real))
    assert len(calls) == 2 and np.allclose(calls[1], (s1 + off) @ (s2 + off))
    assert value == pytest.approx(expect, rel=1e-10)

    monkeypatch.setattr(M.linalg, "sqrtm", lambda m: real_sqrtm(m) + 0.5j * np.eye(m.shape[0]))
    with pytest.raises(MetricError, match="imaginary"):
        M.fid(a, b)
    monkeypatch.undo()
    with pytest.raises(MetricError, match="NaN"):
        M.fid(np.full((5, 4), np.nan), b)
    with pytest.raises(MetricError, match="do not match"):
        M.fid(a, b[:, :3])
    with pytest.raises(MetricError, match="at least 2"):
        M.fid(a[:1], b)


def test_diversity_matches_direct_computation():
    x = np.random.default_rng(3).standard_normal((400, 16))
    value = M.diversity(x, 300, np.random.default_rng(7))
    rng = np.random.default_rng(7)
    i, j = rng.choice(400, 300, replace=False), rng.choice(400, 300, replace=False)
    assert value == pytest.approx(np.mean(np.sqrt(((x[i] - x[j]) ** 2).sum(1))), rel=1e-12)
    assert M.diversity_times(301) == 300 and M.diversity_times(300) == 13 and M.diversity_times(300, "momask") == 100
    with pytest.raises(MetricError, match="without replacement"):
        M.diversity(x[:10], 13)
    with pytest.raises(MetricError, match="rule"):
        M.diversity_times(10, "bogus")


def test_multimodality_matches_direct_computation():
    x = np.random.default_rng(4).standard_normal((96, 30, 12))
    value = M.multimodality(x, 10, np.random.default_rng(9))
    rng = np.random.default_rng(9)
    i, j = rng.choice(30, 10, replace=False), rng.choice(30, 10, replace=False)
    direct = np.mean([np.linalg.norm(x[v, i[k]] - x[v, j[k]]) for v in range(96) for k in range(10)])
    assert value == pytest.approx(direct, rel=1e-12)
    with pytest.raises(MetricError, match="generations"):
        M.multimodality(x[:, :5], 10)
    with pytest.raises(MetricError, match="dimensions"):
        M.multimodality(x[0], 10)


def test_mpjpe_root_aligned_per_frame():
    rng = np.random.default_rng(5)
    gt = [rng.standard_normal((t, 22, 3)) for t in (10, 25)]
    pred = [g + rng.normal(0, 0.01, g.shape) + np.array([1.0, 0, 2.0]) for g in gt]  # global offset is ignored
    errors = []
    for p, g in zip(pred, gt):
        pa, ga = p - p[:, :1], g - g[:, :1]
        errors.extend(np.sqrt(((pa - ga) ** 2).sum(-1)).mean(-1))
    assert M.mpjpe(pred, gt) == pytest.approx(np.mean(errors), rel=1e-12)
    assert M.mpjpe([gt[0] + 5.0], [gt[0]]) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(MetricError, match="shapes"):
        M.mpjpe([gt[0]], [gt[1]])


def test_r_precision_and_matching_score_match_argsort_reference():
    rng = np.random.default_rng(6)
    video = rng.standard_normal((70, 8))
    motion = video + rng.normal(0, 1.0, video.shape)
    top, score = M.r_precision(video, motion, batch_size=32, top_k=3)
    hits, total = np.zeros(3), 0.0
    for s in range(0, 70, 32):
        a, b = video[s:s + 32], motion[s:s + 32]
        dist = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))
        order = np.argsort(dist, axis=1)
        for k in range(3):
            hits[k] += sum(i in order[i, :k + 1] for i in range(len(a)))
        total += np.trace(dist)
    assert np.allclose(top, hits / 70) and score == pytest.approx(total / 70, rel=1e-10)
    assert top[0] <= top[1] <= top[2] and top[0] > 1 / 32  # matched rows are closer than chance
    with pytest.raises(MetricError, match="matched"):
        M.retrieval_counts(video[:4], motion[:5])


def test_replications_confidence_interval():
    values = [0.4 + 0.01 * k for k in range(20)]
    out = M.replicate(lambda i: {"fid": values[i], "div": 2 * values[i]}, 20)
    assert out["fid"].mean == pytest.approx(np.mean(values))
    assert out["fid"].ci == pytest.approx(1.96 * np.std(values) / math.sqrt(20))  # population std
    assert out["div"].values == pytest.approx([2 * v for v in values])
    assert out["fid"].as_dict()["n"] == 20 and "±" in str(out["fid"])
    reps = M.Replications()
    reps.update({"fid": 1.0})
    with pytest.raises(MetricError, match="same metrics"):
        reps.update({"div": 1.0})
    with pytest.raises(MetricError, match="not finite"):
        M.Replicated([1.0, float("nan")])


# --- rank correlation ---------------------------------------------------------------------------------------


def test_spearman_matches_scipy_with_ties_and_hand_cases():
    from scipy import stats

    rng = np.random.default_rng(3)
    a = rng.integers(0, 5, 40).astype(float)   # many ties
    b = a + rng.normal(size=40)
    assert M.spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
    assert M.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert M.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks [1, 2, 3] vs [1.5, 1.5, 3]: d = (-1, -0.5, 0) etc. -> Pearson of ranks = 0.8660
    assert M.spearman([1, 2, 3], [5, 5, 9]) == pytest.approx(math.sqrt(3) / 2)
    assert M.spearman([1, 2], [1, 2]) is None and M.spearman([1, 1, 1], [1, 2, 3]) is None
    assert M.spearman([1, 2, np.nan, 4], [1, 2, 3, 4]) == pytest.approx(1.0)   # unpaired values dropped
    with pytest.raises(MetricError):
        M.spearman([1, 2, 3], [1, 2])

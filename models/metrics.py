"""Metrics of the HERO / T2M evaluation protocol, over evaluator embeddings (N, D) float.

FID, Diversity, MultiModality (Guo et al. 2022, as HERO computes them), MPJPE for the RVQ-VAE reconstruction,
and, from an evaluator with a video branch, video->reaction R-precision and matching score; Spearman's rank
correlation (automatic measures against human ratings). The reaction measures (penetration, contact, timing,
viewpoint), which need no evaluator, are `vimo.metrics.reaction` (re-exported here as `reaction`). Each metric is a
stateful class (`update` / `compute` / `reset`, `higher_is_better`) with a functional twin; `Replications`
collects 20 replications into mean ± 1.96·std/√n (population std, as the official code) with the raw values.

Random pair sampling takes an explicit `numpy.random.Generator`, so a replication is reproducible from its seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

import numpy as np
from scipy import linalg

from vimo.errors import VimoError
from vimo.metrics import reaction  # noqa: F401  (the reaction measures, next to the evaluator metrics)

#: official protocol constants (text-to-motion `final_evaluations.py`; HERO keeps them)
REPLICATIONS = 20
DIVERSITY_TIMES = 300
MM_REPEATS = 30
MM_TIMES = 10
CI_Z = 1.96


class MetricError(VimoError):
    """Features a metric cannot use: wrong shape, NaN/inf, too few samples for the requested pairs."""


def _features(x, name: str, ndim: int = 2) -> np.ndarray:
    arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    if arr.ndim != ndim:
        raise MetricError(f"{name} have shape {arr.shape}, expected {ndim} dimensions",
                          fix="pass evaluator embeddings, one row per motion")
    if not np.isfinite(arr).all():
        raise MetricError(f"{name} hold NaN or inf", fix="check the generated motions and the evaluator weights")
    return arr


# --- FID -------------------------------------------------------------------------------------------------


def activation_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) -> mean (D,), covariance (D, D) (unbiased, rowvar=False, as the official code)."""
    x = _features(features, "features")
    if x.shape[0] < 2:
        raise MetricError(f"FID needs at least 2 samples, got {x.shape[0]}", fix="evaluate more motions")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _sqrtm(a: np.ndarray) -> np.ndarray:
    # scipy >= 1.18 removed the `disp` argument the official code passes (1.17 warns); without it sqrtm
    # returns the root only, so finiteness is checked by the caller.
    out = linalg.sqrtm(a)
    return out[0] if isinstance(out, tuple) else out


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """‖μ1−μ2‖² + tr Σ1 + tr Σ2 − 2 tr √(Σ1Σ2); on a non-finite root, eps·I is added to both covariances
    (official fallback); a complex root with a diagonal imaginary part above 1e-3 raises MetricError."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.shape[0],) * 2:
        raise MetricError(f"statistics do not match: means {mu1.shape} / {mu2.shape}, covariances "
                          f"{s1.shape} / {s2.shape}", fix="compute both from embeddings of the same evaluator")
    for name, v in (("mean", mu1), ("mean", mu2), ("covariance", s1), ("covariance", s2)):
        if not np.isfinite(v).all():
            raise MetricError(f"FID {name} holds NaN or inf", fix="check the embeddings")
    diff = mu1 - mu2
    covmean = _sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * eps
        covmean = _sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            worst = float(np.max(np.abs(np.diagonal(covmean).imag)))
            raise MetricError(f"FID matrix square root has an imaginary component {worst:.3g}",
                              fix="use more samples than embedding dimensions")
        covmean = covmean.real
    if not np.isfinite(covmean).all():
        raise MetricError("FID matrix square root is not finite even with the eps offset",
                          fix="use more samples or check the embeddings")
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def fid(real, generated) -> float:
    """FID between (N, D) real and (M, D) generated embeddings."""
    return frechet_distance(*activation_statistics(real), *activation_statistics(generated))


# --- Diversity / MultiModality -----------------------------------------------------------------------------


def diversity_times(n_samples: int, rule: str = "hero") -> int:
    """Pairs drawn by Diversity for `n_samples` motions: `hero` 300 if N > 300 else 13; `momask` 300 / 100;
    `t2m` always 300 (the official code raises when N is smaller than the count)."""
    small = {"hero": 13, "momask": 100, "t2m": DIVERSITY_TIMES}
    if rule not in small:
        raise MetricError(f"unknown diversity rule '{rule}'", fix=f"use one of: {', '.join(small)}")
    return DIVERSITY_TIMES if n_samples > DIVERSITY_TIMES else small[rule]


def diversity(features, times: int = DIVERSITY_TIMES, rng: np.random.Generator | None = None) -> float:
    """Mean L2 distance between rows of two independent draws of `times` indices without replacement."""
    x = _features(features, "features")
    n = x.shape[0]
    if times > n or times < 1:
        raise MetricError(f"Diversity draws {times} pairs without replacement from {n} samples",
                          fix="evaluate more motions or lower the number of pairs")
    rng = rng if rng is not None else np.random.default_rng()
    first = rng.choice(n, times, replace=False)
    second = rng.choice(n, times, replace=False)
    return float(np.linalg.norm(x[first] - x[second], axis=1).mean())


def multimodality(features, times: int = MM_TIMES, rng: np.random.Generator | None = None) -> float:
    """(n videos, r generations, D) -> mean L2 over n×times pairs; the two index draws (without replacement
    among r) are shared by all videos, as the official code."""
    x = _features(features, "multimodality features", ndim=3)
    r = x.shape[1]
    if times > r or times < 1:
        raise MetricError(f"MultiModality draws {times} pairs from {r} generations per video",
                          fix=f"generate at least {times} motions per video")
    rng = rng if rng is not None else np.random.default_rng()
    first = rng.choice(r, times, replace=False)
    second = rng.choice(r, times, replace=False)
    return float(np.linalg.norm(x[:, first] - x[:, second], axis=2).mean())


# --- MPJPE -------------------------------------------------------------------------------------------------


def mpjpe_per_frame(predicted, target) -> np.ndarray:
    """(T, J, 3) joints, metres -> (T,) mean joint error per frame after aligning each frame's root (joint 0)."""
    p, t = _features(predicted, "predicted joints", 3), _features(target, "target joints", 3)
    if p.shape != t.shape:
        raise MetricError(f"joints have shapes {p.shape} and {t.shape}", fix="compare motions of the same length")
    p = p - p[:, :1]
    t = t - t[:, :1]
    return np.linalg.norm(p - t, axis=-1).mean(-1)


def mpjpe(predicted: Iterable, target: Iterable) -> float:
    """Root-aligned MPJPE in metres over all frames of paired motions (list of (T_i, J, 3) each)."""
    metric = MPJPE()
    for p, t in zip(predicted, target, strict=True):
        metric.update(p, t)
    return metric.compute()


# --- retrieval -----------------------------------------------------------------------------------------------


def euclidean_distance_matrix(a, b) -> np.ndarray:
    """(N, D), (M, D) -> (N, M) L2 distances."""
    a, b = _features(a, "embeddings"), _features(b, "embeddings")
    d2 = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None]
    return np.sqrt(np.maximum(d2, 0.0))


def retrieval_counts(query, target, top_k: int = 3) -> tuple[np.ndarray, float, int]:
    """One batch of matched rows: (hits at ranks 1..top_k cumulated, summed matched distance, rows).

    Row i of `query` (a video) matches row i of `target` (its reaction); the official protocol ranks
    within batches of 32."""
    dist = euclidean_distance_matrix(query, target)
    if dist.shape[0] != dist.shape[1]:
        raise MetricError(f"retrieval needs matched rows, got {dist.shape[0]} queries and {dist.shape[1]} targets",
                          fix="pass one target per query")
    # rank of the matched target among all targets of the batch (ties go to the matched one, as a stable sort)
    diag = np.diagonal(dist)[:, None]
    ranks = (dist < diag).sum(1)
    hits = np.array([(ranks < k).sum() for k in range(1, top_k + 1)], dtype=np.int64)
    return hits, float(np.trace(dist)), dist.shape[0]


def r_precision(query, target, *, batch_size: int = 32, top_k: int = 3) -> tuple[np.ndarray, float]:
    """(R-precision at top 1..top_k, matching score) of (N, D) matched embeddings, ranked in batches."""
    q, t = _features(query, "query embeddings"), _features(target, "target embeddings")
    hits, distance, rows = np.zeros(top_k, np.int64), 0.0, 0
    for s in range(0, q.shape[0], batch_size):
        h, d, n = retrieval_counts(q[s:s + batch_size], t[s:s + batch_size], top_k)
        hits, distance, rows = hits + h, distance + d, rows + n
    if not rows:
        raise MetricError("R-precision has no rows", fix="pass at least one matched pair")
    return hits / rows, distance / rows


# --- rank correlation ------------------------------------------------------------------------------------------


def ranks(values) -> np.ndarray:
    """1-based ranks of a 1-D sample, ties sharing their mean rank."""
    x = np.asarray(values, np.float64).ravel()
    order = np.argsort(x, kind="mergesort")
    r = np.empty(x.size, np.float64)
    r[order] = np.arange(1, x.size + 1)
    for v in np.unique(x):
        tie = x == v
        if tie.sum() > 1:
            r[tie] = r[tie].mean()
    return r


def spearman(a, b) -> float | None:
    """Spearman's rank correlation of two paired samples (Pearson correlation of their tie-averaged ranks); None
    for fewer than 3 pairs or a constant sample (undefined)."""
    x, y = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if x.shape != y.shape:
        raise MetricError(f"paired samples have {x.size} and {y.size} values", fix="pass one value per item to both")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 3:
        return None
    rx, ry = ranks(x) - (x.size + 1) / 2, ranks(y) - (y.size + 1) / 2
    denom = math.sqrt(float((rx * rx).sum() * (ry * ry).sum()))
    return None if denom == 0 else float((rx * ry).sum() / denom)


# --- stateful metrics (accumulated over batches; the bench accumulates MPJPE over the test motions) ---------


class Metric:
    """Accumulates batches (`update`), computes a value (`compute`), starts over (`reset`).
    `higher_is_better`: True, False, or None where closer to the real data is better (Diversity)."""

    higher_is_better: bool | None = None

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, *args, **kwargs) -> None:
        raise NotImplementedError

    def compute(self):
        raise NotImplementedError


class MPJPE(Metric):
    """Root-aligned mean per-joint position error (metres) over all frames of all updated motions."""

    higher_is_better = False

    def reset(self) -> None:
        self.total, self.frames = 0.0, 0

    def update(self, predicted, target) -> None:
        """One motion: (T, J, 3) predicted and target joints."""
        per_frame = mpjpe_per_frame(predicted, target)
        self.total += float(per_frame.sum())
        self.frames += per_frame.shape[0]

    def compute(self) -> float:
        if not self.frames:
            raise MetricError("MPJPE has no frames", fix="call update() before compute()")
        return self.total / self.frames


# --- replications ------------------------------------------------------------------------------------------


def ci95(values, *, ddof: int = 0) -> float:
    """Half-width of the 95 % normal interval of the mean, 1.96·std/√n (0 for fewer than 2 values).

    ddof 0 (population std) is the official protocol's, over the 20 replications; ddof 1 (sample std) is for
    means over a sample of items (vimo's human evaluation, over rated tasks)."""
    v = np.asarray(values, np.float64)
    if v.size < 2:
        return 0.0
    return float(CI_Z * v.std(ddof=ddof) / math.sqrt(v.size))



@dataclass
class Replicated:
    """A metric over replications: mean, 95 % half-width 1.96·std/√n (population std), raw values."""

    values: list[float]
    mean: float = field(init=False)
    ci: float = field(init=False)

    def __post_init__(self) -> None:
        v = np.asarray(self.values, np.float64)
        if v.size == 0 or not np.isfinite(v).all():
            raise MetricError(f"replicated values are empty or not finite: {self.values[:5]}",
                              fix="check the metric of every replication")
        self.values = [float(x) for x in v]
        self.mean = float(v.mean())
        self.ci = ci95(v) if v.size > 1 else 0.0

    def as_dict(self) -> dict[str, float | list[float]]:
        return {"mean": self.mean, "ci95": self.ci, "n": len(self.values), "values": self.values}

    def __str__(self) -> str:
        return f"{self.mean:.3f} ± {self.ci:.3f}"


class Replications:
    """Collects one dict of metric values per replication; `compute()` -> name -> Replicated."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._runs: list[Mapping[str, float]] = []

    def update(self, values: Mapping[str, float]) -> None:
        if self._runs and set(values) != set(self._runs[0]):
            raise MetricError(f"replication {len(self._runs)} reports {sorted(values)}, the first reported "
                              f"{sorted(self._runs[0])}", fix="report the same metrics in every replication")
        self._runs.append(dict(values))

    def compute(self) -> dict[str, Replicated]:
        if not self._runs:
            raise MetricError("no replication recorded", fix="call update() once per replication")
        return {k: Replicated([run[k] for run in self._runs]) for k in self._runs[0]}


def replicate(run_once: Callable[[int], Mapping[str, float]], replications: int = REPLICATIONS
              ) -> dict[str, Replicated]:
    """Call `run_once(i)` for i = 0..replications-1 (each returns metric name -> value) and summarise."""
    reps = Replications()
    for i in range(replications):
        reps.update(run_once(i))
    return reps.compute()

"""Results of rating rounds: per-pair scores and decisions, Krippendorff's alpha, annotator bias,
gold-task accuracy, score histograms and the summary the data card quotes.

Pure computation on `Rating` records; reading them from a round is `vimo.annotation.rounds`' job.
Krippendorff's alpha is our own implementation (the `krippendorff` package is GPL-3.0 and serves only
as an oracle); it follows Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability":
coincidences within units, expected coincidences from the pairable values' marginals.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from vimo.errors import InputFormatError

#: the two scores of a rating round (1-5 each)
DIMENSIONS: tuple[str, ...] = ("motion_quality", "reaction_plausibility")
SCALE: tuple[int, ...] = (1, 2, 3, 4, 5)
LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")


@dataclass(frozen=True)
class Rating:
    """One score one annotator gave one task (a pair, in a rating round)."""

    task: str
    annotator: str
    dimension: str
    score: float


# --------------------------------------------------------------------------------------------
# Krippendorff's alpha


def value_counts(ratings: np.ndarray, domain: Sequence[float]) -> np.ndarray:
    """(annotators, units) ratings with NaN for missing -> (units, len(domain)) counts.

    A value outside `domain` is an error, not silently dropped.
    """
    ratings = np.asarray(ratings, dtype=float)
    if ratings.ndim != 2:
        raise InputFormatError(f"ratings must be (annotators, units), got shape {ratings.shape}",
                               fix="pass one row per annotator and one column per unit, NaN for missing")
    present = ~np.isnan(ratings)
    dom = np.asarray(domain, dtype=float)
    known = np.isin(ratings, dom) | ~present
    if not known.all():
        bad = sorted(set(ratings[~known].tolist()))
        raise InputFormatError(f"ratings {bad} are outside the value domain {list(domain)}",
                               fix="validate the annotations first or pass the right domain")
    return np.stack([(ratings == v).sum(axis=0) for v in dom], axis=1).astype(float)


def _distance(level: str, domain: np.ndarray, marginals: np.ndarray) -> np.ndarray:
    """Squared difference function delta^2(c, k) of the level of measurement, (V, V)."""
    c, k = np.meshgrid(domain, domain, indexing="ij")
    if level == "nominal":
        return (c != k).astype(float)
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        s = c + k
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.where(s == 0, 0.0, ((c - k) / np.where(s == 0, 1.0, s)) ** 2)
        return d
    if level == "ordinal":
        # (sum of marginals from rank c to rank k) - (n_c + n_k)/2, squared; depends on the data
        cum = np.concatenate([[0.0], np.cumsum(marginals)])
        i, j = np.meshgrid(np.arange(len(domain)), np.arange(len(domain)), indexing="ij")
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        return (cum[hi + 1] - cum[lo] - (marginals[lo] + marginals[hi]) / 2.0) ** 2
    raise ValueError(f"unknown level of measurement {level!r}; use one of {LEVELS}")


@dataclass(frozen=True)
class AlphaReport:
    """Krippendorff's alpha with what it was computed from. alpha is NaN when undefined
    (fewer than one pairable unit, or no variation among the pairable values)."""

    alpha: float
    level: str
    pairable_units: int
    pairable_values: int

    def defined(self) -> bool:
        return not math.isnan(self.alpha)


def alpha_report(ratings: np.ndarray, level: str = "ordinal",
                 domain: Sequence[float] = SCALE) -> AlphaReport:
    """Krippendorff's alpha of (annotators, units) `ratings` (NaN = missing) on `domain`."""
    if level not in LEVELS:
        raise ValueError(f"unknown level of measurement {level!r}; use one of {LEVELS}")
    counts = value_counts(ratings, domain)
    m_u = counts.sum(axis=1)
    counts = counts[m_u >= 2]
    m_u = m_u[m_u >= 2]
    if len(counts) == 0:
        return AlphaReport(float("nan"), level, 0, 0)
    # coincidence matrix o_ck = sum_u (n_uc n_uk - [c == k] n_uc) / (m_u - 1)
    o = np.einsum("uc,uk,u->ck", counts, counts, 1.0 / (m_u - 1)) - np.diag((counts / (m_u - 1)[:, None]).sum(0))
    n_c = o.sum(axis=1)
    n = float(n_c.sum())
    delta2 = _distance(level, np.asarray(domain, dtype=float), n_c)
    expected = (np.outer(n_c, n_c) - np.diag(n_c)) / (n - 1.0)
    d_e = float((expected * delta2).sum())
    if d_e == 0.0:
        return AlphaReport(float("nan"), level, len(counts), int(round(n)))
    d_o = float((o * delta2).sum())
    return AlphaReport(1.0 - d_o / d_e, level, len(counts), int(round(n)))


def krippendorff_alpha(ratings: np.ndarray, level: str = "ordinal", domain: Sequence[float] = SCALE) -> float:
    """Krippendorff's alpha of (annotators, units) `ratings`, NaN for missing; NaN when undefined."""
    return alpha_report(ratings, level, domain).alpha


# --------------------------------------------------------------------------------------------
# tables


def rating_matrix(ratings: Iterable[Rating], dimension: str) -> tuple[np.ndarray, list[str], list[str]]:
    """Records of one dimension -> ((annotators, tasks) float with NaN, annotators, tasks), sorted ids."""
    rows = [r for r in ratings if r.dimension == dimension]
    annotators = sorted({r.annotator for r in rows})
    tasks = sorted({r.task for r in rows})
    a_idx = {a: i for i, a in enumerate(annotators)}
    t_idx = {t: i for i, t in enumerate(tasks)}
    mat = np.full((len(annotators), len(tasks)), np.nan)
    for r in rows:
        mat[a_idx[r.annotator], t_idx[r.task]] = r.score
    return mat, annotators, tasks


# --------------------------------------------------------------------------------------------
# per pair


@dataclass(frozen=True)
class AcceptPolicy:
    """Thresholds that turn mean scores into a decision (inspector verdicts override it)."""

    min_motion_quality: float = 3.0
    """a pair whose mean motion quality is below this is rejected"""
    min_reaction_plausibility: float = 3.0
    """a pair whose mean reaction plausibility is below this is rejected"""
    min_ratings: int = 1
    """fewer ratings than this (per dimension) leave the pair undecided"""

    def minimum(self, dimension: str) -> float:
        return {"motion_quality": self.min_motion_quality,
                "reaction_plausibility": self.min_reaction_plausibility}.get(dimension, -math.inf)


@dataclass
class ScoreStats:
    mean: float
    count: int
    std: float
    """population standard deviation of the ratings (0 for one rating)"""


@dataclass
class PairResult:
    task: str
    scores: dict[str, ScoreStats]
    decision: str
    """accepted | rejected | undecided"""
    reason: str


def pair_results(ratings: Iterable[Rating], policy: AcceptPolicy = AcceptPolicy(),
                 verdicts: Mapping[str, str] | None = None,
                 dimensions: Sequence[str] = DIMENSIONS) -> dict[str, PairResult]:
    """Mean, count and spread of each score per task, and the decision.

    `verdicts` maps task -> 'accept' | 'reject' from an inspection; it overrides the thresholds.
    """
    by_task: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in ratings:
        by_task[r.task][r.dimension].append(float(r.score))
    verdicts = dict(verdicts or {})
    out: dict[str, PairResult] = {}
    for task in sorted(set(by_task) | set(verdicts)):
        scores = {}
        for dim in dimensions:
            vals = np.asarray(by_task[task].get(dim, []), dtype=float)
            scores[dim] = ScoreStats(float(vals.mean()) if len(vals) else float("nan"), int(len(vals)),
                                     float(vals.std()) if len(vals) else float("nan"))
        verdict = verdicts.get(task)
        if verdict in ("accept", "accepted"):
            decision, reason = "accepted", "inspector accepted"
        elif verdict in ("reject", "rejected"):
            decision, reason = "rejected", "inspector rejected"
        elif any(s.count < policy.min_ratings for s in scores.values()):
            decision, reason = "undecided", f"fewer than {policy.min_ratings} rating(s)"
        else:
            low = [f"{d} {s.mean:.2f} < {policy.minimum(d):g}" for d, s in scores.items()
                   if s.mean < policy.minimum(d)]
            decision, reason = ("rejected", "; ".join(low)) if low else ("accepted", "scores above thresholds")
        out[task] = PairResult(task, scores, decision, reason)
    return out


def largest_disagreements(ratings: Iterable[Rating], top: int = 10,
                          dimensions: Sequence[str] = DIMENSIONS) -> list[tuple[str, float, dict[str, list[float]]]]:
    """Tasks with the largest spread (max - min, summed over dimensions), for the trial report.

    Returns [(task, spread, {dimension: scores})], largest first; only tasks with >= 2 ratings.
    """
    by_task: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in ratings:
        if r.dimension in dimensions:
            by_task[r.task][r.dimension].append(float(r.score))
    rows = []
    for task, dims in by_task.items():
        if max(len(v) for v in dims.values()) < 2:
            continue
        spread = sum(max(v) - min(v) for v in dims.values() if len(v) >= 2)
        rows.append((task, float(spread), {d: sorted(v) for d, v in sorted(dims.items())}))
    rows.sort(key=lambda row: (-row[1], row[0]))
    return rows[:top]


# --------------------------------------------------------------------------------------------
# per annotator


@dataclass
class AnnotatorStats:
    annotator: str
    ratings: int
    bias: dict[str, float]
    """mean of (own score - mean of the others' scores on the same task), per dimension"""
    mean_abs_diff: dict[str, float]
    """mean |own score - mean of the others|, per dimension"""
    alpha_with_others: dict[str, float]
    """ordinal alpha between this annotator and the rounded mean of the others, per dimension"""
    gold_accuracy: float | None = None
    """share of gold-task scores within the gold tolerance; None without gold tasks"""
    gold_ratings: int = 0


def annotator_stats(ratings: Sequence[Rating], gold: Mapping[str, Mapping[str, float]] | None = None,
                    gold_tolerance: float = 0.0, dimensions: Sequence[str] = DIMENSIONS) -> dict[str, AnnotatorStats]:
    """Bias and agreement of each annotator against the others, and accuracy on gold tasks.

    `gold` maps task -> {dimension: expected score}; a score within `gold_tolerance` counts as right.
    """
    gold = dict(gold or {})
    per_dim = {d: rating_matrix(ratings, d) for d in dimensions}
    annotators = sorted({r.annotator for r in ratings})
    out = {}
    for a in annotators:
        bias, mad, agree = {}, {}, {}
        for d, (mat, anns, _tasks) in per_dim.items():
            if a not in anns:
                bias[d] = mad[d] = agree[d] = float("nan")
                continue
            i = anns.index(a)
            own = mat[i]
            others = np.delete(mat, i, axis=0)
            with np.errstate(invalid="ignore"):
                n_others = (~np.isnan(others)).sum(0)
                other_mean = np.where(n_others > 0, np.nansum(others, 0) / np.maximum(n_others, 1), np.nan)
            both = ~np.isnan(own) & ~np.isnan(other_mean)
            diff = own[both] - other_mean[both]
            bias[d] = float(diff.mean()) if both.any() else float("nan")
            mad[d] = float(np.abs(diff).mean()) if both.any() else float("nan")
            pair = np.vstack([own, np.floor(other_mean + 0.5)])
            pair[:, ~both] = np.nan
            agree[d] = krippendorff_alpha(pair, "ordinal", SCALE) if both.any() else float("nan")
        own_ratings = [r for r in ratings if r.annotator == a]
        hits = [abs(r.score - gold[r.task][r.dimension]) <= gold_tolerance for r in own_ratings
                if r.task in gold and r.dimension in gold[r.task]]
        out[a] = AnnotatorStats(a, len({r.task for r in own_ratings}), bias, mad, agree,
                                float(np.mean(hits)) if hits else None, len(hits))
    return out


# --------------------------------------------------------------------------------------------
# round summary and plots


@dataclass
class RoundSummary:
    """What the data card quotes about a rating round."""

    annotators: int
    rated_tasks: int
    ratings: int
    """number of submitted annotations (one annotation holds every dimension)"""
    mean: dict[str, float]
    std: dict[str, float]
    alpha_ordinal: dict[str, float]
    alpha_interval: dict[str, float]
    pairable_tasks: dict[str, int]
    decisions: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def round_summary(ratings: Sequence[Rating], results: Mapping[str, PairResult] | None = None,
                  dimensions: Sequence[str] = DIMENSIONS) -> RoundSummary:
    """Mean motion quality / reaction plausibility, counts, and alpha per dimension."""
    mean, std, a_ord, a_int, pairable = {}, {}, {}, {}, {}
    for d in dimensions:
        vals = np.asarray([r.score for r in ratings if r.dimension == d], dtype=float)
        mean[d] = float(vals.mean()) if len(vals) else float("nan")
        std[d] = float(vals.std()) if len(vals) else float("nan")
        mat, _, _ = rating_matrix(ratings, d)
        rep = alpha_report(mat, "ordinal") if mat.size else AlphaReport(float("nan"), "ordinal", 0, 0)
        a_ord[d], pairable[d] = rep.alpha, rep.pairable_units
        a_int[d] = krippendorff_alpha(mat, "interval") if mat.size else float("nan")
    decisions: dict[str, int] = defaultdict(int)
    for res in (results or {}).values():
        decisions[res.decision] += 1
    return RoundSummary(len({r.annotator for r in ratings}), len({r.task for r in ratings}),
                        len({(r.task, r.annotator) for r in ratings}), mean, std, a_ord, a_int, pairable,
                        dict(decisions))


def plot_histograms(ratings: Sequence[Rating], path: str | Path, title: str = "",
                    dimensions: Sequence[str] = DIMENSIONS) -> Path:
    """One bar chart of the score counts per dimension, written atomically as PNG."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vimo.atomic import write_bytes

    fig, axes = plt.subplots(1, len(dimensions), figsize=(4 * len(dimensions), 3), squeeze=False)
    for ax, d in zip(axes[0], dimensions):
        vals = [r.score for r in ratings if r.dimension == d]
        counts = [sum(1 for v in vals if v == s) for s in SCALE]
        ax.bar(SCALE, counts, color="#4c72b0")
        mean = f"mean {np.mean(vals):.2f}, n={len(vals)}" if vals else "no ratings"
        ax.set_title(f"{d.replace('_', ' ')}\n{mean}", fontsize=9)
        ax.set_xticks(SCALE)
        ax.set_xlabel("score")
        ax.set_ylabel("ratings")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return write_bytes(path, buf.getvalue())

"""Agreement maths against a direct pairwise computation, published values, and simulated raters."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from vimo.annotation.agreement import (AcceptPolicy, Rating, alpha_report, annotator_stats, krippendorff_alpha,
                                       largest_disagreements, pair_results, plot_histograms, rating_matrix,
                                       round_summary)
from vimo.annotation.simulated import SimulatedAnnotator
from vimo.errors import InputFormatError

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", 4 coders x 12 units
K2011 = np.array([[1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
                  [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
                  [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
                  [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN]])


def direct_alpha(table: np.ndarray, level: str) -> float:
    """Alpha by enumerating value pairs: within units for D_o, across all pairable values for D_e."""
    units = [[v for v in table[:, u] if not math.isnan(v)] for u in range(table.shape[1])]
    units = [vals for vals in units if len(vals) >= 2]
    values = [v for vals in units for v in vals]
    n = len(values)
    marg = {v: values.count(v) for v in set(values)}

    def d2(c, k):
        if level == "nominal":
            return float(c != k)
        if level == "interval":
            return (c - k) ** 2
        if level == "ratio":
            return 0.0 if c + k == 0 else ((c - k) / (c + k)) ** 2
        lo, hi = min(c, k), max(c, k)
        return (sum(m for g, m in marg.items() if lo <= g <= hi) - (marg[c] + marg[k]) / 2) ** 2

    d_o = sum(d2(a, b) / (len(vals) - 1) for vals in units for a, b in itertools.permutations(vals, 2)) / n
    d_e = sum(d2(a, b) for a, b in itertools.permutations(values, 2)) / (n * (n - 1))
    return 1 - d_o / d_e


@pytest.mark.parametrize("level,published", [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849),
                                             ("ratio", 0.797)])
def test_alpha_matches_published_example(level, published):
    assert krippendorff_alpha(K2011, level) == pytest.approx(published, abs=5e-4)
    assert krippendorff_alpha(K2011, level) == pytest.approx(direct_alpha(K2011, level), abs=1e-12)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_alpha_matches_direct_computation_on_random_tables(level):
    rng = np.random.default_rng(11)
    for _ in range(25):
        a, u = rng.integers(2, 5), rng.integers(3, 9)
        table = rng.integers(1, 6, size=(a, u)).astype(float)
        table[rng.random(table.shape) < 0.2] = NAN
        rep = alpha_report(table, level)
        if rep.pairable_units == 0 or len({v for v in table.ravel() if not math.isnan(v)}) < 2:
            continue
        expected = direct_alpha(table, level)
        if math.isnan(rep.alpha):
            assert not np.isfinite(expected)
        else:
            assert rep.alpha == pytest.approx(expected, abs=1e-10)


def test_alpha_edge_cases():
    assert math.isnan(krippendorff_alpha(np.full((3, 4), 4.0)))  # no variation: undefined
    rep = alpha_report(np.array([[1, NAN], [NAN, 2]]))  # no unit has two ratings
    assert math.isnan(rep.alpha) and rep.pairable_units == 0
    assert krippendorff_alpha(np.array([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5]], float)) == pytest.approx(1.0)
    with pytest.raises(InputFormatError, match="outside the value domain"):
        krippendorff_alpha(np.array([[1, 9], [1, 2]], float))
    with pytest.raises(InputFormatError, match="annotators, units"):
        krippendorff_alpha(np.array([1, 2, 3], float))


def _simulated_ratings(n_tasks=40, seed=0):
    rng = np.random.default_rng(seed)
    truth = {f"t{i:02d}": {"motion_quality": float(rng.integers(1, 6)),
                           "reaction_plausibility": float(rng.integers(1, 6))} for i in range(n_tasks)}
    sims = [SimulatedAnnotator("a", noise=0.3, seed=1), SimulatedAnnotator("b", noise=0.3, seed=2),
            SimulatedAnnotator("biased", noise=0.3, bias=-1.5, seed=3)]
    ratings = []
    for s in sims:
        for t, tr in truth.items():
            for region in s.rating_result(tr):
                ratings.append(Rating(t, s.name, region["from_name"], float(region["value"]["rating"])))
    return truth, ratings


def test_annotator_stats_find_the_biased_simulated_annotator_and_gold_accuracy():
    truth, ratings = _simulated_ratings()
    gold = {t: truth[t] for t in list(truth)[:10]}
    stats = annotator_stats(ratings, gold, gold_tolerance=0.0)
    assert stats["simulated-biased"].bias["motion_quality"] < -0.7
    assert abs(stats["simulated-a"].bias["motion_quality"]) < 0.6
    assert stats["simulated-a"].gold_ratings == 20
    assert stats["simulated-a"].gold_accuracy > stats["simulated-biased"].gold_accuracy
    assert stats["simulated-a"].alpha_with_others["motion_quality"] > 0.5


def test_pair_results_thresholds_counts_and_inspector_override():
    ratings = [Rating("p1", "x", "motion_quality", 4), Rating("p1", "y", "motion_quality", 5),
               Rating("p1", "x", "reaction_plausibility", 4), Rating("p1", "y", "reaction_plausibility", 2),
               Rating("p2", "x", "motion_quality", 2), Rating("p2", "x", "reaction_plausibility", 5),
               Rating("p3", "x", "motion_quality", 5), Rating("p3", "x", "reaction_plausibility", 5)]
    res = pair_results(ratings, AcceptPolicy(3.0, 3.0, 1), verdicts={"p3": "reject"})
    assert res["p1"].scores["motion_quality"].mean == 4.5 and res["p1"].scores["motion_quality"].count == 2
    assert res["p1"].scores["reaction_plausibility"].std == pytest.approx(1.0)
    assert res["p1"].decision == "accepted"
    assert res["p2"].decision == "rejected" and "motion_quality" in res["p2"].reason
    assert res["p3"].decision == "rejected" and res["p3"].reason == "inspector rejected"
    assert pair_results(ratings, AcceptPolicy(min_ratings=2))["p2"].decision == "undecided"
    assert pair_results(ratings, verdicts={"p2": "accept"})["p2"].decision == "accepted"


def test_summary_disagreements_and_histograms(tmp_path):
    truth, ratings = _simulated_ratings(n_tasks=12)
    summary = round_summary(ratings)
    mat, annotators, tasks = rating_matrix(ratings, "reaction_plausibility")
    assert summary.annotators == 3 and summary.rated_tasks == 12 and summary.ratings == 36
    assert summary.mean["motion_quality"] == pytest.approx(
        np.mean([r.score for r in ratings if r.dimension == "motion_quality"]))
    assert summary.alpha_ordinal["reaction_plausibility"] == pytest.approx(krippendorff_alpha(mat, "ordinal"))
    assert summary.pairable_tasks["motion_quality"] == 12
    top = largest_disagreements(ratings, top=3)
    spreads = [s for _, s, _ in top]
    assert spreads == sorted(spreads, reverse=True) and len(top) == 3
    png = plot_histograms(ratings, tmp_path / "h.png", title="sim")
    assert png.read_bytes()[:4] == b"\x89PNG"

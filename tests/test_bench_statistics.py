"""Bootstrap statistics: CI-inversion p-values, BH-FDR, replicate ranges and resampling (the
steps that write and merge chunks: tests/steps/test_bench_bootstrap*.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cellspace.bench import bootstrap as bs


def _brute_pvalue(d: np.ndarray) -> float:
    B = d.size
    alphas = np.linspace(1 / B, 1, 100_001)
    lo = np.quantile(d, alphas / 2)
    hi = np.quantile(d, 1 - alphas / 2)
    ex = (lo > 0) | (hi < 0)
    return float(alphas[ex][0]) if ex.any() else 1.0


def test_pvalue_is_one_over_b_when_every_difference_is_positive_or_negative():
    assert bs.ci_inversion_pvalue(np.linspace(0.1, 1, 200)) == pytest.approx(1 / 200)
    assert bs.ci_inversion_pvalue(-np.ones(50)) == pytest.approx(1 / 50)


def test_pvalue_is_one_for_a_distribution_centred_on_zero():
    assert bs.ci_inversion_pvalue(np.linspace(-1, 1, 101)) == pytest.approx(1.0)


def test_pvalue_hand_computed_for_ten_of_hundred_below_zero():
    d = np.arange(1, 101) - 10.5  # 10 values below 0
    # q(p) crosses 0 at position 9.5 of 99 -> alpha = 2 * 9.5 / 99
    assert bs.ci_inversion_pvalue(d) == pytest.approx(2 * 9.5 / 99)
    assert bs.ci_inversion_pvalue(-d) == pytest.approx(2 * 9.5 / 99)


def test_pvalue_equals_brute_force_search_over_alpha():
    rng = np.random.default_rng(0)
    for _ in range(15):
        d = rng.normal(rng.normal(0, 0.8), 1, int(rng.integers(5, 80)))
        assert bs.ci_inversion_pvalue(d) == pytest.approx(_brute_pvalue(d), abs=2e-4)


def test_percentile_ci_uses_alpha_over_two_quantiles():
    lo, hi = bs.percentile_ci(np.arange(101, dtype=float), 0.1)
    assert (lo, hi) == pytest.approx((5.0, 95.0))


def _scores(diffs: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = []
    for m, v in diffs.items():
        for r, x in enumerate(v):
            rows.append({"replicate": r, "method": m, **{s: x for s in bs.ALL_SCORES}})
    return pd.DataFrame(rows)


def test_pairwise_tests_bh_adjust_constructed_distributions():
    B = 100
    base = np.zeros(B)
    sc = _scores({
        "A": base + 1.0,                      # always better than B and C
        "B": base,
        "C": np.where(np.arange(B) < 10, 0.5, -0.5) + (np.arange(B) - 50) * 1e-6,
    })
    pw = bs.pairwise_tests(sc, score_names=("overall_score",))
    p = dict(zip(zip(pw.method_a, pw.method_b, strict=True), pw.p_value, strict=True))
    assert p[("A", "B")] == pytest.approx(1 / B)
    assert p[("A", "C")] == pytest.approx(1 / B)
    pbc = p[("B", "C")]
    assert 0.15 < pbc < 0.25  # 10% of B - C below zero -> about 0.2
    # BH by hand: sorted p = (0.01, 0.01, pbc): adj = min(p_(i) * 3 / i, later)
    adj = dict(zip(zip(pw.method_a, pw.method_b, strict=True), pw.p_adj, strict=True))
    assert adj[("A", "B")] == pytest.approx(0.015)
    assert adj[("A", "C")] == pytest.approx(0.015)
    assert adj[("B", "C")] == pytest.approx(pbc)


def test_replicate_ranges_partition_all_replicates():
    parts = [bs.replicate_range(10, i, 3) for i in range(3)]
    assert [r for p in parts for r in p] == list(range(10))
    assert bs.replicate_range(10, spec="4:7") == range(4, 7)
    with pytest.raises(bs.ParameterError):
        bs.replicate_range(10, spec="8:12")


def test_replicate_indices_depend_only_on_seed_and_replicate():
    a = bs.replicate_indices(50, 7, 3)
    assert np.array_equal(a, bs.replicate_indices(50, 7, 3))
    assert not np.array_equal(a, bs.replicate_indices(50, 7, 4))
    assert a.min() >= 0 and a.max() < 50 and a.size == 50


def test_half_sampling_draws_half_of_the_cells_without_duplicates():
    a = bs.replicate_indices(101, 2, 5, "half")
    assert a.size == 50 and np.unique(a).size == 50 and a.max() < 101
    assert np.array_equal(a, bs.replicate_indices(101, 2, 5, "half"))
    with pytest.raises(bs.ParameterError, match="resampling must be one of"):
        bs.replicate_indices(10, 0, 0, "jackknife")


def test_half_sampling_intervals_are_centred_on_the_observed_score():
    rng = np.random.default_rng(1)
    reps = 0.30 + rng.normal(0, 0.01, 400)  # replicates biased by -0.2 against the observed 0.5
    sc = _scores({"A": reps, "B": reps - 0.05 + rng.normal(0, 0.001, 400)})
    obs = pd.DataFrame([{"replicate": -1, "method": m, **{s: v for s in bs.ALL_SCORES}}
                        for m, v in (("A", 0.5), ("B", 0.5))])
    half = bs.summarize(sc, obs, resampling="half").query("method == 'A' and score == 'ari'").iloc[0]
    assert half["bias"] == pytest.approx(-0.2, abs=0.003)
    assert half["ci_low"] < 0.5 < half["ci_high"]
    assert half["ci_high"] - half["ci_low"] == pytest.approx(4 * 0.01, rel=0.15)
    raw = bs.summarize(sc, obs, resampling="replacement").query("method == 'A' and score == 'ari'").iloc[0]
    assert raw["ci_high"] < 0.5  # the raw percentile interval misses the observed score
    # the observed difference is 0 while every replicate difference is about +0.05: the centred
    # test finds no difference, the raw one a significant one
    pw = bs.pairwise_tests(sc, obs, score_names=("ari",), resampling="half").iloc[0]
    assert pw["ci_low"] < 0 < pw["ci_high"] and pw["p_value"] > 0.5
    pw_raw = bs.pairwise_tests(sc, obs, score_names=("ari",), resampling="replacement").iloc[0]
    assert pw_raw["p_value"] == pytest.approx(1 / 400)


def test_half_sampling_interval_contains_the_observed_score_on_a_simulation():
    from cellspace.bench.methods import run_method
    from cellspace.bench.toydata import dataset_to_anndata
    from cellspace.simulate.core import small_simulation

    adata = dataset_to_anndata(small_simulation(0, density=0.015).datasets[0])
    X = run_method(adata, "lsi").embedding
    lab = adata.obs["cell_type"].astype(str).to_numpy()
    bat = adata.obs["donor"].astype(str).to_numpy()
    st = bs.BootstrapSettings(n_replicates=12, seed=0)
    assert st.resampling == "half"
    scores, _, observed = bs.bootstrap_scores({"lsi": X}, lab, bat, settings=st)
    summ = bs.summarize(scores, observed).set_index("score")
    for s in ("asw_label", "nmi", "ari", "asw_batch", "kbet", "overall_score"):
        lo, hi, ob = summ.loc[s, ["ci_low", "ci_high", "observed"]]
        assert lo <= ob <= hi, s
        assert hi > lo, s  # replicates vary: the interval is not a point

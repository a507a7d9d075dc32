"""gdacot.stats against scipy.stats, the reference it is built on (issue 34: scipy is declared)."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from gdacot.stats import seed_interval, t_interval, wilson_interval


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (160, 200), (200, 200), (1, 1)])
def test_wilson_interval_is_scipys_within_its_quantile(k, n):
  """The closed form at z = 1.96 against scipy's Wilson interval (exact quantile): the same to 1e-4."""
  ci = sps.binomtest(k, n).proportion_ci(0.95, method="wilson")
  lo, hi = wilson_interval(k, n)
  assert abs(lo - ci.low) < 1e-4 and abs(hi - ci.high) < 1e-4
  assert wilson_interval(0, 0) == (0.0, 1.0)


def test_t_interval_is_the_students_t_interval():
  values = [0.62, 0.71, 0.55, 0.80]
  mean, lo, hi = t_interval(values)
  sd = np.std(values, ddof=1)
  half = sps.t.ppf(0.975, len(values) - 1) * sd / math.sqrt(len(values))
  assert mean == pytest.approx(np.mean(values)) and (lo, hi) == pytest.approx((mean - half, mean + half), abs=1e-12)
  ref = sps.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=sps.sem(values))
  assert (lo, hi) == pytest.approx(ref, abs=1e-12)  # scipy's own interval, to rounding
  assert t_interval([0.5]) == (0.5, None, None)
  assert t_interval([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)  # no spread: the point, not nan
  m, lo, hi = seed_interval([0.9, 1.0, 1.0])
  assert 0.0 <= lo < m < hi == 1.0  # clipped to [0, 1]


def test_mean_p_value_is_the_paired_t_tests():
  from gdacot.stats import mean_p_value
  a, b = [0.7, 0.8, 0.65, 0.9, 0.75], [0.6, 0.82, 0.5, 0.7, 0.74]
  assert mean_p_value([x - y for x, y in zip(a, b)]) == pytest.approx(sps.ttest_rel(a, b).pvalue, rel=1e-12)
  assert mean_p_value([0.1]) is None and mean_p_value([0.02, 0.02, 0.02]) is None  # no spread: no test


@pytest.mark.parametrize("p", [[0.01, 0.04, 0.03, 0.005], [0.2, 0.001, 0.5, 0.049, 0.012, 0.3], [0.04, 0.04], [0.9]])
def test_holm_is_statsmodels(p):
  """Adjusted p-values and reject flags as statsmodels' multipletests(method="holm")."""
  from statsmodels.stats.multitest import multipletests
  from gdacot.stats import holm
  reject, adjusted, _, _ = multipletests(p, alpha=0.05, method="holm")
  out = holm(p)
  assert out["p_adjusted"] == pytest.approx(list(adjusted), abs=1e-12)
  assert out["reject"] == list(reject) and out["m"] == len(p)


def test_holm_steps_down_and_counts_an_untestable_member():
  from gdacot.stats import holm
  # 0.01 * 3 = 0.03 rejects; then 0.02 * 2 = 0.04 rejects; then 0.04 * 1 -> 0.04 rejects:
  # Bonferroni (x3) would keep only the first.
  assert holm([0.02, 0.01, 0.04])["reject"] == [True, True, True]
  assert holm([0.02, 0.01, 0.04, None])["reject"] == [False, True, False, False]  # a family of four


def test_cluster_interval_is_statsmodels_cluster_robust_ols():
  """The mean's CR1 cluster-robust interval with t(G - 1), as statsmodels' intercept-only OLS."""
  import statsmodels.api as sm
  from gdacot.stats import cluster_interval
  v = [0.1, 0.2, -0.1, 0.05, 0.3, 0.0, 0.1, -0.2, 0.15, 0.05, 0.12]
  g = ["a", "a", "a", "b", "b", "b", "c", "c", "d", "d", "d"]
  fit = sm.OLS(np.asarray(v), np.ones(len(v))).fit(cov_type="cluster", cov_kwds={"groups": np.unique(g, return_inverse=True)[1]}, use_t=True)
  out = cluster_interval(v, g)
  assert out["mean"] == pytest.approx(fit.params[0]) and out["se"] == pytest.approx(fit.bse[0], rel=1e-10)
  assert out["ci95"] == pytest.approx(list(fit.conf_int()[0]), rel=1e-10) and out["clusters"] == 4
  assert out["p_value"] == pytest.approx(fit.pvalues[0], rel=1e-8)
  assert cluster_interval([0.1, 0.1, 0.1, 0.1], ["a", "a", "b", "b"])["p_value"] is None  # no spread: no test


def test_cluster_interval_of_singletons_is_the_t_interval_and_clusters_widen_it():
  from gdacot.stats import cluster_interval, clustered_difference
  v = [0.1, 0.3, 0.2, -0.05, 0.0, 0.05]
  _, lo, hi = t_interval(v)
  assert cluster_interval(v, range(6))["ci95"] == pytest.approx([lo, hi], abs=1e-12)
  # Two demo draws of three seeds each, their means apart: one degree of freedom, a much wider interval.
  two = cluster_interval(v, [0, 0, 0, 1, 1, 1])
  assert two["clusters"] == 2 and two["ci95"][1] - two["ci95"][0] > 2 * (hi - lo)
  assert cluster_interval(v, [0] * 6)["ci95"] is None
  d = clustered_difference({0: 0.7, 1: 0.8, 5: 0.6, 6: 0.9}, {0: 0.6, 1: 0.7, 5: 0.6, 6: 0.7, 7: 0.5}, {0: 0, 1: 0, 5: 5, 6: 5})
  assert d["seeds"] == [0, 1, 5, 6] and d["per_seed_diff"] == pytest.approx([0.1, 0.1, 0.0, 0.2]) and d["clusters"] == 2


def test_spearman_is_scipys_and_sees_ranks():
  from gdacot.stats import spearman
  x, y = [1.0, 2.0, 3.0, 4.0, 50.0], [0.2, 0.1, 0.4, 0.3, 5.0]
  ref = sps.spearmanr(x, y)
  out = spearman(x, y)
  assert out["rho"] == pytest.approx(ref.statistic) and out["p_value"] == pytest.approx(ref.pvalue)
  assert spearman(x, [v ** 3 for v in x])["rho"] == pytest.approx(1.0)  # monotone: rank correlation 1
  assert spearman([1, 2], [3, 4])["rho"] is None and spearman(x, [1.0] * 5)["rho"] is None

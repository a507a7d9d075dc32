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

"""Intervals over seeds: the one t-interval every table and experiment reports."""

from __future__ import annotations

import math


def t_interval(values) -> tuple[float, float | None, float | None]:
  """Mean and its two-sided 95% Student t-interval; None bounds for a single value."""
  from scipy import stats  # pylint: disable=g-import-not-at-top
  values = [float(v) for v in values]
  n = len(values)
  mean = sum(values) / n
  if n < 2:
    return mean, None, None
  sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
  half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
  return mean, mean - half, mean + half

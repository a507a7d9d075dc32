"""The intervals and comparisons behind every reported number, in one place.

  wilson_interval(successes, n)     95% Wilson score interval of one success rate (eval.json's ci95)
  t_interval(values)                mean and its 95% Student t-interval (over seeds)
  seed_interval(rates)              the same for success rates, clipped to [0, 1]
  aggregate_over_seeds(entries)     eval result entries of several seeds -> one row per
                                    (method, domain, region): t-interval over seeds, pooled Wilson
  mean_interval(values)             {"mean", "ci95", "per_seed"} of a per-seed metric
  paired_difference(a, b)           a - b seed by seed: mean, t-interval and a verdict
  mean_p_value(values)              two-sided one-sample t-test of mean 0 (a paired test on differences)
  holm(p_values)                    Holm's step-down over a family: adjusted p-values, reject flags
  cluster_interval(values, groups)  mean and its cluster-robust 95% t-interval (seeds sharing a demo
                                    draw are one cluster)
  clustered_difference(a, b, draw)  a - b seed by seed, the interval clustered by demo draw
  pearson(xs, ys)                   correlation with its p-value and Fisher interval
  spearman(xs, ys)                  rank correlation with its p-value (an outlier-robust check of r)
  seeds_to_detect(sd, delta)        seeds a paired comparison needs to detect a difference
"""

from __future__ import annotations

import math
from collections.abc import Mapping


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
  """Wilson score interval for a binomial proportion (95% for z = 1.96).

  Written out rather than scipy's `binomtest(k, n).proportion_ci(method="wilson")`: scipy uses
  the exact normal quantile (1.95996...), which moves the bounds in the 5th decimal, and every
  checked-in eval.json's ci95 was computed with z = 1.96. tests/test_stats.py holds the two
  within 1e-4 of each other."""
  if n == 0:
    return (0.0, 1.0)
  p = successes / n
  denom = 1 + z * z / n
  centre = (p + z * z / (2 * n)) / denom
  half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
  return (max(0.0, centre - half), min(1.0, centre + half))


def t_interval(values) -> tuple[float, float | None, float | None]:
  """Mean and its two-sided 95% Student t-interval; None bounds for a single value."""
  from scipy import stats  # pylint: disable=g-import-not-at-top
  values = [float(v) for v in values]
  n = len(values)
  mean = sum(values) / n
  if n < 2:
    return mean, None, None
  sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
  # scipy's quantile, the interval written out: `stats.t.interval` gives the same bounds up to
  # the last bit, which would move the checked-in tables' claims (compared exactly in tests).
  half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
  return mean, mean - half, mean + half


def seed_interval(rates: list[float]) -> tuple[float, float, float]:
  """Mean success over seeds and its 95% t-interval clipped to [0, 1]; nan bounds for one seed."""
  mean, lo, hi = t_interval(rates)
  if lo is None:
    return mean, float("nan"), float("nan")
  return mean, max(0.0, lo), min(1.0, hi)


def aggregate_over_seeds(entries: list[dict]) -> list[dict]:
  """Result entries of several seeds -> per (method, domain, region): the mean success over
  seeds with its 95% t-interval, and the pooled Wilson interval over all episodes."""
  groups: dict[tuple, list[dict]] = {}
  for e in entries:
    groups.setdefault((e["method"], e["domain"], e["region"]), []).append(e)
  rows = []
  for (method, domain, region), es in groups.items():
    mean, lo, hi = seed_interval([e["success_rate"] for e in es])
    successes, episodes = sum(e["successes"] for e in es), sum(e["episodes"] for e in es)
    rows.append({"method": method, "domain": domain, "region": region, "seeds": sorted(e["seed"] for e in es),
                 "mean": mean, "seed_ci95": [lo, hi], "pooled_successes": successes,
                 "pooled_episodes": episodes, "pooled_wilson95": list(wilson_interval(successes, episodes))})
  return rows


def mean_interval(values) -> dict:
  """A per-seed metric's mean with its 95% t-interval (None for one seed) and the values."""
  mean, lo, hi = t_interval(values)
  return {"mean": mean, "ci95": None if lo is None else [lo, hi], "per_seed": [float(v) for v in values]}


def all_equal(values) -> bool:
  """Several values, all the same: their t-interval has zero width, which is no evidence."""
  return len(values) > 1 and max(values) == min(values)


def paired_difference(a: Mapping[int, float], b: Mapping[int, float]) -> dict:
  """a - b on the seeds both have ({seed: value} each). Runs of one seed share their
  initialisation key and evaluation episodes, so pairing removes that common noise. Returns the
  mean difference, its 95% t-interval over seeds (None for one seed), the seeds, the per-seed
  differences and a verdict in words."""
  seeds = sorted(set(a) & set(b))
  if not seeds:
    raise ValueError(f"no seed in common: {sorted(a)} and {sorted(b)}")
  diffs = [a[s] - b[s] for s in seeds]
  mean, lo, hi = t_interval(diffs)
  ci = None if lo is None else [lo, hi]
  return {"mean_diff": mean, "ci95": ci, "seeds": seeds, "per_seed_diff": diffs, "verdict": _verdict(ci, diffs)}


def _verdict(ci, diffs) -> str:
  if ci is None:
    return "one seed: no interval"
  if all_equal(diffs):  # a zero-width interval from a few discrete rates is no evidence
    return "the same difference on every seed: no spread to judge it by"
  return "higher" if ci[0] > 0 else "lower" if ci[1] < 0 else "no clear difference (interval contains 0)"


def mean_p_value(values) -> float | None:
  """Two-sided p-value of a one-sample t-test of mean 0 (on per-seed differences: the paired
  t-test that paired_difference's interval inverts). None for one value or no spread, whose
  t-statistic is undefined or infinite: no evidence either way (as _verdict says)."""
  from scipy import stats  # pylint: disable=g-import-not-at-top
  values = [float(v) for v in values]
  if len(values) < 2 or all_equal(values):
    return None
  return float(stats.ttest_1samp(values, 0.0).pvalue)


def holm(p_values, alpha: float = 0.05) -> dict:
  """Holm's step-down correction of a family of tests (controls the family-wise error rate).

  The k-th smallest of m p-values is multiplied by (m - k + 1), the products made monotone in
  the sorted order and capped at 1; a test is rejected when its adjusted p-value is <= alpha.
  A None p-value (an untestable comparison, mean_p_value's) counts as a member of the family
  with p = 1, so leaving it out cannot make the correction milder. Returns the adjusted
  p-values and reject flags in the input order, the family size and alpha."""
  ps = [1.0 if p is None else float(p) for p in p_values]
  m = len(ps)
  adjusted = [0.0] * m
  running = 0.0
  for rank, i in enumerate(sorted(range(m), key=lambda i: ps[i])):
    running = max(running, min(1.0, (m - rank) * ps[i]))
    adjusted[i] = running
  return {"p_adjusted": adjusted, "reject": [p <= alpha for p in adjusted], "m": m, "alpha": alpha}


def cluster_interval(values, groups) -> dict:
  """Mean of `values` and its 95% interval with a cluster-robust standard error: values that
  share a group (seeds trained on one demo draw) are not independent.

  The standard method (Cameron and Miller 2015, "A practitioner's guide to cluster-robust
  inference"): the CR1 sandwich variance of the mean, G/(G-1) * sum_g (sum_{i in g} (v_i - mean))^2
  / N^2, with Student t on G - 1 degrees of freedom (G clusters). With one value per cluster it
  is the ordinary t-interval; with G = 2 draws it has 1 degree of freedom, which is the honest
  width of what two draws can say. statsmodels' OLS(values, 1).fit(cov_type="cluster") gives
  the same (tests/test_stats.py), and its two-sided p-value of mean 0 (`p_value`: t = mean / se
  on G - 1 degrees of freedom; None without spread)."""
  from scipy import stats  # pylint: disable=g-import-not-at-top
  values, groups = [float(v) for v in values], list(groups)
  if len(values) != len(groups):
    raise ValueError(f"{len(values)} values but {len(groups)} group labels")
  n, clusters = len(values), sorted(set(groups), key=str)
  mean = sum(values) / n
  out = {"mean": mean, "ci95": None, "se": None, "p_value": None, "clusters": len(clusters), "n": n}
  if len(clusters) < 2:
    return dict(out, note="needs at least 2 clusters")
  g = len(clusters)
  scores = [sum(v - mean for v, k in zip(values, groups) if k == c) for c in clusters]
  se = math.sqrt(g / (g - 1) * sum(s * s for s in scores) / (n * n))
  half = float(stats.t.ppf(0.975, g - 1)) * se
  p_value = float(2 * stats.t.sf(abs(mean) / se, g - 1)) if se > 0 else None
  return dict(out, ci95=[mean - half, mean + half], se=se, p_value=p_value)


def clustered_difference(a: Mapping[int, float], b: Mapping[int, float], draw: Mapping[int, object]) -> dict:
  """a - b on the seeds both have, as paired_difference, with the interval clustered by demo
  draw (`draw`: seed -> the draw it trained on; method_table cells draw their demos from their
  first seed, so a table run in parts has one draw per part). Returns cluster_interval's record
  with the seeds and per-seed differences."""
  seeds = sorted(set(a) & set(b))
  if not seeds:
    raise ValueError(f"no seed in common: {sorted(a)} and {sorted(b)}")
  diffs = [a[s] - b[s] for s in seeds]
  return {**cluster_interval(diffs, [draw[s] for s in seeds]), "seeds": seeds, "per_seed_diff": diffs}


def pearson(xs, ys) -> dict:
  """Pearson correlation with its p-value and 95% (Fisher) interval; r None when undefined."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from scipy import stats  # pylint: disable=g-import-not-at-top
  x, y = np.asarray(xs, float), np.asarray(ys, float)
  out = {"n": int(len(x)), "r": None, "p_value": None, "ci95": None}
  if len(x) < 3:
    return dict(out, note="needs at least 3 points")
  if np.ptp(x) == 0 or np.ptp(y) == 0:
    return dict(out, note="one of the two is constant")
  res = stats.pearsonr(x, y)
  out.update(r=float(res.statistic), p_value=float(res.pvalue))
  if len(x) > 3:
    out["ci95"] = [float(v) for v in res.confidence_interval(0.95)]
  return out


def spearman(xs, ys) -> dict:
  """Spearman rank correlation with its two-sided p-value (scipy's); rho None when undefined.
  Ranks make it robust to a few extreme points carrying a Pearson r."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from scipy import stats  # pylint: disable=g-import-not-at-top
  x, y = np.asarray(xs, float), np.asarray(ys, float)
  out = {"n": int(len(x)), "rho": None, "p_value": None}
  if len(x) < 3:
    return dict(out, note="needs at least 3 points")
  if np.ptp(x) == 0 or np.ptp(y) == 0:
    return dict(out, note="one of the two is constant")
  res = stats.spearmanr(x, y)
  return dict(out, rho=float(res.statistic), p_value=float(res.pvalue))


def seeds_to_detect(sd: float, delta: float, alpha: float = 0.05, power: float = 0.8, most: int = 1000) -> int | None:
  """The fewest seeds n at which a two-sided paired t-test at level `alpha` detects a true mean
  difference `delta` with probability `power`, when per-seed differences spread with standard
  deviation `sd`: the smallest n >= 2 with t(1 - alpha/2, n-1) + t(power, n-1) <= delta sqrt(n) / sd
  (the usual approximation to the noncentral t). None when even `most` seeds are not enough."""
  from scipy import stats  # pylint: disable=g-import-not-at-top
  if not delta > 0 or sd < 0:
    raise ValueError(f"need delta > 0 and sd >= 0, got delta={delta}, sd={sd}")
  for n in range(2, most + 1):
    if sd == 0 or stats.t.ppf(1 - alpha / 2, n - 1) + stats.t.ppf(power, n - 1) <= delta * math.sqrt(n) / sd:
      return n
  return None

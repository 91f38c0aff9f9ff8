"""Statistics that say what they know: a mean with its t-interval, effects with intervals adjusted for the
number of comparisons (Bonferroni), and ranks only where intervals do not overlap.

Pure functions of numbers (scipy for the t quantiles): the report and the tests call them alike."""

from __future__ import annotations

import math
from dataclasses import dataclass

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float | None  # None: one value, so no interval
    high: float | None
    n: int

    @property
    def known(self) -> bool:
        return self.low is not None

    def overlaps(self, other: Interval) -> bool:
        """Unknown intervals overlap everything: with one seed, no order is known."""
        if not (self.known and other.known):
            return True
        return self.low <= other.high and other.low <= self.high

    def contains_zero(self) -> bool:
        return not self.known or self.low <= 0 <= self.high


def _t(df: float, confidence: float) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + confidence / 2, df))


def mean_interval(values: list[float], confidence: float = CONFIDENCE) -> Interval:
    """The mean and its two-sided t-interval over independent values (seeds)."""
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = sum(values) / n
    if n == 1:
        return Interval(mean, None, None, 1)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = _t(n - 1, confidence) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


@dataclass(frozen=True)
class Effect:
    factor: str
    from_level: object
    to_level: object
    delta: float  # mean(to) - mean(from), averaged over the blocks of the other factors
    low: float | None
    high: float | None
    blocks: int  # combinations of the other factors in which both levels were measured
    comparisons: int  # how many effects the report makes: the adjustment's divisor

    @property
    def resolved(self) -> bool:
        return self.low is not None and not (self.low <= 0 <= self.high)


def effect(
    factor: str,
    from_level,
    to_level,
    blocks: list[tuple[list[float], list[float]]],
    comparisons: int = 1,
    confidence: float = CONFIDENCE,
) -> Effect:
    """The difference `to - from`, averaged over blocks (each block: the from-values and the to-values in one
    combination of the other factors), with a Welch interval at a Bonferroni-adjusted level.

    var(delta) = (1/B^2) * sum over blocks of (s_to^2/n_to + s_from^2/n_from); degrees of freedom by
    Welch-Satterthwaite. A block with a single value on either side has no variance estimate, and then the
    interval is unknown."""
    b = len(blocks)
    if b == 0:
        raise ValueError("no block measures both levels")
    deltas, parts = [], []
    known = True
    for before, after in blocks:
        deltas.append(sum(after) / len(after) - sum(before) / len(before))
        for values in (before, after):
            if len(values) < 2:
                known = False
                continue
            mean = sum(values) / len(values)
            var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
            parts.append((var / len(values), len(values) - 1))
    delta = sum(deltas) / b
    if not known:
        return Effect(factor, from_level, to_level, delta, None, None, b, comparisons)
    variance = sum(p for p, _ in parts) / b**2
    if variance == 0:
        return Effect(factor, from_level, to_level, delta, delta, delta, b, comparisons)
    df = (sum(p for p, _ in parts) ** 2) / sum(p**2 / d for p, d in parts)
    adjusted = 1 - (1 - confidence) / max(1, comparisons)  # Bonferroni: each interval at 1 - alpha/m
    half = _t(df, adjusted) * math.sqrt(variance)
    return Effect(factor, from_level, to_level, delta, delta - half, delta + half, b, comparisons)


def tiers(intervals: list[Interval]) -> list[int]:
    """Rank groups, best first: a cell shares the tier of the best cell not yet placed whenever their
    intervals overlap, so two cells whose order is not known never get different ranks by accident of
    their means. Returns each interval's tier (1-based) in the order given."""
    order = sorted(range(len(intervals)), key=lambda i: -intervals[i].mean)
    tier_of: dict[int, int] = {}
    tier = 0
    for i in order:
        if i in tier_of:
            continue
        tier += 1
        tier_of[i] = tier
        for j in order:
            if j not in tier_of and intervals[i].overlaps(intervals[j]):
                tier_of[j] = tier
    return [tier_of[i] for i in range(len(intervals))]

"""The little statistics the planner needs: quantiles and a least-squares line."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def quantile(values: Iterable[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, linearly interpolated; ``NaN`` when there are none."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = min(max(q, 0.0), 1.0) * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    if position == low or ordered[low] == ordered[high]:
        return ordered[low]  # also keeps inf - inf out
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Line:
    """``y = intercept + slope * x``, fitted by ordinary least squares."""

    intercept: float
    slope: float
    r2: float
    """Share of the variance of y the line explains (1 when the points lie on it)."""
    slope_t: float
    """The slope over its standard error; ``inf`` when the points lie exactly on the line."""
    points: int


def fit_line(points: Sequence[tuple[float, float]]) -> Line | None:
    """The least-squares line through ``points``; ``None`` when x does not vary (no slope to find)."""
    n = len(points)
    if n < 3:
        return None
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    syy = sum((y - mean_y) ** 2 for _, y in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    if sxx <= 0:
        return None
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    residual = max(0.0, syy - slope * sxy)
    r2 = 1.0 - residual / syy if syy > 0 else 1.0
    standard_error = math.sqrt(residual / (n - 2) / sxx)
    # Points exactly on a line: the slope is certain unless it is zero.
    slope_t = abs(slope) / standard_error if standard_error > 0 else (math.inf if slope else 0.0)
    return Line(intercept=intercept, slope=slope, r2=r2, slope_t=slope_t, points=n)

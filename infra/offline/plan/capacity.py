"""How many requests per second one replica serves while its p95 latency stays under the SLO.

The model is the simplest queue that explains "latency grows with load and
explodes near saturation": for an M/M/1 queue the p95 response time is
``ln(20) / (mu - rho)`` at per-replica load ``rho``, so ``1 / p95`` falls on a
straight line in ``rho``. We fit ``1 / p95 = a - b * rho`` to the observed
(per-replica rate, p95) pairs without fixing the constants, which also
covers a fixed latency floor (model time) plus queueing:

- saturation (latency unbounded) at ``rho = a / b``,
- the latency floor (an idle replica) is ``1 / a``,
- the SLO ``S`` is met up to ``rho* = (a - 1/S) / b``.

When the data cannot tell, the estimate says so instead of guessing:

- the load never varied enough, or latency did not rise with it (by at
  least ``MIN_EFFECT`` over the loads seen, ``MIN_SLOPE_T`` standard errors): the
  capacity is at least the highest per-replica load seen within the SLO
  (``lower-bound``); planning with it (and no extra headroom) keeps the
  load per replica that was observed, so it can only over-provision;
- latency misses the SLO at most loads and does not fall with less load:
  scaling out is not shown to help (``not-load-related``); replicas stay;
- latency does rise with load but its floor is above the SLO: no replica
  count meets it (``slo-unreachable``) and the solver trades cost against
  latency with the weight lambda.

A fitted capacity is never more than ``MAX_EXTRAPOLATION`` times the
highest per-replica load actually observed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from infra.offline.plan.stats import Line, fit_line, quantile

MAX_EXTRAPOLATION = 2.0
#: A slope is trusted when it is this many standard errors away from zero ...
MIN_SLOPE_T = 3.0
#: ... the per-replica load spans at least this share of its median (p10 to p90) ...
MIN_LOAD_SPREAD = 0.2
#: ... and over that span the fitted 1/p95 changes by at least this share of its mean.
MIN_EFFECT = 0.05


class Verdict(StrEnum):
    FITTED = "fitted"
    LOWER_BOUND = "lower-bound"
    SLO_UNREACHABLE = "slo-unreachable"
    NOT_LOAD_RELATED = "not-load-related"


@dataclass(frozen=True)
class Capacity:
    """Per-replica capacity at the SLO, how it was found, and what limits it."""

    verdict: Verdict
    slo_seconds: float
    per_replica_rps: float | None
    """Requests/s one replica serves within the SLO; ``None`` when no count of replicas is known to meet it."""
    observed_max_rps: float
    """The highest per-replica load in the window."""
    observed_max_within_slo_rps: float | None
    fit: Line | None = None
    """``1/p95 = intercept + slope * rho``, when latency is shown to rise with load."""
    notes: list[str] = field(default_factory=list)

    @property
    def saturation_rps(self) -> float | None:
        if self.fit is None or self.fit.slope >= 0:
            return None
        return self.fit.intercept / -self.fit.slope

    @property
    def latency_floor_seconds(self) -> float | None:
        if self.fit is None or self.fit.intercept <= 0:
            return None
        return 1 / self.fit.intercept

    def design_rps(self, headroom: float) -> float | None:
        """The load per replica to plan for: a fitted capacity less headroom; a lower bound as seen.

        A lower bound is a load a replica was seen serving within the SLO, so it
        needs no headroom of its own (planning with it keeps what was observed).
        """
        if self.per_replica_rps is None:
            return None
        if self.verdict is Verdict.LOWER_BOUND:
            return self.per_replica_rps
        return self.per_replica_rps / (1 + headroom)

    def latency_at(self, per_replica_rps: float) -> float:
        """Predicted p95 (seconds) at a per-replica load; ``inf`` past saturation or without a fit."""
        if self.fit is None:
            return math.inf
        inverse = self.fit.intercept + self.fit.slope * per_replica_rps
        return 1 / inverse if inverse > 0 else math.inf


def estimate_capacity(points: Sequence[tuple[float, float]], slo_seconds: float) -> Capacity:
    """Capacity at the SLO from (requests/s per replica, p95 seconds) pairs; see the module docstring."""
    loads = [rho for rho, _ in points]
    within = [rho for rho, latency in points if latency <= slo_seconds]
    observed_max = max(loads)
    observed_ok = max(within) if within else None
    line = _load_dependence(points)

    def result(verdict: Verdict, rho: float | None, fit: Line | None, note: list[str]) -> Capacity:
        return Capacity(verdict, slo_seconds, rho, observed_max, observed_ok, fit, note)

    if line is None:
        if len(within) * 2 >= len(points) and observed_ok is not None:
            return result(
                Verdict.LOWER_BOUND,
                observed_ok,
                None,
                [
                    "the data cannot tell where latency starts to rise (the load per replica did not vary enough, "
                    f"or latency did not grow with it); capacity is taken as {observed_ok:.3g} req/s per replica, "
                    "the highest load seen within the SLO, so the plan can only over-provision"
                ],
            )
        return result(
            Verdict.NOT_LOAD_RELATED,
            None,
            None,
            [
                f"p95 latency misses the SLO at {1 - len(within) / len(points):.0%} of the samples and does not "
                "fall with lower load per replica: the data cannot tell whether more replicas would help, so "
                "replicas are kept (look at the model, batching or the hardware instead)"
            ],
        )
    intercept, slope = line.intercept, line.slope
    if intercept <= 1 / slo_seconds:
        floor = f"{1000 / intercept:.0f} ms" if intercept > 0 else "unbounded"
        return result(
            Verdict.SLO_UNREACHABLE,
            None,
            line,
            [
                f"latency rises with load, but even an idle replica is predicted at {floor}, above the "
                f"{slo_seconds * 1000:.0f} ms SLO: no replica count meets it (a faster model, server or GPU "
                "would); the latency weight decides how many replicas buy how much latency"
            ],
        )
    rho = (intercept - 1 / slo_seconds) / -slope
    notes = []
    if rho > MAX_EXTRAPOLATION * observed_max:
        notes.append(
            f"the fit puts capacity at {rho:.3g} req/s per replica, beyond {MAX_EXTRAPOLATION:g}x the highest load "
            f"observed ({observed_max:.3g}); capped at {MAX_EXTRAPOLATION * observed_max:.3g}"
        )
        rho = MAX_EXTRAPOLATION * observed_max
    elif rho > observed_max:
        notes.append(f"capacity extrapolated beyond the highest load observed ({observed_max:.3g} req/s per replica)")
    elif rho < min(loads):
        notes.append(
            f"every load observed ({min(loads):.3g} req/s per replica and up) was past the SLO: capacity is "
            "extrapolated below the data"
        )
    return result(Verdict.FITTED, rho, line, notes)


def _load_dependence(points: Sequence[tuple[float, float]]) -> Line | None:
    """The fit of ``1/p95`` on load, or ``None`` when the data does not show latency rising with load."""
    loads = [rho for rho, _ in points]
    median, span = quantile(loads, 0.5), quantile(loads, 0.9) - quantile(loads, 0.1)
    if median <= 0 or span < MIN_LOAD_SPREAD * median:
        return None
    # A p95 beyond the histogram's top bucket (+Inf) is a saturated replica: 1/p95 = 0.
    inverse = [(rho, 1 / latency) for rho, latency in points if latency > 0]
    line = fit_line(inverse)
    if line is None or line.slope >= 0 or line.slope_t < MIN_SLOPE_T:
        return None
    mean_inverse = sum(y for _, y in inverse) / len(inverse)
    if -line.slope * span < MIN_EFFECT * mean_inverse:
        return None  # latency does rise, but too little over the loads seen to say where it would cross the SLO
    return line

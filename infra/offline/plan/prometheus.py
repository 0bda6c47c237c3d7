"""A small client for Prometheus' HTTP API: range queries, nothing else.

The planner reads everything it needs with ``/api/v1/query_range`` over a
window, so it works against any Prometheus that scrapes the services (no
recording rules required). Every failure (unreachable server, HTTP error,
a query Prometheus refuses) is a ``PrometheusError`` with a message fit for
a user, never a traceback.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Prometheus refuses range queries of more than 11,000 points per series.
MAX_POINTS = 11_000
_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_UNIT_SECONDS = (7 * 86400, 86400, 3600, 60, 1)

Series = dict[float, float]
"""One time series: timestamp (seconds) -> value; NaN (no data) dropped, +Inf (p95 above the top bucket) kept."""


class PrometheusError(Exception):
    """Prometheus could not answer: unreachable, an HTTP error or a refused query."""


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration (``7d``, ``12h``, ``1h30m``); ``ValueError`` when malformed."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"{text!r} is not a duration (examples: 7d, 12h, 90m)")
    return float(sum(int(part or 0) * unit for part, unit in zip(match.groups(), _UNIT_SECONDS, strict=True)))


def format_duration(seconds: float) -> str:
    """A Prometheus duration for whole seconds, in days at most (``300`` -> ``5m``, a week -> ``7d``)."""
    whole = int(seconds)
    parts = []
    for unit, name in zip(_UNIT_SECONDS[1:], "dhms", strict=True):
        count, whole = divmod(whole, unit)
        if count:
            parts.append(f"{count}{name}")
    return "".join(parts) or "0s"


@dataclass(frozen=True)
class Prometheus:
    """One Prometheus server's HTTP API."""

    url: str
    timeout: float = 30.0

    def check_reachable(self) -> None:
        """Raise ``PrometheusError`` unless the server answers a trivial query.

        A query rather than a status endpoint, so PromQL-compatible servers (Thanos, Mimir) pass too.
        """
        self._get("/api/v1/query", {"query": "vector(1)"})

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[tuple[Mapping[str, str], Series]]:
        """Each series of a range query, with its labels."""
        data = self._get("/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step})
        if data.get("resultType") != "matrix":
            raise PrometheusError(f"{self.url}: expected a matrix for {expr!r}, got {data.get('resultType')!r}")
        return [
            (
                dict(item.get("metric") or {}),
                {float(t): float(v) for t, v in item.get("values") or [] if not math.isnan(float(v))},
            )
            for item in data.get("result") or []
        ]

    def _get(self, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        import httpx  # here, not at the top: every other command (a cold ``check`` above all) starts 50 ms sooner

        try:
            response = httpx.get(self.url.rstrip("/") + path, params=dict(params), timeout=self.timeout)
        except httpx.HTTPError as error:
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {error or type(error).__name__}") from None
        try:
            body = response.json()
        except ValueError:
            raise PrometheusError(
                f"{self.url}{path} answered HTTP {response.status_code} without JSON: is this a Prometheus?"
            ) from None
        if not isinstance(body, dict) or body.get("status") != "success":
            message = (body.get("error") if isinstance(body, dict) else None) or repr(body)
            raise PrometheusError(f"{self.url}{path} answered HTTP {response.status_code}: {message}")
        data = body.get("data")
        return data if isinstance(data, dict) else {}

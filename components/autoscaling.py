"""KEDA triggers on the AI service metric contract: the queries, and how KEDA reads them.

Pure functions, so the same queries are declared in ScaledObjects, checked by
``promtool`` and evaluated by a real Prometheus in the integration tests. The
series come from every AI service (see ``components/monitoring/contract.py``):
Prometheus' Operator adds ``namespace`` and ``service`` to each. The ingress
controller's own counters carry the Ingress' namespace as
``exported_namespace`` (its scrape target's ``namespace`` wins).
"""

from __future__ import annotations

from typing import Any

from components.monitoring.contract import IN_FLIGHT, REQUESTS
from model.config import ServiceConfig

#: A per-replica threshold no real request rate reaches: the trigger only wakes the service.
WAKE_ONLY_THRESHOLD = 1_000_000.0
#: The ingress controller's request counter (ingress-nginx, controller metrics).
INGRESS_REQUESTS = "nginx_ingress_controller_requests"


def load_query(service: ServiceConfig) -> str:
    """The service's total load over all replicas: requests per second, or requests in flight."""
    scaling = service.autoscaling
    assert scaling is not None and scaling.uses_keda
    selector = f'namespace="{service.namespace}", service="{service.name}"'
    if scaling.metric == "requestsPerSecond":
        return f"sum(rate({REQUESTS}{{{selector}}}[2m]))"
    return f"sum({IN_FLIGHT}{{{selector}}})"


def ingress_request_query(service: ServiceConfig) -> str:
    """Requests per second reaching the service's Ingress, counted even while it has no pods."""
    return f'sum(rate({INGRESS_REQUESTS}{{exported_namespace="{service.namespace}", ingress="{service.name}"}}[2m]))'


def prometheus_trigger(
    server: str, query: str, threshold: float, name: str, *, activation: float | None = None
) -> dict[str, Any]:
    """One KEDA ``prometheus`` trigger; KEDA's trigger metadata is a map of strings."""
    metadata = {
        "serverAddress": server,
        "query": query,
        "threshold": _number(threshold),
        # An empty result (no series yet) counts as 0 rather than an error.
        "ignoreNullValues": "true",
    }
    if activation is not None:
        metadata["activationThreshold"] = _number(activation)
    return {"type": "prometheus", "name": name, "metricType": "AverageValue", "metadata": metadata}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))

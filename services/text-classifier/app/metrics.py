"""Prometheus metrics of the service.

The names are the platform's contract with every AI service: the alerts and
dashboards that ai-platform generates (components/observability.py) query
exactly these, and a test checks that the two agree.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

#: Every label value comes from a fixed set, never from the request: a client
#: that sends 20,000 made-up methods or paths must not make 20,000 series.
#: Routes are the app's own paths (anything else is "other"), methods the
#: standard ones, status codes the ones the server itself sends.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"})
OTHER = "other"


def method_label(method: str) -> str:
    return method if method in METHODS else OTHER


REQUESTS = Counter(
    "ai_service_requests",
    "HTTP requests by route, method and status code.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
DURATION = Histogram(
    "ai_service_request_duration_seconds",
    "HTTP request latency by route.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
IN_FLIGHT = Gauge("ai_service_requests_in_flight", "Requests being served.", registry=REGISTRY)
BATCH_SIZE = Histogram(
    "ai_service_batch_size",
    "Texts per classification request.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
    registry=REGISTRY,
)
MODEL_INFO = Gauge("ai_service_model_info", "The loaded model (always 1).", ["name", "version"], registry=REGISTRY)

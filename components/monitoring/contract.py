"""The metric contract between the platform and every AI service.

The names every AI service exposes (see ``services/text-classifier/app/metrics.py``),
the series the recording rules derive from them, and the standard series the
rules and dashboards also read. The Prometheus Operator adds the
``namespace`` and ``service`` labels to every scraped series.
"""

from __future__ import annotations

from model.config import ServiceConfig

REQUESTS = "ai_service_requests_total"
"""Counter: requests by ``route``, ``method`` and ``status`` (the HTTP code)."""
DURATION = "ai_service_request_duration_seconds"
"""Histogram: request latency by ``route``."""
IN_FLIGHT = "ai_service_requests_in_flight"
BATCH_SIZE = "ai_service_batch_size"
MODEL_INFO = "ai_service_model_info"
#: The metrics every AI service must expose.
SERVICE_METRICS = (REQUESTS, DURATION, IN_FLIGHT, BATCH_SIZE, MODEL_INFO)

REQUEST_RATE = "ai_service:requests:rate5m"
ERROR_RATE = "ai_service:errors:rate5m"
ERROR_RATIO = "ai_service:error_ratio:rate5m"
LATENCY_P50 = "ai_service:latency_seconds:p50_5m"
LATENCY_P95 = "ai_service:latency_seconds:p95_5m"
LATENCY_P99 = "ai_service:latency_seconds:p99_5m"
#: Standard series the rules and dashboards read, and the Helm release that produces each:
#: kube-state-metrics and the kubelets' cAdvisor (scraped by kube-prometheus-stack), Prometheus
#: itself (``up``), and NVIDIA's DCGM exporter. ``tests/test_gpu_monitoring.py`` checks that every
#: series a stack queries has its producer declared in that stack.
PRODUCERS = {
    "kube_deployment_status_replicas_unavailable": "kube-prometheus-stack",
    "kube_deployment_status_replicas_available": "kube-prometheus-stack",
    "kube_deployment_spec_replicas": "kube-prometheus-stack",
    "kube_pod_container_status_restarts_total": "kube-prometheus-stack",
    "container_cpu_usage_seconds_total": "kube-prometheus-stack",
    "container_memory_working_set_bytes": "kube-prometheus-stack",
    "up": "kube-prometheus-stack",
    # Its `namespace` and `pod` are the GPU's workload only with honorLabels (components/addons/dcgm_exporter.py).
    "DCGM_FI_DEV_GPU_UTIL": "dcgm-exporter",
}
EXTERNAL_METRICS = tuple(PRODUCERS)


def selector(service: ServiceConfig) -> str:
    """The label matchers of one service's own series."""
    return f'namespace="{service.namespace}", service="{service.name}"'

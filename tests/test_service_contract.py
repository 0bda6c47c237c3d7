"""The platform's alerts and dashboards query only metrics that exist."""

from __future__ import annotations

import re
from collections.abc import Callable

from prometheus_client import generate_latest

from app import metrics as service_metrics
from components.monitoring.contract import EXTERNAL_METRICS, SERVICE_METRICS
from infra.offline.check import Rendered
from tests.helpers import dashboard_queries, manifests_of

RECORDED = re.compile(r"\b(ai_service:[a-z0-9_:]+)")
METRIC = re.compile(r"\b([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:\{|\[|\)|$)")


def exposed() -> set[str]:
    """Metric families the service exposes (counters without their ``_total``)."""
    text = generate_latest(service_metrics.REGISTRY).decode()
    return {line.split()[2].removesuffix("_total") for line in text.splitlines() if line.startswith("# TYPE")}


def test_the_reference_service_exposes_every_contract_metric() -> None:
    assert {name.removesuffix("_total") for name in SERVICE_METRICS} <= exposed()


def test_every_rule_and_panel_queries_a_known_metric(rendered_stack: Callable[[str], Rendered]) -> None:
    prod = rendered_stack("prod")
    expressions = [
        rule["expr"]
        for prometheus_rule in manifests_of(prod, "PrometheusRule")
        for group in prometheus_rule["spec"]["groups"]
        for rule in group["rules"]
    ]
    expressions += dashboard_queries(prod)
    records = {
        rule["record"]
        for prometheus_rule in manifests_of(prod, "PrometheusRule")
        for group in prometheus_rule["spec"]["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    known = {*SERVICE_METRICS, *EXTERNAL_METRICS, *records}
    known |= {f"{name}_bucket" for name in SERVICE_METRICS}
    functions = {"rate", "sum", "avg", "by", "histogram_quantile", "increase", "le"}
    for expression in expressions:
        assert set(RECORDED.findall(expression)) <= records, expression
        bare = re.sub(r"by \([^)]*\)", " ", RECORDED.sub(" ", expression))
        names = set(METRIC.findall(bare)) - functions
        unknown = {name for name in names if name not in known and not name.startswith(("namespace", "service"))}
        assert not unknown, f"{expression} uses {unknown}"

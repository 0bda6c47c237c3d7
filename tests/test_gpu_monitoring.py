"""GPU monitoring is alive: dcgm-exporter runs on GPU nodes when GPU services do, and every series we query has
a producer declared in the same stack, with the labels our queries select on."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from components.addons.dcgm_exporter import METRICS, DcgmExporter, DcgmExporterArgs
from components.monitoring.contract import PRODUCERS
from infra.offline.check import Rendered
from model.config import ClusterConfig, HelmChartConfig
from tests.helpers import dashboard_queries, manifest, manifests_of, resources_of

SERIES = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\{([^}]*)\}")


def releases(rendered: Rendered) -> dict[str, dict[str, Any]]:
    return {r.name: r.inputs for r in resources_of(rendered, "kubernetes:helm.sh/v3:Release")}


def queries(rendered: Rendered) -> list[str]:
    """Every alert and recording expression and every dashboard query of a stack."""
    rules = [
        rule["expr"]
        for prometheus_rule in manifests_of(rendered, "PrometheusRule")
        for group in prometheus_rule["spec"]["groups"]
        for rule in group["rules"]
    ]
    return rules + dashboard_queries(rendered)


def test_prod_runs_dcgm_exporter_on_gpu_nodes_only(rendered_stack: Callable[[str], Rendered]) -> None:
    prod = rendered_stack("prod")
    dcgm = releases(prod)["dcgm-exporter"]
    assert dcgm["repositoryOpts"]["repo"] == "https://nvidia.github.io/dcgm-exporter/helm-charts"
    assert dcgm["version"] == "4.8.2"
    values = dcgm["values"]
    assert values["nodeSelector"] == dict(prod.config.cluster.gpu_node_selector)  # where GPU services run
    assert values["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert values["serviceMonitor"]["enabled"] is True
    namespace = manifest(prod, "Namespace", "dcgm-exporter")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_no_exporter_without_gpu_services(stack: str, rendered_stack: Callable[[str], Rendered]) -> None:
    assert "dcgm-exporter" not in releases(rendered_stack(stack))


def test_the_exporter_follows_the_clusters_gpu_nodes() -> None:
    cluster = ClusterConfig(gpu_node_selector={"pool": "gpu"}, gpu_taint_key="example.com/gpu")
    args = DcgmExporterArgs(chart=HelmChartConfig(version="4.8.2"), environment="prod", cluster=cluster)
    values = DcgmExporter.values(args)
    assert values["nodeSelector"] == {"pool": "gpu"}
    assert [t["key"] for t in values["tolerations"]] == ["example.com/gpu"]
    assert values["serviceMonitor"]["enabled"] is False  # no Prometheus Operator CRDs to create it with


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_series_we_query_has_a_producer_in_the_stack(
    stack: str, rendered_stack: Callable[[str], Rendered]
) -> None:
    rendered = rendered_stack(stack)
    declared = releases(rendered)
    for expression in queries(rendered):
        for name, _ in SERIES.findall(expression):
            if name.startswith("DCGM_"):
                assert name in PRODUCERS, f"{name}: name the release that produces it in contract.PRODUCERS"
            producer = PRODUCERS.get(name)
            if producer is not None:
                assert producer in declared, f"{expression}: {name} comes from {producer}, not declared in {stack}"
                assert declared[producer]["values"].get("serviceMonitor", {}).get("enabled", True), producer


def test_gpu_queries_select_labels_the_exporter_keeps(rendered_stack: Callable[[str], Rendered]) -> None:
    """dcgm-exporter labels a GPU's series with the consuming pod's `namespace` and `pod`; with the chart's
    `honorLabels: false` Prometheus renames them to `exported_namespace`/`exported_pod` (the target's own
    labels win), so our `namespace=..., pod=~...` selectors would only ever match the exporter's pod."""
    prod = rendered_stack("prod")
    gpu = [(name, labels) for q in queries(prod) for name, labels in SERIES.findall(q) if name in METRICS]
    assert {name for name, _ in gpu} == set(METRICS)
    assert len(gpu) >= 2  # the alert and the dashboard panel of llm-inference
    for _, labels in gpu:
        assert "exported_" not in labels
        assert re.search(r"\bnamespace=", labels) and re.search(r"\bpod=~", labels), labels
    assert releases(prod)["dcgm-exporter"]["values"]["serviceMonitor"]["honorLabels"] is True


def test_prometheus_may_reach_the_exporter_through_default_deny(rendered_stack: Callable[[str], Rendered]) -> None:
    """Both namespaces deny by default: the scrape needs Prometheus' egress and the exporter's ingress on 9400."""
    policies = {
        (m.namespace, m.name): m.body["spec"] for m in rendered_stack("prod").manifests if m.kind == "NetworkPolicy"
    }
    egress = policies[("monitoring", "allow-scrape-dcgm-exporter")]["egress"]
    assert any(
        {"port": 9400, "protocol": "TCP"} in rule["ports"]
        and {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "dcgm-exporter"}}} in rule["to"]
        for rule in egress
    )
    ingress = policies[("dcgm-exporter", "allow-metrics-from-monitoring")]["ingress"]
    assert any({"port": 9400, "protocol": "TCP"} in rule["ports"] for rule in ingress)

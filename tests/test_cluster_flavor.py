"""`cluster.flavor`: what the control plane exposes to Prometheus, and whose metrics-server the cluster runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components.addons.kube_prometheus_stack import KubePrometheusStack, KubePrometheusStackArgs
from components.addons.metrics_server import MetricsServer, MetricsServerArgs
from infra.offline.check import Rendered
from model.config import ClusterConfig, HelmChartConfig, MonitoringConfig
from model.flavors import CONTROL_PLANE_RULES, FLAVORS, ClusterFlavor
from tests.conftest import StackWriter, base_config
from tests.helpers import assert_refused, resources_of

CHART = HelmChartConfig(version="1.0.0")
#: The critical alerts a hidden control plane fires forever, and the rule group each lives in.
DOWN_ALERTS = {
    "KubeControllerManagerDown": "kubeControllerManager",
    "KubeSchedulerDown": "kubeSchedulerAlerting",
    "KubeProxyDown": "kubeProxy",
}


def kps_values(flavor: ClusterFlavor) -> dict[str, Any]:
    args = KubePrometheusStackArgs(
        chart=CHART,
        monitoring=MonitoringConfig(kube_prometheus_stack=CHART),
        environment="prod",
        cluster=ClusterConfig(flavor=flavor),
    )
    return KubePrometheusStack.values(args)


@pytest.mark.parametrize("flavor", ["eks", "gke", "aks", "k3s", "kind"])
def test_hidden_control_planes_are_neither_scraped_nor_alerted_on(flavor: ClusterFlavor) -> None:
    values = kps_values(flavor)
    for component in CONTROL_PLANE_RULES:
        assert values[component] == {"enabled": False}, component
    rules = values["defaultRules"]["rules"]
    for alert, group in DOWN_ALERTS.items():
        assert rules[group] is False, alert
    assert rules["etcd"] is False and rules["kubeSchedulerRecording"] is False


@pytest.mark.parametrize("flavor", ["generic", "kubeadm"])
def test_self_managed_control_planes_are_scraped(flavor: ClusterFlavor) -> None:
    values = kps_values(flavor)
    assert all(values[component] == {"enabled": True} for component in CONTROL_PLANE_RULES)
    assert all(values["defaultRules"]["rules"].values())


def test_flavor_defaults_to_generic() -> None:
    assert ClusterConfig().flavor == "generic"
    assert set(FLAVORS) == {"eks", "gke", "aks", "kubeadm", "k3s", "kind", "generic"}
    assert all(flavor.source for flavor in FLAVORS.values())


@pytest.mark.parametrize("flavor", ["aks", "gke", "k3s"])
def test_a_second_metrics_server_on_a_cluster_that_ships_one_is_refused(flavor: str, write_stack: StackWriter) -> None:
    config = base_config(cluster={"context": "prod", "flavor": flavor}, addons={"metricsServer": {"version": "3.12.2"}})
    assert_refused(write_stack(config), "addons.metricsServer", "APIService v1beta1.metrics.k8s.io")


@pytest.mark.parametrize(("flavor", "insecure"), [("kind", True), ("eks", False), ("kubeadm", False)])
def test_kubelet_tls_is_skipped_only_where_kubelets_self_sign(flavor: ClusterFlavor, insecure: bool) -> None:
    args = MetricsServerArgs(chart=CHART, environment="dev", cluster=ClusterConfig(flavor=flavor))
    assert ("--kubelet-insecure-tls" in MetricsServer.values(args)["args"]) is insecure


def test_committed_stacks_name_their_flavor(rendered_stack: Callable[[str], Rendered]) -> None:
    for stack, flavor in (("dev", "kind"), ("staging", "eks"), ("prod", "eks")):
        values = {
            r.inputs["chart"]: r.inputs["values"]
            for r in resources_of(rendered_stack(stack), "kubernetes:helm.sh/v3:Release")
        }
        assert values["kube-prometheus-stack"]["kubeScheduler"] == {"enabled": False}, stack
        assert values["kube-prometheus-stack"]["defaultRules"]["rules"]["kubeSchedulerAlerting"] is False, stack
        assert ("--kubelet-insecure-tls" in values["metrics-server"]["args"]) is (flavor == "kind"), stack

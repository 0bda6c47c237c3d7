"""Helm add-ons: an abstract base, typed args, values and cost footprint from one sizing declaration."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from components.addons.base import AddonArgs, HelmAddon
from components.addons.cert_manager import CertManager, CertManagerArgs
from components.addons.ingress_nginx import IngressNginx, IngressNginxArgs
from components.addons.jenkins import Jenkins, JenkinsArgs
from components.addons.jenkins_plugins import CHARTS, EXTRA_PLUGINS, Plugin, core_version
from components.addons.keda import Keda, KedaArgs
from components.addons.kube_prometheus_stack import KubePrometheusStack, KubePrometheusStackArgs
from components.addons.metrics_server import MetricsServer, MetricsServerArgs
from components.addons.nvidia_device_plugin import NvidiaDevicePlugin, NvidiaDevicePluginArgs
from infra.offline.check import Rendered
from infra.offline.runtime import RecordedResource
from model.config import (
    CertManagerConfig,
    HelmChartConfig,
    IngressNginxConfig,
    JenkinsConfig,
    MonitoringConfig,
)
from model.workload import Workload
from tests.helpers import JENKINS_IMAGES, resources_of

RELEASE = "kubernetes:helm.sh/v3:Release"
CHART = HelmChartConfig(version="1.0.0")


def addon_args(environment: str) -> list[tuple[type[HelmAddon[Any]], AddonArgs]]:
    """Every add-on with valid args for one environment (no Pulumi runtime needed)."""
    common: dict[str, Any] = {"environment": environment}
    monitoring = MonitoringConfig(kube_prometheus_stack=CHART)
    return [
        (IngressNginx, IngressNginxArgs(chart=IngressNginxConfig(version="4.11.3"), **common)),
        (CertManager, CertManagerArgs(chart=CertManagerConfig(version="v1.16.1"), **common)),
        (MetricsServer, MetricsServerArgs(chart=CHART, **common)),
        (NvidiaDevicePlugin, NvidiaDevicePluginArgs(chart=CHART, **common)),
        (Keda, KedaArgs(chart=CHART, **common)),
        (KubePrometheusStack, KubePrometheusStackArgs(chart=CHART, monitoring=monitoring, **common)),
        (Jenkins, JenkinsArgs(chart=JenkinsConfig.model_validate({"version": "5.7.0", **JENKINS_IMAGES}), **common)),
    ]


def test_the_base_is_abstract_over_workloads_and_values() -> None:
    class Incomplete(HelmAddon[AddonArgs]):
        CHART = REPOSITORY = NAMESPACE = TYPE = "x"

        @classmethod
        def workloads(cls, args: AddonArgs) -> list[Workload]:
            return []

    with pytest.raises(TypeError, match=r"abstract method.* values"):
        Incomplete("x", AddonArgs(chart=CHART, environment="dev"))  # type: ignore[abstract]


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_values_and_workloads_are_pure_functions_of_the_args(environment: str) -> None:
    for kind, args in addon_args(environment):
        assert kind.values(args) == kind.values(args), kind.__name__
        assert list(kind.workloads(args)) == list(kind.workloads(args)), kind.__name__
        with pytest.raises(ValueError, match="frozen"):
            args.environment = "staging"


def sized(values: Any) -> Iterator[dict[str, Any]]:
    """Every ``resources`` value (requests and limits) anywhere in a chart's values."""
    if isinstance(values, dict):
        if "requests" in values and "limits" in values:
            yield values
        for value in values.values():
            yield from sized(value)
    elif isinstance(values, list):
        for value in values:
            yield from sized(value)


def strings(values: Any) -> set[str]:
    if isinstance(values, dict):
        return set().union(*(strings(value) for value in values.values())) if values else set()
    if isinstance(values, list):
        return set().union(*(strings(value) for value in values)) if values else set()
    return {values} if isinstance(values, str) else set()


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_what_a_chart_is_sized_to_is_what_it_costs(environment: str) -> None:
    for kind, args in addon_args(environment):
        values, workloads = kind.values(args), list(kind.workloads(args))
        priced = sorted(sorted(w.resources()["requests"].items()) for w in workloads)
        installed = sorted(sorted(r["requests"].items()) for r in sized(values))
        assert priced == installed, kind.__name__
        for workload in workloads:
            assert workload.resources() in list(sized(values)), (kind.__name__, workload.name)
            assert {volume.size for volume in workload.storage} <= strings(values), (kind.__name__, workload.name)


def footprints(rendered: Rendered) -> dict[str, RecordedResource]:
    return {r.name: r for r in rendered.resources if not r.custom and "footprint" in (r.outputs or {})}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_release_reports_the_footprint_of_its_values(
    stack: str, rendered_stack: Callable[[str], Rendered]
) -> None:
    rendered = rendered_stack(stack)
    components = footprints(rendered)
    for release in resources_of(rendered, RELEASE):
        parts = components[release.name].outputs["footprint"]
        installed = sorted(sorted(r["requests"].items()) for r in sized(release.inputs["values"]))
        assert sorted(sorted(part["requests"].items()) for part in parts) == installed, release.name
        assert all(part["replicas"] >= 0 for part in parts)  # Helm hook Jobs reserve nothing between releases


def test_admin_secrets_exist_before_the_release_that_refers_to_them(
    rendered_stack: Callable[[str], Rendered],
) -> None:
    prod = rendered_stack("prod")
    secrets = {r.inputs["metadata"].get("name"): r.urn for r in resources_of(prod, "kubernetes:core/v1:Secret")}
    releases = {r.name: r for r in resources_of(prod, RELEASE)}
    grafana = releases["kube-prometheus-stack"]
    assert grafana.inputs["values"]["grafana"]["admin"]["existingSecret"] == "grafana-admin"
    assert secrets["grafana-admin"] in grafana.options["dependsOn"]
    jenkins = releases["jenkins"]
    assert jenkins.inputs["values"]["controller"]["admin"]["existingSecret"] == "jenkins-admin"
    assert secrets["jenkins-admin"] in jenkins.options["dependsOn"]


def test_every_pinned_jenkins_plugin_runs_on_the_controller_core(rendered_stack: Callable[[str], Rendered]) -> None:
    [release] = [r for r in resources_of(rendered_stack("prod"), RELEASE) if r.inputs["chart"] == "jenkins"]
    chart = CHARTS.get(release.inputs["version"])
    assert chart is not None, f"jenkins chart {release.inputs['version']}: record its core in jenkins_plugins.CHARTS"
    assert chart.image.endswith(f":{chart.core}-jdk17")
    known = {plugin.pin: plugin for plugin in EXTRA_PLUGINS}
    pinned = release.inputs["values"]["controller"]["additionalPlugins"]
    assert pinned, "the job DSL in JCasC needs job-dsl"
    for pin in pinned:
        assert pin in known, f"{pin}: record the core it needs in jenkins_plugins.EXTRA_PLUGINS"
    for plugin in [*(known[pin] for pin in pinned), *chart.default_plugins]:
        assert plugin.runs_on(chart.core), f"{plugin.pin} needs core {plugin.required_core}, chart runs {chart.core}"
        assert plugin.source


def test_core_versions_compare_as_numbers() -> None:
    assert core_version("2.479.1") > core_version("2.462.2") > core_version("2.462.1") > core_version("2.99")
    assert not Plugin("job-dsl", "1.90", "2.479.1", "tag job-dsl-1.90, pom.xml:37-38").runs_on("2.462.2")


@pytest.mark.parametrize("service_monitors", [True, False])
def test_metrics_server_is_scraped_when_prometheus_runs(service_monitors: bool) -> None:
    values = MetricsServer.values(MetricsServerArgs(chart=CHART, environment="prod", service_monitors=service_monitors))
    # chart 3.12.2 renders its ServiceMonitor only `if and .Values.serviceMonitor.enabled .Values.metrics.enabled`
    assert values["metrics"]["enabled"] is True
    assert values["serviceMonitor"]["enabled"] is service_monitors


def test_prod_metrics_server_gets_a_service_monitor(rendered_stack: Callable[[str], Rendered]) -> None:
    [release] = [r for r in resources_of(rendered_stack("prod"), RELEASE) if r.inputs["chart"] == "metrics-server"]
    assert release.inputs["values"]["serviceMonitor"] == {"enabled": True}


@pytest.mark.parametrize(
    ("chart", "path"),
    [
        ("kube-prometheus-stack", "grafana.sidecar.resources"),  # dashboards and datasources sidecars
        ("kube-prometheus-stack", "prometheusOperator.admissionWebhooks.patch.resources"),  # both hook Jobs
        ("kube-prometheus-stack", "prometheusOperator.prometheusConfigReloader.resources"),  # operator-injected
        ("kube-prometheus-stack", "grafana.initChownData.resources"),
        ("jenkins", "controller.sidecars.configAutoReload.resources"),  # config-reload and its init container
        ("ingress-nginx", "controller.admissionWebhooks.createSecretJob.resources"),
        ("ingress-nginx", "controller.admissionWebhooks.patchWebhookJob.resources"),
    ],
)
def test_chart_containers_that_request_nothing_by_default_get_requests(
    chart: str, path: str, rendered_stack: Callable[[str], Rendered]
) -> None:
    [release] = [r for r in resources_of(rendered_stack("prod"), RELEASE) if r.inputs["chart"] == chart]
    value: Any = release.inputs["values"]
    for key in path.split("."):
        value = value.get(key, {})
    assert value.get("requests", {}).keys() == {"cpu", "memory"}, f"{chart}: {path} (chart default: none)"
    assert value["limits"]["memory"] == value["requests"]["memory"]


def test_helm_test_pods_are_not_rendered(rendered_stack: Callable[[str], Rendered]) -> None:
    """`helm test` pods request nothing and a Pulumi Release never runs them."""
    values = {r.inputs["chart"]: r.inputs["values"] for r in resources_of(rendered_stack("prod"), RELEASE)}
    assert values["kube-prometheus-stack"]["grafana"]["testFramework"] == {"enabled": False}
    assert values["jenkins"]["controller"]["testEnabled"] is False

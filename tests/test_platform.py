"""The platform components under mocks: releases, registry, monitoring, ordering, protection."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from infra.offline.check import Rendered, render
from infra.offline.runtime import RecordedResource
from model.stack_config import ConfigError
from tests.conftest import StackWriter, base_config, base_service
from tests.helpers import REGISTRY_AUTH_IMAGE, dashboard_config_maps, manifest, manifests_of, resources_of

RenderStack = Callable[[str], Rendered]
RELEASE = "kubernetes:helm.sh/v3:Release"


def releases(rendered: Rendered) -> dict[str, RecordedResource]:
    return {r.inputs["chart"]: r for r in resources_of(rendered, RELEASE)}


def by_name(rendered: Rendered, type_: str, name: str) -> RecordedResource:
    [found] = [r for r in rendered.resources if r.type == type_ and r.name == name]
    return found


def test_prod_installs_every_pinned_release(rendered_stack: RenderStack) -> None:
    installed = {chart: release.inputs["version"] for chart, release in releases(rendered_stack("prod")).items()}
    assert installed == {
        "ingress-nginx": "4.11.3",
        "cert-manager": "v1.16.1",
        "metrics-server": "3.12.2",
        "keda": "2.16.0",
        "nvidia-device-plugin": "0.17.0",
        "dcgm-exporter": "4.8.2",
        "kube-prometheus-stack": "65.0.0",
        "jenkins": "5.7.0",
    }
    for release in releases(rendered_stack("prod")).values():
        assert release.inputs["atomic"] is True
        assert release.inputs["cleanupOnFail"] is True
        assert release.inputs["repositoryOpts"]["repo"].startswith("https://")
        assert release.inputs["namespace"] not in ("", "default")


def test_prod_has_at_least_five_component_types(rendered_stack: RenderStack) -> None:
    components = {r.type for r in rendered_stack("prod").resources if not r.custom}
    assert len(components) >= 5
    assert {
        "ai-platform:index:Platform",
        "ai-platform:services:AiService",
        "ai-platform:registry:ContainerRegistry",
        "ai-platform:monitoring:Monitoring",
        "ai-platform:addons:ClusterAddons",
        "ai-platform:cicd:Jenkins",
    } <= components


def test_every_stateful_prod_resource_is_protected(rendered_stack: RenderStack) -> None:
    prod = rendered_stack("prod")
    stateful = [
        *resources_of(prod, "kubernetes:core/v1:PersistentVolumeClaim"),
        releases(prod)["kube-prometheus-stack"],
        releases(prod)["jenkins"],
    ]
    assert all(r.options["protect"] for r in stateful)
    assert not any(r.options["protect"] for r in rendered_stack("dev").resources)
    # Kept in the cluster even by a deliberate `pulumi destroy`.
    assert all(r.options["retainOnDelete"] for r in resources_of(prod, "kubernetes:core/v1:PersistentVolumeClaim"))


def test_dev_is_visibly_smaller_than_prod(rendered_stack: RenderStack) -> None:
    def prometheus(stack: str) -> dict[str, Any]:
        spec: dict[str, Any] = releases(rendered_stack(stack))["kube-prometheus-stack"].inputs["values"]["prometheus"]
        return dict(spec["prometheusSpec"])

    assert prometheus("dev")["replicas"] < prometheus("prod")["replicas"]
    assert prometheus("dev")["retention"] == "3d" and prometheus("prod")["retention"] == "30d"
    ingress = {s: releases(rendered_stack(s))["ingress-nginx"].inputs["values"]["controller"] for s in ("dev", "prod")}
    assert ingress["dev"]["replicaCount"] == 1 < ingress["prod"]["replicaCount"]
    assert "minAvailable" in ingress["prod"] and "minAvailable" not in ingress["dev"]
    assert "jenkins" not in releases(rendered_stack("dev"))
    assert len(rendered_stack("dev").resources) < len(rendered_stack("prod").resources)


def test_ingress_controller_is_sized_for_model_payloads(rendered_stack: RenderStack) -> None:
    controller = releases(rendered_stack("prod"))["ingress-nginx"].inputs["values"]["controller"]
    assert controller["service"]["type"] == "LoadBalancer"
    assert controller["config"]["proxy-body-size"] == "2g"
    assert controller["config"]["proxy-read-timeout"] == "600"
    assert controller["ingressClassResource"]["name"] == "nginx"


def test_cluster_issuer_is_a_self_signed_ca_in_dev_and_acme_in_prod(rendered_stack: RenderStack) -> None:
    dev = {m["metadata"]["name"]: m for m in manifests_of(rendered_stack("dev"), "ClusterIssuer")}
    assert dev["platform-issuer"]["spec"] == {"ca": {"secretName": "platform-ca"}}
    assert manifests_of(rendered_stack("dev"), "Certificate")[0]["spec"]["isCA"] is True
    [prod] = manifests_of(rendered_stack("prod"), "ClusterIssuer")
    assert prod["spec"]["acme"]["email"] == "platform-team@example.com"
    assert prod["spec"]["acme"]["solvers"][0]["http01"]["ingress"]["ingressClassName"] == "nginx"
    cert_manager = releases(rendered_stack("prod"))["cert-manager"]
    issuer = by_name(rendered_stack("prod"), "kubernetes:cert-manager.io/v1:ClusterIssuer", "platform-issuer")
    assert cert_manager.urn in issuer.options["dependsOn"]
    assert cert_manager.inputs["values"]["crds"]["enabled"] is True


def test_registry_is_declared_as_our_own_resources(rendered_stack: RenderStack) -> None:
    prod = rendered_stack("prod")
    deployment = manifest(prod, "Deployment", "registry")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert (
        "docker.io/library/registry:2.8.3@sha256:" in deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    )
    pvc = manifest(prod, "PersistentVolumeClaim", "registry")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "500Gi"
    ingress = manifest(prod, "Ingress", "registry")
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "10g"
    assert ingress["spec"]["tls"][0]["hosts"] == ["registry.example.com"]
    [config_map] = [m for m in manifests_of(prod, "ConfigMap", "platform-registry")]
    assert "token" in yaml.safe_load(config_map["data"]["config.yml"])["auth"]


def test_ai_namespaces_get_a_pull_secret_their_service_accounts_use(rendered_stack: RenderStack) -> None:
    prod = rendered_stack("prod")
    secrets = {
        m["metadata"]["namespace"]: m
        for m in manifests_of(prod, "Secret")
        if m["type"] == "kubernetes.io/dockerconfigjson"
    }
    assert set(secrets) == {"ai-services", "ai-inference"}
    assert all(s["stringData"] == {".dockerconfigjson": "[secret]"} for s in secrets.values())
    account = manifest(prod, "ServiceAccount", "text-classifier")
    assert account["imagePullSecrets"] == [{"name": "platform-registry"}]
    [component] = resources_of(prod, "ai-platform:registry:ContainerRegistry")
    assert component.outputs["host"] == "registry.example.com"


def test_every_ai_service_is_monitored_with_slo_alerts(rendered_stack: RenderStack) -> None:
    prod = rendered_stack("prod")
    monitors = {m["metadata"]["name"]: m for m in manifests_of(prod, "ServiceMonitor")}
    rules = {m["metadata"]["name"]: m for m in manifests_of(prod, "PrometheusRule")}
    assert set(monitors) == set(rules) == {"text-classifier", "llm-inference"}
    kps = releases(prod)["kube-prometheus-stack"]
    for name in monitors:
        alerts = [rule for group in rules[name]["spec"]["groups"] for rule in group["rules"] if "alert" in rule]
        names = {alert["alert"] for alert in alerts}
        assert {"AiServiceHighErrorRatio", "AiServiceHighLatencyP95", "AiServicePodsUnavailable"} <= names
        assert len(alerts) >= 3
        for kind in ("monitor", "rules"):
            resource = by_name(
                prod,
                f"kubernetes:monitoring.coreos.com/v1:{'ServiceMonitor' if kind == 'monitor' else 'PrometheusRule'}",
                f"{name}-{kind}",
            )
            assert kps.urn in resource.options["dependsOn"]
    llm_alerts = {r.get("alert") for g in rules["llm-inference"]["spec"]["groups"] for r in g["rules"]}
    assert "AiServiceGpuSaturated" in llm_alerts
    error = next(
        r
        for g in rules["text-classifier"]["spec"]["groups"]
        for r in g["rules"]
        if r.get("alert") == "AiServiceHighErrorRatio"
    )
    assert error["expr"].endswith("> 0.01")  # the SLO from the stack file
    latency = next(
        r
        for g in rules["text-classifier"]["spec"]["groups"]
        for r in g["rules"]
        if r.get("alert") == "AiServiceHighLatencyP95"
    )
    assert latency["expr"].endswith("> 0.3")


def test_dashboards_are_valid_json_with_panels_for_the_sidecar(rendered_stack: RenderStack) -> None:
    dashboards = dashboard_config_maps(rendered_stack("prod"))
    titles = set()
    for config_map in dashboards:
        [document] = config_map["data"].values()
        dashboard = json.loads(document)
        assert dashboard["panels"], dashboard["title"]
        assert all(panel["targets"] and panel["targets"][0]["expr"] for panel in dashboard["panels"])
        titles.add(dashboard["title"])
    assert titles == {"AI platform overview", "AI service / text-classifier", "AI service / llm-inference"}


def test_alertmanager_routes_critical_alerts_to_oncall(rendered_stack: RenderStack) -> None:
    config = releases(rendered_stack("prod"))["kube-prometheus-stack"].inputs["values"]["alertmanager"]["config"]
    assert config["route"]["receiver"] == "platform-team"
    assert {"receiver": "oncall", "matchers": ['severity="critical"']} in config["route"]["routes"]


def test_ordering_on_a_fresh_cluster(rendered_stack: RenderStack) -> None:
    prod = rendered_stack("prod")
    chart_urns = {chart: r.urn for chart, r in releases(prod).items()}
    classifier = by_name(prod, "ai-platform:services:AiService", "text-classifier")
    assert chart_urns["metrics-server"] in classifier.options["dependsOn"]  # HPAs need metrics
    assert any("ClusterIssuer" in urn for urn in classifier.options["dependsOn"])  # certificates need the issuer
    [addons] = resources_of(prod, "ai-platform:addons:ClusterAddons")
    assert chart_urns["kube-prometheus-stack"] in addons.options["dependsOn"]  # ServiceMonitor CRDs first


def test_grafana_and_jenkins_passwords_come_from_secrets(rendered_stack: RenderStack) -> None:
    prod = rendered_stack("prod")
    values = releases(prod)["kube-prometheus-stack"].inputs["values"]["grafana"]
    assert values["admin"]["existingSecret"] == "grafana-admin"
    jenkins = releases(prod)["jenkins"].inputs["values"]["controller"]
    assert jenkins["admin"]["existingSecret"] == "jenkins-admin"
    assert "multibranchPipelineJob('ai-platform')" in jenkins["JCasC"]["configScripts"]["jobs"]
    dumped = json.dumps([r.as_json() for r in prod.resources])
    assert "offline-secret-" not in dumped


def test_an_addon_can_be_switched_off(write_stack: StackWriter) -> None:
    config = base_config(
        "dev",
        addons={"ingressNginx": {"version": "4.11.3"}, "keda": {"enabled": False}},
    )
    rendered = render(write_stack(config))
    assert set(releases(rendered)) == {"ingress-nginx"}


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (
            {"registry": {"host": "registry.example.com", "authImage": REGISTRY_AUTH_IMAGE}},
            "ai-platform:registryPassword: is required",
        ),
        (
            {"addons": {"keda": {"version": "^2.16"}}},
            "ai-platform:addons.keda.version: '^2.16' is not an exact chart version",
        ),
        ({"addons": {"keda": {}}}, "version is required when the add-on is enabled"),
        (
            {"addons": {"certManager": {"version": "v1.16.1"}}},
            "ai-platform:addons.certManager.acmeEmail: is required in prod",
        ),
        (
            {"monitoring": {"kubePrometheusStack": {"version": "65.0.0"}, "alerting": {"defaultReceiver": "nobody"}}},
            "ai-platform:monitoring.alerting.defaultReceiver: no receiver named 'nobody'",
        ),
        (
            {"monitoring": {"kubePrometheusStack": {"version": "65.0.0"}, "retention": "forever"}},
            "monitoring.retention",
        ),
    ],
)
def test_platform_config_errors_name_the_key(
    write_stack: StackWriter, overrides: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        render(write_stack(base_config("prod", services=[base_service()], **overrides)))
    assert fragment in str(raised.value)

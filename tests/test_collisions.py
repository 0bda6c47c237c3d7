"""What two parts of one stack may not share: namespaces, ingress routes, Kubernetes objects."""

from __future__ import annotations

from typing import Any

import pytest

from components.addons.cert_manager import CertManager
from components.addons.jenkins import Jenkins
from components.addons.keda import Keda
from components.addons.metrics_server import MetricsServer
from components.addons.nvidia_device_plugin import NvidiaDevicePlugin
from infra.offline import manifests
from infra.offline.check import render
from infra.offline.manifests import Manifest
from model.config import collisions
from model.stack_config import ConfigError
from tests.conftest import StackWriter, base_config, base_service
from tests.helpers import JENKINS_IMAGES, REGISTRY_AUTH_IMAGE, assert_refused

SECRET = {"secure": "v1:abc"}
MONITORING = {"kubePrometheusStack": {"version": "65.0.0"}, "grafanaHost": "grafana.example.com"}
ADDONS = {
    "ingressNginx": {"version": "4.11.3"},
    "certManager": {"version": "v1.16.1", "acmeEmail": "a@example.com"},
    "metricsServer": {"version": "3.12.2"},
    "nvidiaDevicePlugin": {"version": "0.17.0"},
    "keda": {"version": "2.16.0"},
}


def platform(*services: dict[str, Any], environment: str = "prod", **extra: Any) -> dict[str, Any]:
    """A stack with every platform component on, and the given services."""
    config = {
        "addons": ADDONS,
        "monitoring": MONITORING,
        "grafanaAdminPassword": SECRET,
        "registry": {"host": "registry.platform.example.com", "authImage": REGISTRY_AUTH_IMAGE},
        "registryPassword": SECRET,
        "jenkins": {"version": "5.7.0", "host": "jenkins.example.com", **JENKINS_IMAGES},
        "jenkinsAdminPassword": SECRET,
    }
    config.update(extra)
    return base_config(environment, services=list(services) or [base_service()], **config)


def in_namespace(namespace: str) -> dict[str, Any]:
    return platform(base_service(namespace=namespace))


def with_ingress(host: str, path: str = "/") -> dict[str, Any]:
    return base_service(name="second", ingress={"host": host, "path": path})


GPU = base_service(name="llm", resources={"cpu": "4", "memory": "24Gi", "gpu": 1})

COLLISIONS: list[tuple[str, dict[str, Any], str, str]] = [
    # (case, config, key, message fragment naming the other key)
    ("kube-system", in_namespace("kube-system"), "services[0].namespace", "reserved by Kubernetes"),
    ("kube-public", in_namespace("kube-public"), "services[0].namespace", "reserved by Kubernetes"),
    ("kube-node-lease", in_namespace("kube-node-lease"), "services[0].namespace", "reserved by Kubernetes"),
    ("default", in_namespace("default"), "services[0].namespace", "reserved by Kubernetes"),
    ("monitoring", in_namespace("monitoring"), "services[0].namespace", "(cluster.monitoringNamespace)"),
    ("ingress", in_namespace("ingress-nginx"), "services[0].namespace", "(cluster.ingressNamespace)"),
    ("registry", in_namespace("platform-registry"), "services[0].namespace", "(registry.namespace)"),
    ("jenkins", in_namespace("jenkins"), "services[0].namespace", "(jenkins)"),
    ("cert-manager", in_namespace("cert-manager"), "services[0].namespace", "(addons.certManager)"),
    ("metrics-server", in_namespace("metrics-server"), "services[0].namespace", "(addons.metricsServer)"),
    ("device plugin", in_namespace("nvidia-device-plugin"), "services[0].namespace", "(addons.nvidiaDevicePlugin)"),
    ("keda", in_namespace("keda"), "services[0].namespace", "(addons.keda)"),
    (
        "renamed monitoring namespace",
        platform(
            base_service(namespace="observability"), cluster={"context": "prod", "monitoringNamespace": "observability"}
        ),
        "services[0].namespace",
        "(cluster.monitoringNamespace)",
    ),
    (
        "two platform components",
        platform(
            registry={
                "host": "registry.platform.example.com",
                "authImage": REGISTRY_AUTH_IMAGE,
                "namespace": "monitoring",
            }
        ),
        "registry.namespace",
        "already the namespace of cluster.monitoringNamespace",
    ),
    (
        "platform component in kube-system",
        platform(cluster={"context": "prod", "ingressNamespace": "kube-system"}),
        "cluster.ingressNamespace",
        "reserved by Kubernetes",
    ),
    (
        "two services, one route",
        platform(base_service(ingress={"host": "a.example.com"}), with_ingress("a.example.com")),
        "services[1].ingress",
        "https://a.example.com/ is already routed to services[0].ingress",
    ),
    (
        "trailing slash is the same prefix",
        platform(base_service(ingress={"host": "a.example.com", "path": "/v1"}), with_ingress("a.example.com", "/v1/")),
        "services[1].ingress",
        "already routed to services[0].ingress",
    ),
    ("grafana's host", platform(with_ingress("grafana.example.com")), "services[0].ingress", "monitoring.grafanaHost"),
    ("jenkins' host", platform(with_ingress("jenkins.example.com")), "services[0].ingress", "jenkins.host"),
    (
        "registry's host",
        platform(with_ingress("registry.platform.example.com")),
        "services[0].ingress",
        "registry.host",
    ),
    (
        "grafana on the registry's host",
        platform(monitoring={**MONITORING, "grafanaHost": "registry.platform.example.com"}),
        "monitoring.grafanaHost",
        "already routed to registry.host",
    ),
    (
        "gpu without the device plugin",
        base_config(services=[GPU]),
        "services[0].resources.gpu",
        "addons.nvidiaDevicePlugin is absent",
    ),
    (
        "gpu with the device plugin disabled",
        platform(GPU, addons={**ADDONS, "nvidiaDevicePlugin": {"enabled": False}}),
        "services[0].resources.gpu",
        "addons.nvidiaDevicePlugin is disabled",
    ),
    ("no context in prod", base_config(cluster={}), "cluster.context", "is required in prod"),
    ("no context in staging", base_config("staging", cluster={}), "cluster.context", "is required in staging"),
]


@pytest.mark.parametrize(
    ("config", "key", "fragment"),
    [pytest.param(config, key, fragment, id=case) for case, config, key, fragment in COLLISIONS],
)
def test_collisions_name_both_keys_and_declare_nothing(
    write_stack: StackWriter, config: dict[str, Any], key: str, fragment: str
) -> None:
    assert_refused(write_stack(config), key, fragment)


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(platform(with_ingress("grafana.example.com", "/api")), id="another path on grafana's host"),
        pytest.param(base_config("dev", cluster={}), id="dev may use the current context"),
        pytest.param(
            base_config(cluster={"renderYamlToDirectory": "build/yaml"}), id="rendering YAML needs no context"
        ),
        pytest.param(platform(base_service(namespace="ai-monitoring")), id="a namespace of its own"),
        pytest.param(platform(GPU), id="gpu with the device plugin"),
    ],
)
def test_what_does_not_collide_is_accepted(write_stack: StackWriter, config: dict[str, Any]) -> None:
    assert render(write_stack(config)).manifests


def test_the_models_know_each_addons_namespace() -> None:
    namespaces = {
        "certManager": CertManager.NAMESPACE,
        "metricsServer": MetricsServer.NAMESPACE,
        "nvidiaDevicePlugin": NvidiaDevicePlugin.NAMESPACE,
        "keda": Keda.NAMESPACE,
    }
    assert namespaces == collisions.ADDON_NAMESPACES
    assert Jenkins.NAMESPACE == collisions.JENKINS_NAMESPACE


def test_two_resources_for_one_kubernetes_object_are_refused_in_the_render(
    write_stack: StackWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The safety net behind the config checks: without them, kube-system would be declared twice."""
    import model.config.platform

    monkeypatch.setattr(model.config.platform, "namespace_problems", lambda config: [])
    out = write_stack(platform(base_service(namespace="monitoring")))
    with pytest.raises(ConfigError) as raised:
        render(out)
    # Both namespaces' components also declare its default-deny policies: those duplicates are reported too.
    [problem] = [problem for problem in raised.value.problems if problem.startswith("Namespace ")]
    assert problem.startswith("Namespace monitoring is declared twice, by urn:pulumi:")
    assert "AiNamespace$kubernetes:core/v1:Namespace::ns-monitoring" in problem
    assert "KubePrometheusStack$kubernetes:core/v1:Namespace::" in problem


def test_the_same_object_in_another_api_version_or_namespace_is_not_a_duplicate() -> None:
    def deployment(urn: str, api_version: str, namespace: str) -> Manifest:
        body = {"apiVersion": api_version, "kind": "Deployment", "metadata": {"name": "a", "namespace": namespace}}
        return Manifest(urn=urn, body=body)

    assert manifests.duplicate_objects([deployment("u1", "apps/v1", "x"), deployment("u2", "apps/v1", "y")]) == []
    [problem] = manifests.duplicate_objects([deployment("u1", "apps/v1", "x"), deployment("u2", "apps/v1beta2", "x")])
    assert problem == "Deployment x/a is declared twice, by u1 and by u2"

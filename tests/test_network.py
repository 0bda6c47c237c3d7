"""Network policies: default-deny in every namespace, and exactly the allows each component needs.

The pod labels and ports below are the charts' own, read from `helm template`
of each chart at the version the stacks pin (ingress-nginx 4.11.3,
cert-manager v1.16.1, KEDA 2.16.0, metrics-server 3.12.2,
kube-prometheus-stack 65.0.0, Jenkins 5.7.0), so a selector that stops
matching a chart's pods fails here rather than on a cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.offline.check import Rendered, render
from tests.conftest import StackWriter, base_config, base_service
from tests.helpers import manifests_of
from tests.netpol import Pod, admits, connects, policies_selecting

RenderStack = Callable[[str], Rendered]

API_SERVER = Pod(ip="172.20.0.10")
NODE = Pod(ip="10.0.3.17")
ACME_CA = Pod(ip="172.65.32.248")  # acme-v02.api.letsencrypt.org
WEBHOOK_RECEIVER = Pod(ip="203.0.113.40")
GITHUB = Pod(ip="140.82.121.4")
CLIENT = Pod(ip="198.51.100.7")

INGRESS_CONTROLLER = Pod(
    "ingress-nginx",
    {
        "app.kubernetes.io/name": "ingress-nginx",
        "app.kubernetes.io/instance": "ingress-nginx",
        "app.kubernetes.io/component": "controller",
    },
    {"http": 80, "https": 443, "metrics": 10254, "webhook": 8443},
)
INGRESS_ADMISSION_JOB = Pod(
    "ingress-nginx",
    {
        "app.kubernetes.io/name": "ingress-nginx",
        "app.kubernetes.io/instance": "ingress-nginx",
        "app.kubernetes.io/component": "admission-webhook",
    },
)
CERT_MANAGER = Pod(
    "cert-manager",
    {
        "app": "cert-manager",
        "app.kubernetes.io/name": "cert-manager",
        "app.kubernetes.io/instance": "cert-manager",
        "app.kubernetes.io/component": "controller",
    },
    {"http-metrics": 9402},
)
CERT_MANAGER_WEBHOOK = Pod(
    "cert-manager",
    {
        "app": "webhook",
        "app.kubernetes.io/name": "webhook",
        "app.kubernetes.io/instance": "cert-manager",
        "app.kubernetes.io/component": "webhook",
    },
    {"https": 10250},
)
CAINJECTOR = Pod(
    "cert-manager",
    {
        "app": "cainjector",
        "app.kubernetes.io/name": "cainjector",
        "app.kubernetes.io/instance": "cert-manager",
        "app.kubernetes.io/component": "cainjector",
    },
)
KEDA_OPERATOR = Pod(
    "keda",
    {"app": "keda-operator", "name": "keda-operator", "app.kubernetes.io/name": "keda-operator"},
    {"metrics": 8080, "metricsservice": 9666},
)
KEDA_METRICS_API = Pod(
    "keda",
    {"app": "keda-operator-metrics-apiserver", "app.kubernetes.io/name": "keda-operator-metrics-apiserver"},
    {"https": 6443, "metrics": 8080},
)
KEDA_WEBHOOK = Pod(
    "keda",
    {"app": "keda-admission-webhooks", "name": "keda-admission-webhooks"},
    {"http": 9443},
)
METRICS_SERVER = Pod(
    "metrics-server",
    {"app.kubernetes.io/name": "metrics-server", "app.kubernetes.io/instance": "metrics-server"},
    {"https": 10250},
)
PROMETHEUS = Pod(
    "monitoring",
    {
        "app.kubernetes.io/name": "prometheus",
        "app.kubernetes.io/instance": "kube-prometheus-stack-prometheus",
        "app.kubernetes.io/managed-by": "prometheus-operator",
        "prometheus": "kube-prometheus-stack-prometheus",
    },
    {"http-web": 9090, "reloader-web": 8080},
)
ALERTMANAGER = Pod(
    "monitoring",
    {"app.kubernetes.io/name": "alertmanager", "alertmanager": "kube-prometheus-stack-alertmanager"},
    {"http-web": 9093},
)
GRAFANA = Pod(
    "monitoring",
    {"app.kubernetes.io/name": "grafana", "app.kubernetes.io/instance": "kube-prometheus-stack"},
    {"grafana": 3000},
)
PROMETHEUS_OPERATOR = Pod(
    "monitoring",
    {
        "app": "kube-prometheus-stack-operator",
        "app.kubernetes.io/name": "kube-prometheus-stack-prometheus-operator",
        "app.kubernetes.io/component": "prometheus-operator",
    },
    {"https": 10250},
)
KUBE_STATE_METRICS = Pod("monitoring", {"app.kubernetes.io/name": "kube-state-metrics"}, {"http": 8080})
JENKINS = Pod(
    "jenkins",
    {
        "app.kubernetes.io/name": "jenkins",
        "app.kubernetes.io/instance": "jenkins",
        "app.kubernetes.io/component": "jenkins-controller",
    },
    {"http": 8080, "agent-listener": 50000},
)
JENKINS_AGENT = Pod("jenkins", {"jenkins/label": "pulumi", "jenkins/jenkins-jenkins-agent": "true"})
COREDNS = Pod("kube-system", {"k8s-app": "kube-dns"}, {"dns": 53, "metrics": 9153})


def solver(namespace: str) -> Pod:
    """cert-manager's HTTP-01 solver pod, created next to the Certificate."""
    return Pod(namespace, {"acme.cert-manager.io/http01-solver": "true"}, {"http": 8089})


def policies(rendered: Rendered) -> list[dict[str, Any]]:
    return manifests_of(rendered, "NetworkPolicy")


def deployment_pod(rendered: Rendered, namespace: str, name: str) -> Pod:
    [deployment] = [d for d in manifests_of(rendered, "Deployment", namespace) if d["metadata"]["name"] == name]
    template = deployment["spec"]["template"]
    ports = {
        port["name"]: port["containerPort"]
        for container in template["spec"]["containers"]
        for port in container.get("ports", [])
    }
    return Pod(namespace, template["metadata"]["labels"], ports)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_namespace_the_stack_declares_denies_ingress_and_egress_by_default(
    rendered_stack: RenderStack, stack: str
) -> None:
    rendered = rendered_stack(stack)
    namespaces = {namespace["metadata"]["name"] for namespace in manifests_of(rendered, "Namespace")}
    denying = {
        policy["metadata"]["namespace"]
        for policy in policies(rendered)
        if policy["spec"]["podSelector"] in ({}, {"matchLabels": None})
        and sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
        and not policy["spec"].get("ingress")
        and not policy["spec"].get("egress")
    }
    assert namespaces - denying == set()
    # And every namespace may still resolve names (kube-system on 53).
    for namespace in namespaces:
        assert admits(policies(rendered), Pod(namespace), "egress", COREDNS, 53), namespace


# (why, client, server, port): each add-on's needs; a Pod with only an ip is outside the cluster's pods.
NEEDS: list[tuple[str, Pod, Pod, int]] = [
    # ingress-nginx
    ("clients reach the LoadBalancer on 80", CLIENT, INGRESS_CONTROLLER, 80),
    ("clients reach the LoadBalancer on 443", CLIENT, INGRESS_CONTROLLER, 443),
    ("API server calls the ingress admission webhook", API_SERVER, INGRESS_CONTROLLER, 8443),
    ("controller watches the API on 443", INGRESS_CONTROLLER, API_SERVER, 443),
    ("controller watches the API on 6443", INGRESS_CONTROLLER, API_SERVER, 6443),
    ("admission hook Job patches the webhook", INGRESS_ADMISSION_JOB, API_SERVER, 443),
    ("controller proxies to Grafana", INGRESS_CONTROLLER, GRAFANA, 3000),
    ("controller proxies to Jenkins", INGRESS_CONTROLLER, JENKINS, 8080),
    ("Prometheus scrapes the controller", PROMETHEUS, INGRESS_CONTROLLER, 10254),
    # cert-manager
    ("cert-manager controller uses the API", CERT_MANAGER, API_SERVER, 6443),
    ("cainjector uses the API", CAINJECTOR, API_SERVER, 443),
    ("cert-manager webhook reads its CA", CERT_MANAGER_WEBHOOK, API_SERVER, 443),
    ("API server calls cert-manager's webhook", API_SERVER, CERT_MANAGER_WEBHOOK, 10250),
    ("cert-manager talks to the ACME CA", CERT_MANAGER, ACME_CA, 443),
    ("cert-manager self-checks HTTP-01 on 80", CERT_MANAGER, ACME_CA, 80),
    ("the self-check may reach the controller's pods", CERT_MANAGER, INGRESS_CONTROLLER, 80),
    ("Prometheus scrapes cert-manager", PROMETHEUS, CERT_MANAGER, 9402),
    # KEDA
    ("KEDA operator uses the API", KEDA_OPERATOR, API_SERVER, 443),
    ("KEDA metrics API server uses the API", KEDA_METRICS_API, API_SERVER, 6443),
    ("KEDA webhook uses the API", KEDA_WEBHOOK, API_SERVER, 443),
    ("API server calls KEDA's metrics API", API_SERVER, KEDA_METRICS_API, 6443),
    ("API server calls KEDA's admission webhook", API_SERVER, KEDA_WEBHOOK, 9443),
    ("metrics API server asks the operator", KEDA_METRICS_API, KEDA_OPERATOR, 9666),
    ("KEDA operator queries Prometheus", KEDA_OPERATOR, PROMETHEUS, 9090),
    ("Prometheus scrapes the KEDA operator", PROMETHEUS, KEDA_OPERATOR, 8080),
    # metrics-server
    ("metrics-server uses the API", METRICS_SERVER, API_SERVER, 443),
    ("API server calls metrics.k8s.io", API_SERVER, METRICS_SERVER, 10250),
    ("metrics-server reads kubelets", METRICS_SERVER, NODE, 10250),
    ("Prometheus scrapes metrics-server", PROMETHEUS, METRICS_SERVER, 10250),
    # kube-prometheus-stack
    ("Prometheus operator uses the API", PROMETHEUS_OPERATOR, API_SERVER, 443),
    ("kube-state-metrics uses the API", KUBE_STATE_METRICS, API_SERVER, 6443),
    ("Grafana's sidecar watches dashboards", GRAFANA, API_SERVER, 443),
    ("Prometheus discovers targets", PROMETHEUS, API_SERVER, 443),
    ("API server calls the operator's webhook", API_SERVER, PROMETHEUS_OPERATOR, 10250),
    ("Prometheus scrapes kubelets", PROMETHEUS, NODE, 10250),
    ("Prometheus scrapes node-exporter", PROMETHEUS, NODE, 9100),
    ("Prometheus scrapes CoreDNS", PROMETHEUS, COREDNS, 9153),
    ("Prometheus scrapes kube-state-metrics", PROMETHEUS, KUBE_STATE_METRICS, 8080),
    ("Prometheus alerts Alertmanager", PROMETHEUS, ALERTMANAGER, 9093),
    ("Grafana queries Prometheus", GRAFANA, PROMETHEUS, 9090),
    ("Alertmanager posts to webhook receivers", ALERTMANAGER, WEBHOOK_RECEIVER, 443),
    # Jenkins
    ("Jenkins starts agent pods", JENKINS, API_SERVER, 443),
    ("agents run pulumi against the API", JENKINS_AGENT, API_SERVER, 6443),
    ("agents connect to the controller", JENKINS_AGENT, JENKINS, 50000),
    ("Jenkins fetches plugins and Git", JENKINS, GITHUB, 443),
    ("agents push to the registry's public host", JENKINS_AGENT, INGRESS_CONTROLLER, 443),
    # ACME HTTP-01 through the ingress, in every namespace with a Certificate
    ("HTTP-01 to ai-services", INGRESS_CONTROLLER, solver("ai-services"), 8089),
    ("HTTP-01 to ai-inference", INGRESS_CONTROLLER, solver("ai-inference"), 8089),
    ("HTTP-01 to the registry", INGRESS_CONTROLLER, solver("platform-registry"), 8089),
    ("HTTP-01 to Grafana's namespace", INGRESS_CONTROLLER, solver("monitoring"), 8089),
    ("HTTP-01 to Jenkins' namespace", INGRESS_CONTROLLER, solver("jenkins"), 8089),
]


def _allowed(rendered: Rendered, client: Pod, server: Pod, port: int) -> bool:
    found = policies(rendered)
    if client.namespace is None:
        return admits(found, server, "ingress", client, port)
    if server.namespace is None or server.namespace == "kube-system":  # outside the pods, or not the platform's
        return admits(found, client, "egress", server, port)
    return connects(found, client, server, port)


@pytest.mark.parametrize(("why", "client", "server", "port"), NEEDS, ids=[need[0] for need in NEEDS])
def test_every_addon_has_the_allows_it_needs(
    rendered_stack: RenderStack, why: str, client: Pod, server: Pod, port: int
) -> None:
    assert _allowed(rendered_stack("prod"), client, server, port), why


# What stays denied inside the cluster: the allows are narrow, not "allow all". (With the default
# apiServerCidrs 0.0.0.0/0 the API allows reach any address on 443/6443; see the narrowed test below.)
DENIED: list[tuple[str, Pod, Pod, int]] = [
    ("clients cannot reach the controller's metrics", CLIENT, INGRESS_CONTROLLER, 10254),
    ("the ingress controller cannot reach cert-manager", INGRESS_CONTROLLER, CERT_MANAGER_WEBHOOK, 10250),
    ("the controller cannot reach Prometheus", INGRESS_CONTROLLER, PROMETHEUS, 9090),
    ("KEDA's webhook cannot reach Prometheus", KEDA_WEBHOOK, PROMETHEUS, 9090),
    ("Prometheus cannot reach Jenkins", PROMETHEUS, JENKINS, 8080),
]


@pytest.mark.parametrize(("why", "client", "server", "port"), DENIED, ids=[case[0] for case in DENIED])
def test_what_no_component_needs_stays_denied(
    rendered_stack: RenderStack, why: str, client: Pod, server: Pod, port: int
) -> None:
    assert not _allowed(rendered_stack("prod"), client, server, port), why


def test_every_ingress_backend_is_reachable_from_the_ingress_controller(rendered_stack: RenderStack) -> None:
    """Cross-reference: each Ingress' Service port resolves to pods both sides' policies let the controller reach."""
    rendered = rendered_stack("prod")
    services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in manifests_of(rendered, "Service")}
    checked = []
    for ingress in manifests_of(rendered, "Ingress"):
        namespace = ingress["metadata"]["namespace"]
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = services[(namespace, backend["name"])]
                [service_port] = [p for p in service["spec"]["ports"] if p["name"] == backend["port"]["name"]]
                [deployment] = [
                    d
                    for d in manifests_of(rendered, "Deployment", namespace)
                    if service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
                ]
                pod = deployment_pod(rendered, namespace, deployment["metadata"]["name"])
                target = service_port["targetPort"]
                port = pod.ports[target] if isinstance(target, str) else target
                assert admits(policies(rendered), INGRESS_CONTROLLER, "egress", pod, port), (namespace, rule["host"])
                assert admits(policies(rendered), pod, "ingress", INGRESS_CONTROLLER, port), (namespace, rule["host"])
                checked.append(rule["host"])
    # The registry's host routes twice: the registry itself and its token server (``/auth``).
    assert sorted(checked) == [
        "classify.example.com",
        "llm.example.com",
        "registry.example.com",
        "registry.example.com",
    ]


def test_ai_services_are_reached_on_http_and_scraped_on_metrics_only(rendered_stack: RenderStack) -> None:
    rendered = rendered_stack("prod")
    for namespace, name in (("ai-services", "text-classifier"), ("ai-inference", "llm-inference")):
        pod = deployment_pod(rendered, namespace, name)
        assert connects(policies(rendered), INGRESS_CONTROLLER, pod, pod.ports["http"])
        assert not connects(policies(rendered), INGRESS_CONTROLLER, pod, pod.ports["metrics"])
        assert connects(policies(rendered), PROMETHEUS, pod, pod.ports["metrics"])
        assert not connects(policies(rendered), PROMETHEUS, pod, pod.ports["http"])


def test_prometheus_reaches_every_namespace_it_scrapes_and_each_admits_it(rendered_stack: RenderStack) -> None:
    rendered = rendered_stack("prod")
    registry = deployment_pod(rendered, "platform-registry", "registry")
    for target, port in (
        (registry, registry.ports["metrics"]),
        (INGRESS_CONTROLLER, 10254),
        (CERT_MANAGER, 9402),
        (KEDA_OPERATOR, 8080),
        (METRICS_SERVER, 10250),
    ):
        assert connects(policies(rendered), PROMETHEUS, target, port), target.namespace


def test_narrowed_api_server_cidrs_are_the_only_api_peers(write_stack: StackWriter) -> None:
    config = base_config(
        "prod",
        cluster={"context": "prod", "apiServerCidrs": ["10.0.0.0/28"], "nodeCidrs": ["10.1.0.0/16"]},
        addons={
            "certManager": {"version": "v1.16.1", "acmeEmail": "ops@example.com"},
            "metricsServer": {"version": "3.12.2"},
        },
        services=[base_service()],
    )
    rendered = render(write_stack(config))
    found = policies(rendered)
    assert admits(found, CERT_MANAGER, "egress", Pod(ip="10.0.0.5"), 443)
    assert not admits(found, CERT_MANAGER_WEBHOOK, "egress", Pod(ip="10.0.1.5"), 443)
    assert admits(found, CERT_MANAGER_WEBHOOK, "ingress", Pod(ip="10.0.0.5"), 10250)
    assert not admits(found, CERT_MANAGER_WEBHOOK, "ingress", CLIENT, 10250)
    assert not admits(found, CAINJECTOR, "egress", ACME_CA, 443)
    assert admits(found, CERT_MANAGER, "egress", ACME_CA, 443)
    assert not admits(found, METRICS_SERVER, "egress", GITHUB, 443)
    assert admits(found, METRICS_SERVER, "egress", Pod(ip="10.1.2.3"), 10250)
    assert not admits(found, METRICS_SERVER, "egress", Pod(ip="10.2.0.1"), 10250)


def test_each_allow_policy_says_why(rendered_stack: RenderStack) -> None:
    for policy in policies(rendered_stack("prod")):
        if policy["metadata"]["name"].startswith("allow-") and policy["metadata"]["name"] != "allow-dns":
            assert policy["metadata"]["annotations"]["ai-platform.io/why"], policy["metadata"]["name"]


def test_the_device_plugin_namespace_allows_only_the_api_server_for_feature_discovery(
    rendered_stack: RenderStack,
) -> None:
    found = [p for p in policies(rendered_stack("prod")) if p["metadata"]["namespace"] == "nvidia-device-plugin"]
    assert sorted(p["metadata"]["name"] for p in found) == ["allow-api-server", "allow-dns", "default-deny"]
    assert policies_selecting(found, Pod("nvidia-device-plugin"), "ingress")

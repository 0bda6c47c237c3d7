"""What two parts of one stack may not share: namespaces and ingress routes.

Kubernetes would not complain: the second declaration of ``kube-system``
simply overwrites the first (with restricted Pod Security and a quota), and
the second Ingress for a host and path silently takes its traffic. So the
stack file is refused before anything is declared, naming both keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model.config.platform import PlatformConfig

#: Namespaces Kubernetes itself owns.
RESERVED_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "default")
#: Each add-on's own namespace (``HelmAddon.NAMESPACE`` in components/; a test keeps them equal).
ADDON_NAMESPACES = {
    "certManager": "cert-manager",
    "metricsServer": "metrics-server",
    "nvidiaDevicePlugin": "nvidia-device-plugin",
    "keda": "keda",
}
JENKINS_NAMESPACE = "jenkins"


@dataclass(frozen=True)
class _Owner:
    namespace: str
    key: str
    declared: bool  # whether this stack declares the namespace (the component is on)


def _platform_namespaces(config: PlatformConfig) -> list[_Owner]:
    """Every namespace a platform component owns, with the key that names or switches it."""
    addons = config.addons
    ingress = addons.ingress_nginx is not None and addons.ingress_nginx.enabled
    registry = config.registry
    jenkins = config.jenkins is not None and config.jenkins.enabled
    owners = [
        _Owner(config.cluster.ingress_namespace, "cluster.ingressNamespace", ingress),
        _Owner(config.cluster.monitoring_namespace, "cluster.monitoringNamespace", config.monitoring is not None),
        _Owner(
            registry.namespace if registry else "platform-registry",
            "registry.namespace",
            registry is not None and registry.in_cluster,
        ),
        _Owner(JENKINS_NAMESPACE, "jenkins", jenkins),
    ]
    for key, namespace in ADDON_NAMESPACES.items():
        chart = getattr(addons, _snake(key))
        owners.append(_Owner(namespace, f"addons.{key}", chart is not None and chart.enabled))
    return owners


def namespace_problems(config: PlatformConfig) -> list[str]:
    """Services in Kubernetes' or the platform's namespaces; two platform components in one namespace."""
    owners = _platform_namespaces(config)
    problems = []
    by_namespace = {owner.namespace: owner for owner in reversed(owners)}
    for index, service in enumerate(config.services):
        namespace = service.namespace
        if namespace in RESERVED_NAMESPACES:
            problems.append(
                f"services[{index}].namespace: {namespace!r} is reserved by Kubernetes; "
                "AI services need a namespace of their own (default ai-services)"
            )
        elif namespace in by_namespace:
            problems.append(
                f"services[{index}].namespace: {namespace!r} belongs to the platform "
                f"({by_namespace[namespace].key}); AI services need a namespace of their own (default ai-services)"
            )
    declared: dict[str, _Owner] = {}
    for owner in owners:
        if not owner.declared:
            continue
        if owner.namespace in RESERVED_NAMESPACES:
            problems.append(f"{owner.key}: {owner.namespace!r} is reserved by Kubernetes")
        elif owner.namespace in declared:
            first = declared[owner.namespace]
            problems.append(f"{owner.key}: {owner.namespace!r} is already the namespace of {first.key}")
        declared.setdefault(owner.namespace, owner)
    return problems


def route_problems(config: PlatformConfig) -> list[str]:
    """Two ingresses for the same host and path: the second would silently take the first's traffic."""
    routes: list[tuple[str, str, str]] = []  # (host, path, key)
    if config.registry is not None and config.registry.in_cluster and config.registry.host is not None:
        routes.append((config.registry.host, "/", "registry.host"))
    if config.monitoring is not None and config.monitoring.grafana_host:
        routes.append((config.monitoring.grafana_host, "/", "monitoring.grafanaHost"))
    if config.jenkins is not None and config.jenkins.enabled and config.jenkins.host:
        routes.append((config.jenkins.host, "/", "jenkins.host"))
    for index, service in enumerate(config.services):
        if service.ingress is not None:
            routes.append((service.ingress.host, service.ingress.path, f"services[{index}].ingress"))
    problems = []
    seen: dict[tuple[str, str], str] = {}
    for host, path, key in routes:
        # Prefix paths: /api and /api/ are the same route.
        route = (host.lower(), path.rstrip("/") or "/")
        if route in seen:
            problems.append(f"{key}: https://{host}{path} is already routed to {seen[route]}")
        seen.setdefault(route, key)
    return problems


def _snake(camel: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in camel)

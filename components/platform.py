"""``Platform``: the whole AI platform of one environment, from one validated config.

It owns the explicit Kubernetes provider (so no resource ever lands in
whatever cluster the ambient kubeconfig points at) and composes, in the order
that matters on a fresh cluster:

1. the AI namespaces (``AiNamespace``: restricted, with quota and limits),
2. monitoring (its CRDs come before any ServiceMonitor),
3. the cluster add-ons (metrics-server before HPAs, cert-manager and its
   issuer before certificates, the ingress controller before ingresses),
4. the container registry and Jenkins,
5. one ``AiService`` per configured service,
6. the identities CI previews, checks drift and deploys with (``CiIdentities``).
"""

from __future__ import annotations

from typing import Any, TypeGuard

import pulumi
import pulumi_kubernetes as k8s
from pydantic import SecretStr

from components import registry as registry_component
from components import registry_auth
from components.addons import jenkins as jenkins_addon
from components.addons import kube_prometheus_stack
from components.addons.base import HelmAddon
from components.addons.cert_manager import CertManager
from components.addons.cluster_addons import ClusterAddons, ClusterAddonsArgs
from components.addons.dcgm_exporter import DcgmExporter
from components.addons.ingress_nginx import IngressNginx
from components.addons.jenkins import Jenkins, JenkinsArgs
from components.addons.keda import Keda
from components.addons.metrics_server import MetricsServer
from components.addons.retention import retained
from components.ai_namespace import AiNamespace, AiNamespaceArgs
from components.ai_service import HTTP_PORT_NAME, METRICS_PORT_NAME, AiService, AiServiceArgs
from components.ci_identities import CiIdentities, CiIdentitiesArgs
from components.monitoring.component import Monitoring, MonitoringArgs
from components.network import ACME_SOLVER_PORT, Backend, merge_backends
from components.priority_classes import PriorityClasses
from components.registry import ContainerRegistry, ContainerRegistryArgs
from components.registry_access import RegistryAccess, RegistryAccessArgs
from components.service_image import ServiceImage, ServiceImageArgs
from model.config import HelmChartConfig, PlatformConfig, ServiceConfig
from model.config.services import PROJECT_ROOT


class Platform(pulumi.ComponentResource):
    """Composes every platform component for one environment."""

    TYPE = "ai-platform:index:Platform"

    provider: k8s.Provider
    priority_classes: PriorityClasses
    namespaces: dict[str, AiNamespace]
    monitoring: Monitoring | None
    addons: ClusterAddons
    registry: ContainerRegistry | None
    registry_access: RegistryAccess | None
    jenkins: Jenkins | None
    services: dict[str, AiService]
    ci_identities: CiIdentities | None

    def __init__(self, name: str, config: PlatformConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        self.provider = k8s.Provider(
            f"{name}-cluster",
            context=config.cluster.context,
            render_yaml_to_directory=config.cluster.render_yaml_to_directory,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Children of this component inherit the provider.
        self._within = pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.provider})
        self._config = config

        # Before any pod names one of them.
        self.priority_classes = PriorityClasses("priority", opts=self._within)
        self.namespaces = {
            namespace: AiNamespace(
                f"ns-{namespace}",
                AiNamespaceArgs(
                    name=namespace,
                    environment=config.environment,
                    kubernetes_version=config.kubernetes_version,
                    services=[service for service in config.services if service.namespace == namespace],
                    cluster=config.cluster,
                ),
                opts=self._within,
            )
            for namespace in sorted({service.namespace for service in config.services})
        }
        self.monitoring = self._monitoring()
        self.addons = ClusterAddons(
            "addons",
            ClusterAddonsArgs(
                addons=config.addons,
                cluster=config.cluster,
                environment=config.environment,
                service_monitors=self.monitoring is not None,
                ingress_backends=self._ingress_backends(),
                gpu_services=any(service.resources.gpu for service in config.services),
            ),
            opts=self._after([self.monitoring.stack.release] if self.monitoring else []),
        )
        self.registry = self._registry()
        self.registry_access = self._registry_access()
        self.jenkins = self._jenkins()
        self.services = {service.name: self._service(service) for service in config.services}
        self.ci_identities = (
            CiIdentities("ci", CiIdentitiesArgs(config.ci_identities, config.environment), opts=self._within)
            if config.ci_identities.enabled
            else None
        )
        self.register_outputs(
            {
                "serviceUrls": {name: service.url for name, service in self.services.items()},
                "externalUrls": {name: service.external_url for name, service in self.services.items()},
                "registryHost": self.registry_access.push_host if self.registry_access else None,
                "ciServiceAccounts": self.ci_identities.service_accounts if self.ci_identities else None,
            }
        )

    def _after(self, dependencies: list[pulumi.Resource]) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions.merge(self._within, pulumi.ResourceOptions(depends_on=dependencies))

    def _monitoring(self) -> Monitoring | None:
        config = self._config
        if config.monitoring is None:
            return None
        assert config.grafana_admin_password is not None, "validated: monitoring needs grafanaAdminPassword"
        return Monitoring(
            "monitoring",
            MonitoringArgs(
                config=config.monitoring,
                environment=config.environment,
                cluster=config.cluster,
                services=config.services,
                grafana_password=_secret(config.grafana_admin_password),
                scrape_targets=self._scrape_targets(),
                prometheus_clients=(Keda.NAMESPACE,) if _on(config.addons.keda) else (),
            ),
            # ServiceMonitors and rules land in the AI namespaces.
            opts=self._after(list(self.namespaces.values())),
        )

    def _ingress_backends(self) -> tuple[Backend, ...]:
        """Every namespace an Ingress of the platform routes to: its Service's pod ports and ACME's solver."""
        config = self._config
        backends = [Backend(namespace, (HTTP_PORT_NAME, ACME_SOLVER_PORT)) for namespace in sorted(self.namespaces)]
        if config.registry is not None and config.registry.in_cluster:
            registry_ports = (registry_component.PORT, registry_auth.PORT, ACME_SOLVER_PORT)
            backends.append(Backend(config.registry.namespace, registry_ports))
        if config.monitoring is not None and config.monitoring.grafana_host:
            grafana = (kube_prometheus_stack.GRAFANA_PORT, ACME_SOLVER_PORT)
            backends.append(Backend(config.cluster.monitoring_namespace, grafana))
        if config.jenkins is not None and config.jenkins.enabled and config.jenkins.host:
            backends.append(Backend(Jenkins.NAMESPACE, (jenkins_addon.HTTP_PORT, ACME_SOLVER_PORT)))
        return merge_backends(backends)

    def _scrape_targets(self) -> tuple[Backend, ...]:
        """Every namespace outside monitoring with a ServiceMonitor, and the ports it scrapes there."""
        config = self._config
        targets = [Backend(namespace, (METRICS_PORT_NAME,)) for namespace in sorted(self.namespaces)]
        if config.registry is not None and config.registry.in_cluster:
            targets.append(Backend(config.registry.namespace, (registry_component.METRICS_PORT,)))
        addons = config.addons
        charts: list[tuple[HelmChartConfig | None, type[HelmAddon[Any]], str]] = [
            (addons.ingress_nginx, IngressNginx, config.cluster.ingress_namespace),
            (addons.cert_manager, CertManager, CertManager.NAMESPACE),
            (addons.metrics_server, MetricsServer, MetricsServer.NAMESPACE),
            (addons.keda, Keda, Keda.NAMESPACE),
        ]
        targets.extend(Backend(namespace, addon.METRICS_PORTS) for chart, addon, namespace in charts if _on(chart))
        gpu_services = any(service.resources.gpu for service in config.services)
        if gpu_services and _on(addons.nvidia_device_plugin) and _on(addons.dcgm_exporter):
            targets.append(Backend(DcgmExporter.NAMESPACE, DcgmExporter.METRICS_PORTS))
        return merge_backends(targets)

    def _registry(self) -> ContainerRegistry | None:
        """The in-cluster registry, when the stack runs one."""
        config = self._config
        if config.registry is None or not config.registry.in_cluster:
            return None
        assert config.registry_password is not None, "validated: the registry needs registryPassword"
        return ContainerRegistry(
            "registry",
            ContainerRegistryArgs(
                config=config.registry,
                environment=config.environment,
                cluster=config.cluster,
                password=_secret(config.registry_password),
            ),
            opts=self._after([*self.namespaces.values(), *self.addons.ready]),
        )

    def _registry_access(self) -> RegistryAccess | None:
        """Push credentials and pull secrets for the stack's registry, in the cluster or external."""
        registry = self._config.registry
        if registry is None or not registry.enabled:
            return None
        password = self._config.registry_password
        pull_username: str | None
        pull_password: pulumi.Output[str] | None
        if registry.external is not None:
            host, server, username = registry.external.host, registry.external.server, registry.external.username
            pull_username = registry.external.pull_username
            pull_secret = self._config.registry_pull_password
            pull_password = _secret(pull_secret) if pull_secret is not None else None
            ready: list[pulumi.Resource] = []
        else:
            assert registry.host is not None and self.registry is not None, "validated: in-cluster registry"
            host = server = registry.host
            username = registry.username
            pull_username, pull_password = self.registry.pull_username, self.registry.pull_password
            # Pushes wait for the registry and its trusted certificate.
            ready = [self.registry, self.registry.certificate]
        return RegistryAccess(
            "registry-access",
            RegistryAccessArgs(
                push_host=host,
                server=server,
                username=username,
                password=_secret(password) if password is not None and username is not None else None,
                pull_username=pull_username,
                pull_password=pull_password,
                namespaces=sorted(self.namespaces),
                ready=ready,
            ),
            opts=self._after(list(self.namespaces.values())),
        )

    def _jenkins(self) -> Jenkins | None:
        config = self._config
        if config.jenkins is None or not config.jenkins.enabled:
            return None
        assert config.jenkins_admin_password is not None, "validated: Jenkins needs jenkinsAdminPassword"
        return Jenkins(
            "jenkins",
            JenkinsArgs(
                chart=config.jenkins,
                environment=config.environment,
                # Build history and job state are data.
                protect=config.environment == "prod",
                cluster=config.cluster,
                git_credentials=config.jenkins_git_token is not None,
            ),
            admin_password=_secret(config.jenkins_admin_password),
            git_token=_secret(config.jenkins_git_token) if config.jenkins_git_token is not None else None,
            opts=pulumi.ResourceOptions.merge(self._after(self.addons.ready), retained(config.environment == "prod")),
        )

    def _image(self, service: ServiceConfig) -> pulumi.Input[str]:
        """A prebuilt reference as given, or the digest of the image built from source."""
        if service.image.ref is not None:
            return service.image.ref
        access = self.registry_access
        assert service.image.build is not None and access is not None, "validated: builds need a registry"
        image = ServiceImage(
            f"{service.name}-image",
            ServiceImageArgs(
                context=PROJECT_ROOT / service.image.build,
                repository=f"{access.push_host}/ai/{service.name}",
                registry_host=access.server,
                username=access.username,
                password=access.password,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=access.ready),
        )
        return image.image_ref

    def _service(self, service: ServiceConfig) -> AiService:
        config = self._config
        secrets = config.service_secrets.get(service.name, {})
        dependencies: list[pulumi.Resource] = [
            self.namespaces[service.namespace],
            self.priority_classes,
            *self.addons.ready,
        ]
        access = self.registry_access
        if access is not None and service.namespace in access.pull_secrets:
            dependencies.append(access.pull_secrets[service.namespace])
        return AiService(
            service.name,
            AiServiceArgs(
                service=service,
                environment=config.environment,
                cluster=config.cluster,
                image=self._image(service),
                secret_values={key: _secret(value) for key, value in secrets.items()},
                image_pull_secret=access.pull_secret_name if access is not None else None,
                kubernetes_version=config.kubernetes_version,
                services={other.name: other for other in config.services},
                prometheus_url=self.monitoring.prometheus_url if self.monitoring else None,
                keda=[self.addons.keda.release] if self.addons.keda else [],
            ),
            opts=self._after(dependencies),
        )


def _on(chart: HelmChartConfig | None) -> TypeGuard[HelmChartConfig]:
    """An add-on that the stack installs (present and enabled)."""
    return chart is not None and chart.enabled


def _secret(value: SecretStr) -> pulumi.Output[str]:
    """A validated secret from the stack file, as a Pulumi secret (never plaintext in state)."""
    return pulumi.Output.secret(value.get_secret_value())

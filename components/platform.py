"""``Platform``: the whole AI platform of one environment, from one validated config.

It owns the explicit Kubernetes provider (so no resource ever lands in
whatever cluster the ambient kubeconfig points at) and composes, in the order
that matters on a fresh cluster:

1. the AI namespaces (``AiNamespace``: restricted, with quota and limits),
2. monitoring (its CRDs come before any ServiceMonitor),
3. the cluster add-ons (metrics-server before HPAs, cert-manager and its
   issuer before certificates, the ingress controller before ingresses),
4. the container registry and Jenkins,
5. one ``AiService`` per configured service.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
from pydantic import SecretStr

from components.addons.cluster_addons import ClusterAddons, ClusterAddonsArgs
from components.addons.jenkins import Jenkins, JenkinsArgs
from components.ai_namespace import AiNamespace, AiNamespaceArgs
from components.ai_service import AiService, AiServiceArgs
from components.monitoring.component import Monitoring, MonitoringArgs
from components.registry import ContainerRegistry, ContainerRegistryArgs
from components.service_image import ServiceImage, ServiceImageArgs
from model.config import PlatformConfig, ServiceConfig
from model.config.services import PROJECT_ROOT


class Platform(pulumi.ComponentResource):
    """Composes every platform component for one environment."""

    TYPE = "ai-platform:index:Platform"

    provider: k8s.Provider
    namespaces: dict[str, AiNamespace]
    monitoring: Monitoring | None
    addons: ClusterAddons
    registry: ContainerRegistry | None
    jenkins: Jenkins | None
    services: dict[str, AiService]

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

        self.namespaces = {
            namespace: AiNamespace(
                f"ns-{namespace}",
                AiNamespaceArgs(
                    name=namespace,
                    environment=config.environment,
                    kubernetes_version=config.kubernetes_version,
                    services=[service for service in config.services if service.namespace == namespace],
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
            ),
            opts=self._after([self.monitoring.stack.release] if self.monitoring else []),
        )
        self.registry = self._registry()
        self.jenkins = self._jenkins()
        self.services = {service.name: self._service(service) for service in config.services}
        self.register_outputs(
            {
                "serviceUrls": {name: service.url for name, service in self.services.items()},
                "externalUrls": {name: service.external_url for name, service in self.services.items()},
                "registryHost": self.registry.host if self.registry else None,
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
            ),
            # ServiceMonitors and rules land in the AI namespaces.
            opts=self._after(list(self.namespaces.values())),
        )

    def _registry(self) -> ContainerRegistry | None:
        config = self._config
        if config.registry is None or not config.registry.enabled:
            return None
        assert config.registry_password is not None, "validated: the registry needs registryPassword"
        return ContainerRegistry(
            "registry",
            ContainerRegistryArgs(
                config=config.registry,
                environment=config.environment,
                cluster=config.cluster,
                password=_secret(config.registry_password),
                pull_secret_namespaces=sorted(self.namespaces),
            ),
            opts=self._after([*self.namespaces.values(), *self.addons.ready]),
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
            ),
            admin_password=_secret(config.jenkins_admin_password),
            opts=self._after(self.addons.ready),
        )

    def _image(self, service: ServiceConfig) -> pulumi.Input[str]:
        """A prebuilt reference as given, or the digest of the image built from source."""
        if service.image.ref is not None:
            return service.image.ref
        registry = self.registry
        assert service.image.build is not None and registry is not None, "validated: builds need the registry"
        image = ServiceImage(
            f"{service.name}-image",
            ServiceImageArgs(
                context=PROJECT_ROOT / service.image.build,
                repository=pulumi.Output.concat(registry.host, "/ai/", service.name),
                registry_host=registry.host,
                username=registry.username,
                password=registry.password,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[registry]),
        )
        return image.image_ref

    def _service(self, service: ServiceConfig) -> AiService:
        config = self._config
        secrets = config.service_secrets.get(service.name, {})
        dependencies: list[pulumi.Resource] = [self.namespaces[service.namespace], *self.addons.ready]
        if self.registry is not None:
            dependencies.append(self.registry.pull_secrets[service.namespace])
        return AiService(
            service.name,
            AiServiceArgs(
                service=service,
                environment=config.environment,
                cluster=config.cluster,
                image=self._image(service),
                secret_values={key: _secret(value) for key, value in secrets.items()},
                image_pull_secret=self.registry.pull_secret_name if self.registry else None,
            ),
            opts=self._after(dependencies),
        )


def _secret(value: SecretStr) -> pulumi.Output[str]:
    """A validated secret from the stack file, as a Pulumi secret (never plaintext in state)."""
    return pulumi.Output.secret(value.get_secret_value())

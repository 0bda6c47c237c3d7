"""``Platform``: the whole AI platform of one environment, from one validated config.

It owns the explicit Kubernetes provider (so no resource ever lands in
whatever cluster the ambient kubeconfig points at), the namespaces the AI
services run in (``AiNamespace``), and one ``AiService`` per configured service.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.ai_namespace import AiNamespace, AiNamespaceArgs
from components.ai_service import AiService, AiServiceArgs
from infra.config import PlatformConfig


class Platform(pulumi.ComponentResource):
    """Composes every platform component for one environment."""

    provider: k8s.Provider
    services: dict[str, AiService]
    namespaces: dict[str, AiNamespace]

    TYPE = "ai-platform:index:Platform"

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
        within = pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.provider})

        self.namespaces = {
            namespace: AiNamespace(
                f"ns-{namespace}",
                AiNamespaceArgs(
                    name=namespace,
                    environment=config.environment,
                    kubernetes_version=config.kubernetes_version,
                    services=[service for service in config.services if service.namespace == namespace],
                ),
                opts=within,
            )
            for namespace in sorted({service.namespace for service in config.services})
        }
        secrets = config.service_secrets
        self.services = {
            service.name: AiService(
                service.name,
                AiServiceArgs(
                    service=service,
                    environment=config.environment,
                    cluster=config.cluster,
                    image=service.image.ref,
                    secret_values={
                        key: pulumi.Output.secret(value.get_secret_value())
                        for key, value in secrets.get(service.name, {}).items()
                    },
                ),
                opts=pulumi.ResourceOptions.merge(
                    within, pulumi.ResourceOptions(depends_on=[self.namespaces[service.namespace]])
                ),
            )
            for service in config.services
        }
        self.register_outputs(
            {
                "serviceUrls": {name: service.url for name, service in self.services.items()},
                "externalUrls": {name: service.external_url for name, service in self.services.items()},
            }
        )

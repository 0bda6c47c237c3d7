"""``Platform``: the whole AI platform of one environment, from one validated config.

It owns the explicit Kubernetes provider (so no resource ever lands in
whatever cluster the ambient kubeconfig points at), the namespaces the AI
services run in, and one ``AiService`` per configured service.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.ai_service import AiService, AiServiceArgs
from components.kube import PART_OF
from infra.config import PlatformConfig


class Platform(pulumi.ComponentResource):
    """Composes every platform component for one environment."""

    provider: k8s.Provider
    services: dict[str, AiService]
    namespaces: dict[str, k8s.core.v1.Namespace]

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
            namespace: self._ai_namespace(namespace, config, within)
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

    @staticmethod
    def _ai_namespace(namespace: str, config: PlatformConfig, opts: pulumi.ResourceOptions) -> k8s.core.v1.Namespace:
        """AI namespaces enforce the restricted Pod Security Standard at admission."""
        return k8s.core.v1.Namespace(
            f"ns-{namespace}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=namespace,
                labels={
                    "app.kubernetes.io/part-of": PART_OF,
                    "ai-platform.io/environment": config.environment,
                    "ai-platform.io/workloads": "ai-services",
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": f"v{config.kubernetes_version}",
                    "pod-security.kubernetes.io/warn": "restricted",
                    "pod-security.kubernetes.io/audit": "restricted",
                },
            ),
            opts=opts,
        )

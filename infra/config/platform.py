"""The whole stack: cluster access, platform components and the services."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from infra.config.base import (
    CrossFieldError,
    DnsLabel,
    Environment,
    EnvVarName,
    KubernetesVersion,
    LabelKey,
    LabelValue,
    ServiceName,
    StrictModel,
)
from infra.config.services import ServiceConfig


class ClusterConfig(StrictModel):
    """How the platform reaches its cluster, and how GPU nodes are marked."""

    context: str | None = None
    """kubeconfig context; the ambient kubeconfig's current context when unset."""
    render_yaml_to_directory: str | None = None
    """Write manifests to this folder instead of applying them (no cluster needed)."""
    gpu_node_selector: dict[LabelKey, LabelValue] = Field(default_factory=lambda: {"nvidia.com/gpu.present": "true"})
    gpu_taint_key: LabelKey = "nvidia.com/gpu"
    ingress_namespace: DnsLabel = "ingress-nginx"
    monitoring_namespace: DnsLabel = "monitoring"
    ingress_class_name: DnsLabel = "nginx"
    cluster_issuer: DnsLabel = "platform-issuer"
    """cert-manager ClusterIssuer that signs the TLS certificates of ingresses."""


# --- AI services -----------------------------------------------------------


class PlatformConfig(StrictModel):
    """The validated content of one stack file's ``ai-platform:`` namespace."""

    environment: Environment
    kubernetes_version: KubernetesVersion
    cluster: ClusterConfig = ClusterConfig()
    services: list[ServiceConfig] = Field(default_factory=list)
    service_secrets: dict[ServiceName, dict[EnvVarName, SecretStr]] = Field(default_factory=dict)
    """Values of each service's ``secretEnv``; set with ``pulumi config set --secret --path``."""

    @model_validator(mode="after")
    def _services_consistent(self) -> PlatformConfig:
        problems: list[str] = []
        seen: dict[str, int] = {}
        for index, service in enumerate(self.services):
            if service.name in seen:
                problems.append(
                    f"services[{index}].name: {service.name!r} is already used by services[{seen[service.name]}]"
                )
            seen.setdefault(service.name, index)
            secrets = self.service_secrets.get(service.name, {})
            for env_name in service.secret_env:
                if env_name not in secrets:
                    problems.append(
                        f"services[{index}].secretEnv: {env_name} has no value; set it with "
                        f"`pulumi config set --secret --path 'serviceSecrets.{service.name}.{env_name}' ...`"
                    )
            unused = sorted(set(secrets) - set(service.secret_env))
            if unused:
                problems.append(
                    f"serviceSecrets.{service.name}: {', '.join(unused)} not listed in the service's secretEnv"
                )
            if service.resources.gpu and not self.cluster.gpu_node_selector:
                problems.append(
                    f"services[{index}].resources.gpu: GPU services need cluster.gpuNodeSelector to find GPU nodes"
                )
        for name in sorted(set(self.service_secrets) - set(seen)):
            problems.append(f"serviceSecrets.{name}: there is no service named {name!r}")
        if problems:
            raise CrossFieldError(problems)
        return self

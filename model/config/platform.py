"""The whole stack: cluster access, platform components and the services."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, StrictBool, StrictInt, model_validator

from ai_platform_policies.cost import DEFAULT_PRICES, Prices
from model.config.base import (
    ChartVersion,
    CrossFieldError,
    DnsLabel,
    Duration,
    Email,
    Environment,
    EnvVarName,
    Hostname,
    HttpsUrl,
    ImageRef,
    KubernetesVersion,
    LabelKey,
    LabelValue,
    Quantity,
    ServiceName,
    StrictModel,
)
from model.config.services import ServiceConfig

#: Where this repository's ``docs/runbooks/`` is browsable; every alert links ``<base>/<alert>.md``.
DEFAULT_RUNBOOK_BASE_URL = "https://github.com/example/ai-platform/blob/main/docs/runbooks"

#: CNCF Distribution, pinned by digest (docker.io/library/registry:2.8.3).
DEFAULT_REGISTRY_IMAGE = (
    "docker.io/library/registry:2.8.3@sha256:a3d8aaa63ed8681a604f1dea0aa03f100d5895b6a58ace528858a7b332415373"
)


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


class HelmChartConfig(StrictModel):
    """What every Helm add-on declares: on or off, and an exact chart version."""

    enabled: StrictBool = True
    version: ChartVersion | None = None
    """Exact chart version; required when enabled (never a range, never latest)."""
    repository: HttpsUrl | None = None
    """Chart repository; each add-on has a default."""
    timeout_seconds: Annotated[StrictInt, Field(ge=60, le=3600)] = 600
    replicas: Annotated[StrictInt, Field(ge=1, le=10)] | None = None
    """Controller replicas; each add-on sizes itself per environment when unset."""

    @model_validator(mode="after")
    def _version_when_enabled(self) -> HelmChartConfig:
        if self.enabled and self.version is None:
            raise ValueError("version is required when the add-on is enabled (pin an exact chart version)")
        return self


class IngressNginxConfig(HelmChartConfig):
    max_body_size: Annotated[str, Field(pattern=r"^[0-9]+[kmgKMG]?$")] = "2g"
    """Largest request body (model payloads, registry layers go through the registry's own limit)."""
    proxy_timeout_seconds: Annotated[StrictInt, Field(ge=1, le=3600)] = 600


class CertManagerConfig(HelmChartConfig):
    acme_email: Email | None = None
    """Registration email for ACME (staging and prod); dev uses a self-signed CA."""
    acme_server: HttpsUrl = "https://acme-v02.api.letsencrypt.org/directory"


class AddonsConfig(StrictModel):
    """Cluster add-ons; a missing one is not installed (e.g. the cluster provides it)."""

    ingress_nginx: IngressNginxConfig | None = None
    cert_manager: CertManagerConfig | None = None
    metrics_server: HelmChartConfig | None = None
    nvidia_device_plugin: HelmChartConfig | None = None
    keda: HelmChartConfig | None = None


class RegistryConfig(StrictModel):
    """The platform's own container registry (CNCF Distribution)."""

    enabled: StrictBool = True
    host: Hostname
    image: ImageRef = DEFAULT_REGISTRY_IMAGE
    namespace: DnsLabel = "platform-registry"
    storage_size: Quantity = "50Gi"
    storage_class: DnsLabel | None = None
    username: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")] = "ci"


class ReceiverConfig(StrictModel):
    name: DnsLabel
    webhook_url: HttpsUrl


class AlertingConfig(StrictModel):
    """Where alerts go: critical AI-service alerts page; everything else notifies."""

    receivers: list[ReceiverConfig] = Field(default_factory=list)
    default_receiver: DnsLabel | None = None
    critical_receiver: DnsLabel | None = None

    @model_validator(mode="after")
    def _routes_name_receivers(self) -> AlertingConfig:
        names = [receiver.name for receiver in self.receivers]
        problems = [
            f"{key}: no receiver named {value!r}"
            for key, value in (("defaultReceiver", self.default_receiver), ("criticalReceiver", self.critical_receiver))
            if value is not None and value not in names
        ]
        if len(set(names)) != len(names):
            problems.append("receivers: names must be unique")
        if problems:
            raise CrossFieldError(problems)
        return self


class MonitoringConfig(StrictModel):
    """Prometheus, Alertmanager and Grafana (kube-prometheus-stack)."""

    kube_prometheus_stack: HelmChartConfig
    retention: Duration = "15d"
    storage_size: Quantity = "50Gi"
    grafana_host: Hostname | None = None
    grafana_storage_size: Quantity = "10Gi"
    alerting: AlertingConfig = AlertingConfig()
    runbook_base_url: HttpsUrl = DEFAULT_RUNBOOK_BASE_URL
    """Base URL of the runbooks (this repository's ``docs/runbooks/``, e.g. on your Git host)."""


class JenkinsConfig(HelmChartConfig):
    """Jenkins (jenkinsci chart) with configuration as code."""

    host: Hostname | None = None
    storage_size: Quantity = "20Gi"
    repository_url: HttpsUrl | None = None
    """Git repository of this project; a multibranch job runs its Jenkinsfile."""
    agent_image: ImageRef = "docker.io/pulumi/pulumi-python:3.140.0"


Price = Annotated[float, Field(ge=0)]


class PricingConfig(StrictModel):
    """What capacity costs in this environment, for the `cost` report and pull-request diffs.

    The defaults are the cost model's typical on-demand list prices. The budget
    policy does not read these (a pull request could lower them): it prices
    with the policy pack's own per-environment config.
    """

    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = DEFAULT_PRICES["currency"]
    vcpu_hour: Price = DEFAULT_PRICES["vcpuHour"]
    memory_gib_hour: Price = DEFAULT_PRICES["memoryGibHour"]
    gpu_hour: dict[LabelValue, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES["gpuHour"]))
    """Per GPU and hour, by the GPU type services name in ``resources.gpuType``."""
    storage_gib_month: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES["storageGibMonth"]))
    """Per GiB and month, by storage class (``default`` for unnamed classes)."""
    hours_per_month: Annotated[float, Field(gt=0, le=744)] = DEFAULT_PRICES["hoursPerMonth"]

    def to_prices(self) -> Prices:
        return Prices.from_mapping(self.model_dump(by_alias=True))


class PlatformConfig(StrictModel):
    """The validated content of one stack file's ``ai-platform:`` namespace."""

    environment: Environment
    kubernetes_version: KubernetesVersion
    cluster: ClusterConfig = ClusterConfig()
    addons: AddonsConfig = AddonsConfig()
    registry: RegistryConfig | None = None
    monitoring: MonitoringConfig | None = None
    jenkins: JenkinsConfig | None = None
    pricing: PricingConfig = PricingConfig()
    services: list[ServiceConfig] = Field(default_factory=list)
    registry_password: SecretStr | None = None
    grafana_admin_password: SecretStr | None = None
    jenkins_admin_password: SecretStr | None = None
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
        problems.extend(self._platform_problems())
        if problems:
            raise CrossFieldError(problems)
        return self

    def _platform_problems(self) -> list[str]:
        problems = []
        needs = (
            (self.registry is not None and self.registry.enabled, "registryPassword", self.registry_password),
            (self.monitoring is not None, "grafanaAdminPassword", self.grafana_admin_password),
            (self.jenkins is not None and self.jenkins.enabled, "jenkinsAdminPassword", self.jenkins_admin_password),
        )
        for needed, key, value in needs:
            if needed and value is None:
                problems.append(f"{key}: is required; set it with `pulumi config set --secret {key} ...`")
        issuer = self.addons.cert_manager
        if issuer is not None and issuer.enabled and self.environment != "dev" and issuer.acme_email is None:
            problems.append(f"addons.certManager.acmeEmail: is required in {self.environment} (ACME registration)")
        registry = self.registry is not None and self.registry.enabled
        for index, service in enumerate(self.services):
            if service.image.build is not None and not registry:
                problems.append(f"services[{index}].image.build: building images needs the platform `registry`")
        for index, service in enumerate(self.services):
            if service.resources.gpu and service.resources.gpu_type not in self.pricing.gpu_hour:
                priced = ", ".join(sorted(self.pricing.gpu_hour))
                problems.append(
                    f"services[{index}].resources.gpuType: {service.resources.gpu_type!r} has no price in "
                    f"pricing.gpuHour (priced: {priced})"
                )
        gpu = any(service.resources.gpu for service in self.services)
        plugin = self.addons.nvidia_device_plugin
        if gpu and plugin is not None and not plugin.enabled:
            problems.append("addons.nvidiaDevicePlugin.enabled: GPU services need the device plugin")
        return problems

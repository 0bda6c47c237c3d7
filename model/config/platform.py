"""The whole stack: cluster access, platform components and the services."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr, StrictBool, StrictInt, model_validator

from ai_platform_policies.cost import DEFAULT_PRICES, Prices
from model.config.base import (
    ChartVersion,
    Cidr,
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
from model.config.collisions import namespace_problems, route_problems
from model.config.services import ServiceConfig
from model.flavors import FLAVORS, ClusterFlavor

#: Where this repository's ``docs/runbooks/`` is browsable; every alert links ``<base>/<alert>.md``.
DEFAULT_RUNBOOK_BASE_URL = "https://github.com/example/ai-platform/blob/main/docs/runbooks"

#: CNCF Distribution, pinned by digest (docker.io/library/registry:2.8.3).
DEFAULT_REGISTRY_IMAGE = (
    "docker.io/library/registry:2.8.3@sha256:a3d8aaa63ed8681a604f1dea0aa03f100d5895b6a58ace528858a7b332415373"
)


#: The label node-feature-discovery sets on nodes with an NVIDIA PCI device (vendor 0x10de), as the device
#: plugin chart configures NFD (``deviceLabelFields: [vendor]``); NFD comes with the chart's GPU feature
#: discovery. ``nvidia.com/gpu.present`` is set only by the GPU Operator (see docs: GPU nodes).
NVIDIA_PCI_LABEL = "feature.node.kubernetes.io/pci-10de.present"


class GpuSharingConfig(StrictModel):
    """CUDA time-slicing: the device plugin advertises each physical GPU as ``replicas`` ``nvidia.com/gpu``.

    Pods on one GPU take turns on its compute and share its memory with no isolation: one pod can
    exhaust the memory of the others, and a fault in one can affect them all.
    """

    replicas: Annotated[StrictInt, Field(ge=2, le=64)]
    """How many pods share one physical GPU (each requests ``gpu: 1``); 2 to 64."""


class ClusterConfig(StrictModel):
    """How the platform reaches its cluster, and how GPU nodes are marked."""

    context: str | None = None
    """kubeconfig context; required outside dev (unless rendering YAML), so nothing lands in the ambient one."""
    render_yaml_to_directory: str | None = None
    """Write manifests to this folder instead of applying them (no cluster needed)."""
    flavor: ClusterFlavor = "generic"
    """Kind of cluster (eks, gke, aks, kubeadm, k3s, kind, generic): what Prometheus may scrape of the
    control plane, and whether the cluster already runs a metrics-server (``model/flavors.py``)."""
    gpu_node_selector: dict[LabelKey, LabelValue] = Field(default_factory=lambda: {NVIDIA_PCI_LABEL: "true"})
    """Node labels that mark GPU nodes; GPU services and the device plugin run there. The default,
    `feature.node.kubernetes.io/pci-10de.present: "true"`, is set by the node-feature-discovery the device
    plugin add-on installs; any other label must be put on the nodes another way."""
    gpu_taint_key: LabelKey = "nvidia.com/gpu"
    """Taint key GPU nodes carry; only GPU services (and the GPU add-ons' node agents) tolerate it."""
    gpu_sharing: GpuSharingConfig | None = None
    """Time-slice each GPU between several pods (`{replicas: N}`); no memory isolation between them."""
    ingress_namespace: DnsLabel = "ingress-nginx"
    """Namespace of the ingress controller; AI services admit traffic from it."""
    monitoring_namespace: DnsLabel = "monitoring"
    """Namespace of Prometheus and Grafana; AI services admit scrapes from it."""
    ingress_class_name: DnsLabel = "nginx"
    """IngressClass every ingress of the platform uses."""
    cluster_issuer: DnsLabel = "platform-issuer"
    """cert-manager ClusterIssuer that signs the TLS certificates of ingresses."""
    api_server_cidrs: Annotated[list[Cidr], Field(min_length=1)] = Field(default_factory=lambda: ["0.0.0.0/0"])
    """Where the Kubernetes API server's endpoints are (NetworkPolicy ipBlocks for operators' API calls on TCP
    443/6443 and for webhook calls from the API server). Default `0.0.0.0/0` (any address): narrow it to the
    control plane's addresses (`kubectl get endpoints kubernetes`)."""
    node_cidrs: Annotated[list[Cidr], Field(min_length=1)] = Field(default_factory=lambda: ["0.0.0.0/0"])
    """Where the nodes are: Prometheus scrapes kubelets and node-exporter there, metrics-server reads kubelets.
    Default `0.0.0.0/0` (any address): narrow it to the node subnets."""


class HelmChartConfig(StrictModel):
    """What every Helm add-on declares: on or off, and an exact chart version."""

    enabled: StrictBool = True
    """Install the add-on; `false` is the same as leaving the key out."""
    version: ChartVersion | None = None
    """Exact chart version; required when enabled (never a range, never latest)."""
    repository: HttpsUrl | None = None
    """Chart repository; each add-on has a default."""
    timeout_seconds: Annotated[StrictInt, Field(ge=60, le=3600)] = 600
    """How long Helm waits for the release to become ready (60 to 3600)."""
    replicas: Annotated[StrictInt, Field(ge=1, le=10)] | None = None
    """Controller replicas; each add-on sizes itself per environment when unset."""

    @model_validator(mode="after")
    def _version_when_enabled(self) -> HelmChartConfig:
        if self.enabled and self.version is None:
            raise ValueError("version is required when the add-on is enabled (pin an exact chart version)")
        return self


class IngressNginxConfig(HelmChartConfig):
    """ingress-nginx: the chart, and how it proxies requests to AI services."""

    max_body_size: Annotated[str, Field(pattern=r"^[0-9]+[kmgKMG]?$")] = "2g"
    """Largest request body (model payloads, registry layers go through the registry's own limit)."""
    proxy_timeout_seconds: Annotated[StrictInt, Field(ge=1, le=3600)] = 600
    """Read and send timeout of the proxy, in seconds (long model calls)."""
    trusted_proxy_cidrs: list[Cidr] = Field(default_factory=list)
    """L7 proxies or CDNs in front of the load balancer whose `X-Forwarded-*` headers are believed; empty (the
    default, an L4 load balancer) ignores those headers, so clients cannot spoof their address."""
    hsts_max_age_seconds: Annotated[StrictInt, Field(ge=0, le=63072000)] = 31536000
    """How long browsers remember to use HTTPS only (HSTS `max-age`, default one year)."""


class CertManagerConfig(HelmChartConfig):
    """cert-manager: the chart, and the ACME account of the ClusterIssuer outside dev."""

    acme_email: Email | None = None
    """Registration email for ACME (staging and prod); dev uses a self-signed CA."""
    acme_server: HttpsUrl = "https://acme-v02.api.letsencrypt.org/directory"
    """ACME directory URL (Let's Encrypt production by default)."""


class AddonsConfig(StrictModel):
    """Cluster add-ons; a missing one is not installed (e.g. the cluster provides it)."""

    ingress_nginx: IngressNginxConfig | None = None
    """ingress-nginx: the platform's only LoadBalancer and its IngressClass."""
    cert_manager: CertManagerConfig | None = None
    """cert-manager with the platform's ClusterIssuer (TLS for every ingress)."""
    metrics_server: HelmChartConfig | None = None
    """metrics-server: resource metrics for every HPA."""
    nvidia_device_plugin: HelmChartConfig | None = None
    """NVIDIA device plugin on GPU nodes; required by GPU services."""
    keda: HelmChartConfig | None = None
    """KEDA: request-rate autoscaling."""
    dcgm_exporter: HelmChartConfig = HelmChartConfig(version="4.8.2")
    """NVIDIA's DCGM exporter (GPU metrics), installed whenever a GPU service runs with the device plugin."""


def _pinned_image(value: str) -> str:
    if "@sha256:" not in value or ":" not in value.split("@", 1)[0].rsplit("/", 1)[-1]:
        raise ValueError(
            f"{value!r} must be pinned as name:tag@sha256:<digest> (the tag says what, the digest fixes it)"
        )
    return value


#: An image reference with both a tag and a digest: ``name:tag@sha256:<64 hex>``.
PinnedImageRef = Annotated[ImageRef, AfterValidator(_pinned_image)]


RegistryHost = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*$",
        max_length=200,
    ),
]


class ExternalRegistryConfig(StrictModel):
    """A registry the platform does not run: a cloud registry, Harbor, or kind's/minikube's local registry."""

    host: RegistryHost
    """Registry host, optionally with a port and a path prefix: ``ghcr.io/example``, ``localhost:5001``."""
    username: Annotated[str, Field(pattern=r"^[A-Za-z0-9._@-]{1,128}$")] | None = None
    """Push user of image builds (password in the ``registryPassword`` secret); unset for an open local registry."""
    pull_username: Annotated[str, Field(pattern=r"^[A-Za-z0-9._@-]{1,128}$")] | None = None
    """Pull-only user of the AI namespaces' pull secrets (password in ``registryPullPassword``)."""
    pull_with_node_identity: StrictBool = False
    """The nodes pull with their own identity (a cloud node role): no pull secret; instead of `pullUsername`."""

    @model_validator(mode="after")
    def _pull_identity(self) -> ExternalRegistryConfig:
        problems = []
        if self.pull_username is not None and self.pull_username == self.username:
            problems.append("pullUsername: must differ from username (the push credential never reaches a node)")
        if self.pull_username is not None and self.pull_with_node_identity:
            problems.append("pullWithNodeIdentity: set either it or pullUsername, not both")
        if self.username is not None and self.pull_username is None and not self.pull_with_node_identity:
            problems.append(
                "pullUsername: is required for a private registry (username is set): a pull-only user, with the "
                "secret `registryPullPassword`, for the AI namespaces' pull secrets; or set "
                "`pullWithNodeIdentity: true` when the nodes pull with their own identity (a cloud node role)"
            )
        if problems:
            raise CrossFieldError(problems)
        return self

    @property
    def server(self) -> str:
        """The host[:port] Docker logs in to (without the path prefix)."""
        return self.host.split("/", 1)[0]


class RegistryConfig(StrictModel):
    """Where service images live: the platform's own registry (CNCF Distribution) or an external one."""

    enabled: StrictBool = True
    """Run the registry; `false` is the same as leaving the key out."""
    external: ExternalRegistryConfig | None = None
    """Use this registry instead of running one in the cluster."""
    host: Hostname | None = None
    """Public host of the in-cluster registry; it must resolve to the ingress controller's load balancer."""
    image: ImageRef = DEFAULT_REGISTRY_IMAGE
    """CNCF Distribution image, pinned by digest."""
    namespace: DnsLabel = "platform-registry"
    """Namespace of the registry."""
    storage_size: Quantity = "50Gi"
    """Size of the registry's volume (a Kubernetes quantity)."""
    storage_class: DnsLabel | None = None
    """StorageClass of the registry's volume; the cluster default when unset."""
    username: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")] = "ci"
    """User that pushes (CI, image builds); the password is the secret `registryPassword`."""
    pull_username: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")] = "cluster-pull"
    """Pull-only user of the AI namespaces' pull secrets; its password is generated and kept in state."""
    auth_image: PinnedImageRef | None = None
    """Token server granting each user its access (cesanta/docker_auth, `name:tag@sha256:...`); required with `host`."""
    max_upload_size: Annotated[str, Field(pattern=r"^[1-9][0-9]*[kmgKMG]?$")] = "10g"
    """Largest request body the ingress accepts for the registry (one image layer per upload), e.g. 10g."""
    upload_timeout_seconds: Annotated[StrictInt, Field(ge=60, le=3600)] = 900
    """Read and send timeout of the registry's ingress, in seconds (slow layer uploads)."""

    @model_validator(mode="after")
    def _one_registry(self) -> RegistryConfig:
        if self.enabled and (self.external is None) == (self.host is None):
            raise ValueError("set exactly one of 'host' (run a registry in the cluster) or 'external'")
        problems = []
        if self.in_cluster and self.auth_image is None:
            problems.append(
                "authImage: is required for the in-cluster registry (an image pinned as name:tag@sha256:<digest>)"
            )
        if self.username == self.pull_username:
            problems.append("pullUsername: must differ from username (one user pushes, the other only pulls)")
        if problems:
            raise CrossFieldError(problems)
        return self

    @property
    def in_cluster(self) -> bool:
        return self.enabled and self.external is None

    @property
    def push_host(self) -> str | None:
        """Where images are pushed: ``host[:port][/prefix]``."""
        if not self.enabled:
            return None
        return self.external.host if self.external is not None else self.host

    @property
    def needs_password(self) -> bool:
        return self.in_cluster or (self.external is not None and self.external.username is not None)


class ReceiverConfig(StrictModel):
    """One Alertmanager webhook receiver."""

    name: DnsLabel
    """Receiver name that routes refer to."""
    webhook_url: HttpsUrl
    """HTTPS webhook Alertmanager posts alerts to."""


class AlertingConfig(StrictModel):
    """Where alerts go: critical AI-service alerts page; everything else notifies."""

    receivers: list[ReceiverConfig] = Field(default_factory=list)
    """Alertmanager webhook receivers."""
    default_receiver: DnsLabel | None = None
    """Receiver of every alert not routed elsewhere."""
    critical_receiver: DnsLabel | None = None
    """Receiver of critical AI-service alerts (paging)."""

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
    """The kube-prometheus-stack chart: version and Helm settings."""
    retention: Duration = "15d"
    """How long Prometheus keeps metrics (a Prometheus duration such as 15d)."""
    storage_size: Quantity = "50Gi"
    """Size of Prometheus' volume."""
    grafana_host: Hostname | None = None
    """Host name Grafana is served on (TLS); no ingress when unset."""
    grafana_storage_size: Quantity = "10Gi"
    """Size of Grafana's volume."""
    alerting: AlertingConfig = AlertingConfig()
    """Where alerts go."""
    runbook_base_url: HttpsUrl = DEFAULT_RUNBOOK_BASE_URL
    """Base URL of the runbooks (this repository's ``docs/runbooks/``, e.g. on your Git host)."""


#: A git remote over HTTPS, safe to place in a Groovy string and in JCasC: no quotes, backslashes,
#: whitespace, ``$`` or braces (JCasC resolves ``${...}``, Helm's ``tpl`` ``{{...}}``).
GitHttpsUrl = Annotated[
    str,
    Field(pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%+@-]+)+/?$", max_length=500),
]


class JenkinsConfig(HelmChartConfig):
    """Jenkins (jenkinsci chart) with configuration as code."""

    host: Hostname | None = None
    """Host name Jenkins is served on (TLS); no ingress when unset."""
    storage_size: Quantity = "20Gi"
    """Size of the Jenkins home volume."""
    repository_url: GitHttpsUrl | None = None
    """Git repository of this project (https only); a multibranch job runs its Jenkinsfile."""
    git_username: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")] = "x-access-token"
    """User of the `git` credential (with the secret `jenkinsGitToken`); any name works with a GitHub token."""
    agent_image: PinnedImageRef | None = None
    """Build agents' image, Python and a Pulumi CLI at least as new as the SDK (`name:tag@sha256:...`); required."""
    docker_image: PinnedImageRef | None = None
    """Rootless Docker daemon beside each agent (docker:<version>-dind-rootless, `name:tag@sha256:...`); required."""

    @model_validator(mode="after")
    def _agent_images_when_enabled(self) -> JenkinsConfig:
        missing = [
            key for key, value in (("agentImage", self.agent_image), ("dockerImage", self.docker_image)) if not value
        ]
        if self.enabled and missing:
            raise CrossFieldError(
                [f"{key}: is required (an image pinned as name:tag@sha256:<digest>)" for key in missing]
            )
        return self


class CiIdentitiesConfig(StrictModel):
    """Kubernetes identities for CI in this environment's cluster (``components/ci_identities.py``)."""

    enabled: StrictBool = True
    """Declare the identities (a read-only previewer, a drift reader and the deployer)."""
    namespace: DnsLabel = "ci-identities"
    """Namespace of the identities' ServiceAccounts."""
    long_lived_tokens: StrictBool = True
    """A token Secret per identity, for kubeconfigs outside the cluster (GitHub, Jenkins); turn off where
    CI gets short-lived tokens another way (e.g. the API server trusts the CI's OIDC issuer)."""


Price = Annotated[float, Field(ge=0)]


class PricingConfig(StrictModel):
    """What capacity costs in this environment, for the `cost` report and pull-request diffs.

    The defaults are the cost model's typical on-demand list prices. The budget
    policy does not read these (a pull request could lower them): it prices
    with the policy pack's own per-environment config.
    """

    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = DEFAULT_PRICES["currency"]
    """ISO 4217 code of every price, e.g. USD."""
    vcpu_hour: Price = DEFAULT_PRICES["vcpuHour"]
    """Price of one requested vCPU for an hour."""
    memory_gib_hour: Price = DEFAULT_PRICES["memoryGibHour"]
    """Price of one requested GiB of memory for an hour."""
    gpu_hour: dict[LabelValue, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES["gpuHour"]))
    """Per GPU and hour, by the GPU type services name in ``resources.gpuType``."""
    storage_gib_month: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES["storageGibMonth"]))
    """Per GiB and month, by storage class (``default`` for unnamed classes)."""
    hours_per_month: Annotated[float, Field(gt=0, le=744)] = DEFAULT_PRICES["hoursPerMonth"]
    """Hours in a billed month."""

    def to_prices(self) -> Prices:
        return Prices.from_mapping(self.model_dump(by_alias=True))


class PlatformConfig(StrictModel):
    """The validated content of one stack file's ``ai-platform:`` namespace."""

    environment: Environment
    """Which environment this stack is: dev, staging or prod (sets defaults and strictness)."""
    kubernetes_version: KubernetesVersion
    """Kubernetes "major.minor" the manifests are validated against; quote it ("1.30", not 1.30)."""
    cluster: ClusterConfig = ClusterConfig()
    """How the platform reaches its cluster, and how GPU nodes are marked."""
    addons: AddonsConfig = AddonsConfig()
    """Cluster add-ons; an add-on left out is not installed."""
    registry: RegistryConfig | None = None
    """The platform's container registry; needed to build images from source."""
    monitoring: MonitoringConfig | None = None
    """Prometheus, Alertmanager and Grafana; none when left out."""
    jenkins: JenkinsConfig | None = None
    """Jenkins for CI/CD; none when left out."""
    ci_identities: CiIdentitiesConfig = CiIdentitiesConfig()
    """Identities CI uses against this cluster: a read-only previewer, a drift reader, the deployer."""
    pricing: PricingConfig = PricingConfig()
    """Prices for the cost report and pull-request diffs."""
    services: list[ServiceConfig] = Field(default_factory=list)
    """The AI microservices, one entry each."""
    registry_password: SecretStr | None = None
    """Password of the registry's push user (secret); required with `registry`."""
    registry_pull_password: SecretStr | None = None
    """Password of an external registry's `pullUsername` (secret); required with it, refused without."""
    grafana_admin_password: SecretStr | None = None
    """Grafana admin password (secret); required with `monitoring`."""
    jenkins_admin_password: SecretStr | None = None
    """Jenkins admin password (secret); required with `jenkins`."""
    jenkins_git_token: SecretStr | None = None
    """Token Jenkins clones `jenkins.repositoryUrl` with (secret); without it the repository must be public."""
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
        for index, service in enumerate(self.services):
            for rule_index, rule in enumerate(service.egress):
                if rule.service is not None and rule.service not in seen:
                    problems.append(
                        f"services[{index}].egress[{rule_index}].service: there is no service named {rule.service!r}"
                    )
                elif rule.service == service.name:
                    problems.append(f"services[{index}].egress[{rule_index}].service: a service need not allow itself")
        for name in sorted(set(self.service_secrets) - set(seen)):
            problems.append(f"serviceSecrets.{name}: there is no service named {name!r}")
        problems.extend(self._platform_problems())
        if problems:
            raise CrossFieldError(problems)
        return self

    def _registry_secret_problems(self) -> list[str]:
        """The registry's secrets: what bcrypt can hash, and a pull password only with a pull user."""
        problems = []
        registry = self.registry
        password = self.registry_password
        if registry is not None and registry.in_cluster and password and len(password.get_secret_value().encode()) > 72:
            # bcrypt 5 refuses longer passwords (older versions silently ignored the rest).
            problems.append(
                "registryPassword: is longer than 72 bytes, the most bcrypt (the token server's hash) reads"
            )
        external = registry.external if registry is not None and registry.enabled else None
        pull_user = external.pull_username if external is not None else None
        if pull_user is not None and self.registry_pull_password is None:
            problems.append(
                "registryPullPassword: is required with registry.external.pullUsername; set it with "
                "`pulumi config set --secret registryPullPassword ...`"
            )
        if pull_user is None and self.registry_pull_password is not None:
            problems.append("registryPullPassword: is only used with registry.external.pullUsername; remove it")
        return problems

    def _platform_problems(self) -> list[str]:
        problems = []
        registry = self.registry
        needs = (
            (
                registry is not None and registry.enabled and registry.needs_password,
                "registryPassword",
                self.registry_password,
            ),
            (self.monitoring is not None, "grafanaAdminPassword", self.grafana_admin_password),
            (self.jenkins is not None and self.jenkins.enabled, "jenkinsAdminPassword", self.jenkins_admin_password),
        )
        for needed, key, value in needs:
            if needed and value is None:
                problems.append(f"{key}: is required; set it with `pulumi config set --secret {key} ...`")
        problems.extend(self._registry_secret_problems())
        issuer = self.addons.cert_manager
        if issuer is not None and issuer.enabled and self.environment != "dev" and issuer.acme_email is None:
            problems.append(f"addons.certManager.acmeEmail: is required in {self.environment} (ACME registration)")
        problems.extend(self._image_problems())
        problems.extend(self._autoscaling_problems())
        for index, service in enumerate(self.services):
            if service.resources.gpu and service.resources.gpu_type not in self.pricing.gpu_hour:
                priced = ", ".join(sorted(self.pricing.gpu_hour))
                problems.append(
                    f"services[{index}].resources.gpuType: {service.resources.gpu_type!r} has no price in "
                    f"pricing.gpuHour (priced: {priced})"
                )
        metrics_server = self.addons.metrics_server
        bundled = FLAVORS[self.cluster.flavor].bundled_metrics_server
        if metrics_server is not None and metrics_server.enabled and bundled:
            problems.append(
                f"addons.metricsServer: a {self.cluster.flavor} cluster runs its own metrics-server ({bundled}); "
                "a second one collides on APIService v1beta1.metrics.k8s.io: leave addons.metricsServer out"
            )
        sharing = self.cluster.gpu_sharing
        if sharing is not None:
            problems.extend(
                f"services[{index}].resources.gpu: {service.resources.gpu} time-sliced GPUs are no faster than one "
                f"(cluster.gpuSharing shares each GPU {sharing.replicas} ways); request 1"
                for index, service in enumerate(self.services)
                if service.resources.gpu > 1
            )
        plugin = self.addons.nvidia_device_plugin
        if plugin is None or not plugin.enabled:
            state = "absent" if plugin is None else "disabled"
            problems.extend(
                f"services[{index}].resources.gpu: GPU services need the NVIDIA device plugin "
                f"(addons.nvidiaDevicePlugin is {state}); without it no node offers nvidia.com/gpu"
                for index, service in enumerate(self.services)
                if service.resources.gpu
            )
        cluster = self.cluster
        if self.environment != "dev" and cluster.context is None and cluster.render_yaml_to_directory is None:
            problems.append(
                f"cluster.context: is required in {self.environment}: name the kubeconfig context, so nothing is "
                "ever applied to whichever context happens to be current"
            )
        problems.extend(namespace_problems(self))
        problems.extend(route_problems(self))
        if self.cluster.render_yaml_to_directory is not None and self._helm_releases():
            problems.append(
                "cluster.renderYamlToDirectory: cannot render while Helm add-ons are enabled "
                f"({', '.join(self._helm_releases())}): pulumi-kubernetes hands a helm.v3.Release to Helm before it "
                "checks render mode (it installs into a reachable cluster, or fails), and switching the option on "
                "replaces the provider and so every resource. Use `python -m infra.offline render` for manifests"
            )
        return problems

    def _autoscaling_problems(self) -> list[str]:
        """Load-based autoscaling runs on KEDA and the platform's Prometheus; waking from zero on the ingress."""
        problems = []
        keda = self.addons.keda is not None and self.addons.keda.enabled
        ingress = self.addons.ingress_nginx is not None and self.addons.ingress_nginx.enabled
        for index, service in enumerate(self.services):
            scaling = service.autoscaling
            if scaling is None or not scaling.uses_keda:
                continue
            where = f"services[{index}].autoscaling"
            if not keda:
                problems.append(f"{where}.metric: {scaling.metric} scales with KEDA; enable `addons.keda`")
            if self.monitoring is None:
                problems.append(f"{where}.metric: {scaling.metric} is read from the platform's Prometheus; "
                                "configure `monitoring`")  # fmt: skip
            if scaling.min_replicas == 0 and (service.ingress is None or not ingress):
                problems.append(
                    f"{where}.minReplicas: a service scaled to zero wakes on requests counted by the ingress "
                    "controller; give it an `ingress` and enable `addons.ingressNginx`"
                )
        return problems

    def _helm_releases(self) -> list[str]:
        charts = {
            "addons.ingressNginx": self.addons.ingress_nginx,
            "addons.certManager": self.addons.cert_manager,
            "addons.metricsServer": self.addons.metrics_server,
            "addons.nvidiaDevicePlugin": self.addons.nvidia_device_plugin,
            "addons.keda": self.addons.keda,
            "jenkins": self.jenkins,
            "monitoring.kubePrometheusStack": self.monitoring.kube_prometheus_stack if self.monitoring else None,
        }
        return [key for key, chart in charts.items() if chart is not None and chart.enabled]

    def _image_problems(self) -> list[str]:
        """Every image a first `pulumi up` deploys must be pullable when its pods start."""
        problems = []
        registry = self.registry
        push_host = registry.push_host if registry is not None else None
        in_cluster = registry is not None and registry.in_cluster
        for index, service in enumerate(self.services):
            if service.image.build is not None:
                if push_host is None:
                    problems.append(
                        f"services[{index}].image.build: building images needs a `registry` (in the cluster or "
                        "`registry.external`)"
                    )
                elif in_cluster and self.environment == "dev":
                    problems.append(
                        f"services[{index}].image.build: the in-cluster registry's certificate in dev comes from the "
                        "self-signed dev CA, which neither Docker (pushing) nor the kubelets (pulling) trust; use "
                        "`registry.external` (for example kind's or minikube's local registry on localhost:5001)"
                    )
                elif in_cluster and (self.addons.cert_manager is None or not self.addons.cert_manager.enabled):
                    problems.append(
                        f"services[{index}].image.build: the in-cluster registry needs a publicly trusted certificate "
                        "from cert-manager (`addons.certManager`) before images can be pushed to it"
                    )
            if (
                service.image.ref is not None
                and in_cluster
                and registry is not None
                and registry.host is not None
                and service.image.ref.split("/", 1)[0] == registry.host
            ):
                problems.append(
                    f"services[{index}].image.ref: {registry.host} is the registry this stack creates, and it is empty "
                    "on a first `pulumi up`, so the pods could never pull it; build the image from source "
                    "(`image.build`) or reference it in a registry that already holds it"
                )
        return problems

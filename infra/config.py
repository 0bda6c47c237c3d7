"""Typed, validated stack configuration.

Everything under the ``ai-platform:`` namespace of a stack file is parsed into
these frozen pydantic models before a single resource is declared. Components
receive these objects; they never read Pulumi config themselves.

The models carry the domain rules (Kubernetes quantities, DNS names, image
references, ports, replica bounds) so that a bad stack file fails with the key
that holds the problem. See ``infra.stack_config`` for how raw Pulumi config is
turned into a ``PlatformConfig`` and how errors are reported.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StrictInt,
    model_validator,
)
from pydantic.alias_generators import to_camel

from infra.quantity import QuantityError, parse_quantity

PROJECT = "ai-platform"

#: Kubernetes minor versions whose API schemas the offline check validates
#: against (1.25 ... 1.37); the components only use APIs GA in all of them.
SUPPORTED_KUBERNETES_MINORS = range(25, 38)

Environment = Literal["dev", "staging", "prod"]


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, values immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        alias_generator=to_camel,
        validate_default=True,
    )


# --- value types -----------------------------------------------------------

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL_KEY_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# An OCI image reference: [registry[:port]/]repository[:tag][@sha256:digest]
_IMAGE_REF = re.compile(
    r"^(?P<name>(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label (lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters)"
        )
    return value


def _service_name(value: str) -> str:
    if len(value) > 63 or not _DNS_1035_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a valid service name (DNS-1035 label: lower-case letters, digits "
            "and '-', starting with a letter, ending with a letter or digit, at most 63 characters)"
        )
    return value


def _hostname(value: str) -> str:
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise ValueError(f"{value!r} is not a DNS hostname (for example classify.example.com)")
    return value


def _env_var_name(value: str) -> str:
    if not _ENV_VAR_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid environment variable name (letters, digits and '_', not starting with a digit)"
        )
    return value


def _label_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    if (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix))) or (
        len(name) > 63 or not _LABEL_KEY_NAME.match(name)
    ):
        raise ValueError(f"{value!r} is not a Kubernetes label key")
    return value


def _label_value(value: str) -> str:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes label value")
    return value


def _image_ref(value: str) -> str:
    if len(value) > 255 or not _IMAGE_REF.match(value):
        raise ValueError(
            f"{value!r} is not an image reference (expected [registry/]repository[:tag][@sha256:<64 hex>])"
        )
    return value


def _quantity_text(value: object) -> object:
    """Accept YAML numbers (``cpu: 2``) as quantities; refuse booleans."""
    if isinstance(value, bool):
        raise ValueError("expected a Kubernetes quantity, got a boolean")
    if isinstance(value, int | float):
        return format(Decimal(str(value)), "f")
    return value


def _positive_quantity(value: str) -> str:
    try:
        amount = parse_quantity(value)
    except QuantityError as error:
        raise ValueError(str(error)) from None
    if amount <= 0:
        raise ValueError(f"{value!r} must be greater than zero")
    return value


def _env_value(value: object) -> object:
    """Kubernetes env values are strings; YAML scalars are spelled as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _kubernetes_version(value: str) -> str:
    match = re.fullmatch(r"1\.(0|[1-9][0-9]*)", value)
    if match is None:
        raise ValueError(f"{value!r} is not a Kubernetes 'major.minor' version such as \"1.31\"")
    minor = int(match.group(1))
    if minor not in SUPPORTED_KUBERNETES_MINORS:
        first, last = SUPPORTED_KUBERNETES_MINORS[0], SUPPORTED_KUBERNETES_MINORS[-1]
        raise ValueError(f"Kubernetes {value} is not supported (supported: 1.{first} to 1.{last})")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
ServiceName = Annotated[str, AfterValidator(_service_name)]
Hostname = Annotated[str, AfterValidator(_hostname)]
EnvVarName = Annotated[str, AfterValidator(_env_var_name)]
LabelKey = Annotated[str, AfterValidator(_label_key)]
LabelValue = Annotated[str, AfterValidator(_label_value)]
ImageRef = Annotated[str, AfterValidator(_image_ref)]
Quantity = Annotated[str, BeforeValidator(_quantity_text), AfterValidator(_positive_quantity)]
EnvValue = Annotated[str, BeforeValidator(_env_value)]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]
HttpPath = Annotated[str, Field(pattern=r"^/[A-Za-z0-9._~/-]*$")]
KubernetesVersion = Annotated[
    str, BeforeValidator(lambda v: str(v) if isinstance(v, float) else v), AfterValidator(_kubernetes_version)
]


def image_digest(reference: str) -> str | None:
    """The ``sha256:`` digest of an image reference, if it is pinned by one."""
    match = _IMAGE_REF.match(reference)
    return match["digest"] if match else None


def image_tag(reference: str) -> str | None:
    match = _IMAGE_REF.match(reference)
    return match["tag"] if match else None


# --- cluster ---------------------------------------------------------------


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


class ImageConfig(StrictModel):
    """Where a service's image comes from: a pinned reference (digest-pinned in prod)."""

    ref: ImageRef


class AutoscalingConfig(StrictModel):
    min_replicas: Annotated[StrictInt, Field(ge=1)]
    max_replicas: Annotated[StrictInt, Field(ge=1)]
    target_cpu_utilization: Annotated[StrictInt, Field(ge=1, le=100, alias="targetCPUUtilization")] = 70

    @model_validator(mode="after")
    def _min_not_above_max(self) -> AutoscalingConfig:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas ({self.min_replicas}) is greater than maxReplicas ({self.max_replicas})")
        return self


class ResourcesConfig(StrictModel):
    """Per-replica requests; limits default to the requests (Guaranteed QoS)."""

    cpu: Quantity
    memory: Quantity
    gpu: Annotated[StrictInt, Field(ge=0, le=16)] = 0
    cpu_limit: Quantity | None = None
    memory_limit: Quantity | None = None

    @model_validator(mode="after")
    def _limits_not_below_requests(self) -> ResourcesConfig:
        for request, limit, key in (
            (self.cpu, self.cpu_limit, "cpuLimit"),
            (self.memory, self.memory_limit, "memoryLimit"),
        ):
            if limit is not None and parse_quantity(limit) < parse_quantity(request):
                raise ValueError(f"{key} ({limit}) is lower than the request ({request})")
        return self

    @property
    def limits(self) -> dict[str, str]:
        limits = {"cpu": self.cpu_limit or self.cpu, "memory": self.memory_limit or self.memory}
        if self.gpu:
            limits["nvidia.com/gpu"] = str(self.gpu)
        return limits

    @property
    def requests(self) -> dict[str, str]:
        requests = {"cpu": self.cpu, "memory": self.memory}
        if self.gpu:
            requests["nvidia.com/gpu"] = str(self.gpu)
        return requests


class HealthConfig(StrictModel):
    """The HTTP paths every AI service answers (see services/text-classifier)."""

    liveness_path: HttpPath = "/healthz"
    readiness_path: HttpPath = "/readyz"
    startup_timeout_seconds: Annotated[StrictInt, Field(ge=10, le=3600)] = 300
    """How long the model may take to load before the pod is restarted."""


class IngressConfig(StrictModel):
    host: Hostname
    path: HttpPath = "/"
    max_body_size: Annotated[str, Field(pattern=r"^[0-9]+[kmgKMG]?$")] = "16m"
    read_timeout_seconds: Annotated[StrictInt, Field(ge=1, le=3600)] = 120


class SloConfig(StrictModel):
    latency_p95_ms: Annotated[StrictInt, Field(ge=1)] = 500
    error_ratio: Annotated[float, Field(gt=0, lt=1)] = 0.01


class ServiceConfig(StrictModel):
    """One AI microservice: everything ``AiService`` needs to run it."""

    name: ServiceName
    namespace: DnsLabel = "ai-services"
    image: ImageConfig
    port: Port = 8080
    replicas: Annotated[StrictInt, Field(ge=0)] = 1
    autoscaling: AutoscalingConfig | None = None
    resources: ResourcesConfig
    health: HealthConfig = HealthConfig()
    ingress: IngressConfig | None = None
    env: dict[EnvVarName, EnvValue] = Field(default_factory=dict)
    secret_env: list[EnvVarName] = Field(default_factory=list)
    slo: SloConfig = SloConfig()
    metrics_path: HttpPath = "/metrics"
    termination_grace_period_seconds: Annotated[StrictInt, Field(ge=1, le=3600)] = 30

    @model_validator(mode="after")
    def _env_names_disjoint(self) -> ServiceConfig:
        duplicates = sorted({n for n in self.secret_env if self.secret_env.count(n) > 1})
        if duplicates:
            raise ValueError(f"secretEnv lists {', '.join(duplicates)} more than once")
        both = sorted(set(self.env) & set(self.secret_env))
        if both:
            raise ValueError(f"{', '.join(both)} is set in both env and secretEnv")
        return self

    @property
    def max_replicas(self) -> int:
        """The most replicas that can run at once (drives PDBs and spreading)."""
        return self.autoscaling.max_replicas if self.autoscaling else self.replicas

    @property
    def min_replicas(self) -> int:
        return self.autoscaling.min_replicas if self.autoscaling else self.replicas


# --- the whole stack -------------------------------------------------------


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


class CrossFieldError(ValueError):
    """Several problems found by a model validator, each already naming its key path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems

"""The AI services of a stack: everything ``AiService`` needs to run one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, StrictInt, model_validator

from ai_platform_policies.quantity import parse_quantity
from model.config.base import (
    DnsLabel,
    EnvValue,
    EnvVarName,
    Hostname,
    HttpPath,
    ImageRef,
    Port,
    Quantity,
    ServiceName,
    StrictModel,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _build_context(value: str) -> str:
    path = Path(value)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"{value!r} must be a folder inside the project, e.g. services/text-classifier")
    if not (PROJECT_ROOT / path / "Dockerfile").is_file():
        raise ValueError(f"{value!r} has no Dockerfile")
    return path.as_posix()


BuildContext = Annotated[str, AfterValidator(_build_context)]


class ImageConfig(StrictModel):
    """Where a service's image comes from: built from source, or a pinned reference."""

    build: BuildContext | None = None
    """Build context relative to the project root; built with pulumi-docker and deployed by digest."""
    ref: ImageRef | None = None
    """A prebuilt image; pin it by digest in prod."""

    @model_validator(mode="after")
    def _exactly_one(self) -> ImageConfig:
        if (self.build is None) == (self.ref is None):
            raise ValueError("set exactly one of 'build' (a source folder) or 'ref' (an image reference)")
        return self


class AutoscalingConfig(StrictModel):
    min_replicas: Annotated[StrictInt, Field(ge=1)]
    """Fewest replicas the HPA keeps."""
    max_replicas: Annotated[StrictInt, Field(ge=1)]
    """Most replicas the HPA may run."""
    target_cpu_utilization: Annotated[StrictInt, Field(ge=1, le=100, alias="targetCPUUtilization")] = 70
    """Average CPU utilization the HPA aims for, in percent of the request."""

    @model_validator(mode="after")
    def _min_not_above_max(self) -> AutoscalingConfig:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas ({self.min_replicas}) is greater than maxReplicas ({self.max_replicas})")
        return self


class ResourcesConfig(StrictModel):
    """Per-replica requests; limits default to the requests (Guaranteed QoS)."""

    cpu: Quantity
    """CPU request per replica (a Kubernetes quantity, e.g. 500m or 2)."""
    memory: Quantity
    """Memory request per replica (e.g. 1Gi)."""
    gpu: Annotated[StrictInt, Field(ge=0, le=16)] = 0
    """Whole GPUs per replica (0 to 16); GPU services need the NVIDIA device plugin."""
    gpu_type: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=63)] = "nvidia-l4"
    """GPU model, for pricing and the pod label ``ai-platform.io/gpu-type``."""
    cpu_limit: Quantity | None = None
    """CPU limit; the request when unset."""
    memory_limit: Quantity | None = None
    """Memory limit; the request when unset."""

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
    """HTTP path of the liveness probe."""
    readiness_path: HttpPath = "/readyz"
    """HTTP path of the readiness probe."""
    startup_timeout_seconds: Annotated[StrictInt, Field(ge=10, le=3600)] = 300
    """How long the model may take to load before the pod is restarted."""


class IngressConfig(StrictModel):
    host: Hostname
    """Public host name (TLS via cert-manager); unique with `path` across the stack."""
    path: HttpPath = "/"
    """Path prefix routed to the service."""
    max_body_size: Annotated[str, Field(pattern=r"^[0-9]+[kmgKMG]?$")] = "16m"
    """Largest request body, in nginx units (16m)."""
    read_timeout_seconds: Annotated[StrictInt, Field(ge=1, le=3600)] = 120
    """How long the ingress waits for a response, in seconds."""


class SloConfig(StrictModel):
    latency_p95_ms: Annotated[StrictInt, Field(ge=1)] = 500
    """95th-percentile latency objective in milliseconds; alerts fire above it."""
    error_ratio: Annotated[float, Field(gt=0, lt=1)] = 0.01
    """Objective for the share of 5xx responses (0 to 1); alerts fire above it."""


class ServiceConfig(StrictModel):
    """One AI microservice: everything ``AiService`` needs to run it."""

    name: ServiceName
    """DNS-1035 label, unique in the stack; names every Kubernetes object of the service."""
    namespace: DnsLabel = "ai-services"
    """Namespace, created with the restricted Pod Security Standard; never a Kubernetes or platform namespace."""
    image: ImageConfig
    """Where the image comes from: built from source or a prebuilt reference."""
    port: Port = 8080
    """Container port; the Service listens on 80."""
    replicas: Annotated[StrictInt, Field(ge=0)] = 1
    """Replicas without autoscaling (the HPA owns the count when `autoscaling` is set)."""
    autoscaling: AutoscalingConfig | None = None
    """Horizontal autoscaling; a fixed replica count when unset."""
    resources: ResourcesConfig
    """Requests and limits per replica."""
    health: HealthConfig = HealthConfig()
    """Probe paths and the model's startup time."""
    ingress: IngressConfig | None = None
    """Public HTTPS route; the service is internal when unset."""
    env: dict[EnvVarName, EnvValue] = Field(default_factory=dict)
    """Plain environment variables (in a ConfigMap); numbers and booleans are written as text."""
    secret_env: list[EnvVarName] = Field(default_factory=list)
    """Names whose values come from `serviceSecrets`, mounted as files with `<NAME>_FILE` pointing at each."""
    slo: SloConfig = SloConfig()
    """Service-level objectives the alerts and dashboards use."""
    metrics_path: HttpPath = "/metrics"
    """HTTP path of Prometheus metrics on the metrics port."""
    termination_grace_period_seconds: Annotated[StrictInt, Field(ge=1, le=3600)] = 30
    """Seconds a pod gets to finish requests before it is killed."""

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

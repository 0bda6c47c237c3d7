"""The AI services of a stack: everything ``AiService`` needs to run one."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictInt, model_validator

from ai_platform_policies.kube import GPU_PRODUCTS
from ai_platform_policies.quantity import parse_quantity
from ai_platform_policies.references import image_digest
from model.config.base import (
    Cidr,
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


def _gpu_type(value: str) -> str:
    if value not in GPU_PRODUCTS:
        raise ValueError(f"{value!r} is not a known GPU type (known: {', '.join(sorted(GPU_PRODUCTS))})")
    return value


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


AutoscalingMetric = Literal["cpu", "requestsPerSecond", "inFlight"]
#: Default per-replica target of each metric; load metrics have none (it depends on the model).
DEFAULT_TARGETS: dict[str, float | None] = {"cpu": 70, "requestsPerSecond": None, "inFlight": None}


class AutoscalingConfig(StrictModel):
    """How many replicas run, between bounds, following load.

    ``metric`` is what is held near ``target`` per replica: CPU utilisation
    (%, a HorizontalPodAutoscaler), or the service's own request rate or
    in-flight requests (a KEDA ScaledObject with a Prometheus trigger on the
    metric contract; GPU inference is bound by concurrency, not CPU).
    ``minReplicas: 0`` scales to zero when idle (load metrics only; it wakes on
    requests counted at the ingress controller).
    """

    min_replicas: Annotated[StrictInt, Field(ge=0)]
    """Fewest replicas; 0 scales to zero when idle (load metrics only)."""
    max_replicas: Annotated[StrictInt, Field(ge=1)]
    """Most replicas the autoscaler may run."""
    metric: AutoscalingMetric = "cpu"
    """What to hold near `target` per replica: cpu (an HPA), requestsPerSecond or inFlight (KEDA)."""
    target: Annotated[float, Field(gt=0)] | None = None
    """Per replica: CPU % (default 70), requests per second, or concurrent requests (required for those)."""
    target_cpu_utilization: Annotated[StrictInt | None, Field(ge=1, le=100, alias="targetCPUUtilization")] = None
    """The earlier spelling of ``metric: cpu`` with ``target``."""
    activation_target: Annotated[float, Field(ge=0)] = 0
    """With ``minReplicas: 0``: ingress requests per second above which a scaled-to-zero service wakes."""

    @model_validator(mode="after")
    def _consistent(self) -> AutoscalingConfig:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas ({self.min_replicas}) is greater than maxReplicas ({self.max_replicas})")
        if self.target_cpu_utilization is not None and (self.metric != "cpu" or self.target is not None):
            raise ValueError("targetCPUUtilization is the old spelling of `metric: cpu` + `target`; use one")
        if (
            self.metric == "cpu"
            and self.target is not None
            and not (1 <= self.target <= 100 and self.target.is_integer())
        ):
            raise ValueError(f"target for metric cpu is a whole percentage from 1 to 100, got {self.target}")
        if self.metric != "cpu" and self.target is None:
            raise ValueError(f"target is required for metric {self.metric} (per replica)")
        if self.min_replicas == 0 and self.metric == "cpu":
            raise ValueError(
                "minReplicas 0 needs a load metric (requestsPerSecond or inFlight): CPU cannot wake a service"
            )
        return self

    @property
    def per_replica_target(self) -> float:
        if self.target_cpu_utilization is not None:
            return float(self.target_cpu_utilization)
        default = DEFAULT_TARGETS[self.metric]
        target = self.target if self.target is not None else default
        assert target is not None, "validated: load metrics have a target"
        return target

    @property
    def uses_keda(self) -> bool:
        return self.metric != "cpu"


class ResourcesConfig(StrictModel):
    """Per-replica requests; limits default to the requests (Guaranteed QoS)."""

    cpu: Quantity
    """CPU request per replica (a Kubernetes quantity, e.g. 500m or 2)."""
    memory: Quantity
    """Memory request per replica (e.g. 1Gi)."""
    gpu: Annotated[StrictInt, Field(ge=0, le=16)] = 0
    """Whole GPUs per replica (0 to 16); GPU services need the NVIDIA device plugin."""
    gpu_type: Annotated[str, AfterValidator(_gpu_type)] = "nvidia-l4"
    """GPU model: places the pods (node affinity on ``nvidia.com/gpu.product``) and prices them."""
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
    image_pull_seconds: Annotated[StrictInt, Field(ge=0, le=3600)] = 300
    """Allowance for pulling the image onto a fresh node (GPU images are often 10 GB or more).

    With ``startupTimeoutSeconds`` it makes a replica's startup budget, from
    which the Deployment's progress deadline and Pulumi's wait are derived."""
    pre_stop_seconds: Annotated[StrictInt, Field(ge=0, le=120)] = 5
    """Pause before SIGTERM, so the ingress controller stops routing to a pod before it closes its socket."""

    @property
    def startup_budget_seconds(self) -> int:
        """How long one replica may take from scheduling to Ready."""
        return self.startup_timeout_seconds + self.image_pull_seconds


class IngressConfig(StrictModel):
    host: Hostname
    """Public host name (TLS via cert-manager); unique with `path` across the stack."""
    path: HttpPath = "/"
    """Path prefix routed to the service."""
    max_body_size: Annotated[str, Field(pattern=r"^[0-9]+[kmgKMG]?$")] = "16m"
    """Largest request body, in nginx units (16m)."""
    read_timeout_seconds: Annotated[StrictInt, Field(ge=1, le=3600)] = 120
    """How long the ingress waits for a response, in seconds."""


class EgressRule(StrictModel):
    """One destination a service may open connections to; every other egress is denied.

    Name exactly one of ``service`` (another AI service of this stack: its pods
    on its serving port, and it admits this one), ``namespace`` (every pod of a
    namespace) or ``cidr`` (addresses outside the cluster, e.g. object storage).
    """

    service: ServiceName | None = None
    """Another AI service of this stack (reached on its serving port; it admits this one)."""
    namespace: DnsLabel | None = None
    """Every pod of this namespace, on `ports`."""
    cidr: Cidr | None = None
    """Addresses outside the cluster in CIDR notation (for example object storage), on `ports`."""
    except_: list[Cidr] = Field(default_factory=list, alias="except")
    """Ranges inside ``cidr`` that stay denied (e.g. the cluster's own networks)."""
    ports: list[Port] = Field(default_factory=list)
    """TCP ports; required for ``namespace`` and ``cidr`` (a service is reached on its serving port)."""

    @model_validator(mode="after")
    def _one_destination(self) -> EgressRule:
        named = [key for key, value in (("service", self.service), ("namespace", self.namespace), ("cidr", self.cidr))
                 if value is not None]  # fmt: skip
        if len(named) != 1:
            raise ValueError("name exactly one of 'service', 'namespace' or 'cidr'")
        if self.except_ and self.cidr is None:
            raise ValueError("'except' narrows a 'cidr'")
        if self.service is None and not self.ports:
            raise ValueError("list the TCP 'ports' this service may reach there")
        return self


class SloConfig(StrictModel):
    latency_p95_ms: Annotated[StrictInt, Field(ge=1)] = 500
    """95th-percentile latency objective in milliseconds; alerts fire above it."""
    error_ratio: Annotated[float, Field(gt=0, lt=1)] = 0.01
    """Objective for the share of 5xx responses (0 to 1); alerts fire above it."""


#: ``pvc://<claim>``, ``s3://<bucket>[/<prefix>]`` or ``hf://<org>/<model>[@<revision>]``.
_MODEL_SOURCE = re.compile(
    r"^(?:pvc://(?P<claim>[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)"
    r"|s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>[A-Za-z0-9!_.*'()/-]*))?"
    r"|hf://(?P<repo>[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95})"
    r"(?:@(?P<revision>[A-Za-z0-9._/-]{1,100}))?)$"
)
#: Paths ``AiService`` mounts itself (scratch space, secret env files, the ServiceAccount's).
_RESERVED_MOUNTS = ("/tmp", "/var/run/secrets")


def _model_source(value: str) -> str:
    if not _MODEL_SOURCE.match(value):
        raise ValueError(
            f"{value!r} is not a model source (expected pvc://<claim>, s3://<bucket>/<prefix> or hf://<org>/<model>)"
        )
    return value


def _absolute_path(value: str) -> str:
    path = PurePosixPath(value)
    if not path.is_absolute() or ".." in path.parts or str(path) == "/":
        raise ValueError(f"{value!r} must be an absolute path below / (e.g. /models)")
    if any(str(path) == r or str(path).startswith(f"{r}/") or r.startswith(f"{path}/") for r in _RESERVED_MOUNTS):
        raise ValueError(f"{value!r} overlaps a path the platform mounts ({', '.join(_RESERVED_MOUNTS)})")
    return str(path)


class ModelConfig(StrictModel):
    """Where a service's model weights come from, mounted read-only at ``mountPath`` (``MODEL_DIR``).

    ``pvc://<claim>`` mounts an existing PersistentVolumeClaim of the service's
    namespace. ``s3://bucket/prefix`` and ``hf://org/model[@revision]`` are
    downloaded before the server starts by an init container (``fetcherImage``)
    into a cache volume of ``size`` on ``storageClass`` that each pod gets for
    its own life (a generic ephemeral volume): no shared state, a real disk.
    """

    source: Annotated[str, AfterValidator(_model_source)]
    """pvc://<claim> (an existing claim, mounted read-only), s3://<bucket>/<prefix> or hf://<org>/<model>[@<rev>]."""
    size: Quantity | None = None
    """Size of each pod's download cache (s3 and hf sources; required there), e.g. 40Gi."""
    storage_class: DnsLabel | None = None
    """StorageClass of the download cache; the cluster default when unset."""
    mount_path: Annotated[str, AfterValidator(_absolute_path)] = "/models"
    """Where the serving container finds the weights (read-only); ``MODEL_DIR`` points here."""
    credential_env: list[EnvVarName] = Field(default_factory=list)
    """Names from the service's ``secretEnv`` the download needs (e.g. AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY, or HF_TOKEN): mounted as files in the fetcher only, which exports them
    for the tool (the image then needs /bin/sh)."""
    fetcher_image: ImageRef | None = None
    """Image that downloads s3 and hf sources, pinned by digest: one with the AWS CLI (``aws s3 sync``)
    for s3, one with huggingface_hub's CLI (``huggingface-cli download``) for hf. Required for them."""
    download_seconds: Annotated[StrictInt, Field(ge=0, le=7200)] = 600
    """Allowance for the download (s3 and hf), added to the startup budget (progress deadline, Pulumi's wait)."""

    @model_validator(mode="after")
    def _fits_the_source(self) -> ModelConfig:
        if self.fetched:
            if self.size is None:
                raise ValueError(f"size is required for {self.scheme}:// sources (each pod's download cache)")
            if self.fetcher_image is None:
                raise ValueError(
                    f"fetcherImage is required for {self.scheme}:// sources: an image with "
                    f"{'the AWS CLI' if self.scheme == 's3' else 'huggingface-cli'}, pinned by digest"
                )
            if image_digest(self.fetcher_image) is None:
                raise ValueError(f"fetcherImage {self.fetcher_image!r} must be pinned by digest (@sha256:...)")
        else:
            only_fetched = {
                "size": self.size,
                "storageClass": self.storage_class,
                "credentialEnv": self.credential_env,
                "fetcherImage": self.fetcher_image,
            }
            given = [key for key, value in only_fetched.items() if value]
            if given:
                raise ValueError(f"{', '.join(given)}: only for downloaded (s3, hf) sources, not a pvc:// claim")
        return self

    @property
    def scheme(self) -> str:
        return self.source.split("://", 1)[0]

    @property
    def fetched(self) -> bool:
        """Downloaded by an init container (s3, hf), rather than mounted from a claim."""
        return self.scheme != "pvc"

    @property
    def claim(self) -> str:
        """The PersistentVolumeClaim of a ``pvc://`` source."""
        match = _MODEL_SOURCE.match(self.source)
        assert match is not None and match["claim"], "only for pvc:// sources"
        return str(match["claim"])

    def fetch_command(self, directory: str, credentials: str) -> list[str]:
        """What the fetcher runs to download the source into ``directory``.

        The credentials are files in ``credentials`` (one per name, like every
        secret of the platform); the tools read them from the environment, so
        a POSIX shell exports each just before it ``exec``s the tool.
        """
        match = _MODEL_SOURCE.match(self.source)
        assert match is not None and self.fetched
        if self.scheme == "s3":
            tool = ["aws", "s3", "sync", "--no-progress", "--only-show-errors", self.source, directory]
        else:
            tool = ["huggingface-cli", "download", match["repo"], "--local-dir", directory]
            if match["revision"]:
                tool += ["--revision", match["revision"]]
        if not self.credential_env:
            return tool
        # Names are validated environment variable names: safe to write into the script as they are.
        exports = " ".join(f'{name}="$(cat {credentials}/{name})" && export {name} &&' for name in self.credential_env)
        return ["/bin/sh", "-c", f'{exports} exec "$@"', "model-fetcher", *tool]

    @property
    def startup_seconds(self) -> int:
        """What the model adds to a replica's startup budget."""
        return self.download_seconds if self.fetched else 0


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
    metrics_port: Port = 9090
    """Where the service serves Prometheus metrics (``METRICS_PORT``); never the serving port."""
    termination_grace_period_seconds: Annotated[StrictInt, Field(ge=1, le=3600)] = 45
    """Time from the preStop pause to SIGKILL: the pause, the service's drain and its graceful
    shutdown (the reference service: 5 s + 2 s + 25 s) with a margin."""
    priority: Literal["inference", "batch", "bestEffort"] = "inference"
    """Scheduling priority: inference outranks batch, which outranks best-effort work (PriorityClasses)."""
    egress: list[EgressRule] = Field(default_factory=list)
    """Where the service may open connections (DNS is always allowed); nothing else is reachable."""
    model: ModelConfig | None = None
    """Model weights: an existing claim, or downloaded from object storage or Hugging Face at startup."""

    @model_validator(mode="after")
    def _env_names_disjoint(self) -> ServiceConfig:
        duplicates = sorted({n for n in self.secret_env if self.secret_env.count(n) > 1})
        if duplicates:
            raise ValueError(f"secretEnv lists {', '.join(duplicates)} more than once")
        both = sorted(set(self.env) & set(self.secret_env))
        if both:
            raise ValueError(f"{', '.join(both)} is set in both env and secretEnv")
        if self.metrics_port == self.port:
            raise ValueError(f"metricsPort ({self.metrics_port}) must differ from the serving port")
        if self.termination_grace_period_seconds <= self.health.pre_stop_seconds:
            raise ValueError(
                f"terminationGracePeriodSeconds ({self.termination_grace_period_seconds}) must exceed "
                f"health.preStopSeconds ({self.health.pre_stop_seconds}), or in-flight requests are cut off"
            )
        platform_env = {"METRICS_PORT"} | {f"{name}_FILE" for name in self.secret_env}
        if self.model is not None:
            platform_env.add("MODEL_DIR")
        reserved = sorted(platform_env & set(self.env))
        if reserved:
            raise ValueError(
                f"env sets {', '.join(reserved)}, which the platform sets (from metricsPort, secretEnv, model)"
            )
        if self.model is not None:
            unknown = [name for name in self.model.credential_env if name not in self.secret_env]
            if unknown:
                raise ValueError(f"model.credentialEnv: {', '.join(unknown)} must be listed in secretEnv")
            if self.model.fetched and not any(rule.service is None for rule in self.egress):
                raise ValueError(
                    f"model.source: the download from {self.model.scheme}:// needs an `egress` rule to reach it "
                    "(a `cidr`, or the `namespace` of an in-cluster object store); the namespace denies the rest"
                )
        return self

    @property
    def startup_budget_seconds(self) -> int:
        """How long one replica may take from scheduling to Ready: image pull, model download and load."""
        return self.health.startup_budget_seconds + (self.model.startup_seconds if self.model else 0)

    @property
    def max_replicas(self) -> int:
        """The most replicas that can run at once (drives PDBs and spreading)."""
        return self.autoscaling.max_replicas if self.autoscaling else self.replicas

    @property
    def min_replicas(self) -> int:
        return self.autoscaling.min_replicas if self.autoscaling else self.replicas

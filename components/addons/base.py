"""``HelmAddon``: the one place that knows how the platform installs a Helm chart.

Every chart-based component (ingress-nginx, cert-manager, metrics-server, the
NVIDIA device plugin, KEDA, kube-prometheus-stack, Jenkins) is a subclass
that declares its chart, repository, namespace, a typed args class, the
workloads it runs and its values, both as pure functions of the args. The
base owns the rest: its own namespace (with a Pod Security level), the pinned
chart version, an atomic install that cleans up on failure, a timeout, a
bounded release history, ``protect`` for releases that keep data, the Secrets
the values refer to (declared before the release), the ``footprint``
output that the cost model prices, and the namespace's network: default-deny
ingress and egress (DNS allowed) plus the ``NetworkAllow`` list each add-on
declares next to its values (``network_allows``) and a scrape allow for its
``METRICS_PORTS``, all declared before the release, so an ``atomic`` install
already runs under the policies it will live with.

``helm.v3.Release`` is used rather than ``helm.v4.Chart``: it is one resource
whose diff is the values we set, Helm hooks and CRD upgrades behave as with
the ``helm`` CLI, and ``atomic`` rollback is Helm's own. The price is that the
objects a chart renders are not individual Pulumi resources, so the policy
pack judges a release by its version, namespace and persistence, not by its
rendered pods (see README.md).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BaseModel, ConfigDict

from components.kube import PART_OF, default_deny, platform_namespace
from components.network import NetworkAllow, declare_allows, scrapes
from model.config import ClusterConfig, Environment, HelmChartConfig
from model.workload import Workload

#: Controller replicas per environment when a stack does not say.
DEFAULT_REPLICAS: Mapping[str, int] = {"dev": 1, "staging": 2, "prod": 3}


class AddonArgs(BaseModel):
    """What every add-on is given: its chart settings, the environment and the cluster."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chart: HelmChartConfig
    environment: Environment
    cluster: ClusterConfig = ClusterConfig()
    namespace: str | None = None
    """Overrides the add-on's default namespace."""
    protect: bool = False
    """Protect the release from deletion (it keeps data)."""
    service_monitors: bool = False
    """Whether the Prometheus Operator CRDs exist, so the chart may create ServiceMonitors."""

    @property
    def replicas(self) -> int:
        """Controller replicas: the stack's ``replicas``, else the environment's default."""
        return self.chart.replicas or DEFAULT_REPLICAS[self.environment]

    @property
    def prod(self) -> bool:
        return self.environment == "prod"


ArgsT = TypeVar("ArgsT", bound=AddonArgs)


@dataclass(frozen=True)
class ChartSecret:
    """A Secret the chart's values refer to by name; the add-on declares it before the release."""

    resource_name: str
    """The Pulumi resource name (part of its URN: keep it stable)."""
    name: str
    """``metadata.name``, what the values refer to."""
    string_data: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Its keys; pass passwords as ``pulumi.Output.secret``."""


@dataclass(frozen=True)
class AdminCredentials:
    """An admin login the chart reads from an existing Secret (its ``admin.existingSecret`` values)."""

    secret_name: str
    user_key: str
    password_key: str
    user: str = "admin"

    def values(self) -> dict[str, str]:
        """The chart's ``admin`` values that point at the Secret."""
        return {"existingSecret": self.secret_name, "userKey": self.user_key, "passwordKey": self.password_key}

    def secret(self, resource_name: str, password: pulumi.Input[str]) -> ChartSecret:
        """The Secret itself, with the password as a Pulumi secret."""
        data: dict[str, pulumi.Input[str]] = {
            self.user_key: self.user,
            self.password_key: pulumi.Output.secret(password),
        }
        return ChartSecret(resource_name, self.secret_name, data)


class HelmAddon(pulumi.ComponentResource, abc.ABC, Generic[ArgsT]):
    """A pinned Helm release in its own namespace, sized by the workloads it declares."""

    CHART: ClassVar[str]
    REPOSITORY: ClassVar[str]
    NAMESPACE: ClassVar[str]
    #: Pod Security Standard the add-on's namespace enforces.
    POD_SECURITY: ClassVar[str] = "baseline"
    TYPE: ClassVar[str]
    #: Ports Prometheus scrapes on the add-on's pods (admitted from the monitoring namespace).
    METRICS_PORTS: ClassVar[tuple[int | str, ...]] = ()

    args: ArgsT
    release: k8s.helm.v3.Release
    namespace: k8s.core.v1.Namespace
    namespace_name: str
    secrets: list[k8s.core.v1.Secret]
    network_policies: list[k8s.networking.v1.NetworkPolicy]

    def __init__(
        self,
        name: str,
        args: ArgsT,
        opts: pulumi.ResourceOptions | None = None,
        *,
        secrets: Sequence[ChartSecret] = (),
    ) -> None:
        super().__init__(self.TYPE, name, None, opts)
        self.args = args
        assert args.chart.version is not None, "validated config pins a version for enabled add-ons"
        self.namespace_name = self.namespace_of(args)
        self.namespace = platform_namespace(
            f"{name}-ns",
            self.namespace_name,
            {"app.kubernetes.io/part-of": PART_OF, "ai-platform.io/environment": args.environment},
            self.POD_SECURITY,
            pulumi.ResourceOptions(parent=self),
        )
        inside = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        policy_labels = {"app.kubernetes.io/part-of": PART_OF, "ai-platform.io/environment": args.environment}
        self.network_policies = [
            *default_deny(self.namespace_name, policy_labels, inside),
            *declare_allows(self.namespace_name, self.all_network_allows(args), policy_labels, inside),
        ]
        self.secrets = [
            k8s.core.v1.Secret(
                secret.resource_name,
                metadata=k8s.meta.v1.ObjectMetaArgs(name=secret.name, namespace=self.namespace_name),
                type="Opaque",
                string_data=dict(secret.string_data),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespace]),
            )
            for secret in secrets
        ]
        self.release = k8s.helm.v3.Release(
            name,
            k8s.helm.v3.ReleaseArgs(
                name=name,
                chart=self.CHART,
                version=args.chart.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=args.chart.repository or self.REPOSITORY),
                namespace=self.namespace_name,
                values=self.values(args),
                atomic=True,
                cleanup_on_fail=True,
                timeout=args.chart.timeout_seconds,
                max_history=10,
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[self.namespace, *self.secrets, *self.network_policies],
                protect=args.protect,
            ),
        )
        self.register_outputs(
            {
                "namespace": self.namespace_name,
                "release": self.release.status,
                "footprint": [workload.footprint() for workload in self.workloads(args)],
            }
        )

    @classmethod
    @abc.abstractmethod
    def workloads(cls, args: ArgsT) -> Sequence[Workload]:
        """Every workload the chart runs, sized: the values and the cost footprint both come from these."""

    @classmethod
    @abc.abstractmethod
    def values(cls, args: ArgsT) -> dict[str, Any]:
        """The chart's values: a pure function of the args (sizes from ``workloads``)."""

    @classmethod
    def namespace_of(cls, args: ArgsT) -> str:
        """The namespace the add-on is installed in."""
        return args.namespace or cls.NAMESPACE

    @classmethod
    def network_allows(cls, args: ArgsT) -> Sequence[NetworkAllow]:
        """What the add-on's pods need beyond DNS (its namespace denies everything else); none by default."""
        return ()

    @classmethod
    def all_network_allows(cls, args: ArgsT) -> list[NetworkAllow]:
        """The add-on's own allows, plus Prometheus on ``METRICS_PORTS``."""
        allows = list(cls.network_allows(args))
        if cls.METRICS_PORTS:
            allows.append(scrapes(args.cluster, cls.METRICS_PORTS))
        return allows

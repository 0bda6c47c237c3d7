"""``HelmAddon``: the one place that knows how the platform installs a Helm chart.

Every chart-based component (ingress-nginx, cert-manager, metrics-server, the
NVIDIA device plugin, KEDA, kube-prometheus-stack, Jenkins) is a subclass
that declares only its chart, repository, namespace and typed values. The
base owns the rest: its own namespace (with a Pod Security level), the pinned
chart version, an atomic install that cleans up on failure, a timeout, a
bounded release history, and ``protect`` for releases that keep data.

``helm.v3.Release`` is used rather than ``helm.v4.Chart``: it is one resource
whose diff is the values we set, Helm hooks and CRD upgrades behave as with
the ``helm`` CLI, and ``atomic`` rollback is Helm's own. The price is that the
objects a chart renders are not individual Pulumi resources, so the policy
pack judges a release by its version, namespace and persistence, not by its
rendered pods (see README.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pulumi
import pulumi_kubernetes as k8s

from components.kube import PART_OF
from model.config import ClusterConfig, Environment, HelmChartConfig

#: Controller replicas per environment when a stack does not say.
DEFAULT_REPLICAS: Mapping[str, int] = {"dev": 1, "staging": 2, "prod": 3}


@dataclass(frozen=True)
class HelmAddonArgs:
    chart: HelmChartConfig
    environment: Environment
    namespace: str | None = None
    """Overrides the add-on's default namespace."""
    protect: bool = False
    """Protect the release from deletion (it keeps data)."""
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    service_monitors: bool = False
    """Whether the Prometheus Operator CRDs exist, so the chart may create ServiceMonitors."""


class HelmAddon(pulumi.ComponentResource):
    """A pinned Helm release in its own namespace. Subclasses declare the chart and values."""

    CHART: ClassVar[str]
    REPOSITORY: ClassVar[str]
    NAMESPACE: ClassVar[str]
    #: Pod Security Standard the add-on's namespace enforces.
    POD_SECURITY: ClassVar[str] = "baseline"
    TYPE: ClassVar[str]

    release: k8s.helm.v3.Release
    namespace: k8s.core.v1.Namespace
    namespace_name: str

    def __init__(self, name: str, args: HelmAddonArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        self.args = args
        self.namespace_name = args.namespace or self.NAMESPACE
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=self.namespace_name,
                labels={
                    "app.kubernetes.io/part-of": PART_OF,
                    "ai-platform.io/environment": args.environment,
                    "pod-security.kubernetes.io/enforce": self.POD_SECURITY,
                    "pod-security.kubernetes.io/warn": "restricted",
                },
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.before_release(name)
        assert args.chart.version is not None, "validated config pins a version for enabled add-ons"
        values = self.values()
        self.release = k8s.helm.v3.Release(
            name,
            k8s.helm.v3.ReleaseArgs(
                name=name,
                chart=self.CHART,
                version=args.chart.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=args.chart.repository or self.REPOSITORY),
                namespace=self.namespace_name,
                values=values,
                atomic=True,
                cleanup_on_fail=True,
                timeout=args.chart.timeout_seconds,
                max_history=10,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespace], protect=args.protect),
        )
        self.register_outputs(
            {"namespace": self.namespace_name, "release": self.release.status, "footprint": self.footprint(values)}
        )

    @property
    def replicas(self) -> int:
        return self.args.chart.replicas or DEFAULT_REPLICAS[self.args.environment]

    @property
    def prod(self) -> bool:
        return self.args.environment == "prod"

    def before_release(self, name: str) -> None:
        """Declare what the chart's values refer to (e.g. secrets); runs before the release."""

    def values(self) -> dict[str, Any]:
        """The chart's values; every subclass declares its own."""
        raise NotImplementedError

    def footprint(self, values: dict[str, Any]) -> list[dict[str, Any]]:
        """What the release reserves, read from its values: ``part(...)`` per workload (for cost)."""
        raise NotImplementedError


def resources(cpu: str, memory: str, *, cpu_limit: str | None = None) -> dict[str, dict[str, str]]:
    """Chart ``resources`` values: requests plus limits (memory limit = request)."""
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit or cpu, "memory": memory}}


def part(
    name: str, replicas: int, resource_values: dict[str, Any], storage: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """One workload of a chart in a footprint: replicas, per-replica requests, per-replica volumes."""
    entry: dict[str, Any] = {
        "name": name,
        "replicas": replicas,
        "requests": dict(resource_values.get("requests") or {}),
    }
    if storage:
        entry["storage"] = storage
    return entry

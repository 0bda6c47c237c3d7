"""``MetricsServer``: the resource metrics every HorizontalPodAutoscaler needs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from components.addons.base import AddonArgs, HelmAddon
from components.network import NetworkAllow, Peer, api_server, from_api_server
from model.flavors import FLAVORS
from model.workload import Workload


class MetricsServerArgs(AddonArgs):
    pass


class MetricsServerWorkloads(NamedTuple):
    server: Workload


class MetricsServer(HelmAddon[MetricsServerArgs]):
    """metrics-server: at most two replicas (it is stateless and cheap to restart)."""

    CHART = "metrics-server"
    REPOSITORY = "https://kubernetes-sigs.github.io/metrics-server/"
    NAMESPACE = "metrics-server"
    TYPE = "ai-platform:addons:MetricsServer"
    #: Its one secure port (chart ``containerPort``): the aggregated API, and /metrics.
    METRICS_PORTS = (10250,)

    @classmethod
    def workloads(cls, args: MetricsServerArgs) -> MetricsServerWorkloads:
        return MetricsServerWorkloads(
            server=Workload(
                name="metrics-server", replicas=min(args.replicas, 2), cpu="100m", memory="200Mi", cpu_limit="500m"
            )
        )

    @classmethod
    def values(cls, args: MetricsServerArgs) -> dict[str, Any]:
        server = cls.workloads(args).server
        return {
            "replicas": server.replicas,
            "podDisruptionBudget": {"enabled": server.replicas > 1, "minAvailable": 1},
            "resources": server.resources(),
            # metrics.enabled only opens /metrics without auth; the ServiceMonitor is what gets it scraped
            # (the chart renders it only with both on).
            "metrics": {"enabled": True},
            "serviceMonitor": {"enabled": args.service_monitors},
            # Appended after the chart's defaultArgs (chart 3.12.2 templates/deployment.yaml:66-76).
            "args": ["--kubelet-insecure-tls"] if FLAVORS[args.cluster.flavor].kubelet_insecure_tls else [],
        }

    @classmethod
    def network_allows(cls, args: MetricsServerArgs) -> Sequence[NetworkAllow]:
        cluster = args.cluster
        return [
            api_server(cluster, "metrics-server watches nodes and pods, and checks callers' tokens"),
            from_api_server(
                cluster,
                "metrics-api-from-api-server",
                (10250,),
                {},
                "the API server proxies metrics.k8s.io (every HPA, kubectl top) to metrics-server",
            ),
            NetworkAllow(
                name="kubelets",
                direction="egress",
                peers=(Peer.of_cidrs(cluster.node_cidrs),),
                ports=(10250,),
                why="metrics-server reads each kubelet's resource metrics",
            ),
        ]

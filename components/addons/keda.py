"""``Keda``: request-rate autoscaling (ScaledObjects) for AI services."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from components.addons.base import AddonArgs, HelmAddon
from components.network import NetworkAllow, Peer, api_server, from_api_server
from model.workload import Workload

OPERATOR_PODS = {"app": "keda-operator"}
METRICS_API_PODS = {"app": "keda-operator-metrics-apiserver"}
WEBHOOK_PODS = {"app": "keda-admission-webhooks"}
#: Chart ports: the metrics API server (6443), the admission webhook (9443), the operator's gRPC (9666).
METRICS_API_PORT, WEBHOOK_PORT, OPERATOR_GRPC_PORT = 6443, 9443, 9666
#: Prometheus' pods and port (the operator queries it for ScaledObjects' triggers).
PROMETHEUS_PODS = {"app.kubernetes.io/name": "prometheus"}
PROMETHEUS_PORT = 9090


class KedaArgs(AddonArgs):
    pass


class KedaWorkloads(NamedTuple):
    operator: Workload
    metrics_server: Workload


class Keda(HelmAddon[KedaArgs]):
    """KEDA's operator and metrics API server; one operator is active, a second is a warm standby."""

    CHART = "keda"
    REPOSITORY = "https://kedacore.github.io/charts"
    NAMESPACE = "keda"
    TYPE = "ai-platform:addons:Keda"
    #: The operator's Prometheus metrics.
    METRICS_PORTS = (8080,)

    @classmethod
    def workloads(cls, args: KedaArgs) -> KedaWorkloads:
        replicas = min(args.replicas, 2)
        return KedaWorkloads(
            operator=Workload(name="operator", replicas=replicas, cpu="100m", memory="128Mi", cpu_limit="500m"),
            metrics_server=Workload(
                name="metrics-server", replicas=replicas, cpu="100m", memory="128Mi", cpu_limit="500m"
            ),
        )

    @classmethod
    def values(cls, args: KedaArgs) -> dict[str, Any]:
        workloads = cls.workloads(args)
        budget = {"minAvailable": 1} if workloads.operator.replicas > 1 else {}
        return {
            "operator": {"replicaCount": workloads.operator.replicas},
            "metricsServer": {"replicaCount": workloads.metrics_server.replicas},
            "podDisruptionBudget": {"operator": budget, "metricServer": budget},
            "resources": {
                "operator": workloads.operator.resources(),
                "metricServer": workloads.metrics_server.resources(),
            },
            "prometheus": {"operator": {"enabled": True, "serviceMonitor": {"enabled": args.service_monitors}}},
        }

    @classmethod
    def network_allows(cls, args: KedaArgs) -> Sequence[NetworkAllow]:
        cluster = args.cluster
        namespace = cls.namespace_of(args)
        return [
            api_server(cluster, "operator, metrics API server and webhook watch ScaledObjects and scale workloads"),
            from_api_server(
                cluster,
                "metrics-api-from-api-server",
                (METRICS_API_PORT,),
                METRICS_API_PODS,
                "the API server proxies external.metrics.k8s.io (every KEDA-driven HPA) to the metrics API server",
            ),
            from_api_server(
                cluster,
                "admission-webhook-from-api-server",
                (WEBHOOK_PORT,),
                WEBHOOK_PODS,
                "the API server validates ScaledObjects and TriggerAuthentications through the webhook",
            ),
            NetworkAllow(
                name="operator-grpc-in",
                direction="ingress",
                peers=(Peer.of_namespace(namespace, METRICS_API_PODS),),
                ports=(OPERATOR_GRPC_PORT,),
                why="the metrics API server asks the operator for metric values over gRPC",
                pods=OPERATOR_PODS,
            ),
            NetworkAllow(
                name="operator-grpc-out",
                direction="egress",
                peers=(Peer.of_namespace(namespace, OPERATOR_PODS),),
                ports=(OPERATOR_GRPC_PORT,),
                why="the metrics API server asks the operator for metric values over gRPC",
                pods=METRICS_API_PODS,
            ),
            NetworkAllow(
                name="prometheus-queries",
                direction="egress",
                peers=(Peer.of_namespace(cluster.monitoring_namespace, PROMETHEUS_PODS),),
                ports=(PROMETHEUS_PORT,),
                why="the operator evaluates Prometheus triggers (requestsPerSecond, inFlight autoscaling)",
                pods=OPERATOR_PODS,
            ),
        ]

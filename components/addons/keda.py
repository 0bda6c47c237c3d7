"""``Keda``: request-rate autoscaling (ScaledObjects) for AI services."""

from __future__ import annotations

from typing import Any, NamedTuple

from components.addons.base import AddonArgs, HelmAddon
from model.workload import Workload


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

"""A service's size as the stack file states it, and what it costs per month."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ai_platform_policies import cost
from model.config import ServiceConfig


@dataclass(frozen=True)
class Size:
    """Replicas, autoscaling and per-replica requests: the keys the planner may change."""

    min_replicas: int
    max_replicas: int
    target_cpu_utilization: int | None
    """``None``: not autoscaled on CPU (``replicas`` only, or a load metric)."""
    cpu: str
    memory: str
    cpu_limit: str | None
    memory_limit: str | None
    gpu: int
    gpu_type: str
    load_metric: tuple[str, float] | None = None
    """KEDA autoscaling (``requestsPerSecond`` or ``inFlight``, per-replica target): kept as it is."""

    @classmethod
    def of(cls, service: ServiceConfig) -> Size:
        scaling, resources = service.autoscaling, service.resources
        return cls(
            min_replicas=service.min_replicas,
            max_replicas=service.max_replicas,
            target_cpu_utilization=int(scaling.per_replica_target) if scaling and not scaling.uses_keda else None,
            load_metric=(scaling.metric, scaling.per_replica_target) if scaling and scaling.uses_keda else None,
            cpu=resources.cpu,
            memory=resources.memory,
            cpu_limit=resources.cpu_limit,
            memory_limit=resources.memory_limit,
            gpu=resources.gpu,
            gpu_type=resources.gpu_type,
        )

    def replica_month(self, prices: cost.Prices) -> Decimal:
        """alpha: one replica's requests for a month, from the cost model."""
        requests: dict[str, str] = {"cpu": self.cpu, "memory": self.memory}
        if self.gpu:
            requests[cost.GPU] = str(self.gpu)
        return cost.hourly(requests, prices, self.gpu_type if self.gpu else None) * prices.hours_per_month

    def autoscaling_keys(self) -> dict[str, Any]:
        """The stack file's ``autoscaling`` keys for this size (the one place that names them)."""
        bounds: dict[str, Any] = {"minReplicas": self.min_replicas, "maxReplicas": self.max_replicas}
        if self.load_metric is not None:
            metric, target = self.load_metric
            return bounds | {"metric": metric, "target": int(target) if float(target).is_integer() else target}
        if self.target_cpu_utilization is None:
            return {}
        return bounds | {"metric": "cpu", "target": self.target_cpu_utilization}

    def resources_keys(self) -> dict[str, str | None]:
        """The stack file's ``resources`` keys the planner sets; ``None`` removes a key."""
        return {"cpu": self.cpu, "memory": self.memory, "cpuLimit": self.cpu_limit, "memoryLimit": self.memory_limit}

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "minReplicas": self.min_replicas,
            "maxReplicas": self.max_replicas,
            "targetCPUUtilization": self.target_cpu_utilization,
            "metric": self.load_metric[0] if self.load_metric else ("cpu" if self.target_cpu_utilization else None),
            "target": self.load_metric[1] if self.load_metric else self.target_cpu_utilization,
            "cpu": self.cpu,
            "memory": self.memory,
            "cpuLimit": self.cpu_limit,
            "memoryLimit": self.memory_limit,
        }
        if self.gpu:
            document |= {"gpu": self.gpu, "gpuType": self.gpu_type}
        return document

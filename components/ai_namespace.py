"""``AiNamespace``: a namespace for AI services, with admission rules and a capacity cap.

The namespace enforces the restricted Pod Security Standard at admission and
denies all network traffic but DNS unless a service's policy allows it; its
ResourceQuota is derived from the services declared in it (every replica at
its autoscaling maximum, plus one surge pod per service for rollouts, plus
headroom), so the cap grows with the stack file instead of drifting from it;
its LimitRange gives defaults to anything created without requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import pulumi
import pulumi_kubernetes as k8s

from ai_platform_policies.quantity import format_cpu, format_memory, parse_quantity
from components.kube import PART_OF, default_deny, pod_security_labels
from components.network import acme_solver, declare_allows
from model.config import ClusterConfig, Environment, ServiceConfig

#: Extra capacity on top of what the declared services can use at most.
QUOTA_HEADROOM = Decimal("1.25")
EXTRA_PODS = 10


@dataclass(frozen=True)
class AiNamespaceArgs:
    name: str
    environment: Environment
    kubernetes_version: str
    services: Sequence[ServiceConfig]
    cluster: ClusterConfig = field(default_factory=ClusterConfig)


class AiNamespace(pulumi.ComponentResource):
    """A restricted namespace with a quota sized from the services it runs."""

    namespace: k8s.core.v1.Namespace
    TYPE = "ai-platform:namespaces:AiNamespace"

    def __init__(self, name: str, args: AiNamespaceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        labels = {"app.kubernetes.io/part-of": PART_OF, "ai-platform.io/environment": args.environment}
        self.namespace = k8s.core.v1.Namespace(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.name,
                labels={
                    **labels,
                    "ai-platform.io/workloads": "ai-services",
                    **pod_security_labels("restricted", kubernetes_version=args.kubernetes_version),
                },
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        inside = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        # Every service then allows only what it needs (AiService's NetworkPolicy).
        default_deny(args.name, labels, inside)
        # cert-manager's HTTP-01 solver pods for the services' Ingresses run here.
        declare_allows(args.name, [acme_solver(args.cluster)], labels, inside)
        metadata = k8s.meta.v1.ObjectMetaArgs(name="ai-services", namespace=args.name, labels=labels)
        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=metadata,
            spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=quota(args.services)),
            opts=inside,
        )
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=metadata,
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        default_request={"cpu": "100m", "memory": "128Mi"},
                        default={"cpu": "500m", "memory": "512Mi"},
                    )
                ]
            ),
            opts=inside,
        )
        self.register_outputs({"name": args.name})


def quota(services: Sequence[ServiceConfig]) -> dict[str, str]:
    """Hard limits that fit every service at its maximum plus one surge pod, with headroom."""
    cpu = memory = Decimal(0)
    gpus = pods = 0
    for service in services:
        most = service.max_replicas + 1
        limits = service.resources.limits
        cpu += most * parse_quantity(limits["cpu"])
        memory += most * parse_quantity(limits["memory"])
        gpus += most * service.resources.gpu
        pods += most
    hard = {
        "limits.cpu": format_cpu(cpu * QUOTA_HEADROOM),
        "limits.memory": format_memory(memory * QUOTA_HEADROOM),
        "requests.cpu": format_cpu(cpu * QUOTA_HEADROOM),
        "requests.memory": format_memory(memory * QUOTA_HEADROOM),
        "pods": str(pods + EXTRA_PODS),
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }
    if gpus:
        hard["requests.nvidia.com/gpu"] = str(gpus)
    return hard

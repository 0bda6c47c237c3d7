"""``CertManager``: cert-manager with its CRDs, which signs every ingress' TLS certificate."""

from __future__ import annotations

from typing import Any, NamedTuple

from components.addons.base import AddonArgs, HelmAddon
from model.config import CertManagerConfig
from model.workload import Workload


class CertManagerArgs(AddonArgs):
    chart: CertManagerConfig


class CertManagerWorkloads(NamedTuple):
    controller: Workload
    webhook: Workload
    cainjector: Workload


class CertManager(HelmAddon[CertManagerArgs]):
    """cert-manager: controller, webhook and CA injector, with their CRDs (kept on uninstall)."""

    CHART = "cert-manager"
    REPOSITORY = "https://charts.jetstack.io"
    NAMESPACE = "cert-manager"
    POD_SECURITY = "restricted"
    TYPE = "ai-platform:addons:CertManager"

    @classmethod
    def workloads(cls, args: CertManagerArgs) -> CertManagerWorkloads:
        replicas = args.replicas
        return CertManagerWorkloads(
            controller=Workload(name="controller", replicas=replicas, cpu="50m", memory="128Mi", cpu_limit="500m"),
            webhook=Workload(name="webhook", replicas=replicas, cpu="25m", memory="64Mi", cpu_limit="250m"),
            cainjector=Workload(
                name="cainjector", replicas=min(replicas, 2), cpu="25m", memory="128Mi", cpu_limit="250m"
            ),
        )

    @classmethod
    def values(cls, args: CertManagerArgs) -> dict[str, Any]:
        workloads = cls.workloads(args)
        budget = {"enabled": args.replicas > 1, "minAvailable": 1}
        return {
            "crds": {"enabled": True, "keep": True},
            "replicaCount": workloads.controller.replicas,
            "podDisruptionBudget": budget,
            "resources": workloads.controller.resources(),
            "webhook": {
                "replicaCount": workloads.webhook.replicas,
                "podDisruptionBudget": budget,
                "resources": workloads.webhook.resources(),
            },
            "cainjector": {
                "replicaCount": workloads.cainjector.replicas,
                "podDisruptionBudget": budget,
                "resources": workloads.cainjector.resources(),
            },
            "prometheus": {"enabled": True, "servicemonitor": {"enabled": args.service_monitors}},
        }

"""``CertManager``: cert-manager with its CRDs, which signs every ingress' TLS certificate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from components.addons.base import AddonArgs, HelmAddon
from components.network import ANYWHERE, NetworkAllow, Peer, api_server, from_api_server
from model.config import CertManagerConfig
from model.workload import Workload

#: The webhook's pods and the port the API server calls (chart ``webhook.securePort``, 10250).
WEBHOOK_PODS = {"app.kubernetes.io/name": "webhook", "app.kubernetes.io/component": "webhook"}
WEBHOOK_PORT = 10250
CONTROLLER_PODS = {"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/component": "controller"}


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
    #: The controller's Prometheus metrics (``http-metrics``).
    METRICS_PORTS = (9402,)

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

    @classmethod
    def network_allows(cls, args: CertManagerArgs) -> Sequence[NetworkAllow]:
        cluster = args.cluster
        allows = [
            api_server(
                cluster,
                "controller, webhook, cainjector and the startupapicheck Job read and write cert-manager resources",
            ),
            from_api_server(
                cluster,
                "webhook-from-api-server",
                (WEBHOOK_PORT,),
                WEBHOOK_PODS,
                "the API server validates and converts every cert-manager resource through the webhook; "
                "unreachable, every Certificate and Issuer is rejected",
            ),
        ]
        if args.environment != "dev":
            allows.append(
                NetworkAllow(
                    name="acme",
                    direction="egress",
                    # The self-check goes to the host's load balancer, which kube-proxy may short-circuit to the
                    # controller pods: name them too (CNIs such as Cilium do not match pod IPs by ipBlock).
                    peers=(Peer.of_cidrs([ANYWHERE]), Peer.of_namespace(cluster.ingress_namespace)),
                    ports=(80, 443),
                    why="ACME outside dev: the CA's API on 443, and the HTTP-01 self-check of each host on 80",
                    pods=CONTROLLER_PODS,
                )
            )
        return allows

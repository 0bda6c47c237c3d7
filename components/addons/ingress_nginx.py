"""``IngressNginx``: the platform's only LoadBalancer, sized for large model payloads."""

from __future__ import annotations

from typing import Any, NamedTuple

from components.addons.base import AddonArgs, HelmAddon
from model.config import IngressNginxConfig
from model.workload import Workload


class IngressNginxArgs(AddonArgs):
    chart: IngressNginxConfig


class IngressNginxWorkloads(NamedTuple):
    controller: Workload
    create_secret_job: Workload
    patch_webhook_job: Workload


def _hook_job(name: str) -> Workload:
    return Workload(name=name, replicas=0, cpu="10m", memory="64Mi", cpu_limit="100m")


class IngressNginx(HelmAddon[IngressNginxArgs]):
    """ingress-nginx: the default IngressClass, no request buffering, metrics."""

    CHART = "ingress-nginx"
    REPOSITORY = "https://kubernetes.github.io/ingress-nginx"
    NAMESPACE = "ingress-nginx"
    TYPE = "ai-platform:addons:IngressNginx"

    @classmethod
    def workloads(cls, args: IngressNginxArgs) -> IngressNginxWorkloads:
        return IngressNginxWorkloads(
            controller=Workload(
                name="controller",
                replicas=args.replicas,
                cpu="250m",
                memory="512Mi" if args.prod else "256Mi",
                cpu_limit="1",
            ),
            # The admission webhook's certificate Jobs (Helm hooks around each install and upgrade).
            create_secret_job=_hook_job("admission-create (Helm hook)"),
            patch_webhook_job=_hook_job("admission-patch (Helm hook)"),
        )

    @classmethod
    def values(cls, args: IngressNginxArgs) -> dict[str, Any]:
        chart = args.chart
        workloads = cls.workloads(args)
        workload = workloads.controller
        timeout = str(chart.proxy_timeout_seconds)
        controller: dict[str, Any] = {
            "replicaCount": workload.replicas,
            "ingressClassResource": {"name": args.cluster.ingress_class_name, "default": True},
            "service": {"type": "LoadBalancer", "externalTrafficPolicy": "Local"},
            "allowSnippetAnnotations": False,
            "config": {
                # Model payloads (batches, audio, images) are large and slow.
                "proxy-body-size": chart.max_body_size,
                "proxy-read-timeout": timeout,
                "proxy-send-timeout": timeout,
                "proxy-request-buffering": "off",
                "client-body-buffer-size": "1m",
                "use-forwarded-headers": "true",
            },
            "resources": workload.resources(),
            "metrics": {"enabled": True, "serviceMonitor": {"enabled": args.service_monitors}},
            "admissionWebhooks": {
                "createSecretJob": {"resources": workloads.create_secret_job.resources()},
                "patchWebhookJob": {"resources": workloads.patch_webhook_job.resources()},
            },
        }
        if workload.replicas > 1:
            controller["minAvailable"] = 1
            controller["topologySpreadConstraints"] = [
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
                }
            ]
        return {"controller": controller}

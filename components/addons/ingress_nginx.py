"""``IngressNginx``: the platform's only LoadBalancer, sized for large model payloads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from components.addons.base import AddonArgs, HelmAddon
from components.network import Backend, NetworkAllow, Peer, api_server, from_api_server, to_backends
from model.config import IngressNginxConfig
from model.workload import Workload

#: The controller pods (not the admission hook Jobs, which share ``app.kubernetes.io/name``).
CONTROLLER_PODS = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}
#: The controller's container ports (chart defaults): served traffic, metrics, admission webhook.
HTTP_PORT, HTTPS_PORT, METRICS_PORT, WEBHOOK_PORT = 80, 443, 10254, 8443


class IngressNginxArgs(AddonArgs):
    chart: IngressNginxConfig
    backends: tuple[Backend, ...] = ()
    """Where the platform's Ingresses route: each namespace and the pod ports behind its Services."""


class IngressNginxWorkloads(NamedTuple):
    controller: Workload
    create_secret_job: Workload
    patch_webhook_job: Workload


def _hook_job(name: str) -> Workload:
    return Workload(name=name, replicas=0, cpu="10m", memory="64Mi", cpu_limit="100m")


def forwarded_headers(chart: IngressNginxConfig) -> dict[str, str]:
    """Believe ``X-Forwarded-*`` only from the trusted L7 proxies in front of the load balancer.

    Behind an L4 load balancer (the default: ``trustedProxyCidrs`` empty) the
    client's own address reaches the controller, and trusting the headers
    would let any client choose its apparent IP (logs, allow-lists, rate
    limits) and scheme; with a CDN or L7 proxy in front, its ranges become
    ``proxy-real-ip-cidr`` (the controller's default would be 0.0.0.0/0).
    """
    if not chart.trusted_proxy_cidrs:
        return {"use-forwarded-headers": "false"}
    return {"use-forwarded-headers": "true", "proxy-real-ip-cidr": ",".join(chart.trusted_proxy_cidrs)}


class IngressNginx(HelmAddon[IngressNginxArgs]):
    """ingress-nginx: the default IngressClass, no request buffering, metrics."""

    CHART = "ingress-nginx"
    REPOSITORY = "https://kubernetes.github.io/ingress-nginx"
    NAMESPACE = "ingress-nginx"
    TYPE = "ai-platform:addons:IngressNginx"
    METRICS_PORTS = (METRICS_PORT,)

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
                **forwarded_headers(chart),
                # HSTS stated, not inherited from the controller's defaults.
                "hsts": "true",
                "hsts-max-age": str(chart.hsts_max_age_seconds),
                "hsts-include-subdomains": "true",
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

    @classmethod
    def network_allows(cls, args: IngressNginxArgs) -> Sequence[NetworkAllow]:
        cluster = args.cluster
        return [
            NetworkAllow(
                name="public-http-https",
                direction="ingress",
                peers=(Peer.anywhere(),),
                ports=(HTTP_PORT, HTTPS_PORT),
                why="the controller is the platform's LoadBalancer: clients anywhere reach it on 80 and 443",
                pods=CONTROLLER_PODS,
            ),
            from_api_server(
                cluster,
                "admission-webhook-from-api-server",
                (WEBHOOK_PORT,),
                CONTROLLER_PODS,
                "the API server calls the controller's admission webhook to validate every Ingress",
            ),
            api_server(
                cluster, "the controller watches Ingresses, Services and Secrets; the hook Jobs patch the webhook"
            ),
            *to_backends(
                "to-backend",
                args.backends,
                "the controller proxies each Ingress to its Service's pods (and ACME HTTP-01 to solver pods)",
                CONTROLLER_PODS,
            ),
        ]

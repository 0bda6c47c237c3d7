"""``ClusterAddons``: what every AI service relies on in the cluster.

ingress-nginx (the platform's only LoadBalancer, sized for large model
payloads), cert-manager with its CRDs and the ``platform-issuer``
ClusterIssuer (a self-signed CA in dev, ACME elsewhere), metrics-server
(needed by every HPA), the NVIDIA device plugin and NVIDIA's DCGM exporter
(GPU metrics, when GPU services run) on GPU nodes, and KEDA for
request-rate autoscaling. Each is a ``HelmAddon`` with typed values, sized per
environment, and can be switched off per stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict, TypeGuard, TypeVar

import pulumi
import pulumi_kubernetes as k8s

from components.addons.cert_manager import CertManager, CertManagerArgs
from components.addons.dcgm_exporter import DcgmExporter, DcgmExporterArgs
from components.addons.ingress_nginx import IngressNginx, IngressNginxArgs
from components.addons.keda import Keda, KedaArgs
from components.addons.metrics_server import MetricsServer, MetricsServerArgs
from components.addons.nvidia_device_plugin import NvidiaDevicePlugin, NvidiaDevicePluginArgs
from components.network import Backend
from model.config import AddonsConfig, CertManagerConfig, ClusterConfig, Environment, HelmChartConfig

ChartT = TypeVar("ChartT", bound=HelmChartConfig)


class _Common(TypedDict):
    """What every cluster add-on's args share."""

    environment: Environment
    cluster: ClusterConfig
    service_monitors: bool


def _enabled(chart: ChartT | None) -> TypeGuard[ChartT]:
    return chart is not None and chart.enabled


@dataclass(frozen=True)
class ClusterAddonsArgs:
    addons: AddonsConfig
    cluster: ClusterConfig
    environment: Environment
    service_monitors: bool = False
    """Whether the Prometheus Operator CRDs exist, so charts may create ServiceMonitors."""
    ingress_backends: tuple[Backend, ...] = ()
    """Where the platform's Ingresses route (the ingress controller's egress allows)."""
    gpu_services: bool = False
    """Whether any AI service requests GPUs (then the DCGM exporter runs beside the device plugin)."""


class ClusterAddons(pulumi.ComponentResource):
    """Ingress, certificates, metrics, GPU device plugin and KEDA for the platform."""

    TYPE = "ai-platform:addons:ClusterAddons"

    ingress: IngressNginx | None
    cert_manager: CertManager | None
    metrics_server: MetricsServer | None
    keda: Keda | None
    dcgm_exporter: DcgmExporter | None
    #: What workloads with an Ingress or an HPA must wait for.
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        self._args = args
        config = args.addons
        common: _Common = {
            "environment": args.environment,
            "cluster": args.cluster,
            "service_monitors": args.service_monitors,
        }
        child = pulumi.ResourceOptions(parent=self)
        self.ready = []
        self.ingress = self.cert_manager = self.metrics_server = self.keda = self.dcgm_exporter = None
        if _enabled(config.ingress_nginx):
            ingress = IngressNginxArgs(
                chart=config.ingress_nginx,
                namespace=args.cluster.ingress_namespace,
                backends=args.ingress_backends,
                **common,
            )
            self.ingress = IngressNginx("ingress-nginx", ingress, child)
        if _enabled(config.cert_manager):
            self.cert_manager = CertManager("cert-manager", CertManagerArgs(chart=config.cert_manager, **common), child)
        if _enabled(config.metrics_server):
            chart = config.metrics_server
            self.metrics_server = MetricsServer("metrics-server", MetricsServerArgs(chart=chart, **common), child)
        if _enabled(config.nvidia_device_plugin):
            chart = config.nvidia_device_plugin
            NvidiaDevicePlugin("nvidia-device-plugin", NvidiaDevicePluginArgs(chart=chart, **common), child)
            if args.gpu_services and _enabled(config.dcgm_exporter):
                dcgm = DcgmExporterArgs(chart=config.dcgm_exporter, **common)
                self.dcgm_exporter = DcgmExporter("dcgm-exporter", dcgm, child)
        if _enabled(config.keda):
            self.keda = Keda("keda", KedaArgs(chart=config.keda, **common), child)
        if self.cert_manager is not None and config.cert_manager is not None:
            self.ready.append(self._cluster_issuer(config.cert_manager, self.cert_manager))
        for addon in (self.ingress, self.metrics_server):
            if addon is not None:
                self.ready.append(addon.release)
        self.register_outputs(
            {"ingressClass": args.cluster.ingress_class_name, "clusterIssuer": args.cluster.cluster_issuer}
        )

    def _cluster_issuer(self, config: CertManagerConfig, cert_manager: CertManager) -> pulumi.Resource:
        """``platform-issuer``: a self-signed CA in dev, ACME (HTTP-01 through the ingress) elsewhere."""
        issuer = self._args.cluster.cluster_issuer
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[cert_manager.release])
        if self._args.environment == "dev":
            bootstrap = k8s.apiextensions.CustomResource(
                "selfsigned-issuer",
                api_version="cert-manager.io/v1",
                kind="ClusterIssuer",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="selfsigned"),
                spec={"selfSigned": {}},
                opts=after_crds,
            )
            ca = k8s.apiextensions.CustomResource(
                "platform-ca",
                api_version="cert-manager.io/v1",
                kind="Certificate",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="platform-ca", namespace=cert_manager.namespace_name),
                spec={
                    "isCA": True,
                    "commonName": "ai-platform dev CA",
                    "secretName": "platform-ca",
                    "duration": "8760h",
                    "privateKey": {"algorithm": "ECDSA", "size": 256},
                    "issuerRef": {"name": "selfsigned", "kind": "ClusterIssuer", "group": "cert-manager.io"},
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[bootstrap]),
            )
            spec: dict[str, Any] = {"ca": {"secretName": "platform-ca"}}
            opts = pulumi.ResourceOptions(parent=self, depends_on=[ca])
        else:
            spec = {
                "acme": {
                    "email": config.acme_email,
                    "server": config.acme_server,
                    "privateKeySecretRef": {"name": f"{issuer}-account"},
                    "solvers": [{"http01": {"ingress": {"ingressClassName": self._args.cluster.ingress_class_name}}}],
                }
            }
            opts = after_crds
        return k8s.apiextensions.CustomResource(
            "platform-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=issuer),
            spec=spec,
            opts=opts,
        )

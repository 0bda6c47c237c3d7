"""``ClusterAddons``: what every AI service relies on in the cluster.

ingress-nginx (the platform's only LoadBalancer, sized for large model
payloads), cert-manager with its CRDs and the ``platform-issuer``
ClusterIssuer (a self-signed CA in dev, ACME elsewhere), metrics-server
(needed by every HPA), the NVIDIA device plugin on GPU nodes, and KEDA for
request-rate autoscaling. Each is a ``HelmAddon`` with typed values, sized per
environment, and can be switched off per stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import pulumi
import pulumi_kubernetes as k8s

from components.helm_addon import HelmAddon, HelmAddonArgs, part, resources
from model.config import (
    AddonsConfig,
    CertManagerConfig,
    ClusterConfig,
    Environment,
    HelmChartConfig,
    IngressNginxConfig,
)

AddonT = TypeVar("AddonT", bound=HelmAddon)


class IngressNginx(HelmAddon):
    CHART = "ingress-nginx"
    REPOSITORY = "https://kubernetes.github.io/ingress-nginx"
    NAMESPACE = "ingress-nginx"
    TYPE = "ai-platform:addons:IngressNginx"

    def values(self) -> dict[str, Any]:
        chart = self.args.chart
        assert isinstance(chart, IngressNginxConfig)
        timeout = str(chart.proxy_timeout_seconds)
        controller: dict[str, Any] = {
            "replicaCount": self.replicas,
            "ingressClassResource": {"name": self.args.cluster.ingress_class_name, "default": True},
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
            "resources": resources("250m", "512Mi" if self.prod else "256Mi", cpu_limit="1"),
            "metrics": {"enabled": True, "serviceMonitor": {"enabled": self.args.service_monitors}},
        }
        if self.replicas > 1:
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

    def footprint(self, values: dict[str, Any]) -> list[dict[str, Any]]:
        controller = values["controller"]
        return [part("controller", controller["replicaCount"], controller["resources"])]


class CertManager(HelmAddon):
    CHART = "cert-manager"
    REPOSITORY = "https://charts.jetstack.io"
    NAMESPACE = "cert-manager"
    POD_SECURITY = "restricted"
    TYPE = "ai-platform:addons:CertManager"

    def values(self) -> dict[str, Any]:
        budget = {"enabled": self.replicas > 1, "minAvailable": 1}
        return {
            "crds": {"enabled": True, "keep": True},
            "replicaCount": self.replicas,
            "podDisruptionBudget": budget,
            "resources": resources("50m", "128Mi", cpu_limit="500m"),
            "webhook": {
                "replicaCount": self.replicas,
                "podDisruptionBudget": budget,
                "resources": resources("25m", "64Mi", cpu_limit="250m"),
            },
            "cainjector": {
                "replicaCount": min(self.replicas, 2),
                "podDisruptionBudget": budget,
                "resources": resources("25m", "128Mi", cpu_limit="250m"),
            },
            "prometheus": {"enabled": True, "servicemonitor": {"enabled": self.args.service_monitors}},
        }

    def footprint(self, values: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            part("controller", values["replicaCount"], values["resources"]),
            part("webhook", values["webhook"]["replicaCount"], values["webhook"]["resources"]),
            part("cainjector", values["cainjector"]["replicaCount"], values["cainjector"]["resources"]),
        ]


class MetricsServer(HelmAddon):
    CHART = "metrics-server"
    REPOSITORY = "https://kubernetes-sigs.github.io/metrics-server/"
    NAMESPACE = "metrics-server"
    TYPE = "ai-platform:addons:MetricsServer"

    def values(self) -> dict[str, Any]:
        replicas = min(self.replicas, 2)
        return {
            "replicas": replicas,
            "podDisruptionBudget": {"enabled": replicas > 1, "minAvailable": 1},
            "resources": resources("100m", "200Mi", cpu_limit="500m"),
            "metrics": {"enabled": True},
        }

    def footprint(self, values: dict[str, Any]) -> list[dict[str, Any]]:
        return [part("metrics-server", values["replicas"], values["resources"])]


class NvidiaDevicePlugin(HelmAddon):
    CHART = "nvidia-device-plugin"
    REPOSITORY = "https://nvidia.github.io/k8s-device-plugin"
    NAMESPACE = "nvidia-device-plugin"
    #: The plugin mounts the kubelet's device-plugin socket from the host.
    POD_SECURITY = "privileged"
    TYPE = "ai-platform:addons:NvidiaDevicePlugin"

    def values(self) -> dict[str, Any]:
        cluster = self.args.cluster
        return {
            "nodeSelector": dict(cluster.gpu_node_selector),
            "tolerations": [{"key": cluster.gpu_taint_key, "operator": "Exists", "effect": "NoSchedule"}],
            "resources": resources("50m", "64Mi", cpu_limit="200m"),
        }

    def footprint(self, values: dict[str, Any]) -> list[dict[str, Any]]:
        # A DaemonSet: one pod per GPU node; priced for one node.
        return [part("device-plugin (per GPU node)", 1, values["resources"])]


class Keda(HelmAddon):
    CHART = "keda"
    REPOSITORY = "https://kedacore.github.io/charts"
    NAMESPACE = "keda"
    TYPE = "ai-platform:addons:Keda"

    def values(self) -> dict[str, Any]:
        replicas = min(self.replicas, 2)  # one active operator; a second one is a warm standby
        budget = {"minAvailable": 1} if replicas > 1 else {}
        return {
            "operator": {"replicaCount": replicas},
            "metricsServer": {"replicaCount": replicas},
            "podDisruptionBudget": {"operator": budget, "metricServer": budget},
            "resources": {
                "operator": resources("100m", "128Mi", cpu_limit="500m"),
                "metricServer": resources("100m", "128Mi", cpu_limit="500m"),
            },
            "prometheus": {"operator": {"enabled": True, "serviceMonitor": {"enabled": self.args.service_monitors}}},
        }

    def footprint(self, values: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            part("operator", values["operator"]["replicaCount"], values["resources"]["operator"]),
            part("metrics-server", values["metricsServer"]["replicaCount"], values["resources"]["metricServer"]),
        ]


@dataclass(frozen=True)
class ClusterAddonsArgs:
    addons: AddonsConfig
    cluster: ClusterConfig
    environment: Environment
    service_monitors: bool = False
    """Whether the Prometheus Operator CRDs exist, so charts may create ServiceMonitors."""


class ClusterAddons(pulumi.ComponentResource):
    """Ingress, certificates, metrics, GPU device plugin and KEDA for the platform."""

    TYPE = "ai-platform:addons:ClusterAddons"

    ingress: IngressNginx | None
    cert_manager: CertManager | None
    metrics_server: MetricsServer | None
    keda: Keda | None
    #: What workloads with an Ingress or an HPA must wait for.
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        self._args = args
        config = args.addons
        self.ready = []
        self.ingress = self._addon(
            IngressNginx, "ingress-nginx", config.ingress_nginx, namespace=args.cluster.ingress_namespace
        )
        self.cert_manager = self._addon(CertManager, "cert-manager", config.cert_manager)
        self.metrics_server = self._addon(MetricsServer, "metrics-server", config.metrics_server)
        self._addon(NvidiaDevicePlugin, "nvidia-device-plugin", config.nvidia_device_plugin)
        self.keda = self._addon(Keda, "keda", config.keda)
        if self.cert_manager is not None and config.cert_manager is not None:
            self.ready.append(self._cluster_issuer(config.cert_manager, self.cert_manager))
        for addon in (self.ingress, self.metrics_server):
            if addon is not None:
                self.ready.append(addon.release)
        self.register_outputs(
            {"ingressClass": args.cluster.ingress_class_name, "clusterIssuer": args.cluster.cluster_issuer}
        )

    def _addon(
        self, kind: type[AddonT], name: str, chart: HelmChartConfig | None, namespace: str | None = None
    ) -> AddonT | None:
        if chart is None or not chart.enabled:
            return None
        return kind(
            name,
            HelmAddonArgs(
                chart=chart,
                environment=self._args.environment,
                namespace=namespace,
                cluster=self._args.cluster,
                service_monitors=self._args.service_monitors,
            ),
            opts=pulumi.ResourceOptions(parent=self),
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
            return k8s.apiextensions.CustomResource(
                "platform-issuer",
                api_version="cert-manager.io/v1",
                kind="ClusterIssuer",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=issuer),
                spec={"ca": {"secretName": "platform-ca"}},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[ca]),
            )
        return k8s.apiextensions.CustomResource(
            "platform-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=issuer),
            spec={
                "acme": {
                    "email": config.acme_email,
                    "server": config.acme_server,
                    "privateKeySecretRef": {"name": f"{issuer}-account"},
                    "solvers": [{"http01": {"ingress": {"ingressClassName": self._args.cluster.ingress_class_name}}}],
                }
            },
            opts=after_crds,
        )

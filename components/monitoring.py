"""``Monitoring``: Prometheus, Alertmanager and Grafana, and how every AI service is watched.

kube-prometheus-stack as a ``HelmAddon`` (retention and storage sized per
environment, Alertmanager routes from config, Grafana with its admin password
from a Pulumi secret, a TLS ingress and the dashboard sidecar), plus for each
AI service a ServiceMonitor, a PrometheusRule with SLO recording rules and
alerts, and a Grafana dashboard, all generated from the service's config.
Custom resources wait for the release that installs their CRDs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.helm_addon import HelmAddon, HelmAddonArgs, part, resources
from components.kube import selector_labels
from components.observability import alertmanager_config, platform_dashboard, service_dashboard, service_rules
from model.config import ClusterConfig, Environment, MonitoringConfig, ServiceConfig

GRAFANA_ADMIN_SECRET = "grafana-admin"
#: The Helm release name; the chart names its Prometheus Service ``<release>-prometheus``.
PROMETHEUS_RELEASE = "kube-prometheus-stack"
DASHBOARD_LABEL = "grafana_dashboard"


class KubePrometheusStack(HelmAddon):
    CHART = "kube-prometheus-stack"
    REPOSITORY = "https://prometheus-community.github.io/helm-charts"
    NAMESPACE = "monitoring"
    #: node-exporter reads the host's /proc and /sys on the host network.
    POD_SECURITY = "privileged"
    TYPE = "ai-platform:monitoring:KubePrometheusStack"

    def __init__(
        self,
        name: str,
        args: HelmAddonArgs,
        monitoring: MonitoringConfig,
        grafana_password: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        # Set before the base declares the release: values() reads them.
        self.monitoring = monitoring
        self.grafana_password = grafana_password
        super().__init__(name, args, opts)

    def before_release(self, name: str) -> None:
        k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=GRAFANA_ADMIN_SECRET, namespace=self.namespace_name),
            type="Opaque",
            string_data={"admin-user": "admin", "admin-password": pulumi.Output.secret(self.grafana_password)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespace]),
        )

    def values(self) -> dict[str, Any]:
        config = self.monitoring
        replicas = 2 if self.prod else 1

        def volume(size: str) -> dict[str, Any]:
            return {
                "volumeClaimTemplate": {
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
                }
            }

        grafana: dict[str, Any] = {
            "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
            "persistence": {"enabled": True, "size": config.grafana_storage_size},
            "sidecar": {
                "dashboards": {"enabled": True, "label": DASHBOARD_LABEL, "labelValue": "1", "searchNamespace": "ALL"}
            },
            "resources": resources("100m", "256Mi", cpu_limit="500m"),
        }
        if config.grafana_host:
            cluster = self.args.cluster
            grafana["ingress"] = {
                "enabled": True,
                "ingressClassName": cluster.ingress_class_name,
                "annotations": {"cert-manager.io/cluster-issuer": cluster.cluster_issuer},
                "hosts": [config.grafana_host],
                "tls": [{"secretName": "grafana-tls", "hosts": [config.grafana_host]}],
            }
        return {
            "prometheus": {
                "prometheusSpec": {
                    "replicas": replicas,
                    "retention": config.retention,
                    # Select every ServiceMonitor and PrometheusRule, not only the chart's own.
                    "serviceMonitorSelectorNilUsesHelmValues": False,
                    "podMonitorSelectorNilUsesHelmValues": False,
                    "ruleSelectorNilUsesHelmValues": False,
                    "resources": resources("500m", "4Gi" if self.prod else "2Gi", cpu_limit="2"),
                    "storageSpec": volume(config.storage_size),
                }
            },
            "alertmanager": {
                "config": alertmanager_config(config.alerting),
                "alertmanagerSpec": {
                    "replicas": replicas,
                    "resources": resources("50m", "128Mi", cpu_limit="200m"),
                    "storage": volume("2Gi"),
                },
            },
            "grafana": grafana,
            # Sized explicitly, so every pod the chart runs has requests (and a known cost).
            "prometheusOperator": {"resources": resources("100m", "128Mi", cpu_limit="500m")},
            "kube-state-metrics": {"resources": resources("50m", "128Mi", cpu_limit="250m")},
            "prometheus-node-exporter": {"resources": resources("50m", "64Mi", cpu_limit="250m")},
        }

    def footprint(self, values: dict[str, Any]) -> list[dict[str, Any]]:
        prometheus = values["prometheus"]["prometheusSpec"]
        alertmanager = values["alertmanager"]["alertmanagerSpec"]
        grafana = values["grafana"]

        def claim(spec: dict[str, Any]) -> list[dict[str, Any]]:
            size = spec["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"]
            return [{"size": size}]

        return [
            part("prometheus", prometheus["replicas"], prometheus["resources"], claim(prometheus["storageSpec"])),
            part("alertmanager", alertmanager["replicas"], alertmanager["resources"], claim(alertmanager["storage"])),
            part("grafana", 1, grafana["resources"], [{"size": grafana["persistence"]["size"]}]),
            part("prometheus-operator", 1, values["prometheusOperator"]["resources"]),
            part("kube-state-metrics", 1, values["kube-state-metrics"]["resources"]),
            part("node-exporter (per node)", 1, values["prometheus-node-exporter"]["resources"]),
        ]


@dataclass(frozen=True)
class MonitoringArgs:
    config: MonitoringConfig
    environment: Environment
    cluster: ClusterConfig
    services: Sequence[ServiceConfig]
    grafana_password: pulumi.Input[str]


class Monitoring(pulumi.ComponentResource):
    """The monitoring stack and the per-service monitors, rules and dashboards."""

    TYPE = "ai-platform:monitoring:Monitoring"

    stack: KubePrometheusStack
    prometheus_url: str
    """In-cluster URL of Prometheus (the chart's ``<release>-prometheus`` Service), for KEDA's triggers."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        self.stack = KubePrometheusStack(
            PROMETHEUS_RELEASE,
            HelmAddonArgs(
                chart=args.config.kube_prometheus_stack,
                environment=args.environment,
                namespace=args.cluster.monitoring_namespace,
                # Metrics history and dashboards are data.
                protect=args.environment == "prod",
                cluster=args.cluster,
            ),
            monitoring=args.config,
            grafana_password=args.grafana_password,
            opts=pulumi.ResourceOptions(parent=self),
        )
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[self.stack.release])
        namespace = self.stack.namespace_name
        self.prometheus_url = f"http://{PROMETHEUS_RELEASE}-prometheus.{namespace}.svc:9090"
        for service in args.services:
            self._watch(service, after_crds)
            self._dashboard(f"dashboard-{service.name}", namespace, service_dashboard(service, args.environment))
        self._dashboard("dashboard-platform", namespace, platform_dashboard(args.services, args.environment))
        self.register_outputs({"namespace": namespace})

    def _watch(self, service: ServiceConfig, opts: pulumi.ResourceOptions) -> None:
        metadata = k8s.meta.v1.ObjectMetaArgs(
            name=service.name, namespace=service.namespace, labels={"app.kubernetes.io/part-of": "ai-platform"}
        )
        k8s.apiextensions.CustomResource(
            f"{service.name}-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=metadata,
            spec={
                "selector": {"matchLabels": selector_labels(service.name)},
                "namespaceSelector": {"matchNames": [service.namespace]},
                "endpoints": [
                    {"port": "metrics", "path": service.metrics_path, "interval": "30s", "scrapeTimeout": "10s"}
                ],
            },
            opts=opts,
        )
        k8s.apiextensions.CustomResource(
            f"{service.name}-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=metadata,
            spec=service_rules(service),
            opts=opts,
        )

    def _dashboard(self, name: str, namespace: str, dashboard: dict[str, Any]) -> None:
        k8s.core.v1.ConfigMap(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                namespace=namespace,
                labels={DASHBOARD_LABEL: "1", "app.kubernetes.io/part-of": "ai-platform"},
            ),
            data={f"{name}.json": json.dumps(dashboard, indent=2, sort_keys=True)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.stack.namespace]),
        )

"""``Monitoring``: Prometheus, Alertmanager and Grafana, and how every AI service is watched.

kube-prometheus-stack (``components.addons.kube_prometheus_stack``), plus for
each AI service a ServiceMonitor, a PrometheusRule with SLO recording rules
and alerts (``rules``), and a Grafana dashboard (``dashboards``), all
generated from the service's config, and an overview dashboard. Custom
resources wait for the release that installs their CRDs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.addons.kube_prometheus_stack import DASHBOARD_LABEL, KubePrometheusStack, KubePrometheusStackArgs
from components.addons.retention import retained
from components.kube import selector_labels
from components.monitoring.dashboards import platform_dashboard, service_dashboard, to_json
from components.monitoring.rules import service_rules
from components.network import Backend
from model.config import ClusterConfig, Environment, MonitoringConfig, ServiceConfig

#: The Helm release name; the chart names its Prometheus Service ``<release>-prometheus``.
PROMETHEUS_RELEASE = "kube-prometheus-stack"


@dataclass(frozen=True)
class MonitoringArgs:
    config: MonitoringConfig
    environment: Environment
    cluster: ClusterConfig
    services: Sequence[ServiceConfig]
    grafana_password: pulumi.Input[str]
    scrape_targets: tuple[Backend, ...] = ()
    """Namespaces Prometheus scrapes outside its own, with their metrics ports."""
    prometheus_clients: tuple[str, ...] = ()
    """Namespaces whose pods query Prometheus."""


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
            KubePrometheusStackArgs(
                chart=args.config.kube_prometheus_stack,
                monitoring=args.config,
                environment=args.environment,
                namespace=args.cluster.monitoring_namespace,
                # Metrics history and dashboards are data.
                protect=args.environment == "prod",
                cluster=args.cluster,
                scrape_targets=args.scrape_targets,
                prometheus_clients=args.prometheus_clients,
            ),
            grafana_password=args.grafana_password,
            opts=pulumi.ResourceOptions.merge(
                pulumi.ResourceOptions(parent=self), retained(stateful=args.environment == "prod")
            ),
        )
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[self.stack.release])
        namespace = self.stack.namespace_name
        self.prometheus_url = f"http://{PROMETHEUS_RELEASE}-prometheus.{namespace}.svc:9090"
        for service in args.services:
            self._watch(service, args.config.runbook_base_url, after_crds)
            self._dashboard(
                f"dashboard-{service.name}", namespace, to_json(service_dashboard(service, args.environment))
            )
        self._dashboard("dashboard-platform", namespace, to_json(platform_dashboard(args.services, args.environment)))
        self.register_outputs({"namespace": namespace})

    def _watch(self, service: ServiceConfig, runbook_base_url: str, opts: pulumi.ResourceOptions) -> None:
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
            spec=service_rules(service, runbook_base_url),
            opts=opts,
        )

    def _dashboard(self, name: str, namespace: str, dashboard: str) -> None:
        k8s.core.v1.ConfigMap(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                namespace=namespace,
                labels={DASHBOARD_LABEL: "1", "app.kubernetes.io/part-of": "ai-platform"},
            ),
            data={f"{name}.json": dashboard},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.stack.namespace]),
        )

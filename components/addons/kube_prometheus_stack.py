"""``KubePrometheusStack``: Prometheus, Alertmanager and Grafana from the kube-prometheus-stack chart.

Retention and storage sized per environment, Alertmanager routes from the
stack's ``alerting``, Grafana with its admin password from a Pulumi secret
(a Secret this add-on declares before the release), a TLS ingress, and the
dashboard sidecar that loads the ConfigMaps labelled ``grafana_dashboard`` in
the monitoring namespace. Grafana's RBAC is namespaced: the chart's default
ClusterRole would let it read every Secret of the cluster.

What survives ``pulumi destroy`` (a Helm uninstall): Grafana's PVC, which
Helm owns, carries ``helm.sh/resource-policy: keep`` (grafana 8.5.x
``templates/pvc.yaml`` prints ``persistence.annotations``). Prometheus' and
Alertmanager's PVCs are created by their StatefulSets from
``volumeClaimTemplate`` (prometheus-operator v0.77.1 ``MakeVolumeClaimTemplate``),
not by Helm, so Helm never deletes them and the annotation would mean nothing:
they are retained by Kubernetes' default StatefulSet PVC retention.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import pulumi

from components.addons.base import AddonArgs, AdminCredentials, HelmAddon
from components.addons.retention import KEEP_ON_UNINSTALL
from components.monitoring.alertmanager import alertmanager_config
from components.network import (
    ANYWHERE,
    Backend,
    NetworkAllow,
    Peer,
    acme_solver,
    api_server,
    from_api_server,
    from_ingress_controller,
    to_backends,
    within_namespace,
)
from model.config import MonitoringConfig
from model.flavors import CONTROL_PLANE_RULES, FLAVORS
from model.workload import Volume, Workload

GRAFANA_ADMIN = AdminCredentials("grafana-admin", user_key="admin-user", password_key="admin-password")
#: The label (value "1") Grafana's sidecar loads dashboards from, in the monitoring namespace only.
DASHBOARD_LABEL = "grafana_dashboard"


#: Pods and ports (chart and operator defaults) the network allows name.
PROMETHEUS_PODS = {"app.kubernetes.io/name": "prometheus"}
ALERTMANAGER_PODS = {"app.kubernetes.io/name": "alertmanager"}
GRAFANA_PODS = {"app.kubernetes.io/name": "grafana"}
OPERATOR_PODS = {"app.kubernetes.io/component": "prometheus-operator"}
PROMETHEUS_PORT, GRAFANA_PORT, OPERATOR_WEBHOOK_PORT = 9090, 3000, 10250
#: What Prometheus scrapes on the nodes: kubelet, node-exporter (host network), and the control plane's
#: controller-manager, scheduler, etcd and kube-proxy where they run on nodes (kubeadm).
NODE_SCRAPE_PORTS = (10250, 9100, 10257, 10259, 2381, 10249)
COREDNS_METRICS_PORT = 9153


class KubePrometheusStackArgs(AddonArgs):
    monitoring: MonitoringConfig
    scrape_targets: tuple[Backend, ...] = ()
    """Namespaces outside this one that Prometheus scrapes, with their metrics ports."""
    prometheus_clients: tuple[str, ...] = ()
    """Namespaces whose pods query Prometheus (KEDA's operator)."""


class KubePrometheusStackWorkloads(NamedTuple):
    prometheus: Workload
    alertmanager: Workload
    grafana: Workload
    grafana_sidecars: Workload
    grafana_init: Workload
    operator: Workload
    config_reloaders: Workload
    admission_jobs: Workload
    kube_state_metrics: Workload
    node_exporter: Workload


def _volume(workload: Workload) -> dict[str, Any]:
    """A StatefulSet's ``volumeClaimTemplate`` value for the workload's one volume."""
    [volume] = workload.storage
    return {
        "volumeClaimTemplate": {
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": volume.size}}}
        }
    }


class KubePrometheusStack(HelmAddon[KubePrometheusStackArgs]):
    """kube-prometheus-stack, selecting every ServiceMonitor and PrometheusRule in the cluster."""

    CHART = "kube-prometheus-stack"
    REPOSITORY = "https://prometheus-community.github.io/helm-charts"
    NAMESPACE = "monitoring"
    #: node-exporter reads the host's /proc and /sys on the host network.
    POD_SECURITY = "privileged"
    TYPE = "ai-platform:monitoring:KubePrometheusStack"

    def __init__(
        self,
        name: str,
        args: KubePrometheusStackArgs,
        grafana_password: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, args, opts, secrets=[GRAFANA_ADMIN.secret(f"{name}-grafana-admin", grafana_password)])

    @classmethod
    def workloads(cls, args: KubePrometheusStackArgs) -> KubePrometheusStackWorkloads:
        config = args.monitoring
        replicas = 2 if args.prod else 1
        return KubePrometheusStackWorkloads(
            prometheus=Workload(
                name="prometheus",
                replicas=replicas,
                cpu="500m",
                memory="4Gi" if args.prod else "2Gi",
                cpu_limit="2",
                storage=(Volume(size=config.storage_size),),
            ),
            alertmanager=Workload(
                name="alertmanager",
                replicas=replicas,
                cpu="50m",
                memory="128Mi",
                cpu_limit="200m",
                storage=(Volume(size="2Gi"),),
            ),
            grafana=Workload(
                name="grafana",
                cpu="100m",
                memory="256Mi",
                cpu_limit="500m",
                storage=(Volume(size=config.grafana_storage_size),),
            ),
            # Grafana's dashboard and datasource sidecars (k8s-sidecar), sized by one chart value.
            grafana_sidecars=Workload(
                name="grafana sidecars", containers=2, cpu="25m", memory="128Mi", cpu_limit="100m"
            ),
            # Grafana's init-chown-data init container: it ends before the pod runs, so it reserves nothing.
            grafana_init=Workload(
                name="grafana init-chown-data (init container)", replicas=0, cpu="10m", memory="32Mi", cpu_limit="100m"
            ),
            operator=Workload(name="prometheus-operator", cpu="100m", memory="128Mi", cpu_limit="500m"),
            # The config-reloader the operator injects into every Prometheus and Alertmanager pod.
            config_reloaders=Workload(
                name="config-reloader (per Prometheus and Alertmanager pod)",
                replicas=2 * replicas,
                cpu="10m",
                memory="50Mi",
                cpu_limit="100m",
            ),
            # The operator's admission webhook certificate Jobs (Helm hooks; one value sizes both).
            admission_jobs=Workload(
                name="admission-create/patch (Helm hooks)", replicas=0, cpu="10m", memory="64Mi", cpu_limit="100m"
            ),
            kube_state_metrics=Workload(name="kube-state-metrics", cpu="50m", memory="128Mi", cpu_limit="250m"),
            # A DaemonSet: one pod per node; priced for one node.
            node_exporter=Workload(name="node-exporter (per node)", cpu="50m", memory="64Mi", cpu_limit="250m"),
        )

    @classmethod
    def values(cls, args: KubePrometheusStackArgs) -> dict[str, Any]:
        config = args.monitoring
        workloads = cls.workloads(args)
        [grafana_volume] = workloads.grafana.storage
        namespace = args.namespace or cls.NAMESPACE
        grafana: dict[str, Any] = {
            "admin": GRAFANA_ADMIN.values(),
            "persistence": {"enabled": True, "size": grafana_volume.size, "annotations": dict(KEEP_ON_UNINSTALL)},
            # A Role in its namespace instead of the chart's ClusterRole on every ConfigMap and Secret
            # (grafana 8.5.x templates/clusterrole.yaml renders only `if not rbac.namespaced`).
            "rbac": {"namespaced": True},
            # Grafana reads the admin password only when it creates its database (see README.md).
            "grafana.ini": {"auth.anonymous": {"enabled": False}},
            "sidecar": {
                # kube-prometheus-stack's default is ALL, which a namespaced Role cannot list.
                "dashboards": {
                    "enabled": True,
                    "label": DASHBOARD_LABEL,
                    "labelValue": "1",
                    "searchNamespace": namespace,
                },
                "resources": workloads.grafana_sidecars.resources(),
            },
            "resources": workloads.grafana.resources(),
            "initChownData": {"resources": workloads.grafana_init.resources()},
            # The `helm test` pod (no requests); a Pulumi Release never runs it.
            "testFramework": {"enabled": False},
        }
        if config.grafana_host:
            cluster = args.cluster
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
                    "replicas": workloads.prometheus.replicas,
                    "retention": config.retention,
                    # Select every ServiceMonitor and PrometheusRule, not only the chart's own.
                    "serviceMonitorSelectorNilUsesHelmValues": False,
                    "podMonitorSelectorNilUsesHelmValues": False,
                    "ruleSelectorNilUsesHelmValues": False,
                    "resources": workloads.prometheus.resources(),
                    "storageSpec": _volume(workloads.prometheus),
                }
            },
            "alertmanager": {
                "config": alertmanager_config(config.alerting),
                "alertmanagerSpec": {
                    "replicas": workloads.alertmanager.replicas,
                    "resources": workloads.alertmanager.resources(),
                    "storage": _volume(workloads.alertmanager),
                },
            },
            "grafana": grafana,
            # Sized explicitly, so every pod the chart runs has requests (and a known cost).
            "prometheusOperator": {
                "resources": workloads.operator.resources(),
                "admissionWebhooks": {"patch": {"resources": workloads.admission_jobs.resources()}},
                "prometheusConfigReloader": {"resources": workloads.config_reloaders.resources()},
            },
            "kube-state-metrics": {"resources": workloads.kube_state_metrics.resources()},
            "prometheus-node-exporter": {"resources": workloads.node_exporter.resources()},
            **control_plane_values(args),
        }

    @classmethod
    def network_allows(cls, args: KubePrometheusStackArgs) -> Sequence[NetworkAllow]:
        cluster = args.cluster
        namespace = cls.namespace_of(args)
        allows = [
            api_server(
                cluster,
                "the operator, kube-state-metrics, Grafana's sidecars, Prometheus' service discovery and the "
                "admission hook Jobs talk to the API server (Prometheus also scrapes it)",
            ),
            from_api_server(
                cluster,
                "operator-webhook-from-api-server",
                (OPERATOR_WEBHOOK_PORT,),
                OPERATOR_PODS,
                "the API server validates and mutates every PrometheusRule through the operator's webhook",
            ),
            *within_namespace(
                namespace,
                "Prometheus scrapes and alerts within the stack, Grafana queries Prometheus, "
                "Alertmanager replicas gossip",
            ),
            NetworkAllow(
                name="scrape-nodes",
                direction="egress",
                peers=(Peer.of_cidrs(cluster.node_cidrs),),
                ports=NODE_SCRAPE_PORTS,
                why="Prometheus scrapes kubelets, node-exporter and node-hosted control-plane components",
                pods=PROMETHEUS_PODS,
            ),
            *to_backends(
                "scrape",
                [Backend("kube-system", (COREDNS_METRICS_PORT,)), *args.scrape_targets],
                "Prometheus scrapes the metrics ports of every namespace with a ServiceMonitor",
                PROMETHEUS_PODS,
            ),
            NetworkAllow(
                name="alert-receivers",
                direction="egress",
                peers=(Peer.of_cidrs([ANYWHERE]),),
                ports=(443,),
                why="Alertmanager posts alerts to the HTTPS webhook receivers",
                pods=ALERTMANAGER_PODS,
            ),
        ]
        if args.prometheus_clients:
            allows.append(
                NetworkAllow(
                    name="prometheus-queries",
                    direction="ingress",
                    peers=tuple(Peer.of_namespace(client) for client in args.prometheus_clients),
                    ports=(PROMETHEUS_PORT,),
                    why="KEDA's operator queries Prometheus for load-based autoscaling",
                    pods=PROMETHEUS_PODS,
                )
            )
        if args.monitoring.grafana_host:
            allows.append(from_ingress_controller(cluster, (GRAFANA_PORT,), GRAFANA_PODS))
            allows.append(acme_solver(cluster))
        return allows


def control_plane_values(args: KubePrometheusStackArgs) -> dict[str, Any]:
    """Scrape only the control-plane components the cluster's flavor exposes, and drop the rules about the rest.

    A target the cluster hides has no ``up`` series, so its ``absent(up{job=...} == 1)`` alert would page
    on-call forever; ``defaultRules.rules.<group>: false`` removes those rules with the target.
    """
    scraped = FLAVORS[args.cluster.flavor].scraped
    values: dict[str, Any] = {key: {"enabled": key in scraped} for key in CONTROL_PLANE_RULES}
    values["defaultRules"] = {
        "rules": {rule: key in scraped for key, rules in CONTROL_PLANE_RULES.items() for rule in rules}
    }
    return values

"""``DcgmExporter``: NVIDIA's DCGM exporter, the producer of the GPU metrics AI services are watched by.

The GPU alert (``AiServiceGpuSaturated``) and the GPU panel query
``DCGM_FI_DEV_GPU_UTIL``; without this exporter they have no series and stay
silent whatever the GPUs do. It runs on GPU nodes only (the chart's default
``nodeSelector`` is empty, so it would run on every node), tolerates the GPU
taint, and is scraped through the chart's ServiceMonitor when monitoring runs.

Labels (dcgm-exporter 4.8.2, ``internal/pkg/transformation/kubernetes.go``):
for a GPU allocated to a pod the exporter adds ``pod``, ``namespace`` and
``container`` of that pod. The chart's ServiceMonitor defaults to
``honorLabels: false``, and the Prometheus Operator sets the same three target
labels to the exporter's own pod, so Prometheus would rename the workload's to
``exported_pod``/``exported_namespace``. ``honorLabels: true`` keeps the
workload's labels, which is what our queries select on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from components.addons.base import AddonArgs, HelmAddon
from components.network import NetworkAllow, api_server
from model.workload import Workload

#: The GPU metrics this exporter produces that the platform's rules and dashboards read.
METRICS = ("DCGM_FI_DEV_GPU_UTIL",)


class DcgmExporterArgs(AddonArgs):
    pass


class DcgmExporterWorkloads(NamedTuple):
    exporter: Workload


class DcgmExporter(HelmAddon[DcgmExporterArgs]):
    """The dcgm-exporter DaemonSet on ``cluster.gpuNodeSelector`` nodes, tolerating the GPU taint."""

    CHART = "dcgm-exporter"
    REPOSITORY = "https://nvidia.github.io/dcgm-exporter/helm-charts"
    NAMESPACE = "dcgm-exporter"
    #: It mounts the kubelet's pod-resources socket from the host and adds SYS_ADMIN (profiling metrics).
    POD_SECURITY = "privileged"
    TYPE = "ai-platform:addons:DcgmExporter"
    #: The chart's Service port ``metrics`` (values ``service.port``).
    METRICS_PORTS = (9400,)

    @classmethod
    def workloads(cls, args: DcgmExporterArgs) -> DcgmExporterWorkloads:
        # A DaemonSet: one pod per GPU node; priced for one node. The chart's own default sizes (4.8.2).
        return DcgmExporterWorkloads(
            exporter=Workload(
                name="dcgm-exporter (per GPU node)", cpu="100m", memory="128Mi", cpu_limit="200m", memory_limit="512Mi"
            )
        )

    @classmethod
    def values(cls, args: DcgmExporterArgs) -> dict[str, Any]:
        cluster = args.cluster
        return {
            "nodeSelector": dict(cluster.gpu_node_selector),
            # A list: it replaces the chart's control-plane toleration, which a GPU exporter does not need.
            "tolerations": [{"key": cluster.gpu_taint_key, "operator": "Exists", "effect": "NoSchedule"}],
            "resources": cls.workloads(args).exporter.resources(),
            "serviceMonitor": {"enabled": args.service_monitors, "honorLabels": True},
        }

    @classmethod
    def network_allows(cls, args: DcgmExporterArgs) -> Sequence[NetworkAllow]:
        # GPU-to-pod mapping comes from the kubelet's pod-resources socket (a hostPath, no network).
        return [api_server(args.cluster, "the exporter reads its metrics ConfigMap (chart Role read-cm)")]

"""``NvidiaDevicePlugin``: advertises ``nvidia.com/gpu`` on the GPU nodes, and labels them.

The chart's GPU feature discovery (GFD) is on, which brings the chart's bundled
node-feature-discovery (NFD): NFD's worker labels every node with an NVIDIA PCI
device ``feature.node.kubernetes.io/pci-10de.present=true`` (the default
``cluster.gpuNodeSelector``) and GFD adds ``nvidia.com/gpu.product`` and the
other ``nvidia.com/gpu.*`` labels (GPU services' node affinity on the GPU
model). Without them nothing marks a GPU node: ``nvidia.com/gpu.present`` is
set only by NVIDIA's GPU Operator. Sources: NVIDIA/k8s-device-plugin v0.17.0,
``deployments/helm/nvidia-device-plugin/values.yaml`` and ``Chart.yaml`` (NFD
0.15.3, alias ``nfd``, installed when ``gfd.enabled``), and
``docs/gpu-feature-discovery/README.md`` (the labels).

With ``cluster.gpuSharing`` the plugin time-slices each GPU (its ``config.map``,
README "With CUDA Time-Slicing"); GFD then appends ``-SHARED`` to
``nvidia.com/gpu.product``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import yaml

from components.addons.base import AddonArgs, HelmAddon
from components.network import NetworkAllow, api_server
from model.config.platform import NVIDIA_PCI_LABEL, ClusterConfig
from model.workload import Workload

#: Labels GFD sets on every GPU node (v0.17.0 docs, "Generated Labels").
GFD_LABELS = frozenset(
    {
        "nvidia.com/gpu.product",
        "nvidia.com/gpu.count",
        "nvidia.com/gpu.replicas",
        "nvidia.com/gpu.memory",
        "nvidia.com/gpu.family",
        "nvidia.com/gpu.machine",
        "nvidia.com/gpu.compute.major",
        "nvidia.com/gpu.compute.minor",
        "nvidia.com/gpu.mode",
        "nvidia.com/gpu.sharing-strategy",
        "nvidia.com/cuda.driver-version.major",
        "nvidia.com/cuda.runtime-version.major",
    }
)
#: What GFD appends to ``nvidia.com/gpu.product`` when GPUs are shared (``renameByDefault: false``).
SHARED_PRODUCT_SUFFIX = "-SHARED"


def time_slicing_config(cluster: ClusterConfig) -> str | None:
    """The device plugin's config file for ``cluster.gpuSharing``, or None without sharing."""
    sharing = cluster.gpu_sharing
    if sharing is None:
        return None
    document = {
        "version": "v1",
        "sharing": {
            "timeSlicing": {
                # Keep advertising nvidia.com/gpu: services request it as before, one slice each.
                "renameByDefault": False,
                # A pod asking for 2 slices would get no more compute than with 1: refuse it at admission.
                "failRequestsGreaterThanOne": True,
                "resources": [{"name": "nvidia.com/gpu", "replicas": sharing.replicas}],
            }
        },
    }
    return yaml.safe_dump(document, sort_keys=False)


class NvidiaDevicePluginArgs(AddonArgs):
    pass


class NvidiaDevicePluginWorkloads(NamedTuple):
    plugin: Workload
    nfd_master: Workload
    nfd_worker: Workload
    nfd_gc: Workload


class NvidiaDevicePlugin(HelmAddon[NvidiaDevicePluginArgs]):
    """The NVIDIA device plugin and GPU feature discovery on GPU nodes; NFD's worker on every node."""

    CHART = "nvidia-device-plugin"
    REPOSITORY = "https://nvidia.github.io/k8s-device-plugin"
    NAMESPACE = "nvidia-device-plugin"
    #: The plugin mounts the kubelet's device-plugin socket from the host; GFD runs privileged.
    POD_SECURITY = "privileged"
    TYPE = "ai-platform:addons:NvidiaDevicePlugin"

    @classmethod
    def network_allows(cls, args: NvidiaDevicePluginArgs) -> Sequence[NetworkAllow]:
        return [
            api_server(
                args.cluster,
                "node-feature-discovery's master, workers and garbage collector write node labels and "
                "NodeFeature objects through the API server",
            )
        ]

    @classmethod
    def workloads(cls, args: NvidiaDevicePluginArgs) -> NvidiaDevicePluginWorkloads:
        # DaemonSets: one pod per (GPU) node; priced for one node.
        return NvidiaDevicePluginWorkloads(
            # The chart's one `resources` value sizes the plugin's container and GFD's.
            plugin=Workload(
                name="device-plugin and gpu-feature-discovery (per GPU node)",
                containers=2,
                cpu="50m",
                memory="64Mi",
                cpu_limit="200m",
            ),
            nfd_master=Workload(name="nfd-master", cpu="50m", memory="128Mi", cpu_limit="200m"),
            nfd_worker=Workload(name="nfd-worker (per node)", cpu="20m", memory="64Mi", cpu_limit="100m"),
            nfd_gc=Workload(name="nfd-gc", cpu="10m", memory="64Mi", cpu_limit="50m"),
        )

    @classmethod
    def values(cls, args: NvidiaDevicePluginArgs) -> dict[str, Any]:
        cluster = args.cluster
        sized = cls.workloads(args)
        gpu_taint = {"key": cluster.gpu_taint_key, "operator": "Exists", "effect": "NoSchedule"}
        values: dict[str, Any] = {
            "nodeSelector": dict(cluster.gpu_node_selector),
            # A list replaces the chart's default: keep its CriticalAddonsOnly next to the GPU taint.
            "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}, gpu_taint],
            "resources": sized.plugin.resources(),
            "gfd": {"enabled": True},
            "nfd": {
                "master": {"resources": sized.nfd_master.resources()},
                # The chart tolerates only `nvidia.com/gpu=present:NoSchedule`; GPU nodes tainted with
                # another value (or none) would never get their labels.
                "worker": {"tolerations": [gpu_taint], "resources": sized.nfd_worker.resources()},
                "gc": {"resources": sized.nfd_gc.resources()},
            },
        }
        config = time_slicing_config(cluster)
        if config is not None:
            values["config"] = {"map": {"default": config}, "default": "default"}
        return values

    @classmethod
    def node_labels(cls, values: dict[str, Any]) -> frozenset[str]:
        """The node labels a release with these values puts on GPU nodes (NFD's and GFD's)."""
        if not values.get("gfd", {}).get("enabled") or values.get("nfd", {}).get("enabled") is False:
            return frozenset()
        return GFD_LABELS | {NVIDIA_PCI_LABEL}

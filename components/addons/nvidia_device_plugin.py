"""``NvidiaDevicePlugin``: advertises ``nvidia.com/gpu`` on the GPU nodes."""

from __future__ import annotations

from typing import Any, NamedTuple

from components.addons.base import AddonArgs, HelmAddon
from model.workload import Workload


class NvidiaDevicePluginArgs(AddonArgs):
    pass


class NvidiaDevicePluginWorkloads(NamedTuple):
    plugin: Workload


class NvidiaDevicePlugin(HelmAddon[NvidiaDevicePluginArgs]):
    """The NVIDIA device plugin DaemonSet, on ``cluster.gpuNodeSelector`` nodes, tolerating the GPU taint."""

    CHART = "nvidia-device-plugin"
    REPOSITORY = "https://nvidia.github.io/k8s-device-plugin"
    NAMESPACE = "nvidia-device-plugin"
    #: The plugin mounts the kubelet's device-plugin socket from the host.
    POD_SECURITY = "privileged"
    TYPE = "ai-platform:addons:NvidiaDevicePlugin"

    @classmethod
    def workloads(cls, args: NvidiaDevicePluginArgs) -> NvidiaDevicePluginWorkloads:
        # A DaemonSet: one pod per GPU node; priced for one node.
        return NvidiaDevicePluginWorkloads(
            plugin=Workload(name="device-plugin (per GPU node)", cpu="50m", memory="64Mi", cpu_limit="200m")
        )

    @classmethod
    def values(cls, args: NvidiaDevicePluginArgs) -> dict[str, Any]:
        cluster = args.cluster
        return {
            "nodeSelector": dict(cluster.gpu_node_selector),
            "tolerations": [{"key": cluster.gpu_taint_key, "operator": "Exists", "effect": "NoSchedule"}],
            "resources": cls.workloads(args).plugin.resources(),
        }

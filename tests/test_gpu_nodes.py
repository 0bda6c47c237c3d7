"""GPU nodes: the labels GPU workloads select are labels the declared add-ons put on nodes; GPU sharing."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import yaml

from ai_platform_policies import cost
from ai_platform_policies.cost import DEFAULT_PRICES
from components.addons.nvidia_device_plugin import NvidiaDevicePlugin, NvidiaDevicePluginArgs
from infra.offline.check import Rendered, render
from infra.offline.schema import validate_manifest
from model.config import ClusterConfig, HelmChartConfig
from model.config.platform import GpuSharingConfig
from tests.conftest import StackWriter, base_config, base_service
from tests.helpers import assert_refused, manifest, manifests_of, pod_spec, resources_of

RenderStack = Callable[[str], Rendered]
RELEASE = "kubernetes:helm.sh/v3:Release"


def plugin_values(rendered: Rendered) -> dict[str, Any]:
    [release] = [r for r in resources_of(rendered, RELEASE) if r.inputs["chart"] == "nvidia-device-plugin"]
    values: dict[str, Any] = release.inputs["values"]
    return values


def selected_labels(pod: dict[str, Any]) -> set[str]:
    """Every node label key a pod's nodeSelector and required node affinity name."""
    keys = set(pod.get("nodeSelector") or {})
    required = ((pod.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in required.get("nodeSelectorTerms", []):
        keys |= {expression["key"] for expression in term.get("matchExpressions", [])}
    return keys


def test_gpu_workloads_select_only_labels_the_declared_addons_set(rendered_stack: RenderStack) -> None:
    prod = rendered_stack("prod")
    values = plugin_values(prod)
    labelled = NvidiaDevicePlugin.node_labels(values)
    gpu_pods = [
        pod_spec(d)
        for d in manifests_of(prod, "Deployment")
        if "nvidia.com/gpu" in pod_spec(d)["containers"][0]["resources"]["limits"]
    ]
    assert gpu_pods, "the prod stack runs a GPU service"
    for pod in gpu_pods:
        assert selected_labels(pod), "GPU pods are placed by node labels"
        assert selected_labels(pod) <= labelled, selected_labels(pod) - labelled
    # The plugin itself (and GFD, which shares its scheduling values) waits for the same label.
    assert set(values["nodeSelector"]) <= labelled
    assert values["nodeSelector"] == {"feature.node.kubernetes.io/pci-10de.present": "true"}


def test_without_feature_discovery_nothing_labels_gpu_nodes() -> None:
    """What the cross-reference above rests on: the chart's own default labels nothing (gfd is off)."""
    assert NvidiaDevicePlugin.node_labels({}) == frozenset()
    assert NvidiaDevicePlugin.node_labels({"gfd": {"enabled": True}, "nfd": {"enabled": False}}) == frozenset()
    assert "nvidia.com/gpu.present" not in NvidiaDevicePlugin.node_labels({"gfd": {"enabled": True}})


def test_the_plugin_enables_feature_discovery_whose_worker_tolerates_the_gpu_taint() -> None:
    cluster = ClusterConfig(gpu_taint_key="example.com/accelerator")
    values = NvidiaDevicePlugin.values(
        NvidiaDevicePluginArgs(chart=HelmChartConfig(version="0.17.0"), environment="prod", cluster=cluster)
    )
    assert values["gfd"] == {"enabled": True}
    assert "enabled" not in values["nfd"]  # NFD comes with GFD (the chart's `nfd.enabled,gfd.enabled` condition)
    # The chart tolerates only `nvidia.com/gpu=present`; ours any taint value on the cluster's key.
    assert values["nfd"]["worker"]["tolerations"] == [
        {"key": "example.com/accelerator", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert {"key": "example.com/accelerator", "operator": "Exists", "effect": "NoSchedule"} in values["tolerations"]
    for part in ("master", "worker", "gc"):
        assert values["nfd"][part]["resources"]["requests"].keys() == {"cpu", "memory"}, part
    assert "config" not in values  # no time-slicing unless asked


# --- time-slicing ------------------------------------------------------------

SHARED = {
    "cluster": {"context": "prod", "gpuSharing": {"replicas": 4}},
    "addons": {"nvidiaDevicePlugin": {"version": "0.17.0"}},
}


def gpu_service(**resources: Any) -> dict[str, Any]:
    return base_service(
        name="llm", replicas=3, resources={"cpu": "4", "memory": "24Gi", "gpu": 1, "gpuType": "nvidia-l4", **resources}
    )


def test_gpu_sharing_configures_time_slicing_in_the_device_plugin() -> None:
    cluster = ClusterConfig(gpu_sharing=GpuSharingConfig(replicas=4))
    values = NvidiaDevicePlugin.values(
        NvidiaDevicePluginArgs(chart=HelmChartConfig(version="0.17.0"), environment="prod", cluster=cluster)
    )
    config = yaml.safe_load(values["config"]["map"]["default"])
    assert values["config"]["default"] == "default"
    assert config["version"] == "v1"
    slicing = config["sharing"]["timeSlicing"]
    assert slicing["resources"] == [{"name": "nvidia.com/gpu", "replicas": 4}]
    assert slicing["renameByDefault"] is False  # services keep requesting nvidia.com/gpu
    assert slicing["failRequestsGreaterThanOne"] is True


def test_shared_gpus_cost_a_share_and_are_placed_on_shared_nodes(write_stack: StackWriter) -> None:
    unshared = {**SHARED, "cluster": {"context": "prod"}}
    whole = render(write_stack(base_config("prod", services=[gpu_service()], **unshared)))
    shared = render(write_stack(base_config("prod", services=[gpu_service()], **SHARED), name="shared"))

    def llm_cost(rendered: Rendered) -> cost.Item:
        resources = [r.view() for r in rendered.resources]
        [item] = [i for i in cost.estimate(resources, rendered.config.pricing.to_prices()).items if i.name == "llm"]
        return item

    l4_month = Decimal(str(DEFAULT_PRICES["gpuHour"]["nvidia-l4"])) * Decimal(730) * 3
    assert llm_cost(whole).min - llm_cost(shared).min == l4_month * 3 / 4  # each replica pays 1/4 of a GPU
    deployment = manifest(shared, "Deployment", "llm")
    terms = pod_spec(deployment)["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    # GFD renames a shared GPU's product label (renameByDefault false): NVIDIA-L4 becomes NVIDIA-L4-SHARED.
    assert terms["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["NVIDIA-L4-SHARED"]
    # The quota counts what pods request: slices of shared GPUs (3 replicas at most, plus one for a rollout).
    [quota] = manifests_of(shared, "ResourceQuota")
    assert quota["spec"]["hard"]["requests.nvidia.com/gpu"] == "4"
    assert validate_manifest(deployment, "1.31", "llm") == []


def test_more_than_one_time_sliced_gpu_is_a_config_error(write_stack: StackWriter) -> None:
    assert_refused(
        write_stack(base_config("prod", services=[gpu_service(gpu=2)], **SHARED)),
        "services[0].resources.gpu",
        "no faster than one",
    )

"""AI serving the way inference platforms do it: load-based autoscaling, scale to zero, GPU types, priorities."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ai_platform_policies import cost
from infra.offline.check import CheckReport, Rendered, render
from infra.offline.schema import validate_manifest
from infra.offline.stack_file import read_stack_file
from model.stack_config import ConfigError, parse_platform_config
from tests.conftest import StackWriter, base_config, base_service
from tests.helpers import container, manifest, manifests_of, pod_spec

RenderStack = Callable[[str], Rendered]
CheckStack = Callable[[str], CheckReport]
PLATFORM = {
    "addons": {"keda": {"version": "2.16.0"}, "ingressNginx": {"version": "4.11.3"}},
    "monitoring": {"kubePrometheusStack": {"version": "65.0.0"}},
    "grafanaAdminPassword": {"secure": "v1:abc"},
}


def llm(**autoscaling: Any) -> dict[str, Any]:
    return base_service(
        name="llm",
        namespace="ai-inference",
        port=8000,
        autoscaling={"minReplicas": 3, "maxReplicas": 6, **autoscaling},
        resources={"cpu": "4", "memory": "24Gi", "gpu": 1, "gpuType": "nvidia-l4"},
        ingress={"host": "llm.example.com"},
    )


def test_prod_llm_scales_on_requests_in_flight_with_keda_not_an_hpa(rendered_stack: RenderStack) -> None:
    prod = rendered_stack("prod")
    scaler = manifest(prod, "ScaledObject", "llm-inference")
    assert [h["metadata"]["name"] for h in manifests_of(prod, "HorizontalPodAutoscaler")] == ["text-classifier"]
    spec = scaler["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm-inference"}
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (3, 6)
    [trigger] = spec["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metricType"] == "AverageValue"  # total / replicas, held near the per-replica target
    assert trigger["metadata"] == {
        "serverAddress": "http://kube-prometheus-stack-prometheus.monitoring.svc:9090",
        "query": 'sum(ai_service_requests_in_flight{namespace="ai-inference", service="llm-inference"})',
        "threshold": "8",
        "ignoreNullValues": "true",
    }


def test_the_scaled_object_matches_keda_crd_schema_at_the_pinned_version(rendered_stack: RenderStack) -> None:
    scaler = manifest(rendered_stack("prod"), "ScaledObject", "llm-inference")
    assert validate_manifest(scaler, "1.31", "scaledobject") == []
    broken = {**scaler, "spec": {**scaler["spec"], "triggers": [{"type": "prometheus", "metadata": {"threshold": 8}}]}}
    assert any("is not of type 'string'" in e.message for e in validate_manifest(broken, "1.31", "scaledobject"))
    typo = {**scaler, "spec": {**scaler["spec"], "minReplicas": 3}}
    assert any("minReplicas" in e.message for e in validate_manifest(typo, "1.31", "scaledobject"))


def test_request_rate_scaling_and_scale_to_zero_wake_on_the_ingress(write_stack: StackWriter) -> None:
    service = llm(minReplicas=0, metric="requestsPerSecond", target=2.5, activationTarget=0.1)
    rendered = render(write_stack(base_config("dev", services=[service], **PLATFORM)))
    spec = manifest(rendered, "ScaledObject", "llm")["spec"]
    assert spec["minReplicaCount"] == 0
    load, wake = spec["triggers"]
    assert load["metadata"]["query"] == (
        'sum(rate(ai_service_requests_total{namespace="ai-inference", service="llm"}[2m]))'
    )
    assert load["metadata"]["threshold"] == "2.5"
    # At zero there are no pods and so no series of the service's own: the ingress counts the requests.
    assert wake["metadata"]["query"] == (
        'sum(rate(nginx_ingress_controller_requests{exported_namespace="ai-inference", ingress="llm"}[2m]))'
    )
    assert wake["metadata"]["activationThreshold"] == "0.1"
    assert float(wake["metadata"]["threshold"]) >= 1_000_000  # wakes, never drives the count
    deployment = manifest(rendered, "Deployment", "llm")
    assert deployment["spec"]["replicas"] == 0


@pytest.mark.parametrize(
    ("services", "extra", "fragment"),
    [
        ([llm(metric="inFlight", target=8)], {"monitoring": PLATFORM["monitoring"]}, "enable `addons.keda`"),
        ([llm(metric="inFlight", target=8)], {"addons": PLATFORM["addons"]}, "configure `monitoring`"),
        ([llm(metric="inFlight")], PLATFORM, "target is required for metric inFlight"),
        ([llm(minReplicas=0)], PLATFORM, "CPU cannot wake a service"),
        ([llm(metric="cpu", target=250)], PLATFORM, "whole percentage"),
        ([llm(metric="cpu", target=50, targetCPUUtilization=50)], PLATFORM, "old spelling"),
        (
            [{**llm(minReplicas=0, metric="inFlight", target=4), "ingress": None}],
            PLATFORM,
            "wakes on requests counted by the ingress",
        ),
        (
            [{**llm(), "resources": {"cpu": "1", "memory": "1Gi", "gpu": 1, "gpuType": "nvidia-b200"}}],
            PLATFORM,
            "'nvidia-b200' is not a known GPU type",
        ),
    ],
)
def test_autoscaling_and_gpu_mistakes_are_config_errors(
    write_stack: StackWriter, services: list[dict[str, Any]], extra: dict[str, Any], fragment: str
) -> None:
    for service in services:
        if service.get("ingress") is None:
            service.pop("ingress", None)
    config = base_config("dev", services=services, **extra)
    stack = read_stack_file(write_stack(config))
    with pytest.raises(ConfigError) as raised:
        parse_platform_config(stack.values, stack.display_path, stack.secret_keys)
    assert any(fragment in problem for problem in raised.value.problems), raised.value.problems


def test_gpu_type_places_pods_on_nodes_with_that_gpu(rendered_stack: RenderStack) -> None:
    deployment = manifest(rendered_stack("prod"), "Deployment", "llm-inference")
    affinity = pod_spec(deployment)["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert affinity["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-L4"]}]}
    ]
    assert deployment["spec"]["template"]["metadata"]["labels"]["ai-platform.io/gpu-type"] == "nvidia-l4"


def test_gpu_rollouts_need_no_spare_gpu_and_prod_keeps_all_but_one_serving(rendered_stack: RenderStack) -> None:
    prod = rendered_stack("prod")
    gpu = manifest(prod, "Deployment", "llm-inference")["spec"]
    cpu = manifest(prod, "Deployment", "text-classifier")["spec"]
    assert gpu["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    assert gpu["replicas"] >= 3
    assert manifest(prod, "PodDisruptionBudget", "llm-inference")["spec"]["maxUnavailable"] == 1
    assert cpu["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_inference_outranks_batch_and_best_effort_work(rendered_stack: RenderStack) -> None:
    prod = rendered_stack("prod")
    classes = {c["metadata"]["name"]: c for c in manifests_of(prod, "PriorityClass")}
    assert classes["ai-inference"]["value"] > classes["ai-batch"]["value"] > classes["ai-best-effort"]["value"]
    assert classes["ai-best-effort"]["preemptionPolicy"] == "Never"
    assert not any(c.get("globalDefault") for c in classes.values())
    for deployment in manifests_of(prod, "Deployment", "ai-inference") + manifests_of(
        prod, "Deployment", "ai-services"
    ):
        assert pod_spec(deployment)["priorityClassName"] == "ai-inference"
    assert container(manifest(prod, "Deployment", "llm-inference"))["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_cost_counts_a_scaled_object_like_an_hpa(rendered_stack: RenderStack) -> None:
    def items(stack: str) -> dict[str, cost.Item]:
        rendered = rendered_stack(stack)
        resources = [r.view() for r in rendered.resources]
        return {item.name: item for item in cost.estimate(resources, rendered.config.pricing.to_prices()).items}

    llm_cost = items("prod")["llm-inference"]
    assert llm_cost.max == 2 * llm_cost.min  # 3 to 6 replicas
    classifier = items("dev")["text-classifier"]
    assert classifier.min == 0 < classifier.max  # scaled to zero when idle


def test_the_policy_pack_allows_scale_to_zero_in_dev_only(checked_stack: CheckStack, write_stack: StackWriter) -> None:
    assert checked_stack("dev").violations == []
    from infra.offline.check import check_stack

    service = llm(minReplicas=0, metric="inFlight", target=4)
    report = check_stack(write_stack(base_config("prod", services=[service], **PLATFORM), name="prod"))
    assert any(
        v.policy == "hpa-minimum-replicas" and "scales to zero" in v.message and v.blocks for v in report.violations
    )

"""Monthly cost: hand-computed arithmetic, the stacks, unknown costs and the budget policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from ai_platform_policies.cost import Prices, Resource, estimate
from ai_platform_policies.kube import GPU_TYPE_LABEL
from infra.offline.check import Rendered, render, stack_cost
from infra.offline.runtime import PROJECT_ROOT
from tests.conftest import StackWriter, base_config, base_service

PRICES = Prices(
    currency="EUR",
    vcpu_hour=Decimal("0.04"),
    memory_gib_hour=Decimal("0.01"),
    gpu_hour={"nvidia-a": Decimal("2.0")},
    storage_gib_month={"default": Decimal("0.1"), "fast": Decimal("0.3")},
    hours_per_month=Decimal(700),
)
COMPONENT = "urn:ai-platform:services:AiService::svc"


def deployment(name: str, requests: dict[str, str] | None, replicas: int | None = 2, **labels: str) -> Resource:
    container: dict[str, Any] = {"name": "app"}
    if requests is not None:
        container["resources"] = {"requests": requests}
    spec: dict[str, Any] = {"template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    props = {"metadata": {"name": name, "namespace": "ai"}, "spec": spec}
    return Resource("kubernetes:apps/v1:Deployment", f"urn:d:{name}", name, COMPONENT, props)


def component() -> Resource:
    return Resource(
        "ai-platform:services:AiService", COMPONENT, "svc", None, {"footprint": [], "costKind": "ai-service"}
    )


def single(resources: list[Resource]) -> tuple[Decimal, Decimal]:
    [item] = estimate(resources, PRICES).items
    return item.min, item.max


def test_cpu_and_memory() -> None:
    # (0.5 cores x 0.04 + 2 GiB x 0.01) per hour x 700 hours x 2 replicas = 56
    assert single([component(), deployment("svc", {"cpu": "500m", "memory": "2Gi"})]) == (Decimal(56), Decimal(56))


def test_autoscaling_prices_fewest_and_most_replicas() -> None:
    hpa = Resource(
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "urn:h",
        "svc",
        COMPONENT,
        {
            "metadata": {"namespace": "ai"},
            "spec": {"scaleTargetRef": {"name": "svc"}, "minReplicas": 2, "maxReplicas": 5},
        },
    )
    resources = [component(), deployment("svc", {"cpu": "500m", "memory": "2Gi"}, replicas=None), hpa]
    assert single(resources) == (Decimal(56), Decimal(140))


def test_gpus_by_type() -> None:
    requests = {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "2"}
    # (1 x 0.04 + 1 x 0.01 + 2 x 2.0) x 700 x 1 replica = 2835
    resources = [component(), deployment("svc", requests, replicas=1, **{GPU_TYPE_LABEL: "nvidia-a"})]
    assert single(resources) == (Decimal(2835), Decimal(2835))


def test_storage_by_class() -> None:
    claim = Resource(
        "kubernetes:core/v1:PersistentVolumeClaim",
        "urn:pvc",
        "data",
        COMPONENT,
        {"spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "100Gi"}}}},
    )
    assert single([component(), claim]) == (Decimal(30), Decimal(30))  # 100 GiB x 0.3


def test_a_chart_footprint_with_volumes() -> None:
    footprint = [
        {"name": "server", "replicas": 3, "requests": {"cpu": "100m", "memory": "128Mi"}, "storage": [{"size": "10Gi"}]}
    ]
    addon = Resource("ai-platform:addons:Keda", "urn:keda", "keda", None, {"footprint": footprint})
    # (0.1 x 0.04 + 0.125 x 0.01) x 700 x 3 = 11.025, plus 10 GiB x 0.1 x 3 = 3
    assert single([addon]) == (Decimal("14.025"), Decimal("14.025"))


def test_components_are_items_by_the_footprint_they_declare_not_by_their_type() -> None:
    declared = Resource("acme:cache:Redis", "urn:redis", "redis", None, {"footprint": [], "costKind": "platform"})
    claim = Resource(
        "kubernetes:core/v1:PersistentVolumeClaim",
        "urn:pvc",
        "data",
        "urn:redis",
        {"spec": {"resources": {"requests": {"storage": "10Gi"}}}},
    )
    undeclared = Resource("ai-platform:addons:Keda", "urn:keda", "keda", None, {})
    workload = deployment("keda-operator", {"cpu": "1", "memory": "1Gi"}, replicas=1)
    workload = Resource(workload.type, workload.urn, workload.name, "urn:keda", workload.props)
    items = {(item.name, item.kind): item for item in estimate([declared, claim, undeclared, workload], PRICES).items}
    assert set(items) == {("redis", "platform"), ("keda-operator", "other")}
    assert items[("redis", "platform")].max == Decimal(1)  # 10 GiB x 0.1, priced under the declaring component
    [service] = estimate([component(), deployment("svc", {"cpu": "500m", "memory": "2Gi"})], PRICES).items
    assert (service.name, service.kind) == ("svc", "ai-service")


def test_committed_stacks_cost_what_they_did(rendered_stack: Callable[[str], Rendered]) -> None:
    totals = {stack: stack_cost(rendered_stack(stack)) for stack in ("dev", "staging", "prod")}
    assert {stack: (_cents(t.min), _cents(t.max)) for stack, t in totals.items()} == {
        "dev": ("50.01", "64.61"),  # the classifier scales to zero; the registry is kind's local one
        "staging": ("119.39", "148.59"),  # with the registry's token server (2 replicas)
        "prod": ("2379.75", "4615.15"),  # with GPU feature discovery, its NFD and the DCGM exporter
    }


def _cents(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def test_containers_without_requests_are_unknown_not_zero() -> None:
    result = estimate([component(), deployment("svc", None)], PRICES)
    [item] = result.items
    assert item.unknown == ["svc/app: no CPU or memory requests"]
    assert result.as_json()["unknown"] == ["svc/app: no CPU or memory requests"]
    footprint = [{"name": "sidecar", "replicas": 1, "requests": {}}]
    addon = estimate([Resource("ai-platform:addons:Keda", "urn:k", "keda", None, {"footprint": footprint})], PRICES)
    assert addon.unknown == ["keda/sidecar: no CPU or memory requests"]


def test_prod_cost_lists_every_service_and_component() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "infra.offline", "cost", "--stack", "prod", "--json"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    report = json.loads(result.stdout)
    assert report["currency"] == "USD"
    names = {(item["name"], item["kind"]) for item in report["items"]}
    assert {("text-classifier", "ai-service"), ("llm-inference", "ai-service")} <= names
    assert {
        ("registry", "platform"),
        ("ingress-nginx", "platform"),
        ("cert-manager", "platform"),
        ("metrics-server", "platform"),
        ("keda", "platform"),
        ("nvidia-device-plugin", "platform"),
        ("kube-prometheus-stack", "platform"),
        ("jenkins", "platform"),
    } <= names
    assert report["unknown"] == []
    assert report["total"]["min"] <= report["total"]["max"]
    assert sum(item["max"] for item in report["items"]) == pytest.approx(report["total"]["max"], abs=0.05)


def test_doubling_replicas_doubles_the_service_line(write_stack: StackWriter) -> None:
    def line(replicas: int) -> Decimal:
        rendered = render(write_stack(base_config("dev", services=[base_service(replicas=replicas)]), name="dev"))
        [item] = [i for i in stack_cost(rendered).items if i.name == "text-classifier"]
        assert item.min == item.max
        return item.max

    assert line(4) == 2 * line(2)


def test_prices_come_from_the_stack(write_stack: StackWriter) -> None:
    config = base_config("dev", services=[base_service(replicas=1)], pricing={"currency": "EUR", "vcpuHour": 0.1})
    result = stack_cost(render(write_stack(config, name="dev")))
    assert result.currency == "EUR"
    [item] = [i for i in result.items if i.name == "text-classifier"]
    # 0.5 cores x 0.1 + 1 GiB x 0.0042 (default), 730 hours
    assert item.max == (Decimal("0.5") * Decimal("0.1") + Decimal("0.0042")) * 730


def test_check_fails_in_prod_over_budget(write_stack: StackWriter) -> None:
    gpu = base_service(
        name="llm", replicas=10, resources={"cpu": "8", "memory": "64Gi", "gpu": 2, "gpuType": "nvidia-h100-80gb"}
    )
    gpu_plugin = {"nvidiaDevicePlugin": {"version": "0.17.0"}}  # GPU services need the device plugin
    stack = write_stack(base_config("prod", services=[base_service(), gpu], addons=gpu_plugin), name="prod")
    result = subprocess.run(
        [sys.executable, "-m", "infra.offline", "check", "--config", str(stack), "--json"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert result.returncode == 1, result.stderr
    [violation] = [v for v in json.loads(result.stdout)["violations"] if v["policy"] == "monthly-budget"]
    assert violation["enforcementLevel"] == "mandatory"
    assert "exceeds the budget of 6,000.00" in violation["message"]
    assert "largest: llm" in violation["message"]


def test_todays_prod_fits_its_budget_with_headroom(rendered_stack: Callable[[str], Rendered]) -> None:
    budget = json.loads((PROJECT_ROOT / "policies" / "config" / "prod.json").read_text())["monthly-budget"]["budget"]
    assert stack_cost(rendered_stack("prod")).max < Decimal(budget) * Decimal("0.85")

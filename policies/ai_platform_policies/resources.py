"""Resources: every container sized, limits bounded, GPUs whole and placed on GPU nodes, namespaces capped."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

from ai_platform_policies.kube import (
    GPU_RESOURCE,
    containers,
    describe,
    get,
    is_workload,
    namespace,
    pod_spec,
)
from ai_platform_policies.quantity import parse_quantity
from ai_platform_policies.rule import Config, resource_rule, stack_rule


@resource_rule(
    "container-resources-required",
    "Every container and init container requests CPU and memory and has a memory limit.",
    severity="high",
    remediation="Set `resources.requests.cpu`, `resources.requests.memory` and `resources.limits.memory`.",
)
def container_resources_required(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    for label, container in containers(pod_spec(args.resource_type, args.props)):
        if label == "ephemeral container":
            continue
        missing = [
            field
            for field, path in (
                ("requests.cpu", ("requests", "cpu")),
                ("requests.memory", ("requests", "memory")),
                ("limits.memory", ("limits", "memory")),
            )
            if get(container, "resources", *path) in (None, "")
        ]
        if missing:
            report(f"{describe(label, container)} has no {', '.join(missing)}.", None)


@resource_rule(
    "limit-request-ratio",
    "Container limits stay within a bounded multiple of their requests.",
    severity="medium",
    remediation="Lower the limit or raise the request so that limit/request stays within `maxRatio`.",
    thresholds={"maxRatio": {"type": "number", "exclusiveMinimum": 0, "default": 4}},
)
def limit_request_ratio(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    bound = Decimal(str(config["maxRatio"]))
    for label, container in containers(pod_spec(args.resource_type, args.props)):
        for resource in ("cpu", "memory"):
            request = get(container, "resources", "requests", resource)
            limit = get(container, "resources", "limits", resource)
            if request is None or limit is None:
                continue
            try:
                ratio = parse_quantity(str(limit)) / parse_quantity(str(request))
            except (ValueError, ArithmeticError):
                report(f"{describe(label, container)} has an unreadable {resource} request or limit.", None)
                continue
            if ratio > bound:
                report(
                    f"{describe(label, container)}: {resource} limit {limit} is {ratio:.1f}x its request {request} "
                    f"(at most {bound}x).",
                    None,
                )


def _gpu_count(container: Mapping[str, Any]) -> tuple[Any, Any]:
    return get(container, "resources", "limits", GPU_RESOURCE), get(container, "resources", "requests", GPU_RESOURCE)


def _uses_gpu(spec: Mapping[str, Any] | None) -> bool:
    return any(any(v is not None for v in _gpu_count(c)) for _, c in containers(spec))


@resource_rule(
    "gpu-whole-and-guaranteed",
    "GPU limits are whole numbers and GPU requests equal the limits.",
    severity="high",
    remediation="Set `resources.limits['nvidia.com/gpu']` to a whole number; set the request to the same or omit it.",
)
def gpu_whole_and_guaranteed(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    for label, container in containers(pod_spec(args.resource_type, args.props)):
        limit, request = _gpu_count(container)
        if limit is None and request is None:
            continue
        if limit is None:
            report(f"{describe(label, container)} requests GPUs without a GPU limit.", None)
            continue
        try:
            whole = parse_quantity(str(limit))
        except ValueError:
            whole = Decimal("0.5")
        if whole != whole.to_integral_value() or whole < 1:
            report(f"{describe(label, container)} has a GPU limit of {limit!r}; GPUs are whole devices.", None)
        if request is not None and str(request) != str(limit):
            report(f"{describe(label, container)} requests {request} GPU(s) but limits {limit}.", None)


def _tolerates(toleration: Mapping[str, Any], taint_key: str) -> bool:
    key = toleration.get("key")
    operator = toleration.get("operator") or "Equal"
    return key == taint_key or (not key and operator == "Exists")


@resource_rule(
    "gpu-placement",
    "GPU workloads tolerate the GPU taint and select GPU nodes; other workloads never tolerate GPU nodes.",
    severity="medium",
    remediation="GPU pods: add the GPU toleration and a GPU node selector. Other pods: remove GPU tolerations "
    "(and wildcard `operator: Exists` tolerations), so they never take GPU capacity.",
    thresholds={"gpuTaintKey": {"type": "string", "default": GPU_RESOURCE}},
)
def gpu_placement(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    taint = config["gpuTaintKey"]
    tolerates = any(_tolerates(t, taint) for t in spec.get("tolerations") or [])
    if _uses_gpu(spec):
        if not tolerates:
            report(f"the pod uses GPUs but does not tolerate the '{taint}' taint of GPU nodes.", None)
        has_affinity = get(spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution")
        if not (spec.get("nodeSelector") or has_affinity):
            report("the pod uses GPUs but has no node selector or required node affinity for GPU nodes.", None)
    elif tolerates:
        report(f"the pod uses no GPU but tolerates the '{taint}' taint, so it can take GPU node capacity.", None)


@stack_rule(
    "ai-namespace-quota",
    "Every namespace that runs AI workloads has a ResourceQuota and a LimitRange.",
    severity="medium",
    remediation="Declare a ResourceQuota and a LimitRange in the namespace (the Platform component does this for "
    "its AI namespaces).",
    thresholds={
        "aiNamespaceLabel": {"type": "string", "default": "ai-platform.io/workloads"},
        "aiWorkloadLabel": {"type": "string", "default": "app.kubernetes.io/component"},
        "aiWorkloadValue": {"type": "string", "default": "ai-service"},
    },
)
def ai_namespace_quota(args: StackValidationArgs, config: Config, report: ReportViolation) -> None:
    ai_namespaces: dict[str, str | None] = {}
    for resource in args.resources:
        props = resource.props
        if resource.resource_type == "kubernetes:core/v1:Namespace":
            if get(props, "metadata", "labels", config["aiNamespaceLabel"]):
                ai_namespaces[str(get(props, "metadata", "name"))] = resource.urn
        elif is_workload(resource.resource_type):
            labels = get(props, "metadata", "labels") or {}
            if labels.get(config["aiWorkloadLabel"]) == config["aiWorkloadValue"]:
                ai_namespaces.setdefault(namespace(props), resource.urn)
    present: dict[str, set[str]] = {}
    for resource in args.resources:
        kind = resource.resource_type.rsplit(":", 1)[-1]
        if kind in ("ResourceQuota", "LimitRange") and resource.resource_type.startswith("kubernetes:core/v1:"):
            present.setdefault(namespace(resource.props), set()).add(kind)
    for ns, urn in sorted(ai_namespaces.items()):
        missing = sorted({"ResourceQuota", "LimitRange"} - present.get(ns, set()))
        if missing:
            report(f"AI namespace '{ns}' has no {' or '.join(missing)}.", urn)


@resource_rule(
    "ai-service-priority-class",
    "Every AI service names one of the platform's PriorityClasses, so inference outranks batch and best-effort "
    "work when GPU nodes are full.",
    severity="medium",
    remediation="Set `services[].priority` (the platform sets `priorityClassName` from it).",
    thresholds={
        "allowedClasses": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["ai-inference", "ai-batch", "ai-best-effort"],
        },
        "aiWorkloadLabel": {"type": "string", "default": "app.kubernetes.io/component"},
        "aiWorkloadValue": {"type": "string", "default": "ai-service"},
    },
)
def ai_service_priority_class(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    if not is_workload(args.resource_type):
        return
    if (get(args.props, "metadata", "labels") or {}).get(config["aiWorkloadLabel"]) != config["aiWorkloadValue"]:
        return
    chosen = get(pod_spec(args.resource_type, args.props), "priorityClassName")
    if chosen not in config["allowedClasses"]:
        allowed = ", ".join(config["allowedClasses"])
        report(f"priorityClassName is {chosen!r}; an AI service names one of {allowed}.", None)

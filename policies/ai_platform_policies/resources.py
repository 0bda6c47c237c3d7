"""Resources: every container sized, limits bounded, GPUs whole and placed on GPU nodes, namespaces capped."""

from __future__ import annotations

from decimal import Decimal

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

from ai_platform_policies.kube import (
    GPU_RESOURCE,
    Field,
    containers,
    describe,
    is_workload,
    namespace,
    pod_spec,
)
from ai_platform_policies.rule import Config, judging, props, resource_rule, stack_rule


@resource_rule(
    "container-resources-required",
    "Every container and init container requests CPU and memory and has a memory limit.",
    severity="high",
    remediation="Set `resources.requests.cpu`, `resources.requests.memory` and `resources.limits.memory`.",
)
def container_resources_required(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    for label, container in containers(pod_spec(args.resource_type, props(args))):
        if label == "ephemeral container":
            continue
        resources = container["resources"]
        missing = [
            f"{group}.{resource}"
            for group, resource in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory"))
            if resources.at(group, resource).value in (None, "")
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
    for label, container in containers(pod_spec(args.resource_type, props(args))):
        for resource in ("cpu", "memory"):
            request_field = container.at("resources", "requests", resource)
            limit_field = container.at("resources", "limits", resource)
            request, limit = request_field.quantity(), limit_field.quantity()
            if request is None or limit is None:
                continue
            if request <= 0:
                report(f"{describe(label, container)} requests {request_field.value} {resource}.", None)
                continue
            ratio = limit / request
            if ratio > bound:
                report(
                    f"{describe(label, container)}: {resource} limit {limit_field.value} is {ratio:.1f}x its request "
                    f"{request_field.value} (at most {bound}x).",
                    None,
                )


def _gpus(container: Field) -> tuple[Field, Field]:
    """The container's GPU (limit, request) fields."""
    resources = container["resources"]
    return resources.at("limits", GPU_RESOURCE), resources.at("requests", GPU_RESOURCE)


def _uses_gpu(spec: Field | None) -> bool:
    return any(not field.absent for _, container in containers(spec) for field in _gpus(container))


@resource_rule(
    "gpu-whole-and-guaranteed",
    "GPU limits are whole numbers and GPU requests equal the limits.",
    severity="high",
    remediation="Set `resources.limits['nvidia.com/gpu']` to a whole number; set the request to the same or omit it.",
)
def gpu_whole_and_guaranteed(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    for label, container in containers(pod_spec(args.resource_type, props(args))):
        limit_field, request_field = _gpus(container)
        limit, request = limit_field.quantity(), request_field.quantity()
        if limit is None and request is None:
            continue
        if limit is None:
            report(f"{describe(label, container)} requests GPUs without a GPU limit.", None)
            continue
        if limit != limit.to_integral_value() or limit < 1:
            report(
                f"{describe(label, container)} has a GPU limit of {limit_field.value!r}; GPUs are whole devices.", None
            )
        if request is not None and request != limit:
            report(
                f"{describe(label, container)} requests {request_field.value} GPU(s) but limits {limit_field.value}.",
                None,
            )


def _tolerates(toleration: Field, taint_key: str) -> bool:
    key = toleration["key"].string()
    operator = toleration["operator"].string() or "Equal"
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
    spec = pod_spec(args.resource_type, props(args))
    if spec is None or spec.object() is None:
        return
    taint = config["gpuTaintKey"]
    tolerates = any(_tolerates(t, taint) for t in spec["tolerations"].objects())
    if _uses_gpu(spec):
        if not tolerates:
            report(f"the pod uses GPUs but does not tolerate the '{taint}' taint of GPU nodes.", None)
        required = spec.at("affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution").object()
        if not (spec["nodeSelector"].string_map() or required):
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
    present: dict[str, set[str]] = {}
    for resource in args.resources:
        with judging(resource, report):
            fields = props(resource)
            kind = resource.resource_type.rsplit(":", 1)[-1]
            if resource.resource_type == "kubernetes:core/v1:Namespace":
                if fields.at("metadata", "labels").string_map().get(config["aiNamespaceLabel"]):
                    ai_namespaces[fields.at("metadata", "name").string() or resource.name] = resource.urn
            elif is_workload(resource.resource_type):
                labels = fields.at("metadata", "labels").string_map()
                if labels.get(config["aiWorkloadLabel"]) == config["aiWorkloadValue"]:
                    ai_namespaces.setdefault(namespace(fields), resource.urn)
            elif kind in ("ResourceQuota", "LimitRange") and resource.resource_type.startswith("kubernetes:core/v1:"):
                present.setdefault(namespace(fields), set()).add(kind)
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
    fields = props(args)
    if fields.at("metadata", "labels").string_map().get(config["aiWorkloadLabel"]) != config["aiWorkloadValue"]:
        return
    spec = pod_spec(args.resource_type, fields)
    chosen = spec["priorityClassName"].string() if spec is not None else None
    if chosen not in config["allowedClasses"]:
        allowed = ", ".join(config["allowedClasses"])
        report(f"priorityClassName is {chosen!r}; an AI service names one of {allowed}.", None)

"""Replicas and availability: enough replicas, spread out, drainable, rolled without loss."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from ai_platform_policies.kube import (
    GPU_RESOURCE,
    SCALABLE_TYPES,
    Autoscaler,
    autoscaler,
    containers,
    get,
    name,
    namespace,
    pod_labels,
    pod_spec,
    replicas,
    selects,
    show,
)
from ai_platform_policies.rule import Config, resource_rule, stack_rule

MIN_REPLICAS = {"type": "integer", "minimum": 0, "default": 1, "description": "Fewest replicas a workload may run."}
EXEMPT_WORKLOADS = {
    "type": "array",
    "items": {"type": "string"},
    "default": [],
    "description": "True singletons as 'namespace/name' (e.g. a registry on a ReadWriteOnce volume).",
}


def _hpa_targets(resources: list[PolicyResource]) -> dict[tuple[str, str, str], Autoscaler]:
    """(namespace, kind, name) of each HPA's or ScaledObject's target -> its bounds."""
    targets = {}
    for resource in resources:
        scaler = autoscaler(resource.resource_type, resource.props)
        if scaler is not None:
            targets[scaler.key] = scaler
    return targets


def _kind(resource_type: str) -> str:
    return resource_type.rsplit(":", 1)[-1]


def _workload_key(resource: PolicyResource) -> tuple[str, str, str]:
    return (namespace(resource.props), _kind(resource.resource_type), name(resource.props, resource.name))


def _replica_range(resource: PolicyResource, hpas: Mapping[tuple[str, str, str], Autoscaler]) -> tuple[int, int]:
    """(fewest, most) replicas a scalable workload can run."""
    hpa = hpas.get(_workload_key(resource))
    if hpa is not None:
        return hpa.fewest, hpa.most
    count = replicas(resource.props)
    count = 1 if count is None else count
    return count, count


@stack_rule(
    "workload-minimum-replicas",
    "Deployments and StatefulSets run at least the environment's minimum number of replicas.",
    severity="high",
    remediation="Raise `replicas` (or the HPA's `minReplicas`) to the minimum, or list a true singleton in "
    "`exemptWorkloads` as 'namespace/name' with a reason in the policy config.",
    thresholds={
        "minReplicas": MIN_REPLICAS,
        "exemptWorkloads": EXEMPT_WORKLOADS,
    },
)
def workload_minimum_replicas(args: StackValidationArgs, config: Config, report: ReportViolation) -> None:
    hpas = _hpa_targets(args.resources)
    exempt = set(config["exemptWorkloads"])
    for resource in args.resources:
        if resource.resource_type not in SCALABLE_TYPES:
            continue
        ns, kind, workload = _workload_key(resource)
        if f"{ns}/{workload}" in exempt:
            continue
        fewest, _ = _replica_range(resource, hpas)
        autoscaled = (ns, kind, workload) in hpas
        if autoscaled and fewest == 0:
            continue  # scaling to zero is hpa-minimum-replicas' call (allowScaleToZero)
        if fewest < config["minReplicas"]:
            source = "its autoscaler's minimum" if autoscaled else "replicas"
            report(
                f"{kind} {ns}/{workload} can run {fewest} replica(s) ({source}); "
                f"at least {config['minReplicas']} are required.",
                resource.urn,
            )


@resource_rule(
    "hpa-minimum-replicas",
    "Autoscalers (HPAs and KEDA ScaledObjects) never scale below the environment's minimum number of replicas; "
    "scaling to zero only where the environment allows it.",
    severity="high",
    remediation="Raise `minReplicas` (`minReplicaCount`), or allow scale to zero for this environment "
    "(`allowScaleToZero`).",
    thresholds={
        "minReplicas": MIN_REPLICAS,
        "allowScaleToZero": {
            "type": "boolean",
            "default": False,
            "description": "Idle services may scale to zero (the first request waits for a pod to start).",
        },
    },
)
def hpa_minimum_replicas(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    scaler = autoscaler(args.resource_type, args.props)
    if scaler is None or (scaler.fewest == 0 and config["allowScaleToZero"]):
        return
    if scaler.fewest == 0:
        report("it scales to zero, which this environment does not allow (`allowScaleToZero`).", None)
    elif scaler.fewest < config["minReplicas"]:
        report(f"minReplicas is {scaler.fewest}; at least {config['minReplicas']} are required.", None)


@resource_rule(
    "hpa-bounds-and-target",
    "HorizontalPodAutoscalers have maxReplicas >= minReplicas and a scaling target.",
    severity="medium",
    remediation="Set `maxReplicas` at or above `minReplicas` and at least one metric target.",
)
def hpa_bounds_and_target(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    scaler = autoscaler(args.resource_type, args.props)
    if scaler is None:
        return
    if scaler.most < max(scaler.fewest, 1):
        report(f"maxReplicas ({scaler.most}) is below minReplicas ({scaler.fewest}).", None)
    spec = get(args.props, "spec")
    if not (get(spec, "metrics") or get(spec, "targetCPUUtilizationPercentage") or get(spec, "triggers")):
        report("no scaling target: set `metrics` (autoscaling/v2), a CPU utilization target or KEDA triggers.", None)


def _allows_disruption(pdb: Mapping[str, Any], fewest: int) -> bool:
    spec = get(pdb, "spec") or {}
    if spec.get("maxUnavailable") is not None:
        return _int_or_percent(spec["maxUnavailable"]) > 0
    value = spec.get("minAvailable")
    if value is None:
        return True
    if isinstance(value, str):
        return _int_or_percent(value) < 100
    return int(value) < fewest


@stack_rule(
    "pdb-covers-multi-replica-workloads",
    "Every workload that can run more than one replica has a PodDisruptionBudget that still allows a voluntary "
    "disruption.",
    severity="high",
    remediation="Add a PodDisruptionBudget selecting the pods with `maxUnavailable: 1` (never `minAvailable` equal "
    "to the replica count, which blocks node drains).",
)
def pdb_covers_multi_replica_workloads(args: StackValidationArgs, config: Config, report: ReportViolation) -> None:
    hpas = _hpa_targets(args.resources)
    budgets = [r for r in args.resources if r.resource_type == "kubernetes:policy/v1:PodDisruptionBudget"]
    for resource in args.resources:
        if resource.resource_type not in SCALABLE_TYPES:
            continue
        fewest, most = _replica_range(resource, hpas)
        if most <= 1:
            continue
        ns, kind, workload = _workload_key(resource)
        labels = pod_labels(resource.resource_type, resource.props)
        covering = [
            b for b in budgets if namespace(b.props) == ns and selects(get(b.props, "spec", "selector"), labels)
        ]
        if not covering:
            report(
                f"{kind} {ns}/{workload} can run {most} replicas but no PodDisruptionBudget selects it.", resource.urn
            )
        for budget in covering:
            if not _allows_disruption(budget.props, fewest):
                report(
                    f"PodDisruptionBudget {ns}/{name(budget.props, budget.name)} allows no voluntary disruption of "
                    f"{kind} {workload} at {fewest} replica(s): node drains would block.",
                    budget.urn,
                )


@resource_rule(
    "multi-replica-spread",
    "Workloads with more than one replica spread across nodes (topology spread or pod anti-affinity).",
    severity="medium",
    remediation="Add `topologySpreadConstraints` on `kubernetes.io/hostname` (and the zone) or a pod anti-affinity.",
)
def multi_replica_spread(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    if args.resource_type not in SCALABLE_TYPES:
        return
    count = replicas(args.props)
    if count is not None and count <= 1:
        return
    spec = pod_spec(args.resource_type, args.props) or {}
    if spec.get("topologySpreadConstraints") or get(spec, "affinity", "podAntiAffinity"):
        return
    report("replicas can land on one node: add topologySpreadConstraints or a pod anti-affinity.", None)


@resource_rule(
    "rolling-update-keeps-capacity",
    "Deployments roll out without dropping below the desired replica count; GPU workloads, which cannot surge "
    "without a spare GPU, lose at most one replica of enough.",
    severity="medium",
    remediation="Use `strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}`, or list a "
    "true singleton in `exemptWorkloads`. GPU workloads: `maxSurge: 0, maxUnavailable: 1` with at least "
    "`gpuInPlaceMinReplicas` replicas.",
    thresholds={
        "requireZeroUnavailable": {"type": "boolean", "default": True},
        "exemptWorkloads": EXEMPT_WORKLOADS,
        "gpuInPlaceMinReplicas": {
            "type": "integer",
            "minimum": 2,
            "default": 3,
            "description": "GPU Deployments with at least this many replicas may replace one at a time.",
        },
    },
)
def rolling_update_keeps_capacity(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    if args.resource_type != "kubernetes:apps/v1:Deployment" or not config["requireZeroUnavailable"]:
        return
    if f"{namespace(args.props)}/{name(args.props, args.name)}" in config["exemptWorkloads"]:
        return
    strategy = get(args.props, "spec", "strategy") or {}
    if strategy.get("type") == "Recreate":
        report("the Recreate strategy stops every replica before starting new ones.", None)
        return
    unavailable = get(strategy, "rollingUpdate", "maxUnavailable")
    if unavailable is None:
        report("maxUnavailable is unset (Kubernetes defaults to 25%); set it to 0.", None)
    elif _int_or_percent(unavailable) != 0 and not _gpu_in_place(args, strategy, config["gpuInPlaceMinReplicas"]):
        report(f"maxUnavailable is {show(unavailable)}; set it to 0 and surge instead.", None)


def _gpu_in_place(args: ResourceValidationArgs, strategy: Mapping[str, Any], min_replicas: int) -> bool:
    """One GPU replica at a time, no surge (no spare GPU needed), with enough replicas that the rest serve."""
    uses_gpu = any(
        get(container, "resources", "limits", GPU_RESOURCE) is not None
        for _, container in containers(pod_spec(args.resource_type, args.props))
    )
    rolling = get(strategy, "rollingUpdate") or {}
    return (
        uses_gpu
        and _int_or_percent(rolling.get("maxUnavailable", 0)) == 1
        and _int_or_percent(rolling.get("maxSurge", 1)) == 0
        and (replicas(args.props) or 0) >= min_replicas
    )


def _int_or_percent(value: Any) -> int:
    """An IntOrString as Kubernetes writes it (3, "25%"); numbers arrive as floats over gRPC."""
    return int(str(value).rstrip("%")) if isinstance(value, str) else int(value)

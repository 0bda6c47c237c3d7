"""Replicas and availability: enough replicas, spread out, drainable, rolled without loss."""

from __future__ import annotations

from collections.abc import Mapping

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from ai_platform_policies.kube import (
    AUTOSCALER_TYPES,
    GPU_RESOURCE,
    SCALABLE_TYPES,
    Autoscaler,
    Field,
    LabelSelector,
    autoscaler,
    containers,
    name,
    namespace,
    pod_labels,
    pod_spec,
    replicas,
)
from ai_platform_policies.rule import Config, judging, props, resource_rule, stack_rule

MIN_REPLICAS = {"type": "integer", "minimum": 0, "default": 1, "description": "Fewest replicas a workload may run."}
EXEMPT_WORKLOADS = {
    "type": "array",
    "items": {"type": "string"},
    "default": [],
    "description": "True singletons as 'namespace/name' (e.g. a registry on a ReadWriteOnce volume).",
}
WorkloadKey = tuple[str, str, str]


def _hpa_targets(resources: list[PolicyResource], report: ReportViolation) -> dict[WorkloadKey, Autoscaler]:
    """(namespace, kind, name) of each readable HPA's or ScaledObject's target -> its bounds."""
    targets = {}
    for resource in resources:
        if resource.resource_type not in AUTOSCALER_TYPES:
            continue
        with judging(resource, report):
            scaler = autoscaler(resource.resource_type, props(resource))
            if scaler is not None:
                targets[scaler.key] = scaler
    return targets


def _kind(resource_type: str) -> str:
    return resource_type.rsplit(":", 1)[-1]


def _workload_key(resource: PolicyResource) -> WorkloadKey:
    fields = props(resource)
    return (namespace(fields), _kind(resource.resource_type), name(fields, resource.name))


def _replica_range(resource: PolicyResource, hpas: Mapping[WorkloadKey, Autoscaler]) -> tuple[int, int]:
    """(fewest, most) replicas a scalable workload can run."""
    hpa = hpas.get(_workload_key(resource))
    if hpa is not None:
        return hpa.fewest, max(hpa.most, 1)
    count = replicas(props(resource))
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
    hpas = _hpa_targets(args.resources, report)
    exempt = set(config["exemptWorkloads"])
    for resource in args.resources:
        if resource.resource_type not in SCALABLE_TYPES:
            continue
        with judging(resource, report):
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
    scaler = autoscaler(args.resource_type, props(args))
    if scaler is None or (scaler.fewest == 0 and config["allowScaleToZero"]):
        return
    if scaler.fewest == 0:
        report("it scales to zero, which this environment does not allow (`allowScaleToZero`).", None)
    elif scaler.fewest < config["minReplicas"]:
        report(f"minReplicas is {scaler.fewest}; at least {config['minReplicas']} are required.", None)


@resource_rule(
    "hpa-bounds-and-target",
    "Autoscalers (HPAs and KEDA ScaledObjects) have maxReplicas >= minReplicas and a scaling target.",
    severity="medium",
    remediation="Set `maxReplicas` at or above `minReplicas` and at least one metric target (or KEDA trigger).",
)
def hpa_bounds_and_target(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    fields = props(args)
    scaler = autoscaler(args.resource_type, fields)
    if scaler is None:
        return
    if scaler.most < max(scaler.fewest, 1):
        report(f"maxReplicas ({scaler.most}) is below minReplicas ({scaler.fewest}).", None)
    spec = fields["spec"]
    targets = (
        spec["metrics"].objects() or spec["triggers"].objects() or spec["targetCPUUtilizationPercentage"].integer()
    )
    if not targets:
        report("no scaling target: set `metrics` (autoscaling/v2), a CPU utilization target or KEDA triggers.", None)


def _allows_disruption(pdb: Field, fewest: int) -> bool:
    spec = pdb["spec"]
    unavailable = spec["maxUnavailable"].int_or_percent()
    if unavailable is not None:
        return unavailable[0] > 0
    available = spec["minAvailable"].int_or_percent()
    if available is None:
        return True
    count, percent = available
    return count < 100 if percent else count < fewest


@stack_rule(
    "pdb-covers-multi-replica-workloads",
    "Every workload that can run more than one replica has a PodDisruptionBudget that still allows a voluntary "
    "disruption.",
    severity="high",
    remediation="Add a PodDisruptionBudget selecting the pods with `maxUnavailable: 1` (never `minAvailable` equal "
    "to the replica count, which blocks node drains).",
)
def pdb_covers_multi_replica_workloads(args: StackValidationArgs, config: Config, report: ReportViolation) -> None:
    hpas = _hpa_targets(args.resources, report)
    # Per namespace, in the stack's order: a workload is compared with its namespace's budgets only.
    budgets: dict[str, list[tuple[PolicyResource, LabelSelector]]] = {}
    for resource in args.resources:
        if resource.resource_type == "kubernetes:policy/v1:PodDisruptionBudget":
            with judging(resource, report):
                fields = props(resource)
                selector = fields.at("spec", "selector")
                selector.object()
                budgets.setdefault(namespace(fields), []).append((resource, LabelSelector(selector)))
    for resource in args.resources:
        if resource.resource_type not in SCALABLE_TYPES:
            continue
        with judging(resource, report):
            fewest, most = _replica_range(resource, hpas)
            if most <= 1:
                continue
            ns, kind, workload = _workload_key(resource)
            labels = pod_labels(resource.resource_type, props(resource))
            covering = []
            for budget, budget_selector in budgets.get(ns, []):
                with judging(budget, report):
                    if budget_selector.selects(labels):
                        covering.append(budget)
            if not covering:
                report(
                    f"{kind} {ns}/{workload} can run {most} replicas but no PodDisruptionBudget selects it.",
                    resource.urn,
                )
            for budget in covering:
                with judging(budget, report):
                    if not _allows_disruption(props(budget), fewest):
                        report(
                            f"PodDisruptionBudget {ns}/{name(props(budget), budget.name)} allows no voluntary "
                            f"disruption of {kind} {workload} at {fewest} replica(s): node drains would block.",
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
    fields = props(args)
    count = replicas(fields)
    if count is not None and count <= 1:
        return
    spec = pod_spec(args.resource_type, fields) or Field(None)
    if spec["topologySpreadConstraints"].objects() or spec.at("affinity", "podAntiAffinity").object():
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
    fields = props(args)
    if f"{namespace(fields)}/{name(fields, args.name)}" in config["exemptWorkloads"]:
        return
    strategy = fields.at("spec", "strategy")
    if strategy["type"].string() == "Recreate":
        report("the Recreate strategy stops every replica before starting new ones.", None)
        return
    unavailable = strategy.at("rollingUpdate", "maxUnavailable").int_or_percent()
    if unavailable is None:
        report("maxUnavailable is unset (Kubernetes defaults to 25%); set it to 0.", None)
    elif unavailable[0] != 0 and not _gpu_in_place(args, strategy, config["gpuInPlaceMinReplicas"]):
        shown = f"{unavailable[0]}%" if unavailable[1] else str(unavailable[0])
        report(f"maxUnavailable is {shown}; set it to 0 and surge instead.", None)


def _gpu_in_place(args: ResourceValidationArgs, strategy: Field, min_replicas: int) -> bool:
    """One GPU replica at a time, no surge (no spare GPU needed), with enough replicas that the rest serve."""
    fields = props(args)
    uses_gpu = any(
        not container.at("resources", "limits")[GPU_RESOURCE].absent
        for _, container in containers(pod_spec(args.resource_type, fields))
    )
    rolling = strategy["rollingUpdate"]
    return (
        uses_gpu
        and rolling["maxUnavailable"].int_or_percent() == (1, False)
        and rolling["maxSurge"].int_or_percent() == (0, False)
        and (replicas(fields) or 0) >= min_replicas
    )

"""Replicas and availability: enough replicas, spread out, drainable, rolled without loss."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from ai_platform_policies.kube import (
    HPA_TYPES,
    SCALABLE_TYPES,
    Field,
    name,
    namespace,
    pod_labels,
    pod_spec,
    replicas,
    selects,
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


@dataclass(frozen=True)
class Scaling:
    """An HPA's replica range."""

    fewest: int
    most: int


def hpa_range(spec: Field) -> Scaling:
    """(minReplicas, maxReplicas) of an HPA spec; minReplicas defaults to 1 as in Kubernetes."""
    fewest = spec["minReplicas"].integer()
    return Scaling(1 if fewest is None else fewest, spec["maxReplicas"].integer() or 0)


def _hpa_targets(resources: list[PolicyResource], report: ReportViolation) -> dict[WorkloadKey, Scaling]:
    """(namespace, kind, name) of each readable HPA's scale target -> its replica range."""
    targets = {}
    for resource in resources:
        if resource.resource_type not in HPA_TYPES:
            continue
        with judging(resource, report):
            fields = props(resource)
            ref = fields.at("spec", "scaleTargetRef")
            key = (namespace(fields), ref["kind"].string() or "", ref["name"].string() or "")
            targets[key] = hpa_range(fields["spec"])
    return targets


def _kind(resource_type: str) -> str:
    return resource_type.rsplit(":", 1)[-1]


def _workload_key(resource: PolicyResource) -> WorkloadKey:
    fields = props(resource)
    return (namespace(fields), _kind(resource.resource_type), name(fields, resource.name))


def _replica_range(resource: PolicyResource, hpas: Mapping[WorkloadKey, Scaling]) -> tuple[int, int]:
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
            if fewest < config["minReplicas"]:
                source = "its HPA's minReplicas" if (ns, kind, workload) in hpas else "replicas"
                report(
                    f"{kind} {ns}/{workload} can run {fewest} replica(s) ({source}); "
                    f"at least {config['minReplicas']} are required.",
                    resource.urn,
                )


@resource_rule(
    "hpa-minimum-replicas",
    "HorizontalPodAutoscalers never scale below the environment's minimum number of replicas.",
    severity="high",
    remediation="Raise the HPA's `minReplicas`.",
    thresholds={"minReplicas": MIN_REPLICAS},
)
def hpa_minimum_replicas(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    if args.resource_type not in HPA_TYPES:
        return
    fewest = hpa_range(props(args)["spec"]).fewest
    if fewest < config["minReplicas"]:
        report(f"minReplicas is {fewest}; at least {config['minReplicas']} are required.", None)


@resource_rule(
    "hpa-bounds-and-target",
    "HorizontalPodAutoscalers have maxReplicas >= minReplicas and a scaling target.",
    severity="medium",
    remediation="Set `maxReplicas` at or above `minReplicas` and at least one metric target.",
)
def hpa_bounds_and_target(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    if args.resource_type not in HPA_TYPES:
        return
    spec = props(args)["spec"]
    scaling = hpa_range(spec)
    if scaling.most < scaling.fewest:
        report(f"maxReplicas ({scaling.most}) is below minReplicas ({scaling.fewest}).", None)
    metrics = spec["metrics"].objects()
    if not (metrics or spec["targetCPUUtilizationPercentage"].integer()):
        report("no scaling target: set `metrics` (autoscaling/v2) or a CPU utilization target.", None)


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
    budgets: list[tuple[PolicyResource, str, Field]] = []
    for resource in args.resources:
        if resource.resource_type == "kubernetes:policy/v1:PodDisruptionBudget":
            with judging(resource, report):
                fields = props(resource)
                selector = fields.at("spec", "selector")
                selector.object()
                budgets.append((resource, namespace(fields), selector))
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
            for budget, budget_ns, selector in budgets:
                with judging(budget, report):
                    if budget_ns == ns and selects(selector, labels):
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
    "Deployments roll out without dropping below the desired replica count.",
    severity="medium",
    remediation="Use `strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}`, or list a "
    "true singleton in `exemptWorkloads`.",
    thresholds={
        "requireZeroUnavailable": {"type": "boolean", "default": True},
        "exemptWorkloads": EXEMPT_WORKLOADS,
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
    elif unavailable[0] != 0:
        shown = f"{unavailable[0]}%" if unavailable[1] else str(unavailable[0])
        report(f"maxUnavailable is {shown}; set it to 0 and surge instead.", None)

"""Malformed resources never crash the pack: every field of the compliant fixtures, given a wrong type.

Each field of every fixture resource (objects, lists and scalars, at any
depth) is replaced in turn by a string, a number, a list, an object, null, a
boolean, a huge number and NaN. Every rule must return normally (in-process,
and through the analyzer gRPC protocol with no pack failure), and a field
replaced by a value of another type must be reported by name
("spec.template.spec.containers[0]: expected an object, got a string") unless
no rule reads it (``NOT_JUDGED``).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

from ai_platform_policies.rule import SDK_SIGNALS, Config, resource_rule, stack_rule
from infra.offline.analyzer import PolicySession
from infra.offline.pack_process import PolicyPackProcess, policy_pack
from infra.offline.policy_config import load_policy_config, policy_config_path
from infra.offline.runtime import RecordedResource
from infra.offline.stack_file import StackFile
from tests import policy_fixtures as fx
from tests.policy_harness import judge, run_policy

BAD_VALUES: dict[str, Any] = {
    "string": "abc",
    "int": 7,
    "list": ["abc"],
    "object": {"abc": "abc"},
    "null": None,
    "bool": True,
    "huge": 1e308,
    "huge-int": 10**30,
    "nan": math.nan,
}
#: Values a protobuf Struct cannot carry to the pack (the SDK refuses NaN before any rule runs).
NOT_ON_THE_WIRE = {"nan"}

_CONTAINER = "spec.template.spec.containers[*]"
_POD_FIELDS_NOT_JUDGED = {
    "spec.selector",  # rules match pods by the template's labels
    f"{_CONTAINER}.name",  # only names the container in messages
    f"{_CONTAINER}.livenessProbe.httpGet",  # probes are judged present, not how they probe
    f"{_CONTAINER}.readinessProbe.httpGet",
    f"{_CONTAINER}.ports[*].containerPort",  # only hostPort is judged
    f"{_CONTAINER}.ports[*].name",
    "spec.template.spec.topologySpreadConstraints[*]",  # judged present, not how they spread
}
#: Fields no rule reads, per kind ("*": every kind; indices as [*]). A wrong type there is for the
#: Kubernetes schema check (``infra.offline check``) to find, not for the pack.
NOT_JUDGED: dict[str, set[str]] = {
    "*": {"apiVersion", "kind"},
    "ResourceQuota": {"metadata.name", "spec"},  # ai-namespace-quota wants one present, whatever it holds
    "LimitRange": {"metadata.name", "spec"},
    "Deployment": {
        *_POD_FIELDS_NOT_JUDGED,
        "spec.strategy.rollingUpdate.maxSurge",  # only maxUnavailable decides lost capacity
        "spec.template.spec.tolerations[*].effect",  # any effect of a GPU toleration admits the pod
    },
    "StatefulSet": {*_POD_FIELDS_NOT_JUDGED, "spec.serviceName"},
    "HorizontalPodAutoscaler": {
        "metadata.name",  # an HPA is matched to its workload by scaleTargetRef
        "spec.scaleTargetRef.apiVersion",
        "spec.metrics[*]",  # judged present, not what they measure
    },
    "PodDisruptionBudget": {"metadata.name"},  # named in messages only
    "NetworkPolicy": {"metadata.name", "spec.policyTypes"},  # coverage is by podSelector
    "ServiceAccount": {"metadata.name"},
    "ConfigMap": {"metadata.name", "data.LOG_LEVEL"},  # keys are judged, values are not secrets' business
    "Service": {"metadata.name"},
    "PersistentVolumeClaim": {"metadata.name"},
    "Release": {"chart", "name", "repositoryOpts", "values.grafana"},  # Helm values are free-form
}

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Mutation:
    resource: int
    kind: str
    path: Path
    bad: str

    @property
    def id(self) -> str:
        return f"{self.kind}#{self.resource}:{render(self.path)}={self.bad}"


def render(path: Path) -> str:
    """A path as the pack's messages write it: spec.containers[0], labels["app.kubernetes.io/name"]."""
    text = ""
    for key in path:
        if isinstance(key, int):
            text += f"[{key}]"
        elif re.match(r"^[A-Za-z_][A-Za-z0-9_-]*$", key):
            text += f".{key}" if text else key
        else:
            text += f'["{key}"]'
    return text


def _fields(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    children: list[tuple[str | int, Any]] = []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    for key, child in children:
        yield (*path, key), child
        yield from _fields(child, (*path, key))


def _category(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number" if math.isfinite(value) else "nan"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "object"


def is_wrong_type(original: Any, bad: Any) -> bool:
    """Whether Kubernetes could never accept ``bad`` where ``original`` stands (numbers may be quantities)."""
    was, now = _category(original), _category(bad)
    if now in ("null", was):
        return False
    return not (was == "string" and now == "number")


STACK = fx.compliant_stack()


def mutations(index: int) -> list[tuple[Mutation, Any]]:
    """Every field of one fixture resource, replaced by every bad value."""
    resource = STACK[index]
    kind = resource.type.rsplit(":", 1)[-1]
    return [
        (Mutation(index, kind, path, bad), original)
        for path, original in _fields(resource.inputs)
        for bad in BAD_VALUES
    ]


def mutated_stack(mutation: Mutation) -> list[RecordedResource]:
    stack = fx.compliant_stack()
    target: Any = stack[mutation.resource].inputs
    for key in mutation.path[:-1]:
        target = target[key]
    target[mutation.path[-1]] = copy.deepcopy(BAD_VALUES[mutation.bad])
    return stack


def judged(kind: str, path: Path) -> bool:
    pattern = re.sub(r"\[\d+\]", "[*]", render(path))
    skipped = NOT_JUDGED["*"] | NOT_JUDGED.get(kind, set())
    return not any(pattern == field or pattern.startswith((f"{field}.", f"{field}[")) for field in skipped)


def problems(mutation: Mutation, original: Any, messages: list[str]) -> list[str]:
    """What is wrong with the pack's answer to one mutation (nothing, ideally)."""
    found = []
    must_name = is_wrong_type(original, BAD_VALUES[mutation.bad]) and judged(mutation.kind, mutation.path)
    if must_name and not any(f"{render(mutation.path)}: expected" in message for message in messages):
        found.append(f"{mutation.id}: not reported by name; got {messages}")
    crashed = [message for message in messages if "could not judge" in message]
    if crashed:
        found.append(f"{mutation.id}: a rule crashed instead of reading by type: {crashed[0]}")
    return found


RESOURCES = [pytest.param(index, id=f"{r.type.rsplit(':', 1)[-1]}-{r.name}") for index, r in enumerate(STACK)]


@pytest.mark.parametrize("index", RESOURCES)
def test_malformed_fields_are_reported_in_process(index: int) -> None:
    found = []
    for mutation, original in mutations(index):
        stack = mutated_stack(mutation)
        # judge returns normally: no rule raised
        findings = judge(stack, "prod", wire=False, only=stack[index].urn)
        found += problems(mutation, original, [finding.message for finding in findings])
    assert found == []


GRPC_STACK = StackFile(path=FilePath("stacks/Pulumi.test.yaml"), stack="test", values={}, secret_keys=frozenset())


@pytest.fixture(scope="module")
def prod_pack() -> Iterator[PolicyPackProcess]:
    """The pack started as the engine starts it, configured once with the prod config."""
    with policy_pack(GRPC_STACK) as process:
        config_path = policy_config_path("prod")
        PolicySession(process, GRPC_STACK, load_policy_config(config_path), str(config_path))
        yield process


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def _options(resource: RecordedResource) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(protect=bool(resource.options["protect"]))


def analyze_request(resource: RecordedResource) -> analyzer_pb2.AnalyzeRequest:
    return analyzer_pb2.AnalyzeRequest(
        type=resource.type,
        properties=_struct(resource.inputs),
        urn=resource.urn,
        name=resource.name,
        options=_options(resource),
    )


def analyze_stack_request(stack: list[RecordedResource]) -> analyzer_pb2.AnalyzeStackRequest:
    return analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=r.type, properties=_struct(r.outputs or r.inputs), urn=r.urn, name=r.name, options=_options(r)
            )
            for r in stack
        ]
    )


@pytest.mark.parametrize("index", RESOURCES)
def test_malformed_fields_never_fail_the_pack_through_grpc(prod_pack: PolicyPackProcess, index: int) -> None:
    stub = prod_pack.stub
    sent = []
    for mutation, original in mutations(index):
        if mutation.bad in NOT_ON_THE_WIRE:
            continue
        stack = mutated_stack(mutation)
        one = stub.Analyze.future(analyze_request(stack[index]))
        whole = stub.AnalyzeStack.future(analyze_stack_request(stack))
        sent.append((mutation, original, one, whole))
    found = []
    for mutation, original, one, whole in sent:
        try:
            diagnostics = [*one.result().diagnostics, *whole.result().diagnostics]
        except grpc.RpcError as error:
            found.append(f"{mutation.id}: the pack failed: {error.details()}")
            continue
        found += problems(mutation, original, [diagnostic.message for diagnostic in diagnostics])
    assert found == []


def test_nan_cannot_reach_the_rules_through_grpc(prod_pack: PolicyPackProcess) -> None:
    """The SDK refuses NaN while decoding properties, before any rule runs (so NaN is judged in-process only).

    If a pulumi-policy upgrade lets NaN through, this fails: then send it in the test above too.
    """
    deployment = fx.resource("kubernetes:apps/v1:Deployment", fx.deployment("nan"))
    deployment.inputs["spec"]["replicas"] = math.nan
    with pytest.raises(grpc.RpcError) as failure:
        prod_pack.stub.Analyze(analyze_request(deployment))
    assert "NaN" in str(failure.value.details())


# The safety net: a rule that raises anyway reports a violation naming the policy and the resource.


@resource_rule("crashes-on-resources", "Always raises.", severity="low", remediation="None.")
def crashes_on_resources(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    raise ZeroDivisionError("boom")


@stack_rule("crashes-on-deployments", "Raises on a Deployment.", severity="low", remediation="None.")
def crashes_on_deployments(args: StackValidationArgs, config: Config, report: ReportViolation) -> None:
    for resource in args.resources:
        if resource.resource_type.endswith(":Deployment"):
            raise KeyError("replicas")


@stack_rule("not-applicable", "Declines.", severity="low", remediation="None.")
def declines(args: StackValidationArgs, config: Config, report: ReportViolation) -> None:
    args.not_applicable("nothing to judge")


def test_a_resource_rule_that_raises_reports_the_policy_and_resource() -> None:
    deployment = STACK[3]
    assert run_policy(crashes_on_resources, [deployment], {}) == [
        (
            deployment.urn,
            f"policy crashes-on-resources could not judge {deployment.type} {deployment.urn} "
            "(ZeroDivisionError: boom); the resource holds a value the rule does not expect.",
        )
    ]


def test_a_stack_rule_that_raises_reports_the_policy_and_the_resource_it_was_on() -> None:
    deployment = STACK[3]
    assert run_policy(crashes_on_deployments, STACK, {}) == [
        (
            deployment.urn,
            f"policy crashes-on-deployments could not judge Deployment {deployment.name} "
            "(KeyError: 'replicas'); the resource holds a value the rule does not expect.",
        )
    ]


def test_the_sdk_signals_pass_through_the_safety_net() -> None:
    with pytest.raises(SDK_SIGNALS):
        run_policy(declines, STACK, {})

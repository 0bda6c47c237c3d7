"""The policy pack through Pulumi's analyzer gRPC protocol, as the engine drives it.

The pack runs as the engine starts it (``python -u -m pulumi.policy``). These
tests prove the protocol path: ``GetAnalyzerInfo`` lists every policy with its
metadata and config schema, ``Configure`` applies each environment's levels and
thresholds, ``Analyze`` and ``AnalyzeStack`` report diagnostics with the right
enforcement level and URN, unknown values and not-applicable answers come back
as the engine expects, and a few rule cases run end to end. What each rule
judges is tested in-process (tests/test_policy_rules.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import empty_pb2, json_format
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import ResourceValidationPolicy, Severity, StackValidationPolicy

from ai_platform_policies import PACK_NAME
from ai_platform_policies.pack import ALL_POLICIES
from infra.offline.analyzer import PolicySession, Violation, _stack_request_bytes, _stack_resource, evaluate
from infra.offline.pack_process import PolicyPackProcess, policy_pack
from infra.offline.policy_config import PolicyConfigError, load_policy_config, policy_config_path, reconcile
from infra.offline.runtime import RecordedResource
from infra.offline.stack_file import StackFile
from tests import policy_fixtures as fx
from tests.helpers import REGISTRY_AUTH_IMAGE
from tests.policy_harness import ENVIRONMENTS, environment_settings

STACK = StackFile(
    path=Path("stacks/Pulumi.test.yaml"),
    stack="test",
    values={
        "ai-platform:registry": json.dumps({"host": "registry.platform.internal", "authImage": REGISTRY_AUTH_IMAGE})
    },
    secret_keys=frozenset(),
)


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyPackProcess]:
    with policy_pack(STACK) as process:
        yield process


def run(pack: PolicyPackProcess, resources: list[RecordedResource], environment: str = "prod") -> list[Violation]:
    config_path = policy_config_path(environment)
    return evaluate(pack, STACK, resources, load_policy_config(config_path), str(config_path))


#: Table cases that also run end to end: resource and stack rules, and resource options (protect).
E2E = {"root user", "host network pod", "chart version range", "unprotected pvc", "no pdb", "over budget"}
POLICY_TYPES = {
    ResourceValidationPolicy: analyzer_pb2.POLICY_TYPE_RESOURCE,
    StackValidationPolicy: analyzer_pb2.POLICY_TYPE_STACK,
}
SEVERITIES = {
    Severity.LOW: analyzer_pb2.POLICY_SEVERITY_LOW,
    Severity.MEDIUM: analyzer_pb2.POLICY_SEVERITY_MEDIUM,
    Severity.HIGH: analyzer_pb2.POLICY_SEVERITY_HIGH,
    Severity.CRITICAL: analyzer_pb2.POLICY_SEVERITY_CRITICAL,
}
#: An unknown string during preview, as the engine encodes it (pulumi_policy.proxy.UNKNOWN_STRING_VALUE).
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def test_analyzer_info_lists_every_policy_with_its_metadata_and_config_schema(pack: PolicyPackProcess) -> None:
    info = pack.stub.GetAnalyzerInfo(empty_pb2.Empty())

    assert info.name == PACK_NAME and info.supportsConfig
    assert [policy.name for policy in info.policies] == [policy.name for policy in ALL_POLICIES]
    for listed, declared in zip(info.policies, ALL_POLICIES, strict=True):
        assert listed.description == declared.description
        assert listed.remediation_steps == declared.remediation_steps
        assert declared.severity is not None and listed.severity == SEVERITIES[declared.severity]
        assert listed.policy_type == POLICY_TYPES[type(declared)]
        assert listed.enforcementLevel == analyzer_pb2.ADVISORY  # the pack's default; config files raise it
        schema = declared.config_schema.properties if declared.config_schema else {}
        assert json_format.MessageToDict(listed.configSchema.properties) == schema


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_in_process_tests_configure_each_policy_as_the_engine_does(pack: PolicyPackProcess, environment: str) -> None:
    """The harness of tests/test_policy_rules.py gives each policy the level and config Configure would."""
    config_path = policy_config_path(environment)
    reconciled = reconcile(pack.stub.GetAnalyzerInfo(empty_pb2.Empty()), load_policy_config(config_path), "")

    engine = {name: (entry.level, entry.properties) for name, entry in reconciled.items()}

    assert engine == {name: (s.level, s.config) for name, s in environment_settings(environment).items()}


def test_the_compliant_stack_passes_every_rule(pack: PolicyPackProcess) -> None:
    assert run(pack, fx.compliant_stack()) == []


@pytest.mark.parametrize(
    ("rule", "fragment", "mutate"),
    [pytest.param(rule, fragment, mutate, id=case) for case, rule, fragment, mutate in fx.VIOLATIONS if case in E2E],
)
def test_rule_cases_end_to_end(pack: PolicyPackProcess, rule: str, fragment: str, mutate: fx.Mutation) -> None:
    stack = fx.compliant_stack()
    mutate(stack)

    violations = run(pack, stack)

    reported = [v for v in violations if v.policy == rule]
    assert any(fragment in v.message for v in reported), [(v.policy, v.message) for v in violations]
    assert all(v.enforcement_level == "mandatory" for v in reported)
    assert all(v.urn.startswith("urn:pulumi:") for v in reported if v.policy != "monthly-budget")


def test_an_unknown_value_during_preview_is_an_advisory_diagnostic(pack: PolicyPackProcess) -> None:
    """The engine's own answer: the policy cannot run on a value known only after apply."""
    stack = fx.compliant_stack()
    fx.classifier_container(lambda c: c.update(image=UNKNOWN_STRING))(stack)

    unknown = [v for v in run(pack, stack) if "can't be known during preview" in v.message]

    assert {v.policy for v in unknown} == {"approved-registries", "image-tag-pinned"}
    assert {v.enforcement_level for v in unknown} == {"advisory"}


def test_the_budget_is_not_applicable_without_a_budget(pack: PolicyPackProcess, tmp_path: Path) -> None:
    config_path = tmp_path / "no-budget.json"
    config_path.write_text(json.dumps({"all": "mandatory"}))
    PolicySession(pack, STACK, load_policy_config(config_path), str(config_path))

    answer = pack.stub.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[]))

    assert [(n.policy_name, n.reason) for n in answer.not_applicable] == [("monthly-budget", "no budget configured")]


def test_enforcement_levels_differ_per_environment(pack: PolicyPackProcess) -> None:
    stack = fx.compliant_stack()
    fx.security(privileged=True)(stack)
    levels = {
        env: {v.enforcement_level for v in run(pack, stack, env) if v.policy == "no-privileged-containers"}
        for env in ("dev", "staging", "prod")
    }
    assert levels == {"dev": {"advisory"}, "staging": {"mandatory"}, "prod": {"mandatory"}}


def test_configure_disables_a_policy_and_sets_its_own_level(pack: PolicyPackProcess) -> None:
    """stateful-resources-protected: disabled in dev, advisory in staging (own entry over "all"), mandatory in prod."""
    stack = fx.compliant_stack()
    next(r for r in stack if r.type.endswith(":PersistentVolumeClaim")).options["protect"] = False
    levels = {
        env: [v.enforcement_level for v in run(pack, stack, env) if v.policy == "stateful-resources-protected"]
        for env in ("dev", "staging", "prod")
    }
    assert levels == {"dev": [], "staging": ["advisory"], "prod": ["mandatory"]}


def test_thresholds_differ_per_environment(pack: PolicyPackProcess) -> None:
    stack = fx.compliant_stack()
    fx.no_autoscaler_with(2)(stack)
    assert "workload-minimum-replicas" in {v.policy for v in run(pack, stack, "prod")}
    assert "workload-minimum-replicas" not in {v.policy for v in run(pack, stack, "staging")}


def test_a_registry_named_only_in_the_stack_file_is_not_approved(pack: PolicyPackProcess) -> None:
    """The stack file is what a pull request edits; only the pack's config approves registries."""
    stack = fx.compliant_stack()
    fx.classifier_container(lambda c: c.update(image="registry.platform.internal/ai/x:1.0" + fx.DIGEST))(stack)
    assert [v.policy for v in run(pack, stack) if v.policy == "approved-registries"] == ["approved-registries"]


def test_the_budget_prices_come_from_the_pack_config_not_the_stack_file(tmp_path: Path) -> None:
    """Zero prices in the stack file (which a pull request edits) do not get a GPU fleet past the budget."""
    zero = {"vcpuHour": 0, "memoryGibHour": 0, "gpuHour": {"nvidia-l4": 0}, "storageGibMonth": {"default": 0}}
    cheap_stack = StackFile(
        path=STACK.path,
        stack="test",
        values={**STACK.values, "ai-platform:pricing": json.dumps(zero)},
        secret_keys=frozenset(),
    )
    resources = fx.compliant_stack()
    fx.change(":Deployment", "llm", lambda d: d["spec"].update(replicas=30))(resources)
    config_path = policy_config_path("prod")
    with policy_pack(cheap_stack) as process:
        violations = evaluate(process, cheap_stack, resources, load_policy_config(config_path), str(config_path))
    assert "monthly-budget" in {v.policy for v in violations}
    # ...while the pack's own prices decide: free capacity fits any budget.
    free = json.loads(config_path.read_text())
    free["monthly-budget"]["prices"] = zero
    free_path = tmp_path / "prod.json"
    free_path.write_text(json.dumps(free))
    with policy_pack(cheap_stack) as process:
        violations = evaluate(process, cheap_stack, resources, load_policy_config(free_path), str(free_path))
    assert "monthly-budget" not in {v.policy for v in violations}


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"all": "strict"}', "'strict' is not an enforcement level"),
        ('{"no-such-rule": "mandatory"}', "no policy named no-such-rule"),
        ('{"limit-request-ratio": {"maxRatio": "two"}}', "limit-request-ratio.maxRatio: 'two' is not of type 'number'"),
        ("[1]", "must be a JSON object"),
        ("{", "not valid JSON"),
    ],
)
def test_invalid_policy_config_is_refused(pack: PolicyPackProcess, tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(PolicyConfigError, match=fragment.replace("(", r"\(").replace("[", r"\[")):
        evaluate(pack, STACK, fx.compliant_stack(), load_policy_config(path), str(path))


def test_the_stack_request_is_sent_serialized_resource_by_resource_byte_for_byte(pack: PolicyPackProcess) -> None:
    """``finish`` never holds the whole ``AnalyzeStackRequest``: what it sends is what the message serializes to."""
    resources = fx.compliant_stack()
    by_urn = {resource.urn: resource for resource in resources}
    whole = analyzer_pb2.AnalyzeStackRequest(resources=[_stack_resource(r, by_urn) for r in resources])
    assert _stack_request_bytes(resources, by_urn) == whole.SerializeToString()
    assert _stack_request_bytes([], {}) == b""
    assert pack.analyze_stack_serialized(whole.SerializeToString()) == pack.stub.AnalyzeStack(whole)


def test_the_findings_are_the_same_whether_the_stack_is_sent_early_late_or_as_one_message(
    pack: PolicyPackProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``check`` sends ``AnalyzeStack`` before validating manifests (``judge_stack``), ``evaluate`` from ``finish``;
    ``AI_PLATFORM_NO_SPEEDUPS`` builds the whole request as the generated stub takes it."""
    stack = [*fx.compliant_stack(), fx.resource("kubernetes:apps/v1:Deployment", fx.deployment("lonely"))]
    late = run(pack, stack)
    config_path = policy_config_path("prod")
    session = PolicySession(pack, STACK, load_policy_config(config_path), str(config_path))
    for resource in stack:
        session.analyze(resource)
    session.judge_stack(stack)
    early = session.finish(stack)
    monkeypatch.setenv("AI_PLATFORM_NO_SPEEDUPS", "1")
    assert early == late == run(pack, stack)
    assert [v.policy for v in late] == ["pdb-covers-multi-replica-workloads"]  # a stack policy

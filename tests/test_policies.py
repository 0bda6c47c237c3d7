"""Every rule of the policy pack, judged through Pulumi's analyzer gRPC protocol.

The pack runs as the engine starts it (``python -u -m pulumi.policy``); the
tests send it hand-written resources with ``Analyze``/``AnalyzeStack``, never
calling rule functions directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.offline.analyzer import Violation, evaluate
from infra.offline.pack_process import PolicyPackProcess, policy_pack
from infra.offline.policy_config import PolicyConfigError, load_policy_config, policy_config_path
from infra.offline.runtime import RecordedResource
from infra.offline.stack_file import StackFile
from tests import policy_fixtures as fx

STACK = StackFile(
    path=Path("stacks/Pulumi.test.yaml"),
    stack="test",
    values={"ai-platform:registry": json.dumps({"host": "registry.platform.internal"})},
    secret_keys=frozenset(),
)


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyPackProcess]:
    with policy_pack(STACK) as process:
        yield process


def run(pack: PolicyPackProcess, resources: list[RecordedResource], environment: str = "prod") -> list[Violation]:
    config_path = policy_config_path(environment)
    return evaluate(pack, STACK, resources, load_policy_config(config_path), str(config_path))


def test_the_compliant_stack_passes_every_rule(pack: PolicyPackProcess) -> None:
    assert run(pack, fx.compliant_stack()) == []


@pytest.mark.parametrize(
    ("rule", "mutate"), [pytest.param(rule, mutate, id=case) for case, rule, _, mutate in fx.VIOLATIONS]
)
def test_each_rule_reports_a_mandatory_violation_in_prod(
    pack: PolicyPackProcess, rule: str, mutate: fx.Mutation
) -> None:
    stack = fx.compliant_stack()
    mutate(stack)

    violations = run(pack, stack)

    reported = [v for v in violations if v.policy == rule]
    assert reported, f"{rule} reported nothing; got {[(v.policy, v.message) for v in violations]}"
    assert all(v.enforcement_level == "mandatory" for v in reported)
    stack_wide = {"ai-namespace-quota", "monthly-budget"}
    assert all(v.urn.startswith("urn:pulumi:") for v in reported if v.policy not in stack_wide)


def test_every_rule_has_a_violating_case(pack: PolicyPackProcess) -> None:
    info_names = {
        policy.name
        for policy in pack.stub.GetAnalyzerInfo(
            __import__("google.protobuf.empty_pb2", fromlist=["Empty"]).Empty()
        ).policies
    }
    assert info_names == {rule for _, rule, _, _ in fx.VIOLATIONS}


def test_enforcement_levels_differ_per_environment(pack: PolicyPackProcess) -> None:
    stack = fx.compliant_stack()
    fx.security(privileged=True)(stack)
    levels = {
        env: {v.enforcement_level for v in run(pack, stack, env) if v.policy == "no-privileged-containers"}
        for env in ("dev", "staging", "prod")
    }
    assert levels == {"dev": {"advisory"}, "staging": {"mandatory"}, "prod": {"mandatory"}}


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

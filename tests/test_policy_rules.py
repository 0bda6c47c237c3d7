"""Every rule of the policy pack, called in-process as pulumi-policy's own tests call a policy.

Each case breaks the compliant stack one way and asserts the rule that must
catch it, with its message, at the level the prod config gives it. The
analyzer protocol path is proved separately (tests/test_policies.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from ai_platform_policies.kube import Field, MalformedFieldError, label_selector
from ai_platform_policies.pack import ALL_POLICIES
from ai_platform_policies.rule import SDK_SIGNALS
from tests import policy_fixtures as fx
from tests.policy_harness import ENVIRONMENTS, POLICIES, judge, run_policy

#: Rules that judge the stack as a whole may report without naming a resource.
STACK_WIDE = {"monthly-budget"}


@pytest.mark.parametrize("wire", [True, False], ids=["numbers-as-floats", "numbers-as-ints"])
def test_the_compliant_stack_passes_every_rule(wire: bool) -> None:
    assert judge(fx.compliant_stack(), "prod", wire=wire) == []


@pytest.mark.parametrize("environment", [env for env in ENVIRONMENTS if env != "prod"])
def test_smaller_environments_only_find_the_stack_over_their_budget(environment: str) -> None:
    """The compliant stack is sized for prod; dev and staging have smaller budgets and looser rules."""
    assert {f.policy for f in judge(fx.compliant_stack(), environment)} == {"monthly-budget"}


@pytest.mark.parametrize(
    ("rule", "fragment", "mutate"),
    [pytest.param(rule, fragment, mutate, id=case) for case, rule, fragment, mutate in fx.VIOLATIONS],
)
def test_each_rule_reports_a_mandatory_violation_in_prod(rule: str, fragment: str, mutate: fx.Mutation) -> None:
    stack = fx.compliant_stack()
    mutate(stack)

    findings = judge(stack, "prod")

    reported = [f for f in findings if f.policy == rule]
    assert any(fragment in f.message for f in reported), f"{rule}: {[(f.policy, f.message) for f in findings]}"
    assert all(f.level == "mandatory" for f in reported)
    assert all(f.urn.startswith("urn:pulumi:") for f in reported if f.policy not in STACK_WIDE)


def test_every_rule_has_a_violating_case() -> None:
    assert {policy.name for policy in ALL_POLICIES} == {rule for _, rule, _, _ in fx.VIOLATIONS}


def test_a_percentage_max_unavailable_is_read_as_a_percentage() -> None:
    stack = fx.compliant_stack()
    fx.change(":Deployment", "llm", lambda d: d["spec"]["strategy"]["rollingUpdate"].update(maxUnavailable="25%"))(
        stack
    )
    messages = [f.message for f in judge(stack) if f.policy == "rolling-update-keeps-capacity"]
    assert messages == ["maxUnavailable is 25%; set it to 0 and surge instead."]


def test_a_percentage_min_available_below_100_allows_drains() -> None:
    stack = fx.compliant_stack()
    fx.change(":PodDisruptionBudget", "vector-store", lambda p: p["spec"].update(minAvailable="50%"))(stack)
    assert [f for f in judge(stack) if f.policy == "pdb-covers-multi-replica-workloads"] == []


def test_a_numeric_gpu_request_equals_the_same_string_limit() -> None:
    """Kubernetes quantities may be numbers; 1 and "1" are the same GPU count."""
    stack = fx.compliant_stack()
    fx.change(
        ":Deployment", "llm", lambda d: fx.first_container(d)["resources"]["requests"].update({"nvidia.com/gpu": 1})
    )(stack)
    assert [f for f in judge(stack) if f.policy == "gpu-whole-and-guaranteed"] == []


def test_an_hpa_may_scale_to_zero_only_where_the_environment_allows_it() -> None:
    stack = fx.compliant_stack()
    fx.change(":HorizontalPodAutoscaler", None, lambda h: h["spec"].update(minReplicas=0))(stack)
    assert "it scales to zero, which this environment does not allow (`allowScaleToZero`)." in [
        f.message for f in judge(stack) if f.policy == "hpa-minimum-replicas"
    ]


def test_the_budget_is_not_applicable_without_a_budget() -> None:
    with pytest.raises(SDK_SIGNALS):
        run_policy(POLICIES["monthly-budget"], fx.compliant_stack(), {})


def _set(path: str, value: object) -> fx.Mutation:
    """Set a dotted path (list indices as numbers) in the classifier Deployment."""

    def edit(deployment: dict[str, Any]) -> None:
        keys: list[Any] = [int(key) if key.isdigit() else key for key in path.split(".")]
        target: Any = deployment
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return fx.change(":Deployment", "classifier", edit)


POD = "spec.template.spec"
MALFORMED: list[tuple[str, fx.Mutation, str]] = [
    # (case, how the classifier Deployment is malformed, the violation that names the field)
    ("uid as text", _set(f"{POD}.containers.0.securityContext.runAsUser", "abc"), "runAsUser: expected an integer"),
    ("container as text", _set(f"{POD}.containers.0", "app"), "containers[0]: expected an object, got a string"),
    ("tolerations as a map", _set(f"{POD}.tolerations", {"key": "x"}), "tolerations: expected a list, got an object"),
    (
        "fractional percentage",
        _set("spec.strategy.rollingUpdate.maxUnavailable", "10.5%"),
        "maxUnavailable: expected an integer or a percentage such as 25%, got a string",
    ),
    ("replicas as text", _set("spec.replicas", "3"), "spec.replicas: expected an integer, got a string"),
    ("resources as a list", _set(f"{POD}.containers.0.resources", []), "resources: expected an object, got a list"),
    ("labels as a list", _set("spec.template.metadata.labels", ["a"]), "labels: expected an object, got a list"),
    ("cpu as a word", _set(f"{POD}.containers.0.resources.limits.cpu", "lots"), "expected a Kubernetes quantity"),
    ("probe as a flag", _set(f"{POD}.containers.0.livenessProbe", True), "livenessProbe: expected an object"),
]


@pytest.mark.parametrize(("mutate", "message"), [pytest.param(m, text, id=case) for case, m, text in MALFORMED])
def test_a_malformed_field_is_a_mandatory_violation_naming_it(mutate: fx.Mutation, message: str) -> None:
    stack = fx.compliant_stack()
    mutate(stack)

    findings = [f for f in judge(stack) if message in f.message]

    assert findings, [f.message for f in judge(stack)]
    assert {f.level for f in findings} == {"mandatory"}
    assert not [f for f in judge(stack) if "could not judge" in f.message]


def test_a_malformed_budget_selector_is_reported_once_against_the_budget() -> None:
    """Read once per budget, not once per workload it is compared with; the workload is then uncovered."""
    stack = fx.compliant_stack()
    fx.change(":PodDisruptionBudget", "classifier", lambda p: p["spec"]["selector"].update(matchLabels=["app"]))(stack)
    findings = [f for f in judge(stack) if f.policy == "pdb-covers-multi-replica-workloads"]
    malformed = [f for f in findings if "matchLabels: expected an object, got a list" in f.message]
    assert len(malformed) == 1 and malformed[0].urn.endswith(":PodDisruptionBudget::poddisruptionbudget-classifier")
    assert any("no PodDisruptionBudget selects it" in f.message for f in findings)


@pytest.mark.parametrize(
    ("selector", "labels", "selected"),
    [
        ({"matchLabels": {"app": "web"}}, {"app": "web", "tier": "x"}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "api"}, False),
        ({}, {"app": "web"}, True),  # empty selects everything
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}, {"tier": "b"}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]}, {"tier": "b"}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}, {}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"tier": ""}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {"tier": ""}, False),
        (
            {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "t", "operator": "Exists"}]},
            {"app": "web"},
            False,
        ),
    ],
)
def test_a_label_selector_selects_as_kubernetes_does(
    selector: dict[str, Any], labels: dict[str, str], selected: bool
) -> None:
    parsed = label_selector(Field(selector, "spec.selector"))
    assert parsed is not None and parsed.selects(labels) is selected


def test_an_absent_selector_selects_nothing_and_a_malformed_one_is_refused_whole() -> None:
    assert label_selector(Field(None, "spec.selector")) is None
    # Even where matchLabels alone would already rule the labels out.
    malformed = {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "t", "operator": "In", "values": "a"}]}
    with pytest.raises(MalformedFieldError, match=r"matchExpressions\[0\]\.values: expected a list"):
        label_selector(Field(malformed, "spec.selector"))

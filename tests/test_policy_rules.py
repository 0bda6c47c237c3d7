"""Every rule of the policy pack, called in-process as pulumi-policy's own tests call a policy.

Each case breaks the compliant stack one way and asserts the rule that must
catch it, with its message, at the level the prod config gives it. The
analyzer protocol path is proved separately (tests/test_policies.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from ai_platform_policies.kube import Field, LabelSelector, MalformedFieldError
from ai_platform_policies.pack import ALL_POLICIES
from ai_platform_policies.rule import SDK_SIGNALS
from tests import policy_fixtures as fx
from tests.policy_harness import ENVIRONMENTS, POLICIES, Judged, judge, run_policy

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


def test_a_malformed_budget_selector_is_reported_against_the_budget() -> None:
    """Against the budget, for each workload of its namespace it is compared with; the workload is then uncovered."""
    stack = fx.compliant_stack()
    fx.change(":PodDisruptionBudget", "classifier", lambda p: p["spec"]["selector"].update(matchLabels=["app"]))(stack)
    findings = [f for f in judge(stack) if f.policy == "pdb-covers-multi-replica-workloads"]
    malformed = [f for f in findings if "matchLabels: expected an object, got a list" in f.message]
    assert malformed and {f.urn for f in malformed} == {malformed[0].urn}
    assert malformed[0].urn.endswith(":PodDisruptionBudget::poddisruptionbudget-classifier")
    assert any("no PodDisruptionBudget selects it" in f.message for f in findings)


@pytest.mark.parametrize(
    ("selector", "labels", "selected"),
    [
        ({"matchLabels": {"app": "web"}}, {"app": "web", "tier": "x"}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "api"}, False),
        ({}, {"app": "web"}, True),  # empty selects everything
        (None, {"app": "web"}, False),  # absent selects nothing
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
    selector: dict[str, Any] | None, labels: dict[str, str], selected: bool
) -> None:
    parsed = LabelSelector(Field(selector, "spec.selector"))
    assert parsed.selects(labels) is selected
    assert parsed.selects(labels) is selected  # again, from what the first match read


def test_a_selector_is_read_only_as_far_as_a_match_needs() -> None:
    """A malformed part is met only by a match that reaches it, every time it reaches it."""
    malformed = {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "t", "operator": "In", "values": "a"}]}
    selector = LabelSelector(Field(malformed, "spec.selector"))
    assert selector.selects({"app": "api"}) is False  # decided by matchLabels
    for _ in range(2):
        with pytest.raises(MalformedFieldError, match=r"matchExpressions\[0\]\.values: expected a list"):
            selector.selects({"app": "web"})


def _previewed(kind: str, name: str, edit: Callable[[dict[str, Any]], Any]) -> Judged:
    """The compliant stack plus one object in a namespace of its own, edited to hold an unknown value, as a preview
    hands it to stack rules (reading an unknown raises ``UnknownValueError``)."""
    body = fx.pdb(name) if kind == "PodDisruptionBudget" else fx.network_policy(name)
    body["metadata"]["namespace"] = "elsewhere"
    edit(body)
    api = "policy/v1" if kind == "PodDisruptionBudget" else "networking.k8s.io/v1"
    judged = Judged([*fx.compliant_stack(), fx.resource(f"kubernetes:{api}:{kind}", body)])
    for resource, recorded in zip(judged.stack, judged.recorded, strict=True):
        resource.props = unknown_checking_proxy(recorded.outputs or recorded.inputs)
    return judged


def test_an_unknown_in_a_selector_no_match_reaches_leaves_the_stack_rules_running() -> None:
    """In a preview, an unknown value where no workload's match reads it does not stop the rule."""
    budget = _previewed(
        "PodDisruptionBudget", "batch", lambda b: b["spec"]["selector"]["matchLabels"].update(app=UNKNOWN_STRING_VALUE)
    )
    assert run_policy(POLICIES["pdb-covers-multi-replica-workloads"], budget, {}) == []
    expression = {"key": "x", "operator": "In", "values": [UNKNOWN_STRING_VALUE]}
    policy = _previewed(
        "NetworkPolicy",
        "other",
        lambda p: p["spec"].update(podSelector={"matchLabels": {"app": "none"}, "matchExpressions": [expression]}),
    )
    assert run_policy(POLICIES["network-policy-coverage"], policy, {}) == []

"""Each rule at each environment's level and thresholds, and the README's rule table in step with them.

``policies/config/{dev,staging,prod}.json`` decide how hard each rule gates
where; these tests pin that intent (prod gates on every rule, dev only
advises) and show each threshold changing the verdict per environment.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from ai_platform_policies.pack import ALL_POLICIES
from infra.offline.policy_config import policy_config_path
from tests import policy_fixtures as fx
from tests.policy_docs import MISSING, README, current_table, rules_table
from tests.policy_harness import ENVIRONMENTS, POLICIES, environment_settings, judge

#: The intended levels: the pack's "all" per environment and each exception to it.
LEVELS: dict[str, dict[str, str]] = {
    "dev": {"all": "advisory", "stateful-resources-protected": "disabled"},
    "staging": {
        "all": "mandatory",
        "rolling-update-keeps-capacity": "advisory",
        "stateful-resources-protected": "advisory",
    },
    "prod": {"all": "mandatory"},
}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_sets_the_intended_level_for_every_rule(environment: str) -> None:
    expected = LEVELS[environment]
    levels = {name: settings.level for name, settings in environment_settings(environment).items()}
    assert levels == {policy.name: expected.get(policy.name, expected["all"]) for policy in ALL_POLICIES}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_config_files_name_only_real_policies_and_valid_thresholds(environment: str) -> None:
    """The engine ignores a misspelt threshold (schemas allow extra keys); a typo must not silently loosen a rule."""
    document = json.loads(policy_config_path(environment).read_text())
    for name, entry in document.items():
        if name == "all" or isinstance(entry, str):
            continue
        policy = POLICIES[name]
        schema = policy.config_schema.properties if policy.config_schema else {}
        thresholds = {key: value for key, value in entry.items() if key != "enforcementLevel"}
        assert set(thresholds) <= set(schema), f"{environment}.json: {name}: {sorted(set(thresholds) - set(schema))}"
        jsonschema.validate(thresholds, {"type": "object", "properties": schema})


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize(
    ("rule", "mutate"), [pytest.param(rule, mutate, id=case) for case, rule, _, mutate in fx.VIOLATIONS]
)
def test_every_rule_reports_at_its_environments_level(environment: str, rule: str, mutate: fx.Mutation) -> None:
    stack = fx.compliant_stack()
    mutate(stack)
    level = environment_settings(environment)[rule].level

    levels = {f.level for f in judge(stack, environment) if f.policy == rule}

    assert levels <= ({"mandatory"} if level in ("mandatory", "remediate") else {level} - {"disabled"})


def _image(image: str) -> fx.Mutation:
    return fx.classifier_container(lambda c: c.update(image=image + fx.DIGEST))


def _limit_cpu(cpu: str) -> fx.Mutation:
    return fx.classifier_container(lambda c: c["resources"]["limits"].update(cpu=cpu))


def _max_unavailable(count: int) -> fx.Mutation:
    return fx.change(
        ":Deployment", "llm", lambda d: d["spec"]["strategy"]["rollingUpdate"].update(maxUnavailable=count)
    )


def _unprotected(stack: list[Any]) -> None:
    next(r for r in stack if r.type.endswith(":PersistentVolumeClaim")).options["protect"] = False


def _smaller(stack: list[Any]) -> None:
    """The compliant stack without its GPU service: about 190 USD a month at most."""
    fx.remove(":Deployment", "llm")(stack)


THRESHOLDS: list[tuple[str, str, fx.Mutation, dict[str, str | None]]] = [
    # (case, rule, how the compliant stack is changed, the level reported per environment or None)
    ("two replicas", "workload-minimum-replicas", fx.no_autoscaler_with(2), {"prod": "mandatory"}),
    (
        "one replica",
        "workload-minimum-replicas",
        fx.no_autoscaler_with(1),
        {"staging": "mandatory", "prod": "mandatory"},
    ),
    (
        "hpa minimum of two",
        "hpa-minimum-replicas",
        fx.change(":HorizontalPodAutoscaler", None, lambda h: h["spec"].update(minReplicas=2)),
        {"prod": "mandatory"},
    ),
    ("limit 3x request", "limit-request-ratio", _limit_cpu("1500m"), {"prod": "mandatory"}),
    (
        "limit 5x request",
        "limit-request-ratio",
        _limit_cpu("2500m"),
        {"dev": "advisory", "staging": "mandatory", "prod": "mandatory"},
    ),
    (
        "one unavailable while rolling",
        "rolling-update-keeps-capacity",
        _max_unavailable(1),
        {"staging": "advisory", "prod": "mandatory"},
    ),
    (
        "dev registry",
        "approved-registries",
        _image("localhost:5001/ai/x:1.0"),
        {"staging": "mandatory", "prod": "mandatory"},
    ),
    (
        "staging registry",
        "approved-registries",
        _image("registry.staging.example.com/ai/x:1.0"),
        {"dev": "advisory", "prod": "mandatory"},
    ),
    (
        "tag without digest",
        "image-tag-pinned",
        fx.classifier_container(lambda c: c.update(image="registry.example.com/ai/x:1.0")),
        {"staging": "mandatory", "prod": "mandatory"},
    ),
    (
        "unprotected volume",
        "stateful-resources-protected",
        _unprotected,
        {"staging": "advisory", "prod": "mandatory"},
    ),
    ("no GPU service", "monthly-budget", _smaller, {"dev": "advisory"}),
]


@pytest.mark.parametrize(
    ("rule", "mutate", "expected"),
    [pytest.param(rule, mutate, expected, id=case) for case, rule, mutate, expected in THRESHOLDS],
)
def test_thresholds_change_the_verdict_per_environment(
    rule: str, mutate: fx.Mutation, expected: dict[str, str | None]
) -> None:
    stack = fx.compliant_stack()
    mutate(stack)

    verdicts = {}
    for environment in ENVIRONMENTS:
        levels = {f.level for f in judge(stack, environment) if f.policy == rule}
        assert len(levels) <= 1
        verdicts[environment] = next(iter(levels), None)

    assert verdicts == {environment: expected.get(environment) for environment in ENVIRONMENTS}


def test_every_rule_with_thresholds_per_environment_has_a_case() -> None:
    configured = {
        name
        for environment in ENVIRONMENTS
        for name, entry in json.loads(policy_config_path(environment).read_text()).items()
        if isinstance(entry, dict) and set(entry) - {"enforcementLevel"}
    }
    assert configured <= {rule for _, rule, _, _ in THRESHOLDS}


def test_the_readme_rule_table_matches_the_pack_and_its_config() -> None:
    text = README.read_text()
    expected = rules_table(text)
    assert not [line for line in expected if MISSING in line], "describe the new rule in policies/README.md"
    assert current_table(text) == expected, "run `.venv/bin/python -m tests.policy_docs` to regenerate the table"

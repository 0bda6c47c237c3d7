"""The pack's rules called in-process, the way pulumi-policy's own tests call a policy.

Each policy's public ``validate(args, report)`` gets constructed
``ResourceValidationArgs`` / ``StackValidationArgs`` (public constructors
only), with the config the engine would send for an environment: the rule's
schema defaults, then the config file's ``all`` level, then the policy's own
entry. Props are handed over as the engine's analyzer delivers them: read-only
mappings and sequences (never ``dict``/``list``), every number a float.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from ai_platform_policies.pack import ALL_POLICIES
from infra.offline.policy_config import policy_config_path
from infra.offline.runtime import RecordedResource

POLICIES: dict[str, Policy] = {policy.name: policy for policy in ALL_POLICIES}
#: The pack's own default level (policies/__main__.py), before any config file.
PACK_LEVEL = "advisory"
ENVIRONMENTS = ("dev", "staging", "prod")


@dataclass(frozen=True)
class Finding:
    policy: str
    level: str
    urn: str
    message: str


@dataclass(frozen=True)
class PolicySettings:
    level: str
    config: dict[str, Any]


def engine_view(value: Any, *, wire: bool = True) -> Any:
    """A value as the analyzer hands it to rules: read-only containers; with ``wire``, numbers as floats."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: engine_view(item, wire=wire) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(engine_view(item, wire=wire) for item in value)
    if wire and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


@functools.cache
def environment_settings(environment: str) -> dict[str, PolicySettings]:
    """What the engine configures each policy with from ``policies/config/<environment>.json``."""
    document = json.loads(policy_config_path(environment).read_text())
    settings = {}
    for name, policy in POLICIES.items():
        schema = policy.config_schema.properties if policy.config_schema else {}
        config = {key: spec["default"] for key, spec in schema.items() if "default" in spec}
        level = document.get("all", PACK_LEVEL)
        entry = document.get(name)
        if isinstance(entry, str):
            level = entry
        elif isinstance(entry, dict):
            properties = dict(entry)
            level = properties.pop("enforcementLevel", level)
            config.update(properties)
        settings[name] = PolicySettings(level, config)
    return settings


def _options(resource: RecordedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=bool(resource.options.get("protect")),
        ignore_changes=list(resource.options.get("ignoreChanges") or []),
        delete_before_replace=resource.options.get("deleteBeforeReplace"),
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=list(resource.options.get("additionalSecretOutputs") or []),
        parent=resource.parent,
    )


class Judged:
    """Resources as the analyzer delivers them, built once for every policy that judges them."""

    def __init__(self, resources: Iterable[RecordedResource], *, wire: bool = True) -> None:
        self.recorded = list(resources)
        self.inputs = {r.urn: engine_view(r.inputs, wire=wire) for r in self.recorded}
        stack = {
            r.urn: PolicyResource(
                r.type, engine_view(r.outputs or r.inputs, wire=wire), r.urn, r.name, _options(r), None, None, [], {}
            )
            for r in self.recorded
        }
        for r in self.recorded:
            stack[r.urn].parent = stack.get(r.parent or "")
        self.stack = list(stack.values())

    def resource_args(self, resource: RecordedResource, config: Mapping[str, Any]) -> ResourceValidationArgs:
        """What ``Analyze`` builds: the resource's inputs and options."""
        return ResourceValidationArgs(
            resource.type, self.inputs[resource.urn], resource.urn, resource.name, _options(resource), None, config
        )

    def stack_args(self, config: Mapping[str, Any]) -> StackValidationArgs:
        """What ``AnalyzeStack`` builds: every resource's outputs, parents linked."""
        return StackValidationArgs(self.stack, config)


def run_policy(
    policy: Policy,
    resources: list[RecordedResource] | Judged,
    config: Mapping[str, Any],
    *,
    only: str | None = None,
) -> list[tuple[str, str]]:
    """(urn, message) of each violation one policy reports over the resources (resource rules: ``only`` one)."""
    judged = resources if isinstance(resources, Judged) else Judged(resources)
    found: list[tuple[str, str]] = []
    if isinstance(policy, ResourceValidationPolicy):
        for resource in judged.recorded:
            if only is not None and resource.urn != only:
                continue

            def report(message: str, urn: str | None = None, subject: str = resource.urn) -> None:
                found.append((subject, message))  # the engine ignores a resource rule's urn argument

            assert policy.validate(judged.resource_args(resource, config), report) is None
    else:
        assert isinstance(policy, StackValidationPolicy)

        def report_stack(message: str, urn: str | None = None) -> None:
            found.append((urn or "", message))

        assert policy.validate(judged.stack_args(config), report_stack) is None
    return found


def judge(
    resources: list[RecordedResource], environment: str = "prod", *, wire: bool = True, only: str | None = None
) -> list[Finding]:
    """Every enabled policy over the resources, at the environment's levels and thresholds.

    With ``only`` (a URN), resource rules judge that resource alone; stack rules always see them all.
    """
    judged = Judged(resources, wire=wire)
    findings = []
    for name, settings in environment_settings(environment).items():
        if settings.level == EnforcementLevel.DISABLED.value:
            continue
        level = "mandatory" if settings.level == "remediate" else settings.level
        for urn, message in run_policy(POLICIES[name], judged, settings.config, only=only):
            findings.append(Finding(name, level, urn, message))
    return findings

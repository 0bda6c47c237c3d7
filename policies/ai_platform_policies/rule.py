"""How a rule is declared: a plain function plus its metadata and thresholds.

``resource_rule`` and ``stack_rule`` turn a check function into a
``ResourceValidationPolicy`` / ``StackValidationPolicy`` with a kebab-case
name, description, severity, remediation hint and a config schema whose
defaults are merged in, so a rule reads its thresholds the same way whether
the engine sent config or not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

Config = Mapping[str, Any]
ResourceCheck = Callable[[ResourceValidationArgs, Config, ReportViolation], None]
StackCheck = Callable[[StackValidationArgs, Config, ReportViolation], None]

_SEVERITIES = {
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}


def _schema(thresholds: Mapping[str, Mapping[str, Any]] | None) -> PolicyConfigSchema | None:
    if not thresholds:
        return None
    return PolicyConfigSchema(properties={key: dict(value) for key, value in thresholds.items()})


def _with_defaults(given: Config | None, thresholds: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    merged = {key: spec["default"] for key, spec in (thresholds or {}).items() if "default" in spec}
    merged.update(given or {})
    # Config crosses gRPC as a protobuf Struct, where every number is a float.
    for key, spec in (thresholds or {}).items():
        if spec.get("type") == "integer" and isinstance(merged.get(key), float):
            merged[key] = int(merged[key])
    return merged


def resource_rule(
    name: str,
    description: str,
    *,
    severity: str,
    remediation: str,
    thresholds: Mapping[str, Mapping[str, Any]] | None = None,
) -> Callable[[ResourceCheck], ResourceValidationPolicy]:
    """Declare a per-resource rule; the check gets (args, config, report)."""
    return _declare(
        ResourceValidationPolicy,
        name,
        description=description,
        severity=severity,
        remediation=remediation,
        thresholds=thresholds,
    )


def stack_rule(
    name: str,
    description: str,
    *,
    severity: str,
    remediation: str,
    thresholds: Mapping[str, Mapping[str, Any]] | None = None,
) -> Callable[[StackCheck], StackValidationPolicy]:
    """Declare a cross-resource rule over the whole stack; the check gets (args, config, report)."""
    return _declare(
        StackValidationPolicy,
        name,
        description=description,
        severity=severity,
        remediation=remediation,
        thresholds=thresholds,
    )


def _declare(
    policy_class: Any,
    name: str,
    /,
    *,
    description: str,
    severity: str,
    remediation: str,
    thresholds: Mapping[str, Mapping[str, Any]] | None,
) -> Callable[[Any], Any]:
    def declare(check: Callable[[Any, Config, ReportViolation], None]) -> Any:
        def validate(args: Any, report: ReportViolation) -> None:
            check(args, _with_defaults(args.get_config(), thresholds), report)

        return policy_class(
            name=name,
            description=description,
            validate=validate,
            config_schema=_schema(thresholds),
            severity=_SEVERITIES[severity],
            remediation_steps=remediation,
        )

    return declare

"""How a rule is declared: a plain function plus its metadata and thresholds.

``resource_rule`` and ``stack_rule`` turn a check function into a
``ResourceValidationPolicy`` / ``StackValidationPolicy`` with a kebab-case
name, description, severity, remediation hint and a config schema whose
defaults are merged in, so a rule reads its thresholds the same way whether
the engine sent config or not.

A rule never raises into the engine (which would fail the whole pack for
every resource): a field of the wrong type (``kube.MalformedFieldError``) becomes a
violation naming the field, and any other exception a violation naming the
policy and the resource. Stack rules judge resource by resource inside
``judging`` so one malformed resource never hides the others' violations.
Only the SDK's own signals pass through: an unknown value during preview and
``not_applicable``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from ai_platform_policies import policy_sdk
from ai_platform_policies.kube import Field, MalformedFieldError

Config = Mapping[str, Any]
ResourceCheck = Callable[[ResourceValidationArgs, Config, ReportViolation], None]
StackCheck = Callable[[StackValidationArgs, Config, ReportViolation], None]

_SEVERITIES = {
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}


#: Signals the SDK's servicer handles itself: unknown values during preview, and not_applicable.
SDK_SIGNALS = policy_sdk.SDK_SIGNALS
# Every rule module imports this one, so the pack's servicer is sped up before it serves.
policy_sdk.install()


def props(args: ResourceValidationArgs | PolicyResource) -> Field:
    """The resource's properties, read through typed accessors."""
    return Field(args.props)


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


def _metadata(severity: str, remediation: str, thresholds: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    """What every rule declares beyond its name, description and check."""
    return {
        "config_schema": _schema(thresholds),
        "severity": _SEVERITIES[severity],
        "remediation_steps": remediation,
    }


def resource_rule(
    name: str,
    description: str,
    *,
    severity: str,
    remediation: str,
    thresholds: Mapping[str, Mapping[str, Any]] | None = None,
) -> Callable[[ResourceCheck], ResourceValidationPolicy]:
    """Declare a per-resource rule; the check gets (args, config, report)."""

    def declare(check: ResourceCheck) -> ResourceValidationPolicy:
        def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
            try:
                check(args, _with_defaults(args.get_config(), thresholds), report)
            except SDK_SIGNALS:
                raise
            except MalformedFieldError as error:
                report(str(error), None)
            except Exception as error:  # noqa: BLE001 - one bad resource must never fail the whole pack
                report(_crash(name, f"{args.resource_type} {args.urn}", error), None)

        return ResourceValidationPolicy(name, description, validate, **_metadata(severity, remediation, thresholds))

    return declare


def stack_rule(
    name: str,
    description: str,
    *,
    severity: str,
    remediation: str,
    thresholds: Mapping[str, Mapping[str, Any]] | None = None,
) -> Callable[[StackCheck], StackValidationPolicy]:
    """Declare a cross-resource rule over the whole stack; the check gets (args, config, report)."""

    def declare(check: StackCheck) -> StackValidationPolicy:
        def validate(args: StackValidationArgs, report: ReportViolation) -> None:
            resources = _Tracked(args.resources)
            tracked = StackValidationArgs(resources, args.get_config(), args.stack_tags)
            try:
                check(tracked, _with_defaults(args.get_config(), thresholds), report)
            except SDK_SIGNALS:
                raise
            except Exception as error:  # noqa: BLE001 - one bad resource must never fail the whole pack
                current = resources.current
                if current is None:
                    report(_crash(name, "the stack", error), None)
                elif isinstance(error, MalformedFieldError):
                    report(f"{_resource(current)}: {error}", current.urn)
                else:
                    report(_crash(name, _resource(current), error), current.urn)

        return StackValidationPolicy(name, description, validate, **_metadata(severity, remediation, thresholds))

    return declare


class judging:  # noqa: N801 - used as ``with judging(resource, report):``, like a function
    """In a stack rule: report a malformed field of this resource against it and go on with the next.

    A class rather than a ``contextmanager`` generator: stack rules enter it for
    every pair of workload and budget they compare.
    """

    __slots__ = ("report", "resource")

    def __init__(self, resource: PolicyResource, report: ReportViolation) -> None:
        self.resource = resource
        self.report = report

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: Any) -> bool:
        if isinstance(error, MalformedFieldError):
            self.report(f"{_resource(self.resource)}: {error}", self.resource.urn)
            return True
        return False


def _resource(resource: PolicyResource) -> str:
    return f"{resource.resource_type.rsplit(':', 1)[-1]} {resource.name}"


def _crash(policy: str, subject: str, error: Exception) -> str:
    return (
        f"policy {policy} could not judge {subject} ({type(error).__name__}: {error}); "
        "the resource holds a value the rule does not expect."
    )


class _Tracked(list[PolicyResource]):
    """The stack's resources, remembering which one a loop is on, so a crash names it."""

    current: PolicyResource | None = None

    def __iter__(self) -> Iterator[PolicyResource]:
        for resource in super().__iter__():
            self.current = resource
            yield resource
        self.current = None

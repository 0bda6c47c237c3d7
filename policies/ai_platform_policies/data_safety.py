"""Data safety: stateful resources cannot be dropped by `pulumi destroy` or a refactor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from ai_platform_policies.kube import HELM_RELEASE_TYPES
from ai_platform_policies.rule import Config, props, resource_rule

_STATEFUL_TYPES = frozenset({"kubernetes:core/v1:PersistentVolumeClaim", "kubernetes:apps/v1:StatefulSet"})
# Chart values that mean "this release keeps data on a volume".
_PERSISTENCE_KEYS = ("persistence", "persistentVolume", "storageSpec", "volumeClaimTemplate")


def keeps_data(values: Any) -> bool:
    """Whether Helm values anywhere enable persistence (persistence.enabled, storageSpec, ...)."""
    if isinstance(values, Mapping):
        for key, value in values.items():
            if key in _PERSISTENCE_KEYS:
                enabled = value.get("enabled", True) if isinstance(value, Mapping) else bool(value)
                if enabled:
                    return True
            if keeps_data(value):
                return True
    elif isinstance(values, Sequence) and not isinstance(values, str):
        return any(keeps_data(item) for item in values)
    return False


@resource_rule(
    "stateful-resources-protected",
    "PersistentVolumeClaims, StatefulSets and Helm releases with persistence are protected from deletion.",
    severity="critical",
    remediation="Declare the resource with `opts=pulumi.ResourceOptions(protect=True)`.",
)
def stateful_resources_protected(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    stateful = args.resource_type in _STATEFUL_TYPES or (
        args.resource_type in HELM_RELEASE_TYPES and keeps_data(props(args)["values"].object())
    )
    if stateful and not args.opts.protect:
        report("it holds data but is not `protect`ed: `pulumi destroy` or a rename would delete it.", None)

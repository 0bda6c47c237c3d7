"""Validate manifests against the official Kubernetes OpenAPI schemas.

The schemas are the strict ones shipped by ``kubernetes-validate`` (unknown
fields are errors). Validators are built once per (Kubernetes version, kind)
and reused, so checking a large stack costs one schema load per kind. Each
comes with a compiled yes/no check (``schema_check``): a manifest it passes
has no errors, and only the others go through ``jsonschema`` for the list.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from referencing import Registry, Resource

from infra.offline.schema_check import Check, compile_check
from infra.sdk import NO_SPEEDUPS

_SCHEMA_ROOT = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
#: CRD schemas of the custom resources the platform declares, at the chart versions it pins.
_CRD_SCHEMAS = Path(__file__).parent / "crd_schemas"


@dataclass(frozen=True)
class SchemaError:
    """One way a manifest does not match its schema."""

    manifest: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.manifest}: {self.path}: {self.message}"


def available_versions() -> list[str]:
    """Kubernetes ``major.minor`` versions whose schemas are installed."""
    versions = {
        match.group(1)
        for entry in _SCHEMA_ROOT.iterdir()
        if (match := re.fullmatch(r"v(\d+\.\d+)\.\d+-local-strict", entry.name))
    }
    return sorted(versions, key=lambda v: tuple(int(p) for p in v.split(".")))


def is_custom_resource(api_version: str) -> bool:
    """Custom resources (cert-manager.io, monitoring.coreos.com, ...) are validated by their CRDs at apply time."""
    group = api_version.rpartition("/")[0]
    return "." in group and not group.endswith("k8s.io")


def validate_manifest(manifest: dict[str, Any], kubernetes_version: str, label: str) -> list[SchemaError]:
    """All schema errors of one built-in Kubernetes object (empty when it is valid)."""
    api_version = manifest.get("apiVersion")
    kind = manifest.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [SchemaError(label, "$", "apiVersion and kind are required")]
    if is_custom_resource(api_version):
        custom = _custom_validator(kind, api_version)
        if custom is None:
            return []  # validated by its CRD at apply time
        return _errors(custom, manifest, label)
    validator = _validator(kubernetes_version, kind, api_version)
    if validator is None:
        return [SchemaError(label, "$", f"no schema for {kind} {api_version} in Kubernetes {kubernetes_version}")]
    return _errors(validator, manifest, label)


def has_crd_schema(kind: str, api_version: str) -> bool:
    """Whether a custom resource's CRD schema ships with the project (``crd_schemas/``)."""
    return _custom_schema_file(kind, api_version).exists()


def _errors(validator: Any, manifest: dict[str, Any], label: str) -> list[SchemaError]:
    check = _CHECKS.get(id(validator))
    if check is not None and not os.environ.get(NO_SPEEDUPS) and check(manifest):
        return []  # what jsonschema would say of a valid manifest, without its walk
    return [
        SchemaError(label, _json_path(error.absolute_path), error.message)
        for error in sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path)))
    ]


def _custom_schema_file(kind: str, api_version: str) -> Path:
    return _CRD_SCHEMAS / f"{api_version.replace('/', '_')}_{kind}.json"


@cache
def _custom_validator(kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
    """The CRD schema of a custom resource at the pinned chart version, where the project carries one."""
    path = _custom_schema_file(kind, api_version)
    if not path.exists():
        return None
    return _with_check(jsonschema.Draft7Validator, json.loads(path.read_text()))


#: The compiled yes/no check of each validator built here (``schema_check``), by the validator's identity.
_CHECKS: dict[int, Check | None] = {}


def _with_check(
    validator_class: Any, schema: dict[str, Any], registry: Registry[Any] | None = None
) -> jsonschema.protocols.Validator:
    validator = validator_class(schema) if registry is None else validator_class(schema, registry=registry)
    # Validators are cached, so kept alive: their identities are not reused.
    _CHECKS[id(validator)] = None if os.environ.get(NO_SPEEDUPS) else compile_check(validator_class, schema, registry)
    return validator


def _schema_file(kubernetes_version: str, kind: str, api_version: str) -> Path:
    # rbac.authorization.k8s.io/v1 -> rbac-v1 ; v1 -> v1
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return _version_dir(kubernetes_version) / f"{kind.lower()}-{group_version}.json"


@cache
def _version_dir(kubernetes_version: str) -> Path:
    return _SCHEMA_ROOT / f"v{kubernetes_version}.0-local-strict"


@cache
def _registry(kubernetes_version: str) -> Registry:
    definitions = json.loads((_version_dir(kubernetes_version) / "_definitions.json").read_text())
    return Resource.from_contents(definitions) @ Registry()


@cache
def _validator(kubernetes_version: str, kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
    path = _schema_file(kubernetes_version, kind, api_version)
    if not path.exists():
        return None
    schema = json.loads(path.read_text())
    registry = Resource.from_contents(schema) @ _registry(kubernetes_version)
    return _with_check(jsonschema.Draft202012Validator, schema, registry)


def _json_path(parts: Any) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path

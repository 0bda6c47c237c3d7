"""Turn recorded registrations into Kubernetes manifests and write them out.

A manifest is what pulumi-kubernetes would send to the API server for a
resource: its inputs, with the provider's auto-name filled in (from the mock
outputs), secrets masked, and the provider's default namespace where a
namespaced object names none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ai_platform_policies.kube import CLUSTER_SCOPED_KINDS
from infra.offline import check_cache
from infra.offline.runtime import RecordedResource, mask_secrets

#: pulumi-kubernetes types that are not single API objects.
_NOT_OBJECTS = ("kubernetes:helm.sh/", "kubernetes:yaml", "kubernetes:kustomize")
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class Manifest:
    """One Kubernetes object and the resource (URN) that declares it."""

    urn: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def namespace(self) -> str | None:
        namespace = self.body["metadata"].get("namespace")
        return str(namespace) if namespace else None

    @property
    def file_name(self) -> str:
        scope = self.namespace or "cluster"
        return _safe(f"{scope}.{self.kind.lower()}.{self.name}") + ".yaml"


def is_kubernetes_object(resource: RecordedResource) -> bool:
    return resource.custom and resource.type.startswith("kubernetes:") and not resource.type.startswith(_NOT_OBJECTS)


def to_manifests(resources: list[RecordedResource]) -> list[Manifest]:
    manifests = []
    for resource in resources:
        if not is_kubernetes_object(resource):
            continue
        body = mask_secrets(resource.inputs)
        metadata = dict(body.get("metadata") or {})
        resolved = (resource.outputs.get("metadata") or {}) if isinstance(resource.outputs, dict) else {}
        if not metadata.get("name") and resolved.get("name"):
            metadata["name"] = resolved["name"]
        if body.get("kind") not in CLUSTER_SCOPED_KINDS and not metadata.get("namespace"):
            metadata["namespace"] = DEFAULT_NAMESPACE
        body["metadata"] = metadata
        manifests.append(Manifest(urn=resource.urn, body=_ordered(body)))
    return manifests


def duplicate_objects(manifests: list[Manifest]) -> list[str]:
    """Two resources that are one Kubernetes object (API group, kind, namespace, name): the second would
    silently overwrite the first in the cluster and in ``render``'s output."""
    first: dict[tuple[str, str, str, str], str] = {}
    problems = []
    for manifest in manifests:
        group = str(manifest.body.get("apiVersion", "")).rpartition("/")[0]
        identity = (group, manifest.kind, manifest.namespace or "", manifest.name)
        if identity in first:
            where = f"{manifest.namespace}/{manifest.name}" if manifest.namespace else manifest.name
            problems.append(f"{manifest.kind} {where} is declared twice, by {first[identity]} and by {manifest.urn}")
        first.setdefault(identity, manifest.urn)
    return problems


def write_render(out_dir: Path, resources: list[RecordedResource], manifests: list[Manifest]) -> None:
    """Write ``manifests/`` (one object per file) and ``resources.json`` under ``out_dir``."""
    check_cache.write_render(
        out_dir, [resource.as_json() for resource in resources], [(m.file_name, m.body) for m in manifests]
    )


def _ordered(body: dict[str, Any]) -> dict[str, Any]:
    """Keys sorted (stable files, stable diffs); apiVersion, kind, metadata first."""
    body = _sorted(body)
    head: dict[str, Any] = {key: body[key] for key in ("apiVersion", "kind", "metadata") if key in body}
    return {**head, **{key: value for key, value in body.items() if key not in head}}


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)

"""Lookups over recorded resources and manifests, so tests read as assertions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.offline.check import Rendered
from infra.offline.runtime import RecordedResource, recording_monitor, run_program
from infra.offline.stack_file import read_stack_file
from model.stack_config import ConfigError

#: Valid ``jenkins`` images for test stacks (placeholder digests, as in the committed prod stack).
JENKINS_IMAGES = {
    "agentImage": "docker.io/pulumi/pulumi-python-3.11:3.272.0@sha256:" + "0" * 64,
    "dockerImage": "docker.io/library/docker:27.3.1-dind-rootless@sha256:" + "0" * 64,
}
#: A valid ``registry.authImage`` (a placeholder digest, as in the committed stacks).
REGISTRY_AUTH_IMAGE = "docker.io/cesanta/docker_auth:1.14.0@sha256:" + "0" * 64


def manifests_of(rendered: Rendered, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
    return [m.body for m in rendered.manifests if m.kind == kind and (namespace is None or m.namespace == namespace)]


def manifest(rendered: Rendered, kind: str, name: str) -> dict[str, Any]:
    found = [m.body for m in rendered.manifests if m.kind == kind and m.name == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def resources_of(rendered: Rendered, type_: str) -> list[RecordedResource]:
    return [r for r in rendered.resources if r.type == type_]


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod_spec(deployment)["containers"]
    assert len(containers) == 1
    return containers[0]


def dashboard_config_maps(rendered: Rendered) -> list[dict[str, Any]]:
    """ConfigMaps that Grafana's sidecar loads as dashboards."""
    return [
        config_map
        for config_map in manifests_of(rendered, "ConfigMap")
        if config_map["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    ]


def dashboard_queries(rendered: Rendered) -> list[str]:
    """Every PromQL expression of every dashboard panel."""
    return [
        target["expr"]
        for config_map in dashboard_config_maps(rendered)
        for document in config_map["data"].values()
        for panel in json.loads(document)["panels"]
        for target in panel["targets"]
    ]


def assert_refused(stack_file: Path, key: str, fragment: str) -> None:
    """The program refuses the stack with a problem naming ``key`` (``ai-platform:`` optional) and declares nothing."""
    stack = read_stack_file(stack_file)
    monitor = recording_monitor()
    with pytest.raises(ConfigError) as raised:
        run_program(stack, monitor)
    problems = raised.value.problems
    full_key = key if key.startswith("ai-platform:") else f"ai-platform:{key}"
    matching = [p for p in problems if p.startswith(f"{full_key}:")]
    assert matching, f"no problem names {full_key}: {problems}"
    assert any(fragment in p for p in matching), matching
    assert monitor.recorded == []
    assert "Traceback" not in str(raised.value)

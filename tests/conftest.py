"""Shared fixtures: stack files written on the fly, and rendered stacks."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.offline.check import CheckReport, Rendered, check_stack, render, stack_path

StackWriter = Callable[..., Path]


def base_service(**overrides: Any) -> dict[str, Any]:
    """A valid service entry, as it would appear in a stack file."""
    service: dict[str, Any] = {
        "name": "text-classifier",
        "image": {"ref": "registry.example.com/ai/text-classifier:1.0.0@sha256:" + "a" * 64},
        "port": 8080,
        "replicas": 3,
        "resources": {"cpu": "500m", "memory": "1Gi"},
    }
    service.update(overrides)
    return service


def base_config(environment: str = "prod", **overrides: Any) -> dict[str, Any]:
    """A valid ``config:`` mapping with one service."""
    config: dict[str, Any] = {
        "ai-platform:environment": environment,
        "ai-platform:kubernetesVersion": "1.31",
        "ai-platform:services": [base_service()],
    }
    if environment != "dev":  # outside dev the kubeconfig context must be named
        config["ai-platform:cluster"] = {"context": environment}
    config.update({f"ai-platform:{key}" if ":" not in key else key: value for key, value in overrides.items()})
    return copy.deepcopy(config)


@pytest.fixture
def write_stack(tmp_path: Path) -> StackWriter:
    """Write a ``Pulumi.<name>.yaml`` with the given config mapping; return its path."""

    def write(config: dict[str, Any], name: str = "test") -> Path:
        path = tmp_path / f"Pulumi.{name}.yaml"
        path.write_text(yaml.safe_dump({"config": config}, sort_keys=False), encoding="utf-8")
        return path

    return write


_RENDERED: dict[str, Rendered] = {}


@pytest.fixture(scope="session")
def rendered_stack() -> Callable[[str], Rendered]:
    """Render a committed stack once per test session."""

    def get(name: str) -> Rendered:
        if name not in _RENDERED:
            _RENDERED[name] = render(stack_path(name))
        return _RENDERED[name]

    return get


_CHECKED: dict[str, CheckReport] = {}


@pytest.fixture(scope="session")
def checked_stack() -> Callable[[str], CheckReport]:
    """Check a committed stack once per test session, exactly as `python -m infra.offline check` does."""

    def get(name: str) -> CheckReport:
        if name not in _CHECKED:
            _CHECKED[name] = check_stack(stack_path(name))
        return _CHECKED[name]

    return get


def pytest_configure(config: pytest.Config) -> None:
    """Every test runs ``check`` for real, subprocesses included (set before test modules copy the environment):
    a cached answer would hide what a test changed. ``tests/test_check_cache.py`` turns the cache on in a folder
    of its own."""
    os.environ["AI_PLATFORM_NO_CACHE"] = "1"

"""The pack's one reach into ``pulumi_policy`` internals (``policy_sdk``) holds, and changes nothing.

The shapes pinned here are what ``install`` builds on; a pulumi-policy release
that changes them fails these tests before it can silently change results.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any

import pytest
from google.protobuf import json_format
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, proxy
from pulumi_policy import policy as policy_module

from ai_platform_policies import policy_sdk
from ai_platform_policies.pack import ALL_POLICIES
from infra.offline.analyzer import _analyze_request
from infra.offline.check import Rendered
from infra.offline.runtime import RecordedResource
from tests import policy_fixtures as fx

SERVICER = policy_module._PolicyAnalyzerServicer


def test_the_pinned_pulumi_policy_is_the_one_the_shim_was_written_for() -> None:
    assert metadata.version("pulumi_policy") == "1.21.0"
    assert "pulumi-policy==1.21.0" in (policy_sdk.__doc__ or "")


def test_the_servicer_still_converts_properties_per_policy_and_reads_the_environment_per_call() -> None:
    """What ``install`` speeds up, as the pinned servicer does it; a release that stops doing so fails here."""
    analyze = inspect.getsource(SERVICER.Analyze.__wrapped__)  # type: ignore[attr-defined]
    assert "self._configure_runtime_settings()" in analyze
    assert "deserialize_properties(json_format.MessageToDict(request.properties))" in analyze
    assert "unknown_checking_proxy(deserialized)" in analyze
    stack = inspect.getsource(SERVICER.AnalyzeStack.__wrapped__)  # type: ignore[attr-defined]
    assert "deserialize_properties(json_format.MessageToDict(r.properties))" in stack
    configure = inspect.getsource(SERVICER._configure_runtime_settings.__wrapped__)  # type: ignore[attr-defined]
    for name in policy_sdk.RUNTIME_ENVIRONMENT:
        if name != "PULUMI_CONFIG":  # read through pulumi.runtime.get_config_env()
            assert f'"{name}"' in configure, name
    assert "get_config_env()" in configure
    assert list(inspect.signature(SERVICER.Analyze.__wrapped__).parameters) == ["self", "request", "_context"]  # type: ignore[attr-defined]


def test_the_pack_installs_the_shim_when_its_rules_are_imported() -> None:
    assert policy_sdk.installed()
    assert isinstance(vars(policy_module)["json_format"], policy_sdk._OncePerCall)


def _servicer() -> Any:
    return SERVICER("ai-platform", "0.0.1", ALL_POLICIES, EnforcementLevel.ADVISORY)


def _requests(extra: list[RecordedResource] | None = None) -> list[analyzer_pb2.AnalyzeRequest]:
    resources = fx.compliant_stack() + (extra or [])
    return [_analyze_request(resource, {}) for resource in resources]


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every real ``MessageToDict`` conversion made while the fixture is active."""
    calls: list[Any] = []
    real = json_format.MessageToDict

    def counting(message: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(message)
        return real(message, *args, **kwargs)

    monkeypatch.setattr(json_format, "MessageToDict", counting)
    yield calls


def test_each_resource_is_converted_once_per_analyze_call(conversions: list[Any]) -> None:
    servicer = _servicer()
    for request in _requests():
        conversions.clear()
        servicer.Analyze(request, None)
        assert conversions == [request.properties]


def test_the_shim_changes_no_answer_and_no_rule_writes_to_the_shared_view(
    conversions: list[Any], monkeypatch: pytest.MonkeyPatch, rendered_stack: Callable[[str], Rendered]
) -> None:
    """Analyze and AnalyzeStack answer exactly as the unpatched servicer does (one converts ~26x per resource).

    The policies of one call share one view of a resource; that is safe only
    because no rule writes to it, which every rule shows here on the prod stack.
    """
    writes: list[Any] = []
    monkeypatch.setattr(proxy._DictProxy, "__setitem__", lambda self, key, value: writes.append(key))
    servicer = _servicer()
    requests = _requests(rendered_stack("prod").resources)
    for request in requests:
        patched = servicer.Analyze(request, None)
        plain = SERVICER.Analyze.__wrapped__(servicer, request, None)  # type: ignore[attr-defined]
        assert patched == plain
    stack = analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(type=r.type, urn=r.urn, name=r.name, properties=r.properties)
            for r in requests
        ]
    )
    assert servicer.AnalyzeStack(stack, None) == SERVICER.AnalyzeStack.__wrapped__(servicer, stack, None)  # type: ignore[attr-defined]
    assert len(conversions) > len(stack.resources)
    assert writes == []


def test_the_runtime_is_configured_again_when_the_environment_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []
    configure = policy_sdk._once_per_environment(lambda self: seen.append(os.environ.get("PULUMI_STACK")))
    monkeypatch.setattr(policy_sdk._local, "configured", None, raising=False)
    monkeypatch.setenv("PULUMI_STACK", "one")
    configure(None)
    configure(None)
    monkeypatch.setenv("PULUMI_STACK", "two")
    configure(None)
    assert seen == ["one", "two"]

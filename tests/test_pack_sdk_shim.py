"""The pack's one reach into ``pulumi_policy`` internals (``policy_sdk``) holds, and changes nothing.

The shapes pinned here are what ``install`` builds on; a pulumi-policy release
that changes them fails these tests before it can silently change results.
"""

from __future__ import annotations

import inspect
import math
import os
import re
import struct
from collections.abc import Callable, Iterator
from importlib import metadata
from random import Random
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, StackValidationPolicy, deserialize, proxy
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


def test_each_resource_is_converted_at_most_once_per_analyze_call(conversions: list[Any]) -> None:
    """Once if a policy reads its properties; not at all if none does (a Namespace, for the resource rules) and the
    SDK could not refuse it."""
    servicer = _servicer()
    unread = 0
    for request in _requests():
        conversions.clear()
        servicer.Analyze(request, None)
        assert conversions in ([request.properties], [])
        unread += not conversions
    assert unread > 0


def test_the_stack_call_turns_each_resources_options_and_provider_into_the_sdks_objects_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``AnalyzeStack`` asks for them for every resource and every stack policy."""
    asked: list[Any] = []
    real = policy_sdk._once_per_request
    monkeypatch.setattr(SERVICER, "_get_resource_options", real(lambda self, request: asked.append(request)))
    stack = analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(type=r.type, urn=r.urn, name=r.name, properties=r.properties)
            for r in _requests()
        ]
    )
    _servicer().AnalyzeStack(stack, None)
    assert len(asked) == len(stack.resources)
    assert sum(isinstance(policy, StackValidationPolicy) for policy in ALL_POLICIES) > 1


@pytest.mark.parametrize(
    "value",
    [math.nan, -math.nan, math.inf, -math.inf, struct.unpack("<d", b"\x01\x00\x00\x00\x00\x00\xf8\x7f")[0]],
    ids=["nan", "negative-nan", "inf", "negative-inf", "payload-nan"],
)
def test_a_non_finite_number_anywhere_may_be_refused(value: float) -> None:
    shallow: dict[str, Any] = {"n": value}
    deep: dict[str, Any] = {"a": {"b": [1, {"c": value}]}}
    for fields in (shallow, deep):
        message = struct_pb2.Struct()
        message.update(fields)
        assert policy_sdk._could_be_refused(message)


def test_only_what_the_sdk_could_refuse_is_converted_when_unread() -> None:
    random = Random(7)
    finite = [random.uniform(-1e300, 1e300) for _ in range(2000)] + [0.0, -0.0, 1.0, 5e-324, 1.7976931348623157e308]
    plain = struct_pb2.Struct()
    plain.update({"numbers": finite, "text": "hello", "flag": True, "none": None, "nested": {"list": [{"x": 1}]}})
    assert not policy_sdk._could_be_refused(plain)
    signed = struct_pb2.Struct()
    signed.update({"deep": [{deserialize.SPECIAL_SIG_KEY: deserialize.SPECIAL_SECRET_SIG, "value": "x"}]})
    assert policy_sdk._could_be_refused(signed)
    assert policy_sdk._could_be_refused(struct_pb2.Value(string_value="not a Struct"))


def test_the_servicer_hands_every_conversion_straight_to_deserialize_and_proxy() -> None:
    """What lets ``MessageToDict`` return a placeholder within a call: nothing else reads its result."""
    for method in (SERVICER.Analyze.__wrapped__, SERVICER.AnalyzeStack.__wrapped__, SERVICER._get_provider_resource):  # type: ignore[attr-defined]
        source = inspect.getsource(method)
        assert source.count("MessageToDict(") == 1, method
        assert re.search(
            r"deserialized = deserialize_properties\(json_format\.MessageToDict\([\w.]+\)\)\n\s*"
            r"props = unknown_checking_proxy\(deserialized\)",
            source,
        ), method
        assert source.count("deserialized") == 2, method


def test_a_view_reads_as_the_sdks_proxy_and_is_built_only_when_read(conversions: list[Any]) -> None:
    message = json_format.ParseDict(
        {"metadata": {"name": "web", "labels": {"app": "web"}}, "spec": {"ports": [{"port": 80}]},
         "password": {deserialize.SPECIAL_SIG_KEY: deserialize.SPECIAL_SECRET_SIG, "value": "x"}},
        struct_pb2.Struct(),
    )  # fmt: skip
    plain = proxy.unknown_checking_proxy(deserialize.deserialize_properties(json_format.MessageToDict(message)))
    conversions.clear()
    view = policy_sdk._View(message)
    assert isinstance(view, proxy._DictProxy)
    assert view.get("missing") is None
    assert "missing" not in view
    assert conversions == []  # an absent key is answered from the message
    assert view["metadata"]["labels"]["app"] == "web"
    assert view["spec"]["ports"][0]["port"] == 80
    assert view["password"] == "x"
    assert sorted(view) == sorted(plain)
    assert len(view) == len(plain)
    assert "spec" in view
    assert deserialize.serialize_properties(view) == deserialize.serialize_properties(plain)
    assert conversions == [message]
    unknown = policy_sdk._View(json_format.ParseDict({"spec": {"ip": proxy.UNKNOWN_STRING_VALUE}}, struct_pb2.Struct()))
    with pytest.raises(proxy.UnknownValueError) as raised:
        unknown["spec"]["ip"]
    assert raised.value.message == "string value at .spec.ip can't be known during preview"


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


@pytest.mark.parametrize(
    "bad",
    [
        struct_pb2.Value(number_value=math.nan),
        json_format.ParseDict({deserialize.SPECIAL_SIG_KEY: "not-a-known-signature"}, struct_pb2.Value()),
    ],
)
def test_what_the_sdk_refuses_to_convert_fails_the_call_even_when_no_policy_reads_it(bad: struct_pb2.Value) -> None:
    """As when every message was converted up front: the whole call fails with the SDK's own error."""
    request = analyzer_pb2.AnalyzeRequest(type="test:index:Unread", urn="urn:unread", name="unread")
    request.properties.fields["value"].CopyFrom(bad)
    servicer = _servicer()
    with pytest.raises(Exception) as plain:  # whichever the SDK raises
        SERVICER.Analyze.__wrapped__(servicer, request, None)  # type: ignore[attr-defined]
    with pytest.raises(type(plain.value), match=re.escape(str(plain.value))):
        servicer.Analyze(request, None)
    stack = analyzer_pb2.AnalyzeStackRequest(
        resources=[analyzer_pb2.AnalyzerResource(type=request.type, urn=request.urn, properties=request.properties)]
    )
    with pytest.raises(type(plain.value), match=re.escape(str(plain.value))):
        servicer.AnalyzeStack(stack, None)

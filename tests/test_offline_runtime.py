"""What the offline run switches off, that it comes back, that results do not depend on it, and what the pack is sent.

- ``offline_runtime`` skips the SDK's per-resource stack walk for the length
  of a run and deserializes the mock monitor's inputs with
  ``deserialize_struct`` (the SDK's values, compared on every committed
  resource), and ``bounded_run`` most cyclic GC; all are restored;
- the registrations come out in one order whatever order they arrived in;
- ``Analyze`` gets the inputs as the SDK serialized them: a nested secret stays
  on its field instead of spreading to the object around it.
"""

from __future__ import annotations

import asyncio
import enum
import gc
import inspect
import itertools
import weakref
from collections.abc import Callable
from typing import Any

import pulumi
from google.protobuf import json_format, struct_pb2
from pulumi.output import Unknown
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc
from pulumi.runtime.proto import source_pb2

from infra import sdk
from infra.offline.analyzer import _analyze_request
from infra.offline.check import Rendered
from infra.offline.runtime import RecordedResource, bounded_run, recording_monitor

SECRET_SIG = {rpc._special_sig_key: rpc._special_secret_sig}


def test_the_stack_walk_the_shim_replaces_is_the_pinned_sdks() -> None:
    """``register_resource`` asks ``_get_stack_trace()`` (no arguments) for a ``StackTrace``; an empty one is its own
    "no user frame" answer. A pinned SDK that changes this fails here first."""
    assert list(inspect.signature(pulumi_resource._get_stack_trace).parameters) == []
    assert "_get_stack_trace()" in inspect.getsource(pulumi_resource.register_resource)
    assert "traceback.extract_stack()" in inspect.getsource(pulumi_resource._get_stack_trace)
    assert pulumi_resource._get_source_position(source_pb2.StackTrace()) is None


def test_offline_runtime_switches_off_the_stack_walk_and_restores_it() -> None:
    original = pulumi_resource._get_stack_trace
    with sdk.offline_runtime():
        assert pulumi_resource._get_stack_trace() == source_pb2.StackTrace()
    assert pulumi_resource._get_stack_trace is original


def identical(left: Any, right: Any) -> bool:
    """Equal, and of the same types and key order all the way down (``1.0`` is not ``1``)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return list(left) == list(right) and all(identical(left[key], right[key]) for key in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(identical(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, pulumi.Asset | pulumi.Archive):
        return identical(vars(left), vars(right))
    if isinstance(left, Unknown):
        return True  # a placeholder with no value
    return bool(left == right)


def struct(value: dict[str, Any]) -> Any:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def test_the_mock_monitor_sees_the_sdks_values_from_the_faster_deserialization(
    rendered_stack: Callable[[str], Rendered],
) -> None:
    wires = [r.wire_inputs for name in ("dev", "staging", "prod") for r in rendered_stack(name).resources]
    assert len(wires) > 300 and all(wire is not None for wire in wires)
    for wire in wires:
        assert identical(sdk.deserialize_struct(wire), rpc.deserialize_properties(wire))
    secret = {**SECRET_SIG, "value": "hunter2"}
    asset = {rpc._special_sig_key: rpc._special_asset_sig, "text": "hello"}
    cases: list[dict[str, Any]] = [
        {},
        {"a": None, "b": rpc.UNKNOWN, "c": "", "d": 0, "e": 1.5, "f": True, "g": [], "h": {}},
        {"list": [None, rpc.UNKNOWN, 1, "x", [secret], {"k": None}]},
        {"nested": {"password": secret, "user": "ci"}, "deeper": {"a": {"b": [secret]}}},
        {"top": secret, "asset": asset, "in": {"asset": asset}},
        secret,
    ]
    for case in cases:
        wire = struct(case)
        assert identical(sdk.deserialize_struct(wire), rpc.deserialize_properties(wire)), case
    for keep_unknowns in (True, False):
        assert identical(
            sdk.deserialize_struct(struct(cases[1]), keep_unknowns=keep_unknowns),
            rpc.deserialize_properties(struct(cases[1]), keep_unknowns=keep_unknowns),
        )


def test_plain_bags_serialize_to_the_sdks_struct(rendered_stack: Callable[[str], Rendered]) -> None:
    class Color(enum.StrEnum):
        RED = "red"

    loop = asyncio.new_event_loop()  # not asyncio.run: it would unset the thread's loop other tests use

    def both(bag: Any) -> tuple[bytes, bytes, dict[str, Any], dict[str, Any]]:
        fast_deps: dict[str, Any] = {}
        sdk_deps: dict[str, Any] = {}
        fast = loop.run_until_complete(sdk.serialize_plain(bag, fast_deps))
        slow = loop.run_until_complete(sdk._SDK_SERIALIZE_PROPERTIES(bag, sdk_deps))
        return (
            fast.SerializeToString(deterministic=True),
            slow.SerializeToString(deterministic=True),
            fast_deps,
            sdk_deps,
        )

    # What the mock monitor answers with (each resource's state), for every committed resource.
    states = [r.outputs for name in ("dev", "staging", "prod") for r in rendered_stack(name).resources if r.custom]
    assert len(states) > 300
    secret = {**SECRET_SIG, "value": "hunter2"}
    cases: list[Any] = [
        *states,
        {},
        {"a": None, "b": {"c": None, "d": [None, 1, 2.5, True, "x", (1, 2)]}, "e": rpc.UNKNOWN, "f": secret},
        {"enum": Color.RED, "nested": {"enum": [Color.RED]}},  # not plain: the SDK's own call
        {"asset": pulumi.StringAsset("hello")},
    ]
    try:
        for case in cases:
            fast, slow, fast_deps, sdk_deps = both(case)
            assert fast == slow, case
            assert fast_deps.keys() == sdk_deps.keys()
    finally:
        loop.close()


def test_offline_runtime_deserializes_faster_and_restores_the_sdks_function() -> None:
    """Both places a registration is deserialized look the function up in ``rpc`` when called."""
    original = rpc.deserialize_properties
    assert "rpc.deserialize_properties(request.object)" in inspect.getsource(pulumi_mocks.MockMonitor.RegisterResource)
    assert "in deserialize_properties(outputs, keep_unknowns).items()" in inspect.getsource(rpc.resolve_outputs)
    assert "_sync_await(rpc.serialize_properties(state, {}))" in inspect.getsource(
        pulumi_mocks.MockMonitor.RegisterResource
    )
    with sdk.offline_runtime():
        assert rpc.deserialize_properties is sdk.deserialize_struct
        assert rpc.serialize_properties is sdk.serialize_plain
    assert rpc.deserialize_properties is original
    assert rpc.serialize_properties is sdk._SDK_SERIALIZE_PROPERTIES


def test_a_bounded_run_collects_less_often_and_restores_the_collector() -> None:
    threshold = gc.get_threshold()
    with bounded_run():
        assert gc.get_threshold()[0] >= 100_000
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with bounded_run():  # nested: the outer run keeps control
            assert gc.get_freeze_count() == frozen
        assert gc.get_threshold()[0] >= 100_000
    assert gc.get_threshold() == threshold
    assert gc.get_freeze_count() == 0


def test_leaving_a_bounded_run_leaves_its_garbage_to_the_next_full_collection() -> None:
    """The young generations a run filled are not scanned on the way out (a CLI exits right after)."""

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    with bounded_run():
        left = [weakref.ref(Cycle()) for _ in range(1000)]  # a run's cyclic garbage
    assert [[] for _ in range(5000)]  # well past the restored young threshold
    assert all(ref() is not None for ref in left)
    gc.collect()
    assert all(ref() is None for ref in left)


def _registration(urn: str, parent: str | None) -> sdk.Registration:
    return sdk.Registration(
        urn=urn, type="t", name=urn, parent=parent, custom=True, inputs={}, options={}, id=None, outputs={}
    )


def test_registrations_come_out_in_one_order_whatever_order_they_arrived_in() -> None:
    """Parents first, siblings by URN: the order the thread pool delivered them in does not matter."""
    stack = "urn:stack"  # the root Stack is never recorded
    arrived = [
        _registration("b-component", stack),
        _registration("b-component/child-2", "b-component"),
        _registration("b-component/child-1", "b-component"),
        _registration("a-provider", stack),
        _registration("b-component/child-1/grandchild", "b-component/child-1"),
    ]
    orders = set()
    for permutation in itertools.permutations(arrived):
        monitor = recording_monitor()
        monitor.recorded = list(permutation)
        orders.add(tuple(r.urn for r in monitor.in_tree_order()))
    assert orders == {
        ("a-provider", "b-component", "b-component/child-1", "b-component/child-1/grandchild", "b-component/child-2")
    }


def test_a_rendered_stack_lists_every_parent_before_its_children(
    rendered_stack: Callable[[str], Rendered],
) -> None:
    resources = rendered_stack("prod").resources
    seen: set[str] = set()
    urns = {r.urn for r in resources}
    for resource in resources:
        assert resource.parent not in urns or resource.parent in seen, resource.urn
        seen.add(resource.urn)


def _record(program: Callable[[], None]) -> list[RecordedResource]:
    monitor = recording_monitor()
    sdk.run_function(program, monitor.mocks, project="p", stack="s", monitor=monitor)
    return [r for r in monitor.in_tree_order() if isinstance(r, RecordedResource)]


def test_the_pack_is_sent_a_nested_secret_where_the_sdk_put_it() -> None:
    """The program marks only ``registry.password`` secret; the SDK serializes exactly that, and so does the gate.

    The SDK's deserialized view (``inputs``) lifts the secret to the whole
    ``registry`` object; the engine never sees that view.
    """
    registry = {"server": "registry.example.com", "username": "ci", "password": pulumi.Output.secret("hunter2")}
    sent: dict[str, Any] = {}

    def program() -> None:
        pulumi.CustomResource("test:index:Image", "image", {"registry": registry, "name": "app"})

        async def serialize() -> None:
            sent.update(json_format.MessageToDict(await rpc.serialize_properties({"registry": registry}, {})))

        pulumi.Output.from_input(serialize())  # type: ignore[arg-type]

    (image,) = _record(program)
    request = json_format.MessageToDict(_analyze_request(image, {}).properties)
    assert request["registry"] == {
        "server": "registry.example.com",
        "username": "ci",
        "password": {**SECRET_SIG, "value": "hunter2"},
    }
    assert request["registry"] == sent["registry"]  # what rpc.serialize_properties makes of the program's value
    assert request["name"] == "app"
    assert sdk.is_secret(image.inputs["registry"])  # the deserialized view the gate no longer sends

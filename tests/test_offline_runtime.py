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
import re
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.output import Unknown, _OutputData
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc
from pulumi.runtime.proto import source_pb2

from infra import sdk
from infra.offline.analyzer import _analyze_request
from infra.offline.check import Rendered, render, stack_names, stack_path
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
    """Both ways ``keep_unknowns`` is asked for: unset by the mock monitor, ``True`` by ``resolve_outputs``."""
    wires = [r.wire_inputs for name in ("dev", "staging", "prod") for r in rendered_stack(name).resources]
    assert len(wires) > 300 and all(wire is not None for wire in wires)
    for wire in wires:
        assert identical(sdk.deserialize_struct(wire), rpc.deserialize_properties(wire))
        assert identical(sdk.deserialize_struct(wire, True), rpc.deserialize_properties(wire, True))
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
    cases.append({"unknowns": {"deep": [rpc.UNKNOWN, {"in": rpc.UNKNOWN}]}, "top": rpc.UNKNOWN})
    for case in cases:
        wire = struct(case)
        for keep_unknowns in (None, False, True):
            assert identical(
                sdk.deserialize_struct(wire, keep_unknowns=keep_unknowns),
                rpc.deserialize_properties(wire, keep_unknowns=keep_unknowns),
            ), (case, keep_unknowns)
    kept = sdk.deserialize_struct(struct(cases[-1]), keep_unknowns=True)
    assert isinstance(kept["unknowns"]["deep"][1]["in"], Unknown)


def test_plain_bags_serialize_to_the_sdks_struct(rendered_stack: Callable[[str], Rendered]) -> None:
    class Color(enum.StrEnum):
        RED = "red"

    loop = asyncio.new_event_loop()  # not asyncio.run: it would unset the thread's loop other tests use

    def both(bag: Any) -> tuple[bytes, bytes, dict[str, Any], dict[str, Any]]:
        fast_deps: dict[str, Any] = {}
        sdk_deps: dict[str, Any] = {}
        fast = loop.run_until_complete(sdk.serialize_inputs(bag, fast_deps))
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
        {"enum": Color.RED, "nested": {"enum": [Color.RED]}},  # not plain: walked
        {"asset": pulumi.StringAsset("hello")},
    ]
    try:
        for case in cases:
            fast, slow, fast_deps, sdk_deps = both(case)
            assert fast == slow, case
            assert fast_deps == sdk_deps
    finally:
        loop.close()


def test_offline_runtime_deserializes_faster_and_restores_the_sdks_function() -> None:
    """Both places a registration is deserialized look the function up in ``rpc`` when called."""
    original = rpc.deserialize_properties
    assert "rpc.deserialize_properties(request.object)" in inspect.getsource(pulumi_mocks.MockMonitor.RegisterResource)
    assert "in deserialize_properties(outputs, keep_unknowns).items()" in inspect.getsource(rpc.resolve_outputs)
    assert "not result_failed," in inspect.getsource(pulumi_resource.register_resource)  # keep_unknowns: True
    assert "_sync_await(rpc.serialize_properties(state, {}))" in inspect.getsource(
        pulumi_mocks.MockMonitor.RegisterResource
    )
    with sdk.offline_runtime():
        assert rpc.deserialize_properties is sdk.deserialize_struct
        assert rpc.serialize_properties is sdk.serialize_inputs
    assert rpc.deserialize_properties is original
    assert rpc.serialize_properties is sdk._SDK_SERIALIZE_PROPERTIES


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_a_bounded_run_does_not_collect_on_its_own_and_restores_the_collector() -> None:
    threshold = gc.get_threshold()
    with bounded_run():
        assert gc.get_threshold()[0] == 0
        cycles = [weakref.ref(_Cycle()) for _ in range(1000)]
        assert [[] for _ in range(200_000)]  # far past any young threshold
        assert all(ref() is not None for ref in cycles)
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with bounded_run():  # nested: the outer run keeps control
            assert gc.get_freeze_count() == frozen
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold() == threshold
    assert gc.get_freeze_count() == 0


def test_leaving_a_bounded_run_leaves_its_garbage_to_the_next_full_collection() -> None:
    """The young generations a run filled are not scanned on the way out (a CLI exits right after)."""
    with bounded_run():
        left = [weakref.ref(_Cycle()) for _ in range(1000)]  # a run's cyclic garbage
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


class _Echo(sdk.Mocks):
    def new_resource(self, args: sdk.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: sdk.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


def _data(output: Any) -> tuple[Any, bool, bool, set[Any]]:
    return output.value, output.is_known, output.is_secret, output.resources


def test_the_urns_the_shim_builds_or_defers_are_read_only_where_the_pinned_sdk_reads_them() -> None:
    """``create_urn``'s result in ``register_resource`` is used only without a monitor, and ``Resource._aliases``
    only by ``all_aliases``, which ``prepare_aliases`` calls only for a monitor without alias specs; the mock
    monitor supports them. A pinned SDK that changes this fails here first."""
    register = inspect.getsource(pulumi_resource.register_resource)
    assert "mock_urn = await create_urn(name, ty, resolver.parent_urn).future()" in register
    assert register.count("mock_urn") == 2 and "if monitor is None:" in register
    assert "collapse_alias_to_urn(alias, name, t, opts.parent)" in inspect.getsource(pulumi.Resource.__init__)
    package = Path(inspect.getfile(pulumi)).parent
    readers = sorted(
        f"{path.relative_to(package)}: {line.strip()}"
        for path in package.rglob("*.py")
        for line in path.read_text().splitlines()
        if "._aliases" in line
    )
    assert readers == [
        "resource.py: self._aliases = []",
        "resource.py: self._aliases.append(collapse_alias_to_urn(alias, name, t, opts.parent))",
        "runtime/resource.py: for parent_alias in parent._aliases:",
    ]
    assert "for parent_alias in parent._aliases:" in inspect.getsource(pulumi_resource.all_aliases)
    prepare = inspect.getsource(pulumi_resource.prepare_aliases)
    assert prepare.index("if supports_alias_specs:") < prepare.index("else:") < prepare.index("all_aliases(")
    monitor = pulumi_mocks.MockMonitor(_Echo())
    feature = monitor.SupportsFeature(type("Request", (), {"id": "aliasSpecs"})())  # type: ignore[no-untyped-call]
    assert feature.hasSupport


def test_urns_of_plain_strings_are_the_sdks_urns() -> None:
    compared: list[str] = []

    async def program() -> None:
        parent = pulumi.CustomResource("test:index:Thing", "parent", {})
        cases: list[tuple[Any, ...]] = [
            ("web", "kubernetes:apps/v1:Deployment", "urn:pulumi:s::p::my:index:Component::app"),
            ("web", "kubernetes:apps/v1:Deployment", "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s"),
            ("web", "kubernetes:apps/v1:Deployment", ""),  # do_register's parent URN for a root resource
            ("web", "kubernetes:apps/v1:Deployment", None),
            ("web", "kubernetes:apps/v1:Deployment", None, "other-project", "other-stack"),
            ("web", "kubernetes:apps/v1:Deployment", parent),  # not plain strings: the SDK's own call
            (pulumi.Output.secret("web"), "kubernetes:apps/v1:Deployment", None),
            ("web", "kubernetes:apps/v1:Deployment", rpc.UNKNOWN),
        ]
        for case in cases:
            fast = await sdk.known_urn(*case)._data
            slow = await sdk._SDK_CREATE_URN(*case)._data
            assert _data(fast) == _data(slow), case
            compared.append(str(fast.value))

    sdk.run_function(program, _Echo(), project="p", stack="s")
    assert compared[0] == "urn:pulumi:s::p::my:index:Component$kubernetes:apps/v1:Deployment::web"
    assert compared[3] == "urn:pulumi:s::p::kubernetes:apps/v1:Deployment::web"
    assert compared[5].endswith("test:index:Thing$kubernetes:apps/v1:Deployment::web")


def test_type_aliases_urns_are_deferred_and_read_as_the_sdks() -> None:
    """pulumi-kubernetes's aliases (a type and nothing else) are computed when read, to the SDK's value."""
    read: list[tuple[Any, Any]] = []

    async def program() -> None:
        parent = pulumi.ComponentResource("my:index:Component", "app")
        aliases: list[Any] = [
            pulumi.Alias(type_="kubernetes:apps/v1beta1:Deployment"),
            pulumi.Alias(name="old-web"),  # not only a type: the SDK's own Output, made at once
            "urn:pulumi:s::p::kubernetes:apps/v1:Deployment::older",
        ]
        with sdk.offline_runtime():
            deployment = pulumi.CustomResource(
                "kubernetes:apps/v1:Deployment", "web", {}, pulumi.ResourceOptions(parent=parent, aliases=aliases)
            )
        deferred, named, plain = outputs = list[Any](deployment._aliases)
        assert type(deferred) is sdk._DeferredOutput and "_made" not in vars(deferred)
        assert type(named) is pulumi.Output and type(plain) is pulumi.Output
        for alias, output in zip(aliases, outputs, strict=True):
            expected = sdk._SDK_COLLAPSE_ALIAS_TO_URN(alias, "web", "kubernetes:apps/v1:Deployment", parent)
            read.append((_data(await output._data), _data(await expected._data)))

    sdk.run_function(program, _Echo(), project="p", stack="s")
    assert [fast for fast, _ in read] == [slow for _, slow in read]
    stack_type = "pulumi:pulumi:Stack$my:index:Component$kubernetes:apps/v1beta1:Deployment"
    assert read[0][0][0] == f"urn:pulumi:s::p::{stack_type}::web"


def test_offline_runtime_builds_urns_faster_and_restores_the_sdks_functions() -> None:
    with sdk.offline_runtime():
        assert pulumi_resource.create_urn is sdk.known_urn
        assert sdk._RESOURCE_API.collapse_alias_to_urn is sdk.deferred_alias_urn
    assert pulumi_resource.create_urn is sdk._SDK_CREATE_URN
    assert sdk._RESOURCE_API.collapse_alias_to_urn is sdk._SDK_COLLAPSE_ALIAS_TO_URN


def _wire(struct_message: Any) -> tuple[bytes, str]:
    """A ``Struct``'s bytes and its fields in their own order."""
    return struct_message.SerializeToString(deterministic=True), repr(json_format.MessageToDict(struct_message))


def _dependencies(property_deps: dict[str, list[Any]]) -> list[tuple[str, list[int]]]:
    return [(key, [id(resource) for resource in deps]) for key, deps in property_deps.items()]


def test_every_registration_serializes_to_the_sdks_struct_and_dependencies(monkeypatch: Any) -> None:
    """Each committed stack's program, every ``serialize_properties`` call made both ways: registrations with their
    type metadata, component outputs, the mock monitor's answers."""
    walked = sdk.serialize_inputs
    compared: list[tuple[Any, ...]] = []

    async def both(inputs: Any, property_deps: dict[str, list[Any]], *args: Any, **kwargs: Any) -> Any:
        sdk_deps: dict[str, list[Any]] = {}
        # The walk first: it meets Outputs not yet resolved (the SDK, second, finds them resolved).
        fast = await walked(inputs, property_deps, *args, **kwargs)
        slow = await sdk._SDK_SERIALIZE_PROPERTIES(inputs, sdk_deps, *args, **kwargs)
        compared.append((_wire(fast), _wire(slow), _dependencies(property_deps), _dependencies(sdk_deps)))
        return fast

    monkeypatch.setattr(sdk, "serialize_inputs", both)
    for name in stack_names():
        render(stack_path(name))
    assert len(compared) > 900
    for fast, slow, fast_deps, sdk_deps in compared:
        assert fast == slow
        assert fast_deps == sdk_deps


class Tier(enum.StrEnum):
    GOLD = "gold"


def test_inputs_of_every_kind_serialize_as_the_sdk_serializes_them(monkeypatch: Any) -> None:
    """Typed and untyped, resolved and pending ``Output``s, secrets, unknowns, ``Output``s inside ``Output``s;
    what the walk leaves to the SDK (resources, assets, failures) gives the SDK's own result or error."""
    outcomes: list[tuple[str, Any, Any]] = []
    sdk_serialize = sdk._SDK_SERIALIZE_PROPERTIES
    left_to_sdk: list[str] = []

    async def counted(*args: Any, **kwargs: Any) -> Any:
        left_to_sdk.append(outcomes[-1][0] if outcomes else "")
        return await sdk_serialize(*args, **kwargs)

    monkeypatch.setattr(sdk, "_SDK_SERIALIZE_PROPERTIES", counted)

    async def program() -> None:
        dependency = pulumi.CustomResource("test:index:Thing", "dependency", {})
        boom: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        boom.set_exception(ValueError("boom"))

        def failing() -> pulumi.Output[Any]:
            output = pulumi.Output(set(), boom, boom)
            output._untrack()  # its failure is this test's, not the run's
            return output

        metadata: dict[str, Any] = {
            "name": "web",
            "labels": {"app": "web", "tier": Tier.GOLD},
            "namespace": dependency.id,
        }
        cases: dict[str, Callable[[], tuple[dict[str, Any], Any]]] = {
            "typed, snake_case keys translated": lambda: (
                {
                    "metadata": k8s.meta.v1.ObjectMetaArgs(**metadata),
                    "spec": {
                        "replicas": 2,
                        "selector": {"match_labels": {"app": "web"}},
                        "template": {"metadata": metadata, "spec": {"containers": [{"name": "c", "image": "i"}]}},
                    },
                },
                k8s.apps.v1.DeploymentArgs,
            ),
            "untyped": lambda: ({"a": [1, 2.5, None, (True, "x")], "b": {"match_labels": None}, "c": None}, None),
            "pending and resolved outputs": lambda: (
                {"later": dependency.id.apply(lambda i: f"x-{i}"), "now": pulumi.Output.from_input("now")},
                None,
            ),
            "secrets and unknowns": lambda: (
                {
                    "secret": pulumi.Output.secret("s"),
                    "unknown": pulumi.Output.from_input(Unknown()),  # type: ignore[no-untyped-call]
                    "unknown secret": pulumi.Output.secret(Unknown()),  # type: ignore[no-untyped-call]
                    "sentinel": rpc.UNKNOWN,
                },
                None,
            ),
            "an output inside an output": lambda: (
                {"outer": pulumi.Output.from_input("x").apply(lambda _: {"inner": dependency.urn})},
                None,
            ),
            "a resource, left to the SDK": lambda: ({"ref": dependency, "name": "n"}, None),
            "an asset, left to the SDK": lambda: ({"asset": pulumi.StringAsset("hello")}, None),
            "a failed output": lambda: ({"bad": failing()}, None),
            "a list where the type says a string": lambda: ({"name": ["a"]}, k8s.meta.v1.ObjectMetaArgs),
            "a set, which the SDK refuses": lambda: ({"bad": {1, 2}}, None),
        }

        async def serialize(function: Any, inputs: dict[str, Any], typ: Any) -> Any:
            deps: dict[str, list[Any]] = {}
            try:
                struct_message = await function(inputs, deps, None, None, typ)
            except Exception as error:  # noqa: BLE001 - compared
                return type(error), re.sub(r" at 0x[0-9a-f]+", "", str(error))  # object addresses differ
            return _wire(struct_message), [(key, [resource._name for resource in value]) for key, value in deps.items()]

        for name, make in cases.items():  # fresh values each way: the SDK adds to an Output's resources
            outcomes.append((name, None, None))
            fast = await serialize(sdk.serialize_inputs, *make())  # first: ``dependency`` is not registered yet
            slow = await serialize(sdk_serialize, *make())
            outcomes[-1] = (name, fast, slow)

    sdk.run_function(program, _Echo(), project="p", stack="s")
    assert len(outcomes) == 10
    for name, fast, slow in outcomes:
        assert fast == slow, name
    errors = {name: fast for name, fast, _ in outcomes if isinstance(fast[0], type)}
    assert set(errors) == {"a failed output", "a list where the type says a string", "a set, which the SDK refuses"}
    assert set(left_to_sdk) == {"a resource, left to the SDK", "an asset, left to the SDK", *errors}


def test_every_registrations_outputs_translate_as_the_sdk_translates_them(monkeypatch: Any) -> None:
    """Each committed stack's program, every ``translate_output_properties`` call made both ways (output types,
    typed dicts, enums, secrets), and ``resource_types`` asked once per class."""
    compared: list[tuple[Any, Any]] = []
    translate, types = sdk.translate_outputs, sdk.resource_types

    def both(*args: Any, **kwargs: Any) -> Any:
        fast = translate(*args, **kwargs)
        compared.append((fast, sdk._SDK_TRANSLATE_OUTPUT_PROPERTIES(*args, **kwargs)))
        return fast

    def types_both(resource_cls: type) -> dict[str, Any]:
        fast = types(resource_cls)
        assert fast == sdk._SDK_RESOURCE_TYPES(resource_cls)
        return fast

    monkeypatch.setattr(sdk, "translate_outputs", both)
    monkeypatch.setattr(sdk, "resource_types", types_both)
    for name in stack_names():
        render(stack_path(name))
    assert len(compared) > 3000
    assert any(type(fast).__module__.startswith("pulumi_kubernetes") for fast, _ in compared)  # output types built
    for fast, slow in compared:
        assert identical(fast, slow)


def test_outputs_of_every_kind_translate_as_the_sdk_translates_them() -> None:
    transform = str.upper
    cases: list[tuple[Any, ...]] = [
        ({"a": {"b": [1.0, "x"]}}, transform, None),
        ({"a": {"b": 1.0}}, transform, dict[str, int], True),  # user dict: keys kept, values cast
        ({**SECRET_SIG, "value": {"k": "v"}}, transform, None),
        ("gold", transform, Tier),
        (3.0, transform, int),
        ([1.0, 2.0], transform, list[int]),
        (
            {"replicas": 2.0, "selector": {"matchLabels": {"a": "b"}}},
            transform,
            k8s.apps.v1.outputs.DeploymentSpec,
            True,
        ),
        ({"a": 1}, transform, str),  # a dict where the type says a string: the SDK's error
        ({"a": 1}, transform, str, False, None, True),  # ... or None when asked for
        (Unknown(), transform, str),  # type: ignore[no-untyped-call]
    ]
    for case in cases:
        try:
            slow = sdk._SDK_TRANSLATE_OUTPUT_PROPERTIES(*case)
        except AssertionError as error:
            with pytest.raises(AssertionError, match=re.escape(str(error))):
                sdk.translate_outputs(*case)
            continue
        assert identical(sdk.translate_outputs(*case), slow), case


def test_what_others_see_of_an_output_while_its_bag_waits_is_what_the_sdk_shows() -> None:
    """The SDK adds the resources inside an ``Output``'s value to that ``Output`` when it finishes it, then awaits the
    next input; a derived ``Output`` made meanwhile keeps what it saw. The walk makes the addition at the same point."""
    seen: dict[str, list[Any]] = {}

    def scenario(serialize: Any, label: str) -> None:
        async def program() -> None:
            dependency = pulumi.CustomResource("test:index:Thing", "dependency", {})
            await dependency.id.future()
            outer = pulumi.Output.from_input("x").apply(lambda _: {"inner": dependency.id})  # an Output inside
            await outer._data
            gate: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            waiting = pulumi.Output._from_data(gate)
            waiting._untrack()
            deps: dict[str, list[Any]] = {}
            task = asyncio.ensure_future(serialize({"a": outer, "b": waiting}, deps))
            for _ in range(5):
                await asyncio.sleep(0)
            derived: Any = outer.apply(lambda _: pulumi.Output.from_input("z"))  # copies outer's resources now
            gate.set_result(_OutputData(resources=set(), value="b", is_known=True, is_secret=False))
            await task
            later: dict[str, list[Any]] = {}
            await sdk._SDK_SERIALIZE_PROPERTIES({"d": derived}, later)
            seen[label] = [
                sorted(r._name for r in (await derived._data).resources),
                [(key, [r._name for r in value]) for key, value in deps.items()],
                [(key, [r._name for r in value]) for key, value in later.items()],
            ]

        sdk.run_function(program, _Echo(), project="p", stack="s")

    scenario(sdk._SDK_SERIALIZE_PROPERTIES, "sdk")
    scenario(sdk.serialize_inputs, "walk")
    assert seen["walk"] == seen["sdk"]
    assert seen["sdk"][2] == [("d", ["dependency"])]


def _waiting_output() -> tuple[asyncio.Future[Any], Any]:
    """An ``Output`` that resolves when its future is given a result (and is nobody's to wait for at exit)."""
    gate: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    output = pulumi.Output._from_data(gate)
    output._untrack()
    return gate, output


def _resolved(value: Any, *resources: Any) -> _OutputData[Any]:
    return _OutputData(resources=set(resources), value=value, is_known=True, is_secret=False)


def test_two_bags_waiting_on_one_output_of_outputs_see_what_the_sdk_shows() -> None:
    """Each call reads the outer ``Output``'s resources before it waits for the inner one, as the SDK does."""
    seen: dict[str, Any] = {}

    def scenario(serialize: Any, label: str) -> None:
        async def program() -> None:
            dependency = pulumi.CustomResource("test:index:Thing", "dependency", {})
            await dependency.id.future()
            gate, inner = _waiting_output()
            outer = pulumi.Output.from_input("x").apply(lambda _: {"inner": inner})
            await outer._data
            first: dict[str, list[Any]] = {}
            second: dict[str, list[Any]] = {}
            calls = [
                asyncio.ensure_future(serialize({"a": outer}, first)),
                asyncio.ensure_future(serialize({"b": outer}, second)),
            ]
            for _ in range(5):
                await asyncio.sleep(0)
            gate.set_result(_resolved("v", dependency))
            await asyncio.gather(*calls)
            seen[label] = [[(key, [r._name for r in value]) for key, value in deps.items()] for deps in (first, second)]

        sdk.run_function(program, _Echo(), project="p", stack="s")

    scenario(sdk._SDK_SERIALIZE_PROPERTIES, "sdk")
    scenario(sdk.serialize_inputs, "walk")
    assert seen["walk"] == seen["sdk"] == [[("a", ["dependency"])], [("b", ["dependency"])]]


def test_a_bag_changed_while_its_serialization_waits_fails_as_the_sdks_does() -> None:
    """The walk reads each container once, in the SDK's order: a key added meanwhile breaks both iterations alike."""
    outcomes: dict[str, str] = {}

    def scenario(serialize: Any, label: str) -> None:
        async def program() -> None:
            gate, waiting = _waiting_output()
            bag: dict[str, Any] = {"p": waiting, "l": ["a"]}
            call = asyncio.ensure_future(serialize(bag, {}))
            for _ in range(5):
                await asyncio.sleep(0)
            bag["z"] = "new"
            gate.set_result(_resolved("P"))
            try:
                await call
                outcomes[label] = "serialized"
            except RuntimeError as error:
                outcomes[label] = str(error)

        sdk.run_function(program, _Echo(), project="p", stack="s")

    scenario(sdk._SDK_SERIALIZE_PROPERTIES, "sdk")
    scenario(sdk.serialize_inputs, "walk")
    assert outcomes["walk"] == outcomes["sdk"] == "dictionary changed size during iteration"

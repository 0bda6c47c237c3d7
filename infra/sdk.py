"""The one module that reaches into the Pulumi SDK's internals (pinned: pulumi==3.272.0).

Everything else uses public APIs. What is used here, and why:

- ``pulumi.runtime.config`` (``get_config_env``, ``CONFIG``, ``is_config_secret``,
  ``set_all_config``): the program reads *every* ``ai-platform:*`` key so that a
  misspelt key is reported instead of ignored; ``pulumi.Config`` cannot list keys.
- ``pulumi.runtime.mocks`` (``Mocks``, ``MockMonitor``, ``set_mocks``): public
  and documented for unit tests; the recording monitor subclasses
  ``MockMonitor`` and calls its ``RegisterResource`` unchanged, so the SDK's
  own handling of every request field (transforms included) applies.
- ``pulumi.runtime.rpc`` (``deserialize_properties``, ``is_rpc_secret``): turn
  the wire form of component outputs into plain values.
- ``pulumi.runtime.settings`` and ``stack.run_pulumi_func`` with
  ``sync_await._sync_await``: what the language host does to run a program and
  wait for every registration.
- ``pulumi.runtime.resource._get_stack_trace``: the SDK walks the Python stack
  (``traceback.extract_stack``) for every resource to send the engine a source
  position; the mock monitor never reads it and the pinned SDK has no setting to
  turn it off, so ``run_program`` swaps in the SDK's own "no frames" answer for
  the length of an offline run (``offline_runtime``).
- ``pulumi.runtime.rpc.deserialize_properties``: every registration is turned
  back into Python values twice, its inputs in ``MockMonitor.RegisterResource``
  and the mock's answer in ``rpc.resolve_outputs``, each through protobuf's
  generic ``Struct`` accessors (together about a quarter of an offline check's
  CPU). For the length of an offline run it is ``deserialize_struct``, which
  reads the ``Struct``'s fields directly: the same values
  (``tests/test_offline_runtime.py`` compares both on every resource of every
  committed stack), about three times faster; anything special (secrets,
  assets, resource references, unknowns) still goes to the SDK's own code.
  Likewise ``rpc.serialize_properties`` is ``serialize_inputs`` for a run: a
  bag of plain values (what the mock monitor answers with) becomes a
  ``Struct`` without the SDK's per-value coroutines, and a program's inputs
  are walked by a generator that does what ``rpc.serialize_property`` does,
  in its order, stopping where it awaits; anything it does not know, or a
  request to keep output values, is the SDK's own call.
- ``pulumi.runtime.resource.create_urn`` and ``pulumi.resource.collapse_alias_to_urn``:
  for every resource the SDK builds a URN it keeps only when there is no
  monitor, and the URN of each alias (pulumi-kubernetes gives most resources
  their old API versions as aliases), kept only for engines without alias
  specs; each through several chained ``Output``s (together about a fifth of
  a render's CPU). For a run, ``known_urn`` makes a URN of plain strings one
  known ``Output``, and ``deferred_alias_urn`` computes a type alias's URN
  when something reads it, with the SDK's own function.
- ``pulumi.runtime.rpc.translate_output_properties`` and
  ``pulumi._types.resource_types``: every registration's outputs are
  translated value by value with an error path object each, and the resource
  class's type hints are computed again each time. For a run,
  ``translate_outputs`` walks the same cases without the paths (an error is
  the SDK's own call) and ``resource_types`` is computed once per class.

``tests/test_offline_runtime.py`` and ``tests/test_layers.py`` pin the shapes relied on (the ``RegisterResource``
request's fields, the mock signatures): when the pinned SDK changes underneath,
that test fails first. Each item is worth raising upstream (a public way to
list config keys, an options-aware mock hook).
"""

from __future__ import annotations

import enum
import inspect
import os
import runpy
import threading
import typing
from collections import abc
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import struct_pb2
from pulumi import _types as pulumi_types
from pulumi.runtime import config as runtime_config
from pulumi.runtime import known_types, rpc
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.proto import resource_pb2, source_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

Mocks = pulumi_mocks.Mocks
MockResourceArgs = pulumi_mocks.MockResourceArgs
MockCallArgs = pulumi_mocks.MockCallArgs

#: The ``RegisterResourceRequest`` fields of the pinned SDK. The recording
#: monitor keeps the options in ``RECORDED_OPTIONS``; the rest either carry the
#: inputs (``object``, ``propertyDependencies``), identify the resource, or have
#: no effect on what the engine would be asked to create offline.
REGISTER_RESOURCE_FIELDS = frozenset(
    {
        "acceptResources", "acceptSecrets", "accepts_byte_string", "additionalSecretOutputs", "aliasSpecs",
        "aliasURNs", "aliases", "custom", "customTimeouts", "deleteBeforeReplace", "deleteBeforeReplaceDefined",
        "deletedWith", "dependencies", "envVarMappings", "hideDiffs", "hooks", "ignoreChanges", "importId", "name",
        "object", "packageRef", "parent", "parentStackTraceHandle", "pluginChecksums", "pluginDownloadURL",
        "propertyDependencies", "protect", "provider", "providers", "remote", "replaceOnChanges", "replace_with",
        "replacement_trigger", "retainOnDelete", "snippetId", "sourcePosition", "stackTrace", "state_migrations",
        "supportsPartialValues", "supportsResultReporting", "transforms", "type", "version",
    }
)  # fmt: skip


def engine_config() -> tuple[dict[str, str], frozenset[str]]:
    """Every config value the engine passed the program (string form), and which keys are secrets."""
    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return values, frozenset(key for key in values if runtime_config.is_config_secret(key))


def is_secret(value: Any) -> bool:
    """Whether a deserialized property value is a wrapped Pulumi secret."""
    return bool(rpc.is_rpc_secret(value))


@dataclass
class Registration:
    """One ``RegisterResource`` call as the engine would receive it: inputs and options."""

    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    options: dict[str, Any]
    id: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    #: The inputs as the SDK serialized them (``RegisterResourceRequest.object``), what the engine
    #: hands an analyzer. ``inputs`` is the SDK's deserialized view, which lifts a nested secret to
    #: its whole containing object (``rpc.deserialize_property``); the wire form keeps it where it is.
    wire_inputs: Any = field(default=None, repr=False, compare=False)


def _options(request: Any) -> dict[str, Any]:
    provider = request.provider.rsplit("::", 1)[0] if request.provider else None
    return {
        "protect": bool(request.protect) if request.HasField("protect") else False,
        "retainOnDelete": bool(request.retainOnDelete) if request.HasField("retainOnDelete") else False,
        "dependsOn": sorted(set(request.dependencies)),
        "provider": provider,
        "deleteBeforeReplace": bool(request.deleteBeforeReplace),
        "ignoreChanges": list(request.ignoreChanges),
        "additionalSecretOutputs": list(request.additionalSecretOutputs),
        "replaceOnChanges": list(request.replaceOnChanges),
        "customTimeouts": {
            key: value
            for key, value in (
                ("create", request.customTimeouts.create),
                ("update", request.customTimeouts.update),
                ("delete", request.customTimeouts.delete),
            )
            if value
        },
    }


#: The options ``Registration.options`` carries, in order.
RECORDED_OPTIONS = (
    "protect",
    "retainOnDelete",
    "dependsOn",
    "provider",
    "deleteBeforeReplace",
    "ignoreChanges",
    "additionalSecretOutputs",
    "replaceOnChanges",
    "customTimeouts",
)


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, keeping every registration with its options and component outputs.

    ``RegisterResource`` is the SDK's own; the inputs it deserializes reach
    ``Mocks.new_resource`` (a public hook), where they are picked up, so they
    are deserialized once.
    """

    def __init__(
        self,
        mocks: Mocks,
        on_register: Callable[[Registration], None] | None = None,
        record_as: type[Registration] = Registration,
    ) -> None:
        self._capturing = _CapturingMocks(mocks)
        super().__init__(self._capturing)
        self._record_as = record_as
        self.recorded: list[Registration] = []
        self._by_urn: dict[str, Registration] = {}
        self._on_register = on_register
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == "pulumi:pulumi:Stack":
            return response
        inputs, state = self._capturing.take()
        registration = self._record_as(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            custom=bool(request.custom),
            inputs=inputs,
            options=_options(request),
            id=response.id or None,
            outputs=state,
            wire_inputs=request.object,
        )
        with self._lock:
            self.recorded.append(registration)
            self._by_urn[registration.urn] = registration
        if self._on_register is not None:
            self._on_register(registration)
        return response

    def in_tree_order(self) -> list[Registration]:
        """Every registration, parents before children and siblings by URN: the same on every run.

        Registrations arrive in an order that depends on when the SDK's thread
        pool answers; a component's tree does not.
        """
        with self._lock:
            recorded = list(self.recorded)
        children: dict[str | None, list[Registration]] = {}
        known = {registration.urn for registration in recorded}
        for registration in recorded:
            parent = registration.parent if registration.parent in known else None
            children.setdefault(parent, []).append(registration)
        ordered: list[Registration] = []
        pending = sorted(children.get(None, []), key=lambda r: r.urn, reverse=True)
        while pending:
            registration = pending.pop()
            ordered.append(registration)
            pending.extend(sorted(children.get(registration.urn, []), key=lambda r: r.urn, reverse=True))
        return ordered

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        """Keep what components register as outputs (URLs, namespaces, footprints)."""
        registration = self._by_urn.get(request.urn)
        if registration is not None and request.HasField("outputs"):
            registration.outputs = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


class _CapturingMocks(pulumi_mocks.Mocks):
    """Delegates to the given mocks and keeps, per thread, the last inputs and state it saw."""

    def __init__(self, inner: Mocks) -> None:
        self.inner = inner
        self._last = threading.local()

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        resource_id, state = self.inner.new_resource(args)
        self._last.value = (args.inputs, state)
        return resource_id, state

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return self.inner.call(args)

    def take(self) -> tuple[dict[str, Any], dict[str, Any]]:
        inputs, state = self._last.value
        del self._last.value
        return dict(inputs), dict(state)


def run_program(
    program_dir: Path,
    monitor: RecordingMonitor,
    *,
    project: str,
    stack: str,
    config: Mapping[str, str],
    secret_keys: frozenset[str],
    preview: bool = False,
) -> None:
    """Run ``program_dir/__main__.py`` as the Python language host does, against ``monitor``.

    Raises what the program raises (``pulumi.RunError`` for a reported failure).
    """
    runtime_config.set_all_config(dict(config), sorted(secret_keys))
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()
    pulumi_mocks.set_mocks(monitor.mocks, project=project, stack=stack, preview=preview, monitor=monitor)
    try:
        with _working_directory(program_dir), offline_runtime():
            # What the language host does, minus its own root Stack: set_mocks made one.
            _sync_await(run_pulumi_func(_run_main))
    finally:
        pulumi_settings.set_root_resource(None)  # type: ignore[arg-type]


#: Set (to anything) to run without the speed-ups, as the benchmark does to show they change no result.
NO_SPEEDUPS = "AI_PLATFORM_NO_SPEEDUPS"


def _no_stack_trace() -> Any:
    """The SDK's own answer when it finds no user frame: an empty stack trace, hence no source position."""
    return source_pb2.StackTrace()


#: The SDK's own, for what ``deserialize_struct`` and ``serialize_inputs`` hand back to it.
_SDK_DESERIALIZE_PROPERTIES = rpc.deserialize_properties
_SDK_SERIALIZE_PROPERTIES = rpc.serialize_properties
#: Values the SDK's serialization passes through unchanged (exact types: an enum is a ``str`` subclass, and the SDK
#: serializes it by its value).
_PLAIN_SCALARS = frozenset({str, bool, int, float, type(None)})


def _plain(value: Any) -> bool:
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return True
    if kind is dict:
        return all(type(key) is str and _plain(item) for key, item in value.items())
    if kind is list or kind is tuple:
        return all(_plain(item) for item in value)
    return False


async def serialize_inputs(  # noqa: PLR0917 - the signature of the SDK function it stands in for
    inputs: Any,
    property_deps: dict[str, list[Any]],
    resource_obj: Any = None,
    input_transformer: Callable[[str], str] | None = None,
    typ: Any = None,
    keep_output_values: bool = False,
    exclude_resource_refs_from_deps: bool = False,
) -> Any:
    """``rpc.serialize_properties``'s ``Struct`` and dependencies, walking the values without a coroutine each.

    The SDK awaits a coroutine per value and unwraps its type annotation
    (``typing`` introspection) at every level; every program registration and
    every mock answer goes through it. Here a bag of plain values (what the
    mock monitor answers with) is stored as it is, and a program's inputs are
    walked by ``_InputWalk``, which does what ``rpc.serialize_property`` does
    case by case, in the same order, with each type's metadata looked up
    once: a generator that runs straight through and hands back each
    ``Output`` not yet resolved, to be awaited exactly where the SDK awaits
    it. Whatever else the walk meets (a resource, an asset, an awaitable, a
    failed ``Output``, a value the SDK refuses) and any request to keep output
    values is the SDK's own call, which raises its own errors.
    """
    if keep_output_values or exclude_resource_refs_from_deps or type(inputs) is not dict:
        return await _SDK_SERIALIZE_PROPERTIES(
            inputs, property_deps, resource_obj, input_transformer, typ, keep_output_values,
            exclude_resource_refs_from_deps,
        )  # fmt: skip
    if input_transformer is None and typ is None and _plain(inputs):
        struct = struct_pb2.Struct()
        for key, value in inputs.items():
            if value is not None:
                struct[key] = value
                property_deps[key] = []
        return struct
    walk = _InputWalk(input_transformer)
    steps = walk.properties(inputs, typ)
    try:
        pending = next(steps)
        while True:
            await pending  # where the SDK awaits it
            pending = steps.send(None)
    except StopIteration as finished:
        struct, deps_by_key = finished.value
    except (_LeftToSdkError, ValueError, AssertionError):
        # What the walk leaves to the SDK, and the errors the SDK words in its own way ("While processing input").
        # What the walk added is taken back and made again by the SDK's call before it first waits: everything it
        # waited for so far has resolved, so nothing can see the difference.
        walk.undo()
        return await _SDK_SERIALIZE_PROPERTIES(inputs, property_deps, resource_obj, input_transformer, typ)
    # Any other error (a failed Output's, a dict changed while the walk waited) is raised where the SDK raises it.
    property_deps.update(deps_by_key)
    return struct


class _LeftToSdkError(Exception):
    """A value ``_InputWalk`` leaves to the SDK's own serialization."""


#: ``typing`` introspection results per annotation: pure functions of the (immutable) types, asked once per value by
#: the SDK. Keyed by the annotation's identity, not equality: ``Union`` compares equal whatever its members' order,
#: which ``unwrap_type`` reads. Each entry keeps its annotation, so the identity is not reused.
_UNWRAPPED: dict[int, tuple[Any, Any]] = {}
_ELEMENT_TYPES: dict[int, tuple[Any, Any]] = {}
_PY_TO_PULUMI_NAMES: dict[int, tuple[Any, Any]] = {}
_INPUT_TYPE_TYPES: dict[int, tuple[Any, Any]] = {}
#: Sequences ``rpc.serialize_property`` does not treat as lists.
_NOT_SEQUENCES = (str, range, memoryview, bytes, bytearray)
_DICT_TYPES = [dict, typing.Dict, abc.Mapping, typing.Mapping]  # noqa: UP006 - the SDK's own list


def _cached(cache: dict[int, tuple[Any, Any]], compute: Callable[[Any], Any], key: Any) -> Any:
    known = cache.get(id(key))
    if known is None or known[0] is not key:
        known = cache[id(key)] = (key, compute(key))
    return known[1]


#: A walk step: yields each ``Output`` future not yet resolved (resumed once it is), returns the serialized value.
Walk = Generator[Any, None, Any]


def _unwrapped(typ: Any) -> bool:
    """For a plain value, which needs no generator of its own: its annotation unwrapped as the SDK unwraps it (which
    may raise); always true."""
    if typ is not None:
        _cached(_UNWRAPPED, pulumi_types.unwrap_type, typ)
    return True


class _InputWalk:
    """A bag of inputs serialized as ``rpc.serialize_property`` does (``keep_output_values`` off), as a generator.

    It reads every value once and in the SDK's order, and stops where the SDK
    awaits: at an ``Output`` not yet resolved, which it yields. Plain values
    are read without a generator of their own. What it adds to ``Output``s'
    resources, as the SDK does, is noted for ``undo``.
    """

    def __init__(self, input_transformer: Callable[[str], str] | None) -> None:
        self.input_transformer = input_transformer
        self._supports_secrets: bool | None = None
        self._added: list[tuple[set[Any], list[Any]]] = []

    def properties(self, inputs: dict[str, Any], typ: Any) -> Generator[Any, None, tuple[Any, dict[str, list[Any]]]]:
        """``rpc.serialize_properties``: the ``Struct``, built key by key as the SDK builds it, and each key's
        dependencies; a property serialized to ``None`` is left out."""
        translate = self.input_transformer
        types: dict[str, Any] = {}
        names: dict[str, str] = {}
        if typ is not None:
            names = _cached(_PY_TO_PULUMI_NAMES, pulumi_types.input_type_py_to_pulumi_names, typ)
            types = _cached(_INPUT_TYPE_TYPES, pulumi_types.input_type_types, typ)
        struct = struct_pb2.Struct()
        deps_by_key: dict[str, list[Any]] = {}
        for key, item in inputs.items():
            name = (names.get(key) or key) if typ is not None else (translate(key) if translate else key)
            deps: list[Any] = []
            item_type = types.get(name)
            plain = type(item) in _PLAIN_SCALARS and _unwrapped(item_type)
            value = item if plain else (yield from self.value(item, deps, item_type))
            if value is not None:
                struct[name] = value
                deps_by_key[name] = deps
        return struct, deps_by_key

    def value(self, value: Any, deps: list[Any], typ: Any) -> Walk:
        if typ is not None:
            typ = _cached(_UNWRAPPED, pulumi_types.unwrap_type, typ)
            if typ is Any:
                typ = None
        kind = type(value)
        if kind in _PLAIN_SCALARS:
            return value
        # The common exact types first: none of them is anything the checks below look for before them.
        if kind is dict:
            return (yield from self._mapping(value, deps, typ))
        if kind is list or kind is tuple:
            element = None if typ is None else _cached(_ELEMENT_TYPES, rpc._get_list_element_type, typ)
            items = []
            for item in value:
                plain = type(item) in _PLAIN_SCALARS and _unwrapped(element)
                items.append(item if plain else (yield from self.value(item, deps, element)))
            return items
        if kind is pulumi.Output:
            return (yield from self._output(value, deps, typ))
        return (yield from self._other(value, deps, typ))

    def _other(self, value: Any, deps: list[Any], typ: Any) -> Walk:
        """Every other case, in ``rpc.serialize_property``'s order."""
        kind = type(value)
        if isinstance(value, abc.Sequence) and not isinstance(value, _NOT_SEQUENCES):
            raise _LeftToSdkError(value)
        if known_types.is_unknown(value):
            return rpc.UNKNOWN
        if known_types.is_resource(value) or known_types.is_asset(value) or known_types.is_archive(value):
            raise _LeftToSdkError(value)
        if inspect.isawaitable(value):
            raise _LeftToSdkError(value)
        if known_types.is_output(value):
            return (yield from self._output(value, deps, typ))
        if pulumi_types.is_input_type(kind):
            types = _cached(_INPUT_TYPE_TYPES, pulumi_types.input_type_types, kind)
            serialized = {}
            for key, item in pulumi_types.input_type_to_dict(value).items():
                plain = type(item) in _PLAIN_SCALARS and _unwrapped(types.get(key))
                serialized[key] = item if plain else (yield from self.value(item, deps, types.get(key)))
            return serialized
        if isinstance(value, abc.Mapping | struct_pb2.Value) or not rpc.isLegalProtobufValue(value):
            raise _LeftToSdkError(value)
        return value

    def _output(self, output: Any, deps: list[Any], typ: Any) -> Walk:
        future = output._data
        if not future.done():
            yield future
        data = future.result()  # raises what the Output failed with: the SDK's call then reports it
        resources = data.resources
        deps.extend(resources)
        inner_deps: list[Any] = []
        inner = None if rpc.contains_unknowns(data.value) else data.value
        plain = type(inner) in _PLAIN_SCALARS and _unwrapped(typ)
        value = inner if plain else (yield from self.value(inner, inner_deps, typ))
        deps.extend(inner_deps)
        added = [resource for resource in inner_deps if resource not in resources]
        if added:
            resources.update(added)
            self._added.append((resources, added))
        if data.is_secret and self._secrets_supported():
            return {rpc._special_sig_key: rpc._special_secret_sig, "value": value if data.is_known else rpc.UNKNOWN}
        return value if data.is_known else rpc.UNKNOWN

    def _secrets_supported(self) -> bool:
        """Asked of the monitor once per walk, where the SDK asks for every secret ``Output``."""
        if self._supports_secrets is None:
            self._supports_secrets = bool(
                pulumi_settings.monitor_supports_feature(resource_pb2.RESOURCE_MONITOR_FEATURE_SECRETS)
            )
        return self._supports_secrets

    def _mapping(self, value: dict[Any, Any], deps: list[Any], typ: Any) -> Walk:
        translate = self.input_transformer
        names: dict[str, str] | None = None
        types: dict[str, Any] = {}
        value_type: Any = None
        if typ is not None:
            case = pulumi_types.reduce_discriminated_union(typ, value, pulumi_types._py_name_for)
            if case is not None:
                typ = case
            if pulumi_types.is_input_type(typ):
                names = _cached(_PY_TO_PULUMI_NAMES, pulumi_types.input_type_py_to_pulumi_names, typ)
                types = _cached(_INPUT_TYPE_TYPES, pulumi_types.input_type_types, typ)
            elif typ is dict or typing.get_origin(typ) in _DICT_TYPES:
                args = typing.get_args(typ)
                if len(args) == 2 and args[0] is str:
                    value_type = args[1]
                    translate = None
            else:
                translate = None
        serialized = {}
        for key, item in value.items():
            if names is None:
                name = translate(key) if translate is not None else key
                item_type = value_type
            else:
                name = names.get(key) or key
                item_type = types.get(name)
            plain = type(item) in _PLAIN_SCALARS and _unwrapped(item_type)
            serialized[name] = item if plain else (yield from self.value(item, deps, item_type))
        return serialized

    def undo(self) -> None:
        """Take back what the walk added to ``Output``s' resources (the SDK's own call is about to add it)."""
        for resources, added in reversed(self._added):
            resources.difference_update(added)
        self._added.clear()


def deserialize_struct(
    props_struct: struct_pb2.Struct, keep_unknowns: bool | None = None, keep_internal: bool | None = True
) -> Any:
    """``rpc.deserialize_properties``'s values, reading the ``Struct``'s fields directly.

    A struct carrying Pulumi's signature key (a secret, asset, archive,
    resource reference or output value), ``keep_internal`` other than its
    default and the unknown sentinel go to the SDK's own functions; plain
    values are read as the SDK reads them (numbers stay floats, nulls and
    unknowns kept as ``None`` drop out of maps) and a secret inside a map or
    list makes the whole map or list secret, as the SDK does. ``keep_unknowns``
    reaches every level, as in the SDK: ``resolve_outputs`` asks for it.
    """
    if keep_internal is not True or rpc._special_sig_key in props_struct.fields:
        return _SDK_DESERIALIZE_PROPERTIES(props_struct, keep_unknowns, keep_internal)
    output = {}
    try:
        for key, value in props_struct.fields.items():
            item = _deserialize_value(value, keep_unknowns)
            if item is not None:
                output[key] = item
    except _LeftToSdkError:  # a value with nothing set: the SDK's call raises its error
        return _SDK_DESERIALIZE_PROPERTIES(props_struct, keep_unknowns, keep_internal)
    return output


def _deserialize_value(value: Any, keep_unknowns: bool | None) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        text = value.string_value
        return rpc.deserialize_property(text, keep_unknowns) if text == rpc.UNKNOWN else text
    if kind == "number_value":
        return value.number_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        props = deserialize_struct(value.struct_value, keep_unknowns)
        if isinstance(props, dict) and any(rpc.is_rpc_secret(item) for item in props.values()):
            return rpc.wrap_rpc_secret({key: rpc.unwrap_rpc_secret(item) for key, item in props.items()})
        return props
    if kind == "list_value":
        items = [_deserialize_value(item, keep_unknowns) for item in value.list_value.values]
        if any(rpc.is_rpc_secret(item) for item in items):
            return rpc.wrap_rpc_secret([rpc.unwrap_rpc_secret(item) for item in items])
        return items
    if kind == "null_value":
        return None
    raise _LeftToSdkError(value)


#: The SDK's own, for what ``translate_outputs`` and ``resource_types`` hand back to it.
_SDK_TRANSLATE_OUTPUT_PROPERTIES = rpc.translate_output_properties
_SDK_RESOURCE_TYPES = pulumi_types.resource_types
_UNWRAPPED_OPTIONAL: dict[int, tuple[Any, Any]] = {}
_RESOURCE_TYPES: dict[type, dict[str, Any]] = {}


def resource_types(resource_cls: type) -> dict[str, Any]:
    """``_types.resource_types``, computed once per class (it runs ``typing.get_type_hints`` on every call)."""
    types = _RESOURCE_TYPES.get(resource_cls)
    if types is None:
        types = _RESOURCE_TYPES[resource_cls] = _SDK_RESOURCE_TYPES(resource_cls)
    return dict(types)


def translate_outputs(  # noqa: PLR0917 - the signature of the SDK function it stands in for
    output: Any,
    output_transformer: Callable[[str], str],
    typ: Any = None,
    transform_using_type_metadata: bool = False,
    path: Any = None,
    return_none_on_dict_type_mismatch: bool = False,
) -> Any:
    """``rpc.translate_output_properties``'s result, with each type's metadata looked up once.

    The SDK builds an error path object and unwraps the type annotation at
    every value of every registration's outputs; the paths only ever reach an
    error message. This walks the same cases in the same order without them;
    whatever raises (a type the value does not match) is the SDK's own call,
    which raises its own error with its path.
    """
    try:
        return _translate(
            output, output_transformer, typ, transform_using_type_metadata, return_none_on_dict_type_mismatch
        )
    except Exception:  # noqa: BLE001 - the SDK's own call raises the SDK's own error
        return _SDK_TRANSLATE_OUTPUT_PROPERTIES(
            output, output_transformer, typ, transform_using_type_metadata, path, return_none_on_dict_type_mismatch
        )


def _translate(
    output: Any, transformer: Callable[[str], str], typ: Any, by_metadata: bool, none_on_mismatch: bool
) -> Any:
    if rpc.is_rpc_secret(output):
        inner = _translate(rpc.unwrap_rpc_secret(output), transformer, typ, by_metadata, none_on_mismatch)
        return rpc.wrap_rpc_secret(inner)
    if typ:
        typ = _cached(_UNWRAPPED_OPTIONAL, pulumi_types.unwrap_optional_type, typ)
    if typ is Any:
        typ = None
    if isinstance(output, dict):
        return _translate_dict(output, transformer, typ, by_metadata, none_on_mismatch)
    if isinstance(output, list):
        element = _cached(_ELEMENT_TYPES, rpc._get_list_element_type, typ) if typ is not None else None
        return [_translate(item, transformer, element, by_metadata, none_on_mismatch) for item in output]
    if typ and isinstance(output, int | float | str) and inspect.isclass(typ) and issubclass(typ, enum.Enum):
        return typ(output)
    if isinstance(output, float) and typ is int:
        return int(output)
    return output


def _translate_dict(
    output: dict[str, Any], transformer: Callable[[str], str], typ: Any, by_metadata: bool, none_on_mismatch: bool
) -> Any:
    if typ is not None and pulumi_types.is_discriminated_union(typ):
        typ = pulumi_types.reduce_discriminated_union(typ, output, lambda _, name: name)
    translate = transformer
    value_type: Any = None
    if typ is not None:
        if pulumi_types.is_output_type(typ):
            types = pulumi_types.output_type_types(typ)
            values = {
                key: _translate(item, transformer, types.get(key), by_metadata, none_on_mismatch)
                for key, item in output.items()
            }
            return pulumi_types.output_type_from_dict(typ, values)
        if typ is dict or typing.get_origin(typ) in _DICT_TYPES:
            args = typing.get_args(typ)
            if len(args) == 2 and args[0] is str:
                value_type = args[1]
                if by_metadata:
                    translate = _same
        elif none_on_mismatch:
            return None
        else:
            raise _LeftToSdkError(output)  # the SDK's AssertionError, with its path
    return {
        translate(key): _translate(item, transformer, value_type, by_metadata, none_on_mismatch)
        for key, item in output.items()
    }


def _same(key: str) -> str:
    return key


#: The SDK's own, for what ``known_urn`` and ``deferred_alias_urn`` hand back to it.
_SDK_CREATE_URN = pulumi_resource.create_urn
_SDK_COLLAPSE_ALIAS_TO_URN = pulumi_resource.collapse_alias_to_urn
#: Where ``Resource.__init__`` looks ``collapse_alias_to_urn`` up (imported there from ``pulumi.runtime.resource``).
_RESOURCE_API: Any = pulumi.resource


def known_urn(name: Any, type_: Any, parent: Any = None, project: Any = None, stack: Any = None) -> pulumi.Output[str]:
    """``create_urn``'s URN as one known ``Output`` when every part is a plain string, without its three ``Output``s.

    ``do_register`` builds a URN this way for every resource (kept only when
    there is no monitor at all) from the parent's URN, already a string: the SDK
    would chain ``apply``, ``Output.all`` and ``apply``, whose result is the same
    known, non-secret string with no dependencies. Anything else (a parent
    resource or ``Output``, an unknown) is the SDK's own call.
    """
    parts = (name, type_, parent, project, stack)
    if any(part is not None and type(part) is not str for part in parts) or rpc.UNKNOWN in parts:
        return _SDK_CREATE_URN(name, type_, parent, project, stack)
    if parent is not None:
        prefix = parent[0 : parent.rfind("::")] + "$"
    else:
        stack = pulumi_settings.get_stack() if stack is None else stack
        project = pulumi_settings.get_project() if project is None else project
        prefix = "urn:pulumi:" + stack + "::" + project + "::"
    return pulumi.Output.from_input(prefix + type_ + "::" + name)


class _DeferredOutput(pulumi.Output[Any]):
    """An ``Output`` made by ``make`` when something first reads it, and never made if nothing does."""

    def __init__(self, make: Callable[[], pulumi.Output[Any]]) -> None:  # the Output is made later, not here
        self._make = make

    @property
    def _data(self) -> Any:  # type: ignore[override]
        made = self.__dict__.get("_made")
        if made is None:
            made = self.__dict__["_made"] = self._make()
        return made._data


def deferred_alias_urn(alias: Any, name: str, type_: str, parent: Any) -> Any:
    """``collapse_alias_to_urn``, computed when first read rather than for every resource as it is declared.

    Each resource keeps its aliases' URNs (``Resource._aliases``) only for
    engines without alias specs: ``prepare_aliases`` then reads a parent's
    (``all_aliases``). The mock monitor, like the engine, supports alias specs,
    so nothing reads them, but the SDK computes each one at once through five
    ``Output``s: pulumi-kubernetes gives every Deployment, Ingress, autoscaler...
    its old API versions as aliases (2,297 at 200 services). Only such an
    alias (a type and nothing else, which cannot fail) is deferred; read, it is
    the SDK's own ``Output``. One difference remains: the SDK's chain, applied
    to the parent's URN, takes that URN's ``Output`` off the list the runtime
    waits on at exit (its derived ``Output`` is tracked instead); deferred,
    the parent's URN stays on it until it resolves. That could only change
    which failure is reported when a parent's registration fails.
    """
    if (
        type(alias) is pulumi.Alias
        and type(alias.type_) is str
        and all(vars(alias)[unset] is ... for unset in ("name", "parent", "stack", "project"))
    ):
        return _DeferredOutput(lambda: _SDK_COLLAPSE_ALIAS_TO_URN(alias, name, type_, parent))
    return _SDK_COLLAPSE_ALIAS_TO_URN(alias, name, type_, parent)


@contextmanager
def offline_runtime() -> Iterator[None]:
    """For the length of an offline run, and restored afterwards: the SDK's per-resource Python stack walk (for
    source positions the mock monitor never reads) switched off, and the SDK functions this module stands in
    for (property structs, inputs, URNs, alias URNs, outputs, resource types) replaced by its own."""
    if os.environ.get(NO_SPEEDUPS):
        yield
        return
    # Read here, not at import: a test may stand a comparing function in for one of them.
    stand_ins = (
        (pulumi_resource, "_get_stack_trace", _no_stack_trace),
        (rpc, "deserialize_properties", deserialize_struct),
        (rpc, "serialize_properties", serialize_inputs),
        (pulumi_resource, "create_urn", known_urn),
        (_RESOURCE_API, "collapse_alias_to_urn", deferred_alias_urn),
        (rpc, "translate_output_properties", translate_outputs),
        (pulumi_types, "resource_types", resource_types),
    )
    saved = [(module, name, getattr(module, name)) for module, name, _ in stand_ins]
    for module, name, stand_in in stand_ins:
        setattr(module, name, stand_in)
    try:
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def run_function(
    function: Callable[[], Any],
    mocks: Mocks,
    *,
    project: str,
    stack: str,
    monitor: pulumi_mocks.MockMonitor | None = None,
) -> None:
    """Run a function that declares resources under ``mocks`` and wait for every registration."""
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()
    pulumi_mocks.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    try:
        _sync_await(run_pulumi_func(function))
    finally:
        pulumi_settings.set_root_resource(None)  # type: ignore[arg-type]


def _run_main() -> None:
    runpy.run_path(".", run_name="__main__")


@contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


__all__ = [
    "NO_SPEEDUPS",
    "RECORDED_OPTIONS",
    "REGISTER_RESOURCE_FIELDS",
    "MockCallArgs",
    "MockResourceArgs",
    "Mocks",
    "RecordingMonitor",
    "Registration",
    "engine_config",
    "is_secret",
    "offline_runtime",
    "pulumi",
    "run_function",
    "run_program",
]

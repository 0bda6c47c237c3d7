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
  Likewise ``rpc.serialize_properties`` is ``serialize_plain`` for a run: a
  bag of plain values (what the mock monitor answers with) becomes a
  ``Struct`` without the SDK's per-value coroutines; anything else, or any
  extra argument, is the SDK's own call.

``tests/test_offline_runtime.py`` and ``tests/test_layers.py`` pin the shapes relied on (the ``RegisterResource``
request's fields, the mock signatures): when the pinned SDK changes underneath,
that test fails first. Each item is worth raising upstream (a public way to
list config keys, an options-aware mock hook).
"""

from __future__ import annotations

import os
import runpy
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import struct_pb2
from pulumi.runtime import config as runtime_config
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.proto import source_pb2
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


#: The SDK's own, for what ``deserialize_struct`` and ``serialize_plain`` hand back to it (and to restore after a run).
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


async def serialize_plain(inputs: Any, property_deps: dict[str, list[Any]], *args: Any, **kwargs: Any) -> Any:
    """``rpc.serialize_properties``'s ``Struct`` for a bag of plain values, without a coroutine per value.

    The SDK passes plain values through as they are (a ``Struct`` then stores
    numbers as doubles and nested ``None`` as null) and leaves out top-level
    ``None``; each property depends on nothing.
    """
    if args or kwargs or type(inputs) is not dict or not _plain(inputs):
        return await _SDK_SERIALIZE_PROPERTIES(inputs, property_deps, *args, **kwargs)
    struct = struct_pb2.Struct()
    for key, value in inputs.items():
        if value is not None:
            struct[key] = value
            property_deps[key] = []
    return struct


def deserialize_struct(
    props_struct: struct_pb2.Struct, keep_unknowns: bool | None = None, keep_internal: bool | None = True
) -> Any:
    """``rpc.deserialize_properties``'s values, reading the ``Struct``'s fields directly.

    A struct carrying Pulumi's signature key (a secret, asset, archive,
    resource reference or output value), a non-default flag and the unknown
    sentinel go to the SDK's own functions; plain values are read as the SDK
    reads them (numbers stay floats, nulls and unknowns drop out of maps) and
    a secret inside a map or list makes the whole map or list secret, as the
    SDK does.
    """
    # ``keep_unknowns`` False and None mean the same to the SDK: unknowns read as None outside a preview.
    if keep_unknowns or keep_internal is not True or rpc._special_sig_key in props_struct.fields:
        return _SDK_DESERIALIZE_PROPERTIES(props_struct, keep_unknowns, keep_internal)
    output = {}
    for key, value in props_struct.fields.items():
        item = _deserialize_value(value)
        if item is not None:
            output[key] = item
    return output


def _deserialize_value(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        text = value.string_value
        return rpc.deserialize_property(text) if text == rpc.UNKNOWN else text
    if kind == "number_value":
        return value.number_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        props = deserialize_struct(value.struct_value)
        if isinstance(props, dict) and any(rpc.is_rpc_secret(item) for item in props.values()):
            return rpc.wrap_rpc_secret({key: rpc.unwrap_rpc_secret(item) for key, item in props.items()})
        return props
    if kind == "list_value":
        items = [_deserialize_value(item) for item in value.list_value.values]
        if any(rpc.is_rpc_secret(item) for item in items):
            return rpc.wrap_rpc_secret([rpc.unwrap_rpc_secret(item) for item in items])
        return items
    return None  # null_value, or no value at all


@contextmanager
def offline_runtime() -> Iterator[None]:
    """For the length of an offline run, and restored afterwards: the SDK's per-resource Python stack walk (for
    source positions the mock monitor never reads) switched off, and property structs deserialized by
    ``deserialize_struct`` and plain ones serialized by ``serialize_plain``."""
    if os.environ.get(NO_SPEEDUPS):
        yield
        return
    saved = pulumi_resource._get_stack_trace
    pulumi_resource._get_stack_trace = _no_stack_trace
    rpc.deserialize_properties = deserialize_struct
    rpc.serialize_properties = serialize_plain
    try:
        yield
    finally:
        pulumi_resource._get_stack_trace = saved
        rpc.deserialize_properties = _SDK_DESERIALIZE_PROPERTIES
        rpc.serialize_properties = _SDK_SERIALIZE_PROPERTIES


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

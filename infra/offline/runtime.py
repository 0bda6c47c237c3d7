"""Run the real Pulumi program under the SDK's mock runtime and record it.

``run_program`` does what the Python language host does for ``pulumi up``
(set the stack's config, change into ``infra/``, ``runpy.run_path`` the
program and wait for every registration), but against a mock resource monitor. The
monitor records each registration with the options the engine would see
(parent, protect, dependsOn, provider, ...), which ``Mocks.new_resource``
alone does not receive.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import runpy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from infra.config import PROJECT
from infra.cost import Resource
from infra.offline.stack_file import StackFile

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROGRAM_DIR = PROJECT_ROOT / "infra"
#: How a secret value is shown in every offline artefact.
SECRET_MASK = "[secret]"


@dataclass
class RecordedResource:
    """One registration, as the engine would have received it."""

    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    options: dict[str, Any]
    id: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        entry = {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "custom": self.custom,
            "inputs": mask_secrets(self.inputs, fingerprint=True),
            "options": self.options,
        }
        if not self.custom and self.outputs:
            # What a component registered (URLs, its footprint for cost): part of the desired state.
            entry["outputs"] = mask_secrets(self.outputs, fingerprint=True)
        return entry

    def view(self) -> Resource:
        """The resource as the cost estimate reads it."""
        return Resource(
            type=self.type, urn=self.urn, name=self.name, parent=self.parent, props=self.outputs or self.inputs
        )


class ProgramError(Exception):
    """The program failed for a reason other than invalid config."""


def mask_secrets(value: Any, *, fingerprint: bool = False) -> Any:
    """Replace every wrapped Pulumi secret by ``[secret]``; integral floats become ints.

    With ``fingerprint``, the mask carries a short hash of the (offline
    placeholder) value, ``[secret:1a2b3c4d]``, so that ``diff`` can tell a
    rotated secret from an unchanged one without ever showing either.
    """
    if rpc.is_rpc_secret(value):
        inner = value["value"]
        # A secret map (Secret.stringData) keeps its keys; only values are hidden.
        if isinstance(inner, dict):
            return {key: _mask(item, fingerprint) for key, item in inner.items()}
        return _mask(inner, fingerprint)
    if isinstance(value, dict):
        return {key: mask_secrets(item, fingerprint=fingerprint) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_secrets(item, fingerprint=fingerprint) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _mask(secret: Any, fingerprint: bool) -> str:
    if not fingerprint:
        return SECRET_MASK
    digest = hashlib.sha256(json.dumps(secret, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{SECRET_MASK[:-1]}:{digest}]"


def _provider_urn(reference: str) -> str | None:
    # "urn:pulumi:...::name::id" -> the URN part
    return reference.rsplit("::", 1)[0] if reference else None


class PlatformMocks(pulumi_mocks.Mocks):
    """Plausible, deterministic outputs for what the platform declares."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider-id", outputs
        if args.typ == "docker:index/image:Image":
            # The tag is a digest of the build context, so this changes exactly when the code does.
            image_name = str(outputs["imageName"])
            repository = image_name.rsplit(":", 1)[0]
            outputs["repoDigest"] = f"{repository}@sha256:{hashlib.sha256(image_name.encode()).hexdigest()}"
            return image_name, outputs
        metadata = outputs.get("metadata")
        if isinstance(metadata, dict) and args.typ.startswith("kubernetes:"):
            metadata = dict(metadata)
            if not metadata.get("name"):
                # The provider auto-names objects without metadata.name: <name>-<suffix>.
                # Hashing the inputs mirrors a replacement: new content, new name.
                content = json.dumps(args.inputs, sort_keys=True, default=str)
                metadata["name"] = f"{args.name}-{_short_hash(args.typ, args.name, content)}"
            outputs["metadata"] = metadata
            if args.typ == "kubernetes:core/v1:Service":
                spec = dict(outputs.get("spec") or {})
                spec.setdefault("clusterIP", _cluster_ip(args.name))
                outputs["spec"] = spec
            namespace = metadata.get("namespace")
            return (f"{namespace}/{metadata['name']}" if namespace else metadata["name"]), outputs
        return f"{args.name}-id", outputs

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that keeps every registration with its resource options."""

    def __init__(
        self, mocks: pulumi_mocks.Mocks, on_register: Callable[[RecordedResource], None] | None = None
    ) -> None:
        super().__init__(mocks)
        self.recorded: list[RecordedResource] = []
        self._by_urn: dict[str, RecordedResource] = {}
        self._on_register = on_register

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        """``MockMonitor.RegisterResource``, deserializing the inputs once and keeping them."""
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        _ensure_event_loop()  # type: ignore[no-untyped-call]
        inputs = rpc.deserialize_properties(request.object)
        mocked_id, state = self.mocks.new_resource(
            pulumi_mocks.MockResourceArgs(
                typ=request.type,
                name=request.name,
                inputs=inputs,
                provider=request.provider,
                resource_id=request.importId,
                custom=request.custom or False,
            )
        )
        resource_id = mocked_id or ""
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, resource_id, state)
        recorded = RecordedResource(
            urn=urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            custom=bool(request.custom),
            inputs=inputs,
            options={
                "protect": bool(request.protect) if request.HasField("protect") else False,
                "retainOnDelete": bool(request.retainOnDelete) if request.HasField("retainOnDelete") else False,
                "dependsOn": sorted(set(request.dependencies)),
                "provider": _provider_urn(request.provider),
                "deleteBeforeReplace": bool(request.deleteBeforeReplace),
                "ignoreChanges": list(request.ignoreChanges),
                "additionalSecretOutputs": list(request.additionalSecretOutputs),
                "replaceOnChanges": list(request.replaceOnChanges),
            },
            id=resource_id or None,
            outputs=state,
        )
        self.recorded.append(recorded)
        self._by_urn[urn] = recorded
        if self._on_register is not None:
            self._on_register(recorded)
        state_proto = _sync_await(rpc.serialize_properties(state, {}))
        return resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id, object=state_proto)

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        """Keep what components register as outputs (URLs, namespaces, ...)."""
        recorded = self._by_urn.get(request.urn)
        if recorded is not None and request.HasField("outputs"):
            recorded.outputs = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


def run_program(stack: StackFile, monitor: RecordingMonitor | None = None) -> list[RecordedResource]:
    """Run ``infra/__main__.py`` for ``stack`` under mocks; return what it registered.

    Raises ``ConfigError`` (from the program) for invalid config, and
    ``ProgramError`` for any other failure.
    """
    from infra.stack_config import ConfigError

    monitor = monitor or RecordingMonitor(PlatformMocks())
    set_all_config(dict(stack.values), sorted(stack.secret_keys))
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()
    pulumi_mocks.set_mocks(monitor.mocks, project=PROJECT, stack=stack.stack, preview=False, monitor=monitor)
    try:
        with _working_directory(PROGRAM_DIR):
            # What the language host does, minus its own root Stack: set_mocks made one.
            _sync_await(run_pulumi_func(_run_main))
    except pulumi.RunError as error:
        cause = error.__cause__ or error.__context__
        if isinstance(cause, ConfigError):
            raise cause from None
        raise ProgramError(f"{stack.display_path}: the program failed: {error}") from error
    except Exception as error:
        raise ProgramError(f"{stack.display_path}: the program failed: {type(error).__name__}: {error}") from error
    finally:
        pulumi_settings.set_root_resource(None)  # type: ignore[arg-type]
    return monitor.recorded


def _run_main() -> None:
    runpy.run_path(".", run_name="__main__")


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:8]


def _cluster_ip(name: str) -> str:
    digest = hashlib.sha256(name.encode()).digest()
    return f"10.96.{digest[0]}.{max(digest[1], 1)}"

"""Run the real Pulumi program under the SDK's mock runtime and record it.

``run_program`` does what the Python language host does for ``pulumi up``
(set the stack's config, change into ``infra/``, ``runpy.run_path`` the
program and wait for every registration), but against a mock resource monitor. The
monitor records each registration with the options the engine would see
(parent, protect, dependsOn, provider, ...), which ``Mocks.new_resource``
alone does not receive.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pulumi

from ai_platform_policies.cost import Resource
from infra import sdk
from infra.offline.stack_file import StackFile
from model.config import PROJECT

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROGRAM_DIR = PROJECT_ROOT / "infra"
#: How a secret value is shown in every offline artefact.
SECRET_MASK = "[secret]"


@contextmanager
def bounded_run() -> Iterator[None]:
    """No automatic garbage collection for one bounded offline run (render, check): restored afterwards.

    Everything alive at the start (the imported SDK, program and pack client,
    hundreds of thousands of objects) is frozen out of the collector's scans,
    and the collector does not run on its own during the run. The SDK
    allocates futures, tasks and ``Output``s by the hundred thousand and keeps
    most of them to the end: each collection rescanned them to free little
    (at 1000 services, rendering took 22.3 s and 932 MiB with young collections
    every 100,000 allocations, 17.1 s and 999 MiB with none). The run is
    bounded by the stack's size; what it leaves is freed by the next full
    collection after it. Nested runs leave it to the outermost.
    """
    if gc.get_freeze_count() or os.environ.get(sdk.NO_SPEEDUPS):
        yield
        return
    saved = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(0)  # automatic collection off
    try:
        yield
    finally:
        # Restored as it is, the default threshold would at once collect the young generations the run filled:
        # millions of objects scanned (0.9 s of CPU at 200 services) just before a CLI exits. They join the
        # oldest generation instead, whose next full collection still frees their cycles.
        gc.freeze()
        gc.set_threshold(*saved)
        gc.unfreeze()


class RecordedResource(sdk.Registration):
    """One registration, as the engine would have received it."""

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
    if sdk.is_secret(value):
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


class PlatformMocks(sdk.Mocks):
    """Plausible, deterministic outputs for what the platform declares."""

    def new_resource(self, args: sdk.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider-id", outputs
        if args.typ == "random:index/randomBytes:RandomBytes":
            # Deterministic stand-ins for what the provider draws once and keeps in state.
            drawn = hashlib.sha256(f"{args.typ}/{args.name}".encode()).digest()[: int(outputs["length"])]
            outputs["base64"] = base64.b64encode(drawn).decode()
            outputs["hex"] = drawn.hex()
            return f"{args.name}-id", outputs
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

    def call(self, args: sdk.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


def recording_monitor(on_register: Any = None) -> sdk.RecordingMonitor:
    """A monitor that records every registration as a ``RecordedResource``."""
    return sdk.RecordingMonitor(PlatformMocks(), on_register=on_register, record_as=RecordedResource)


def run_program(stack: StackFile, monitor: sdk.RecordingMonitor | None = None) -> list[RecordedResource]:
    """Run ``infra/__main__.py`` for ``stack`` under mocks; return what it registered.

    Raises ``ConfigError`` (from the program) for invalid config, and
    ``ProgramError`` for any other failure.
    """
    from model.stack_config import ConfigError

    monitor = monitor or recording_monitor()
    try:
        sdk.run_program(
            PROGRAM_DIR,
            monitor,
            project=PROJECT,
            stack=stack.stack,
            config=stack.values,
            secret_keys=stack.secret_keys,
        )
    except pulumi.RunError as error:
        cause = error.__cause__ or error.__context__
        if isinstance(cause, ConfigError):
            raise cause from None
        raise ProgramError(f"{stack.display_path}: the program failed: {error}") from error
    except Exception as error:
        raise ProgramError(f"{stack.display_path}: the program failed: {type(error).__name__}: {error}") from error
    resources = [resource for resource in monitor.in_tree_order() if isinstance(resource, RecordedResource)]
    repeated = sorted(urn for urn, count in Counter(resource.urn for resource in resources).items() if count > 1)
    if repeated:
        # The engine refuses the whole update ("Duplicate resource URN"); so does the offline check.
        raise ProgramError(f"{stack.display_path}: the program declares a resource URN twice: {', '.join(repeated)}")
    return resources


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:8]


def _cluster_ip(name: str) -> str:
    digest = hashlib.sha256(name.encode()).digest()
    return f"10.96.{digest[0]}.{max(digest[1], 1)}"

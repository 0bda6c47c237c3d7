"""Run the policy pack over a rendered stack through Pulumi's analyzer gRPC protocol.

This is the engine's side of ``pulumi preview --policy-pack policies
--policy-pack-config policies/config/<env>.json``, done once per check:

1. start the pack as the engine does (``python -u -m pulumi.policy <engine> .``
   from the pack's folder, with the stack's config in the environment) and
   read the port it prints;
2. ``ConfigureStack``, ``GetAnalyzerInfo``, then ``Configure`` with the
   reconciled config (schema defaults, then the file's ``all`` level, then
   per-policy levels and properties, validated against each policy's schema);
3. ``Analyze`` every registered resource with its inputs and options (sent
   concurrently), then ``AnalyzeStack`` once with every resource's outputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import jsonschema
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from infra.config import PROJECT
from infra.offline.runtime import PROJECT_ROOT, RecordedResource
from infra.offline.stack_file import StackFile

POLICY_PACK_DIR = PROJECT_ROOT / "policies"
#: The engine passes its own address; the pack only needs it for logging, offline there is none.
_NO_ENGINE = "127.0.0.1:0"
_LEVELS = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
_LEVEL_VALUES = {name: value for value, name in _LEVELS.items()}
_START_TIMEOUT_SECONDS = 60
#: The engine's limits: a whole-stack AnalyzeStack of a large fleet is tens of MB.
_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", 400 * 1024 * 1024),
    ("grpc.max_receive_message_length", 400 * 1024 * 1024),
]
#: Analyze calls in flight at once; the pack serves them on a few threads anyway.
_IN_FLIGHT = 64


class PolicyPackError(Exception):
    """The pack could not be started or answered with an error."""


class PolicyConfigError(Exception):
    """The policy config file is invalid (the engine would refuse it too)."""


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement_level: str
    urn: str
    message: str

    @property
    def blocks(self) -> bool:
        return self.enforcement_level in ("mandatory", "remediate")

    def as_json(self) -> dict[str, str]:
        return {
            "policy": self.policy,
            "enforcementLevel": self.enforcement_level,
            "urn": self.urn,
            "message": self.message,
        }


@dataclass
class PolicyEntry:
    level: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


def policy_config_path(environment: str) -> Path:
    return POLICY_PACK_DIR / "config" / f"{environment}.json"


def load_policy_config(path: Path) -> dict[str, PolicyEntry]:
    """Parse a ``--policy-pack-config`` file: ``{"all": level, "<policy>": level | {enforcementLevel, ...}}``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PolicyConfigError(f"{path}: cannot read ({error.strerror})") from None
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise PolicyConfigError(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from None
    if not isinstance(document, dict):
        raise PolicyConfigError(f"{path}: must be a JSON object of policy names")
    entries = {}
    for name, value in document.items():
        if isinstance(value, str):
            entries[name] = PolicyEntry(level=_level(path, name, value))
        elif isinstance(value, dict):
            properties = dict(value)
            level = properties.pop("enforcementLevel", None)
            entries[name] = PolicyEntry(
                level=_level(path, name, level) if level is not None else None, properties=properties
            )
        else:
            raise PolicyConfigError(f"{path}: {name}: must be an enforcement level or an object")
    return entries


def _level(path: Path, name: str, value: object) -> str:
    if not isinstance(value, str) or value not in _LEVEL_VALUES:
        raise PolicyConfigError(
            f"{path}: {name}: {value!r} is not an enforcement level (advisory, mandatory, remediate, disabled)"
        )
    return value


def reconcile(info: analyzer_pb2.AnalyzerInfo, given: Mapping[str, PolicyEntry], source: str) -> dict[str, PolicyEntry]:
    """What the engine sends to ``Configure``: defaults, then ``all``, then each policy's own entry."""
    known = {policy.name: policy for policy in info.policies}
    unknown = sorted(set(given) - set(known) - {"all"})
    if unknown:
        raise PolicyConfigError(f"{source}: no policy named {', '.join(unknown)} in pack {info.name}")
    result: dict[str, PolicyEntry] = {}
    for name, policy in known.items():
        schema = json_format.MessageToDict(policy.configSchema.properties)
        defaults = {key: spec["default"] for key, spec in schema.items() if "default" in spec}
        result[name] = PolicyEntry(level=_LEVELS[policy.enforcementLevel], properties=defaults)
    everything = given.get("all")
    if everything is not None and everything.level is not None:
        for entry in result.values():
            entry.level = everything.level
    for name, entry in given.items():
        if name == "all":
            continue
        if entry.level is not None:
            result[name].level = entry.level
        result[name].properties.update(entry.properties)
    problems = []
    for name, policy in known.items():
        schema = {
            "type": "object",
            "properties": json_format.MessageToDict(policy.configSchema.properties),
            "required": list(policy.configSchema.required),
        }
        for error in jsonschema.Draft7Validator(schema).iter_errors(result[name].properties):
            where = ".".join(str(part) for part in error.absolute_path)
            problems.append(f"{source}: {name}{'.' + where if where else ''}: {error.message}")
    if problems:
        raise PolicyConfigError("\n".join(problems))
    return result


class PolicyPackProcess:
    """One running policy pack and a gRPC client to it."""

    def __init__(self, pack_dir: Path, env: Mapping[str, str]) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process; closed in close()
        self._process = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.policy", _NO_ENGINE, "."],
            cwd=pack_dir,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        port = self._read_port()
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=_CHANNEL_OPTIONS)
        try:
            grpc.channel_ready_future(self._channel).result(timeout=_START_TIMEOUT_SECONDS)
        except grpc.FutureTimeoutError:
            self.close()
            raise PolicyPackError(f"the policy pack on port {port} did not accept a connection") from None
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)

    def _read_port(self) -> int:
        assert self._process.stdout is not None
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self._process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(_START_TIMEOUT_SECONDS)
        text = line[0].decode().strip() if line else ""
        if not text.isdigit():
            self.close()
            raise PolicyPackError(f"the policy pack did not start:\n{self.stderr_tail()}")
        return int(text)

    def stderr_tail(self, limit: int = 4000) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-limit:]

    def close(self) -> None:
        if hasattr(self, "_channel"):
            self._channel.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._stderr.close()


#: Linux refuses a single environment variable over 128 KiB (MAX_ARG_STRLEN).
_ENV_LIMIT = 120 * 1024


def _config_env(values: Mapping[str, str]) -> str:
    """The stack config as the engine passes it; very large values are left out.

    The engine hands config to the pack in ``PULUMI_CONFIG``. A fleet of
    hundreds of services makes ``ai-platform:services`` alone exceed what
    Linux allows in one variable (the Pulumi CLI hits the same limit); the
    pack reads only small keys such as ``ai-platform:registry``.
    """
    config = dict(values)
    text = json.dumps(config)
    while len(text) > _ENV_LIMIT and config:
        largest = max(config, key=lambda key: len(config[key]))
        print(
            f"note: {largest} ({len(config[largest])} bytes) is too large to pass to the policy pack", file=sys.stderr
        )
        del config[largest]
        text = json.dumps(config)
    return text


@contextmanager
def policy_pack(stack: StackFile, pack_dir: Path = POLICY_PACK_DIR) -> Iterator[PolicyPackProcess]:
    """Start the pack with the stack's config in its environment, as the engine does."""
    env = {
        "PULUMI_CONFIG": _config_env(stack.values),
        "PULUMI_PROJECT": PROJECT,
        "PULUMI_STACK": stack.stack,
        "PULUMI_DRY_RUN": "true",
    }
    process = PolicyPackProcess(pack_dir, env)
    try:
        yield process
    finally:
        process.close()


class PolicySession:
    """A configured pack: each resource is analyzed as it arrives, the whole stack at the end.

    ``analyze`` may be called from the mock monitor while the program is still
    running, so the pack (its own process, its own core) judges resources
    while later ones are being declared.
    """

    def __init__(
        self, pack: PolicyPackProcess, stack: StackFile, config: Mapping[str, PolicyEntry], source: str
    ) -> None:
        self._pack = pack
        self._stub = pack.stub
        self._known: dict[str, RecordedResource] = {}
        self._pending: list[tuple[str, Any]] = []
        self._in_flight: deque[Any] = deque()
        self._lock = threading.Lock()
        try:
            self._stub.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(stack=stack.stack, project=PROJECT))
            info = self._stub.GetAnalyzerInfo(empty_pb2.Empty())
            reconciled = reconcile(info, config, source)
            self._stub.Configure(
                analyzer_pb2.ConfigureAnalyzerRequest(
                    policyConfig={
                        name: analyzer_pb2.PolicyConfig(
                            enforcementLevel=_LEVEL_VALUES[entry.level or "advisory"],
                            properties=_struct(entry.properties),
                        )
                        for name, entry in reconciled.items()
                    }
                )
            )
        except grpc.RpcError as error:
            raise self._failure(error) from None

    def analyze(self, resource: RecordedResource) -> None:
        """Send one resource (its inputs and options) to ``Analyze`` without waiting."""
        with self._lock:
            self._known[resource.urn] = resource
            request = _analyze_request(resource, self._known)
            while len(self._in_flight) >= _IN_FLIGHT:
                self._in_flight.popleft().exception()  # wait; errors surface in finish()
            answer = self._stub.Analyze.future(request)
            self._in_flight.append(answer)
            self._pending.append((resource.urn, answer))

    def finish(self, resources: list[RecordedResource]) -> list[Violation]:
        """Collect every ``Analyze`` answer, then ``AnalyzeStack`` over the final outputs."""
        by_urn = {resource.urn: resource for resource in resources}
        violations: list[Violation] = []
        try:
            for urn, answer in self._pending:
                violations.extend(_violations(answer.result(), urn))
            stack_answer = self._stub.AnalyzeStack(
                analyzer_pb2.AnalyzeStackRequest(resources=[_stack_resource(r, by_urn) for r in resources])
            )
        except grpc.RpcError as error:
            raise self._failure(error) from None
        violations.extend(_violations(stack_answer, ""))
        return violations

    def _failure(self, error: grpc.RpcError) -> PolicyPackError:
        return PolicyPackError(f"the policy pack failed: {error.details()}\n{self._pack.stderr_tail()}")


def evaluate(
    pack: PolicyPackProcess,
    stack: StackFile,
    resources: list[RecordedResource],
    config: Mapping[str, PolicyEntry],
    source: str,
) -> list[Violation]:
    """Configure the running pack and analyze already recorded resources, then the whole stack."""
    session = PolicySession(pack, stack, config, source)
    for resource in resources:
        session.analyze(resource)
    return session.finish(resources)


def _violations(response: analyzer_pb2.AnalyzeResponse, urn: str) -> Iterator[Violation]:
    for diagnostic in response.diagnostics:
        message = diagnostic.message
        prefix = f"{diagnostic.description}\n"
        if message.startswith(prefix):
            message = message[len(prefix) :]
        yield Violation(
            policy=diagnostic.policyName,
            enforcement_level=_LEVELS[diagnostic.enforcementLevel],
            urn=diagnostic.urn or urn,
            message=message,
        )


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(dict(values))
    return struct


def _options(resource: RecordedResource) -> analyzer_pb2.AnalyzerResourceOptions:
    options = resource.options
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=bool(options["protect"]),
        ignoreChanges=list(options["ignoreChanges"]),
        deleteBeforeReplace=bool(options["deleteBeforeReplace"]),
        deleteBeforeReplaceDefined=bool(options["deleteBeforeReplace"]),
        additionalSecretOutputs=list(options["additionalSecretOutputs"]),
        customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(),
        parent=resource.parent or "",
    )


def _provider(
    resource: RecordedResource, by_urn: Mapping[str, RecordedResource]
) -> analyzer_pb2.AnalyzerProviderResource | None:
    provider = by_urn.get(resource.options.get("provider") or "")
    if provider is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        urn=provider.urn, type=provider.type, name=provider.name, properties=_struct(provider.inputs)
    )


def _analyze_request(resource: RecordedResource, by_urn: Mapping[str, RecordedResource]) -> analyzer_pb2.AnalyzeRequest:
    return analyzer_pb2.AnalyzeRequest(
        type=resource.type,
        properties=_struct(resource.inputs),
        urn=resource.urn,
        name=resource.name,
        options=_options(resource),
        provider=_provider(resource, by_urn),
    )


def _stack_resource(
    resource: RecordedResource, by_urn: Mapping[str, RecordedResource]
) -> analyzer_pb2.AnalyzerResource:
    return analyzer_pb2.AnalyzerResource(
        type=resource.type,
        properties=_struct(resource.outputs or resource.inputs),
        urn=resource.urn,
        name=resource.name,
        options=_options(resource),
        provider=_provider(resource, by_urn),
        parent=resource.parent or "",
        dependencies=list(resource.options["dependsOn"]),
    )

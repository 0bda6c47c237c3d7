"""An analyzer session with a running pack: ``ConfigureStack``, ``Configure``, ``Analyze``, ``AnalyzeStack``.

The engine's side of ``pulumi preview --policy-pack``: every registered
resource is analyzed with its inputs and options (sent concurrently, while the
program is still declaring later ones), then the whole stack once with every
resource's outputs.
"""

from __future__ import annotations

import io
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2

from infra import sdk
from infra.offline.pack_process import PolicyPackError, PolicyPackProcess
from infra.offline.policy_config import LEVEL_VALUES, LEVELS, PolicyEntry, reconcile
from infra.offline.runtime import RecordedResource
from infra.offline.stack_file import StackFile
from model.config import PROJECT

#: Analyze calls in flight at once; the pack serves them on a few threads anyway.
_IN_FLIGHT = 64


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


class PolicySession:
    """A configured pack: each resource is analyzed as it arrives, the whole stack at the end.

    ``analyze`` may be called from the mock monitor while the program is still
    running, so the pack (its own process, its own core) judges resources
    while later ones are being declared.
    """

    def __init__(
        self,
        pack: PolicyPackProcess,
        stack: StackFile,
        config: Mapping[str, PolicyEntry],
        source: str,
        on_judged: Callable[[int], None] | None = None,
    ) -> None:
        self._pack = pack
        self._on_judged = on_judged
        self._judged = 0
        self._stub = pack.stub
        self._known: dict[str, RecordedResource] = {}
        self._pending: list[tuple[str, Any]] = []
        self._stack_answer: Any = None
        self._in_flight: deque[Any] = deque()
        self._lock = threading.Lock()
        self._judged_lock = threading.Lock()
        try:
            self._stub.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(stack=stack.stack, project=PROJECT))
            info = self._stub.GetAnalyzerInfo(empty_pb2.Empty())
            reconciled = reconcile(info, config, source)
            self._stub.Configure(
                analyzer_pb2.ConfigureAnalyzerRequest(
                    policyConfig={
                        name: analyzer_pb2.PolicyConfig(
                            enforcementLevel=LEVEL_VALUES[entry.level or "advisory"],
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
            if self._on_judged is not None:
                answer.add_done_callback(self._count_judged)
            self._in_flight.append(answer)
            self._pending.append((resource.urn, answer))

    def _count_judged(self, _answer: Any) -> None:
        """On a gRPC thread, as each answer arrives: tell how many resources the pack has judged."""
        with self._judged_lock:
            self._judged += 1
            judged = self._judged
        assert self._on_judged is not None
        self._on_judged(judged)

    def judge_stack(self, resources: list[RecordedResource]) -> None:
        """Send ``AnalyzeStack`` over the final outputs without waiting: the pack judges the stack while the
        caller validates manifests. ``finish`` collects the answer (and sends it itself if this was not called,
        or with ``AI_PLATFORM_NO_SPEEDUPS``)."""
        if os.environ.get(sdk.NO_SPEEDUPS):
            return
        by_urn = {resource.urn: resource for resource in resources}
        self._stack_answer = self._pack.analyze_stack_serialized.future(_stack_request_bytes(resources, by_urn))

    def finish(self, resources: list[RecordedResource]) -> list[Violation]:
        """Every ``Analyze`` answer, then the ``AnalyzeStack`` one (asked for now unless ``judge_stack`` did)."""
        by_urn = {resource.urn: resource for resource in resources}
        # Findings in the order of ``resources`` (deterministic), not in the order answers were asked for.
        rank = {resource.urn: index for index, resource in enumerate(resources)}
        pending = sorted(self._pending, key=lambda item: rank.get(item[0], len(rank)))
        violations: list[Violation] = []
        try:
            for urn, answer in pending:
                violations.extend(_violations(answer.result(), urn))
            if self._stack_answer is not None:
                stack_answer = self._stack_answer.result()
            elif os.environ.get(sdk.NO_SPEEDUPS):
                stack_answer = self._stub.AnalyzeStack(
                    analyzer_pb2.AnalyzeStackRequest(resources=[_stack_resource(r, by_urn) for r in resources])
                )
            else:
                stack_answer = self._pack.analyze_stack_serialized(_stack_request_bytes(resources, by_urn))
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
            enforcement_level=LEVELS[diagnostic.enforcementLevel],
            urn=diagnostic.urn or urn,
            message=message,
        )


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(dict(values))
    return struct


def _wire_inputs(resource: RecordedResource) -> struct_pb2.Struct:
    """The inputs exactly as the SDK serialized them for the engine: a secret stays on the field the program
    marked (``registry.password``), not on the object around it, as the SDK's deserialized view has it."""
    if resource.wire_inputs is not None:
        return resource.wire_inputs  # type: ignore[no-any-return]
    return _struct(resource.inputs)


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
        properties=_wire_inputs(resource),
        urn=resource.urn,
        name=resource.name,
        options=_options(resource),
        provider=_provider(resource, by_urn),
    )


def _stack_request_bytes(resources: list[RecordedResource], by_urn: Mapping[str, RecordedResource]) -> bytes:
    """The serialized ``AnalyzeStackRequest``, built one resource at a time.

    A repeated field is encoded as its elements one after another, so this is
    byte for byte what serializing the whole message gives; but only the bytes
    exist at once, not every ``AnalyzerResource`` plus a copy of each in the
    request (about 190 MiB at 1000 services, on top of the render).
    """
    out = io.BytesIO()
    for resource in resources:
        out.write(analyzer_pb2.AnalyzeStackRequest(resources=[_stack_resource(resource, by_urn)]).SerializeToString())
    return out.getvalue()


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

"""The policy pack as a process, started the way the Pulumi engine starts it.

``python -u -m pulumi.policy <engine> .`` from the pack's folder, with the
stack's config in ``PULUMI_CONFIG``; it prints the port of its analyzer gRPC
server on its first line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import grpc
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from infra.offline.policy_config import POLICY_PACK_DIR
from infra.offline.stack_file import StackFile
from model.config import PROJECT

#: The engine passes its own address; the pack only needs it for logging, offline there is none.
_NO_ENGINE = "127.0.0.1:0"
_START_TIMEOUT_SECONDS = 60
#: The engine's limits: a whole-stack AnalyzeStack of a large fleet is tens of MB.
_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", 400 * 1024 * 1024),
    ("grpc.max_receive_message_length", 400 * 1024 * 1024),
]


class PolicyPackError(Exception):
    """The pack could not be started or answered with an error."""


def _method_path(name: str) -> str:
    """The gRPC path of one of the Analyzer service's methods, as the generated stub calls it."""
    method = analyzer_pb2.DESCRIPTOR.services_by_name["Analyzer"].methods_by_name[name]
    return f"/{method.containing_service.full_name}/{method.name}"


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
        #: ``AnalyzeStack`` taking its request already serialized, so the caller never holds the whole message.
        self.analyze_stack_serialized = self._channel.unary_unary(
            _method_path("AnalyzeStack"),
            request_serializer=None,
            response_deserializer=analyzer_pb2.AnalyzeResponse.FromString,
        )

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
def policy_pack(
    stack: StackFile, pack_dir: Path = POLICY_PACK_DIR, extra_env: Mapping[str, str] | None = None
) -> Iterator[PolicyPackProcess]:
    """Start the pack with the stack's config in its environment, as the engine does."""
    env = {
        **(extra_env or {}),
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

"""The one module of the pack that reaches into ``pulumi_policy``'s internals (pinned: pulumi-policy==1.21.0).

What is used here, and why (each worth raising upstream):

- ``pulumi_policy.proxy.UnknownValueError`` and the class ``not_applicable()``
  raises: the SDK's own signals, which a rule must let through to the servicer.
- ``pulumi_policy.policy._PolicyAnalyzerServicer``: its ``Analyze`` converts a
  resource's properties (``json_format.MessageToDict``) once *per policy*, about
  26 times per resource (then ``deserialize_properties`` and
  ``unknown_checking_proxy`` rebuild the same tree again per policy; the stack
  call does the same for every resource and every stack policy), and every
  call re-parses the stack's whole ``PULUMI_CONFIG``
  (``_configure_runtime_settings``). ``install`` keeps the servicer's code and
  only makes the repeatable steps happen once: each message converted,
  deserialized and proxied once per call, and the runtime settings once per
  thread for a given environment. The policies of one call then share one
  read-only view of a resource: the pack's rules never write to ``props``
  (``tests/test_pack_sdk_shim.py`` runs every rule with writes refused).

``tests/test_pack_sdk_shim.py`` pins the shapes relied on; when the pinned
``pulumi_policy`` changes underneath, it fails first.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from pulumi_policy import StackValidationArgs
from pulumi_policy import policy as policy_module
from pulumi_policy.proxy import UnknownValueError

#: What the servicer reads from the environment to configure the runtime.
RUNTIME_ENVIRONMENT = ("PULUMI_CONFIG", "PULUMI_PROJECT", "PULUMI_STACK", "PULUMI_DRY_RUN", "PULUMI_ORGANIZATION")

_local = threading.local()


def _not_applicable_error() -> type[BaseException]:
    """The exception ``args.not_applicable()`` raises (its class is private to the SDK)."""
    try:
        StackValidationArgs([]).not_applicable()
    except Exception as error:  # noqa: BLE001 - learning which class the SDK raises
        return type(error)
    raise AssertionError("StackValidationArgs.not_applicable() did not raise")


#: Signals the SDK's servicer handles itself: unknown values during preview, and not_applicable.
SDK_SIGNALS: tuple[type[BaseException], ...] = (UnknownValueError, _not_applicable_error())


def _once_per_call(step: Callable[[Any], Any]) -> Callable[..., Any]:
    """``step(value)`` remembered for the length of one servicer call (other signatures pass through)."""

    def remembered(value: Any, *args: Any, **kwargs: Any) -> Any:
        memo: dict[tuple[int, int], tuple[Any, Any]] | None = getattr(_local, "memo", None)
        if memo is None or args or kwargs:
            return step(value, *args, **kwargs)
        # The value is kept in the memo, so its id cannot be reused while the call lasts.
        key = (id(step), id(value))
        hit = memo.get(key)
        if hit is None or hit[0] is not value:
            hit = (value, step(value))
            memo[key] = hit
        return hit[1]

    return remembered


def _message_to_dict(message: Any, *args: Any, **kwargs: Any) -> Any:
    """Looked up on every call, so a test can count the real conversions."""
    return json_format.MessageToDict(message, *args, **kwargs)


class _OncePerCall:
    """``json_format`` as the servicer module sees it: ``MessageToDict`` remembered within one RPC."""

    MessageToDict = staticmethod(_once_per_call(_message_to_dict))

    def __getattr__(self, name: str) -> Any:
        return getattr(json_format, name)


def _remembering(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Any, request: Any, context: Any) -> Any:
        _local.memo = {}
        try:
            return method(self, request, context)
        finally:
            _local.memo = None

    return call


def _once_per_environment(method: Callable[[Any], None]) -> Callable[[Any], None]:
    @functools.wraps(method)
    def configure(self: Any) -> None:
        key = tuple(os.environ.get(name) for name in RUNTIME_ENVIRONMENT)
        if getattr(_local, "configured", None) == key:
            return
        method(self)
        _local.configured = key

    return configure


def install() -> None:
    """Make the servicer's repeated conversions happen once (idempotent).

    ``AI_PLATFORM_NO_SPEEDUPS`` set leaves the servicer as the SDK wrote it (the
    benchmark's comparison run).
    """
    servicer = policy_module._PolicyAnalyzerServicer
    if getattr(servicer, "_ai_platform_installed", False) or os.environ.get("AI_PLATFORM_NO_SPEEDUPS"):
        return
    policy_module.json_format = _OncePerCall()  # type: ignore[attr-defined,assignment]
    policy_module.deserialize_properties = _once_per_call(policy_module.deserialize_properties)  # type: ignore[attr-defined]
    policy_module.unknown_checking_proxy = _once_per_call(policy_module.unknown_checking_proxy)  # type: ignore[attr-defined]
    servicer.Analyze = _remembering(servicer.Analyze)  # type: ignore[method-assign]
    servicer.AnalyzeStack = _remembering(servicer.AnalyzeStack)  # type: ignore[method-assign]
    servicer._configure_runtime_settings = _once_per_environment(  # type: ignore[method-assign]
        servicer._configure_runtime_settings
    )
    servicer._ai_platform_installed = True  # type: ignore[attr-defined]


def installed() -> bool:
    return bool(getattr(policy_module._PolicyAnalyzerServicer, "_ai_platform_installed", False))


__all__ = ["RUNTIME_ENVIRONMENT", "SDK_SIGNALS", "UnknownValueError", "install", "installed"]

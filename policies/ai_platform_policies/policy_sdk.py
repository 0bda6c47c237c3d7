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
  deserialized and proxied at most once per call, when a policy first reads
  its properties (``_View``: in ``AnalyzeStack`` most resources are of types
  no stack policy reads, and building every view up front held them all for
  the whole call), and the runtime settings once per thread for a given
  environment. The policies of one call then share one read-only view of a
  resource: the pack's rules never write to ``props``
  (``tests/test_pack_sdk_shim.py`` runs every rule with writes refused). A
  view answers a key the message does not hold without being built (the
  budget asks every resource for a ``footprint`` only components have), and
  a message no policy read is converted at the end of the call only if a
  scan of its bytes says the SDK could refuse it (a NaN or infinite number,
  Pulumi's signature key), to fail the call as the SDK would.
- ``_get_resource_options`` and ``_get_provider_resource``: ``AnalyzeStack``
  turns every resource's options and provider into the SDK's objects again
  for every stack policy; ``install`` makes that once per call.

``tests/test_pack_sdk_shim.py`` pins the shapes relied on; when the pinned
``pulumi_policy`` changes underneath, it fails first.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi_policy import StackValidationArgs, deserialize, proxy
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


def _message_to_dict(message: Any, *args: Any, **kwargs: Any) -> Any:
    """Looked up on every call, so a test can count the real conversions."""
    return json_format.MessageToDict(message, *args, **kwargs)


#: The SDK's own steps, from the modules that define them (``install`` replaces the servicer module's names).
_deserialize_properties = deserialize.deserialize_properties
_unknown_checking_proxy = proxy.unknown_checking_proxy


class _View(proxy._DictProxy):
    """``unknown_checking_proxy(deserialize_properties(MessageToDict(message)))``, built when a policy first reads it.

    ``AnalyzeStack`` hands every stack policy every resource at once; built
    eagerly, each resource's view (a proxy and a path list per node, several
    times the message's size) stays alive for the whole call. Stack policies
    read the few types they judge, so most views are never built (the call
    still converts each unread message once at its end, keeping nothing, to
    fail as the SDK does on what it refuses), and of a view only the proxy is
    kept, not the two intermediate dicts.
    """

    def __init__(self, message: Any) -> None:  # not the SDK's: the real proxy is built on first read
        self._message = message
        self._view: Any = None

    def _built(self) -> Any:
        if self._view is None:
            self._view = _unknown_checking_proxy(_deserialize_properties(_message_to_dict(self._message)))
        return self._view

    def built(self) -> bool:
        return self._view is not None

    def __getitem__(self, key: Any) -> Any:
        if self._view is None and type(key) is str and key != "__target" and _lacks(self._message, key):
            raise KeyError(key)  # absent from the message, so from the view: nothing to build to say so
        return self._built()[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._built()[key] = value

    def __len__(self) -> int:
        return len(self._built())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._built())


def _lacks(message: Any, key: str) -> bool:
    """Whether a ``Struct`` has no such field (of any other message, as of anything ``_could_be_refused`` cannot
    scan, nothing is assumed)."""
    return isinstance(message, struct_pb2.Struct) and key not in message.fields


class _Unread:
    """Within one servicer call, what ``MessageToDict`` hands the servicer: the message, and its view once asked for.

    The servicer passes the result straight to ``deserialize_properties`` and that
    to ``unknown_checking_proxy`` (``tests/test_pack_sdk_shim.py`` pins it), which
    hand back the same ``_View`` for every policy of the call.
    """

    __slots__ = ("message", "view")

    def __init__(self, message: Any) -> None:
        self.message = message
        self.view: _View | None = None


def _to_dict(message: Any, *args: Any, **kwargs: Any) -> Any:
    memo: dict[int, _Unread] | None = getattr(_local, "memo", None)
    if memo is None or args or kwargs:
        return _message_to_dict(message, *args, **kwargs)
    # The message is kept in the memo, so its id cannot be reused while the call lasts.
    unread = memo.get(id(message))
    if unread is None or unread.message is not message:
        unread = memo[id(message)] = _Unread(message)
    return unread


def _deserialize(value: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(value, _Unread):
        if args or kwargs:
            return _deserialize_properties(_message_to_dict(value.message), *args, **kwargs)
        return value
    return _deserialize_properties(value, *args, **kwargs)


def _proxy(value: Any) -> Any:
    if isinstance(value, _Unread):
        if value.view is None:
            value.view = _View(value.message)
        return value.view
    return _unknown_checking_proxy(value)


class _OncePerCall:
    """``json_format`` as the servicer module sees it: ``MessageToDict`` deferred and shared within one RPC."""

    MessageToDict = staticmethod(_to_dict)

    def __getattr__(self, name: str) -> Any:
        return getattr(json_format, name)


def _remembering(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Any, request: Any, context: Any) -> Any:
        memo: dict[int, _Unread] = {}
        _local.memo = memo
        _local.per_request = {}
        try:
            response = method(self, request, context)
            # What the SDK refuses while converting (NaN, a malformed secret) fails the call as it did when every
            # message was converted up front, also when no policy read it; nothing of it is kept.
            for unread in memo.values():
                if (unread.view is None or not unread.view.built()) and _could_be_refused(unread.message):
                    _deserialize_properties(_message_to_dict(unread.message))
            return response
        finally:
            _local.memo = None
            _local.per_request = None

    return call


#: How a NaN or infinite ``Value.number_value`` (field 2, a fixed 64-bit double) is encoded: its exponent bits set.
_NON_FINITE_NUMBER = re.compile(rb"\x11[\s\S]{6}[\xf0-\xff][\x7f\xff]")
_SIGNATURE = deserialize.SPECIAL_SIG_KEY.encode()


def _could_be_refused(message: Any) -> bool:
    """Whether converting a message could fail: ``MessageToDict`` refuses only NaN and infinite numbers, and
    ``deserialize_properties`` only what carries Pulumi's signature key. A scan of its bytes: it may say yes
    wrongly (then the message is converted), never no."""
    if not isinstance(message, struct_pb2.Struct):
        return True
    data = message.SerializeToString()
    return _SIGNATURE in data or _NON_FINITE_NUMBER.search(data) is not None


def _once_per_request(method: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A servicer step that turns one request's options or provider into the SDK's objects, once per call:
    ``AnalyzeStack`` asks again for every resource and every stack policy."""

    @functools.wraps(method)
    def once(self: Any, request: Any) -> Any:
        memo: dict[tuple[str, int], tuple[Any, Any]] | None = getattr(_local, "per_request", None)
        if memo is None:
            return method(self, request)
        key = (method.__name__, id(request))
        known = memo.get(key)
        if known is None or known[0] is not request:  # the request is kept, so its id is not reused
            known = memo[key] = (request, method(self, request))
        return known[1]

    return once


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
    policy_module.deserialize_properties = _deserialize  # type: ignore[attr-defined,assignment]
    policy_module.unknown_checking_proxy = _proxy  # type: ignore[attr-defined,assignment]
    servicer.Analyze = _remembering(servicer.Analyze)  # type: ignore[method-assign]
    servicer.AnalyzeStack = _remembering(servicer.AnalyzeStack)  # type: ignore[method-assign]
    servicer._configure_runtime_settings = _once_per_environment(  # type: ignore[method-assign]
        servicer._configure_runtime_settings
    )
    servicer._get_resource_options = _once_per_request(servicer._get_resource_options)  # type: ignore[method-assign,assignment]
    servicer._get_provider_resource = _once_per_request(servicer._get_provider_resource)  # type: ignore[method-assign,assignment]
    servicer._ai_platform_installed = True  # type: ignore[attr-defined]


def installed() -> bool:
    return bool(getattr(policy_module._PolicyAnalyzerServicer, "_ai_platform_installed", False))


__all__ = ["RUNTIME_ENVIRONMENT", "SDK_SIGNALS", "UnknownValueError", "install", "installed"]

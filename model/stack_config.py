"""From raw Pulumi stack configuration to a validated ``PlatformConfig``.

The same function serves the real program (values from the Pulumi engine)
and the offline tool (values read from a stack file): both hand it the
``ai-platform:`` keys as the engine passes them to a Python program, that is
strings, with structured values as JSON text.

Every problem becomes one line that names the stack file and the key path,
for example::

    stacks/Pulumi.prod.yaml: ai-platform:services[1].resources.cpu: '1.5 cores' is not a Kubernetes quantity
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from model.config import PROJECT, CrossFieldError, PlatformConfig

#: Keys whose values must be Pulumi secrets (``secure:`` in the stack file).
SECRET_KEYS = (
    "serviceSecrets",
    "registryPassword",
    "registryPullPassword",
    "grafanaAdminPassword",
    "jenkinsAdminPassword",
    "jenkinsGitToken",
)
#: Keys whose values are never echoed in an error message.
_NEVER_ECHO = SECRET_KEYS
#: Config namespaces a stack file may use: ours, and those of the providers and engine the program runs with.
KNOWN_NAMESPACES = (PROJECT, "pulumi", "kubernetes", "docker")


class ConfigError(Exception):
    """The stack configuration is invalid; nothing may be declared."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"{self.source}: {problem}" for problem in self.problems]
        count = len(self.problems)
        header = f"invalid stack configuration ({count} problem{'s' if count != 1 else ''}):"
        return "\n".join([header, *lines])


def parse_platform_config(
    values: Mapping[str, str],
    source: str,
    secret_keys: Iterable[str] = (),
) -> PlatformConfig:
    """Validate the ``ai-platform:*`` values of one stack.

    ``values`` maps full keys (``ai-platform:services``) to the engine's string
    form; keys of other namespaces (``kubernetes:context``) are ignored.
    """
    secret = set(secret_keys)
    problems: list[str] = []
    document: dict[str, Any] = {}
    prefix = f"{PROJECT}:"
    for key, raw in values.items():
        if not key.startswith(prefix):
            problems.extend(_foreign_key_problem(key))
            continue
        name = key[len(prefix) :]
        try:
            document[name] = _decode(raw)
        except json.JSONDecodeError as error:
            problems.append(f"{key}: not valid structured config ({error.msg})")
        except (ValueError, RecursionError) as error:  # a number past Python's digit limit; absurd nesting
            problems.append(f"{key}: not valid structured config ({type(error).__name__}: {str(error)[:80]})")
    for name in SECRET_KEYS:
        if name in document and f"{prefix}{name}" not in secret:
            problems.append(
                f"{prefix}{name}: must be a secret (a `secure:` value, set with `pulumi config set --secret`), "
                "not plaintext"
            )
    for name in sorted(document):
        if f"{prefix}{name}" in secret and name not in SECRET_KEYS:
            # The engine says which keys hold a secret, not where in them: name the key.
            problems.append(
                f"{prefix}{name}: holds a `secure:` value, which would be stored in plaintext; only "
                f"{', '.join(SECRET_KEYS)} keep secrets secret (for a service: `secretEnv` and `serviceSecrets`)"
            )
    if problems:
        raise ConfigError(source, problems)
    try:
        return PlatformConfig.model_validate(document)
    except ValidationError as error:
        raise ConfigError(source, _describe(error, {key[len(prefix) :] for key in secret})) from None


def _foreign_key_problem(key: str) -> list[str]:
    """A key of an unknown namespace is almost always a misspelt ``ai-platform:`` (silently ignored otherwise)."""
    namespace, _, name = key.partition(":")
    if namespace in KNOWN_NAMESPACES:
        return []
    close = difflib.get_close_matches(namespace, KNOWN_NAMESPACES, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}:{name}'?" if close else f"known namespaces: {', '.join(KNOWN_NAMESPACES)}"
    return [f"{key}: unknown config namespace '{namespace}' ({hint})"]


def _decode(raw: Any) -> Any:
    """Structured values reach a Python program as JSON text; scalars as strings."""
    if isinstance(raw, str) and raw[:1] in ("{", "["):
        return json.loads(raw)
    return raw


def key_path(location: Iterable[str | int]) -> str:
    """``('services', 1, 'resources', 'cpu')`` -> ``ai-platform:services[1].resources.cpu``."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return f"{PROJECT}:{path}"


def _describe(error: ValidationError, secret_names: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """One line per problem; a value under a secret key is never shown, whatever the validator said."""
    never_echo = set(_NEVER_ECHO) | set(secret_names)
    problems: list[str] = []
    for detail in error.errors(include_url=False):
        location = [part for part in detail["loc"] if not _is_union_tag(part)]
        cause = detail.get("ctx", {}).get("error")
        if isinstance(cause, CrossFieldError):
            base = key_path(location)
            problems.extend(
                f"{base}{'.' if location else ''}{problem}" if location else f"{PROJECT}:{problem}"
                for problem in cause.problems
            )
            continue
        if location and location[0] in never_echo and detail["type"] not in ("missing", "extra_forbidden"):
            problems.append(f"{key_path(location)}: is not valid (a secret: its value is not shown)")
            continue
        problems.append(f"{key_path(location)}: {_message(detail, location)}")
    return problems


def _is_union_tag(part: str | int) -> bool:
    # pydantic names the union member it tried (``str``, ``function-after[...]``)
    return isinstance(part, str) and ("[" in part or part in ("str", "int", "float", "bool", "list", "dict"))


def _message(detail: Any, location: list[str | int]) -> str:
    kind = detail["type"]
    message: str = detail["msg"]
    if kind == "extra_forbidden":
        return "unknown key (check its spelling; see `python -m infra.offline schema`)"
    if kind == "missing":
        return "is required"
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
        return message
    value = detail.get("input")
    if kind.endswith("_type") or kind.startswith(("greater_than", "less_than", "string_pattern", "literal")):
        return f"{message}, got {value!r}"
    return message


#: Where Pulumi.yaml's ``stackConfigDir`` keeps the stack files.
STACK_CONFIG_DIR = "stacks"

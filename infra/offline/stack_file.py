"""Read a ``Pulumi.<stack>.yaml`` file the way the Pulumi CLI hands it to a program.

The engine passes a Python program its config as strings: top-level scalars
as their text as written (Pulumi's ``config.Value`` unmarshals a value as a
string first, so ``1.30`` stays ``1.30``), structured values as JSON (where
``1.30`` is the number 1.3), and decrypted secrets, with the list of keys
that hold secrets. A top-level number whose text is not its canonical
spelling is refused: Pulumi and every other YAML reader disagree on it.
Offline there is no secrets provider, so each ``secure:`` value becomes a
deterministic placeholder that changes when the ciphertext changes (so a
rotated secret still shows up as a change, never its value).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.offline.stack_yaml import MAX_BYTES, StackYamlError, load_stack_yaml
from model.config import PROJECT
from model.stack_config import SECRET_KEYS, ConfigError

_STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>[A-Za-z0-9_.-]+)\.ya?ml$")
_KEY = re.compile(r"^[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class StackFile:
    """One stack's name and its config in the engine's string form."""

    path: Path
    stack: str
    values: dict[str, str]
    secret_keys: frozenset[str]

    @property
    def display_path(self) -> str:
        return display(self.path)


def read_stack_file(path: Path) -> StackFile:
    """Parse a stack file; any problem is a ``ConfigError`` naming the file."""
    source = display(path)
    match = _STACK_FILE.match(path.name)
    if match is None:
        raise ConfigError(source, ["a stack file must be named Pulumi.<stack>.yaml"])
    written: dict[str, str] = {}
    document = _read_yaml(path, source, written)
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(source, ["the file must be a mapping with a 'config' key"])
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(source, ["'config' must be a mapping of keys to values"])

    values: dict[str, str] = {}
    secret_keys: set[str] = set()
    problems: list[str] = []
    for key, value in config.items():
        if not isinstance(key, str) or not _KEY.match(key):
            problems.append(f"{key}: config keys must be '<namespace>:<name>', e.g. ai-platform:environment")
            continue
        if key in written and not isinstance(value, dict | list):
            # The engine reads a top-level scalar as a string first: the program gets its text as written.
            if _reads_differently(value, written[key]):
                problems.append(
                    f"{key}: {written[key]} is the YAML number {json.dumps(value)}, but Pulumi passes the program "
                    f'the text {written[key]}; quote it ("{written[key]}") so that every reader agrees'
                )
            values[key] = written[key] if value is not None else ""
            continue
        plain, has_secret = _reveal(value, key)
        values[key] = _engine_string(plain)
        if has_secret:
            secret_keys.add(key)
        problems.extend(_secret_placement_problems(key, value))
    if problems:
        raise ConfigError(source, problems)
    return StackFile(path=path, stack=match["stack"], values=values, secret_keys=frozenset(secret_keys))


def _reads_differently(value: Any, written: str) -> bool:
    """A number whose text is not its canonical spelling (``1.30``, ``0x10``, ``1e3``) is read two ways."""
    return isinstance(value, int | float) and not isinstance(value, bool) and json.dumps(value) != written


def _read_yaml(path: Path, source: str, written: dict[str, str]) -> Any:
    """The file's one YAML document, read by the strict, bounded loader; ``written`` gets config texts."""
    try:
        if path.stat().st_size > MAX_BYTES:  # refused before it is read into memory
            raise StackYamlError("", 0, f"the file is larger than {MAX_BYTES // 2**20} MiB")
        return load_stack_yaml(path.read_text(encoding="utf-8"), written)
    except StackYamlError as error:
        raise ConfigError(source, [str(error)]) from None
    except FileNotFoundError:
        raise ConfigError(source, ["no such stack file"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(source, [f"cannot read the file ({error})"]) from None
    except yaml.YAMLError as error:
        raise ConfigError(source, [f"not valid YAML: {_yaml_problem(error)}"]) from None


def _leaves(value: Any, path: str) -> Iterator[tuple[str, bool]]:
    """(key path, is a ``secure:`` value) for every leaf of a config value."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            yield path, True
            return
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, False


def _secret_placement_problems(key: str, value: Any) -> list[str]:
    """Secrets only where they stay secret end to end, and nothing but secrets there.

    The engine marks a whole top-level key secret when any leaf of it is, but
    the program can only keep the four secret keys secret: a ``secure:`` value
    anywhere else would be written in plaintext (a ConfigMap, resources.json).
    A plaintext value inside a secret key sits in the stack file in clear.
    """
    namespace, _, name = key.partition(":")
    if namespace != PROJECT:
        return []
    problems = []
    for path, secure in _leaves(value, key):
        if secure and name not in SECRET_KEYS:
            problems.append(
                f"{path}: a `secure:` value here would be stored in plaintext; only "
                f"{', '.join(SECRET_KEYS)} keep secrets secret. For a service, list the variable in `secretEnv` and "
                "set it with `pulumi config set --secret --path 'serviceSecrets.<service>.<NAME>' ...`"
            )
        elif not secure and name in SECRET_KEYS:
            problems.append(
                f"{path}: must be a `secure:` value (set it with `pulumi config set --secret`), not plaintext"
            )
    return problems


def _reveal(value: Any, where: str) -> tuple[Any, bool]:
    """Replace ``{secure: ...}`` by a placeholder; report whether any was found."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            digest = hashlib.sha256(str(value["secure"]).encode()).hexdigest()[:12]
            return f"offline-secret-{digest}", True
        found = False
        revealed = {}
        for key, item in value.items():
            revealed[key], secret = _reveal(item, where)
            found = found or secret
        return revealed, found
    if isinstance(value, list):
        items = [_reveal(item, where) for item in value]
        return [item for item, _ in items], any(secret for _, secret in items)
    return value, False


def _engine_string(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    if mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return problem


def display(path: Path) -> str:
    """A path as messages show it: relative to where the tool runs (usually the project root)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)

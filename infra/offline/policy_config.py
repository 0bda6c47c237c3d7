"""The policy pack's config file, read and reconciled the way the engine does it.

``--policy-pack-config policies/config/<env>.json`` holds ``{"all": level,
"<policy>": level | {"enforcementLevel": level, ...properties}}``. The engine
sends ``Configure`` each policy's schema defaults, then the file's ``all``
level, then the policy's own level and properties, validated against the
policy's config schema; a file the engine would refuse is refused here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from google.protobuf import json_format
from pulumi.runtime.proto import analyzer_pb2

from infra.offline.runtime import PROJECT_ROOT

POLICY_PACK_DIR = PROJECT_ROOT / "policies"
LEVELS = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
LEVEL_VALUES = {name: value for value, name in LEVELS.items()}


class PolicyConfigError(Exception):
    """The policy config file is invalid (the engine would refuse it too)."""


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
    if not isinstance(value, str) or value not in LEVEL_VALUES:
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
        result[name] = PolicyEntry(level=LEVELS[policy.enforcementLevel], properties=defaults)
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

"""The plan as a stack-file patch: the new ``ai-platform:services`` list.

The patch is a YAML document ``{config: {ai-platform:services: [...]}}``
holding the whole services list as the stack file has it, with only the
planned keys changed (``replicas``, ``autoscaling``, ``resources``); every
other key and every other service is kept as written. Applying it is a
deep merge in which mappings merge and lists are replaced, e.g.
``yq -y -s '.[0] * .[1]' Pulumi.prod.yaml patch.yaml`` (jq's ``*``), or
``apply_patch`` here.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from infra.offline.plan.sizes import Size

SERVICES_KEY = "ai-platform:services"


def services_patch(stack_file: Path, sizes: Mapping[str, Size]) -> str:
    """The patch setting each named service to its proposed ``Size``; empty when nothing changes."""
    document = yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}
    services = copy.deepcopy((document.get("config") or {}).get(SERVICES_KEY) or [])
    changed = False
    for entry in services:
        size = sizes.get(str(entry.get("name")))
        if size is not None:
            before = copy.deepcopy(entry)
            _apply_size(entry, size)
            changed = changed or entry != before
    if not changed:
        return ""
    return yaml.safe_dump({"config": {SERVICES_KEY: services}}, sort_keys=False, width=120)


def _apply_size(entry: dict[str, Any], size: Size) -> None:
    if entry.get("replicas", 1) != size.min_replicas:
        entry["replicas"] = size.min_replicas
    scaling = size.autoscaling_keys()
    if scaling:
        kept = {k: v for k, v in (entry.get("autoscaling") or {}).items() if k != "targetCPUUtilization"}
        # The earlier spelling gives way to `metric` + `target` (both at once is a config error).
        entry["autoscaling"] = {**kept, **scaling}
    else:
        entry.pop("autoscaling", None)
    resources = dict(entry.get("resources") or {})
    for key, value in size.resources_keys().items():
        if value is None:
            resources.pop(key, None)
        else:
            resources[key] = value
    entry["resources"] = resources


def apply_patch(stack_text: str, patch_text: str) -> str:
    """The stack file with the patch merged in (mappings merge, lists and scalars are replaced)."""
    stack = yaml.safe_load(stack_text) or {}
    for patch in _documents(patch_text):
        stack = _merge(stack, patch)
    return yaml.safe_dump(stack, sort_keys=False, width=120)


def _documents(text: str) -> Iterable[Any]:
    return [document for document in yaml.safe_load_all(text) if document is not None]


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = _merge(base.get(key), value)
        return merged
    return copy.deepcopy(patch)

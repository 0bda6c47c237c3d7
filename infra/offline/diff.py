"""``python -m infra.offline diff``: what a change does to a stack's desired state, without credentials.

Renders the stack once at the base ref (in a temporary git worktree, with the
base's own code) and once in the working tree, then compares the recorded
resources by URN: added, removed, and changed with every changed field's old
and new value. Secrets never appear: a changed secret shows as changed, masked.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ai_platform_policies.cost import Estimate, Item, Prices, estimate, from_resources_json
from infra.offline.runtime import SECRET_MASK
from infra.offline.stack_file import read_stack_file

#: How a changed secret is shown on both sides.
CHANGED_SECRET = f"{SECRET_MASK} (changed)"
_MAX_VALUE = 160


class DiffError(Exception):
    """The base could not be checked out or rendered."""


class BaseRefError(DiffError):
    """``--base`` names no commit of this repository."""


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Any
    new: Any


@dataclass(frozen=True)
class ResourceChange:
    urn: str
    type: str
    name: str
    fields: list[FieldChange] = field(default_factory=list)


@dataclass
class StackDiff:
    stack: str
    added: list[ResourceChange] = field(default_factory=list)
    removed: list[ResourceChange] = field(default_factory=list)
    changed: list[ResourceChange] = field(default_factory=list)
    cost_before: Estimate | None = None
    cost_after: Estimate | None = None

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def summary(self) -> str:
        if self.empty:
            return "no changes"
        return f"{len(self.added)} to add, {len(self.changed)} to change, {len(self.removed)} to remove"


def compare(
    stack: str,
    base: list[dict[str, Any]],
    head: list[dict[str, Any]],
    prices: tuple[Prices, Prices] | None = None,
) -> StackDiff:
    """Compare two ``resources.json`` lists by URN; with (base, head) prices, their monthly cost too."""
    old = {resource["urn"]: resource for resource in base}
    new = {resource["urn"]: resource for resource in head}
    diff = StackDiff(stack)
    if prices is not None:
        diff.cost_before = estimate(from_resources_json(base), prices[0])
        diff.cost_after = estimate(from_resources_json(head), prices[1])
    for urn in sorted(new.keys() - old.keys()):
        diff.added.append(ResourceChange(urn, new[urn]["type"], new[urn]["name"]))
    for urn in sorted(old.keys() - new.keys()):
        diff.removed.append(ResourceChange(urn, old[urn]["type"], old[urn]["name"]))
    for urn in sorted(old.keys() & new.keys()):
        before, after = old[urn], new[urn]
        changes = [
            *_field_changes("", before.get("inputs"), after.get("inputs")),
            *_field_changes("options.", _options(before), _options(after)),
        ]
        if changes:
            diff.changed.append(ResourceChange(urn, after["type"], after["name"], changes))
    return diff


def _options(resource: dict[str, Any]) -> dict[str, Any]:
    options = dict(resource.get("options") or {})
    options.pop("dependsOn", None)  # follows from the inputs; noise in a review
    return options


def _is_secret(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SECRET_MASK[:-1])


def _field_changes(prefix: str, old: Any, new: Any) -> list[FieldChange]:
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        changes = []
        for key in sorted(old.keys() | new.keys(), key=str):
            changes.extend(_descend(f"{prefix}{key}", old.get(key), new.get(key)))
        return changes
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        changes = []
        for index, (before, after) in enumerate(zip(old, new, strict=True)):
            changes.extend(_descend(f"{prefix.rstrip('.')}[{index}]", before, after))
        return changes
    return _leaf(prefix.rstrip("."), old, new)


def _descend(path: str, old: Any, new: Any) -> list[FieldChange]:
    """The changes at ``path``: field by field inside matching containers, else the value itself."""
    return _field_changes(path + ".", old, new) if _nested(old, new) else _leaf(path, old, new)


def _nested(old: Any, new: Any) -> bool:
    return (isinstance(old, dict) and isinstance(new, dict)) or (
        isinstance(old, list) and isinstance(new, list) and len(old) == len(new)
    )


def _leaf(path: str, old: Any, new: Any) -> list[FieldChange]:
    if old == new:
        return []
    if _is_secret(old) or _is_secret(new):
        return [
            FieldChange(path, CHANGED_SECRET if old is not None else None, CHANGED_SECRET if new is not None else None)
        ]
    return [FieldChange(path, old, new)]


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def _label(change: ResourceChange) -> str:
    return f"{change.type} {change.name}"


def _cost_changes(diff: StackDiff) -> list[tuple[str, Item | None, Item | None]]:
    """(name, before, after) of every cost item whose cost changed."""
    if diff.cost_before is None or diff.cost_after is None:
        return []
    before = {item.name: item for item in diff.cost_before.items}
    after = {item.name: item for item in diff.cost_after.items}
    changes = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old is None or new is None or (old.min, old.max) != (new.min, new.max):
            changes.append((name, old, new))
    return changes


def _range(item: Item | Estimate | None) -> str:
    return "—" if item is None else f"{item.min:,.2f} to {item.max:,.2f}"


def _delta(old: Item | Estimate | None, new: Item | Estimate | None) -> str:
    change = (new.max if new else 0) - (old.max if old else 0)
    return f"{change:+,.2f}"


def _cost_line(diff: StackDiff, *, always: bool = False) -> str | None:
    before, after = diff.cost_before, diff.cost_after
    if before is None or after is None:
        return None
    if (before.min, before.max) == (after.min, after.max) and not always:
        return None
    return (
        f"cost per month ({after.currency}, fewest to most replicas): {_range(before)} -> "
        f"{_range(after)} ({_delta(before, after)} at most replicas)"
    )


def format_text(diff: StackDiff) -> str:
    lines = [f"stack {diff.stack}: {diff.summary()}"]
    cost_line = _cost_line(diff)
    if cost_line:
        lines.append(cost_line)
        lines += [
            f"    cost {name}: {_range(old)} -> {_range(new)} ({_delta(old, new)})"
            for name, old, new in _cost_changes(diff)
        ]
    lines += [f"+ {_label(c)}" for c in diff.added]
    lines += [f"- {_label(c)}" for c in diff.removed]
    for change in diff.changed:
        lines.append(f"~ {_label(change)}")
        lines += [f"    {f.path}: {_show(f.old)} -> {_show(f.new)}" for f in change.fields]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return "`" + _show(value).replace("|", "\\|").replace("`", "'") + "`"


def _lines(value: Any) -> list[str]:
    """A value as the lines a reviewer compares: text as written, JSON documents and structures pretty-printed."""
    if value is None:
        return []
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value.splitlines()
        if isinstance(parsed, dict | list):
            return json.dumps(parsed, indent=2, sort_keys=True).splitlines()
        return value.splitlines()
    return json.dumps(value, indent=2, sort_keys=True).splitlines()


def _is_block(change: FieldChange) -> bool:
    """Multi-line, long or structured values are shown as a unified diff, not squeezed into a table cell."""
    return any(
        isinstance(value, dict | list) or (isinstance(value, str) and ("\n" in value or len(value) > _MAX_VALUE))
        for value in (change.old, change.new)
    )


def _block(change: ResourceChange, item: FieldChange) -> list[str]:
    """A collapsible unified diff of one field, fenced so that no backticks inside can close it."""
    diff = list(difflib.unified_diff(_lines(item.old), _lines(item.new), "before", "after", lineterm="", n=3))
    longest = max((len(run) for line in diff for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    added = sum(line.startswith("+") and not line.startswith("+++") for line in diff)
    removed = sum(line.startswith("-") and not line.startswith("---") for line in diff)
    summary = f"<code>{change.type}</code> <b>{change.name}</b> <code>{item.path}</code>: +{added} -{removed} lines"
    return [f"<details><summary>{summary}</summary>", "", f"{fence}diff", *diff, fence, "", "</details>", ""]


def format_markdown(diff: StackDiff) -> str:
    """One collapsible section per stack, counts first; what a pull-request comment shows."""
    counts = f"+{len(diff.added)} ~{len(diff.changed)} -{len(diff.removed)}" if not diff.empty else "no changes"
    cost_line = _cost_line(diff, always=True)
    summary = counts
    if cost_line and diff.cost_before is not None and diff.cost_after is not None:
        after, delta = diff.cost_after, _delta(diff.cost_before, diff.cost_after)
        summary += f", cost {after.currency} {after.max:,.2f}/month ({delta})"
    lines = [f"<details><summary><b>{diff.stack}</b>: {summary}</summary>", ""]
    if cost_line:
        lines += [cost_line[0].upper() + cost_line[1:] + ".", ""]  # the currency code stays upper-case
        changes = _cost_changes(diff)
        if changes:
            lines += ["| cost item | before | after | change (most replicas) |", "| --- | ---: | ---: | ---: |"]
            lines += [f"| {name} | {_range(old)} | {_range(new)} | {_delta(old, new)} |" for name, old, new in changes]
            lines.append("")
    if diff.empty:
        lines.append("No changes to the desired state.")
    if diff.added:
        lines += ["**Added**", ""] + [f"- `{c.type}` **{c.name}**" for c in diff.added] + [""]
    if diff.removed:
        lines += ["**Removed**", ""] + [f"- `{c.type}` **{c.name}**" for c in diff.removed] + [""]
    if diff.changed:
        lines += ["**Changed**", ""]
        rows = [(change, item) for change in diff.changed for item in change.fields if not _is_block(item)]
        if rows:
            lines += ["| resource | field | before | after |", "| --- | --- | --- | --- |"]
            lines += [
                f"| `{change.type}` **{change.name}** | `{item.path}` | {_cell(item.old)} | {_cell(item.new)} |"
                for change, item in rows
            ]
            lines.append("")
        for change in diff.changed:
            for item in change.fields:
                if _is_block(item):
                    lines += _block(change, item)
    lines += ["</details>", ""]
    return "\n".join(lines)


def render_at_ref(project_root: Path, ref: str, stack: str) -> tuple[list[dict[str, Any]], Prices]:
    """The stack's ``resources.json`` and prices as the code and stack file at ``ref`` declare them."""
    resolved = subprocess.run(
        ["git", "-C", str(project_root), "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if resolved.returncode != 0:
        raise BaseRefError(
            f"--base {ref!r} is not a commit of this repository (a branch, tag or SHA; fetch it first, "
            "e.g. git fetch origin main)"
        )
    with tempfile.TemporaryDirectory(prefix="ai-platform-base-") as scratch:
        worktree = Path(scratch) / "base"
        checkout = subprocess.run(
            ["git", "-C", str(project_root), "worktree", "add", "--detach", "--quiet", str(worktree), ref],
            capture_output=True,
            text=True,
            check=False,
        )
        if checkout.returncode != 0:
            raise DiffError(f"cannot check out {ref!r}: {checkout.stderr.strip()}")
        try:
            stack_file = worktree / "stacks" / f"Pulumi.{stack}.yaml"
            if not stack_file.exists():
                return [], Prices.from_mapping({})  # a new stack: everything is added
            raw_prices = read_stack_file(stack_file).values.get("ai-platform:pricing")
            prices = Prices.from_mapping(json.loads(raw_prices) if raw_prices else {})
            out = Path(scratch) / "render"
            result = subprocess.run(
                [sys.executable, "-m", "infra.offline", "render", "--stack", stack, "--out", str(out)],
                cwd=worktree,
                # The base's own code, not the installed (editable) packages of the working tree.
                env={**os.environ, "PYTHONPATH": os.pathsep.join([str(worktree), str(worktree / "policies")])},
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise DiffError(f"rendering {stack} at {ref} failed:\n{result.stderr.strip()}")
            resources: list[dict[str, Any]] = json.loads((out / "resources.json").read_text())
            return resources, prices
        finally:
            subprocess.run(
                ["git", "-C", str(project_root), "worktree", "remove", "--force", str(worktree)],
                capture_output=True,
                check=False,
            )

"""The rule table of policies/README.md, generated from pack.py and the config files.

The rule column (name, stack or resource) and each environment's column
(level and the thresholds its config file sets) come from the code and
``policies/config/<env>.json``; what each rule requires and its equivalents in
Kyverno, checkov and kube-linter are prose kept in the README itself.
``tests/test_policy_config.py`` fails when the table is out of step;
``.venv/bin/python -m tests.policy_docs`` rewrites it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pulumi_policy import StackValidationPolicy

from ai_platform_policies.pack import ALL_POLICIES
from infra.offline.policy_config import POLICY_PACK_DIR, policy_config_path
from tests.policy_harness import ENVIRONMENTS, environment_settings

README = POLICY_PACK_DIR / "README.md"
HEADER = [
    "| Rule | What it requires | dev | staging | prod | Kyverno | checkov | kube-linter |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
]
#: Columns written by hand, by position in a row.
PROSE = {"requires": 1, "kyverno": 5, "checkov": 6, "kube-linter": 7}
MISSING = "**describe me**"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "none"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _configured(policy: str) -> list[str]:
    """Thresholds some environment's config file sets for the policy, in file order."""
    keys: dict[str, None] = {}
    for environment in ENVIRONMENTS:
        entry = json.loads(policy_config_path(environment).read_text()).get(policy)
        if isinstance(entry, dict):
            keys.update(dict.fromkeys(key for key in entry if key != "enforcementLevel"))
    return list(keys)


def environment_cell(policy: str, environment: str) -> str:
    """The level, then each threshold any environment sets, as this one applies it (defaults included)."""
    settings = environment_settings(environment)[policy]
    thresholds = [f"`{key}` {_value(settings.config.get(key))}" for key in _configured(policy)]
    return settings.level + (": " + "; ".join(thresholds) if thresholds else "")


def _rows(text: str) -> dict[str, list[str]]:
    """The README's table rows by rule name."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows[cells[0].split("`")[1]] = cells
    return rows


def rules_table(text: str) -> list[str]:
    """The table as it should read, keeping the README's prose for each rule."""
    rows = _rows(text)
    lines = list(HEADER)
    for policy in ALL_POLICIES:
        old = rows.get(policy.name, [])
        prose = {key: old[index] if len(old) > index else MISSING for key, index in PROSE.items()}
        name = f"`{policy.name}`" + (" (stack)" if isinstance(policy, StackValidationPolicy) else "")
        cells = [
            name,
            prose["requires"],
            *(environment_cell(policy.name, env) for env in ENVIRONMENTS),
            prose["kyverno"],
            prose["checkov"],
            prose["kube-linter"],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def current_table(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(HEADER[0])
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return lines[start:end]


def rewrite(path: Path = README) -> None:
    text = path.read_text()
    old = "\n".join(current_table(text))
    path.write_text(text.replace(old, "\n".join(rules_table(text))))


if __name__ == "__main__":
    rewrite()

"""The pull-request comment: what reviewers see of a change."""

from __future__ import annotations

import json
from decimal import Decimal

from ai_platform_policies.cost import Estimate, Item
from infra.offline.diff import FieldChange, ResourceChange, StackDiff, format_markdown

RULES_BEFORE = "groups:\n- name: slo\n  rules:\n  - alert: HighErrorRatio\n    expr: ratio > 0.01\n"
RULES_AFTER = RULES_BEFORE.replace("0.01", "0.02")
DASHBOARD_BEFORE = json.dumps({"title": "classifier", "panels": [{"id": 1, "title": "p95"}], "uid": "a" * 200})
DASHBOARD_AFTER = json.dumps({"title": "classifier", "panels": [{"id": 1, "title": "p99"}], "uid": "a" * 200})


def changed(*fields: FieldChange) -> StackDiff:
    diff = StackDiff("prod")
    diff.changed.append(ResourceChange("urn:x", "kubernetes:core/v1:ConfigMap", "dashboards", list(fields)))
    return diff


def test_multi_line_values_are_a_collapsible_unified_diff_not_a_table_cell() -> None:
    text = format_markdown(
        changed(
            FieldChange("data.rules", RULES_BEFORE, RULES_AFTER),
            FieldChange("spec.replicas", 3, 4),
        )
    )
    table_rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert table_rows == ["| `kubernetes:core/v1:ConfigMap` **dashboards** | `spec.replicas` | `3` | `4` |"]
    assert (
        "<details><summary><code>kubernetes:core/v1:ConfigMap</code> <b>dashboards</b> "
        "<code>data.rules</code>: +1 -1 lines</summary>"
    ) in text
    block = text.split("```diff\n", 1)[1].split("\n```", 1)[0].splitlines()
    assert block[:2] == ["--- before", "+++ after"]
    assert "-    expr: ratio > 0.01" in block
    assert "+    expr: ratio > 0.02" in block
    assert "   - alert: HighErrorRatio" in block  # context lines


def test_a_json_document_is_compared_line_by_line() -> None:
    text = format_markdown(changed(FieldChange("data.dashboard\\.json", DASHBOARD_BEFORE, DASHBOARD_AFTER)))
    assert '-      "title": "p95"' in text
    assert '+      "title": "p99"' in text
    assert "uid" not in text.split("```diff", 1)[1].split("@@", 2)[1]  # the unchanged long uid is context at most


def test_backticks_in_a_value_cannot_close_the_code_block() -> None:
    text = format_markdown(changed(FieldChange("data.readme", "a\n```\nb", "a\n```\nc")))
    assert "````diff" in text
    assert text.count("````") == 2


def test_currency_codes_stay_upper_case() -> None:
    diff = changed(FieldChange("spec.replicas", 3, 4))
    diff.cost_before = Estimate("EUR", [Item("text-classifier", "ai-service", Decimal(10), Decimal(20))])
    diff.cost_after = Estimate("EUR", [Item("text-classifier", "ai-service", Decimal(10), Decimal(30))])
    text = format_markdown(diff)
    assert "Cost per month (EUR, fewest to most replicas)" in text
    assert "eur" not in text

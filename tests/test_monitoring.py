"""Dashboards, rules and runbooks the monitoring component generates."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard as SdkDashboard

from components.monitoring.alertmanager import CHART_INHIBIT_RULES
from components.monitoring.rules import ALERTS, RUNBOOK_DIR
from infra.offline.check import Rendered, render
from infra.offline.runtime import PROJECT_ROOT
from model.config.platform import DEFAULT_RUNBOOK_BASE_URL
from tests.conftest import StackWriter, base_config, base_service
from tests.helpers import dashboard_config_maps, manifests_of

GRAFANA_UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
SECRET = {"secure": "v1:Z3JhZmFuYQ==:dGVzdA=="}


def test_dashboard_uids_are_unique_stable_and_fit_grafana(write_stack: StackWriter) -> None:
    long_names = ["recommendation-engine-embedding-service-a", "recommendation-engine-embedding-service-b"]
    services = [base_service(name=name) for name in [*long_names, "text-classifier"]]
    config = base_config("dev", services=services, monitoring={"kubePrometheusStack": {"version": "65.0.0"}})
    config["ai-platform:grafanaAdminPassword"] = SECRET

    def uids() -> dict[str, str]:
        documents = [
            json.loads(doc) for cm in dashboard_config_maps(render(write_stack(config))) for doc in cm["data"].values()
        ]
        return {document["title"]: document["uid"] for document in documents}

    first = uids()
    assert len(set(first.values())) == len(first) == 4, first  # no dashboard overwrites another
    assert all(GRAFANA_UID.match(uid) for uid in first.values()), first
    assert first["AI service / text-classifier"] == "ai-text-classifier"  # short names stay readable and unchanged
    assert all(first[f"AI service / {name}"].startswith("ai-recommendation-engine") for name in long_names)
    assert uids() == first  # stable across runs: Grafana keeps the dashboard's history


def alerts(rendered: Rendered) -> list[dict[str, Any]]:
    return [
        rule
        for prometheus_rule in manifests_of(rendered, "PrometheusRule")
        for group in prometheus_rule["spec"]["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_alert_links_a_runbook_that_exists(stack: str, rendered_stack: Callable[[str], Rendered]) -> None:
    rendered = alerts(rendered_stack(stack))
    assert rendered
    for alert in rendered:
        url = alert["annotations"]["runbook_url"]
        assert url == f"{DEFAULT_RUNBOOK_BASE_URL}/{alert['alert']}.md"
        runbook = PROJECT_ROOT / RUNBOOK_DIR / url.removeprefix(f"{DEFAULT_RUNBOOK_BASE_URL}/")
        assert runbook.is_file(), f"{alert['alert']}: no runbook at {runbook.relative_to(PROJECT_ROOT)}"
        assert runbook.read_text().startswith(f"# {alert['alert']}\n")


def test_every_alert_the_rules_can_define_has_a_runbook_and_no_runbook_is_orphaned() -> None:
    pages = {path.stem for path in (PROJECT_ROOT / RUNBOOK_DIR).glob("*.md")} - {"README"}
    assert pages == set(ALERTS)


def test_the_runbook_base_url_is_configurable(write_stack: StackWriter) -> None:
    base = "https://git.internal.example/platform/ai-platform/-/blob/main/docs/runbooks/"
    monitoring = {"kubePrometheusStack": {"version": "65.0.0"}, "runbookBaseUrl": base}
    config = base_config("dev", monitoring=monitoring, grafanaAdminPassword=SECRET)
    urls = {alert["alert"]: alert["annotations"]["runbook_url"] for alert in alerts(render(write_stack(config)))}
    assert urls["AiServiceHighErrorRatio"] == f"{base}AiServiceHighErrorRatio.md"
    assert all(url.startswith(base) and "//Ai" not in url for url in urls.values())


def kept(part: Any, whole: Any) -> bool:
    """Whether ``whole`` holds everything ``part`` does (it may add defaults)."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(key in whole and kept(part[key], whole[key]) for key in part)
    if isinstance(part, list):
        return isinstance(whole, list) and len(part) == len(whole) and all(map(kept, part, whole))
    return bool(part == whole)


def test_dashboards_are_documents_of_the_sdks_typed_model(rendered_stack: Callable[[str], Rendered]) -> None:
    register_default_plugins()
    for config_map in dashboard_config_maps(rendered_stack("prod")):
        [document] = config_map["data"].values()
        parsed = json.loads(document)
        # Parsing into the SDK's typed model drops any field its schema does not know.
        typed = json.loads(json.dumps(SdkDashboard.from_json(parsed), cls=JSONEncoder))
        assert kept(parsed, typed), parsed["title"]
        panels = parsed["panels"]
        assert all(panel["type"] == "timeseries" and panel["datasource"]["uid"] == "prometheus" for panel in panels)
        assert [panel["id"] for panel in panels] == list(range(1, len(panels) + 1))
        positions = [(panel["gridPos"]["x"], panel["gridPos"]["y"]) for panel in panels]
        assert len(set(positions)) == len(positions)  # laid out: no panel on top of another


def test_alertmanager_keeps_the_charts_inhibit_rules_and_adds_ours(rendered_stack: Callable[[str], Rendered]) -> None:
    [release] = [r for r in rendered_stack("prod").resources if r.name == "kube-prometheus-stack" and r.custom]
    config = release.inputs["values"]["alertmanager"]["config"]
    rules = config["inhibit_rules"]
    # kube-prometheus-stack 65.0.0's defaults (values.yaml L307-346): Helm would drop them when we set the list.
    assert {
        "source_matchers": ["severity = critical"],
        "target_matchers": ["severity =~ warning|info"],
        "equal": ["namespace", "alertname"],
    } in rules
    assert {
        "source_matchers": ["alertname = InfoInhibitor"],
        "target_matchers": ["severity = info"],
        "equal": ["namespace"],
    } in rules
    assert len(CHART_INHIBIT_RULES) == 4 and all(dict(rule) in rules for rule in CHART_INHIBIT_RULES)
    [ours] = [rule for rule in rules if rule.get("equal") == ["namespace", "service"]]
    assert 'service=~".+"' in ours["source_matchers"]  # a critical alert without a service silences nothing
    assert {"receiver": "null", "matchers": ['alertname="InfoInhibitor"']} in config["route"]["routes"]

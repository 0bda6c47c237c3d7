"""Dashboards, rules and runbooks the monitoring component generates."""

from __future__ import annotations

import json
import re

from infra.offline.check import render
from tests.conftest import StackWriter, base_config, base_service
from tests.helpers import dashboard_config_maps

GRAFANA_UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def test_dashboard_uids_are_unique_stable_and_fit_grafana(write_stack: StackWriter) -> None:
    long_names = ["recommendation-engine-embedding-service-a", "recommendation-engine-embedding-service-b"]
    services = [base_service(name=name) for name in [*long_names, "text-classifier"]]
    config = base_config("dev", services=services, monitoring={"kubePrometheusStack": {"version": "65.0.0"}})
    config["ai-platform:grafanaAdminPassword"] = {"secure": "v1:Z3JhZmFuYQ==:dGVzdA=="}

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

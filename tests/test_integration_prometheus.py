"""The rules, dashboards and Alertmanager routes the prod stack renders, fed to the real programs.

promtool checks and unit-tests the rules; a real Prometheus scrapes the real
text-classifier's metrics port with exactly the rendered rule files; amtool
checks the Alertmanager config and its routing.
"""

from __future__ import annotations

import copy
import math
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from infra.offline.check import Rendered
from infra.offline.runtime import PROJECT_ROOT
from tests.helpers import dashboard_queries, manifests_of
from tests.processes import require_binary, scraped_service

pytestmark = pytest.mark.integration
RenderStack = Callable[[str], Rendered]
SERVICE_DIR = PROJECT_ROOT / "services" / "text-classifier"
NAMESPACE, SERVICE = "ai-services", "text-classifier"


def rule_files(rendered: Rendered, directory: Path) -> list[Path]:
    """Each PrometheusRule's spec is a Prometheus rule file."""
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for rule in manifests_of(rendered, "PrometheusRule"):
        path = directory / f"{rule['metadata']['name']}.yml"
        path.write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
        files.append(path)
    return files


def alertmanager_config(rendered: Rendered) -> dict[str, Any]:
    [release] = [
        r for r in rendered.resources if r.type == "kubernetes:helm.sh/v3:Release" and r.name == "kube-prometheus-stack"
    ]
    config: dict[str, Any] = copy.deepcopy(release.inputs["values"]["alertmanager"]["config"])
    return config


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("promtool"), *args], capture_output=True, text=True, timeout=60, check=False)


# --- promtool ------------------------------------------------------------


def test_every_rendered_rule_file_passes_promtool(rendered_stack: RenderStack, tmp_path: Path) -> None:
    files = rule_files(rendered_stack("prod"), tmp_path)
    assert len(files) == 2
    result = promtool("check", "rules", *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_rejects_a_broken_rule(rendered_stack: RenderStack, tmp_path: Path) -> None:
    [path, *_] = rule_files(rendered_stack("prod"), tmp_path)
    document = yaml.safe_load(path.read_text())
    document["groups"][1]["rules"][0]["expr"] = "ai_service:error_ratio:rate5m{ > 0.01"
    path.write_text(yaml.safe_dump(document))
    assert promtool("check", "rules", str(path)).returncode != 0


def series(status: str, per_minute: int) -> dict[str, str]:
    labels = f'namespace="{NAMESPACE}", service="{SERVICE}", route="/v1/classify", method="POST", status="{status}"'
    return {"series": f"ai_service_requests_total{{{labels}}}", "values": f"0+{per_minute}x40"}


def latency_buckets(slow: bool) -> list[dict[str, str]]:
    """60 requests a minute, all fast (under 100 ms) or all slow (0.5-1 s)."""
    labels = f'namespace="{NAMESPACE}", service="{SERVICE}", route="/v1/classify"'
    buckets = {"0.1": 0 if slow else 60, "0.5": 0 if slow else 60, "1.0": 60, "+Inf": 60}
    return [
        {"series": f'ai_service_request_duration_seconds_bucket{{{labels}, le="{le}"}}', "values": f"0+{rate}x40"}
        for le, rate in buckets.items()
    ]


def expected(rule_file: Path, alert: str) -> list[dict[str, Any]]:
    rules = [r for g in yaml.safe_load(rule_file.read_text())["groups"] for r in g["rules"] if r.get("alert") == alert]
    return [{"exp_labels": rules[0]["labels"], "exp_annotations": rules[0]["annotations"]}]


def test_slo_alerts_fire_on_bad_series_and_stay_quiet_on_good_ones(rendered_stack: RenderStack, tmp_path: Path) -> None:
    files = {path.stem: path for path in rule_files(rendered_stack("prod"), tmp_path)}
    rules = files[SERVICE]
    scenarios = [
        # (name, input series, alert, fires)
        (
            "errors",
            [series("200", 60), series("500", 6), *latency_buckets(slow=False)],
            "AiServiceHighErrorRatio",
            True,
        ),
        ("no errors", [series("200", 60), *latency_buckets(slow=False)], "AiServiceHighErrorRatio", False),
        ("slow", [series("200", 60), *latency_buckets(slow=True)], "AiServiceHighLatencyP95", True),
        ("fast", [series("200", 60), *latency_buckets(slow=False)], "AiServiceHighLatencyP95", False),
    ]
    tests = [
        {
            "interval": "1m",
            "name": name,
            "input_series": inputs,
            "alert_rule_test": [
                {"eval_time": "30m", "alertname": alert, "exp_alerts": expected(rules, alert) if fires else []}
            ],
        }
        for name, inputs, alert, fires in scenarios
    ]
    tests.append(
        {
            "interval": "1m",
            "name": "recording rules",
            "input_series": [series("200", 60), series("500", 6)],
            "promql_expr_test": [
                {
                    "expr": f'ai_service:error_ratio:rate5m{{service="{SERVICE}"}}',
                    "eval_time": "30m",
                    "exp_samples": [
                        {
                            "labels": f'ai_service:error_ratio:rate5m{{namespace="{NAMESPACE}", service="{SERVICE}"}}',
                            "value": 6 / 66,
                        }
                    ],
                }
            ],
        }
    )
    test_file = tmp_path / "slo_test.yml"
    test_file.write_text(yaml.safe_dump({"rule_files": [rules.name], "evaluation_interval": "1m", "tests": tests}))
    result = promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr


# --- a real Prometheus scraping the real service ---------------------------


def query(prometheus: str, expr: str) -> dict[str, Any]:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body: dict[str, Any] = response.json()
    return body


def test_prometheus_scrapes_the_service_and_evaluates_the_rendered_rules(
    rendered_stack: RenderStack, tmp_path: Path
) -> None:
    prod = rendered_stack("prod")
    files = rule_files(prod, tmp_path / "rules")
    labels = {"namespace": NAMESPACE, "service": SERVICE}
    with scraped_service(tmp_path, SERVICE_DIR, labels=labels, rule_files=files) as (service_url, prometheus):
        deadline = time.monotonic() + 45
        with httpx.Client(base_url=service_url, timeout=10) as client:
            while time.monotonic() < deadline:
                for _ in range(10):
                    assert client.post("/v1/classify", json={"texts": ["where is my parcel"]}).status_code == 200
                client.post("/v1/classify", content=b"{broken")  # client errors: 4xx
                client.post("/v1/classify", json={"texts": []})
                recorded = query(prometheus, f'ai_service:latency_seconds:p95_5m{{service="{SERVICE}"}}')["data"][
                    "result"
                ]
                ratio = query(prometheus, f'ai_service:error_ratio:rate5m{{service="{SERVICE}"}}')["data"]["result"]
                # 0/0 is NaN until two scrapes have seen requests in between; wait for a real number.
                if recorded and ratio and not math.isnan(float(ratio[0]["value"][1])):
                    break
                time.sleep(1)
        assert recorded, "the p95 recording rule produced nothing"
        assert float(ratio[0]["value"][1]) == 0.0  # 4xx are the clients' errors, not the service's
        statuses = {s["metric"]["status"] for s in query(prometheus, "ai_service_requests_total")["data"]["result"]}
        assert {"200", "400", "422"} <= statuses
        up = query(prometheus, f'up{{service="{SERVICE}"}}')["data"]["result"]
        assert up and up[0]["value"][1] == "1"
        assert httpx.get(f"{service_url}/metrics", timeout=10).status_code == 404  # never on the serving port

        for expr in dashboard_queries(prod):
            answer = query(prometheus, expr)
            assert answer["status"] == "success", (expr, answer)
            if "ai_service" in expr and f'service="{SERVICE}"' in expr:
                assert answer["data"]["result"], f"no data for {expr}"


# --- Alertmanager ------------------------------------------------------------


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("amtool"), *args], capture_output=True, text=True, timeout=60, check=False)


def test_alertmanager_config_is_valid_and_pages_oncall_for_critical_alerts(
    rendered_stack: RenderStack, tmp_path: Path
) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(alertmanager_config(rendered_stack("prod"))))
    check = amtool("check-config", str(path))
    assert check.returncode == 0, check.stdout + check.stderr

    def route(*labels: str) -> str:
        result = amtool("config", "routes", "test", f"--config.file={path}", *labels)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout.strip()

    critical = (
        "alertname=AiServiceHighErrorRatio",
        "severity=critical",
        f"service={SERVICE}",
        f"namespace={NAMESPACE}",
    )
    assert route(*critical) == "oncall"
    assert route("alertname=AiServiceHighLatencyP95", "severity=warning", f"service={SERVICE}") == "platform-team"
    assert route("alertname=Watchdog", "severity=none") == "null"
    assert route("alertname=InfoInhibitor", "severity=none", f"namespace={NAMESPACE}") == "null"


def test_amtool_rejects_a_route_to_an_unknown_receiver(rendered_stack: RenderStack, tmp_path: Path) -> None:
    config = alertmanager_config(rendered_stack("prod"))
    config["route"]["routes"][1]["receiver"] = "nobody"
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    assert amtool("check-config", str(path)).returncode != 0

"""The KEDA trigger queries, checked by the real programs: promtool, and a real Prometheus scraping the real
reference service under a bounded loopback load.

KEDA sends a trigger's query to Prometheus as written and needs one element
back; ``AverageValue`` then divides it by the replicas. So the queries must
parse (promtool), compute what they claim on known series (promtool's rule
unit tests), and, against the real service's real metrics, give the load that
was driven: ``sum(rate(ai_service_requests_total{...}[2m]))`` ~ N requests/s.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from components.autoscaling import ingress_request_query, load_query
from infra.offline.check import Rendered
from model.config import ServiceConfig
from tests.helpers import manifests_of
from tests.processes import scraped_service
from tests.test_integration_prometheus import SERVICE_DIR, promtool, query

pytestmark = pytest.mark.integration
RenderStack = Callable[[str], Rendered]
NAMESPACE, SERVICE = "ai-services", "text-classifier"


def service(metric: str, min_replicas: int = 1) -> ServiceConfig:
    return ServiceConfig.model_validate(
        {
            "name": SERVICE,
            "namespace": NAMESPACE,
            "image": {"ref": "registry.example.com/ai/text-classifier:1.0.0"},
            "resources": {"cpu": "250m", "memory": "512Mi"},
            "autoscaling": {"minReplicas": min_replicas, "maxReplicas": 4, "metric": metric, "target": 10},
            "ingress": {"host": "classify.example.com"},
        }
    )


def trigger_queries(rendered_stack: RenderStack) -> dict[str, str]:
    """Every query the committed stacks' ScaledObjects ask KEDA to run, and each kind autoscaling.py builds."""
    queries = {
        "requests_per_second": load_query(service("requestsPerSecond")),
        "in_flight": load_query(service("inFlight")),
        "ingress_wake": ingress_request_query(service("requestsPerSecond", 0)),
    }
    for stack in ("dev", "staging", "prod"):
        for scaler in manifests_of(rendered_stack(stack), "ScaledObject"):
            for trigger in scaler["spec"]["triggers"]:
                name = f"{stack}_{scaler['metadata']['name']}_{trigger['name']}".replace("-", "_")
                queries[name] = trigger["metadata"]["query"]
    return queries


def rule_file(queries: dict[str, str], path: Path) -> Path:
    """Each query as a recording rule's expression: what promtool parses and evaluates."""
    rules = [{"record": f"keda_trigger:{name}", "expr": expr} for name, expr in queries.items()]
    path.write_text(yaml.safe_dump({"groups": [{"name": "keda-triggers", "rules": rules}]}, sort_keys=False))
    return path


# --- promtool ------------------------------------------------------------


def test_every_trigger_query_passes_promtool(rendered_stack: RenderStack, tmp_path: Path) -> None:
    queries = trigger_queries(rendered_stack)
    assert {"dev_text_classifier_load", "dev_text_classifier_wake", "prod_llm_inference_load"} <= set(queries)
    result = promtool("check", "rules", str(rule_file(queries, tmp_path / "triggers.yml")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_rejects_a_broken_trigger_query(tmp_path: Path) -> None:
    broken = {"load": load_query(service("requestsPerSecond")).replace("[2m]", "[2m")}
    assert promtool("check", "rules", str(rule_file(broken, tmp_path / "broken.yml"))).returncode != 0


def test_trigger_queries_give_the_total_over_replicas_as_one_element(tmp_path: Path) -> None:
    """Two replicas at 6 and 4 requests/s, with 3 and 5 in flight; another service's series ignored."""
    rules = rule_file(
        {
            "rps": load_query(service("requestsPerSecond")),
            "in_flight": load_query(service("inFlight")),
            "wake": ingress_request_query(service("requestsPerSecond", 0)),
        },
        tmp_path / "triggers.yml",
    )

    def pod(name: str, per_minute: int, in_flight: int, svc: str = SERVICE) -> list[dict[str, str]]:
        labels = f'namespace="{NAMESPACE}", service="{svc}", pod="{name}"'
        return [
            {"series": f'ai_service_requests_total{{{labels}, route="/v1/classify", status="200"}}',
             "values": f"0+{per_minute}x20"},
            {"series": f"ai_service_requests_in_flight{{{labels}}}", "values": f"{in_flight}x20"},
        ]  # fmt: skip

    ingress = (
        f'nginx_ingress_controller_requests{{exported_namespace="{NAMESPACE}", ingress="{SERVICE}", status="200"}}'
    )
    inputs = [*pod("a", 360, 3), *pod("b", 240, 5), *pod("c", 6000, 50, svc="other"),
              {"series": ingress, "values": "0+30x20"}]  # fmt: skip

    def sample(record: str, value: float) -> dict[str, Any]:
        expected = [{"labels": f"keda_trigger:{record}", "value": value}]
        return {"expr": f"keda_trigger:{record}", "eval_time": "10m", "exp_samples": expected}

    tests = {
        "rule_files": [rules.name],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": inputs,
                "promql_expr_test": [sample("rps", 10), sample("in_flight", 8), sample("wake", 0.5)],
            }
        ],
    }
    test_file = tmp_path / "triggers_test.yml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr


# --- a real Prometheus scraping the real service under load -----------------

RATE = 20  # requests per second the test drives
#: The trigger's rate window is 2 minutes; the load fills it, so the rate is the load, not a fraction of it.
LOAD_SECONDS = 125
CLIENTS = 4


def drive(url: str, rate: float, seconds: float, failures: list[str]) -> int:
    """``rate`` requests/s for ``seconds`` from ``CLIENTS`` paced threads; returns how many were sent."""
    per_client, start, sent = rate / CLIENTS, time.monotonic(), [0] * CLIENTS

    def client(index: int) -> None:
        with httpx.Client(base_url=url, timeout=10) as http:
            n = 0
            while (due := start + (n + index / CLIENTS) / per_client) < start + seconds:
                time.sleep(max(0.0, due - time.monotonic()))
                response = http.post("/v1/classify", json={"texts": ["where is my parcel"]})
                if response.status_code != 200:
                    failures.append(f"{response.status_code}: {response.text[:200]}")
                n += 1
            sent[index] = n

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(sent)


def one_value(prometheus: str, expr: str) -> float:
    answer = query(prometheus, expr)
    assert answer["status"] == "success", answer
    result = answer["data"]["result"]
    assert len(result) == 1, f"KEDA needs exactly one element from {expr}, got {result}"
    return float(result[0]["value"][1])


def test_the_request_rate_trigger_reports_the_load_driven_at_the_real_service(tmp_path: Path) -> None:
    rps_query, in_flight_query = load_query(service("requestsPerSecond")), load_query(service("inFlight"))
    labels = {"namespace": NAMESPACE, "service": SERVICE}
    with scraped_service(tmp_path, SERVICE_DIR, labels=labels) as (service_url, prometheus):
        # Idle: in flight is 0 (one element, not an empty answer KEDA would read as 0 anyway).
        deadline = time.monotonic() + 20
        while not query(prometheus, in_flight_query)["data"]["result"] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert one_value(prometheus, in_flight_query) == 0
        failures: list[str] = []
        in_flight: list[float] = []
        sampler_done = threading.Event()

        def sample_in_flight() -> None:
            while not sampler_done.wait(2):
                result = query(prometheus, in_flight_query)["data"]["result"]
                in_flight.extend(float(r["value"][1]) for r in result)

        sampler = threading.Thread(target=sample_in_flight)
        sampler.start()
        try:
            sent = drive(service_url, RATE, LOAD_SECONDS, failures)
        finally:
            sampler_done.set()
            sampler.join()
        time.sleep(2)  # the last scrape
        assert failures == []
        assert sent == pytest.approx(RATE * LOAD_SECONDS, rel=0.02)
        measured = one_value(prometheus, rps_query)
        assert measured == pytest.approx(RATE, rel=0.1), f"{rps_query} = {measured}, drove {RATE}/s"
        # In flight, per scrape: whole requests, never more than the clients had open.
        assert in_flight and all(v.is_integer() and 0 <= v <= CLIENTS for v in in_flight), in_flight
        assert not math.isnan(measured)

"""The capacity planner against a real Prometheus holding a history the test made.

The history (two services, seven hours, one sample a minute) is written as
OpenMetrics, backfilled with ``promtool tsdb create-blocks-from openmetrics``
into a fresh data directory, and served by a real Prometheus on loopback.
The planner reads it through the HTTP API exactly as it would in a cluster.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.offline.plan.patch import apply_patch
from tests.conftest import base_config, base_service
from tests.plan_series import QueueService, diurnal, openmetrics
from tests.processes import free_port, require_binary, running
from tests.test_cli import run_cli

pytestmark = pytest.mark.integration
HOURS = 7
#: 8 replicas of 2 cores for 40-80 req/s that one replica could nearly serve alone.
OVER = QueueService("classifier", diurnal(40, 80), replicas=8, mu=60)
#: 3 replicas (the HPA's maximum) for 45-135 req/s: p95 reaches 600 ms against a 300 ms SLO.
SLOW = QueueService("reranker", diurnal(45, 135), replicas=3, mu=50, cores_per_request=0.015)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary, promtool = require_binary("prometheus"), require_binary("promtool")
    directory = tmp_path_factory.mktemp("planner-prometheus")
    end = int(time.time()) // 60 * 60
    history = directory / "history.om"
    history.write_text("\n".join(openmetrics([OVER, SLOW], end - HOURS * 3600, end)) + "\n")
    backfill = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(history), str(directory / "data")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert backfill.returncode == 0, backfill.stdout + backfill.stderr
    (directory / "prometheus.yml").write_text(yaml.safe_dump({"global": {"scrape_interval": "1m"}}))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(
        [
            binary,
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=2d",
        ],
        directory / "prometheus.log",
        ready_url=f"{url}/-/ready",
    ):
        yield url


def stack_file(directory: Path, *extra: dict[str, Any]) -> Path:
    """A prod stack with both services, as a team would have declared them."""
    services = [
        base_service(
            name="classifier",
            replicas=8,
            autoscaling={"minReplicas": 8, "maxReplicas": 16},
            resources={"cpu": "2", "memory": "2Gi"},
            slo={"latencyP95Ms": 300},
        ),
        base_service(
            name="reranker",
            replicas=3,
            autoscaling={"minReplicas": 3, "maxReplicas": 3},
            resources={"cpu": "1", "memory": "1Gi", "cpuLimit": "2"},
            slo={"latencyP95Ms": 300},
        ),
        *extra,
    ]
    path = directory / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump({"config": base_config("prod", services=services)}, sort_keys=False))
    return path


def test_the_plan_shrinks_the_idle_service_grows_the_slow_one_and_its_patch_passes_check(
    prometheus: str, tmp_path: Path
) -> None:
    stack = stack_file(tmp_path)
    result = run_cli("plan", "--config", str(stack), "--prometheus", prometheus, "--window", "6h", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    plans = {service["name"]: service for service in report["services"]}
    classifier, reranker = plans["classifier"], plans["reranker"]

    # Probe requests (8 a second, all fast) are not traffic.
    assert classifier["evidence"]["requestRate"]["peak"] == pytest.approx(80, abs=0.5)
    # Over-provisioned: fewer, smaller replicas (never below prod's 3), and cheaper.
    assert classifier["evidence"]["capacity"]["verdict"] == "fitted"
    assert 3 <= classifier["proposed"]["minReplicas"] <= classifier["proposed"]["maxReplicas"] < 8
    assert classifier["proposed"]["cpu"].endswith("m")
    assert classifier["monthlyCost"]["proposed"] < classifier["monthlyCost"]["current"]
    # Missing its SLO at 3 replicas: more replicas, and the predicted p95 at peak within the SLO.
    assert reranker["evidence"]["errorRatio"]["p95"] == 0
    assert reranker["evidence"]["latencyP95Ms"]["shareOverSlo"] > 0.1
    assert reranker["evidence"]["latencyP95Ms"]["max"] > 300
    assert reranker["proposed"]["maxReplicas"] > reranker["current"]["maxReplicas"]
    assert reranker["evidence"]["latencyP95Ms"]["predictedAtPeak"] <= 300
    assert reranker["monthlyCost"]["range"]["proposed"]["max"] > reranker["monthlyCost"]["range"]["current"]["max"]

    patched = tmp_path / "planned" / "Pulumi.prod.yaml"
    patched.parent.mkdir()
    patched.write_text(apply_patch(stack.read_text(), report["patch"]))
    services = {s["name"]: s for s in yaml.safe_load(patched.read_text())["config"]["ai-platform:services"]}
    assert services["classifier"]["autoscaling"]["maxReplicas"] == classifier["proposed"]["maxReplicas"]
    assert services["reranker"]["autoscaling"]["maxReplicas"] == reranker["proposed"]["maxReplicas"]
    check = run_cli("check", "--config", str(patched), "--json")
    assert check.returncode == 0, check.stdout + check.stderr
    assert [v for v in json.loads(check.stdout)["violations"] if v["enforcementLevel"] == "mandatory"] == []


def test_markdown_fits_a_pull_request_comment(prometheus: str, tmp_path: Path) -> None:
    result = run_cli(
        "plan",
        "--config",
        str(stack_file(tmp_path)),
        "--prometheus",
        prometheus,
        "--window",
        "6h",
        "--format",
        "markdown",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("### Capacity plan: `prod` (prod)")
    assert "| classifier | 8-16 x (2 CPU, 2Gi) @ 70% CPU |" in result.stdout
    assert "<summary>Stack-file patch</summary>" in result.stdout


def test_a_service_without_data_gets_a_message_and_exit_1_while_the_others_are_planned(
    prometheus: str, tmp_path: Path
) -> None:
    stack = stack_file(tmp_path, base_service(name="unscraped"))
    result = run_cli("plan", "--config", str(stack), "--prometheus", prometheus, "--window", "6h", "--json")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("unscraped: no plan: no requests in the last 6h")
    report = json.loads(result.stdout)
    assert [s["name"] for s in report["services"]] == ["classifier", "reranker"]
    assert [e["name"] for e in report["errors"]] == ["unscraped"]
    assert "name: unscraped" in report["patch"]  # listed unchanged, so the patch keeps it


def test_too_short_a_window_is_a_message_per_service(prometheus: str, tmp_path: Path) -> None:
    result = run_cli("plan", "--config", str(stack_file(tmp_path)), "--prometheus", prometheus, "--window", "30m")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["classifier", "reranker"]
    assert all("window is too short: at least 1h" in line for line in lines)

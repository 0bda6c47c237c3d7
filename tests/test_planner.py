"""The capacity planner's estimate, solver, sizing and patch, on synthetic data (no Prometheus)."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from ai_platform_policies.cost import DEFAULT_PRICES, Prices
from infra.offline.check import check_stack
from infra.offline.plan.capacity import MAX_EXTRAPOLATION, Capacity, Verdict, estimate_capacity
from infra.offline.plan.patch import apply_patch, services_patch
from infra.offline.plan.prometheus import Prometheus, PrometheusError, format_duration, parse_duration
from infra.offline.plan.service_plan import plan_service
from infra.offline.plan.sizes import Size
from infra.offline.plan.solver import Constraints, choose_replicas
from infra.offline.plan.stats import Line, fit_line, quantile
from model.config import ServiceConfig
from tests.conftest import StackWriter, base_config, base_service
from tests.helpers import manifests_of
from tests.plan_series import QueueService, diurnal, observations
from tests.processes import free_port
from tests.test_cli import run_cli

PRICES = Prices.from_mapping(DEFAULT_PRICES)
PROD = Constraints(min_replicas=3, max_limit_ratio=2)
SLO = 0.3
LN20 = math.log(20)


def mm1_points(mu: float, loads: list[float], floor: float = 0.0) -> list[tuple[float, float]]:
    return [(rho, floor + LN20 / (mu - rho)) for rho in loads]


def spread(low: float, high: float, n: int = 40) -> list[float]:
    return [low + (high - low) * i / (n - 1) for i in range(n)]


def service(**overrides: Any) -> ServiceConfig:
    return ServiceConfig.model_validate(base_service(slo={"latencyP95Ms": 300}, **overrides))


# --- the capacity estimate ---------------------------------------------------


def test_capacity_is_where_the_fitted_latency_meets_the_slo() -> None:
    # M/M/1 with mu = 50: p95 = ln20 / (50 - rho) meets 300 ms at rho = 50 - ln20/0.3 (about 40).
    capacity = estimate_capacity(mm1_points(50, spread(15, 45)), SLO)

    assert capacity.verdict is Verdict.FITTED
    assert capacity.per_replica_rps == pytest.approx(50 - LN20 / SLO)
    assert capacity.saturation_rps == pytest.approx(50)
    assert capacity.latency_at(capacity.per_replica_rps or 0) == pytest.approx(SLO)
    assert capacity.notes == []


def test_a_p95_beyond_the_top_bucket_counts_as_saturated_not_as_missing() -> None:
    # histogram_quantile answers +Inf when the p95 falls in the +Inf bucket.
    points = [*mm1_points(50, spread(15, 40)), *((rho, math.inf) for rho in spread(49, 55, 8))]
    capacity = estimate_capacity(points, SLO)

    assert capacity.verdict is Verdict.FITTED
    assert capacity.observed_max_rps == 55
    assert capacity.per_replica_rps == pytest.approx(50 - LN20 / SLO, rel=0.1)
    assert quantile([1.0, math.inf, math.inf], 0.9) == math.inf


def test_a_service_always_past_its_slo_gets_a_capacity_below_the_data_with_a_note() -> None:
    # SLO 100 ms, met up to 50 - ln20/0.1 (about 20) req/s per replica; every load seen was 22 or more.
    capacity = estimate_capacity(mm1_points(50, spread(22, 45)), 0.1)

    assert capacity.verdict is Verdict.FITTED
    assert capacity.observed_max_within_slo_rps is None
    assert capacity.per_replica_rps == pytest.approx(50 - LN20 / 0.1)
    assert "extrapolated below the data" in capacity.notes[0]


def test_capacity_is_never_extrapolated_past_twice_the_load_seen() -> None:
    capacity = estimate_capacity(mm1_points(100, spread(5, 15)), SLO)

    assert capacity.verdict is Verdict.FITTED
    assert capacity.per_replica_rps == pytest.approx(MAX_EXTRAPOLATION * 15)
    assert "capped" in capacity.notes[0]


@pytest.mark.parametrize(
    ("case", "points"),
    [
        ("the load never varied", [(10.0, 0.05 + 0.001 * (i % 3)) for i in range(30)]),
        ("latency does not rise with load", [(rho, 0.05) for rho in spread(5, 20)]),
        ("latency falls with load (noise, caching)", [(rho, 0.08 - rho / 1000) for rho in spread(5, 20)]),
    ],
)
def test_when_the_data_cannot_tell_capacity_is_the_highest_load_seen_within_the_slo(
    case: str, points: list[tuple[float, float]]
) -> None:
    capacity = estimate_capacity(points, SLO)

    assert capacity.verdict is Verdict.LOWER_BOUND, case
    assert capacity.fit is None
    assert capacity.per_replica_rps == max(rho for rho, _ in points)
    assert "cannot tell" in capacity.notes[0]


def test_a_slo_miss_that_does_not_depend_on_load_keeps_replicas() -> None:
    points = [(rho, 0.45 + 0.01 * (i % 2)) for i, rho in enumerate(spread(5, 20))]
    capacity = estimate_capacity(points, SLO)
    assert capacity.verdict is Verdict.NOT_LOAD_RELATED
    assert capacity.per_replica_rps is None

    slow = QueueService("text-classifier", diurnal(15, 60), replicas=3, mu=1000, floor_seconds=0.45)
    plan = plan_service(
        service(replicas=3, autoscaling={"minReplicas": 3, "maxReplicas": 6}),
        observations(slow),
        PROD,
        PRICES,
    )
    assert plan.capacity.verdict is Verdict.NOT_LOAD_RELATED
    assert (plan.proposed.min_replicas, plan.proposed.max_replicas) == (3, 6)
    assert plan.confidence == "low"


def test_a_latency_floor_above_the_slo_is_unreachable_and_lambda_decides() -> None:
    # Latency rises with load but an idle replica already takes 400 ms (SLO 300 ms).
    points = mm1_points(50, spread(10, 40), floor=0.4)
    capacity = estimate_capacity(points, SLO)
    assert capacity.verdict is Verdict.SLO_UNREACHABLE
    assert capacity.per_replica_rps is None
    assert capacity.latency_floor_seconds == pytest.approx(0.4, rel=0.1)

    alpha = 100.0  # per replica and month
    cheap = choose_replicas(120, capacity, alpha, Constraints(min_replicas=1, latency_weight=0))
    balanced = choose_replicas(120, capacity, alpha, Constraints(min_replicas=1, latency_weight=1))
    fast = choose_replicas(120, capacity, alpha, Constraints(min_replicas=1, latency_weight=100))
    assert not cheap.meets_slo
    # lambda = 0: the fewest replicas that keep the queue stable (load per replica below saturation).
    assert cheap.replicas == math.floor(120 / (capacity.saturation_rps or 1)) + 1
    assert cheap.replicas < balanced.replicas < fast.replicas
    assert cheap.predicted_p95_seconds > balanced.predicted_p95_seconds > fast.predicted_p95_seconds


# --- the solver -----------------------------------------------------------------


def test_the_readme_worked_example() -> None:
    """README, "Capacity planner": two prod services, lambda = 1 USD/month per ms."""
    classifier = Size(3, 10, 70, "1", "1Gi", None, None, 0, "nvidia-l4")
    llm = Size(3, 6, 80, "4", "24Gi", None, None, 1, "nvidia-l4")
    alpha_classifier, alpha_llm = float(classifier.replica_month(PRICES)), float(llm.replica_month(PRICES))
    assert (round(alpha_classifier, 2), round(alpha_llm, 2)) == (26.13, 684.16)

    fast = Capacity(Verdict.FITTED, 0.3, (20 - 1 / 0.3) * 3, 45, 45, Line(20, -1 / 3, 1.0, math.inf, 100))
    assert fast.per_replica_rps == pytest.approx(50)
    assert fast.latency_floor_seconds == pytest.approx(0.05)
    assert fast.saturation_rps == pytest.approx(60)
    peak, median = (
        choose_replicas(240, fast, alpha_classifier, PROD),
        choose_replicas(120, fast, alpha_classifier, PROD),
    )
    assert (median.replicas, peak.replicas) == (3, 6)
    assert peak.predicted_p95_seconds == pytest.approx(0.150)

    slow = Capacity(Verdict.SLO_UNREACHABLE, 2.5, None, 3, None, Line(0.35, -0.1, 1.0, math.inf, 100))
    assert slow.latency_floor_seconds == pytest.approx(2.857, abs=1e-3)

    def plan(weight: float, demand: float) -> int:
        return choose_replicas(demand, slow, alpha_llm, replace(PROD, latency_weight=weight)).replicas

    assert [plan(weight, 6) for weight in (0, 1, 5)] == [3, 4, 8]
    assert plan(1, 3) == 3
    objective = {x: alpha_llm * x + (slow.latency_at(6 / x) - 2.5) * 1000 for x in range(3, 10)}
    assert {x: round(value, 2) for x, value in objective.items()} == {
        3: 6219.13,
        4: 5236.62,
        5: 5268.61,
        6: 5604.94,
        7: 6072.88,
        8: 6609.61,
        9: 7186.82,
    }
    assert round(6 * alpha_classifier + 4 * alpha_llm, 2) == 2893.43
    assert round(10 * alpha_classifier + 6 * alpha_llm, 2) == 4366.28


def test_the_cheapest_size_meeting_the_slo_keeps_headroom_and_the_environment_minimum() -> None:
    capacity = estimate_capacity(mm1_points(50, spread(15, 45)), SLO)  # about 40 req/s per replica
    per_replica = (capacity.per_replica_rps or 0) / 1.2

    assert choose_replicas(10, capacity, 1, PROD).replicas == 3  # the prod minimum
    assert choose_replicas(200, capacity, 1, PROD).replicas == math.ceil(200 / per_replica)
    assert choose_replicas(200, capacity, 1, PROD).meets_slo
    too_big = choose_replicas(10_000, capacity, 1, Constraints(min_replicas=3, max_replicas=20))
    assert too_big.replicas <= 20
    assert not too_big.meets_slo


# --- one service, end to end on synthetic series ---------------------------------------


def over_provisioned() -> tuple[ServiceConfig, QueueService]:
    config = service(
        replicas=8, autoscaling={"minReplicas": 8, "maxReplicas": 16}, resources={"cpu": "2", "memory": "2Gi"}
    )
    return config, QueueService("text-classifier", diurnal(40, 80), replicas=8, mu=60)


def missing_its_slo() -> tuple[ServiceConfig, QueueService]:
    config = service(
        replicas=3,
        autoscaling={"minReplicas": 3, "maxReplicas": 3},
        resources={"cpu": "1", "memory": "1Gi", "cpuLimit": "2"},
    )
    return config, QueueService("text-classifier", diurnal(45, 135), replicas=3, mu=50, cores_per_request=0.015)


def test_an_over_provisioned_service_shrinks_and_saves() -> None:
    config, truth = over_provisioned()
    plan = plan_service(config, observations(truth), PROD, PRICES)

    assert plan.proposed.max_replicas < plan.current.min_replicas
    assert plan.proposed.min_replicas >= 3
    # 80 req/s at peak; capacity capped at 2x the 10 req/s per replica seen, less 20 % headroom.
    assert plan.proposed.max_replicas == math.ceil(80 / (20 / 1.2))
    assert plan.proposed.cpu == "300m"  # (0.05 idle + 0.01 x 20 req/s) x 1.2
    assert plan.proposed.memory == "384Mi"  # 307 MiB x 1.2, rounded up to 16 MiB
    assert plan.monthly.proposed < plan.monthly.current
    assert plan.evidence["capacity"]["verdict"] == "fitted"
    assert plan.confidence == "medium"  # extrapolated beyond the load seen


def test_a_service_missing_its_slo_grows_within_the_prod_limit_ratio() -> None:
    config, truth = missing_its_slo()
    plan = plan_service(config, observations(truth), PROD, PRICES)

    assert plan.evidence["latencyP95Ms"]["shareOverSlo"] > 0.2
    assert plan.proposed.max_replicas > plan.current.max_replicas
    assert plan.proposed.max_replicas == math.ceil(135 / ((50 - LN20 / SLO) / 1.2))
    assert plan.evidence["latencyP95Ms"]["predictedAtPeak"] <= 300
    # The 2-core limit stays (capacity was measured under it); prod allows limit/request <= 2.
    assert (plan.proposed.cpu, plan.proposed.cpu_limit) == ("1", "2")
    assert plan.monthly.proposed_range[1] > plan.monthly.current_range[1]
    assert plan.confidence == "high"


def test_without_cadvisor_series_requests_are_kept_and_confidence_drops() -> None:
    config, truth = over_provisioned()
    seen = observations(truth)
    plan = plan_service(config, type(seen)(**{**seen.__dict__, "cpu": {}, "memory": {}}), PROD, PRICES)

    assert (plan.proposed.cpu, plan.proposed.memory) == ("2", "2Gi")
    assert plan.proposed.max_replicas < plan.current.min_replicas
    assert any("no CPU usage" in note for note in plan.notes)
    assert "CPU or memory usage is missing: those requests were kept" in plan.evidence["confidenceReasons"]


def test_when_latency_never_moves_the_plan_keeps_the_load_per_replica_that_was_seen() -> None:
    # Latency flat at well under a millisecond: capacity is only known to be at least 2 req/s per replica.
    config = service(replicas=6, autoscaling={"minReplicas": 6, "maxReplicas": 6})
    truth = QueueService("text-classifier", diurnal(6, 12), replicas=6, mu=10_000)
    plan = plan_service(config, observations(truth), Constraints(min_replicas=1), PRICES)

    assert plan.capacity.verdict is Verdict.LOWER_BOUND
    assert plan.capacity.per_replica_rps == pytest.approx(2)
    assert plan.proposed.max_replicas == 6  # 12 req/s at peak / 2: no headroom on a load already seen
    assert plan.proposed.min_replicas == math.ceil(9 / 2)  # the median load
    assert plan.confidence == "medium"


def test_gpu_utilisation_is_evidence_and_idle_gpus_are_pointed_out() -> None:
    config = service(
        replicas=3,
        autoscaling={"minReplicas": 3, "maxReplicas": 6},
        resources={"cpu": "4", "memory": "24Gi", "gpu": 1, "gpuType": "nvidia-a100-80gb"},
    )
    seen = observations(QueueService("text-classifier", diurnal(3, 9), replicas=3, mu=5, cores_per_request=0.2))
    busy = {t: 10.0 + 10 * (i % 2) for i, t in enumerate(sorted(seen.rate))}  # 10 % and 20 % in turn
    seen = type(seen)(**{**seen.__dict__, "gpu_utilization": busy})
    plan = plan_service(config, seen, PROD, PRICES)

    assert plan.evidence["gpu"] == {"utilizationP50": 15, "utilizationP95": 20}
    assert any("smaller gpuType" in note for note in plan.notes)
    assert (plan.proposed.gpu, plan.proposed.gpu_type) == (1, "nvidia-a100-80gb")
    assert plan.as_json()["proposed"]["gpuType"] == "nvidia-a100-80gb"


# --- the patch --------------------------------------------------------------------------


def test_the_patch_changes_only_planned_keys_and_merges_into_the_stack(write_stack: StackWriter) -> None:
    other = base_service(name="other", env={"A": "1"})
    stack = write_stack(
        base_config(
            services=[
                base_service(
                    ingress={"host": "a.example.com"}, resources={"cpu": "2", "memory": "2Gi", "cpuLimit": "4"}
                ),
                other,
            ]
        )
    )
    proposed = Size(
        min_replicas=3,
        max_replicas=5,
        target_cpu_utilization=72,
        cpu="300m",
        memory="384Mi",
        cpu_limit=None,
        memory_limit=None,
        gpu=0,
        gpu_type="nvidia-l4",
    )
    patch = services_patch(stack, {"text-classifier": proposed})
    merged = yaml.safe_load(apply_patch(stack.read_text(), patch))
    first, second = merged["config"]["ai-platform:services"]

    assert first["autoscaling"] == {"minReplicas": 3, "maxReplicas": 5, "metric": "cpu", "target": 72}
    assert first["resources"] == {"cpu": "300m", "memory": "384Mi"}
    assert first["ingress"] == {"host": "a.example.com"}
    assert second == other
    assert merged["config"]["ai-platform:environment"] == "prod"
    assert services_patch(stack, {"other": Size.of(ServiceConfig.model_validate(other))}) == ""


def test_a_patch_that_adds_autoscaling_passes_check(write_stack: StackWriter, tmp_path: Path) -> None:
    stack = write_stack(base_config("dev", services=[base_service(replicas=1)]), name="dev")
    proposed = replace(
        Size.of(ServiceConfig.model_validate(base_service(replicas=1))),
        max_replicas=3,
        target_cpu_utilization=75,
        cpu="120m",
        memory="256Mi",
    )
    patched = tmp_path / "patched" / "Pulumi.dev.yaml"
    patched.parent.mkdir()
    patched.write_text(apply_patch(stack.read_text(), services_patch(stack, {"text-classifier": proposed})))

    report = check_stack(patched)
    assert not report.failed, report.as_json()
    [hpa] = manifests_of(report.rendered, "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 3)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 75


# --- small pieces -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [("7d", 604800), ("12h", 43200), ("1h30m", 5400), ("2w", 1209600)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "7", "7days", "-1h", "1.5h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_a_line_through_points_that_do_not_vary_has_no_slope() -> None:
    assert fit_line([(1.0, 2.0)] * 5) is None
    flat = fit_line([(float(x), 2.0) for x in range(5)])
    assert flat is not None
    assert (flat.slope, flat.slope_t) == (0.0, 0.0)


def test_unreachable_prometheus_is_one_message_per_service_and_exit_1(write_stack: StackWriter) -> None:
    stack = write_stack(base_config(services=[base_service(), base_service(name="second")]))
    result = run_cli("plan", "--config", str(stack), "--prometheus", f"http://127.0.0.1:{free_port()}", "--json")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["text-classifier", "second"]
    assert all("no plan: cannot reach Prometheus at http://127.0.0.1:" in line for line in lines)
    report = yaml.safe_load(result.stdout)
    assert report["services"] == []
    assert report["patch"] == ""


@pytest.mark.parametrize(("flag", "value"), [("--window", "a week"), ("--latency-weight", "-1")])
def test_bad_arguments_exit_2_with_usage(write_stack: StackWriter, flag: str, value: str) -> None:
    stack = write_stack(base_config())
    result = run_cli("plan", "--config", str(stack), "--prometheus", "http://x", flag, value)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert flag in result.stderr


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (200, "<html>Grafana</html>", "answered HTTP 200 without JSON: is this a Prometheus?"),
        (400, '{"status": "error", "errorType": "bad_data", "error": "parse error"}', "answered HTTP 400: parse error"),
        (200, '{"status": "success", "data": {"resultType": "vector", "result": []}}', "expected a matrix"),
    ],
)
def test_prometheus_answers_that_are_not_data_are_errors_for_a_user(
    monkeypatch: pytest.MonkeyPatch, status: int, body: str, message: str
) -> None:
    def answer(url: str, **_: Any) -> httpx.Response:
        return httpx.Response(status, text=body, request=httpx.Request("GET", url))

    monkeypatch.setattr(httpx, "get", answer)
    with pytest.raises(PrometheusError, match=re.escape(message)):
        Prometheus("http://prometheus:9090").query_range("up", 0, 3600, 300)

"""Data survives deletes: chart-owned PVCs are kept by Helm, stateful prod releases are protected and retained."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from infra.offline.check import Rendered
from tests.helpers import resources_of

RELEASE = "kubernetes:helm.sh/v3:Release"
KEEP = {"helm.sh/resource-policy": "keep"}
#: Releases whose PVCs hold data (metrics history, dashboards, build history and job state).
STATEFUL = {"kube-prometheus-stack", "jenkins"}


def releases(rendered: Rendered) -> dict[str, dict[str, object]]:
    return {r.name: {"values": r.inputs["values"], **r.options} for r in resources_of(rendered, RELEASE)}


def test_pvcs_the_charts_own_carry_the_keep_policy(rendered_stack: Callable[[str], Rendered]) -> None:
    prod = {r.name: r.inputs["values"] for r in resources_of(rendered_stack("prod"), RELEASE)}
    # grafana 8.5.x templates/pvc.yaml and jenkins 5.7.0 templates/home-pvc.yaml print these annotations.
    assert prod["kube-prometheus-stack"]["grafana"]["persistence"]["annotations"] == KEEP
    assert prod["jenkins"]["persistence"]["annotations"] == KEEP
    # Prometheus' and Alertmanager's PVCs come from StatefulSet volumeClaimTemplates, which Helm never deletes:
    # the annotation would be noise there.
    prometheus = prod["kube-prometheus-stack"]["prometheus"]["prometheusSpec"]["storageSpec"]
    assert "metadata" not in prometheus["volumeClaimTemplate"]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_stateful_prod_releases_are_protected_and_retained(
    stack: str, rendered_stack: Callable[[str], Rendered]
) -> None:
    for name, release in releases(rendered_stack(stack)).items():
        stateful = stack == "prod" and name in STATEFUL
        assert release["protect"] is stateful, name
        assert bool(release.get("retainOnDelete")) is stateful, name


def test_only_the_release_is_retained_not_its_secrets(rendered_stack: Callable[[str], Rendered]) -> None:
    for secret in resources_of(rendered_stack("prod"), "kubernetes:core/v1:Secret"):
        assert not secret.options.get("retainOnDelete"), secret.name

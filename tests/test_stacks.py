"""The committed stacks: each renders, validates against its Kubernetes schemas, and sizes per environment."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ai_platform_policies.kube import CLUSTER_SCOPED_KINDS
from infra.offline.check import CheckReport, Rendered
from tests.helpers import container, manifests_of

STACKS = ["dev", "staging", "prod"]
RenderStack = Callable[[str], Rendered]
CheckStack = Callable[[str], CheckReport]


@pytest.mark.parametrize("stack", STACKS)
def test_stack_passes_schemas_and_its_own_policies(checked_stack: CheckStack, stack: str) -> None:
    report = checked_stack(stack)
    rendered = report.rendered
    assert rendered.config.environment == stack
    assert rendered.manifests, "nothing rendered"
    assert report.schema_errors == []
    assert [v for v in report.violations if v.blocks] == []
    assert not report.failed


def test_prod_has_no_findings_at_all(checked_stack: CheckStack) -> None:
    assert checked_stack("prod").violations == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_manifest_is_complete(rendered_stack: RenderStack, stack: str) -> None:
    for manifest in rendered_stack(stack).manifests:
        assert manifest.body["apiVersion"] and manifest.body["kind"]
        assert manifest.body["metadata"]["name"]
        if manifest.kind not in CLUSTER_SCOPED_KINDS:
            assert manifest.namespace not in (None, "default"), manifest.file_name


def test_prod_holds_the_full_service_shape(rendered_stack: RenderStack) -> None:
    kinds = {m.kind for m in rendered_stack("prod").manifests}
    assert {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceAccount",
    } <= kinds


def test_prod_runs_a_gpu_service_next_to_a_cpu_one(rendered_stack: RenderStack) -> None:
    deployments = manifests_of(rendered_stack("prod"), "Deployment")
    gpus = {d["metadata"]["name"]: container(d)["resources"]["limits"].get("nvidia.com/gpu") for d in deployments}
    assert gpus["text-classifier"] is None
    assert any(count is not None and int(count) >= 1 for count in gpus.values())


def test_prod_images_are_pinned_by_digest(rendered_stack: RenderStack) -> None:
    for deployment in manifests_of(rendered_stack("prod"), "Deployment"):
        assert "@sha256:" in container(deployment)["image"]


def test_environments_scale_up_from_dev_to_prod(rendered_stack: RenderStack) -> None:
    def classifier_minimum(stack: str) -> int:
        config = rendered_stack(stack).config
        [service] = [s for s in config.services if s.name == "text-classifier"]
        return service.min_replicas

    assert classifier_minimum("dev") == 0  # scales to zero when idle
    assert classifier_minimum("staging") == 2
    assert classifier_minimum("prod") >= 3
    assert manifests_of(rendered_stack("dev"), "HorizontalPodAutoscaler") == []
    prod_hpas = manifests_of(rendered_stack("prod"), "HorizontalPodAutoscaler")
    prod_scalers = manifests_of(rendered_stack("prod"), "ScaledObject")
    assert prod_hpas and all(h["spec"]["minReplicas"] >= 3 for h in prod_hpas)
    assert prod_scalers and all(s["spec"]["minReplicaCount"] >= 3 for s in prod_scalers)

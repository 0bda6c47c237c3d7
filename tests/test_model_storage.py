"""Model weights: an existing claim mounted read-only, or downloaded by a restricted init container
into a per-pod cache on a real disk; the startup budget and the cost count the download and the disk."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from ai_platform_policies import cost
from infra.offline.check import Rendered, check_stack, render
from infra.offline.schema import validate_manifest
from tests.conftest import StackWriter, base_config, base_service
from tests.helpers import assert_refused, container, manifest, pod_spec, resources_of

#: A mirror of amazon/aws-cli in the platform's approved registry (prod's pack approves registry.example.com).
FETCHER = "registry.example.com/mirror/aws-cli:2.17.0@sha256:" + "b" * 64
CREDENTIALS = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
SECRETS = {"llm": {name: {"secure": "v1:c2VjcmV0"} for name in [*CREDENTIALS, "API_TOKEN"]}}


def llm(**model: Any) -> dict[str, Any]:
    return base_service(
        name="llm",
        replicas=3,
        autoscaling={"minReplicas": 3, "maxReplicas": 6},
        health={"startupTimeoutSeconds": 900, "imagePullSeconds": 600},
        secretEnv=[*CREDENTIALS, "API_TOKEN"],
        env={"AWS_REGION": "eu-west-1"},
        # The download leaves the cluster: object storage over HTTPS, the cluster's own networks excluded.
        egress=[{"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"], "ports": [443]}],
        model={
            "source": "s3://models-prod/support-assistant/v3",
            "size": "40Gi",
            "storageClass": "fast-ssd",
            "credentialEnv": CREDENTIALS,
            "fetcherImage": FETCHER,
            "downloadSeconds": 1200,
            **model,
        },
    )


def render_llm(write_stack: StackWriter, service: dict[str, Any], name: str = "test", **extra: Any) -> Rendered:
    return render(write_stack(base_config("prod", services=[service], serviceSecrets=SECRETS, **extra), name=name))


@pytest.fixture
def s3(write_stack: StackWriter) -> Rendered:
    return render_llm(write_stack, llm())


def test_a_downloaded_model_is_fetched_by_a_restricted_init_container_into_a_per_pod_cache(s3: Rendered) -> None:
    deployment = manifest(s3, "Deployment", "llm")
    pod = pod_spec(deployment)
    [fetcher] = pod["initContainers"]
    assert fetcher["image"] == FETCHER  # pinned by digest
    # The credentials are files; a shell exports them for the tool alone, then becomes the tool.
    shell, flag, script, name, *tool = fetcher["command"]
    assert (shell, flag, name) == ("/bin/sh", "-c", "model-fetcher")
    assert tool == [
        "aws", "s3", "sync", "--no-progress", "--only-show-errors", "s3://models-prod/support-assistant/v3", "/models"
    ]  # fmt: skip
    assert script == (
        'AWS_ACCESS_KEY_ID="$(cat /var/run/secrets/model-fetcher/AWS_ACCESS_KEY_ID)" && export AWS_ACCESS_KEY_ID && '
        'AWS_SECRET_ACCESS_KEY="$(cat /var/run/secrets/model-fetcher/AWS_SECRET_ACCESS_KEY)" && '
        'export AWS_SECRET_ACCESS_KEY && exec "$@"'
    )
    security = fetcher["securityContext"]
    assert security["runAsNonRoot"] is True and security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False and security["capabilities"] == {"drop": ["ALL"]}
    assert fetcher["resources"]["requests"].keys() == {"cpu", "memory"}
    assert fetcher["resources"]["limits"]["memory"] == fetcher["resources"]["requests"]["memory"]
    assert {"name": "model", "mountPath": "/models"} in fetcher["volumeMounts"]
    # Only the named credentials, only to the fetcher, as files (never environment variables of the pod).
    [credentials] = [v for v in pod["volumes"] if v["name"] == "model-credentials"]
    assert [item["key"] for item in credentials["secret"]["items"]] == CREDENTIALS
    assert {"name": "model-credentials", "mountPath": "/var/run/secrets/model-fetcher", "readOnly": True} in fetcher[
        "volumeMounts"
    ]
    assert not any(m["name"] == "model-credentials" for m in container(deployment)["volumeMounts"])
    assert not any("valueFrom" in e for c in [fetcher, container(deployment)] for e in c.get("env", []))
    assert fetcher["envFrom"] == container(deployment)["envFrom"]  # AWS_REGION and the like
    # Each pod gets its own cache on a real disk of the named class, deleted with the pod.
    [cache] = [v for v in pod["volumes"] if v["name"] == "model"]
    claim = cache["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert claim == {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "fast-ssd",
        "resources": {"requests": {"storage": "40Gi"}},
    }
    server = container(deployment)
    assert {"name": "model", "mountPath": "/models", "readOnly": True} in server["volumeMounts"]
    assert {"name": "MODEL_DIR", "value": "/models"} in server["env"]
    assert validate_manifest(deployment, "1.31", "llm") == []


def test_the_startup_budget_covers_the_download(s3: Rendered) -> None:
    deployment = manifest(s3, "Deployment", "llm")
    # The startup probe still allows the model load alone (it starts after the init container).
    assert container(deployment)["startupProbe"]["failureThreshold"] * 5 == 900
    assert deployment["spec"]["progressDeadlineSeconds"] == 900 + 600 + 1200
    [resource] = resources_of(s3, "kubernetes:apps/v1:Deployment")
    assert resource.options["customTimeouts"] == {"create": f"{6 * 2700}s", "update": f"{6 * 2700}s"}


def test_an_existing_claim_is_mounted_read_only_without_a_download(write_stack: StackWriter) -> None:
    service = llm()
    service["model"] = {"source": "pvc://support-assistant-weights", "mountPath": "/weights"}
    deployment = manifest(render_llm(write_stack, service), "Deployment", "llm")
    pod = pod_spec(deployment)
    assert "initContainers" not in pod
    [volume] = [v for v in pod["volumes"] if v["name"] == "model"]
    assert volume["persistentVolumeClaim"] == {"claimName": "support-assistant-weights", "readOnly": True}
    assert {"name": "MODEL_DIR", "value": "/weights"} in container(deployment)["env"]
    assert deployment["spec"]["progressDeadlineSeconds"] == 900 + 600  # nothing to download


def test_a_hugging_face_model_is_downloaded_at_its_pinned_revision(write_stack: StackWriter) -> None:
    service = llm(source="hf://mistralai/Mistral-7B-Instruct-v0.3@e0bc86c", credentialEnv=["HF_TOKEN"])
    service["secretEnv"] = ["HF_TOKEN"]
    secrets = {"llm": {"HF_TOKEN": {"secure": "v1:c2VjcmV0"}}}
    rendered = render(write_stack(base_config("prod", services=[service], serviceSecrets=secrets)))
    [fetcher] = pod_spec(manifest(rendered, "Deployment", "llm"))["initContainers"]
    assert fetcher["command"][4:] == [
        "huggingface-cli", "download", "mistralai/Mistral-7B-Instruct-v0.3", "--local-dir", "/models",
        "--revision", "e0bc86c",
    ]  # fmt: skip
    assert 'HF_TOKEN="$(cat /var/run/secrets/model-fetcher/HF_TOKEN)"' in fetcher["command"][2]


def test_a_public_model_needs_no_credentials_and_no_shell(write_stack: StackWriter) -> None:
    service = llm(source="hf://openai-community/gpt2", credentialEnv=[])
    service["secretEnv"] = []
    rendered = render(write_stack(base_config("prod", services=[service])))
    pod = pod_spec(manifest(rendered, "Deployment", "llm"))
    [fetcher] = pod["initContainers"]
    assert fetcher["command"] == ["huggingface-cli", "download", "openai-community/gpt2", "--local-dir", "/models"]
    assert "model-credentials" not in [v["name"] for v in pod["volumes"]]


def test_each_replica_pays_for_its_model_cache_at_its_storage_class_price(write_stack: StackWriter) -> None:
    pricing = {"storageGibMonth": {"default": 0.10, "fast-ssd": 0.25}}
    with_cache = render_llm(write_stack, llm(), pricing=pricing)
    service = llm()
    service["model"] = {"source": "pvc://weights"}
    without = render_llm(write_stack, service, name="claim", pricing=pricing)

    def item(rendered: Rendered) -> cost.Item:
        resources = [r.view() for r in rendered.resources]
        [llm_item] = [i for i in cost.estimate(resources, rendered.config.pricing.to_prices()).items if i.name == "llm"]
        return llm_item

    per_pod = Decimal(40) * Decimal("0.25")
    assert item(with_cache).min - item(without).min == per_pod * 3  # 3 to 6 replicas
    assert item(with_cache).max - item(without).max == per_pod * 6


def test_the_policy_pack_passes_a_service_with_a_model_fetcher_in_prod(write_stack: StackWriter) -> None:
    report = check_stack(write_stack(base_config("prod", services=[llm()], serviceSecrets=SECRETS), name="prod"))
    assert report.schema_errors == []
    assert [v for v in report.violations if "llm" in v.urn] == []
    # The pack judges the fetcher like any container: an image from an unapproved registry is refused.
    outside = check_stack(
        write_stack(
            base_config("prod", services=[llm(fetcherImage="docker.io/amazon/aws-cli:2.17.0@sha256:" + "b" * 64)],
                        serviceSecrets=SECRETS),
            name="prod",
        )
    )  # fmt: skip
    assert any(v.policy == "approved-registries" and "docker.io/amazon/aws-cli" in v.message and v.blocks
               for v in outside.violations)  # fmt: skip


@pytest.mark.parametrize(
    ("model", "secret_env", "key", "fragment"),
    [
        ({"credentialEnv": ["AWS_SESSION_TOKEN"]}, CREDENTIALS, "services[0]", "must be listed in secretEnv"),
        ({"size": None}, CREDENTIALS, "services[0].model", "size is required for s3://"),
        ({"fetcherImage": None}, CREDENTIALS, "services[0].model", "fetcherImage is required"),
        ({"fetcherImage": FETCHER.partition("@")[0]}, CREDENTIALS, "services[0].model", "pinned by digest"),
        ({"source": "ftp://models/llm"}, CREDENTIALS, "services[0].model.source", "is not a model source"),
        ({"source": "pvc://weights"}, CREDENTIALS, "services[0].model", "not a pvc:// claim"),
        ({"mountPath": "/var/run/secrets/x"}, CREDENTIALS, "services[0].model.mountPath", "overlaps"),
        ({"egress": []}, CREDENTIALS, "services[0]", "needs an `egress` rule"),
    ],
)
def test_model_mistakes_are_config_errors(
    write_stack: StackWriter, model: dict[str, Any], secret_env: list[str], key: str, fragment: str
) -> None:
    service = llm(**{k: v for k, v in model.items() if k != "egress"})
    service["model"] = {k: v for k, v in service["model"].items() if v is not None}
    service["egress"] = model.get("egress", service["egress"])
    service["secretEnv"] = secret_env
    secrets = {"llm": {name: {"secure": "v1:c2VjcmV0"} for name in secret_env}}
    assert_refused(write_stack(base_config("prod", services=[service], serviceSecrets=secrets)), key, fragment)


def test_model_dir_is_the_platform_s(write_stack: StackWriter) -> None:
    service = llm()
    service["env"] = {"MODEL_DIR": "/elsewhere"}
    assert_refused(
        write_stack(base_config("prod", services=[service], serviceSecrets=SECRETS)), "services[0]", "MODEL_DIR"
    )


def test_a_pod_reserves_its_largest_init_container_when_that_asks_for_more() -> None:
    def pod(init: dict[str, str] | None) -> cost.Resource:
        spec: dict[str, Any] = {
            "containers": [{"name": "app", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]
        }
        if init is not None:
            spec["initContainers"] = [{"name": "fetch", "resources": {"requests": init}}]
        props = {"metadata": {"name": "svc", "namespace": "ns"}, "spec": {"replicas": 1, "template": {"spec": spec}}}
        return cost.Resource("kubernetes:apps/v1:Deployment", "urn:svc", "svc", None, props)

    prices = cost.Prices.from_mapping({})

    def monthly(init: dict[str, str] | None) -> Decimal:
        [item] = cost.estimate([pod(init)], prices).items
        return item.min

    assert monthly({"cpu": "50m", "memory": "64Mi"}) == monthly(None)  # smaller: hidden by the app container
    assert monthly({"cpu": "1", "memory": "64Mi"}) == monthly(None) + Decimal("0.9") * prices.vcpu_hour * 730

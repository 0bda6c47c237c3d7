"""Images built from source with pulumi-docker and deployed by digest."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.service_image import context_digest, context_files
from infra import sdk
from infra.offline.check import Rendered
from infra.offline.runtime import PROJECT_ROOT
from infra.offline.stack_file import read_stack_file
from model.stack_config import ConfigError, parse_platform_config
from tests.conftest import StackWriter, base_config, base_service
from tests.helpers import container, manifest, resources_of

RenderStack = Callable[[str], Rendered]
SERVICE = PROJECT_ROOT / "services" / "text-classifier"


def test_prod_builds_the_classifier_and_deploys_it_by_digest(rendered_stack: RenderStack) -> None:
    prod = rendered_stack("prod")
    [image] = resources_of(prod, "docker:index/image:Image")
    build = image.inputs["build"]
    # Relative to infra/, where the engine runs the program: inputs do not depend on the checkout path.
    assert build["context"] == "../services/text-classifier"
    assert build["dockerfile"] == "../services/text-classifier/Dockerfile"
    assert build["platform"] == "linux/amd64"
    assert build["cacheFrom"]["images"] == [image.inputs["imageName"]]
    assert image.inputs["imageName"] == f"registry.example.com/ai/text-classifier:{context_digest(SERVICE)[:16]}"
    registry = image.inputs["registry"]
    assert sdk.is_secret(registry)  # it carries the password: the whole block is a secret
    assert registry["value"]["server"] == "registry.example.com"
    assert image.as_json()["inputs"]["registry"]["password"].startswith("[secret:")
    deployed = container(manifest(prod, "Deployment", "text-classifier"))["image"]
    assert deployed == image.outputs["repoDigest"]
    assert deployed.startswith("registry.example.com/ai/text-classifier@sha256:")
    # The prebuilt GPU server is used as given.
    assert "llm-inference:0.6.3@sha256:" in container(manifest(prod, "Deployment", "llm-inference"))["image"]


def test_the_image_is_pushed_after_the_registry_exists(rendered_stack: RenderStack) -> None:
    prod = rendered_stack("prod")
    [component] = resources_of(prod, "ai-platform:services:ServiceImage")
    # depends_on a component waits for all of its children (the registry's Deployment among them).
    assert any(
        "ai-platform:registry:ContainerRegistry$kubernetes:apps/v1:Deployment" in urn
        for urn in component.options["dependsOn"]
    )


def test_pushes_wait_for_a_trusted_registry_certificate(rendered_stack: RenderStack) -> None:
    """On a first `up`, Docker may push only once cert-manager has issued the registry's ACME certificate."""
    prod = rendered_stack("prod")
    [certificate] = [c for c in manifest_list(prod, "Certificate") if c["metadata"]["name"] == "registry"]
    assert certificate["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    assert certificate["spec"]["dnsNames"] == ["registry.example.com"]
    assert certificate["spec"]["issuerRef"]["name"] == "platform-issuer"
    ingress = manifest(prod, "Ingress", "registry")
    assert ingress["spec"]["tls"][0]["secretName"] == certificate["spec"]["secretName"]
    # The Certificate is declared, not also requested through ingress-shim.
    assert "cert-manager.io/cluster-issuer" not in ingress["metadata"]["annotations"]
    [component] = resources_of(prod, "ai-platform:services:ServiceImage")
    assert any(
        "cert-manager.io/v1:Certificate" in urn or "registry-certificate" in urn
        for urn in component.options["dependsOn"]
    )


def manifest_list(rendered: Rendered, kind: str) -> list[dict[str, Any]]:
    return [m.body for m in rendered.manifests if m.kind == kind]


def test_an_external_registry_replaces_the_in_cluster_one(write_stack: StackWriter) -> None:
    from infra.offline.check import render

    config = base_config(
        "staging",
        services=[base_service(image={"build": "services/text-classifier"})],
        registry={"external": {"host": "ghcr.io/example", "username": "ci-bot", "pullUsername": "pull-bot"}},
        registryPassword={"secure": "v1:abc"},
        registryPullPassword={"secure": "v1:def"},
    )
    rendered = render(write_stack(config))
    assert resources_of(rendered, "ai-platform:registry:ContainerRegistry") == []
    [image] = resources_of(rendered, "docker:index/image:Image")
    assert image.inputs["imageName"].startswith("ghcr.io/example/ai/text-classifier:")
    assert image.inputs["registry"]["value"]["server"] == "ghcr.io"  # Docker logs in to the host, not the path
    [pull] = [m for m in manifest_list(rendered, "Secret") if m["type"] == "kubernetes.io/dockerconfigjson"]
    assert pull["metadata"] == {
        "labels": {"app.kubernetes.io/part-of": "ai-platform"},
        "name": "platform-registry",
        "namespace": "ai-services",
    }
    assert manifest(rendered, "ServiceAccount", "text-classifier")["imagePullSecrets"] == [
        {"name": "platform-registry"}
    ]


def test_an_open_local_registry_needs_no_credentials(write_stack: StackWriter) -> None:
    from infra.offline.check import render

    config = base_config(
        "dev",
        services=[base_service(image={"build": "services/text-classifier"})],
        registry={"external": {"host": "localhost:5001"}},
    )
    rendered = render(write_stack(config))
    [image] = resources_of(rendered, "docker:index/image:Image")
    assert image.inputs["imageName"].startswith("localhost:5001/ai/text-classifier:")
    assert "registry" not in image.inputs
    assert [m for m in manifest_list(rendered, "Secret") if m["type"] == "kubernetes.io/dockerconfigjson"] == []
    assert "imagePullSecrets" not in manifest(rendered, "ServiceAccount", "text-classifier")


def copy_service(tmp_path: Path) -> Path:
    copy = tmp_path / "text-classifier"
    shutil.copytree(SERVICE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_the_tag_changes_exactly_when_the_build_context_does(tmp_path: Path) -> None:
    copy = copy_service(tmp_path)
    before = context_digest(copy)
    assert context_digest(copy) == before  # same code, same image: no rollout

    (copy / "model" / "model.json").write_text("{}")  # .dockerignore'd: not part of the image
    (copy / "tests" / "new_test.py").write_text("")
    assert context_digest(copy) == before

    (copy / "app" / "main.py").write_text((copy / "app" / "main.py").read_text() + "\n# change\n")
    assert context_digest(copy) != before  # a code change: one new image, one rollout
    assert not any("model" in p.parts or "tests" in p.parts for p in (q.relative_to(copy) for q in context_files(copy)))


def test_unchanged_code_renders_the_same_digest(rendered_stack: RenderStack) -> None:
    from infra.offline.check import render, stack_path

    again = render(stack_path("prod"))
    first = container(manifest(rendered_stack("prod"), "Deployment", "text-classifier"))["image"]
    assert container(manifest(again, "Deployment", "text-classifier"))["image"] == first


@pytest.mark.parametrize(
    ("image", "fragment"),
    [
        ({"build": "/etc"}, "must be a folder inside the project"),
        ({"build": "../elsewhere"}, "must be a folder inside the project"),
        ({"build": "infra"}, "has no Dockerfile"),
        ({"build": "services/text-classifier", "ref": "a/b:1"}, "set exactly one of"),
    ],
)
def test_bad_build_settings_name_the_key(write_stack: StackWriter, image: dict[str, Any], fragment: str) -> None:
    stack = read_stack_file(write_stack(base_config(services=[base_service(image=image)])))
    with pytest.raises(ConfigError) as raised:
        parse_platform_config(stack.values, "stack", stack.secret_keys)
    assert "ai-platform:services[0].image" in str(raised.value)
    assert fragment in str(raised.value)


def test_building_needs_the_registry(write_stack: StackWriter) -> None:
    config = base_config(services=[base_service(image={"build": "services/text-classifier"})])
    stack = read_stack_file(write_stack(config))
    with pytest.raises(ConfigError, match=r"services\[0\]\.image\.build: building images needs a `registry`"):
        parse_platform_config(stack.values, "stack", stack.secret_keys)

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
    with pytest.raises(ConfigError, match=r"services\[0\]\.image\.build: building images needs the platform"):
        parse_platform_config(stack.values, "stack", stack.secret_keys)

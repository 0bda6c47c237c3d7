"""The stack file's JSON Schema and the README reference, both generated from the models."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from infra.offline.check import stack_names, stack_path
from infra.offline.config_schema import readme_reference, reference_markdown, stack_file_schema
from infra.offline.runtime import PROJECT_ROOT
from infra.offline.stack_file import read_stack_file
from model.stack_config import ConfigError, parse_platform_config
from tests.test_cli import run_cli


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = stack_file_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def committed(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(stack_path(name).read_text())
    return document


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_committed_stack_file_is_valid(validator: jsonschema.Draft202012Validator, stack: str) -> None:
    assert stack in stack_names()
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(committed(stack))]
    assert errors == []


def prod_with(path: list[str | int], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(committed("prod"))
    target = document["config"]
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return document


SERVICE: list[str | int] = ["ai-platform:services", 0]
BAD: list[tuple[str, dict[str, Any]]] = [
    ("cpu not a quantity", prod_with([*SERVICE, "resources", "cpu"], "1.5 cores")),
    ("unknown service key", prod_with([*SERVICE, "replicaz"], 3)),
    ("version as a number", prod_with(["ai-platform:kubernetesVersion"], 1.3)),
    ("unsupported version", prod_with(["ai-platform:kubernetesVersion"], "1.24")),
    ("plaintext password", prod_with(["ai-platform:registryPassword"], "hunter2")),
    ("plaintext service secret", prod_with(["ai-platform:serviceSecrets", "text-classifier", "API_TOKEN"], "x")),
    ("misspelt namespace", prod_with(["aiplatform:services"], [])),
    ("ingress host", prod_with([*SERVICE, "ingress", "host"], "not a host")),
    ("env variable name", prod_with([*SERVICE, "env"], {"LOG-LEVEL": "info"})),
    ("chart version range", prod_with(["ai-platform:addons", "keda", "version"], "^2.16")),
    ("image reference", prod_with([*SERVICE, "image"], {"ref": "Registry/AI:latest tag"})),
    ("unknown top-level key", {**committed("prod"), "confg": {}}),
]


@pytest.mark.parametrize("document", [pytest.param(d, id=case) for case, d in BAD])
def test_bad_stack_files_fail_the_schema_and_the_models(
    validator: jsonschema.Draft202012Validator, tmp_path: Path, document: dict[str, Any]
) -> None:
    assert list(validator.iter_errors(document)), "the schema accepted it"
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump(document))
    if "confg" in document:
        return  # the offline tool reads only `config:`; Pulumi refuses other keys itself
    with pytest.raises(ConfigError):
        stack = read_stack_file(path)
        parse_platform_config(stack.values, stack.display_path, stack.secret_keys)


def properties(schema: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(schema, dict):
        for name, prop in schema.get("properties", {}).items():
            yield f"{where}.{name}", prop
        for key, value in schema.items():
            yield from properties(value, f"{where}.{key}")
    elif isinstance(schema, list):
        for item in schema:
            yield from properties(item, where)


def test_every_property_has_a_description() -> None:
    undescribed = [where for where, prop in properties(stack_file_schema()) if not prop.get("description")]
    assert undescribed == []


def test_values_that_need_a_shape_carry_a_pattern() -> None:
    definitions = stack_file_schema()["$defs"]
    resources = definitions["ResourcesConfig"]["properties"]
    assert "pattern" in resources["cpu"]["anyOf"][0]
    assert "pattern" in definitions["IngressConfig"]["properties"]["host"]
    assert "pattern" in definitions["ServiceConfig"]["properties"]["name"]
    version = stack_file_schema()["properties"]["config"]["properties"]["ai-platform:kubernetesVersion"]
    assert version["pattern"] == r"^1\.(25|26|27|28|29|30|31|32|33|34|35|36|37)$"


def test_the_readme_reference_is_generated_from_the_models() -> None:
    """Run `python -m infra.offline schema --format markdown --write README.md` when this fails."""
    assert readme_reference(PROJECT_ROOT / "README.md") == reference_markdown()


def test_the_reference_covers_every_key_of_every_model() -> None:
    reference = reference_markdown()
    for key in ("terminationGracePeriodSeconds", "metricsPath", "gpuType", "startupTimeoutSeconds", "clusterIssuer"):
        assert f"| `{key}` |" in reference


def test_schema_markdown_prints_the_reference() -> None:
    result = run_cli("schema", "--format", "markdown")
    assert result.returncode == 0, result.stderr
    assert result.stdout == reference_markdown()

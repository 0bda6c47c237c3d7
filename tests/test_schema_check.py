"""The compiled schema check says of every manifest exactly what ``jsonschema`` says: valid or not.

``schema.validate_manifest`` trusts its "valid" and asks ``jsonschema`` for
the errors otherwise, so a wrong "valid" would hide an error. Compared here on
every committed manifest, on thousands of mutants of them (wrong types, extra
and missing fields, bad enum values, fractional integers, nulls), and on
synthetic schemas for each keyword it compiles.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator
from random import Random
from typing import Any

import jsonschema
import pytest

from infra.offline import schema
from infra.offline.check import Rendered
from infra.offline.schema_check import TYPES, compile_check
from infra.sdk import NO_SPEEDUPS

#: Values a mutation puts in place of a field.
ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 1.0, 1.5, 2**40, "", "x", "1", "apps/v1", "Always", [], [1], ["x"], {}, {"x": 1},
    {"name": "x"}, [{"name": "x"}],
]  # fmt: skip


def _validator_and_check(manifest: dict[str, Any], version: str) -> tuple[Any, Any]:
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    if schema.is_custom_resource(api_version):
        validator = schema._custom_validator(kind, api_version)
    else:
        validator = schema._validator(version, kind, api_version)
    return validator, schema._CHECKS.get(id(validator))


def _agree(validator: Any, check: Any, instance: Any) -> bool:
    return bool(check(instance)) == (next(iter(validator.iter_errors(instance)), None) is None)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


def _mutants(manifest: dict[str, Any], random: Random, count: int) -> Iterator[dict[str, Any]]:
    paths = [path for path in _paths(manifest) if path]
    for _ in range(count):
        mutant = copy.deepcopy(manifest)
        path = random.choice(paths)
        parent: Any = mutant
        for key in path[:-1]:
            parent = parent[key]
        action = random.randrange(4)
        if action == 0:
            parent[path[-1]] = random.choice(ODD_VALUES)
        elif action == 1 and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == 2 and isinstance(parent, dict):
            parent[random.choice(["unknownField", "x", "status", "metadata"])] = random.choice(ODD_VALUES)
        else:
            value = parent[path[-1]]
            if isinstance(value, int | float) and not isinstance(value, bool):
                parent[path[-1]] = random.choice([float(value), value + 0.5, -value, str(value)])
            elif isinstance(value, str):
                parent[path[-1]] = random.choice([value.upper(), value + "x", "", 1])
            else:
                parent[path[-1]] = random.choice(ODD_VALUES)
        yield mutant


@pytest.fixture(scope="module")
def manifests(rendered_stack: Callable[[str], Rendered]) -> list[tuple[dict[str, Any], str]]:
    found = []
    for name in ("dev", "staging", "prod"):
        rendered = rendered_stack(name)
        found += [(m.body, rendered.config.kubernetes_version) for m in rendered.manifests]
    return found


def test_every_committed_manifest_is_judged_as_jsonschema_judges_it(
    manifests: list[tuple[dict[str, Any], str]],
) -> None:
    checked = 0
    for body, version in manifests:
        validator, check = _validator_and_check(body, version)
        if validator is None:
            continue
        assert check is not None, (body["apiVersion"], body["kind"])  # every schema the stacks use compiles
        assert _agree(validator, check, body), (body["kind"], body["metadata"].get("name"))
        checked += 1
    assert checked > 300


def test_broken_manifests_are_judged_as_jsonschema_judges_them(manifests: list[tuple[dict[str, Any], str]]) -> None:
    random = Random(20261202)
    by_kind: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
    for body, version in manifests:
        by_kind.setdefault((body["apiVersion"], body["kind"]), (body, version))
    assert any(schema.is_custom_resource(api_version) for api_version, _ in by_kind)  # a CRD schema (draft 7) too
    verdicts = []
    for body, version in by_kind.values():
        validator, check = _validator_and_check(body, version)
        if validator is None:
            continue
        for mutant in _mutants(body, random, 150):
            assert _agree(validator, check, mutant), mutant
            verdicts.append(check(mutant))
    assert len(verdicts) > 2000
    assert 0.2 < sum(verdicts) / len(verdicts) < 0.9  # both answers, many times over


KEYWORD_SCHEMAS: list[dict[str, Any]] = [
    {"type": ["string", "null"], "enum": ["a", None, 1]},
    {"const": 1},
    {"type": "integer", "minimum": 0, "maximum": 10},
    {"type": "string", "pattern": "^a+$"},
    {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    {"anyOf": [{"type": "string"}, {"type": "number"}]},
    {"allOf": [{"type": "object"}, {"required": ["name"]}]},
    {"properties": {"name": {"type": "string"}}, "additionalProperties": False},
    {"properties": {"name": {"type": "string"}}, "additionalProperties": {"type": "integer"}},
    {"patternProperties": {"^x-": {"type": "string"}, "^n": {"type": "number"}}, "additionalProperties": False},
    {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
    {"$defs": {"node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}}}}, "$ref": "#/$defs/node"},
    {"items": False},
    {"x-kubernetes-list-type": "map", "description": "ignored", "format": "int32", "type": "integer"},
]


@pytest.mark.parametrize("keyword_schema", KEYWORD_SCHEMAS, ids=[str(i) for i in range(len(KEYWORD_SCHEMAS))])
@pytest.mark.parametrize("draft", [jsonschema.Draft202012Validator, jsonschema.Draft7Validator], ids=["2020-12", "7"])
def test_each_keyword_is_judged_as_jsonschema_judges_it(keyword_schema: dict[str, Any], draft: Any) -> None:
    if draft is jsonschema.Draft7Validator:
        keyword_schema = {key: value for key, value in keyword_schema.items() if key != "$defs"}
        if "$ref" in keyword_schema:
            return
    check = compile_check(draft, keyword_schema)
    assert check is not None
    validator = draft(keyword_schema)
    nested = [{"name": value} for value in ODD_VALUES] + [{"child": {"child": {"child": 1}}}, {"child": {}}]
    pool = [*ODD_VALUES, *nested, {"x-a": "s", "n": 1}, {"x-a": 1}, ["a", 1], "aaa", "ab", 11, 0, -0.5, 10.0]
    for instance in pool:
        assert _agree(validator, check, instance), (keyword_schema, instance)


def test_what_it_does_not_compile_is_left_to_jsonschema() -> None:
    assert compile_check(jsonschema.Draft202012Validator, {"not": {"type": "string"}}) is None
    assert compile_check(jsonschema.Draft202012Validator, {"items": {"minItems": 1}}) is None
    assert compile_check(jsonschema.Draft4Validator, {"type": "integer"}) is None  # draft 4: 1.0 is no integer
    assert compile_check(jsonschema.Draft202012Validator, {"unknownKeyword": 1, "type": "string"}) is not None
    # A nested resource (its own $id or $schema), a regex Python cannot read, a reference to nothing.
    nested = {"properties": {"a": {"$id": "https://example.com/a", "$ref": "#/$defs/s"}}}
    assert compile_check(jsonschema.Draft202012Validator, nested) is None
    assert compile_check(jsonschema.Draft202012Validator, {"properties": {"a": {"$schema": "x"}}}) is None
    assert compile_check(jsonschema.Draft202012Validator, {"pattern": "("}) is None
    assert compile_check(jsonschema.Draft202012Validator, {"$ref": "#/$defs/nowhere"}) is None
    # A root naming another draft is read as the validator's own draft, as jsonschema does: here an anchor it lacks.
    other_draft = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "properties": {"a": {"$ref": "#foo"}},
        "$defs": {"s": {"$anchor": "foo", "type": "string"}},
    }
    assert compile_check(jsonschema.Draft7Validator, other_draft) is None


def test_draft_7_ignores_what_sits_beside_a_ref_as_jsonschema_does() -> None:
    ref_with_sibling = {
        "definitions": {"s": {"type": "string"}},
        "properties": {"a": {"$ref": "#/definitions/s", "type": "integer"}},
    }
    for draft in (jsonschema.Draft7Validator, jsonschema.Draft202012Validator):
        check = compile_check(draft, ref_with_sibling)
        assert check is not None
        for value in ("x", 1, 1.0, None):
            assert _agree(draft(ref_with_sibling), check, {"a": value}), (draft, value)
    assert compile_check(jsonschema.Draft7Validator, ref_with_sibling)({"a": "x"}) is True  # type: ignore[misc]


def test_the_type_predicates_are_jsonschemas() -> None:
    checker = jsonschema.Draft202012Validator.TYPE_CHECKER
    for name, value in itertools.product(TYPES, [*ODD_VALUES, float("nan"), float("inf"), -0.0, 10**30]):
        assert TYPES[name](value) == checker.is_type(value, name), (name, value)


def test_without_speed_ups_every_manifest_goes_to_jsonschema(
    monkeypatch: pytest.MonkeyPatch, manifests: list[tuple[dict[str, Any], str]]
) -> None:
    """The benchmark's comparison run (``AI_PLATFORM_NO_SPEEDUPS``) shows the check changes no result."""
    body, version = manifests[0]
    validator, _ = _validator_and_check(body, version)
    asked: list[Any] = []

    def check(manifest: Any) -> bool:
        asked.append(manifest)
        return True

    monkeypatch.setitem(schema._CHECKS, id(validator), check)
    assert schema.validate_manifest(body, version, "m.yaml") == []
    assert asked == [body]
    monkeypatch.setenv(NO_SPEEDUPS, "1")
    assert schema.validate_manifest(body, version, "m.yaml") == []
    assert asked == [body]

"""A compiled yes/no schema check, so valid manifests skip ``jsonschema``'s error machinery.

``jsonschema`` walks a schema keyword by keyword for every value, resolving
each ``$ref`` through the registry and copying its validator at every step:
about a quarter of a millisecond per manifest, most of a 200-service check's
schema phase. Nearly every manifest is valid, and for a valid one the answer
is the same empty list. ``compile_check`` turns a validator's schema into
nested closures that say, for the keywords the Kubernetes and CRD schemas
use (``type``, ``enum``, ``const``, ``properties``, ``additionalProperties``,
``patternProperties``, ``required``, ``items``, ``allOf``, ``anyOf``,
``oneOf``, ``$ref``, ``pattern``, ``minimum``, ``maximum``), exactly whether
``jsonschema`` would find an error, each keyword as ``jsonschema`` 4.26
implements it. ``schema.validate_manifest`` asks it first and lets
``jsonschema`` list the errors of a manifest it refuses.

A schema with a keyword its draft asserts and this does not implement
compiles to ``None``: its manifests all go to ``jsonschema``. Keywords the
draft does not know (``x-kubernetes-*``, ``description``) are ignored, as
``jsonschema`` ignores them, and so is ``format``, which the validators here
are built without a format checker to assert. A nested ``$id`` or
``$schema`` (a resource of its own, perhaps of another draft), a regular
expression or reference that does not compile also mean no check.
``tests/test_schema_check.py``
compares both on every committed manifest and on thousands of broken ones.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping
from typing import Any

from jsonschema import _utils as jsonschema_utils
from referencing import Registry, Specification
from referencing.jsonschema import specification_with

Check = Callable[[Any], bool]

#: Keywords that only annotate, or hold other schemas for ``$ref`` to find.
_INERT = frozenset({"$schema", "$id", "$defs", "definitions", "$comment", "format", "description", "title", "default"})
#: The keywords compiled here; any other keyword the validator's draft asserts means no compiled check.
_COMPILED = frozenset(
    {
        "type", "enum", "const", "properties", "additionalProperties", "patternProperties", "required", "items",
        "allOf", "anyOf", "oneOf", "$ref", "pattern", "minimum", "maximum",
    }
)  # fmt: skip


class UnsupportedError(Exception):
    """The schema uses a keyword this module does not compile."""


def _is_integer(value: Any) -> bool:
    # Drafts 6 to 2020-12: an int that is not a bool, or a float with no fractional part.
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


#: ``jsonschema``'s type checker for drafts 6 to 2020-12, one predicate per type name.
TYPES: dict[str, Callable[[Any], bool]] = {
    "array": lambda value: isinstance(value, list),
    "boolean": lambda value: isinstance(value, bool),
    "integer": _is_integer,
    "null": lambda value: value is None,
    "number": _is_number,
    "object": lambda value: isinstance(value, dict),
    "string": lambda value: isinstance(value, str),
}


def compile_check(validator_class: Any, schema: Any, registry: Registry[Any] | None = None) -> Check | None:
    """A function saying whether ``validator_class(schema, registry=registry)`` (no format checker) finds no error
    in an instance; ``None`` if the schema cannot be compiled."""
    checker = validator_class.TYPE_CHECKER
    for name, predicate in TYPES.items():
        samples: tuple[Any, ...] = (True, 1, 1.0, 1.5, "1", None, [], {})
        for sample in samples:
            if checker.is_type(sample, name) != predicate(sample):
                return None  # a draft whose types differ (draft 3 or 4)
    try:
        compiler = _Compiler(validator_class, schema, registry or Registry())
        return compiler.schema(schema, compiler.root, root=True)
    except Exception:  # noqa: BLE001 - unsupported, or a regex or reference that fails: jsonschema's to judge
        return None


class _Compiler:
    def __init__(self, validator_class: Any, schema: Any, registry: Registry[Any]) -> None:
        self.asserted = frozenset(validator_class.VALIDATORS)
        # Up to draft 7 a ``$ref`` stands alone: its sibling keywords are ignored.
        self.refs_ignore_siblings = not self.asserted & {"$dynamicRef", "$recursiveRef"}
        # The root resource as jsonschema makes it: of the validator's own draft, whatever ``$schema`` it names.
        specification = specification_with(
            dialect_id=validator_class.ID_OF(validator_class.META_SCHEMA) or "urn:unknown-dialect",
            default=Specification.OPAQUE,
        )
        self.root = registry.resolver_with_root(specification.create_resource(schema))
        #: Compiled ``$ref`` targets by identity of their contents, so a recursive schema compiles once.
        self.compiled: dict[int, Check | None] = {}

    def schema(self, schema: Any, resolver: Any, *, root: bool = False) -> Check:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, Mapping):
            raise UnsupportedError(f"a schema of type {type(schema).__name__}")
        if not root and ("$id" in schema or "$schema" in schema):
            # A nested resource: jsonschema resolves its references from there, and may switch drafts.
            raise UnsupportedError("a nested $id or $schema")
        if "$ref" in schema and self.refs_ignore_siblings:
            return self.reference(schema["$ref"], resolver)
        checks = []
        for keyword, value in schema.items():
            if keyword in _INERT or keyword not in self.asserted:
                continue
            if keyword not in _COMPILED:
                raise UnsupportedError(keyword)
            checks.append(self.keyword(keyword, value, schema, resolver))
        if not checks:
            return _always
        if len(checks) == 1:
            return checks[0]
        return lambda instance: all(check(instance) for check in checks)

    def keyword(self, keyword: str, value: Any, schema: Mapping[str, Any], resolver: Any) -> Check:  # noqa: PLR0912
        if keyword == "type":
            return _type(value)
        if keyword == "enum":
            return _enum(value)
        if keyword == "const":
            return lambda instance: bool(jsonschema_utils.equal(instance, value))
        if keyword == "properties":
            return self.properties(value, resolver)
        if keyword == "additionalProperties":
            return self.additional(value, schema, resolver)
        if keyword == "patternProperties":
            return self.pattern_properties(value, resolver)
        if keyword == "required":
            names = tuple(value)
            return lambda instance: not isinstance(instance, dict) or all(name in instance for name in names)
        if keyword == "items":
            return self.items(value, schema, resolver)
        if keyword in ("allOf", "anyOf", "oneOf"):
            return _combined(keyword, [self.schema(each, resolver) for each in value])
        if keyword == "$ref":
            return self.reference(value, resolver)
        if keyword == "pattern":
            compiled = re.compile(value)
            return lambda instance: not isinstance(instance, str) or compiled.search(instance) is not None
        if keyword == "minimum":
            return lambda instance: not _is_number(instance) or not instance < value
        if keyword == "maximum":
            return lambda instance: not _is_number(instance) or not instance > value
        raise UnsupportedError(keyword)

    def properties(self, properties: Mapping[str, Any], resolver: Any) -> Check:
        checks = [(name, self.schema(subschema, resolver)) for name, subschema in properties.items()]

        def check(instance: Any) -> bool:
            if not isinstance(instance, dict):
                return True
            return all(each(instance[name]) for name, each in checks if name in instance)

        return check

    def additional(self, additional: Any, schema: Mapping[str, Any], resolver: Any) -> Check:
        known = frozenset(schema.get("properties", {}))
        joined = "|".join(schema.get("patternProperties", {}))  # one expression, as ``jsonschema`` joins them
        patterns = re.compile(joined) if joined else None
        if isinstance(additional, dict):
            each: Check | None = self.schema(additional, resolver)
        elif not additional:
            each = None  # no additional property allowed
        else:
            return _always

        def check(instance: Any) -> bool:
            if not isinstance(instance, dict):
                return True
            for name in instance:
                if name in known or (patterns is not None and patterns.search(name)):
                    continue
                if each is None or not each(instance[name]):
                    return False
            return True

        return check

    def pattern_properties(self, pattern_properties: Mapping[str, Any], resolver: Any) -> Check:
        checks = [
            (re.compile(pattern), self.schema(subschema, resolver)) for pattern, subschema in pattern_properties.items()
        ]

        def check(instance: Any) -> bool:
            if not isinstance(instance, dict):
                return True
            return all(
                each(value) for pattern, each in checks for name, value in instance.items() if pattern.search(name)
            )

        return check

    def items(self, items: Any, schema: Mapping[str, Any], resolver: Any) -> Check:
        if isinstance(items, list) or "prefixItems" in schema:
            raise UnsupportedError("items as a list, or with prefixItems")
        each = self.schema(items, resolver)
        return lambda instance: not isinstance(instance, list) or all(each(item) for item in instance)

    def reference(self, ref: str, resolver: Any) -> Check:
        resolved = resolver.lookup(ref)
        key = id(resolved.contents)
        if key not in self.compiled:
            self.compiled[key] = None  # a reference back to here, while compiling, finds it below
            self.compiled[key] = self.schema(resolved.contents, resolved.resolver)
        compiled = self.compiled[key]
        if compiled is not None:
            return compiled
        compiled_ones = self.compiled  # read at call time: the target is compiled by then

        def deferred(instance: Any) -> bool:
            target = compiled_ones[key]
            assert target is not None
            return target(instance)

        return deferred


def _always(instance: Any) -> bool:
    return True


def _never(instance: Any) -> bool:
    return False


def _type(types: Any) -> Check:
    names = [types] if isinstance(types, str) else list(types)
    if not all(name in TYPES for name in names):
        raise UnsupportedError(f"type {types!r}")
    predicates = [TYPES[name] for name in names]
    if len(predicates) == 1:
        return predicates[0]
    return lambda instance: any(predicate(instance) for predicate in predicates)


def _enum(members: Any) -> Check:
    strings = frozenset(member for member in members if isinstance(member, str))

    def check(instance: Any) -> bool:
        if isinstance(instance, str):
            return instance in strings  # ``equal`` compares a string with ``==``: only a string can match
        return any(jsonschema_utils.equal(member, instance) for member in members)

    return check


def _combined(keyword: str, checks: list[Check]) -> Check:
    if keyword == "allOf":
        return lambda instance: all(check(instance) for check in checks)
    if keyword == "anyOf":
        return lambda instance: any(check(instance) for check in checks)
    return lambda instance: sum(1 for check in checks if check(instance)) == 1

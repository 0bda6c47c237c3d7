"""Load a stack file's YAML safely: bounded in time and memory, strict like Pulumi's own reader.

PyYAML's loaders build the node tree recursively (a 100,000-deep file
crashes libyaml's composer), expand nothing but share aliased objects that
every later walk expands (a 420-byte alias bomb became gigabytes of JSON), let
a repeated key silently win, and turn ``2024-01-01`` into a ``date`` that no
JSON encoder accepts. This loader builds plain values straight from the
parser's event stream, iteratively, reads plain scalars as the Pulumi CLI's
``gopkg.in/yaml.v3`` does (YAML 1.2's core schema: ``yes``, ``on`` and
``1:30`` are text, ``0o17`` and ``1e3`` are numbers, a float that overflows
stays text), and refuses what yaml.v3 refuses or what a stack file never needs:

- a repeated mapping key (yaml.v3: ``mapping key "x" already defined at line N``),
- excessive aliasing, decided exactly as yaml.v3's ``decoder.unmarshal`` does:
  every node decoded counts one operation, every node decoded inside an
  alias expansion also counts as aliased, and past 100 aliased and 1,000
  total operations the aliased share may not exceed ``allowed_alias_ratio``
  (99 % up to 400,000 operations, falling linearly to 10 % at 4,000,000).
  Aliases are never expanded to count them: each anchor's expanded size is
  known when its node ends;
- nesting deeper than ``MAX_DEPTH`` (yaml.v3 stops at 10,000; stack values
  are a few levels deep, and the JSON and pydantic code downstream recurse);
- integers beyond 64 bits (yaml.v3 cannot hold them as integers either;
  Python refuses to print those past 4,300 digits);
- timestamps, ``!!binary``, ``!!set``, ``!!omap``, ``!!pairs`` and unknown tags,
  and non-scalar mapping keys.

Each refusal is a ``StackYamlError`` with the key path and line that hold it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml import events

#: libyaml's parser when PyYAML has it (10x faster on large stacks), else the Python one.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Deepest nesting accepted (the committed stacks need 6).
MAX_DEPTH = 64
#: Largest stack file accepted, in bytes (a 1000-service stack is about 400 KiB).
MAX_BYTES = 16 * 2**20
#: Integers must fit 64 bits, as in yaml.v3 and the Kubernetes API.
_INT_LIMIT = 2**64

# yaml.v3 decode.go: alias_ratio_range_low/high
_ALIAS_RATIO_RANGE_LOW = 400_000
_ALIAS_RATIO_RANGE_HIGH = 4_000_000

_TAG = "tag:yaml.org,2002:"
_PLAIN_TAGS = {f"{_TAG}null", f"{_TAG}bool", f"{_TAG}int", f"{_TAG}float"}
_REFUSED_TAGS = {
    f"{_TAG}timestamp": "is a YAML timestamp; quote it to use it as text",
    f"{_TAG}binary": "is a !!binary value; stack files hold text, numbers, lists and mappings",
    f"{_TAG}set": "is a !!set; use a list",
    f"{_TAG}omap": "is a !!omap; use a mapping",
    f"{_TAG}pairs": "is a !!pairs; use a mapping",
}
_COLLECTION_TAGS = {None, "!", f"{_TAG}seq", f"{_TAG}map"}
_MERGE = f"{_TAG}merge"


class StackYamlError(ValueError):
    """The YAML is refused; ``where`` is the key path (``ai-platform:services[0]``), ``line`` 1-based (0: none)."""

    def __init__(self, where: str, line: int, message: str) -> None:
        text = f"{message} (line {line})" if line > 0 else message
        super().__init__(f"{where}: {text}" if where else text)
        self.where = where
        self.line = line
        self.message = message


def allowed_alias_ratio(decode_count: int) -> float:
    """yaml.v3's ``allowedAliasRatio``: the share of decode operations aliases may cause."""
    if decode_count <= _ALIAS_RATIO_RANGE_LOW:
        return 0.99
    if decode_count >= _ALIAS_RATIO_RANGE_HIGH:
        return 0.10
    span = _ALIAS_RATIO_RANGE_HIGH - _ALIAS_RATIO_RANGE_LOW
    return 0.99 - 0.89 * ((decode_count - _ALIAS_RATIO_RANGE_LOW) / span)


@dataclass
class _Frame:
    """An open sequence or mapping."""

    part: str | int | None  # where it sits in its parent
    value: Any
    anchor: str | None
    line: int
    size: int = 1  # yaml.v3 decode operations for this node, aliases expanded
    key: Any = None
    key_line: int = 0
    has_key: bool = False
    lines: dict[Any, int] = field(default_factory=dict)
    merges: list[dict[Any, Any]] = field(default_factory=list)


class _Builder:
    def __init__(self) -> None:
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.open_anchors: set[str] = set()
        self.decode_count = 0
        self.alias_count = 0
        self.documents = 0
        self.root: Any = None
        self.config_text: dict[str, str] = {}

    # --- where we are ---------------------------------------------------------

    def where(self, extra: str | int | None = None) -> str:
        parts: list[str | int | None] = [frame.part for frame in self.stack]
        if self.stack and isinstance(self.stack[-1].value, dict) and self.stack[-1].has_key:
            parts.append(_key_text(self.stack[-1].key))
        elif self.stack and isinstance(self.stack[-1].value, list):
            parts.append(len(self.stack[-1].value))
        if extra is not None:
            parts.append(extra)
        named = [part for part in parts if part is not None]
        if len(named) > 6:  # a very deep value: the key that holds it is what matters
            named = [*named[:4], "..."]
        return key_path_text(named)

    def fail(self, line: int, message: str, extra: str | int | None = None) -> StackYamlError:
        return StackYamlError(self.where(extra), line, message)

    # --- events ---------------------------------------------------------------

    def feed(self, event: events.Event) -> None:
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, events.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise StackYamlError("", line, "a stack file holds one YAML document")
            self._count(line, 1, 0)
        elif isinstance(event, events.ScalarEvent):
            self._count(line, 1, 0)
            self._remember_config_text(event)
            self._add(self._scalar(event, line), 1, event.anchor, line)
        elif isinstance(event, events.SequenceStartEvent | events.MappingStartEvent):
            self._open(event, line)
        elif isinstance(event, events.SequenceEndEvent | events.MappingEndEvent):
            self._close(line)
        elif isinstance(event, events.AliasEvent):
            self._alias(event, line)

    def _remember_config_text(self, event: events.ScalarEvent) -> None:
        """The text of each plain scalar directly under ``config:`` (Pulumi hands the program exactly that)."""
        frame = self.stack[-1] if len(self.stack) == 2 else None
        if frame is not None and frame.part == "config" and frame.has_key and not event.style:  # plain: '' or None
            self.config_text[_key_text(frame.key)] = event.value

    def _count(self, line: int, decoded: int, aliased: int) -> None:
        self.decode_count += decoded
        self.alias_count += aliased
        if (
            self.alias_count > 100
            and self.decode_count > 1000
            and self.alias_count / self.decode_count > allowed_alias_ratio(self.decode_count)
        ):
            raise self.fail(line, "document contains excessive aliasing (as Pulumi's YAML reader would refuse)")

    def _open(self, event: events.CollectionStartEvent, line: int) -> None:
        if event.tag not in _COLLECTION_TAGS:
            raise self.fail(line, _tag_problem(event.tag))
        if len(self.stack) >= MAX_DEPTH:
            raise self.fail(line, f"nested more than {MAX_DEPTH} levels deep")
        self._count(line, 1, 0)
        value: Any = [] if isinstance(event, events.SequenceStartEvent) else {}
        part = self._child_part(line)
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        self.stack.append(_Frame(part=part, value=value, anchor=event.anchor, line=line))

    def _child_part(self, line: int) -> str | int | None:
        if not self.stack:
            return None
        parent = self.stack[-1]
        if isinstance(parent.value, list):
            return len(parent.value)
        if not parent.has_key:
            raise self.fail(line, "mapping keys must be plain values, not lists or mappings")
        return _key_text(parent.key)

    def _close(self, line: int) -> None:
        frame = self.stack.pop()
        value = frame.value
        if isinstance(value, dict) and frame.merges:
            merged: dict[Any, Any] = {}
            for source in frame.merges:  # earlier merged mappings win over later ones, explicit keys over all
                for key, item in source.items():
                    merged.setdefault(key, item)
            merged.update(value)
            value = merged
        if frame.anchor is not None:
            self.open_anchors.discard(frame.anchor)
        self._add(value, frame.size, frame.anchor, frame.line)

    def _alias(self, event: events.AliasEvent, line: int) -> None:
        anchor = event.anchor or ""
        if anchor in self.open_anchors:
            raise self.fail(line, f"anchor '{anchor}' value contains itself")
        if anchor not in self.anchors:
            raise self.fail(line, f"unknown anchor '{anchor}' referenced")
        value, size = self.anchors[anchor]
        # yaml.v3 decodes the alias node, then the whole aliased node again inside it.
        self._count(line, 1 + size, size)
        self._add(value, 1 + size, None, line)

    def _add(self, value: Any, size: int, anchor: str | None, line: int) -> None:
        if anchor is not None:
            self.anchors[anchor] = (value, size)
        if not self.stack:
            self.root = value
            return
        parent = self.stack[-1]
        parent.size += size
        if isinstance(parent.value, list):
            parent.value.append(value)
        elif not parent.has_key:
            if isinstance(value, list | dict):
                raise self.fail(line, "mapping keys must be plain values, not lists or mappings")
            parent.key, parent.key_line, parent.has_key = value, line, True
        else:
            self._set(parent, value, line)

    def _set(self, parent: _Frame, value: Any, line: int) -> None:
        key = parent.key
        if key is _MERGE_KEY:
            sources = value if isinstance(value, list) else [value]
            if not all(isinstance(source, dict) for source in sources):
                raise self.fail(line, "'<<' merges a mapping or a list of mappings")
            parent.merges.extend(sources)
        else:
            if key in parent.lines:
                raise self.fail(
                    parent.key_line, f"mapping key {_key_text(key)!r} already defined at line {parent.lines[key]}"
                )
            parent.lines[key] = parent.key_line
            parent.value[key] = value
        parent.key, parent.has_key = None, False

    # --- scalars --------------------------------------------------------------

    def _scalar(self, event: events.ScalarEvent, line: int) -> Any:
        tag = event.tag
        if tag is None and not event.style:  # plain ('' from libyaml, None from the Python parser)
            return self._plain(event.value, line)
        if tag in (None, "!", f"{_TAG}str"):
            return event.value
        if tag == _MERGE:
            return _MERGE_KEY
        if tag not in _PLAIN_TAGS:
            raise self.fail(line, f"{_short(event.value)} {_tag_problem(tag)}")
        # An explicit !!int, !!float, !!bool or !!null: the text must be one (yaml.v3 also reads ints as floats).
        value = self._plain(event.value, line)
        kind = tag.rsplit(":", 1)[1]
        if kind == "float" and type(value) is int:
            return float(value)
        if type(value).__name__ == {"null": "NoneType"}.get(kind, kind):
            return value
        raise self.fail(line, f"cannot decode {_short(event.value)} as a !!{kind}")

    def _plain(self, text: str, line: int) -> Any:
        """A plain scalar as yaml.v3's ``resolve`` reads it (YAML 1.2 core: ``yes`` and ``on`` are text)."""
        if text in _WORDS:
            return _WORDS[text]
        first = text[0]
        if first == ".":
            return float(text) if _DOT_FLOAT.match(text) else text
        if first not in "+-0123456789":
            return text
        if _TIMESTAMP.match(text):
            raise self.fail(line, f"{_short(text)} {_REFUSED_TAGS[f'{_TAG}timestamp']}")
        plain = text.replace("_", "")
        integer = _GO_INT.match(plain)
        if integer is not None:
            base, digits = next((name, digits) for name, digits in integer.groupdict().items() if digits is not None)
            number = int(digits, _BASES[base]) if len(digits) <= 64 else None
            if number is None or not -(2**63) <= (-number if plain[0] == "-" else number) < _INT_LIMIT:
                raise self.fail(line, f"{_short(text)} is an integer beyond 64 bits; quote it if it is text")
            return -number if plain[0] == "-" else number
        if _YAML_FLOAT.match(plain):
            real = float(plain)
            # Go's ParseFloat refuses what overflows: yaml.v3 then keeps the text.
            return text if math.isinf(real) else real
        return text


# yaml.v3 resolve.go: resolveMapList, yamlStyleFloat, Go's ParseInt(s, 0, 64) and parseTimestamp.
_WORDS: dict[str, Any] = {
    **dict.fromkeys(("true", "True", "TRUE"), True),
    **dict.fromkeys(("false", "False", "FALSE"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
    "<<": None,  # replaced below: the merge key
}
_YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_DOT_FLOAT = re.compile(r"^\.[0-9]+([eE][-+]?[0-9]+)?$")
_GO_INT = re.compile(
    r"^[+-]?(?:0[xX](?P<hex>[0-9a-fA-F]+)|0[bB](?P<bin>[01]+)|0[oO](?P<oct>[0-7]+)|0(?P<old>[0-7]+)"
    r"|(?P<dec>0|[1-9][0-9]*))$"
)
_BASES = {"hex": 16, "bin": 2, "oct": 8, "old": 8, "dec": 10}
_TIMESTAMP = re.compile(
    r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"([Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})"
    r"| [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?)?$"
)


class _MergeKey:
    def __repr__(self) -> str:
        return "<<"


_MERGE_KEY = _MergeKey()
_WORDS["<<"] = _MERGE_KEY


def load_stack_yaml(text: str, config_text: dict[str, str] | None = None) -> Any:
    """The single YAML document in ``text`` as plain values (dict, list, str, int, float, bool, None).

    ``config_text``, when given, receives the text as written of every plain
    scalar directly under ``config:`` (``1.30`` where the value is ``1.3``).
    Raises ``StackYamlError`` for what is refused and ``yaml.YAMLError`` for what is not YAML.
    """
    if len(text) > MAX_BYTES:  # characters: at least as many bytes
        raise StackYamlError("", 0, f"the file is larger than {MAX_BYTES // 2**20} MiB")
    builder = _Builder()
    for event in yaml.parse(text, Loader=_LOADER):
        builder.feed(event)
    if config_text is not None:
        config_text.update(builder.config_text)
    return builder.root


def key_path_text(parts: list[str | int]) -> str:
    """``['config', 'ai-platform:services', 0, 'env']`` -> ``ai-platform:services[0].env``."""
    if len(parts) > 1 and parts[0] == "config":
        parts = parts[1:]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _key_text(key: Any) -> str:
    return "<<" if key is _MERGE_KEY else str(key)


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _tag_problem(tag: str | None) -> str:
    if tag in _REFUSED_TAGS:
        return _REFUSED_TAGS[tag]
    return f"has the YAML tag {tag!r}, which stack files do not use"

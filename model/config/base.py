"""Value types and validators shared by every config model.

Kubernetes quantities, DNS names, image references, label keys and the
strict base model live here once; the models in ``services`` and
``platform`` are built from them.
"""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, WithJsonSchema
from pydantic.alias_generators import to_camel

from ai_platform_policies.quantity import QUANTITY_PATTERN, QuantityError, parse_quantity
from ai_platform_policies.references import EXACT_VERSION, IMAGE_REFERENCE

PROJECT = "ai-platform"

#: Kubernetes minor versions whose API schemas the offline check validates
#: against (1.25 ... 1.37); the components only use APIs GA in all of them.
SUPPORTED_KUBERNETES_MINORS = range(25, 38)

Environment = Literal["dev", "staging", "prod"]


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, values immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        alias_generator=to_camel,
        validate_default=True,
        # Each field's docstring is its description in the JSON Schema and the README reference.
        use_attribute_docstrings=True,
    )


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL_KEY_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label (lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters)"
        )
    return value


def _service_name(value: str) -> str:
    if len(value) > 63 or not _DNS_1035_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a valid service name (DNS-1035 label: lower-case letters, digits "
            "and '-', starting with a letter, ending with a letter or digit, at most 63 characters)"
        )
    return value


def _hostname(value: str) -> str:
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise ValueError(f"{value!r} is not a DNS hostname (for example classify.example.com)")
    return value


def _env_var_name(value: str) -> str:
    if not _ENV_VAR_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid environment variable name (letters, digits and '_', not starting with a digit)"
        )
    return value


def _label_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    if (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix))) or (
        len(name) > 63 or not _LABEL_KEY_NAME.match(name)
    ):
        raise ValueError(f"{value!r} is not a Kubernetes label key")
    return value


def _label_value(value: str) -> str:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes label value")
    return value


def _image_ref(value: str) -> str:
    if len(value) > 255 or not IMAGE_REFERENCE.match(value):
        raise ValueError(
            f"{value!r} is not an image reference (expected [registry/]repository[:tag][@sha256:<64 hex>])"
        )
    return value


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError:
        raise ValueError(f"{value!r} is not a network in CIDR notation, such as 10.0.0.0/8") from None


def _quantity_text(value: object) -> object:
    """Accept YAML numbers (``cpu: 2``) as quantities; refuse booleans."""
    if isinstance(value, bool):
        raise ValueError("expected a Kubernetes quantity, got a boolean")
    if isinstance(value, int | float):
        return format(Decimal(str(value)), "f")
    return value


def _positive_quantity(value: str) -> str:
    try:
        amount = parse_quantity(value)
    except QuantityError as error:
        raise ValueError(str(error)) from None
    if amount <= 0:
        raise ValueError(f"{value!r} must be greater than zero")
    return value


def _env_value(value: object) -> object:
    """Kubernetes env values are strings; YAML scalars are spelled as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _kubernetes_version(value: str) -> str:
    match = re.fullmatch(r"1\.(0|[1-9][0-9]*)", value)
    if match is None:
        raise ValueError(f"{value!r} is not a Kubernetes 'major.minor' version such as \"1.31\"")
    minor = int(match.group(1))
    if minor not in SUPPORTED_KUBERNETES_MINORS:
        first, last = SUPPORTED_KUBERNETES_MINORS[0], SUPPORTED_KUBERNETES_MINORS[-1]
        raise ValueError(f"Kubernetes {value} is not supported (supported: 1.{first} to 1.{last})")
    return value


def _version_text(value: object) -> object:
    """Versions are text: a YAML number (``1.30`` reads as ``1.3``) is refused with the fix."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        raise ValueError(f'{value!r} is a YAML number, not a version; quote it, e.g. kubernetesVersion: "1.31"')
    return value


def _text(pattern: str, max_length: int | None = None, **extra: object) -> WithJsonSchema:
    """The JSON Schema of a validated string: what an editor can check before the models do."""
    schema: dict[str, object] = {"type": "string", "pattern": pattern, **extra}
    if max_length is not None:
        schema["maxLength"] = max_length
    return WithJsonSchema(schema)


def _python_groups_removed(pattern: str) -> str:
    """JSON Schema patterns are ECMA-262: no ``(?P<name>...)`` groups."""
    return re.sub(r"\(\?P<[a-z]+>", "(?:", pattern)


# An optional DNS-subdomain prefix and '/', then the name.
_LABEL_KEY = rf"^({_DNS_SUBDOMAIN.pattern[1:-1]}/)?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"
_SUPPORTED_VERSIONS = "|".join(str(minor) for minor in SUPPORTED_KUBERNETES_MINORS)

DnsLabel = Annotated[str, AfterValidator(_dns_label), _text(_DNS_LABEL.pattern, 63)]
ServiceName = Annotated[str, AfterValidator(_service_name), _text(_DNS_1035_LABEL.pattern, 63)]
Hostname = Annotated[str, AfterValidator(_hostname), _text(_DNS_SUBDOMAIN.pattern, 253)]
EnvVarName = Annotated[str, AfterValidator(_env_var_name), _text(_ENV_VAR_NAME.pattern)]
LabelKey = Annotated[str, AfterValidator(_label_key), _text(_LABEL_KEY, 317)]
LabelValue = Annotated[str, AfterValidator(_label_value), _text(_LABEL_VALUE.pattern, 63)]
ImageRef = Annotated[str, AfterValidator(_image_ref), _text(_python_groups_removed(IMAGE_REFERENCE.pattern), 255)]
Cidr = Annotated[
    str, AfterValidator(_cidr), WithJsonSchema({"type": "string", "examples": ["10.0.0.0/8", "0.0.0.0/0"]})
]
Quantity = Annotated[
    str,
    BeforeValidator(_quantity_text),
    AfterValidator(_positive_quantity),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _python_groups_removed(QUANTITY_PATTERN)},
                {"type": "number", "exclusiveMinimum": 0},
            ],
            "examples": ["500m", "2", "1Gi", "512Mi"],
        }
    ),
]
EnvValue = Annotated[str, BeforeValidator(_env_value), WithJsonSchema({"type": ["string", "number", "boolean"]})]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]
HttpPath = Annotated[str, Field(pattern=r"^/[A-Za-z0-9._~/-]*$")]
KubernetesVersion = Annotated[
    str,
    BeforeValidator(_version_text),
    AfterValidator(_kubernetes_version),
    _text(rf"^1\.({_SUPPORTED_VERSIONS})$", examples=["1.31"]),
]


def _chart_version(value: str) -> str:
    if not EXACT_VERSION.match(value):
        raise ValueError(f"{value!r} is not an exact chart version such as 4.11.3 (no ranges, never 'latest')")
    return value


ChartVersion = Annotated[
    str,
    BeforeValidator(lambda v: str(v) if isinstance(v, int | float) else v),
    AfterValidator(_chart_version),
    _text(EXACT_VERSION.pattern, examples=["4.11.3", "v1.16.1"]),
]
HttpsUrl = Annotated[str, Field(pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[^\s]*)?$")]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
#: A Prometheus duration such as 15d or 12h.
Duration = Annotated[str, Field(pattern=r"^[0-9]+(ms|s|m|h|d|w|y)$")]


class CrossFieldError(ValueError):
    """Several problems found by a model validator, each already naming its key path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems

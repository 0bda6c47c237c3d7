"""Kubernetes resource quantities ("500m", "1Gi", "2"), parsed exactly.

The stack files carry CPU, memory and storage sizes as Kubernetes quantities.
They are validated here, before anything is declared, so that a typo such as
``1.5 cores`` fails at ``pulumi preview`` with the key that holds it instead of
at apply time inside the cluster.
"""

from __future__ import annotations

import re
from decimal import Decimal, DecimalException

_BINARY_SUFFIXES = {
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_DECIMAL_SUFFIXES = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
# The grammar of k8s.io/apimachinery/pkg/api/resource: a signed decimal
# number followed by a binary-SI suffix, a decimal-SI suffix or an exponent.
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)


#: Kubernetes holds quantities as 64-bit integers of milli-units at most (2^63-1 millicores is
#: far beyond any cluster); anything larger is a typo, and its arithmetic must not overflow.
MAX_QUANTITY = Decimal(2**63 - 1)
_MAX_TEXT = 64
#: Exponents beyond nano (1e-9) and exa (1e18) give quantities Kubernetes cannot hold.
_MAX_EXPONENT = 30

#: The same grammar as text (Python syntax: with named groups), for JSON Schema.
QUANTITY_PATTERN = _QUANTITY.pattern


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(text: str) -> Decimal:
    """Return the value of a Kubernetes quantity in base units (cores, bytes)."""
    if not isinstance(text, str):
        raise QuantityError(f"{text!r} is not a Kubernetes quantity (examples: 500m, 2, 1Gi, 512Mi)")
    if len(text) > _MAX_TEXT:
        raise QuantityError(f"{text[: _MAX_TEXT - 3] + '...'!r} is too long for a Kubernetes quantity")
    match = _QUANTITY.match(text)
    if match is None:
        raise QuantityError(f"{text!r} is not a Kubernetes quantity (examples: 500m, 2, 1Gi, 512Mi)")
    suffix = match["suffix"] or ""
    try:
        number = Decimal(match["number"])
        if suffix in _BINARY_SUFFIXES:
            value = number * _BINARY_SUFFIXES[suffix]
        elif suffix in _DECIMAL_SUFFIXES:
            value = number * _DECIMAL_SUFFIXES[suffix]
        elif abs(exponent := int(suffix[1:])) <= _MAX_EXPONENT:
            value = number.scaleb(exponent)
        else:
            raise QuantityError(f"{text!r} is out of range for a Kubernetes quantity")
    except (DecimalException, ValueError) as error:
        raise QuantityError(f"{text!r} is out of range for a Kubernetes quantity") from error
    if abs(value) > MAX_QUANTITY:
        raise QuantityError(f"{text!r} is out of range for a Kubernetes quantity")
    return value


def format_cpu(cores: Decimal) -> str:
    """Cores as a Kubernetes quantity in whole millicores, rounded up (``4.5`` -> ``4500m``)."""
    millicores = -((-cores * 1000) // 1)
    return f"{int(millicores)}m"


def format_memory(size: Decimal) -> str:
    """Bytes as a Kubernetes quantity in whole MiB, rounded up (``1.5 GiB`` -> ``1536Mi``)."""
    mebibytes = -((-size) // _BINARY_SUFFIXES["Mi"])
    return f"{int(mebibytes)}Mi"

"""Kubernetes resource quantities ("500m", "1Gi", "2"), parsed exactly.

The stack files carry CPU, memory and storage sizes as Kubernetes quantities.
They are validated here, before anything is declared, so that a typo such as
``1.5 cores`` fails at ``pulumi preview`` with the key that holds it instead of
at apply time inside the cluster.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

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


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(text: str) -> Decimal:
    """Return the value of a Kubernetes quantity in base units (cores, bytes)."""
    match = _QUANTITY.match(text)
    if match is None:
        raise QuantityError(f"{text!r} is not a Kubernetes quantity (examples: 500m, 2, 1Gi, 512Mi)")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as error:  # pragma: no cover - the regex admits only decimals
        raise QuantityError(f"{text!r} is not a Kubernetes quantity") from error
    suffix = match["suffix"] or ""
    if suffix in _BINARY_SUFFIXES:
        return number * _BINARY_SUFFIXES[suffix]
    if suffix in _DECIMAL_SUFFIXES:
        return number * _DECIMAL_SUFFIXES[suffix]
    return number * (Decimal(10) ** int(suffix[1:]))


def format_cpu(cores: Decimal) -> str:
    """Cores as a Kubernetes quantity in whole millicores, rounded up (``4.5`` -> ``4500m``)."""
    millicores = -((-cores * 1000) // 1)
    return f"{int(millicores)}m"


def format_memory(size: Decimal) -> str:
    """Bytes as a Kubernetes quantity in whole MiB, rounded up (``1.5 GiB`` -> ``1536Mi``)."""
    mebibytes = -((-size) // _BINARY_SUFFIXES["Mi"])
    return f"{int(mebibytes)}Mi"

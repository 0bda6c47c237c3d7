"""Image references and exact versions: how the pack reads them, and how the program validates them.

Standard library only: the program's model layer validates stack files with
the same patterns (``IMAGE_REFERENCE``, ``EXACT_VERSION``), so the rules the
pack enforces and the errors a stack file gets cannot drift apart.
"""

from __future__ import annotations

import re

#: An OCI image reference: ``[registry[:port]/]repository[:tag][@sha256:digest]``.
IMAGE_REFERENCE = re.compile(
    r"^(?P<name>(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
#: An exact (semantic) version such as ``4.11.3`` or ``v1.16.1``: no ranges, never ``latest``.
EXACT_VERSION = re.compile(
    r"^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"
)
_DIGEST = re.compile(r"@(sha256:[a-f0-9]{64})$")


def image_registry(image: str) -> str:
    """The registry host of an image reference (Docker Hub when none is named)."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def image_tag(image: str) -> str | None:
    """The tag of any image string (lenient: the pack reads what it is given)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def image_digest(image: str) -> str | None:
    """The ``sha256:`` digest an image is pinned by, if any."""
    match = _DIGEST.search(image)
    return match[1] if match else None

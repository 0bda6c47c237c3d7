"""Bearer-token authentication of the API.

When ``API_TOKEN_FILE`` is set it names a file holding the token (the platform
mounts each secret env value as a file and sets ``<NAME>_FILE`` to its path).
Every path of the serving port except the probes ``/healthz`` and ``/readyz``
then requires ``Authorization: Bearer <token>``: ``/v1/*`` as the platform's
contract says, and unknown paths too (deny by default). Without
``API_TOKEN_FILE`` nothing is checked (local runs and most tests).

The file is read once, at startup; a trailing newline is ignored. A file that
cannot be read, or holds no token, fails startup: a service that was given a
token must never run open. Tokens are compared in constant time (SHA-256 of
both sides through ``hmac.compare_digest``, so not even the length leaks).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TOKEN_FILE_VARIABLE = "API_TOKEN_FILE"
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
CHALLENGE = {"WWW-Authenticate": "Bearer"}


class TokenFileError(RuntimeError):
    """``API_TOKEN_FILE`` is set but yields no usable token."""


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


@dataclass(frozen=True)
class BearerAuth:
    """The expected token's digest, or ``None`` when authentication is off."""

    digest: bytes | None = None

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> BearerAuth:
        location = environment.get(TOKEN_FILE_VARIABLE)
        if location is None:
            return cls()
        try:
            content = Path(location).read_bytes()
        except OSError as error:
            raise TokenFileError(f"{TOKEN_FILE_VARIABLE}={location!r} cannot be read: {error}") from error
        token = content.rstrip(b"\r\n")
        if not token:
            raise TokenFileError(f"{TOKEN_FILE_VARIABLE}={location!r} holds no token")
        # It travels in an HTTP header: printable ASCII, no spaces (RFC 6750 allows a subset of this).
        if not all(0x21 <= byte <= 0x7E for byte in token):
            raise TokenFileError(
                f"{TOKEN_FILE_VARIABLE}={location!r}: the token must be printable ASCII without spaces"
            )
        return cls(_digest(token))

    @property
    def enabled(self) -> bool:
        return self.digest is not None

    def required(self, path: str) -> bool:
        return self.digest is not None and path not in OPEN_PATHS

    def allows(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value carries the token."""
        if self.digest is None:
            return True
        if authorization is None:
            return False
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "bearer":  # auth schemes are case-insensitive (RFC 9110)
            return False
        # Starlette decodes header values as Latin-1, so this is the bytes the client sent.
        presented = credentials.strip(" ").encode("latin-1", errors="replace")
        return hmac.compare_digest(_digest(presented), self.digest)

"""The files the platform registry runs with: its ``config.yml`` and ``htpasswd``.

Pure functions, so the integration tests feed exactly these to the real
``docker-registry`` binary.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import bcrypt
import yaml

_BCRYPT_COST = 10
_STANDARD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def registry_config(
    *,
    realm: str,
    storage_dir: str = "/var/lib/registry",
    htpasswd_path: str = "/auth/htpasswd",
    addr: str = ":5000",
    debug_addr: str = ":5001",
) -> dict[str, Any]:
    """CNCF Distribution configuration: filesystem storage, htpasswd auth, Prometheus metrics."""
    return {
        "version": 0.1,
        "log": {"level": "info", "formatter": "json", "fields": {"service": "registry"}},
        "storage": {
            "filesystem": {"rootdirectory": storage_dir},
            # No deletes: nothing reclaims their space without garbage collection, which needs the
            # registry read-only (see README); a leaked push credential cannot erase images either.
            "delete": {"enabled": False},
            "cache": {"blobdescriptor": "inmemory"},
            "maintenance": {"uploadpurging": {"enabled": True, "age": "168h", "interval": "24h", "dryrun": False}},
        },
        "http": {
            "addr": addr,
            "headers": {"X-Content-Type-Options": ["nosniff"]},
            "debug": {"addr": debug_addr, "prometheus": {"enabled": True, "path": "/metrics"}},
        },
        "auth": {"htpasswd": {"realm": realm, "path": htpasswd_path}},
        "health": {"storagedriver": {"enabled": True, "interval": "10s", "threshold": 3}},
    }


def registry_config_yaml(**settings: Any) -> str:
    return yaml.safe_dump(registry_config(**settings), sort_keys=False)


def bcrypt_salt(random_bytes: bytes) -> str:
    """A bcrypt salt (22 characters of bcrypt's alphabet) from 16 random bytes."""
    if len(random_bytes) != 16:
        raise ValueError("a bcrypt salt is 16 bytes")
    return base64.b64encode(random_bytes).decode()[:22].translate(str.maketrans(_STANDARD, _BCRYPT_ALPHABET))


def htpasswd_line(username: str, password: str, salt: str) -> str:
    """``user:bcrypt-hash`` with the given salt.

    The salt is random and kept in Pulumi's state (a ``random.RandomBytes``
    resource), so the hash is stable across `pulumi up` runs without being a
    function of the credentials: the published hash must not let anyone test
    password guesses faster than bcrypt allows.
    """
    hashed = bcrypt.hashpw(password.encode(), f"$2b${_BCRYPT_COST:02d}${salt}".encode())
    return f"{username}:{hashed.decode()}\n"


def docker_config_json(host: str, username: str, password: str) -> str:
    """The ``.dockerconfigjson`` of an image pull secret for ``host``."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {host: {"username": username, "password": password, "auth": auth}}})

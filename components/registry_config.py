"""The files the platform registry runs with: its ``config.yml`` and ``htpasswd``.

Pure functions, so the integration tests feed exactly these to the real
``docker-registry`` binary.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
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
            "delete": {"enabled": True},
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


def htpasswd_line(username: str, password: str) -> str:
    """``user:bcrypt-hash`` with a salt derived from the credentials.

    A random salt would change the Secret on every ``pulumi up``; a salt keyed
    on the credentials keeps ``pulumi preview`` quiet until the password
    changes, and still differs per user and per password.
    """
    digest = hmac.new(username.encode(), password.encode(), hashlib.sha256).digest()[:16]
    salt = base64.b64encode(digest).decode()[:22].translate(str.maketrans(_STANDARD, _BCRYPT_ALPHABET))
    hashed = bcrypt.hashpw(password.encode(), f"$2b${_BCRYPT_COST:02d}${salt}".encode())
    return f"{username}:{hashed.decode()}\n"


def docker_config_json(host: str, username: str, password: str) -> str:
    """The ``.dockerconfigjson`` of an image pull secret for ``host``."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {host: {"username": username, "password": password, "auth": auth}}})

"""The files the platform registry and its token server run with.

Pure functions, so the integration tests feed exactly these to the real
``docker-registry`` binary: the registry's ``config.yml`` (token auth), and
the token server's ``auth_config.yml`` (cesanta/docker_auth: its users and
their access).

Why token auth: CNCF Distribution's own htpasswd auth lets every user do
everything, so one credential would both push images and (copied into every
AI namespace as the pull secret) pull them. With token auth the registry
grants exactly the actions a token signed by the token server lists, and the
token server grants each account only ``PUSH_ACTIONS`` or ``PULL_ACTIONS``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import bcrypt
import yaml

_BCRYPT_COST = 10
_STANDARD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

#: What each role may do to a repository. Nobody may delete (the registry has deletes off too),
#: nobody lists the catalog, and an account not listed gets nothing (the token server denies by default).
PUSH_ACTIONS = ("pull", "push")
PULL_ACTIONS = ("pull",)
#: The token's issuer; the registry accepts tokens only from it.
TOKEN_ISSUER = "ai-platform-registry-token-server"
#: Seconds a token stays valid; clients ask for a new one per session.
TOKEN_EXPIRATION = 900
#: Where on the registry's host clients ask the token server for tokens.
REALM_PATH = "/auth"
#: Where the pods find what these files name; the components mount them there.
REGISTRY_SIGNER_DIR, REGISTRY_SIGNER_FILE = "/auth/token", "signer.crt"
TOKEN_SERVER_PORT = 5002
TOKEN_SERVER_SIGNER_DIR = "/signer"


def registry_config(
    *,
    host: str,
    storage_dir: str = "/var/lib/registry",
    rootcertbundle: str = f"{REGISTRY_SIGNER_DIR}/{REGISTRY_SIGNER_FILE}",
    addr: str = ":5000",
    debug_addr: str = ":5001",
) -> dict[str, Any]:
    """CNCF Distribution configuration: filesystem storage, token auth, Prometheus metrics.

    Clients (Docker, containerd on every node) are sent to ``https://<host>/auth``
    for a token; the registry checks each token's signature against the token
    server's certificate (``rootcertbundle``) and its audience against ``host``.
    """
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
        "auth": {
            "token": {
                "realm": f"https://{host}{REALM_PATH}",
                "service": host,
                "issuer": TOKEN_ISSUER,
                "rootcertbundle": rootcertbundle,
            }
        },
        "health": {"storagedriver": {"enabled": True, "interval": "10s", "threshold": 3}},
    }


def registry_config_yaml(**settings: Any) -> str:
    return yaml.safe_dump(registry_config(**settings), sort_keys=False)


def token_server_config(
    *,
    pushers: Mapping[str, str],
    pullers: Mapping[str, str],
    addr: str = f":{TOKEN_SERVER_PORT}",
    certificate: str = f"{TOKEN_SERVER_SIGNER_DIR}/tls.crt",
    key: str = f"{TOKEN_SERVER_SIGNER_DIR}/tls.key",
) -> dict[str, Any]:
    """cesanta/docker_auth configuration: static users (bcrypt hashes) and their access.

    ``pushers`` and ``pullers`` map account names to bcrypt hashes. The ACL is
    evaluated top to bottom and the first entry matching the account decides;
    no entry matches anyone else, which docker_auth answers with no access.
    """
    overlap = sorted(set(pushers) & set(pullers))
    if overlap:
        raise ValueError(f"accounts cannot both push and only pull: {overlap}")
    acl = [
        {
            "match": {"account": account, "type": "repository"},
            "actions": list(actions),
            "comment": comment,
        }
        for accounts, actions, comment in (
            (pushers, PUSH_ACTIONS, "CI pushes service images (and pulls their bases)"),
            (pullers, PULL_ACTIONS, "nodes pull images; nothing else"),
        )
        for account in sorted(accounts)
    ]
    return {
        "server": {"addr": addr},
        "token": {"issuer": TOKEN_ISSUER, "expiration": TOKEN_EXPIRATION, "certificate": certificate, "key": key},
        "users": {account: {"password": hashed} for account, hashed in sorted({**pushers, **pullers}.items())},
        "acl": acl,
    }


def token_server_config_yaml(**settings: Any) -> str:
    return yaml.safe_dump(token_server_config(**settings), sort_keys=False)


def bcrypt_salt(random_bytes: bytes) -> str:
    """A bcrypt salt (22 characters of bcrypt's alphabet) from 16 random bytes."""
    if len(random_bytes) != 16:
        raise ValueError("a bcrypt salt is 16 bytes")
    return base64.b64encode(random_bytes).decode()[:22].translate(str.maketrans(_STANDARD, _BCRYPT_ALPHABET))


def bcrypt_hash(password: str, salt: str) -> str:
    """The bcrypt hash of ``password`` with the given salt.

    The salt is random and kept in Pulumi's state (a ``random.RandomBytes``
    resource), so the hash is stable across `pulumi up` runs without being a
    function of the credentials: the published hash must not let anyone test
    password guesses faster than bcrypt allows.
    """
    return bcrypt.hashpw(password.encode(), f"$2b${_BCRYPT_COST:02d}${salt}".encode()).decode()


def docker_config_json(host: str, username: str, password: str) -> str:
    """The ``.dockerconfigjson`` of an image pull secret for ``host``."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {host: {"username": username, "password": password, "auth": auth}}})

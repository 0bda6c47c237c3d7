"""The real ``docker-registry`` (CNCF Distribution) runs with the config ContainerRegistry renders.

The registry trusts tokens from the token server (cesanta/docker_auth). That
program is not packaged for Debian, so the test plays its part exactly as
docker_auth 1.14.0 does it (``server.CreateToken`` and ``authz/acl.go``):
it evaluates the token server config the platform renders, first matching
ACL entry decides and the granted actions are the requested ones it lists,
and signs the token with an ECDSA P-256 key whose certificate is the
registry's ``rootcertbundle``, with libtrust's key ID in ``kid``. What the
registry then lets each account do is the real program's answer.
"""

from __future__ import annotations

import base64
import datetime
import fnmatch
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from components.registry_config import TOKEN_ISSUER, bcrypt_hash, bcrypt_salt, token_server_config
from infra.offline.check import Rendered
from tests.helpers import manifests_of
from tests.processes import free_port, require_binary, running

RenderStack = Callable[[str], Rendered]

pytestmark = pytest.mark.integration
HOST = "registry.example.com"
PUSHER, PULLER = "ci", "cluster-pull"
REPOSITORY = "ai/text-classifier"
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def rendered_config(rendered: Rendered) -> str:
    """The registry's ``config.yml`` exactly as the prod stack declares it (its ConfigMap)."""
    [config_map] = manifests_of(rendered, "ConfigMap", "platform-registry")
    text: str = config_map["data"]["config.yml"]
    return text


@dataclass(frozen=True)
class Signer:
    key: ec.EllipticCurvePrivateKey
    certificate_pem: bytes

    @classmethod
    def create(cls) -> Signer:
        """What cert-manager's self-signed Issuer makes of the platform's signer Certificate."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TOKEN_ISSUER)])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate.public_bytes(serialization.Encoding.PEM))

    def key_id(self) -> str:
        """libtrust's key ID (docker_auth's ``kid`` for registry v2): SHA-256 of the DER public key,
        truncated to 240 bits, base32 in twelve groups of four."""
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
        return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))

    def token(self, claims: dict[str, Any]) -> str:
        header = {"typ": "JWT", "alg": "ES256", "kid": self.key_id()}
        payload = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.key.sign(payload.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{payload}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def granted(settings: dict[str, Any], account: str, repository: str, requested: Sequence[str]) -> list[str]:
    """docker_auth's static ACL: the first entry whose conditions all match decides; unset conditions
    match anything; ``*`` grants what was asked. (docker_auth globs with Go's ``path.Match``, where ``*`` stops
    at ``/``; the rendered ACL names accounts and types only, which fnmatch compares the same way.)"""
    request = {"account": account, "type": "repository", "name": repository, "service": HOST}
    for entry in settings["acl"]:
        if all(fnmatch.fnmatchcase(request[key], pattern) for key, pattern in entry["match"].items()):
            actions: list[str] = entry["actions"]
            return sorted(requested if actions == ["*"] else set(requested) & set(actions))
    return []


class TokenServer:
    """The token server's answers for the rendered users and ACL (authentication included)."""

    def __init__(self, signer: Signer, passwords: dict[str, str]) -> None:
        salt = bcrypt_salt(bytes(range(16)))
        self.signer = signer
        self.passwords = passwords
        self.settings = token_server_config(
            pushers={PUSHER: bcrypt_hash(passwords[PUSHER], salt)},
            pullers={PULLER: bcrypt_hash(passwords[PULLER], salt)},
        )

    def token(self, account: str, password: str, scope: Sequence[str], **overrides: Any) -> str:
        import bcrypt

        user = self.settings["users"].get(account)
        assert user is not None and bcrypt.checkpw(password.encode(), user["password"].encode()), "401 from /auth"
        now = int(time.time())
        claims = {
            "iss": self.settings["token"]["issuer"],
            "sub": account,
            "aud": HOST,
            "exp": now + self.settings["token"]["expiration"],
            "nbf": now - 10,
            "iat": now,
            "jti": str(now),
            "access": [
                {
                    "type": "repository",
                    "name": REPOSITORY,
                    "actions": granted(self.settings, account, REPOSITORY, scope),
                }
            ],
            **overrides,
        }
        return self.signer.token(claims)


@contextmanager
def registry(directory: Path, signer: Signer, config_text: str) -> Iterator[str]:
    """The registry on loopback with the rendered config.yml, byte for byte, and the signer's certificate.

    Only what differs between the pod and this machine is overridden, the way
    Distribution documents it (``REGISTRY_<SECTION>_<KEY>`` environment
    variables): the listen addresses and the two paths the pod mounts.
    """
    binary = require_binary("docker-registry")
    port, debug_port = free_port(), free_port()
    (directory / "storage").mkdir(exist_ok=True)
    (directory / "signer.crt").write_bytes(signer.certificate_pem)
    (directory / "config.yml").write_text(config_text)
    overrides = {
        "REGISTRY_HTTP_ADDR": f"127.0.0.1:{port}",
        "REGISTRY_HTTP_DEBUG_ADDR": f"127.0.0.1:{debug_port}",
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(directory / "storage"),
        "REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE": str(directory / "signer.crt"),
    }
    url = f"http://127.0.0.1:{port}"
    with running(
        [binary, "serve", str(directory / "config.yml")], directory / "registry.log", ready_url=f"{url}/", env=overrides
    ):
        yield url


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def push_blob(client: httpx.Client, token: str, content: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    start = client.post(f"/v2/{REPOSITORY}/blobs/uploads/", headers=bearer(token))
    assert start.status_code == 202, start.text
    location = start.headers["location"]
    separator = "&" if "?" in location else "?"
    done = client.put(f"{location}{separator}digest={digest}", content=content, headers=bearer(token))
    assert done.status_code == 201, done.text
    return digest


def push_image(client: httpx.Client, token: str) -> tuple[bytes, str]:
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = hashlib.sha256(b"seed").digest() * 4096  # 128 KiB of "model weights"
    config_digest, layer_digest = push_blob(client, token, config), push_blob(client, token, layer)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": config_digest,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": layer_digest,
                }
            ],
        }
    ).encode()
    pushed = client.put(
        f"/v2/{REPOSITORY}/manifests/0.1.0",
        content=manifest,
        headers={"content-type": MANIFEST_TYPE, **bearer(token)},
    )
    assert pushed.status_code == 201, pushed.text
    return manifest, pushed.headers["docker-content-digest"]


PASSWORDS = {PUSHER: "correct horse battery staple", PULLER: "a" * 64}


def test_ci_pushes_nodes_only_pull_nobody_deletes(tmp_path: Path, rendered_stack: RenderStack) -> None:
    config_text = rendered_config(rendered_stack("prod"))
    signer = Signer.create()
    tokens = TokenServer(signer, PASSWORDS)
    push = tokens.token(PUSHER, PASSWORDS[PUSHER], ["pull", "push"])
    pull = tokens.token(PULLER, PASSWORDS[PULLER], ["pull", "push"])  # asks for push, is granted pull only

    with registry(tmp_path, signer, config_text) as url, httpx.Client(base_url=url, timeout=30) as client:
        # Clients are sent to the token server on the registry's public host, for this service.
        challenge = client.get("/v2/")
        assert challenge.status_code == 401
        assert challenge.headers["www-authenticate"] == f'Bearer realm="https://{HOST}/auth",service="{HOST}"'
        # A basic-auth login gets nowhere: the registry takes only tokens.
        assert client.get("/v2/", auth=(PUSHER, PASSWORDS[PUSHER])).status_code == 401

        # The pull account cannot push...
        refused = client.post(f"/v2/{REPOSITORY}/blobs/uploads/", headers=bearer(pull))
        assert refused.status_code == 401
        assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
        # ...CI can.
        manifest, digest = push_image(client, push)

        # Nodes pull what CI pushed.
        by_tag = client.get(f"/v2/{REPOSITORY}/manifests/0.1.0", headers={"accept": MANIFEST_TYPE, **bearer(pull)})
        assert by_tag.status_code == 200 and by_tag.content == manifest
        assert client.get(f"/v2/{REPOSITORY}/manifests/{digest}", headers={"accept": MANIFEST_TYPE, **bearer(pull)})

        # Deletes: the ACL grants them to nobody, and the registry has them off even for a token that had one.
        assert granted(tokens.settings, PUSHER, REPOSITORY, ["delete"]) == []
        not_granted = tokens.token(PUSHER, PASSWORDS[PUSHER], ["delete"])
        assert client.delete(f"/v2/{REPOSITORY}/manifests/{digest}", headers=bearer(not_granted)).status_code == 401
        forged = signer.token(
            {
                "iss": TOKEN_ISSUER,
                "sub": PUSHER,
                "aud": HOST,
                "exp": int(time.time()) + 60,
                "nbf": int(time.time()) - 10,
                "iat": int(time.time()),
                "jti": "x",
                "access": [{"type": "repository", "name": REPOSITORY, "actions": ["delete"]}],
            }
        )
        assert client.delete(f"/v2/{REPOSITORY}/manifests/{digest}", headers=bearer(forged)).status_code == 405
        # The catalog is nobody's business.
        assert client.get("/v2/_catalog", headers=bearer(push)).status_code == 401


def test_the_registry_refuses_tokens_it_should_not_trust(tmp_path: Path, rendered_stack: RenderStack) -> None:
    signer = Signer.create()
    tokens = TokenServer(signer, PASSWORDS)
    impostor = TokenServer(Signer.create(), PASSWORDS)
    with (
        registry(tmp_path, signer, rendered_config(rendered_stack("prod"))) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):

        def answer(token: str) -> int:
            return client.get(f"/v2/{REPOSITORY}/tags/list", headers=bearer(token)).status_code

        # A good pull token reaches the repository (404: nothing pushed yet), and nothing else does.
        assert answer(tokens.token(PULLER, PASSWORDS[PULLER], ["pull"])) == 404
        assert answer(impostor.token(PULLER, PASSWORDS[PULLER], ["pull"])) == 401  # another signing key
        assert answer(tokens.token(PULLER, PASSWORDS[PULLER], ["pull"], iss="someone-else")) == 401
        assert answer(tokens.token(PULLER, PASSWORDS[PULLER], ["pull"], aud="other.example.com")) == 401
        assert answer(tokens.token(PULLER, PASSWORDS[PULLER], ["pull"], exp=int(time.time()) - 120)) == 401
        # An account the token server does not list gets no token, and its ACL grants it nothing.
        assert granted(tokens.settings, "mallory", REPOSITORY, ["pull"]) == []
        with pytest.raises(AssertionError, match="401 from /auth"):
            tokens.token("mallory", PASSWORDS[PULLER], ["pull"])
        with pytest.raises(AssertionError, match="401 from /auth"):
            tokens.token(PUSHER, "wrong password", ["pull"])


def test_images_survive_a_restart(tmp_path: Path, rendered_stack: RenderStack) -> None:
    config_text = rendered_config(rendered_stack("prod"))
    signer = Signer.create()
    tokens = TokenServer(signer, PASSWORDS)
    with registry(tmp_path, signer, config_text) as url, httpx.Client(base_url=url, timeout=30) as client:
        manifest, digest = push_image(client, tokens.token(PUSHER, PASSWORDS[PUSHER], ["pull", "push"]))
    # A new pod on the same volume keeps everything.
    pull = tokens.token(PULLER, PASSWORDS[PULLER], ["pull"])
    with registry(tmp_path, signer, config_text) as url, httpx.Client(base_url=url, timeout=30) as client:
        found = client.get(f"/v2/{REPOSITORY}/manifests/{digest}", headers={"accept": MANIFEST_TYPE, **bearer(pull)})
        assert found.status_code == 200 and found.content == manifest


def test_the_registry_refuses_a_broken_config(tmp_path: Path, rendered_stack: RenderStack) -> None:
    broken = rendered_config(rendered_stack("prod")).replace("filesystem:", "filesystemm:")
    with pytest.raises(RuntimeError, match="exited"), registry(tmp_path, Signer.create(), broken):
        pass

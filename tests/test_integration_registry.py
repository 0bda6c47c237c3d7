"""The real ``docker-registry`` (CNCF Distribution) runs with the files ContainerRegistry renders."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from components.registry_config import bcrypt_salt, htpasswd_line
from infra.offline.check import Rendered
from tests.helpers import manifests_of
from tests.processes import free_port, require_binary, running

RenderStack = Callable[[str], Rendered]

pytestmark = pytest.mark.integration
USER, PASSWORD = "ci", "correct horse battery staple"
REPOSITORY = "ai/text-classifier"
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def rendered_config(rendered: Rendered) -> str:
    """The registry's ``config.yml`` exactly as the prod stack declares it (its ConfigMap)."""
    [config_map] = manifests_of(rendered, "ConfigMap", "platform-registry")
    text: str = config_map["data"]["config.yml"]
    return text


@contextmanager
def registry(directory: Path, htpasswd: str, config_text: str) -> Iterator[str]:
    """The registry on loopback with the rendered config.yml, byte for byte, and our htpasswd.

    Only what differs between the pod and this machine is overridden, the way
    Distribution documents it (``REGISTRY_<SECTION>_<KEY>`` environment
    variables): the listen addresses and the two paths the pod mounts.
    """
    binary = require_binary("docker-registry")
    port, debug_port = free_port(), free_port()
    (directory / "storage").mkdir(exist_ok=True)
    (directory / "htpasswd").write_text(htpasswd)
    (directory / "config.yml").write_text(config_text)
    overrides = {
        "REGISTRY_HTTP_ADDR": f"127.0.0.1:{port}",
        "REGISTRY_HTTP_DEBUG_ADDR": f"127.0.0.1:{debug_port}",
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(directory / "storage"),
        "REGISTRY_AUTH_HTPASSWD_PATH": str(directory / "htpasswd"),
    }
    url = f"http://127.0.0.1:{port}"
    with running(
        [binary, "serve", str(directory / "config.yml")], directory / "registry.log", ready_url=f"{url}/", env=overrides
    ):
        yield url


def push_blob(client: httpx.Client, content: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    start = client.post(f"/v2/{REPOSITORY}/blobs/uploads/")
    assert start.status_code == 202, start.text
    location = start.headers["location"]
    separator = "&" if "?" in location else "?"
    done = client.put(f"{location}{separator}digest={digest}", content=content)
    assert done.status_code == 201, done.text
    return digest


def test_auth_push_restart_pull(tmp_path: Path, rendered_stack: RenderStack) -> None:
    config_text = rendered_config(rendered_stack("prod"))
    credentials = htpasswd_line(USER, PASSWORD, bcrypt_salt(os.urandom(16)))
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = hashlib.sha256(b"seed").digest() * 4096  # 128 KiB of "model weights"

    with registry(tmp_path, credentials, config_text) as url:
        assert httpx.get(f"{url}/v2/").status_code == 401
        assert httpx.get(f"{url}/v2/", auth=(USER, "wrong password")).status_code == 401
        assert httpx.get(f"{url}/v2/", auth=("mallory", PASSWORD)).status_code == 401
        with httpx.Client(base_url=url, auth=(USER, PASSWORD), timeout=30) as client:
            assert client.get("/v2/").status_code == 200
            config_digest = push_blob(client, config)
            layer_digest = push_blob(client, layer)
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
                f"/v2/{REPOSITORY}/manifests/0.1.0", content=manifest, headers={"content-type": MANIFEST_TYPE}
            )
            assert pushed.status_code == 201, pushed.text
            manifest_digest = pushed.headers["docker-content-digest"]

    # A restart (a new pod on the same volume) keeps everything.
    with (
        registry(tmp_path, credentials, config_text) as url,
        httpx.Client(base_url=url, auth=(USER, PASSWORD), timeout=30) as client,
    ):
        by_tag = client.get(f"/v2/{REPOSITORY}/manifests/0.1.0", headers={"accept": MANIFEST_TYPE})
        assert by_tag.status_code == 200
        assert by_tag.content == manifest
        assert (
            client.get(f"/v2/{REPOSITORY}/manifests/{manifest_digest}", headers={"accept": MANIFEST_TYPE}).content
            == manifest
        )
        assert client.get(f"/v2/{REPOSITORY}/blobs/{layer_digest}").content == layer
        assert client.get(f"/v2/{REPOSITORY}/blobs/{config_digest}").content == config
        assert client.get("/v2/_catalog").json() == {"repositories": [REPOSITORY]}
        # Deletes are off (no garbage collection runs): even the push credential cannot erase an image.
        assert client.delete(f"/v2/{REPOSITORY}/manifests/{manifest_digest}").status_code == 405


def test_a_broken_htpasswd_lets_nobody_in(tmp_path: Path, rendered_stack: RenderStack) -> None:
    broken = htpasswd_line(USER, PASSWORD, bcrypt_salt(os.urandom(16))).replace("$2b$10$", "$2b$10$x", 1)
    with registry(tmp_path, broken, rendered_config(rendered_stack("prod"))) as url:
        assert httpx.get(f"{url}/v2/", auth=(USER, PASSWORD)).status_code == 401


def test_the_registry_refuses_a_broken_config(tmp_path: Path, rendered_stack: RenderStack) -> None:
    broken = rendered_config(rendered_stack("prod")).replace("filesystem:", "filesystemm:")
    credentials = htpasswd_line(USER, PASSWORD, bcrypt_salt(os.urandom(16)))
    with pytest.raises(RuntimeError, match="exited"), registry(tmp_path, credentials, broken):
        pass

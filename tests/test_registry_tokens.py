"""The registry's identities: CI pushes, nodes only pull, nobody deletes (token auth, docker_auth)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import bcrypt
import pytest
import yaml
from pydantic import ValidationError

from components.registry_auth import SIGNER_SECRET
from components.registry_config import (
    PULL_ACTIONS,
    PUSH_ACTIONS,
    TOKEN_ISSUER,
    bcrypt_hash,
    bcrypt_salt,
    docker_config_json,
    registry_config,
    token_server_config,
)
from infra import sdk
from infra.offline.check import Rendered, render
from model.config import RegistryConfig
from model.config.platform import ExternalRegistryConfig
from model.stack_config import ConfigError
from tests.conftest import StackWriter, base_config, base_service
from tests.helpers import REGISTRY_AUTH_IMAGE, manifest, manifests_of, pod_spec, resources_of

RenderStack = Callable[[str], Rendered]
SALT = bcrypt_salt(bytes(range(16)))


def revealed(value: Any) -> Any:
    """A recorded input with every Pulumi secret unwrapped: what the provider would send to the cluster."""
    if sdk.is_secret(value):
        return revealed(value["value"])
    if isinstance(value, dict):
        return {key: revealed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [revealed(item) for item in value]
    return value


def pull_secrets(rendered: Rendered) -> dict[str, dict[str, Any]]:
    """Each AI namespace's pull secret, decoded: ``{namespace: {server: {username, password, auth}}}``."""
    found = {}
    for resource in resources_of(rendered, "kubernetes:core/v1:Secret"):
        inputs = revealed(resource.inputs)
        if inputs.get("type") == "kubernetes.io/dockerconfigjson":
            found[inputs["metadata"]["namespace"]] = json.loads(inputs["stringData"][".dockerconfigjson"])["auths"]
    return found


def token_server_settings(rendered: Rendered) -> dict[str, Any]:
    [secret] = [
        revealed(r.inputs)
        for r in resources_of(rendered, "kubernetes:core/v1:Secret")
        if r.name.startswith("registry-auth-config")
    ]
    settings: dict[str, Any] = yaml.safe_load(secret["stringData"]["auth_config.yml"])
    return settings


def test_ai_namespaces_pull_with_a_pull_only_account_never_the_push_password(rendered_stack: RenderStack) -> None:
    prod = rendered_stack("prod")
    secrets = pull_secrets(prod)
    assert set(secrets) == {"ai-services", "ai-inference"}
    for auths in secrets.values():
        [(server, login)] = auths.items()
        assert server == "registry.example.com"
        assert login["username"] == "cluster-pull"
        # Drawn (64 hex digits), not `registryPassword` (offline, a secret reads as `offline-secret-...`).
        assert len(login["password"]) == 64 and not login["password"].startswith("offline-secret-")
        assert base64.b64decode(login["auth"]).decode() == f"cluster-pull:{login['password']}"
    # The pull password is drawn once (kept in state), so every namespace gets the same one.
    assert len({auths["registry.example.com"]["password"] for auths in secrets.values()}) == 1


def test_the_token_server_knows_both_accounts_and_grants_push_only_to_ci(rendered_stack: RenderStack) -> None:
    prod = rendered_stack("prod")
    settings = token_server_settings(prod)
    pull_password = pull_secrets(prod)["ai-services"]["registry.example.com"]["password"]
    assert set(settings["users"]) == {"ci", "cluster-pull"}
    assert bcrypt.checkpw(pull_password.encode(), settings["users"]["cluster-pull"]["password"].encode())
    assert not bcrypt.checkpw(pull_password.encode(), settings["users"]["ci"]["password"].encode())
    grants = {entry["match"]["account"]: entry["actions"] for entry in settings["acl"]}
    assert grants == {"ci": ["pull", "push"], "cluster-pull": ["pull"]}
    assert settings["token"]["issuer"] == TOKEN_ISSUER
    # The registry trusts exactly this issuer, for its own host, with the token server's certificate.
    [config_map] = manifests_of(prod, "ConfigMap", "platform-registry")
    auth = yaml.safe_load(config_map["data"]["config.yml"])["auth"]
    assert auth == {
        "token": {
            "realm": "https://registry.example.com/auth",
            "service": "registry.example.com",
            "issuer": TOKEN_ISSUER,
            "rootcertbundle": "/auth/token/signer.crt",
        }
    }


def test_docker_auth_accepts_the_config(rendered_stack: RenderStack) -> None:
    """What docker_auth 1.14.0's ``server.LoadConfig`` and ``authz.ValidateACL`` require (server/config.go, acl.go).

    It refuses to start without ``token.issuer``, with a non-positive
    ``expiration``, with half of a certificate/key pair, or without any
    authenticator; an ACL entry without ``actions`` crashes it at the first
    request (``Authorize`` dereferences it).
    """
    settings = token_server_settings(rendered_stack("prod"))
    assert set(settings) == {"server", "token", "users", "acl"}
    assert settings["server"] == {"addr": ":5002"}
    token = settings["token"]
    assert token["issuer"] and isinstance(token["expiration"], int) and token["expiration"] > 0
    assert token["certificate"] == "/signer/tls.crt" and token["key"] == "/signer/tls.key"
    assert all(user["password"].startswith("$2b$10$") for user in settings["users"].values())
    for entry in settings["acl"]:
        assert set(entry) == {"match", "actions", "comment"}
        assert set(entry["match"]) <= {"account", "type", "name", "ip", "service", "labels"}
        assert isinstance(entry["actions"], list) and "*" not in entry["actions"]
    deployment = manifest(rendered_stack("prod"), "Deployment", "registry-auth")
    [container] = pod_spec(deployment)["containers"]
    assert container["args"] == ["--logtostderr", "/config/auth_config.yml"]
    assert container["ports"] == [{"name": "http", "containerPort": 5002}]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"config": "/config", "signer": "/signer"}


def test_nobody_may_delete_list_the_catalog_or_get_in_unlisted() -> None:
    settings = token_server_config(pushers={"ci": "$2b$10$x"}, pullers={"cluster-pull": "$2b$10$y"})
    actions = {action for entry in settings["acl"] for action in entry["actions"]}
    assert actions == {"pull", "push"} == set(PUSH_ACTIONS) | set(PULL_ACTIONS)
    assert all(entry["match"]["type"] == "repository" for entry in settings["acl"])  # not the catalog
    assert {entry["match"]["account"] for entry in settings["acl"]} == {"ci", "cluster-pull"}
    assert "" not in settings["users"]  # no anonymous access
    assert registry_config(host="r.example.com")["storage"]["delete"] == {"enabled": False}
    with pytest.raises(ValueError, match="cannot both push and only pull"):
        token_server_config(pushers={"ci": "h"}, pullers={"ci": "h"})


def test_the_registry_holds_only_the_certificate_and_the_token_server_the_key(rendered_stack: RenderStack) -> None:
    prod = rendered_stack("prod")
    registry = pod_spec(manifest(prod, "Deployment", "registry"))
    [signer] = [v for v in registry["volumes"] if v.get("secret", {}).get("secretName") == SIGNER_SECRET]
    assert signer["secret"]["items"] == [{"key": "tls.crt", "path": "signer.crt"}]
    tokens = pod_spec(manifest(prod, "Deployment", "registry-auth"))
    [key] = [v for v in tokens["volumes"] if v.get("secret", {}).get("secretName") == SIGNER_SECRET]
    assert {item["key"] for item in key["secret"]["items"]} == {"tls.crt", "tls.key"}
    certificate = manifest(prod, "Certificate", SIGNER_SECRET)
    assert certificate["spec"]["issuerRef"] == {"name": SIGNER_SECRET, "kind": "Issuer", "group": "cert-manager.io"}
    assert certificate["spec"]["privateKey"]["rotationPolicy"] == "Never"  # the registry reads it once
    assert certificate["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    assert manifest(prod, "Issuer", SIGNER_SECRET)["spec"] == {"selfSigned": {}}
    # Both Deployments wait for the certificate (their pods mount its Secret).
    [signer_resource] = [
        r for r in resources_of(prod, "kubernetes:cert-manager.io/v1:Certificate") if "signer" in r.name
    ]
    for deployment in resources_of(prod, "kubernetes:apps/v1:Deployment"):
        if deployment.name in ("registry", "registry-auth"):
            assert signer_resource.urn in deployment.options["dependsOn"]


def test_only_the_ingress_controller_reaches_the_token_server_on_auth(rendered_stack: RenderStack) -> None:
    prod = rendered_stack("prod")
    registry, tokens = manifest(prod, "Ingress", "registry"), manifest(prod, "Ingress", "registry-auth")
    assert [
        (rule["host"], path["path"], path["backend"]["service"]["name"])
        for ingress in (registry, tokens)
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ] == [
        ("registry.example.com", "/", "registry"),
        ("registry.example.com", "/auth", "registry-auth"),
    ]
    assert (
        tokens["spec"]["tls"]
        == registry["spec"]["tls"]
        == [{"hosts": ["registry.example.com"], "secretName": "registry-tls"}]
    )
    # Not the registry's multi-GB bodies and 15-minute timeouts: small requests at a bounded rate per client.
    assert tokens["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/proxy-body-size": "64k",
        "nginx.ingress.kubernetes.io/limit-rps": "20",
        "nginx.ingress.kubernetes.io/limit-connections": "20",
    }
    [policy] = [
        m
        for m in manifests_of(prod, "NetworkPolicy", "platform-registry")
        if m["metadata"]["name"] == "allow-from-ingress-controller"
    ]
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "registry-auth"
    assert policy["spec"]["ingress"][0]["ports"] == [{"port": 5002, "protocol": "TCP"}]
    deployment = manifest(prod, "Deployment", "registry-auth")
    assert deployment["spec"]["replicas"] == 3
    assert manifest(prod, "PodDisruptionBudget", "registry-auth")["spec"]["minAvailable"] == 2


def test_salts_are_random_and_kept_in_state(rendered_stack: RenderStack) -> None:
    """Same salt, same hash (a preview after `up` shows no change); the salt is drawn, not derived."""
    assert bcrypt_hash("s3cret", SALT) == bcrypt_hash("s3cret", SALT)
    assert bcrypt_hash("s3cret", SALT) != bcrypt_hash("s3cret", bcrypt_salt(bytes(range(1, 17))))
    # Nothing in the hash is a function of the credentials but bcrypt itself.
    assert bcrypt_hash("s3cret", SALT)[7:29] == bcrypt_hash("other", SALT)[7:29] == SALT
    drawn = {r.name: r.inputs for r in resources_of(rendered_stack("prod"), "random:index/randomBytes:RandomBytes")}
    assert drawn == {
        "registry-auth-push-salt": {"length": 16},
        "registry-auth-pull-salt": {"length": 16},
        "registry-auth-pull-password": {"length": 32},
    }
    auth = json.loads(docker_config_json("registry.example.com", "ci", "s3cret"))["auths"]["registry.example.com"]
    assert auth["auth"] == "Y2k6czNjcmV0"


def test_the_in_cluster_registry_needs_a_pinned_token_server_and_two_distinct_users() -> None:
    with pytest.raises(ValidationError, match="authImage: is required"):
        RegistryConfig(host="registry.example.com")
    with pytest.raises(ValidationError, match="must be pinned"):
        RegistryConfig(host="registry.example.com", auth_image="docker.io/cesanta/docker_auth:1.14.0")
    with pytest.raises(ValidationError, match="pullUsername: must differ from username"):
        RegistryConfig(host="registry.example.com", auth_image=REGISTRY_AUTH_IMAGE, pull_username="ci")
    # An external registry needs no token server of ours.
    assert RegistryConfig(external=ExternalRegistryConfig(host="ghcr.io/example")).auth_image is None


EXTERNAL = {"host": "ghcr.io/example", "username": "pusher"}
PULL_SECRET = {"secure": "v1:pull"}
PULL_DIGEST = hashlib.sha256(b"v1:pull").hexdigest()[:12]  # how the offline check stands in for a secret


@pytest.mark.parametrize(
    ("extra", "pull_user", "error"),
    [
        ({"pullWithNodeIdentity": True}, None, None),
        ({}, None, "registry.external.pullUsername: is required for a private registry"),
        ({"pullWithNodeIdentity": True, "registryPullPassword": PULL_SECRET}, None, "is only used with"),
        ({}, "puller", "registryPullPassword: is required with registry.external.pullUsername"),
        ({"registryPullPassword": PULL_SECRET}, "puller", None),
        ({"registryPullPassword": PULL_SECRET}, "pusher", "pullUsername: must differ from username"),
        ({"registryPullPassword": PULL_SECRET, "pullWithNodeIdentity": True}, "puller", "not both"),
    ],
)
def test_an_external_registry_pull_secret_carries_its_own_pull_user(
    write_stack: StackWriter, extra: dict[str, Any], pull_user: str | None, error: str | None
) -> None:
    extra = dict(extra)
    node_identity = (
        {"pullWithNodeIdentity": extra.pop("pullWithNodeIdentity")} if "pullWithNodeIdentity" in extra else {}
    )
    external = {**EXTERNAL, **node_identity, **({"pullUsername": pull_user} if pull_user else {})}
    stack = write_stack(
        base_config(
            "staging",
            services=[base_service(image={"build": "services/text-classifier"})],
            registry={"external": external},
            registryPassword={"secure": "v1:push"},
            **extra,
        )
    )
    if error is not None:
        with pytest.raises(ConfigError) as raised:
            render(stack)
        assert any(error in problem for problem in raised.value.problems), raised.value.problems
        return
    secrets = pull_secrets(render(stack))
    if pull_user is None:
        # Nodes pull with their own identity (or the registry is open): the push password lands nowhere.
        assert secrets == {}
    else:
        assert {auths["ghcr.io"]["username"] for auths in secrets.values()} == {"puller"}
        assert {auths["ghcr.io"]["password"] for auths in secrets.values()} == {f"offline-secret-{PULL_DIGEST}"}


def test_any_push_username_renders_and_a_repeated_urn_is_refused_like_the_engine(
    write_stack: StackWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Salts are named by role, not by user name (``username: pull`` once made two ``...-pull-salt``s);
    the engine refuses a repeated URN for the whole update, and so does the offline check."""
    from components.registry_auth import RegistryTokenServer
    from infra.offline.runtime import ProgramError

    config = base_config(
        "staging",
        registry={"host": "images.example.com", "authImage": REGISTRY_AUTH_IMAGE, "username": "pull"},
        registryPassword={"secure": "v1:push"},
    )
    rendered = render(write_stack(config))
    assert token_server_settings(rendered)["users"].keys() == {"pull", "cluster-pull"}
    salt = RegistryTokenServer._salt
    monkeypatch.setattr(RegistryTokenServer, "_salt", lambda self, name, role: salt(self, name, "same"))
    with pytest.raises(ProgramError, match=r"declares a resource URN twice: .*RandomBytes::registry-auth-same-salt"):
        render(write_stack(config))


def test_a_push_password_bcrypt_cannot_hash_is_refused_without_showing_it() -> None:
    from model.stack_config import parse_platform_config

    def values(password: str) -> dict[str, str]:
        return {
            "ai-platform:environment": "staging",
            "ai-platform:kubernetesVersion": "1.31",
            "ai-platform:cluster": json.dumps({"context": "staging"}),
            "ai-platform:registry": json.dumps({"host": "registry.example.com", "authImage": REGISTRY_AUTH_IMAGE}),
            "ai-platform:registryPassword": password,
        }

    too_long = "x" * 73
    with pytest.raises(ConfigError) as raised:
        parse_platform_config(values(too_long), "stacks/Pulumi.staging.yaml", {"ai-platform:registryPassword"})
    assert any(p.startswith("ai-platform:registryPassword: is longer than 72 bytes") for p in raised.value.problems)
    assert too_long not in raised.value.render()
    parse_platform_config(values("x" * 72), "stacks/Pulumi.staging.yaml", {"ai-platform:registryPassword"})

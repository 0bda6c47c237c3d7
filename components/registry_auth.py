"""``RegistryTokenServer``: who may push to and pull from the platform registry.

CNCF Distribution authenticates with htpasswd or with tokens; htpasswd gives
every user every action, so a pull secret in an AI namespace would also push.
The registry therefore runs with token auth, and this component is the token
server (cesanta/docker_auth, a long-standing open-source implementation of
Distribution's token protocol) next to it:

- two static users: the push user (CI, image builds; password
  ``registryPassword``) may pull and push, the pull user (the AI namespaces'
  pull secrets; a random password kept in state) may only pull; nobody may
  delete or list the catalog, and anyone else gets nothing;
- a signing key that never leaves the cluster: cert-manager creates it from a
  self-signed ``Issuer`` in the registry's namespace; the token server mounts
  the key, the registry only the certificate (``rootcertbundle``);
- a stateless Deployment (several replicas where the environment asks for
  them) that only the ingress controller reaches, on ``https://<host>/auth``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.addons.base import DEFAULT_REPLICAS
from components.kube import (
    http_probe,
    restricted_container_security_context,
    selector_labels,
    standard_labels,
    tls_ingress_spec,
    workload_spec,
)
from components.network import declare_allows, from_ingress_controller
from components.registry_config import (
    REALM_PATH,
    TOKEN_ISSUER,
    TOKEN_SERVER_PORT,
    TOKEN_SERVER_SIGNER_DIR,
    bcrypt_hash,
    bcrypt_salt,
    token_server_config_yaml,
)
from model.config import ClusterConfig, Environment, RegistryConfig

NAME = "registry-auth"
PORT = TOKEN_SERVER_PORT
#: The Secret cert-manager writes the token signing key and certificate to.
SIGNER_SECRET = "registry-token-signer"
#: Ten years: the key signs tokens that live 15 minutes; its certificate is only a key carrier.
SIGNER_DURATION = "87600h"
CONFIG_FILE = "auth_config.yml"
#: A token request is a query string or a small form; nothing bigger reaches the token server.
AUTH_BODY_SIZE = "64k"
#: Per client address and ingress controller replica (bursts of 5x pass): a node rollout's pulls
#: fit easily, a password-guessing or CPU-exhausting flood does not.
AUTH_REQUESTS_PER_SECOND = 20


@dataclass(frozen=True)
class RegistryTokenServerArgs:
    config: RegistryConfig
    environment: Environment
    cluster: ClusterConfig
    push_password: pulumi.Output[str]
    """The push user's password (``registryPassword``), a Pulumi secret."""
    tls_secret: str
    """The registry host's certificate Secret: ``/auth`` is served on the same host."""


class RegistryTokenServer(pulumi.ComponentResource):
    """Signs registry tokens granting the push user pull and push, the pull user pull."""

    TYPE = "ai-platform:registry:RegistryTokenServer"

    pull_username: str
    pull_password: pulumi.Output[str]
    signer: k8s.apiextensions.CustomResource
    """The signing certificate; Pulumi waits until cert-manager reports it Ready."""
    service: k8s.core.v1.Service

    def __init__(self, name: str, args: RegistryTokenServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        self._args = args
        self._labels = standard_labels(NAME, "registry-auth", args.environment)
        config = args.config
        inside = pulumi.ResourceOptions(parent=self)
        # Drawn once and kept in state (a secret output): stable hashes and pull secrets across runs.
        drawn = random.RandomBytes(f"{name}-pull-password", length=32, opts=inside)
        self.pull_username = config.pull_username
        self.pull_password = pulumi.Output.secret(drawn.hex)

        def settings_file(values: list[str]) -> str:
            push_password, push_salt, pull_password, pull_salt = values
            return token_server_config_yaml(
                pushers={config.username: bcrypt_hash(push_password, push_salt)},
                pullers={config.pull_username: bcrypt_hash(pull_password, pull_salt)},
            )

        rendered: pulumi.Output[str] = pulumi.Output.all(
            args.push_password, self._salt(name, "push"), self.pull_password, self._salt(name, "pull")
        ).apply(settings_file)
        users: pulumi.Output[str] = pulumi.Output.secret(rendered)
        # Auto-named and immutable: a changed user list is a new Secret, so the pods roll.
        settings = k8s.core.v1.Secret(
            f"{name}-config",
            metadata=self._metadata(),
            type="Opaque",
            string_data={CONFIG_FILE: users},
            immutable=True,
            opts=inside,
        )
        self.signer = self._signer(name, inside)
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa", metadata=self._metadata(NAME), automount_service_account_token=False, opts=inside
        )
        replicas = DEFAULT_REPLICAS[args.environment]
        k8s.apps.v1.Deployment(
            name,
            metadata=self._metadata(NAME),
            spec=self._deployment(replicas, account, settings),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.signer]),
        )
        if replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                name,
                metadata=self._metadata(NAME),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    min_available=replicas - 1,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels(NAME)),
                ),
                opts=inside,
            )
        self.service = k8s.core.v1.Service(
            name,
            metadata=self._metadata(NAME),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector_labels(NAME),
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=PORT, target_port="http")],
            ),
            opts=inside,
        )
        self._ingress(name, inside)
        # Clients reach it through the public host only (the ingress controller); it needs no egress.
        declare_allows(
            config.namespace,
            [from_ingress_controller(args.cluster, (PORT,), selector_labels(NAME))],
            self._labels,
            inside,
        )
        self.register_outputs({"pullUsername": self.pull_username, "footprint": []})

    def _metadata(self, name: str | None = None) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=self._args.config.namespace, labels=self._labels)

    def _ingress(self, name: str, opts: pulumi.ResourceOptions) -> None:
        """``https://<host>/auth``: the registry's token realm, an Ingress of its own on the registry's host.

        Not a path of the registry's Ingress, whose multi-GB bodies and long
        timeouts suit layer uploads: a token request is a small GET or form
        POST, and each costs a bcrypt check, so the public endpoint takes small
        bodies and a bounded rate per client address.
        """
        args = self._args
        assert args.config.host is not None, "validated: the in-cluster registry has a host"
        k8s.networking.v1.Ingress(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAME,
                namespace=args.config.namespace,
                labels=self._labels,
                annotations={
                    "nginx.ingress.kubernetes.io/proxy-body-size": AUTH_BODY_SIZE,
                    "nginx.ingress.kubernetes.io/limit-rps": str(AUTH_REQUESTS_PER_SECOND),
                    "nginx.ingress.kubernetes.io/limit-connections": str(AUTH_REQUESTS_PER_SECOND),
                },
            ),
            spec=tls_ingress_spec(
                host=args.config.host,
                path=REALM_PATH,
                service_name=self.service.metadata.name,
                port_name="http",
                ingress_class=args.cluster.ingress_class_name,
                tls_secret=args.tls_secret,
            ),
            opts=opts,
        )

    def _salt(self, name: str, role: str) -> pulumi.Output[str]:
        """A random bcrypt salt per user, created once and kept in state: no guessing oracle."""
        salt = random.RandomBytes(f"{name}-{role}-salt", length=16, opts=pulumi.ResourceOptions(parent=self))
        return salt.base64.apply(lambda drawn: bcrypt_salt(base64.b64decode(drawn)))

    def _signer(self, name: str, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        """A self-signed token signing certificate; its key stays in the cluster (never in Pulumi's state).

        ``rotationPolicy: Never``: a renewal keeps the key, so the registry,
        which reads the certificate once at start, keeps verifying tokens.
        """
        namespace = self._args.config.namespace
        issuer = k8s.apiextensions.CustomResource(
            f"{name}-signer-issuer",
            api_version="cert-manager.io/v1",
            kind="Issuer",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SIGNER_SECRET, namespace=namespace, labels=self._labels),
            spec={"selfSigned": {}},
            opts=opts,
        )
        return k8s.apiextensions.CustomResource(
            f"{name}-signer",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SIGNER_SECRET,
                namespace=namespace,
                labels=self._labels,
                annotations={"pulumi.com/waitFor": "condition=Ready"},
            ),
            spec={
                "secretName": SIGNER_SECRET,
                "commonName": TOKEN_ISSUER,
                "duration": SIGNER_DURATION,
                "usages": ["digital signature"],
                "issuerRef": {"name": SIGNER_SECRET, "kind": "Issuer", "group": "cert-manager.io"},
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Never"},
            },
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[issuer])),
        )

    def _deployment(
        self, replicas: int, account: k8s.core.v1.ServiceAccount, settings: k8s.core.v1.Secret
    ) -> k8s.apps.v1.DeploymentSpecArgs:
        container = k8s.core.v1.ContainerArgs(
            name=NAME,
            image=self._args.config.auth_image,
            image_pull_policy="IfNotPresent",
            # glog writes log files to /tmp unless told to use stderr (the root filesystem is read-only).
            args=["--logtostderr", f"/config/{CONFIG_FILE}"],
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PORT)],
            # Each token costs one bcrypt check (tens of ms of CPU): a burst of node pulls may use twice the request.
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "100m", "memory": "64Mi"}, limits={"cpu": "200m", "memory": "128Mi"}
            ),
            # Generous: a throttled pod busy with bcrypt is slow, not dead.
            liveness_probe=http_probe("/", "http", period_seconds=10, failure_threshold=6, timeout_seconds=5),
            readiness_probe=http_probe("/", "http", period_seconds=5, failure_threshold=2),
            security_context=restricted_container_security_context(),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="config", mount_path="/config", read_only=True),
                k8s.core.v1.VolumeMountArgs(name="signer", mount_path=TOKEN_SERVER_SIGNER_DIR, read_only=True),
            ],
        )
        return workload_spec(
            name=NAME,
            labels=self._labels,
            environment=self._args.environment,
            account=account,
            containers=[container],
            replicas=replicas,
            # Stateless: roll one new pod in before an old one leaves.
            strategy=k8s.apps.v1.DeploymentStrategyArgs(
                type="RollingUpdate",
                rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
            ),
            volumes=[
                k8s.core.v1.VolumeArgs(
                    name="config",
                    secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=settings.metadata.name, default_mode=0o440),
                ),
                k8s.core.v1.VolumeArgs(
                    name="signer",
                    secret=k8s.core.v1.SecretVolumeSourceArgs(
                        secret_name=SIGNER_SECRET,
                        default_mode=0o440,
                        items=[
                            k8s.core.v1.KeyToPathArgs(key="tls.crt", path="tls.crt"),
                            k8s.core.v1.KeyToPathArgs(key="tls.key", path="tls.key"),
                        ],
                    ),
                ),
            ],
        )

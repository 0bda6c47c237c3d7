"""``RegistryAccess``: how builds and kubelets reach the stack's image registry.

The same for the platform's own registry and an external one (a cloud
registry, Harbor, kind's local registry): where images are pushed, with which
credentials, and an image pull secret in every namespace that runs AI
services, made from a separate pull credential: the push credential stays
with CI and never lands in a namespace. A registry without a pull credential
(a local dev registry, or a cloud registry nodes pull from with their own
identity) needs no pull secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.kube import PART_OF
from components.registry_config import docker_config_json

PULL_SECRET_NAME = "platform-registry"


@dataclass(frozen=True)
class RegistryAccessArgs:
    push_host: str
    """``host[:port][/prefix]``: images go to ``<push_host>/ai/<service>``."""
    server: str
    """``host[:port]``: what Docker and kubelets log in to."""
    username: str | None
    """The push user (image builds)."""
    password: pulumi.Input[str] | None
    namespaces: Sequence[str]
    pull_username: str | None = None
    """The pull-only user of the namespaces' pull secrets."""
    pull_password: pulumi.Input[str] | None = None
    ready: Sequence[pulumi.Resource] = ()
    """What must be up before an image can be pushed (the in-cluster registry and its certificate)."""


class RegistryAccess(pulumi.ComponentResource):
    """Push credentials for builds, pull-only secrets for the AI namespaces."""

    TYPE = "ai-platform:registry:RegistryAccess"

    push_host: str
    server: str
    username: str | None
    password: pulumi.Output[str] | None
    pull_secret_name: str | None
    pull_secrets: dict[str, k8s.core.v1.Secret]
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: RegistryAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        self.push_host = args.push_host
        self.server = args.server
        self.username = args.username
        self.password = pulumi.Output.secret(args.password) if args.password is not None else None
        self.ready = list(args.ready)
        self.pull_secrets = {}
        self.pull_secret_name = None
        if args.pull_username is not None and args.pull_password is not None:
            username, server, pull_password = args.pull_username, args.server, pulumi.Output.secret(args.pull_password)
            self.pull_secret_name = PULL_SECRET_NAME
            self.pull_secrets = {
                namespace: k8s.core.v1.Secret(
                    f"{name}-pull-{namespace}",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=PULL_SECRET_NAME, namespace=namespace, labels={"app.kubernetes.io/part-of": PART_OF}
                    ),
                    type="kubernetes.io/dockerconfigjson",
                    string_data={
                        ".dockerconfigjson": pull_password.apply(
                            lambda secret: docker_config_json(server, username, secret)
                        )
                    },
                    opts=pulumi.ResourceOptions(parent=self),
                )
                for namespace in args.namespaces
            }
        self.register_outputs({"pushHost": self.push_host, "server": self.server, "username": self.username})

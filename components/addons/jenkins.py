"""``Jenkins``: CI/CD for this repository, configured entirely as code.

The jenkinsci chart with JCasC: admin credentials from a Pulumi secret, the
``git`` credential from the optional secret ``jenkinsGitToken``, a Kubernetes
agent pod template carrying Python and the Pulumi CLI beside a rootless
Docker daemon (pulumi-docker's provider pings a daemon even in previews), a
multibranch pipeline job that runs this repository's ``Jenkinsfile``,
persistence on a PVC (protected in prod) and a TLS ingress.

The Docker daemon runs ``privileged``: docker:dind-rootless still needs it
(Docker's "Rootless mode" docs, "Rootless Docker in Docker"), so the
namespace enforces the ``privileged`` Pod Security level. The controller
itself runs as the chart's unprivileged user; see README.md for the
trade-off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import pulumi
import yaml

from components.addons.base import AddonArgs, AdminCredentials, ChartSecret, HelmAddon
from components.addons.jenkins_plugins import EXTRA_PLUGINS
from components.addons.retention import KEEP_ON_UNINSTALL
from components.network import (
    ANYWHERE,
    NetworkAllow,
    Peer,
    acme_solver,
    api_server,
    from_ingress_controller,
    within_namespace,
)
from model.config import JenkinsConfig
from model.workload import Volume, Workload

ADMIN = AdminCredentials("jenkins-admin", user_key="jenkins-admin-user", password_key="jenkins-admin-password")
AGENT_LABEL = "pulumi"
CONTROLLER_PODS = {"app.kubernetes.io/component": "jenkins-controller"}
#: The controller's web port (chart ``controller.targetPort``).
HTTP_PORT = 8080
#: The JCasC credential the job clones with, and the Secret (and key) its token comes from.
GIT_CREDENTIAL = "git"
GIT_SECRET, GIT_SECRET_KEY = "jenkins-git", "token"
#: Where the rootless daemon puts its socket (XDG_RUNTIME_DIR of uid 1000), shared with the pulumi container.
DOCKER_RUNTIME_DIR = "/run/user"
DOCKER_HOST = f"unix://{DOCKER_RUNTIME_DIR}/1000/docker.sock"


class AgentContainer(NamedTuple):
    """Requests and limits of one container of the agent pod (kubernetes-plugin JCasC names)."""

    cpu: str
    memory: str
    cpu_limit: str
    memory_limit: str

    def template(self) -> dict[str, str]:
        return {
            "resourceRequestCpu": self.cpu,
            "resourceRequestMemory": self.memory,
            "resourceLimitCpu": self.cpu_limit,
            "resourceLimitMemory": self.memory_limit,
        }


#: The agent pod, per build: the Pulumi CLI and the Docker daemon that builds service images.
AGENT_RESOURCES = {
    "pulumi": AgentContainer(cpu="1", memory="2Gi", cpu_limit="2", memory_limit="2Gi"),
    "docker": AgentContainer(cpu="500m", memory="1Gi", cpu_limit="2", memory_limit="4Gi"),
}


def groovy_string(value: str) -> str:
    """``value`` as a Groovy single-quoted string literal (no interpolation; ``\\`` and ``'`` escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def multibranch_job(repository_url: str, credentials_id: str | None) -> str:
    """Job DSL for the multibranch pipeline of this repository (it runs the Jenkinsfile).

    ``credentials_id`` names a JCasC credential this add-on declares; without one the repository is cloned
    anonymously (a ``credentialsId`` naming no credential fails every scan).
    """
    source = ["      id('ai-platform')", f"      remote({groovy_string(repository_url)})"]
    if credentials_id:
        source.append(f"      credentialsId({groovy_string(credentials_id)})")
    return "\n".join(
        [
            "multibranchPipelineJob('ai-platform') {",
            "  branchSources {",
            "    git {",
            *source,
            "    }",
            "  }",
            "  factory { workflowBranchProjectFactory { scriptPath('Jenkinsfile') } }",
            "  orphanedItemStrategy { discardOldItems { numToKeep(20) } }",
            "  triggers { periodicFolderTrigger { interval('5m') } }",
            "}",
            "",
        ]
    )


class JenkinsArgs(AddonArgs):
    chart: JenkinsConfig
    git_credentials: bool = False
    """Whether a git token is given: the job then clones with the ``git`` credential."""


class JenkinsWorkloads(NamedTuple):
    controller: Workload
    config_reload: Workload


class Jenkins(HelmAddon[JenkinsArgs]):
    """The Jenkins controller (agents are pods on demand), its admin password from a Pulumi secret."""

    CHART = "jenkins"
    REPOSITORY = "https://charts.jenkins.io"
    NAMESPACE = "jenkins"
    #: The agents' rootless Docker daemon is privileged (see the module docstring).
    POD_SECURITY = "privileged"
    TYPE = "ai-platform:cicd:Jenkins"

    def __init__(
        self,
        name: str,
        args: JenkinsArgs,
        admin_password: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
        *,
        git_token: pulumi.Input[str] | None = None,
    ) -> None:
        assert (git_token is not None) == args.git_credentials, "args.git_credentials says whether a token is given"
        secrets = [ADMIN.secret(f"{name}-admin", admin_password)]
        if git_token is not None:
            token = {GIT_SECRET_KEY: pulumi.Output.secret(git_token)}
            secrets.append(ChartSecret(f"{name}-git-token", GIT_SECRET, token))
        super().__init__(name, args, opts, secrets=secrets)

    @classmethod
    def workloads(cls, args: JenkinsArgs) -> JenkinsWorkloads:
        return JenkinsWorkloads(
            controller=Workload(
                name="controller",
                cpu="500m",
                memory="2Gi" if args.prod else "1Gi",
                cpu_limit="2",
                storage=(Volume(size=args.chart.storage_size),),
            ),
            # The JCasC reload sidecar (k8s-sidecar); the same value sizes its init container.
            config_reload=Workload(name="config-reload sidecar", cpu="25m", memory="128Mi", cpu_limit="100m"),
        )

    @classmethod
    def values(cls, args: JenkinsArgs) -> dict[str, Any]:
        config = args.chart
        cluster = args.cluster
        workloads = cls.workloads(args)
        workload = workloads.controller
        controller: dict[str, Any] = {
            "admin": ADMIN.values(),
            "numExecutors": 0,
            # Beyond the chart's defaults; each runs on the chart's core (see jenkins_plugins.py).
            "additionalPlugins": [plugin.pin for plugin in EXTRA_PLUGINS],
            "resources": workload.resources(),
            "JCasC": {"configScripts": _casc(config, args.git_credentials)},
            "sidecars": {"configAutoReload": {"resources": workloads.config_reload.resources()}},
            # The `helm test` pod (no requests); a Pulumi Release never runs it.
            "testEnabled": False,
        }
        if args.git_credentials:
            # Mounted beside the admin keys; JCasC resolves it as ${<secret>-<key>} (values.yaml:454-470).
            controller["additionalExistingSecrets"] = [{"name": GIT_SECRET, "keyName": GIT_SECRET_KEY}]
        if config.host:
            controller["jenkinsUrl"] = f"https://{config.host}/"
            controller["ingress"] = {
                "enabled": True,
                "ingressClassName": cluster.ingress_class_name,
                "hostName": config.host,
                "annotations": {"cert-manager.io/cluster-issuer": cluster.cluster_issuer},
                "tls": [{"secretName": "jenkins-tls", "hosts": [config.host]}],
            }
        [volume] = workload.storage
        return {
            "controller": controller,
            # The home PVC is the chart's own (templates/home-pvc.yaml prints persistence.annotations):
            # Helm keeps it on uninstall.
            "persistence": {"enabled": True, "size": volume.size, "annotations": dict(KEEP_ON_UNINSTALL)},
            "agent": {"enabled": True, "podTemplates": {AGENT_LABEL: _agent_template(config)}},
        }

    @classmethod
    def network_allows(cls, args: JenkinsArgs) -> Sequence[NetworkAllow]:
        cluster = args.cluster
        allows = [
            api_server(
                cluster,
                "the kubernetes plugin starts agent pods; agents run `pulumi preview/up` against this cluster",
            ),
            *within_namespace(cls.namespace_of(args), "agents connect to the controller (8080, 50000)"),
            NetworkAllow(
                name="https-out",
                direction="egress",
                # Pushes to the registry's public host may be short-circuited to the ingress controller's pods.
                peers=(Peer.of_cidrs([ANYWHERE]), Peer.of_namespace(cluster.ingress_namespace)),
                ports=(443,),
                why="plugins from the update center, the Git repository, Pulumi Cloud and image pushes "
                "to the registry's public host",
            ),
        ]
        if args.chart.host:
            allows.append(from_ingress_controller(cluster, (HTTP_PORT,), CONTROLLER_PODS))
            allows.append(acme_solver(cluster))
        return allows


def _casc(config: JenkinsConfig, git_credentials: bool) -> dict[str, str]:
    scripts = {
        "platform": yaml.safe_dump(
            {"jenkins": {"systemMessage": "ai-platform CI/CD: configured as code by Pulumi; edits here are lost."}}
        )
    }
    if git_credentials:
        credential = {
            "scope": "GLOBAL",
            "id": GIT_CREDENTIAL,
            "username": config.git_username,
            "password": f"${{{GIT_SECRET}-{GIT_SECRET_KEY}}}",
            "description": "clones the ai-platform repository (Pulumi secret jenkinsGitToken)",
        }
        scripts["credentials"] = yaml.safe_dump(
            {"credentials": {"system": {"domainCredentials": [{"credentials": [{"usernamePassword": credential}]}]}}}
        )
    if config.repository_url:
        job = multibranch_job(config.repository_url, GIT_CREDENTIAL if git_credentials else None)
        scripts["jobs"] = yaml.safe_dump({"jobs": [{"script": job}]})
    return scripts


def _agent_template(config: JenkinsConfig) -> str:
    """A JCasC pod template: Python and the Pulumi CLI, and a rootless Docker daemon to build images with."""
    assert config.agent_image and config.docker_image, "validated: enabled Jenkins names both images"
    template = [
        {
            "name": AGENT_LABEL,
            "label": AGENT_LABEL,
            "serviceAccount": "default",
            # The daemon's socket directory, shared by both containers.
            "volumes": [{"emptyDirVolume": {"mountPath": DOCKER_RUNTIME_DIR, "memory": False}}],
            "containers": [
                {
                    "name": AGENT_LABEL,
                    "image": config.agent_image,
                    "command": "sleep",
                    "args": "infinity",
                    "ttyEnabled": False,
                    "privileged": False,
                    "envVars": [{"envVar": {"key": "DOCKER_HOST", "value": DOCKER_HOST}}],
                    **AGENT_RESOURCES["pulumi"].template(),
                },
                {
                    # dockerd-entrypoint.sh starts rootless dockerd (uid 1000) with its socket in
                    # XDG_RUNTIME_DIR=/run/user/1000, and TLS on tcp 2376 (DOCKER_TLS_CERTDIR=/certs).
                    "name": "docker",
                    "image": config.docker_image,
                    "ttyEnabled": False,
                    "privileged": True,
                    **AGENT_RESOURCES["docker"].template(),
                },
            ],
        }
    ]
    return yaml.safe_dump(template, sort_keys=False)

"""``Jenkins``: CI/CD for this repository, configured entirely as code.

The jenkinsci chart with JCasC: admin credentials from a Pulumi secret, a
Kubernetes agent pod template carrying Python and the Pulumi CLI, a
multibranch pipeline job that runs this repository's ``Jenkinsfile``,
persistence on a PVC (protected in prod) and a TLS ingress.
"""

from __future__ import annotations

import textwrap
from typing import Any, NamedTuple

import pulumi
import yaml

from components.addons.base import AddonArgs, AdminCredentials, HelmAddon
from components.addons.jenkins_plugins import EXTRA_PLUGINS
from components.addons.retention import KEEP_ON_UNINSTALL
from model.config import JenkinsConfig
from model.workload import Volume, Workload

ADMIN = AdminCredentials("jenkins-admin", user_key="jenkins-admin-user", password_key="jenkins-admin-password")
AGENT_LABEL = "pulumi"


def multibranch_job(repository_url: str) -> str:
    """Job DSL for the multibranch pipeline of this repository (it runs the Jenkinsfile)."""
    return textwrap.dedent(
        f"""\
        multibranchPipelineJob('ai-platform') {{
          branchSources {{
            git {{
              id('ai-platform')
              remote('{repository_url}')
              credentialsId('git')
            }}
          }}
          factory {{ workflowBranchProjectFactory {{ scriptPath('Jenkinsfile') }} }}
          orphanedItemStrategy {{ discardOldItems {{ numToKeep(20) }} }}
          triggers {{ periodicFolderTrigger {{ interval('5m') }} }}
        }}
        """
    )


class JenkinsArgs(AddonArgs):
    chart: JenkinsConfig


class JenkinsWorkloads(NamedTuple):
    controller: Workload
    config_reload: Workload


class Jenkins(HelmAddon[JenkinsArgs]):
    """The Jenkins controller (agents are pods on demand), its admin password from a Pulumi secret."""

    CHART = "jenkins"
    REPOSITORY = "https://charts.jenkins.io"
    NAMESPACE = "jenkins"
    TYPE = "ai-platform:cicd:Jenkins"

    def __init__(
        self,
        name: str,
        args: JenkinsArgs,
        admin_password: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, args, opts, secrets=[ADMIN.secret(f"{name}-admin", admin_password)])

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
            "JCasC": {"configScripts": _casc(config)},
            "sidecars": {"configAutoReload": {"resources": workloads.config_reload.resources()}},
            # The `helm test` pod (no requests); a Pulumi Release never runs it.
            "testEnabled": False,
        }
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


def _casc(config: JenkinsConfig) -> dict[str, str]:
    scripts = {
        "platform": yaml.safe_dump(
            {"jenkins": {"systemMessage": "ai-platform CI/CD: configured as code by Pulumi; edits here are lost."}}
        )
    }
    if config.repository_url:
        scripts["jobs"] = yaml.safe_dump({"jobs": [{"script": multibranch_job(config.repository_url)}]})
    return scripts


def _agent_template(config: JenkinsConfig) -> str:
    """A JCasC pod template: Python and the Pulumi CLI, unprivileged."""
    template = [
        {
            "name": AGENT_LABEL,
            "label": AGENT_LABEL,
            "serviceAccount": "default",
            "containers": [
                {
                    "name": AGENT_LABEL,
                    "image": config.agent_image,
                    "command": "sleep",
                    "args": "infinity",
                    "ttyEnabled": False,
                    "privileged": False,
                    "resourceRequestCpu": "1",
                    "resourceRequestMemory": "2Gi",
                    "resourceLimitCpu": "2",
                    "resourceLimitMemory": "2Gi",
                }
            ],
        }
    ]
    return yaml.safe_dump(template, sort_keys=False)

"""``Jenkins``: CI/CD for this repository, configured entirely as code.

The jenkinsci chart with JCasC: admin credentials from a Pulumi secret, a
Kubernetes agent pod template carrying Python and the Pulumi CLI, a
multibranch pipeline job that runs this repository's ``Jenkinsfile``,
persistence on a PVC (protected in prod) and a TLS ingress.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.helm_addon import HelmAddon, HelmAddonArgs, part, resources
from model.config import JenkinsConfig

ADMIN_SECRET = "jenkins-admin"
AGENT_LABEL = "pulumi"
#: Plugins beyond the chart's pinned defaults (kubernetes, workflow-aggregator, git, configuration-as-code).
EXTRA_PLUGINS = ["job-dsl:1.90", "github-branch-source:1725.vd391eef681a_e", "pipeline-utility-steps:2.16.0"]


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


class Jenkins(HelmAddon):
    CHART = "jenkins"
    REPOSITORY = "https://charts.jenkins.io"
    NAMESPACE = "jenkins"
    TYPE = "ai-platform:cicd:Jenkins"

    def __init__(
        self,
        name: str,
        args: HelmAddonArgs,
        admin_password: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        self.admin_password = admin_password
        super().__init__(name, args, opts)

    @property
    def config(self) -> JenkinsConfig:
        assert isinstance(self.args.chart, JenkinsConfig)
        return self.args.chart

    def before_release(self, name: str) -> None:
        k8s.core.v1.Secret(
            f"{name}-admin",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ADMIN_SECRET, namespace=self.namespace_name),
            type="Opaque",
            string_data={
                "jenkins-admin-user": "admin",
                "jenkins-admin-password": pulumi.Output.secret(self.admin_password),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespace]),
        )

    def values(self) -> dict[str, Any]:
        config = self.config
        cluster = self.args.cluster
        controller: dict[str, Any] = {
            "admin": {
                "existingSecret": ADMIN_SECRET,
                "userKey": "jenkins-admin-user",
                "passwordKey": "jenkins-admin-password",
            },
            "numExecutors": 0,
            "additionalPlugins": EXTRA_PLUGINS,
            "resources": resources("500m", "2Gi" if self.prod else "1Gi", cpu_limit="2"),
            "JCasC": {"configScripts": self._casc()},
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
        return {
            "controller": controller,
            "persistence": {"enabled": True, "size": config.storage_size},
            "agent": {"enabled": True, "podTemplates": {AGENT_LABEL: self._agent_template()}},
        }

    def footprint(self, values: dict[str, Any]) -> list[dict[str, Any]]:
        controller = values["controller"]
        return [part("controller", 1, controller["resources"], [{"size": values["persistence"]["size"]}])]

    def _casc(self) -> dict[str, str]:
        scripts = {
            "platform": yaml.safe_dump(
                {"jenkins": {"systemMessage": "ai-platform CI/CD: configured as code by Pulumi; edits here are lost."}}
            )
        }
        if self.config.repository_url:
            scripts["jobs"] = yaml.safe_dump({"jobs": [{"script": multibranch_job(self.config.repository_url)}]})
        return scripts

    def _agent_template(self) -> str:
        """A JCasC pod template: Python and the Pulumi CLI, unprivileged."""
        template = [
            {
                "name": AGENT_LABEL,
                "label": AGENT_LABEL,
                "serviceAccount": "default",
                "containers": [
                    {
                        "name": AGENT_LABEL,
                        "image": self.config.agent_image,
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

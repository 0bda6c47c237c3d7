"""``CiIdentities``: who CI is in this environment's cluster, and what each identity may do.

Three ServiceAccounts in their own namespace, one per kind of job:

- ``pulumi-preview`` (pull-request previews, which run the pull request's own
  code): ``get``/``list``/``watch`` on the kinds the platform declares, never
  Secrets and no write verb. With server-side apply, pulumi-kubernetes
  previews a create or update as a dry-run ``PATCH`` (``await.go``:
  ``DryRun: All``); RBAC authorises a dry run exactly like the real request
  and has no dry-run-only verb, so granting ``patch`` would let a pull request
  change the cluster. Without it the API server answers 403, and the provider
  falls back to a client-side preview of that resource (``provider.go``,
  ``Create``/``Update``: ``IsForbidden`` during preview). The price: the
  preview does not show what admission (webhooks, Pod Security, defaulting)
  or field-manager conflicts would do; the deploy does.
- ``pulumi-drift`` (the scheduled ``preview --refresh`` on main): the same
  reads plus Secrets, because a refresh reads every declared Secret and Helm
  keeps release state in Secrets of the release namespace.
- ``pulumi-deployer`` (``pulumi up`` on main): ``cluster-admin`` of this
  environment's cluster. The charts the platform installs create CRDs,
  webhooks, APIServices and ClusterRoles, and Kubernetes only lets an identity
  grant permissions it holds itself, so a narrower role would have to hold
  them all anyway. Its reach ends at this cluster: every environment has its
  own cluster and its own deployer.

GitHub and Jenkins run outside the cluster, so each identity gets a
long-lived ``kubernetes.io/service-account-token`` Secret to build its
kubeconfig from (``longLivedTokens: false`` drops them). Delete a token
Secret and run ``pulumi up`` to rotate it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.kube import default_deny, platform_namespace, standard_labels
from model.config.platform import CiIdentitiesConfig

READ = ["get", "list", "watch"]

#: What a preview reads: every kind the platform declares (``tests/test_ci_identities.py`` keeps the two in
#: step), by API group, without Secrets.
PREVIEW_READS: dict[str, list[str]] = {
    "": [
        "configmaps",
        "limitranges",
        "namespaces",
        "persistentvolumeclaims",
        "resourcequotas",
        "serviceaccounts",
        "services",
    ],
    "apps": ["deployments"],
    "autoscaling": ["horizontalpodautoscalers"],
    "policy": ["poddisruptionbudgets"],
    "scheduling.k8s.io": ["priorityclasses"],
    "networking.k8s.io": ["ingresses", "networkpolicies"],
    "rbac.authorization.k8s.io": ["clusterrolebindings", "clusterroles", "rolebindings", "roles"],
    "cert-manager.io": ["certificates", "clusterissuers", "issuers"],
    "monitoring.coreos.com": ["prometheusrules", "servicemonitors"],
    "keda.sh": ["scaledobjects"],
}

#: A refresh also reads Secrets: the declared ones and Helm's release records.
DRIFT_READS: dict[str, list[str]] = {**PREVIEW_READS, "": [*PREVIEW_READS[""], "secrets"]}

PREVIEW, DRIFT, DEPLOYER = "pulumi-preview", "pulumi-drift", "pulumi-deployer"


@dataclass(frozen=True)
class CiIdentitiesArgs:
    config: CiIdentitiesConfig
    environment: str


def _rules(reads: dict[str, list[str]]) -> list[k8s.rbac.v1.PolicyRuleArgs]:
    return [
        k8s.rbac.v1.PolicyRuleArgs(api_groups=[group], resources=sorted(resources), verbs=READ)
        for group, resources in reads.items()
    ]


class CiIdentities(pulumi.ComponentResource):
    """The preview, drift and deployer identities CI uses in this environment's cluster."""

    TYPE = "ai-platform:ci:CiIdentities"

    namespace: pulumi.Output[str]
    service_accounts: dict[str, pulumi.Output[str]]
    token_secrets: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: CiIdentitiesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        config = args.config
        self._labels = standard_labels("ci-identities", "ci", args.environment)
        child = pulumi.ResourceOptions(parent=self)
        namespace = platform_namespace(f"{name}-ns", config.namespace, self._labels, "restricted", child)
        self.namespace = namespace.metadata.name
        inside = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        # No pod runs here (the identities are used from outside); deny anything that ever does.
        default_deny(config.namespace, self._labels, inside)
        roles = {
            PREVIEW: self._cluster_role(f"{name}-preview", "ai-platform-ci-preview", PREVIEW_READS, child),
            DRIFT: self._cluster_role(f"{name}-drift", "ai-platform-ci-drift", DRIFT_READS, child),
            DEPLOYER: "cluster-admin",
        }
        self.service_accounts = {}
        self.token_secrets = {}
        for identity, role in roles.items():
            account = k8s.core.v1.ServiceAccount(
                f"{name}-{identity}",
                metadata=self._metadata(identity, config.namespace),
                # Never mounted into pods: these identities are for CI outside the cluster.
                automount_service_account_token=False,
                opts=inside,
            )
            self.service_accounts[identity] = account.metadata.name
            k8s.rbac.v1.ClusterRoleBinding(
                f"{name}-{identity}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"ai-platform-ci-{identity}", labels=self._labels),
                role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role),
                subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=identity, namespace=config.namespace)],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
            )
            if config.long_lived_tokens:
                token = k8s.core.v1.Secret(
                    f"{name}-{identity}-token",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=f"{identity}-token",
                        namespace=config.namespace,
                        labels=self._labels,
                        annotations={"kubernetes.io/service-account.name": identity},
                    ),
                    type="kubernetes.io/service-account-token",
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
                )
                self.token_secrets[identity] = token.metadata.name
        self.register_outputs(
            {"namespace": self.namespace, "serviceAccounts": self.service_accounts, "tokenSecrets": self.token_secrets}
        )

    def _metadata(self, name: str, namespace: str) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=self._labels)

    def _cluster_role(
        self, resource_name: str, role_name: str, reads: dict[str, list[str]], opts: pulumi.ResourceOptions
    ) -> str:
        k8s.rbac.v1.ClusterRole(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=role_name, labels=self._labels),
            rules=_rules(reads),
            opts=opts,
        )
        return role_name

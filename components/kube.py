"""Kubernetes building blocks shared by the platform's components.

Labels and the restricted Pod Security Standard live here once, so that every
workload the platform declares (AI services, the registry, ...) is labelled
and hardened the same way, and a policy or auditor finding is fixed in one
place.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

PART_OF = "ai-platform"
MANAGED_BY = "pulumi"
#: A non-root UID/GID above the range used by host users (auditors want >= 10000).
RUNTIME_UID = 10001


def selector_labels(name: str) -> dict[str, str]:
    """The immutable labels a Deployment selects its pods by."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": name}


def standard_labels(name: str, component: str, environment: str) -> dict[str, str]:
    """Kubernetes' recommended ``app.kubernetes.io/*`` labels plus our environment."""
    return {
        **selector_labels(name),
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "ai-platform.io/environment": environment,
    }


def pod_security_labels(enforce: str, *, kubernetes_version: str | None = None) -> dict[str, str]:
    """A namespace's Pod Security admission labels: enforce ``enforce``; warn about anything not restricted.

    One place for every namespace the platform creates, so that a privileged
    add-on namespace still warns when something could run restricted.
    """
    labels = {
        "pod-security.kubernetes.io/enforce": enforce,
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }
    if kubernetes_version is not None:
        labels["pod-security.kubernetes.io/enforce-version"] = f"v{kubernetes_version}"
    return labels


def platform_namespace(
    resource_name: str, name: str, labels: dict[str, str], pod_security: str, opts: pulumi.ResourceOptions
) -> k8s.core.v1.Namespace:
    """A namespace the platform owns, labelled for Pod Security admission at ``pod_security``."""
    return k8s.core.v1.Namespace(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels={**labels, **pod_security_labels(pod_security)}),
        opts=opts,
    )


def restricted_pod_security_context() -> k8s.core.v1.PodSecurityContextArgs:
    """Pod-level settings of the restricted Pod Security Standard."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=RUNTIME_UID,
        run_as_group=RUNTIME_UID,
        fs_group=RUNTIME_UID,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def restricted_container_security_context() -> k8s.core.v1.SecurityContextArgs:
    """Container-level settings of the restricted Pod Security Standard, read-only root."""
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        run_as_user=RUNTIME_UID,
        run_as_group=RUNTIME_UID,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def spread_constraints(selector: dict[str, str], environment: str) -> list[k8s.core.v1.TopologySpreadConstraintArgs]:
    """Spread a workload's replicas across nodes (hard in prod) and zones (best effort)."""
    pods = k8s.meta.v1.LabelSelectorArgs(match_labels=selector)
    hard = "DoNotSchedule" if environment == "prod" else "ScheduleAnyway"
    return [
        k8s.core.v1.TopologySpreadConstraintArgs(
            max_skew=1, topology_key="kubernetes.io/hostname", when_unsatisfiable=hard, label_selector=pods
        ),
        k8s.core.v1.TopologySpreadConstraintArgs(
            max_skew=1,
            topology_key="topology.kubernetes.io/zone",
            when_unsatisfiable="ScheduleAnyway",
            label_selector=pods,
        ),
    ]


def workload_spec(
    *,
    name: str,
    labels: dict[str, str],
    environment: str,
    account: k8s.core.v1.ServiceAccount,
    containers: list[k8s.core.v1.ContainerArgs],
    volumes: list[k8s.core.v1.VolumeArgs],
    replicas: int,
    strategy: k8s.apps.v1.DeploymentStrategyArgs,
) -> k8s.apps.v1.DeploymentSpecArgs:
    """A platform workload's Deployment: pods selected by ``name``, its own ServiceAccount without an API token,
    the restricted pod security context, and replicas spread across nodes when there are several."""
    return k8s.apps.v1.DeploymentSpecArgs(
        replicas=replicas,
        strategy=strategy,
        revision_history_limit=5,
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels(name)),
        template=k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
            spec=k8s.core.v1.PodSpecArgs(
                service_account_name=account.metadata.name,
                automount_service_account_token=False,
                security_context=restricted_pod_security_context(),
                topology_spread_constraints=(
                    spread_constraints(selector_labels(name), environment) if replicas > 1 else None
                ),
                containers=containers,
                volumes=volumes,
            ),
        ),
    )


def http_probe(
    path: str,
    port: str,
    *,
    period_seconds: int,
    failure_threshold: int,
    timeout_seconds: int = 2,
) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port=port),
        period_seconds=period_seconds,
        failure_threshold=failure_threshold,
        timeout_seconds=timeout_seconds,
    )


def namespace_peer(namespace: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """A NetworkPolicy peer: every pod of one namespace."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": namespace})
    )


def service_peer(namespace: str, name: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """A NetworkPolicy peer: the pods of one AI service (by its selector labels) in its namespace."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": namespace}),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels(name)),
    )


def default_deny(
    namespace: str, labels: dict[str, str], opts: pulumi.ResourceOptions
) -> list[k8s.networking.v1.NetworkPolicy]:
    """Deny every connection into and out of a namespace's pods, except DNS lookups.

    Workloads then declare their own allows. DNS goes to kube-system (CoreDNS
    or kube-dns on every common distribution) on port 53.
    """

    def metadata(name: str) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels)

    deny = k8s.networking.v1.NetworkPolicy(
        f"{namespace}-default-deny",
        metadata=metadata("default-deny"),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]
        ),
        opts=opts,
    )
    dns = k8s.networking.v1.NetworkPolicy(
        f"{namespace}-allow-dns",
        metadata=metadata("allow-dns"),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(),
            policy_types=["Egress"],
            egress=[
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[namespace_peer("kube-system")],
                    ports=[
                        k8s.networking.v1.NetworkPolicyPortArgs(port=53, protocol="UDP"),
                        k8s.networking.v1.NetworkPolicyPortArgs(port=53, protocol="TCP"),
                    ],
                )
            ],
        ),
        opts=opts,
    )
    return [deny, dns]


def tls_ingress_spec(
    *,
    host: str,
    path: str,
    service_name: pulumi.Input[str],
    port_name: str,
    ingress_class: str,
    tls_secret: pulumi.Input[str] | None = None,
) -> k8s.networking.v1.IngressSpecArgs:
    """One host, one path, one Service port, TLS from a ``<service>-tls`` certificate secret (or ``tls_secret``)."""
    return k8s.networking.v1.IngressSpecArgs(
        ingress_class_name=ingress_class,
        tls=[
            k8s.networking.v1.IngressTLSArgs(
                hosts=[host], secret_name=tls_secret or pulumi.Output.concat(service_name, "-tls")
            )
        ],
        rules=[
            k8s.networking.v1.IngressRuleArgs(
                host=host,
                http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                    paths=[
                        k8s.networking.v1.HTTPIngressPathArgs(
                            path=path,
                            path_type="Prefix",
                            backend=k8s.networking.v1.IngressBackendArgs(
                                service=k8s.networking.v1.IngressServiceBackendArgs(
                                    name=service_name,
                                    port=k8s.networking.v1.ServiceBackendPortArgs(name=port_name),
                                )
                            ),
                        )
                    ]
                ),
            )
        ],
    )

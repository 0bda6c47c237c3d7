"""``NetworkAllow``: a connection a namespace's pods need, declared as data.

Every namespace the platform creates denies all ingress and egress but DNS
(``components.kube.default_deny``); what its pods need on top is a short list
of ``NetworkAllow`` values next to the component that needs them (an add-on's
``network_allows``, the registry, an AI namespace). ``declare_allows`` turns
each into one NetworkPolicy named ``allow-<name>``, so a reader (or ``kubectl
get networkpolicy``) sees one policy per reason.

Peers inside the cluster are selected by namespace (and pod labels); the API
server, nodes and the internet cannot be selected by labels (on managed
clusters the control plane is not a pod), so they are ``ipBlock`` peers from
``cluster.apiServerCidrs`` / ``cluster.nodeCidrs``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

from model.config import ClusterConfig

Direction = Literal["ingress", "egress"]
#: Kubernetes API server ports: 443 behind the ``kubernetes`` Service on managed clusters, 6443 on kubeadm
#: (NetworkPolicy sees the endpoint after the Service's DNAT, so both are needed).
API_SERVER_PORTS = (443, 6443)
#: Port of cert-manager's HTTP-01 solver pods (``acmesolver``), which the ingress controller proxies ACME to.
ACME_SOLVER_PORT = 8089
ACME_SOLVER_POD = {"acme.cert-manager.io/http01-solver": "true"}
ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True)
class Peer:
    """The other end of an allowed connection: a namespace (optionally some of its pods), or IP ranges."""

    namespace: str | None = None
    pods: Mapping[str, str] = field(default_factory=dict)
    cidrs: tuple[str, ...] = ()

    @classmethod
    def of_namespace(cls, namespace: str, pods: Mapping[str, str] | None = None) -> Peer:
        return cls(namespace=namespace, pods=dict(pods or {}))

    @classmethod
    def of_cidrs(cls, cidrs: Sequence[str]) -> Peer:
        return cls(cidrs=tuple(cidrs))

    @classmethod
    def anywhere(cls) -> Peer:
        """Every source (an ingress rule without ``from``): the public side of a LoadBalancer."""
        return cls()

    def describe(self) -> str:
        """``namespace:<name>``, ``cidr:<a>,<b>`` or ``anywhere``: how tests and the README name peers."""
        if self.namespace is not None:
            return f"namespace:{self.namespace}"
        if self.cidrs:
            return "cidr:" + ",".join(self.cidrs)
        return "anywhere"

    def to_args(self) -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
        if self.namespace is not None:
            return [
                k8s.networking.v1.NetworkPolicyPeerArgs(
                    namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                        match_labels={"kubernetes.io/metadata.name": self.namespace}
                    ),
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(self.pods)) if self.pods else None,
                )
            ]
        return [
            k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr))
            for cidr in self.cidrs
        ]


@dataclass(frozen=True)
class NetworkAllow:
    """One reason a namespace's pods may connect (egress) or be connected to (ingress)."""

    name: str
    """The NetworkPolicy is ``allow-<name>``; a DNS label, unique per namespace."""
    direction: Direction
    peers: tuple[Peer, ...]
    ports: tuple[int | str, ...]
    """TCP ports (numbers or the destination pods' port names); empty means every port."""
    why: str
    """What breaks without it (the README's allow table says the same)."""
    pods: Mapping[str, str] = field(default_factory=dict)
    """Which pods of the namespace it applies to (labels); empty means all of them."""

    def to_spec(self) -> k8s.networking.v1.NetworkPolicySpecArgs:
        # No peers at all (``Peer.anywhere``): the rule has no from/to, which matches every address.
        peers = [arg for peer in self.peers for arg in peer.to_args()] or None
        ports = [k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP") for port in self.ports] or None
        selector = k8s.meta.v1.LabelSelectorArgs(match_labels=dict(self.pods) if self.pods else None)
        if self.direction == "ingress":
            return k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=selector,
                policy_types=["Ingress"],
                ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=peers, ports=ports)],
            )
        return k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=selector,
            policy_types=["Egress"],
            egress=[k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=peers, ports=ports)],
        )


@dataclass(frozen=True)
class Backend:
    """Pods in one namespace that another component connects to, on these ports."""

    namespace: str
    ports: tuple[int | str, ...]


def merge_backends(backends: Sequence[Backend]) -> tuple[Backend, ...]:
    """One ``Backend`` per namespace, with the ports of every entry for it (in first-seen order)."""
    ports: dict[str, list[int | str]] = {}
    for backend in backends:
        listed = ports.setdefault(backend.namespace, [])
        listed.extend(port for port in backend.ports if port not in listed)
    return tuple(Backend(namespace, tuple(listed)) for namespace, listed in ports.items())


def declare_allows(
    namespace: str, allows: Sequence[NetworkAllow], labels: Mapping[str, str], opts: pulumi.ResourceOptions
) -> list[k8s.networking.v1.NetworkPolicy]:
    """One NetworkPolicy per allow in ``namespace`` (on top of its default deny)."""
    names = [allow.name for allow in allows]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert not duplicates, f"allow names repeat in {namespace}: {duplicates}"
    return [
        k8s.networking.v1.NetworkPolicy(
            f"{namespace}-allow-{allow.name}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"allow-{allow.name}",
                namespace=namespace,
                labels=dict(labels),
                annotations={"ai-platform.io/why": allow.why},
            ),
            spec=allow.to_spec(),
            opts=opts,
        )
        for allow in allows
    ]


# --- allows many components share ------------------------------------------


def api_server(cluster: ClusterConfig, why: str, pods: Mapping[str, str] | None = None) -> NetworkAllow:
    """Egress to the Kubernetes API server (``cluster.apiServerCidrs``, TCP 443 and 6443)."""
    return NetworkAllow(
        name="api-server",
        direction="egress",
        peers=(Peer.of_cidrs(cluster.api_server_cidrs),),
        ports=API_SERVER_PORTS,
        why=why,
        pods=dict(pods or {}),
    )


def from_api_server(
    cluster: ClusterConfig, name: str, ports: tuple[int | str, ...], pods: Mapping[str, str], why: str
) -> NetworkAllow:
    """Ingress from the API server (admission webhooks, aggregated APIs) on the pods' serving ports."""
    return NetworkAllow(
        name=name,
        direction="ingress",
        peers=(Peer.of_cidrs(cluster.api_server_cidrs),),
        ports=ports,
        why=why,
        pods=dict(pods),
    )


def scrapes(
    cluster: ClusterConfig, ports: tuple[int | str, ...], pods: Mapping[str, str] | None = None
) -> NetworkAllow:
    """Ingress from Prometheus (the monitoring namespace) on metrics ports."""
    return NetworkAllow(
        name="metrics-from-monitoring",
        direction="ingress",
        peers=(Peer.of_namespace(cluster.monitoring_namespace),),
        ports=ports,
        why="Prometheus scrapes the metrics ports",
        pods=dict(pods or {}),
    )


def from_ingress_controller(
    cluster: ClusterConfig, ports: tuple[int | str, ...], pods: Mapping[str, str] | None = None
) -> NetworkAllow:
    """Ingress from the ingress controller on the ports its Ingresses route to."""
    return NetworkAllow(
        name="from-ingress-controller",
        direction="ingress",
        peers=(Peer.of_namespace(cluster.ingress_namespace),),
        ports=ports,
        why="the ingress controller proxies the public host to these pods",
        pods=dict(pods or {}),
    )


def acme_solver(cluster: ClusterConfig) -> NetworkAllow:
    """Ingress from the ingress controller to cert-manager's HTTP-01 solver pods, created next to each Certificate."""
    return NetworkAllow(
        name="acme-http01-solver",
        direction="ingress",
        peers=(Peer.of_namespace(cluster.ingress_namespace),),
        ports=(ACME_SOLVER_PORT,),
        why="ACME HTTP-01: the CA's challenge request reaches cert-manager's solver pod through the ingress controller",
        pods=ACME_SOLVER_POD,
    )


def within_namespace(namespace: str, why: str) -> list[NetworkAllow]:
    """Every pod of the namespace may reach every other (a chart's own components talking among themselves)."""
    peer = (Peer.of_namespace(namespace),)
    return [
        NetworkAllow(name="within-namespace-in", direction="ingress", peers=peer, ports=(), why=why),
        NetworkAllow(name="within-namespace-out", direction="egress", peers=peer, ports=(), why=why),
    ]


def to_backends(
    name: str, backends: Sequence[Backend], why: str, pods: Mapping[str, str] | None = None
) -> list[NetworkAllow]:
    """Egress to each backend namespace on its ports (one policy per namespace)."""
    return [
        NetworkAllow(
            name=f"{name}-{backend.namespace}",
            direction="egress",
            peers=(Peer.of_namespace(backend.namespace),),
            ports=backend.ports,
            why=why,
            pods=dict(pods or {}),
        )
        for backend in backends
    ]

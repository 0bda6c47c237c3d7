"""NetworkPolicy semantics over rendered manifests, so tests can ask "may A reach B on port P?".

A small model of what a conforming CNI enforces (networking.k8s.io/v1): a pod
is isolated for a direction when some policy in its namespace selects it with
that policy type; an isolated pod admits a connection when some such policy
has a rule whose peer and port match. Only ``matchLabels`` selectors and TCP
are modelled: the platform declares nothing else.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Direction = Literal["ingress", "egress"]


@dataclass(frozen=True)
class Pod:
    """One end of a connection: a pod (namespace, labels, named ports) or an address outside the cluster."""

    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=dict)
    """Container port names to numbers (what a named policy port resolves to)."""
    ip: str | None = None


def _selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    match = (selector or {}).get("matchLabels") or {}
    assert not (selector or {}).get("matchExpressions"), "only matchLabels is modelled"
    return all(labels.get(key) == value for key, value in match.items())


def _peer_matches(peer: Mapping[str, Any], other: Pod) -> bool:
    if "ipBlock" in peer:
        if other.ip is None:
            return False
        block = peer["ipBlock"]
        address = ipaddress.ip_address(other.ip)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(cidr) for cidr in block.get("except") or []
        )
    if other.namespace is None:
        return False
    namespace_ok = (
        _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": other.namespace})
        if "namespaceSelector" in peer
        else False  # a bare podSelector means the policy's own namespace; the platform never declares one
    )
    return namespace_ok and _selects(peer.get("podSelector"), other.labels)


def _port_matches(rule_ports: list[Mapping[str, Any]] | None, port: int, target: Pod) -> bool:
    if not rule_ports:
        return True
    for rule_port in rule_ports:
        value = rule_port.get("port")
        if rule_port.get("protocol", "TCP") != "TCP":
            continue
        if value is None or value == port or (isinstance(value, str) and target.ports.get(value) == port):
            return True
    return False


def policies_selecting(policies: list[dict[str, Any]], pod: Pod, direction: Direction) -> list[dict[str, Any]]:
    kind = direction.capitalize()
    return [
        policy
        for policy in policies
        if policy["metadata"]["namespace"] == pod.namespace
        and kind in policy["spec"].get("policyTypes", [])
        and _selects(policy["spec"].get("podSelector"), pod.labels)
    ]


def admits(policies: list[dict[str, Any]], pod: Pod, direction: Direction, other: Pod, port: int) -> bool:
    """Whether ``pod``'s (isolated) side lets ``other`` connect in (ingress) or lets ``pod`` connect out (egress).

    ``port`` is the destination pod's port number: ``pod``'s own for ingress, ``other``'s for egress.
    A pod that no policy isolates counts as *not* admitting: the platform isolates every pod it runs.
    """
    selecting = policies_selecting(policies, pod, direction)
    if not selecting:
        return False
    rules_key, peers_key = ("ingress", "from") if direction == "ingress" else ("egress", "to")
    destination = pod if direction == "ingress" else other
    for policy in selecting:
        for rule in policy["spec"].get(rules_key) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(_peer_matches(peer, other) for peer in peers)
            if peer_ok and _port_matches(rule.get("ports"), port, destination):
                return True
    return False


def connects(policies: list[dict[str, Any]], client: Pod, server: Pod, port: int) -> bool:
    """Both sides agree: the client's egress and the server's ingress admit the connection."""
    return admits(policies, client, "egress", server, port) and admits(policies, server, "ingress", client, port)

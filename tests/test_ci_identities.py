"""CI's identities in each cluster: a preview that only reads (never Secrets), a drift reader, a deployer."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from components.ci_identities import DEPLOYER, DRIFT, PREVIEW
from infra.offline.check import Rendered, render
from tests.conftest import StackWriter, base_config
from tests.helpers import manifest, manifests_of

STACKS = ["dev", "staging", "prod"]
READ = {"get", "list", "watch"}


def rules(rendered: Rendered, role: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = manifest(rendered, "ClusterRole", role)["rules"]
    return found


def granted(role_rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """``{(api group, resource): verbs}``."""
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in role_rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    return grants


def plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + ("es" if lower.endswith("s") else "s")


def declared_kinds(rendered: Rendered) -> set[tuple[str, str]]:
    """``(api group, resource)`` of every Kubernetes object the stack declares (Helm releases are not objects)."""
    kinds = set()
    for resource in rendered.resources:
        match = re.fullmatch(r"kubernetes:([^/]+)/[^:]+:(\w+)", resource.type)
        if match and resource.custom and match.group(1) != "helm.sh":
            group = "" if match.group(1) == "core" else match.group(1)
            kinds.add((group, plural(match.group(2))))
    return kinds


def binding(rendered: Rendered, identity: str) -> dict[str, Any]:
    return manifest(rendered, "ClusterRoleBinding", f"ai-platform-ci-{identity}")


@pytest.mark.parametrize("stack", STACKS)
def test_the_preview_identity_only_reads_and_never_secrets(
    stack: str, rendered_stack: Callable[[str], Rendered]
) -> None:
    grants = granted(rules(rendered_stack(stack), "ai-platform-ci-preview"))
    assert all(verbs == READ for verbs in grants.values()), grants
    assert not any(resource in ("secrets", "*") or group == "*" for group, resource in grants)


@pytest.mark.parametrize("stack", STACKS)
def test_the_preview_identity_reads_every_kind_the_stack_declares_but_secrets(
    stack: str, rendered_stack: Callable[[str], Rendered]
) -> None:
    rendered = rendered_stack(stack)
    readable = set(granted(rules(rendered, "ai-platform-ci-preview")))
    assert declared_kinds(rendered) - readable == {("", "secrets")}


@pytest.mark.parametrize("stack", STACKS)
def test_the_drift_identity_also_reads_secrets_and_writes_nothing(
    stack: str, rendered_stack: Callable[[str], Rendered]
) -> None:
    rendered = rendered_stack(stack)
    grants = granted(rules(rendered, "ai-platform-ci-drift"))
    assert all(verbs == READ for verbs in grants.values())
    assert ("", "secrets") in grants
    assert set(grants) - {("", "secrets")} == set(granted(rules(rendered, "ai-platform-ci-preview")))


@pytest.mark.parametrize("stack", STACKS)
def test_each_identity_is_a_service_account_bound_to_its_role(
    stack: str, rendered_stack: Callable[[str], Rendered]
) -> None:
    rendered = rendered_stack(stack)
    expected_roles = {
        PREVIEW: "ai-platform-ci-preview",
        DRIFT: "ai-platform-ci-drift",
        DEPLOYER: "cluster-admin",
    }
    for identity, role in expected_roles.items():
        account = manifest(rendered, "ServiceAccount", identity)
        assert account["metadata"]["namespace"] == "ci-identities"
        assert account["automountServiceAccountToken"] is False
        bound = binding(rendered, identity)
        assert bound["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}
        assert bound["subjects"] == [{"kind": "ServiceAccount", "name": identity, "namespace": "ci-identities"}]
    # Nothing else in the platform is bound to cluster-admin.
    admins = [
        b["metadata"]["name"]
        for b in manifests_of(rendered, "ClusterRoleBinding")
        if b["roleRef"]["name"] == "cluster-admin"
    ]
    assert admins == ["ai-platform-ci-pulumi-deployer"]
    namespace = manifest(rendered, "Namespace", "ci-identities")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("stack", STACKS)
def test_each_identity_has_a_long_lived_token_for_ci_outside_the_cluster(
    stack: str, rendered_stack: Callable[[str], Rendered]
) -> None:
    rendered = rendered_stack(stack)
    for identity in (PREVIEW, DRIFT, DEPLOYER):
        token = manifest(rendered, "Secret", f"{identity}-token")
        assert token["type"] == "kubernetes.io/service-account-token"
        assert token["metadata"]["annotations"] == {"kubernetes.io/service-account.name": identity}
        assert token["metadata"]["namespace"] == "ci-identities"


def test_tokens_can_be_left_to_another_mechanism(write_stack: StackWriter) -> None:
    rendered = render(write_stack(base_config(ciIdentities={"longLivedTokens": False})))
    assert manifests_of(rendered, "ServiceAccount", "ci-identities")
    assert [s for s in manifests_of(rendered, "Secret") if s.get("type") == "kubernetes.io/service-account-token"] == []


def test_identities_can_be_switched_off_and_moved(write_stack: StackWriter) -> None:
    off = render(write_stack(base_config(ciIdentities={"enabled": False}), name="off"))
    assert not [r for r in off.resources if r.type == "ai-platform:ci:CiIdentities"]
    assert manifests_of(off, "ClusterRoleBinding") == []
    moved = render(write_stack(base_config(ciIdentities={"namespace": "ci"}), name="moved"))
    assert {
        a["metadata"]["namespace"] for a in manifests_of(moved, "ServiceAccount") if "pulumi" in a["metadata"]["name"]
    } == {"ci"}

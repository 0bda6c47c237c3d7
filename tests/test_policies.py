"""Every rule of the policy pack, judged through Pulumi's analyzer gRPC protocol.

The pack runs as the engine starts it (``python -u -m pulumi.policy``); the
tests send it hand-written resources with ``Analyze``/``AnalyzeStack``, never
calling rule functions directly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.offline.analyzer import Violation, evaluate
from infra.offline.pack_process import PolicyPackProcess, policy_pack
from infra.offline.policy_config import PolicyConfigError, load_policy_config, policy_config_path
from infra.offline.runtime import RecordedResource
from infra.offline.stack_file import StackFile
from tests import policy_fixtures as fx

STACK = StackFile(
    path=Path("stacks/Pulumi.test.yaml"),
    stack="test",
    values={"ai-platform:registry": json.dumps({"host": "registry.platform.internal"})},
    secret_keys=frozenset(),
)
Mutation = Callable[[list[RecordedResource]], None]


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyPackProcess]:
    with policy_pack(STACK) as process:
        yield process


def run(pack: PolicyPackProcess, resources: list[RecordedResource], environment: str = "prod") -> list[Violation]:
    config_path = policy_config_path(environment)
    return evaluate(pack, STACK, resources, load_policy_config(config_path), str(config_path))


def find(resources: list[RecordedResource], type_suffix: str, name: str | None = None) -> dict[str, Any]:
    for item in resources:
        if item.type.endswith(type_suffix) and (name is None or item.name == name):
            return item.inputs
    raise LookupError(f"{type_suffix} {name}")


def first_container(props: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = props["spec"]["template"]["spec"]["containers"][0]
    return container


def add(*items: RecordedResource) -> Mutation:
    return lambda stack: stack.extend(items)


def change(type_suffix: str, name: str | None, edit: Callable[[dict[str, Any]], Any]) -> Mutation:
    def mutate(stack: list[RecordedResource]) -> None:
        edit(find(stack, type_suffix, name))
        for item in stack:  # AnalyzeStack sees outputs; keep them in step with inputs
            item.outputs = item.inputs

    return mutate


def remove(type_suffix: str, name: str | None = None) -> Mutation:
    def mutate(stack: list[RecordedResource]) -> None:
        stack[:] = [r for r in stack if not (r.type.endswith(type_suffix) and (name is None or r.name == name))]

    return mutate


def classifier_container(edit: Callable[[dict[str, Any]], Any]) -> Mutation:
    return change(":Deployment", "classifier", lambda d: edit(first_container(d)))


def classifier_pod(edit: Callable[[dict[str, Any]], Any]) -> Mutation:
    return change(":Deployment", "classifier", lambda d: edit(d["spec"]["template"]["spec"]))


def security(**settings: Any) -> Mutation:
    return classifier_container(lambda c: c["securityContext"].update(settings))


def no_autoscaler_with(replicas: int) -> Mutation:
    def mutate(stack: list[RecordedResource]) -> None:
        remove(":HorizontalPodAutoscaler")(stack)
        change(":Deployment", "classifier", lambda d: d["spec"].update(replicas=replicas))(stack)

    return mutate


def cron_job_without_limits() -> RecordedResource:
    job_container = fx.container("batch")
    job_container["resources"] = {"requests": {"cpu": "1"}}
    pod = fx.pod_spec("batch")
    pod["containers"] = [job_container]
    body = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "retrain", "namespace": fx.NAMESPACE},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": pod}}}},
    }
    return fx.resource("kubernetes:batch/v1:CronJob", body)


def host_network_pod() -> RecordedResource:
    spec = fx.pod_spec("debug")
    spec["hostNetwork"] = True
    return fx.resource(
        "kubernetes:core/v1:Pod",
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "debug", "namespace": fx.NAMESPACE}, "spec": spec},
    )


def daemonset_with_host_path() -> RecordedResource:
    spec = fx.pod_spec("log-agent")
    spec["volumes"] = [{"name": "logs", "hostPath": {"path": "/var/log"}}]
    body = fx.deployment("log-agent")
    body["kind"] = "DaemonSet"
    body["spec"] = {
        "selector": body["spec"]["selector"],
        "template": {"metadata": {"labels": fx.labels("log-agent")}, "spec": spec},
    }
    return fx.resource("kubernetes:apps/v1:DaemonSet", body)


def load_balancer(namespace: str) -> RecordedResource:
    return fx.resource(
        "kubernetes:core/v1:Service",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "public", "namespace": namespace},
            "spec": {"type": "LoadBalancer"},
        },
        name="public",
    )


VIOLATIONS: list[tuple[str, str, Mutation]] = [
    (
        "AI service without a priority class",
        "ai-service-priority-class",
        classifier_pod(lambda p: p.pop("priorityClassName")),
    ),
    (
        "AI service with a system priority class",
        "ai-service-priority-class",
        classifier_pod(lambda p: p.update(priorityClassName="system-cluster-critical")),
    ),
    # (case, rule expected to report it, how the compliant stack is broken)
    ("one replica in prod", "workload-minimum-replicas", no_autoscaler_with(1)),
    (
        "statefulset of two",
        "workload-minimum-replicas",
        change(":StatefulSet", None, lambda s: s["spec"].update(replicas=2)),
    ),
    (
        "hpa min below prod minimum",
        "hpa-minimum-replicas",
        change(":HorizontalPodAutoscaler", None, lambda h: h["spec"].update(minReplicas=2)),
    ),
    (
        "hpa max below min",
        "hpa-bounds-and-target",
        change(":HorizontalPodAutoscaler", None, lambda h: h["spec"].update(maxReplicas=2)),
    ),
    (
        "hpa without target",
        "hpa-bounds-and-target",
        change(":HorizontalPodAutoscaler", None, lambda h: h["spec"].pop("metrics")),
    ),
    ("no pdb", "pdb-covers-multi-replica-workloads", remove(":PodDisruptionBudget", "classifier")),
    (
        "pdb blocks drains",
        "pdb-covers-multi-replica-workloads",
        change(":PodDisruptionBudget", "llm", lambda p: p["spec"].update(maxUnavailable=0)),
    ),
    (
        "pdb minAvailable 100%",
        "pdb-covers-multi-replica-workloads",
        change(":PodDisruptionBudget", "vector-store", lambda p: p["spec"].update(minAvailable="100%")),
    ),
    ("no spread", "multi-replica-spread", classifier_pod(lambda s: s.pop("topologySpreadConstraints"))),
    (
        "recreate strategy",
        "rolling-update-keeps-capacity",
        change(":Deployment", "llm", lambda d: d["spec"].update(strategy={"type": "Recreate"})),
    ),
    (
        "default strategy",
        "rolling-update-keeps-capacity",
        change(":Deployment", "llm", lambda d: d["spec"].pop("strategy")),
    ),
    (
        "no memory limit",
        "container-resources-required",
        classifier_container(lambda c: c["resources"]["limits"].pop("memory")),
    ),
    ("cronjob init container unsized", "container-resources-required", add(cron_job_without_limits())),
    (
        "limit far above request",
        "limit-request-ratio",
        classifier_container(lambda c: c["resources"]["limits"].update(cpu="4")),
    ),
    (
        "fractional gpu",
        "gpu-whole-and-guaranteed",
        change(
            ":Deployment", "llm", lambda d: first_container(d)["resources"]["limits"].update({"nvidia.com/gpu": "0.5"})
        ),
    ),
    (
        "gpu request differs",
        "gpu-whole-and-guaranteed",
        change(
            ":Deployment", "llm", lambda d: first_container(d)["resources"]["requests"].update({"nvidia.com/gpu": "2"})
        ),
    ),
    (
        "gpu without toleration",
        "gpu-placement",
        change(":Deployment", "llm", lambda d: d["spec"]["template"]["spec"].pop("tolerations")),
    ),
    (
        "gpu without node selector",
        "gpu-placement",
        change(":Deployment", "llm", lambda d: d["spec"]["template"]["spec"].pop("nodeSelector")),
    ),
    (
        "cpu pod tolerates everything",
        "gpu-placement",
        classifier_pod(lambda s: s.update(tolerations=[{"operator": "Exists"}])),
    ),
    ("namespace without quota", "ai-namespace-quota", remove(":ResourceQuota")),
    ("privileged", "no-privileged-containers", security(privileged=True)),
    ("escalation allowed", "no-privilege-escalation", security(allowPrivilegeEscalation=True)),
    (
        "escalation unset",
        "no-privilege-escalation",
        classifier_container(lambda c: c["securityContext"].pop("allowPrivilegeEscalation")),
    ),
    ("root user", "run-as-non-root", security(runAsUser=0)),
    ("low uid", "run-as-non-root", security(runAsUser=1000)),
    ("added capability", "capabilities-restricted", security(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]})),
    ("capabilities kept", "capabilities-restricted", security(capabilities={})),
    ("unconfined seccomp", "seccomp-restricted", security(seccompProfile={"type": "Unconfined"})),
    ("writable root", "read-only-root-filesystem", security(readOnlyRootFilesystem=False)),
    ("host network pod", "no-host-namespaces", add(host_network_pod())),
    ("host path daemonset", "no-host-path-volumes", add(daemonset_with_host_path())),
    ("host port", "no-host-ports", classifier_container(lambda c: c["ports"][0].update(hostPort=8080))),
    (
        "pod token",
        "service-account-token-not-automounted",
        classifier_pod(lambda s: s.pop("automountServiceAccountToken")),
    ),
    (
        "account token",
        "service-account-token-not-automounted",
        change(":ServiceAccount", None, lambda a: a.pop("automountServiceAccountToken")),
    ),
    ("default namespace", "no-default-namespace", change(":ConfigMap", None, lambda m: m["metadata"].pop("namespace"))),
    ("release in default", "no-default-namespace", change(":Release", None, lambda r: r.pop("namespace"))),
    ("no readiness probe", "probes-required", classifier_container(lambda c: c.pop("readinessProbe"))),
    ("load balancer outside ingress", "no-external-services", add(load_balancer(fx.NAMESPACE))),
    (
        "workload without network policy",
        "network-policy-coverage",
        change(
            ":NetworkPolicy",
            None,
            lambda p: p["spec"].update(podSelector={"matchLabels": {"app.kubernetes.io/name": "other"}}),
        ),
    ),
    (
        "literal password env",
        "no-literal-secret-env",
        classifier_container(lambda c: c["env"].append({"name": "DB_PASSWORD", "value": "hunter2"})),
    ),
    (
        "secret in config map",
        "no-literal-secret-env",
        change(":ConfigMap", None, lambda m: m["data"].update(OPENAI_API_KEY="sk-123")),
    ),
    (
        "docker hub image",
        "approved-registries",
        classifier_container(lambda c: c.update(image="python:3.12" + fx.DIGEST)),
    ),
    (
        "latest tag",
        "image-tag-pinned",
        classifier_container(lambda c: c.update(image="registry.example.com/ai/x:latest")),
    ),
    (
        "tag without digest in prod",
        "image-tag-pinned",
        classifier_container(lambda c: c.update(image="registry.example.com/ai/x:1.0")),
    ),
    ("chart without version", "helm-chart-version-pinned", change(":Release", None, lambda r: r.pop("version"))),
    (
        "chart version range",
        "helm-chart-version-pinned",
        change(":Release", None, lambda r: r.update(version="^65.0.0")),
    ),
    (
        "unprotected pvc",
        "stateful-resources-protected",
        lambda s: setattr(
            next(r for r in s if r.type.endswith(":PersistentVolumeClaim")),
            "options",
            {**s[0].options, "protect": False},
        ),
    ),
    ("over budget", "monthly-budget", change(":Deployment", "llm", lambda d: d["spec"].update(replicas=30))),
    (
        "unprotected persistent release",
        "stateful-resources-protected",
        lambda s: setattr(
            next(r for r in s if r.type.endswith(":Release")), "options", {**s[0].options, "protect": False}
        ),
    ),
]


def test_the_compliant_stack_passes_every_rule(pack: PolicyPackProcess) -> None:
    assert run(pack, fx.compliant_stack()) == []


@pytest.mark.parametrize(("rule", "mutate"), [pytest.param(rule, mutate, id=case) for case, rule, mutate in VIOLATIONS])
def test_each_rule_reports_a_mandatory_violation_in_prod(pack: PolicyPackProcess, rule: str, mutate: Mutation) -> None:
    stack = fx.compliant_stack()
    mutate(stack)

    violations = run(pack, stack)

    reported = [v for v in violations if v.policy == rule]
    assert reported, f"{rule} reported nothing; got {[(v.policy, v.message) for v in violations]}"
    assert all(v.enforcement_level == "mandatory" for v in reported)
    stack_wide = {"ai-namespace-quota", "monthly-budget"}
    assert all(v.urn.startswith("urn:pulumi:") for v in reported if v.policy not in stack_wide)


def test_every_rule_has_a_violating_case(pack: PolicyPackProcess) -> None:
    info_names = {
        policy.name
        for policy in pack.stub.GetAnalyzerInfo(
            __import__("google.protobuf.empty_pb2", fromlist=["Empty"]).Empty()
        ).policies
    }
    assert info_names == {rule for _, rule, _ in VIOLATIONS}


def test_enforcement_levels_differ_per_environment(pack: PolicyPackProcess) -> None:
    stack = fx.compliant_stack()
    security(privileged=True)(stack)
    levels = {
        env: {v.enforcement_level for v in run(pack, stack, env) if v.policy == "no-privileged-containers"}
        for env in ("dev", "staging", "prod")
    }
    assert levels == {"dev": {"advisory"}, "staging": {"mandatory"}, "prod": {"mandatory"}}


def test_thresholds_differ_per_environment(pack: PolicyPackProcess) -> None:
    stack = fx.compliant_stack()
    no_autoscaler_with(2)(stack)
    assert "workload-minimum-replicas" in {v.policy for v in run(pack, stack, "prod")}
    assert "workload-minimum-replicas" not in {v.policy for v in run(pack, stack, "staging")}


def test_a_registry_named_only_in_the_stack_file_is_not_approved(pack: PolicyPackProcess) -> None:
    """The stack file is what a pull request edits; only the pack's config approves registries."""
    stack = fx.compliant_stack()
    classifier_container(lambda c: c.update(image="registry.platform.internal/ai/x:1.0" + fx.DIGEST))(stack)
    assert [v.policy for v in run(pack, stack) if v.policy == "approved-registries"] == ["approved-registries"]


def test_the_budget_prices_come_from_the_pack_config_not_the_stack_file(tmp_path: Path) -> None:
    """Zero prices in the stack file (which a pull request edits) do not get a GPU fleet past the budget."""
    zero = {"vcpuHour": 0, "memoryGibHour": 0, "gpuHour": {"nvidia-l4": 0}, "storageGibMonth": {"default": 0}}
    cheap_stack = StackFile(
        path=STACK.path,
        stack="test",
        values={**STACK.values, "ai-platform:pricing": json.dumps(zero)},
        secret_keys=frozenset(),
    )
    resources = fx.compliant_stack()
    change(":Deployment", "llm", lambda d: d["spec"].update(replicas=30))(resources)
    config_path = policy_config_path("prod")
    with policy_pack(cheap_stack) as process:
        violations = evaluate(process, cheap_stack, resources, load_policy_config(config_path), str(config_path))
    assert "monthly-budget" in {v.policy for v in violations}
    # ...while the pack's own prices decide: free capacity fits any budget.
    free = json.loads(config_path.read_text())
    free["monthly-budget"]["prices"] = zero
    free_path = tmp_path / "prod.json"
    free_path.write_text(json.dumps(free))
    with policy_pack(cheap_stack) as process:
        violations = evaluate(process, cheap_stack, resources, load_policy_config(free_path), str(free_path))
    assert "monthly-budget" not in {v.policy for v in violations}


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"all": "strict"}', "'strict' is not an enforcement level"),
        ('{"no-such-rule": "mandatory"}', "no policy named no-such-rule"),
        ('{"limit-request-ratio": {"maxRatio": "two"}}', "limit-request-ratio.maxRatio: 'two' is not of type 'number'"),
        ("[1]", "must be a JSON object"),
        ("{", "not valid JSON"),
    ],
)
def test_invalid_policy_config_is_refused(pack: PolicyPackProcess, tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(PolicyConfigError, match=fragment.replace("(", r"\(").replace("[", r"\[")):
        evaluate(pack, STACK, fx.compliant_stack(), load_policy_config(path), str(path))

"""Hand-written resources for the policy tests, compliant unless a test breaks them.

They are written as a user would declare them with pulumi-kubernetes (the
props the engine sends an analyzer), including kinds our components never
emit: StatefulSets, CronJobs, DaemonSets, bare Pods, LoadBalancer Services,
Helm releases.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from infra.offline.runtime import RecordedResource

DIGEST = "@sha256:" + "b" * 64
IMAGE = "registry.example.com/ai/text-classifier:1.2.0" + DIGEST
NAMESPACE = "ai-services"


def resource(type_: str, props: dict[str, Any], name: str | None = None, *, protect: bool = False) -> RecordedResource:
    name = name or props.get("metadata", {}).get("name") or type_.rsplit(":", 1)[-1].lower()
    kind = type_.rsplit(":", 1)[-1]
    urn = f"urn:pulumi:test::ai-platform::{type_}::{kind.lower()}-{name}"
    props = copy.deepcopy(props)
    return RecordedResource(
        urn=urn,
        type=type_,
        name=name,
        parent=None,
        custom=True,
        inputs=props,
        outputs=props,
        options={
            "protect": protect,
            "retainOnDelete": False,
            "dependsOn": [],
            "provider": None,
            "deleteBeforeReplace": False,
            "ignoreChanges": [],
            "additionalSecretOutputs": [],
            "replaceOnChanges": [],
        },
    )


def labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "ai-service"}


def container(name: str = "app", *, gpu: int = 0) -> dict[str, Any]:
    resources: dict[str, Any] = {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    if gpu:
        resources["requests"]["nvidia.com/gpu"] = str(gpu)
        resources["limits"]["nvidia.com/gpu"] = str(gpu)
    return {
        "name": name,
        "image": IMAGE,
        "ports": [{"name": "http", "containerPort": 8080}],
        "resources": resources,
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "capabilities": {"drop": ["ALL"]},
        },
        "env": [
            {"name": "API_TOKEN_FILE", "value": "/var/run/secrets/app/API_TOKEN"},
            {"name": "MAX_TOKENS", "value": "512"},
        ],
    }


def pod_spec(name: str, *, gpu: int = 0) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "priorityClassName": "ai-inference",
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container(gpu=gpu)],
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app.kubernetes.io/name": name}},
            }
        ],
    }
    if gpu:
        spec["nodeSelector"] = {"feature.node.kubernetes.io/pci-10de.present": "true"}
        spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    return spec


def deployment(name: str = "classifier", *, replicas: int | None = 3, gpu: int = 0) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": {**labels(name), **({"ai-platform.io/gpu-type": "nvidia-t4"} if gpu else {})}},
            "spec": pod_spec(name, gpu=gpu),
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels(name)},
        "spec": spec,
    }


def statefulset(name: str = "vector-store") -> dict[str, Any]:
    body = deployment(name)
    body["kind"] = "StatefulSet"
    body["spec"].pop("strategy")
    body["spec"]["serviceName"] = name
    return body


def hpa(target: str, *, minimum: int = 3, maximum: int = 10) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": target, "namespace": NAMESPACE},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": minimum,
            "maxReplicas": maximum,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
        },
    }


def pdb(target: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": target, "namespace": NAMESPACE},
        "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": target}}, **(spec or {"maxUnavailable": 1})},
    }


def network_policy(name: str = "ai-services", selector: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"podSelector": selector if selector is not None else {}, "policyTypes": ["Ingress"]},
    }


def namespace_objects() -> list[RecordedResource]:
    return [
        resource(
            "kubernetes:core/v1:Namespace",
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": NAMESPACE, "labels": {"ai-platform.io/workloads": "ai-services"}},
            },
        ),
        resource(
            "kubernetes:core/v1:ResourceQuota",
            {
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": {"name": "q", "namespace": NAMESPACE},
                "spec": {"hard": {"pods": "20"}},
            },
        ),
        resource(
            "kubernetes:core/v1:LimitRange",
            {
                "apiVersion": "v1",
                "kind": "LimitRange",
                "metadata": {"name": "l", "namespace": NAMESPACE},
                "spec": {"limits": []},
            },
        ),
    ]


def release(name: str = "monitoring", *, version: str | None = "65.1.0", persistence: bool = True) -> dict[str, Any]:
    props: dict[str, Any] = {
        "name": name,
        "chart": "kube-prometheus-stack",
        "namespace": "monitoring",
        "repositoryOpts": {"repo": "https://prometheus-community.github.io/helm-charts"},
        "values": {"grafana": {"persistence": {"enabled": persistence, "size": "10Gi"}}},
    }
    if version is not None:
        props["version"] = version
    return props


def compliant_stack() -> list[RecordedResource]:
    """A small stack that every rule accepts under the prod config."""
    return [
        *namespace_objects(),
        resource("kubernetes:apps/v1:Deployment", deployment("classifier", replicas=None)),
        resource("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", hpa("classifier")),
        resource("kubernetes:policy/v1:PodDisruptionBudget", pdb("classifier")),
        resource("kubernetes:apps/v1:Deployment", deployment("llm", gpu=1)),
        resource("kubernetes:policy/v1:PodDisruptionBudget", pdb("llm")),
        resource("kubernetes:apps/v1:StatefulSet", statefulset(), protect=True),
        resource("kubernetes:policy/v1:PodDisruptionBudget", pdb("vector-store", minAvailable=2)),
        resource("kubernetes:networking.k8s.io/v1:NetworkPolicy", network_policy()),
        resource(
            "kubernetes:core/v1:ServiceAccount",
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "classifier", "namespace": NAMESPACE},
                "automountServiceAccountToken": False,
            },
        ),
        resource(
            "kubernetes:core/v1:ConfigMap",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "env", "namespace": NAMESPACE},
                "data": {"LOG_LEVEL": "info"},
            },
        ),
        resource(
            "kubernetes:core/v1:Service",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "ingress", "namespace": "ingress-nginx"},
                "spec": {"type": "LoadBalancer"},
            },
        ),
        resource(
            "kubernetes:core/v1:PersistentVolumeClaim",
            {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": NAMESPACE}},
            protect=True,
        ),
        resource("kubernetes:helm.sh/v3:Release", release(), name="monitoring", protect=True),
    ]


# How a test breaks the compliant stack.
Mutation = Callable[[list[RecordedResource]], None]


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
    job_container = container("batch")
    job_container["resources"] = {"requests": {"cpu": "1"}}
    pod = pod_spec("batch")
    pod["containers"] = [job_container]
    body = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "retrain", "namespace": NAMESPACE},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": pod}}}},
    }
    return resource("kubernetes:batch/v1:CronJob", body)


def host_network_pod() -> RecordedResource:
    spec = pod_spec("debug")
    spec["hostNetwork"] = True
    return resource(
        "kubernetes:core/v1:Pod",
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "debug", "namespace": NAMESPACE}, "spec": spec},
    )


def daemonset_with_host_path() -> RecordedResource:
    spec = pod_spec("log-agent")
    spec["volumes"] = [{"name": "logs", "hostPath": {"path": "/var/log"}}]
    body = deployment("log-agent")
    body["kind"] = "DaemonSet"
    body["spec"] = {
        "selector": body["spec"]["selector"],
        "template": {"metadata": {"labels": labels("log-agent")}, "spec": spec},
    }
    return resource("kubernetes:apps/v1:DaemonSet", body)


def load_balancer(namespace: str) -> RecordedResource:
    return resource(
        "kubernetes:core/v1:Service",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "public", "namespace": namespace},
            "spec": {"type": "LoadBalancer"},
        },
        name="public",
    )


VIOLATIONS: list[tuple[str, str, str, Mutation]] = [
    # (case, rule expected to report it, part of its message, how the compliant stack is broken)
    (
        "AI service without a priority class",
        "ai-service-priority-class",
        "priorityClassName is None",
        classifier_pod(lambda p: p.pop("priorityClassName")),
    ),
    (
        "AI service with a system priority class",
        "ai-service-priority-class",
        "priorityClassName is 'system-cluster-critical'",
        classifier_pod(lambda p: p.update(priorityClassName="system-cluster-critical")),
    ),
    (
        "scale to zero in prod",
        "hpa-minimum-replicas",
        "scales to zero, which this environment does not allow",
        add(
            resource(
                "kubernetes:keda.sh/v1alpha1:ScaledObject",
                {
                    "apiVersion": "keda.sh/v1alpha1",
                    "kind": "ScaledObject",
                    "metadata": {"name": "classifier", "namespace": NAMESPACE},
                    "spec": {
                        "scaleTargetRef": {"name": "classifier"},
                        "minReplicaCount": 0,
                        "maxReplicaCount": 4,
                        "triggers": [{"type": "prometheus", "metadata": {"query": "sum(up)", "threshold": "1"}}],
                    },
                },
                name="classifier-scaler",
            )
        ),
    ),
    (
        "one replica in prod",
        "workload-minimum-replicas",
        "Deployment ai-services/classifier can run 1 replica(s) (replicas); at least 3",
        no_autoscaler_with(1),
    ),
    (
        "statefulset of two",
        "workload-minimum-replicas",
        "StatefulSet ai-services/vector-store can run 2 replica(s)",
        change(":StatefulSet", None, lambda s: s["spec"].update(replicas=2)),
    ),
    (
        "hpa min below prod minimum",
        "hpa-minimum-replicas",
        "minReplicas is 2; at least 3 are required",
        change(":HorizontalPodAutoscaler", None, lambda h: h["spec"].update(minReplicas=2)),
    ),
    (
        "hpa max below min",
        "hpa-bounds-and-target",
        "maxReplicas (2) is below minReplicas (3)",
        change(":HorizontalPodAutoscaler", None, lambda h: h["spec"].update(maxReplicas=2)),
    ),
    (
        "hpa without target",
        "hpa-bounds-and-target",
        "no scaling target",
        change(":HorizontalPodAutoscaler", None, lambda h: h["spec"].pop("metrics")),
    ),
    (
        "no pdb",
        "pdb-covers-multi-replica-workloads",
        "classifier can run 10 replicas but no PodDisruptionBudget selects it",
        remove(":PodDisruptionBudget", "classifier"),
    ),
    (
        "pdb blocks drains",
        "pdb-covers-multi-replica-workloads",
        "PodDisruptionBudget ai-services/llm allows no voluntary disruption",
        change(":PodDisruptionBudget", "llm", lambda p: p["spec"].update(maxUnavailable=0)),
    ),
    (
        "pdb minAvailable 100%",
        "pdb-covers-multi-replica-workloads",
        "PodDisruptionBudget ai-services/vector-store allows no voluntary disruption",
        change(":PodDisruptionBudget", "vector-store", lambda p: p["spec"].update(minAvailable="100%")),
    ),
    (
        "no spread",
        "multi-replica-spread",
        "replicas can land on one node",
        classifier_pod(lambda s: s.pop("topologySpreadConstraints")),
    ),
    (
        "recreate strategy",
        "rolling-update-keeps-capacity",
        "the Recreate strategy stops every replica",
        change(":Deployment", "llm", lambda d: d["spec"].update(strategy={"type": "Recreate"})),
    ),
    (
        "default strategy",
        "rolling-update-keeps-capacity",
        "maxUnavailable is unset",
        change(":Deployment", "llm", lambda d: d["spec"].pop("strategy")),
    ),
    (
        "no memory limit",
        "container-resources-required",
        "container 'app' has no limits.memory",
        classifier_container(lambda c: c["resources"]["limits"].pop("memory")),
    ),
    (
        "cronjob init container unsized",
        "container-resources-required",
        "container 'batch' has no requests.memory, limits.memory",
        add(cron_job_without_limits()),
    ),
    (
        "limit far above request",
        "limit-request-ratio",
        "cpu limit 4 is 8.0x its request 500m (at most 2x)",
        classifier_container(lambda c: c["resources"]["limits"].update(cpu="4")),
    ),
    (
        "fractional gpu",
        "gpu-whole-and-guaranteed",
        "GPU limit of '0.5'; GPUs are whole devices",
        change(
            ":Deployment", "llm", lambda d: first_container(d)["resources"]["limits"].update({"nvidia.com/gpu": "0.5"})
        ),
    ),
    (
        "gpu request differs",
        "gpu-whole-and-guaranteed",
        "requests 2 GPU(s) but limits 1",
        change(
            ":Deployment", "llm", lambda d: first_container(d)["resources"]["requests"].update({"nvidia.com/gpu": "2"})
        ),
    ),
    (
        "gpu without toleration",
        "gpu-placement",
        "does not tolerate the 'nvidia.com/gpu' taint",
        change(":Deployment", "llm", lambda d: d["spec"]["template"]["spec"].pop("tolerations")),
    ),
    (
        "gpu without node selector",
        "gpu-placement",
        "no node selector or required node affinity",
        change(":Deployment", "llm", lambda d: d["spec"]["template"]["spec"].pop("nodeSelector")),
    ),
    (
        "cpu pod tolerates everything",
        "gpu-placement",
        "uses no GPU but tolerates the 'nvidia.com/gpu' taint",
        classifier_pod(lambda s: s.update(tolerations=[{"operator": "Exists"}])),
    ),
    (
        "namespace without quota",
        "ai-namespace-quota",
        "AI namespace 'ai-services' has no ResourceQuota",
        remove(":ResourceQuota"),
    ),
    ("privileged", "no-privileged-containers", "container 'app' is privileged", security(privileged=True)),
    (
        "escalation allowed",
        "no-privilege-escalation",
        "does not set allowPrivilegeEscalation: false",
        security(allowPrivilegeEscalation=True),
    ),
    (
        "escalation unset",
        "no-privilege-escalation",
        "does not set allowPrivilegeEscalation: false",
        classifier_container(lambda c: c["securityContext"].pop("allowPrivilegeEscalation")),
    ),
    ("root user", "run-as-non-root", "runs as UID 0 (at least 10000)", security(runAsUser=0)),
    ("low uid", "run-as-non-root", "runs as UID 1000 (at least 10000)", security(runAsUser=1000)),
    (
        "added capability",
        "capabilities-restricted",
        "adds capabilities SYS_ADMIN",
        security(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
    ),
    ("capabilities kept", "capabilities-restricted", "does not drop ALL capabilities", security(capabilities={})),
    (
        "unconfined seccomp",
        "seccomp-restricted",
        "seccomp profile Unconfined",
        security(seccompProfile={"type": "Unconfined"}),
    ),
    (
        "writable root",
        "read-only-root-filesystem",
        "has a writable root filesystem",
        security(readOnlyRootFilesystem=False),
    ),
    ("host network pod", "no-host-namespaces", "the pod sets hostNetwork", add(host_network_pod())),
    (
        "host path daemonset",
        "no-host-path-volumes",
        "volume 'logs' mounts host path /var/log",
        add(daemonset_with_host_path()),
    ),
    (
        "host port",
        "no-host-ports",
        "binds host port 8080",
        classifier_container(lambda c: c["ports"][0].update(hostPort=8080)),
    ),
    (
        "pod token",
        "service-account-token-not-automounted",
        "the pod automounts a Kubernetes API token",
        classifier_pod(lambda s: s.pop("automountServiceAccountToken")),
    ),
    (
        "account token",
        "service-account-token-not-automounted",
        "the ServiceAccount automounts its token",
        change(":ServiceAccount", None, lambda a: a.pop("automountServiceAccountToken")),
    ),
    (
        "default namespace",
        "no-default-namespace",
        "lands in the 'default' namespace",
        change(":ConfigMap", None, lambda m: m["metadata"].pop("namespace")),
    ),
    (
        "release in default",
        "no-default-namespace",
        "lands in the 'default' namespace",
        change(":Release", None, lambda r: r.pop("namespace")),
    ),
    (
        "no readiness probe",
        "probes-required",
        "has no readinessProbe",
        classifier_container(lambda c: c.pop("readinessProbe")),
    ),
    (
        "load balancer outside ingress",
        "no-external-services",
        "a LoadBalancer Service in 'ai-services'",
        add(load_balancer(NAMESPACE)),
    ),
    (
        "workload without network policy",
        "network-policy-coverage",
        "no NetworkPolicy selects the pods of Deployment ai-services/classifier",
        change(
            ":NetworkPolicy",
            None,
            lambda p: p["spec"].update(podSelector={"matchLabels": {"app.kubernetes.io/name": "other"}}),
        ),
    ),
    (
        "literal password env",
        "no-literal-secret-env",
        "sets DB_PASSWORD to a literal value",
        classifier_container(lambda c: c["env"].append({"name": "DB_PASSWORD", "value": "hunter2"})),
    ),
    (
        "secret in config map",
        "no-literal-secret-env",
        "ConfigMap key 'OPENAI_API_KEY' looks like a secret",
        change(":ConfigMap", None, lambda m: m["data"].update(OPENAI_API_KEY="sk-123")),
    ),
    (
        "docker hub image",
        "approved-registries",
        "from docker.io, which is not approved",
        classifier_container(lambda c: c.update(image="python:3.12" + DIGEST)),
    ),
    (
        "latest tag",
        "image-tag-pinned",
        "uses the mutable 'latest' tag",
        classifier_container(lambda c: c.update(image="registry.example.com/ai/x:latest")),
    ),
    (
        "tag without digest in prod",
        "image-tag-pinned",
        "is not pinned by digest (registry.example.com/ai/x:1.0)",
        classifier_container(lambda c: c.update(image="registry.example.com/ai/x:1.0")),
    ),
    (
        "chart without version",
        "helm-chart-version-pinned",
        "no chart version",
        change(":Release", None, lambda r: r.pop("version")),
    ),
    (
        "chart version range",
        "helm-chart-version-pinned",
        "chart version '^65.0.0' is not an exact version",
        change(":Release", None, lambda r: r.update(version="^65.0.0")),
    ),
    (
        "unprotected pvc",
        "stateful-resources-protected",
        "it holds data but is not `protect`ed",
        lambda s: setattr(
            next(r for r in s if r.type.endswith(":PersistentVolumeClaim")),
            "options",
            {**s[0].options, "protect": False},
        ),
    ),
    (
        "over budget",
        "monthly-budget",
        "exceeds the budget of 6,000.00 (largest: llm",
        change(":Deployment", "llm", lambda d: d["spec"].update(replicas=30)),
    ),
    (
        "unprotected persistent release",
        "stateful-resources-protected",
        "it holds data but is not `protect`ed",
        lambda s: setattr(
            next(r for r in s if r.type.endswith(":Release")), "options", {**s[0].options, "protect": False}
        ),
    ),
]

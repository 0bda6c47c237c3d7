"""Hand-written resources for the policy tests, compliant unless a test breaks them.

They are written as a user would declare them with pulumi-kubernetes (the
props the engine sends an analyzer), including kinds our components never
emit: StatefulSets, CronJobs, DaemonSets, bare Pods, LoadBalancer Services,
Helm releases.
"""

from __future__ import annotations

import copy
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
        spec["nodeSelector"] = {"nvidia.com/gpu.present": "true"}
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

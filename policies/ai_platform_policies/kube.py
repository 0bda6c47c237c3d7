"""Reading Kubernetes objects as pulumi-kubernetes declares them.

Rules judge any workload kind a user or a future component might declare,
not only the Deployments our components emit, so finding the pod template,
its containers and its labels is done once here for every workload type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Kinds that are not namespaced (the rest are); the offline tool reads this too.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterIssuer",
        "ClusterRole",
        "ClusterRoleBinding",
        "CSIDriver",
        "CustomResourceDefinition",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)

# pulumi-kubernetes type token -> path from the props to the pod spec's parent (the template)
_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:apps/v1:Deployment": ("spec", "template"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template"),
    "kubernetes:batch/v1:Job": ("spec", "template"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template"),
    "kubernetes:core/v1:ReplicationController": ("spec", "template"),
    "kubernetes:core/v1:PodTemplate": ("template",),
    "kubernetes:core/v1:Pod": (),
}
#: Workloads whose replica count is a long-running availability concern.
SCALABLE_TYPES = frozenset(
    {"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:ReplicaSet"}
)
HPA_TYPES = frozenset(
    {"kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:autoscaling/v1:HorizontalPodAutoscaler"}
)
#: KEDA's ScaledObject: it runs its own HPA for its target; its bounds count like an HPA's.
SCALED_OBJECT_TYPE = "kubernetes:keda.sh/v1alpha1:ScaledObject"
AUTOSCALER_TYPES = HPA_TYPES | {SCALED_OBJECT_TYPE}
HELM_RELEASE_TYPES = frozenset(
    {"kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Chart"}
)
GPU_RESOURCE = "nvidia.com/gpu"
#: The node label NVIDIA's GPU feature discovery sets to the GPU model.
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
#: Our GPU type names (the ones prices use) -> the values GPU feature discovery gives
#: ``nvidia.com/gpu.product``: the NVML device name with spaces as dashes
#: (NVIDIA/k8s-device-plugin v0.17.0, GFD's label sanitising; ``Tesla-T4`` is in its
#: documentation). Check a real node with `kubectl get nodes -L nvidia.com/gpu.product`.
GPU_PRODUCTS: dict[str, tuple[str, ...]] = {
    "nvidia-t4": ("Tesla-T4",),
    "nvidia-l4": ("NVIDIA-L4",),
    "nvidia-a100-80gb": ("NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe"),
    "nvidia-h100-80gb": ("NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-PCIe"),
}


def get(value: Any, *path: str | int) -> Any:
    """Nested lookup that tolerates missing keys and None along the way."""
    for key in path:
        if value is None:
            return None
        if isinstance(key, int):
            is_list = isinstance(value, Sequence) and not isinstance(value, str)
            value = value[key] if is_list and len(value) > key else None
        else:
            value = value.get(key) if hasattr(value, "get") else None
    return value


@dataclass(frozen=True)
class Autoscaler:
    """What an HPA or a KEDA ScaledObject scales, and between which bounds."""

    namespace: str
    kind: str
    target: str
    fewest: int
    most: int

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.namespace, self.kind, self.target)


def autoscaler(resource_type: str, props: Mapping[str, Any]) -> Autoscaler | None:
    """An HPA's or a ScaledObject's target and bounds, with each API's defaults; None for anything else."""
    if resource_type not in AUTOSCALER_TYPES:
        return None
    spec = get(props, "spec")
    ref = get(spec, "scaleTargetRef")
    if resource_type == SCALED_OBJECT_TYPE:
        # KEDA's defaults: minReplicaCount 0, maxReplicaCount 100, target kind Deployment.
        kind = get(ref, "kind") or "Deployment"
        fewest, most = _count(get(spec, "minReplicaCount"), 0), _count(get(spec, "maxReplicaCount"), 100)
    else:
        kind = get(ref, "kind")
        fewest, most = _count(get(spec, "minReplicas"), 1), _count(get(spec, "maxReplicas"), 0)
    return Autoscaler(namespace(props), str(kind), str(get(ref, "name")), fewest, most)


def _count(value: Any, default: int) -> int:
    """A replica count as declared (numbers arrive over gRPC as floats); the API default when unset or unreadable."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:  # noqa: PLR0124 - NaN
        return default
    return int(value)


def is_cluster_scoped(resource_type: str) -> bool:
    """Whether objects of this pulumi-kubernetes type live outside namespaces."""
    return resource_type.rsplit(":", 1)[-1] in CLUSTER_SCOPED_KINDS


def is_workload(resource_type: str) -> bool:
    return resource_type in _TEMPLATE_PATHS


def pod_template(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod template (``{metadata, spec}``) of a workload; the object itself for a Pod."""
    path = _TEMPLATE_PATHS.get(resource_type)
    if path is None:
        return None
    template = get(props, *path) if path else props
    return template if hasattr(template, "get") else None


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    template = pod_template(resource_type, props)
    spec = get(template, "spec")
    return spec if hasattr(spec, "get") else None


def pod_labels(resource_type: str, props: Mapping[str, Any]) -> dict[str, str]:
    return dict(get(pod_template(resource_type, props), "metadata", "labels") or {})


def containers(spec: Mapping[str, Any] | None, *, include_init: bool = True) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(``"container"`` | ``"init container"`` | ``"ephemeral container"``, container) pairs."""
    if spec is None:
        return
    groups = [("container", "containers")]
    if include_init:
        groups += [("init container", "initContainers"), ("ephemeral container", "ephemeralContainers")]
    for label, key in groups:
        for container in spec.get(key) or []:
            yield label, container


def describe(label: str, container: Mapping[str, Any]) -> str:
    return f"{label} '{container.get('name', '?')}'"


def namespace(props: Mapping[str, Any]) -> str:
    """The namespace an object lands in (the provider default when unset)."""
    return str(get(props, "metadata", "namespace") or "default")


def name(props: Mapping[str, Any], fallback: str) -> str:
    return str(get(props, "metadata", "name") or fallback)


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions) selects ``labels``."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = list(expression.get("values") or [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def replicas(props: Mapping[str, Any]) -> int | None:
    value = get(props, "spec", "replicas")
    return int(value) if isinstance(value, int | float) else None


def show(value: Any) -> Any:
    """A value as written in a manifest: numbers arrive over gRPC as floats (1.0 -> 1)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value

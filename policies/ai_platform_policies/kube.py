"""Reading Kubernetes objects as pulumi-kubernetes declares them.

Rules judge any workload kind a user or a future component might declare,
not only the Deployments our components emit, so finding the pod template,
its containers and its labels is done once here for every workload type.

Properties arrive from whoever declared the resource, so every read is typed:
a ``Field`` knows its path and returns the type a rule asks for, treats a
missing or null field as absent, and raises ``MalformedFieldError`` (naming the path)
for anything else. The rule layer turns ``MalformedFieldError`` into a violation, so a
wrong type is reported instead of crashing the pack or being misread.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ai_platform_policies.quantity import QuantityError, parse_quantity

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
#: The pod label that names a GPU service's GPU model (placement reports and the cost model read it).
GPU_TYPE_LABEL = "ai-platform.io/gpu-type"
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

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_PERCENT = re.compile(r"^[0-9]+%$")


class MalformedFieldError(ValueError):
    """A field holds a value of the wrong type; the message names the field."""

    def __init__(self, path: str, expected: str, value: Any) -> None:
        super().__init__(f"{path or 'the resource'}: expected {expected}, got {kind_of(value)}")
        self.path = path


def kind_of(value: Any) -> str:
    """How a value reads in a message: ``a string``, ``an object``, ``NaN``..."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, float) and math.isinf(value):
        return "an infinite number"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, Sequence):
        return "a list"
    return type(value).__name__


def _child_path(parent: str, key: str) -> str:
    """``spec.template``, or ``labels["app.kubernetes.io/name"]`` for keys that are not plain words."""
    if not _PLAIN_KEY.match(key):
        return f'{parent}["{key}"]'
    return f"{parent}.{key}" if parent else key


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


class Field:
    """One field of a resource's properties and its path (``spec.template.spec.containers[0]``).

    Reads return the requested type, ``None`` (or an empty collection) when the
    field is missing or null, and raise ``MalformedFieldError`` when it holds another type.
    """

    __slots__ = ("path", "value")

    def __init__(self, value: Any, path: str = "") -> None:
        self.value = value
        self.path = path

    def __repr__(self) -> str:
        return f"Field({self.path or '<root>'}={self.value!r})"

    def __getitem__(self, key: str) -> Field:
        mapping = self.object()
        child = mapping.get(key) if mapping is not None else None
        return Field(child, _child_path(self.path, key))

    def at(self, *keys: str) -> Field:
        field = self
        for key in keys:
            field = field[key]
        return field

    @property
    def absent(self) -> bool:
        return self.value is None

    def _malformed(self, expected: str) -> MalformedFieldError:
        return MalformedFieldError(self.path, expected, self.value)

    def object(self) -> Mapping[str, Any] | None:
        if self.value is None:
            return None
        if not isinstance(self.value, Mapping):
            raise self._malformed("an object")
        return self.value

    def items(self) -> list[Field]:
        """The elements of a list, each with its own path."""
        if self.value is None:
            return []
        if not _is_list(self.value):
            raise self._malformed("a list")
        return [Field(item, f"{self.path}[{index}]") for index, item in enumerate(self.value)]

    def objects(self) -> list[Field]:
        """The elements of a list of objects (each checked to be an object; null is none)."""
        elements = self.items()
        for element in elements:
            if element.object() is None:
                raise element._malformed("an object")
        return elements

    def entries(self) -> list[tuple[str, Field]]:
        """The (key, field) pairs of an object."""
        mapping = self.object()
        return [] if mapping is None else [(str(key), self[str(key)]) for key in mapping]

    def string(self) -> str | None:
        if self.value is None:
            return None
        if not isinstance(self.value, str):
            raise self._malformed("a string")
        return self.value

    def strings(self) -> list[str]:
        """A list of strings."""
        return [item for item in (element.string() for element in self.items()) if item is not None]

    def string_map(self) -> dict[str, str]:
        """An object of string values (labels, node selectors)."""
        result = {}
        for key, field in self.entries():
            value = field.string()
            if value is not None:
                result[key] = value
        return result

    def boolean(self) -> bool | None:
        if self.value is None:
            return None
        if not isinstance(self.value, bool):
            raise self._malformed("a boolean")
        return self.value

    def integer(self) -> int | None:
        """A whole number; numbers arrive over gRPC as floats (3.0 reads as 3)."""
        value = self.value
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise self._malformed("an integer")

    def int_or_percent(self) -> tuple[int, bool] | None:
        """An IntOrString as Kubernetes accepts it for replica counts: ``(3, False)`` or ``(25, True)`` for "25%"."""
        if isinstance(self.value, str):
            if not _PERCENT.match(self.value):
                raise self._malformed("an integer or a percentage such as 25%")
            return int(self.value[:-1]), True
        try:
            count = self.integer()
        except MalformedFieldError:
            raise self._malformed("an integer or a percentage such as 25%") from None
        return None if count is None else (count, False)

    def quantity(self) -> Decimal | None:
        """A Kubernetes quantity ("500m", "1Gi", or a plain number)."""
        value = self.value
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            value = str(value)  # the same range as a written quantity
        if isinstance(value, str):
            try:
                return parse_quantity(value)
            except QuantityError:
                pass
        raise self._malformed("a Kubernetes quantity such as 500m or 1Gi")


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


def autoscaler(resource_type: str, props: Field) -> Autoscaler | None:
    """An HPA's or a ScaledObject's target and bounds, with each API's defaults; None for anything else.

    Raises ``MalformedFieldError`` for a field of the wrong type.
    """
    if resource_type not in AUTOSCALER_TYPES:
        return None
    spec = props["spec"]
    ref = spec["scaleTargetRef"]
    if resource_type == SCALED_OBJECT_TYPE:
        # KEDA's defaults: minReplicaCount 0, maxReplicaCount 100, target kind Deployment.
        kind = ref["kind"].string() or "Deployment"
        fewest, most = spec["minReplicaCount"].integer(), spec["maxReplicaCount"].integer()
        return Autoscaler(
            namespace(props), kind, ref["name"].string() or "", 0 if fewest is None else fewest, most or 100
        )
    fewest = spec["minReplicas"].integer()
    return Autoscaler(
        namespace(props),
        ref["kind"].string() or "",
        ref["name"].string() or "",
        1 if fewest is None else fewest,
        spec["maxReplicas"].integer() or 0,
    )


def is_cluster_scoped(resource_type: str) -> bool:
    """Whether objects of this pulumi-kubernetes type live outside namespaces."""
    return resource_type.rsplit(":", 1)[-1] in CLUSTER_SCOPED_KINDS


def is_workload(resource_type: str) -> bool:
    return resource_type in _TEMPLATE_PATHS


def pod_template(resource_type: str, props: Field) -> Field | None:
    """The pod template (``{metadata, spec}``) of a workload; the object itself for a Pod."""
    path = _TEMPLATE_PATHS.get(resource_type)
    return None if path is None else props.at(*path)


def pod_spec(resource_type: str, props: Field) -> Field | None:
    template = pod_template(resource_type, props)
    return None if template is None else template["spec"]


def pod_labels(resource_type: str, props: Field) -> dict[str, str]:
    template = pod_template(resource_type, props)
    return {} if template is None else template.at("metadata", "labels").string_map()


def containers(spec: Field | None, *, include_init: bool = True) -> Iterator[tuple[str, Field]]:
    """(``"container"`` | ``"init container"`` | ``"ephemeral container"``, container) pairs."""
    if spec is None:
        return
    groups = [("container", "containers")]
    if include_init:
        groups += [("init container", "initContainers"), ("ephemeral container", "ephemeralContainers")]
    for label, key in groups:
        for container in spec[key].objects():
            yield label, container


def describe(label: str, container: Field) -> str:
    """``container 'app'`` for messages; never fails on an odd name."""
    name = container["name"].value
    return f"{label} '{name if isinstance(name, str) else '?'}'"


def namespace(props: Field) -> str:
    """The namespace an object lands in (the provider default when unset)."""
    return props.at("metadata", "namespace").string() or "default"


def name(props: Field, fallback: str) -> str:
    return props.at("metadata", "name").string() or fallback


class LabelSelector:
    """A LabelSelector (matchLabels and matchExpressions) matched against many label sets, each part read once.

    ``selects`` reads the selector in the order a single match reads it and
    stops where the match is decided, so a malformed (``MalformedFieldError``)
    or, in a preview, unknown part is met exactly where reading it afresh
    would meet it; what was read without error is kept for the next match.
    """

    __slots__ = ("_expressions", "_field", "_match_labels", "_read")

    def __init__(self, selector: Field) -> None:
        self._field = selector
        self._match_labels: tuple[tuple[str, str], ...] | None = None
        self._expressions: list[Field] | None = None
        self._read: list[tuple[str, str | None, list[str]]] = []

    def selects(self, labels: Mapping[str, str]) -> bool:
        """Whether the selector selects ``labels``; an absent selector selects nothing."""
        if self._field.object() is None:
            return False
        if self._match_labels is None:
            self._match_labels = tuple(self._field["matchLabels"].string_map().items())
        for key, value in self._match_labels:
            if labels.get(key) != value:
                return False
        if self._expressions is None:
            self._expressions = self._field["matchExpressions"].objects()
        for index, expression in enumerate(self._expressions):
            if index == len(self._read):
                self._read.append(
                    (expression["key"].string() or "", expression["operator"].string(), expression["values"].strings())
                )
            label, operator, values = self._read[index]
            if operator == "In" and labels.get(label) not in values:
                return False
            if operator == "NotIn" and labels.get(label) in values:
                return False
            if operator == "Exists" and label not in labels:
                return False
            if operator == "DoesNotExist" and label in labels:
                return False
        return True


def replicas(props: Field) -> int | None:
    return props.at("spec", "replicas").integer()

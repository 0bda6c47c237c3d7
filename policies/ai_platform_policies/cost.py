"""What a stack costs per month, from what it declares.

Everything that reserves capacity is priced from its *requests* (what the
scheduler sets aside, whether used or not): AI services at their fewest and
most replicas, platform components from the workloads their charts run
(their ``footprint`` output), PersistentVolumeClaims by size and class, and
the volumes each pod claims for itself (generic ephemeral volumes) per replica.
Containers that request nothing are listed as unknown cost, never counted
as zero.

A component is one cost item because of what it declares, not what it is
called: one that registers a ``footprint`` output (a list of parts, each
``{"name", "replicas", "requests", "storage"?, "maxReplicas"?, "gpuType"?}``,
possibly empty) is priced as one item, its parts plus every workload and
claim declared beneath it; its ``costKind`` output names the kind
(``ai-service``, else ``platform``).

The same function serves the offline ``cost`` command, the pull-request diff
and the ``monthly-budget`` policy, so all three agree. It reads resources in
the shape the engine and the offline tool both have: type, URN, parent and
properties.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ai_platform_policies.kube import GPU_RESOURCE, GPU_TYPE_LABEL, Field, autoscaler
from ai_platform_policies.quantity import parse_quantity

GIB = Decimal(2) ** 30
GPU = GPU_RESOURCE
#: On a pod template: how many pods time-slice one GPU (``cluster.gpuSharing``); each pays its share.
GPU_SHARE_LABEL = "ai-platform.io/gpu-share"
#: The output that makes a component one cost item, and the one that names its kind.
FOOTPRINT = "footprint"
COST_KIND = "costKind"
_WORKLOADS = frozenset({"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"})


#: Typical on-demand list prices (USD); a stack's ``pricing`` and the pack config override them.
DEFAULT_PRICES: Mapping[str, Any] = {
    "currency": "USD",
    "vcpuHour": 0.0316,
    "memoryGibHour": 0.0042,
    "gpuHour": {"nvidia-t4": 0.35, "nvidia-l4": 0.71, "nvidia-a100-80gb": 3.67, "nvidia-h100-80gb": 6.98},
    "storageGibMonth": {"default": 0.10},
    "hoursPerMonth": 730,
}


@dataclass(frozen=True)
class Prices:
    """Monthly prices in one currency (see ``PricingConfig`` for the stack-file form)."""

    currency: str
    vcpu_hour: Decimal
    memory_gib_hour: Decimal
    gpu_hour: Mapping[str, Decimal]
    storage_gib_month: Mapping[str, Decimal]
    hours_per_month: Decimal = Decimal(730)

    @classmethod
    def from_mapping(cls, prices: Mapping[str, Any]) -> Prices:
        """From the camelCase form the stack file's ``pricing`` and the pack config share.

        Keys left out take ``DEFAULT_PRICES``.
        """
        merged = {**DEFAULT_PRICES, **prices}
        return cls(
            currency=str(merged["currency"]),
            vcpu_hour=Decimal(str(merged["vcpuHour"])),
            memory_gib_hour=Decimal(str(merged["memoryGibHour"])),
            gpu_hour={str(k): Decimal(str(v)) for k, v in dict(merged["gpuHour"]).items()},
            storage_gib_month={str(k): Decimal(str(v)) for k, v in dict(merged["storageGibMonth"]).items()},
            hours_per_month=Decimal(str(merged["hoursPerMonth"])),
        )


@dataclass(frozen=True)
class Resource:
    """The little the estimate needs of a registered resource."""

    type: str
    urn: str
    name: str
    parent: str | None
    props: Mapping[str, Any]


@dataclass
class Item:
    name: str
    kind: str
    min: Decimal = Decimal(0)
    max: Decimal = Decimal(0)
    unknown: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "kind": self.kind, "min": _money(self.min), "max": _money(self.max)}
        if self.unknown:
            entry["unknown"] = self.unknown
        return entry


@dataclass
class Estimate:
    currency: str
    items: list[Item]

    @property
    def min(self) -> Decimal:
        return sum((item.min for item in self.items), Decimal(0))

    @property
    def max(self) -> Decimal:
        return sum((item.max for item in self.items), Decimal(0))

    @property
    def unknown(self) -> list[str]:
        return [entry for item in self.items for entry in item.unknown]

    def as_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "total": {"min": _money(self.min), "max": _money(self.max)},
            "items": [item.as_json() for item in self.items],
            "unknown": self.unknown,
        }


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


_PRICED = ("cpu", "memory", GPU)


def hourly(requests: Mapping[str, Any], prices: Prices, gpu_type: str | None, gpu_share: int = 1) -> Decimal:
    """Price of one replica's requests for one hour; a time-sliced GPU costs its price over ``gpu_share``."""
    return _hourly(_amounts(requests), prices, gpu_type, gpu_share)


def _amounts(requests: Mapping[str, Any]) -> dict[str, Decimal]:
    return {name: parse_quantity(str(requests.get(name, "0"))) for name in _PRICED}


def _hourly(amounts: Mapping[str, Decimal], prices: Prices, gpu_type: str | None, gpu_share: int) -> Decimal:
    cost = amounts["cpu"] * prices.vcpu_hour + amounts["memory"] / GIB * prices.memory_gib_hour
    if amounts[GPU]:
        cost += amounts[GPU] * _gpu_price(prices, gpu_type) / max(1, gpu_share)
    return cost


def _gpu_share(labels: Mapping[str, Any]) -> int:
    value = str(labels.get(GPU_SHARE_LABEL, "1"))
    return int(value) if value.isdigit() and int(value) > 0 else 1


def _gpu_price(prices: Prices, gpu_type: str | None) -> Decimal:
    if gpu_type and gpu_type in prices.gpu_hour:
        return prices.gpu_hour[gpu_type]
    return max(prices.gpu_hour.values(), default=Decimal(0))  # unknown type: the dearest, never zero


def storage_monthly(size: str, storage_class: str | None, prices: Prices) -> Decimal:
    price = prices.storage_gib_month.get(
        storage_class or "default", prices.storage_gib_month.get("default", Decimal(0))
    )
    return parse_quantity(size) / GIB * price


def estimate(resources: Iterable[Resource], prices: Prices) -> Estimate:
    """One item per AI service and per platform component, with their monthly min and max."""
    resources = list(resources)
    by_urn = {resource.urn: resource for resource in resources}
    items: dict[str, Item] = {}
    hpas = _autoscalers(resources)
    month = prices.hours_per_month

    for resource in resources:
        if not _priced(resource):
            continue
        owner = _owner(resource, by_urn)
        if owner is None:
            # Declared outside our components: still capacity, priced on its own.
            target = items.setdefault(resource.urn, Item(name=resource.name, kind="other"))
        else:
            target = items.setdefault(
                owner.urn, Item(name=owner.name, kind=str(owner.props.get(COST_KIND, "platform")))
            )
        if resource.type in _WORKLOADS:
            _price_workload(resource, target, hpas, prices)
        elif resource.type == "kubernetes:core/v1:PersistentVolumeClaim":
            spec = resource.props.get("spec") or {}
            size = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
            if size:
                cost = storage_monthly(str(size), spec.get("storageClassName"), prices)
                target.min += cost
                target.max += cost
        for part in _footprint(resource):
            requests = part.get("requests")
            label = f"{resource.name}/{part.get('name')}"
            if not requests or not requests.get("cpu") or not requests.get("memory"):
                target.unknown.append(f"{label}: no CPU or memory requests")
                continue
            per_replica = hourly(requests, prices, part.get("gpuType")) * month
            target.min += per_replica * int(part.get("replicas", 1))
            target.max += per_replica * int(part.get("maxReplicas", part.get("replicas", 1)))
            for volume in part.get("storage") or []:
                cost = storage_monthly(str(volume["size"]), volume.get("storageClass"), prices) * int(
                    part.get("replicas", 1)
                )
                target.min += cost
                target.max += cost
    return Estimate(prices.currency, sorted(items.values(), key=lambda item: (item.kind != "ai-service", item.name)))


def _priced(resource: Resource) -> bool:
    return (
        resource.type in _WORKLOADS
        or resource.type == "kubernetes:core/v1:PersistentVolumeClaim"
        or bool(_footprint(resource))
    )


def _owner(resource: Resource, by_urn: Mapping[str, Resource]) -> Resource | None:
    """The nearest resource up the parent chain (itself included) that declares a footprint."""
    current: Resource | None = resource
    while current is not None:
        if _declares_footprint(current):
            return current
        current = by_urn.get(current.parent or "")
    return None


def _declares_footprint(resource: Resource) -> bool:
    footprint = resource.props.get(FOOTPRINT)
    return isinstance(footprint, Sequence) and not isinstance(footprint, str)


def _footprint(resource: Resource) -> list[Mapping[str, Any]]:
    return list(resource.props[FOOTPRINT]) if _declares_footprint(resource) else []


def _autoscalers(resources: list[Resource]) -> dict[tuple[str, str], tuple[int, int]]:
    """(namespace, workload) -> (fewest, most) replicas, from HPAs and KEDA ScaledObjects alike."""
    scaling = {}
    for resource in resources:
        scaler = autoscaler(resource.type, Field(resource.props))
        if scaler is not None:
            scaling[(scaler.namespace, scaler.target)] = (scaler.fewest, scaler.most)
    return scaling


def _price_workload(
    resource: Resource, target: Item, hpas: Mapping[tuple[str, str], tuple[int, int]], prices: Prices
) -> None:
    props = resource.props
    metadata = props.get("metadata") or {}
    key = (str(metadata.get("namespace", "default")), str(metadata.get("name", resource.name)))
    fewest, most = hpas.get(key) or (int((props.get("spec") or {}).get("replicas", 1) or 0),) * 2
    template = (props.get("spec") or {}).get("template") or {}
    pod = template.get("spec") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    gpu_type, gpu_share = labels.get(GPU_TYPE_LABEL), _gpu_share(labels)
    # What the scheduler reserves for a pod: per resource, the sum of its containers' requests or
    # its largest init container's, whichever is more.
    reserved = dict.fromkeys(_PRICED, Decimal(0))
    for container in pod.get("containers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        if not requests.get("cpu") or not requests.get("memory"):
            target.unknown.append(f"{resource.name}/{container.get('name')}: no CPU or memory requests")
            continue
        for name, amount in _amounts(requests).items():
            reserved[name] += amount
    for container in pod.get("initContainers") or []:
        for name, amount in _amounts((container.get("resources") or {}).get("requests") or {}).items():
            reserved[name] = max(reserved[name], amount)
    per_replica = _hourly(reserved, prices, gpu_type, gpu_share)
    month = prices.hours_per_month
    storage = _pod_volumes_monthly(pod, prices)
    target.min += (per_replica * month + storage) * fewest
    target.max += (per_replica * month + storage) * most


def _pod_volumes_monthly(pod: Mapping[str, Any], prices: Prices) -> Decimal:
    """Monthly price of the volumes each pod claims for itself (generic ephemeral volumes)."""
    total = Decimal(0)
    for volume in pod.get("volumes") or []:
        template = ((volume or {}).get("ephemeral") or {}).get("volumeClaimTemplate") or {}
        spec = template.get("spec") or {}
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        if size:
            total += storage_monthly(str(size), spec.get("storageClassName"), prices)
    return total


def from_resources_json(entries: Iterable[Mapping[str, Any]]) -> list[Resource]:
    """Resources as ``render`` writes them to ``resources.json`` (components carry their outputs)."""
    return [
        Resource(
            type=str(entry["type"]),
            urn=str(entry["urn"]),
            name=str(entry["name"]),
            parent=entry.get("parent"),
            props=entry.get("outputs") or entry.get("inputs") or {},
        )
        for entry in entries
    ]


def format_text(stack: str, result: Estimate) -> str:
    currency = result.currency
    lines = [f"stack {stack}: {currency} {result.min:,.2f} to {result.max:,.2f} per month (fewest to most replicas)"]
    width = max([len("item"), *(len(item.name) for item in result.items)])
    low, high = f"min {currency}/month", f"max {currency}/month"
    lines.append(f"  {'kind':<10} {'item':<{width}}  {low:>14}  {high:>14}")
    lines += [
        f"  {item.kind:<10} {item.name:<{width}}  {item.min:>14,.2f}  {item.max:>14,.2f}" for item in result.items
    ]
    lines += [f"  unknown cost: {entry}" for entry in result.unknown]
    return "\n".join(lines)


def format_markdown(stack: str, result: Estimate) -> str:
    currency = result.currency
    lines = [
        f"**{stack}**: {currency} {result.min:,.2f} to {result.max:,.2f} per month (fewest to most replicas)",
        "",
        f"| item | kind | min {currency}/month | max {currency}/month |",
        "| --- | --- | ---: | ---: |",
        *(f"| {item.name} | {item.kind} | {item.min:,.2f} | {item.max:,.2f} |" for item in result.items),
    ]
    if result.unknown:
        lines += ["", "Unknown cost (no requests): " + "; ".join(result.unknown)]
    return "\n".join(lines)

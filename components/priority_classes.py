"""``PriorityClasses``: which pods the scheduler keeps, and which it preempts, when the cluster is full.

GPU nodes are scarce and expensive: when they are full, an inference replica
must be able to displace batch or best-effort work, never the other way round.
Every AI service names one of these classes (``services[].priority``).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kube import PART_OF

#: ``services[].priority`` -> (PriorityClass name, value, preempts lower classes, what it is for)
PRIORITY_CLASSES: dict[str, tuple[str, int, bool, str]] = {
    "inference": ("ai-inference", 100_000, True, "Online inference: answers users; preempts batch work."),
    "batch": ("ai-batch", 10_000, True, "Batch inference and training jobs; preempts best-effort work."),
    "bestEffort": ("ai-best-effort", 1_000, False, "Best-effort work: runs on spare capacity, preempts nothing."),
}


def priority_class_name(priority: str) -> str:
    return PRIORITY_CLASSES[priority][0]


class PriorityClasses(pulumi.ComponentResource):
    """The platform's PriorityClasses (cluster-scoped), far below the system classes (2,000,000,000)."""

    TYPE = "ai-platform:scheduling:PriorityClasses"

    classes: dict[str, k8s.scheduling.v1.PriorityClass]

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        self.classes = {
            priority: k8s.scheduling.v1.PriorityClass(
                f"{name}-{class_name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=class_name, labels={"app.kubernetes.io/part-of": PART_OF}),
                value=value,
                global_default=False,
                preemption_policy="PreemptLowerPriority" if preempts else "Never",
                description=description,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for priority, (class_name, value, preempts, description) in PRIORITY_CLASSES.items()
        }
        self.register_outputs({"classes": [entry[0] for entry in PRIORITY_CLASSES.values()]})

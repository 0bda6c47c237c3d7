"""``Workload``: what one workload of a Helm chart reserves, declared once.

A chart-based add-on declares each workload it runs (replicas, requests and
limits, volumes) as a ``Workload``. Its chart values take ``resources`` and
volume sizes from here, and its cost footprint is generated from the same
object, so what is installed and what is priced cannot disagree.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StrictInt

from model.config.base import Quantity, StrictModel


class Volume(StrictModel):
    """A volume each replica claims."""

    size: Quantity
    storage_class: str | None = None

    def footprint(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"size": self.size}
        if self.storage_class:
            entry["storageClass"] = self.storage_class
        return entry


class Workload(StrictModel):
    """One workload a chart runs: how many replicas, what each requests and may use, what it stores."""

    name: str
    """Its name in the cost report (e.g. ``controller``)."""
    replicas: Annotated[StrictInt, Field(ge=0)] = 1
    """Replicas; a DaemonSet is priced for one node and says so in its name. A Helm hook Job
    (it runs at install and upgrade, then ends) or an init container has 0: it needs requests
    to be scheduled but reserves nothing while the workload runs."""
    containers: Annotated[StrictInt, Field(ge=1)] = 1
    """Containers per replica that one chart value sizes alike (e.g. every Grafana sidecar)."""
    cpu: Quantity
    memory: Quantity
    cpu_limit: Quantity | None = None
    """Defaults to the CPU request."""
    memory_limit: Quantity | None = None
    """Defaults to the memory request (no memory overcommit)."""
    storage: tuple[Volume, ...] = ()

    @property
    def requests(self) -> dict[str, str]:
        return {"cpu": self.cpu, "memory": self.memory}

    def resources(self) -> dict[str, dict[str, str]]:
        """The chart's ``resources`` value: requests and limits."""
        return {
            "requests": self.requests,
            "limits": {"cpu": self.cpu_limit or self.cpu, "memory": self.memory_limit or self.memory},
        }

    def footprint(self) -> dict[str, Any]:
        """One part of the add-on's ``footprint`` output, as the cost model reads it."""
        entry: dict[str, Any] = {
            "name": self.name,
            "replicas": self.replicas * self.containers,
            "requests": self.requests,
        }
        if self.storage:
            entry["storage"] = [volume.footprint() for volume in self.storage]
        return entry

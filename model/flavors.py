"""What each kind of cluster already runs and lets Prometheus see: one table, with sources.

A managed control plane (EKS, GKE, AKS) hides the controller-manager,
scheduler and etcd, and kube-proxy binds its metrics to ``127.0.0.1:10249``
everywhere by default; kind's and k3s' components are not scrapable either
(kind keeps kubeadm's ``127.0.0.1`` bind addresses, k3s runs them inside its
server process). kube-prometheus-stack would still create Services for them,
find no targets, and fire ``KubeSchedulerDown``, ``KubeControllerManagerDown``
and ``KubeProxyDown`` as critical after 15 minutes (chart 65.0.0
``templates/prometheus/rules-1.14/kubernetes-system-*.yaml``: ``absent(up{job=...} == 1)``).
AKS, GKE and k3s also ship their own metrics-server: a second one collides on
``APIService v1beta1.metrics.k8s.io`` and ``ClusterRole system:metrics-server``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

ClusterFlavor = Literal["eks", "gke", "aks", "kubeadm", "k3s", "kind", "generic"]

#: kube-prometheus-stack's control-plane targets (``<key>.enabled``) and the ``defaultRules.rules``
#: switches of the rules that watch each (chart 65.0.0 values.yaml; the scheduler has two groups).
CONTROL_PLANE_RULES: Mapping[str, tuple[str, ...]] = {
    "kubeControllerManager": ("kubeControllerManager",),
    "kubeScheduler": ("kubeSchedulerAlerting", "kubeSchedulerRecording"),
    "kubeProxy": ("kubeProxy",),
    "kubeEtcd": ("etcd",),
}


@dataclass(frozen=True)
class Flavor:
    """What one kind of cluster needs from the platform's monitoring and metrics-server."""

    scraped: frozenset[str]
    """Control-plane components (``CONTROL_PLANE_RULES`` keys) Prometheus can reach."""
    bundled_metrics_server: str | None
    """Why the cluster's own metrics-server rules out ours; None when it has none."""
    kubelet_insecure_tls: bool
    """The kubelets serve self-signed certificates, so metrics-server needs ``--kubelet-insecure-tls``."""
    source: str


_ALL = frozenset(CONTROL_PLANE_RULES)
_NONE: frozenset[str] = frozenset()

FLAVORS: Mapping[ClusterFlavor, Flavor] = {
    "eks": Flavor(
        _NONE,
        None,
        False,
        "managed control plane; metrics-server 'isn't deployed by default in Amazon EKS clusters' "
        "(docs.aws.amazon.com/eks/latest/userguide/metrics-server.html); kube-proxy metrics on 127.0.0.1:10249",
    ),
    "gke": Flavor(
        _NONE,
        "GKE ships metrics-server as a managed add-on in kube-system (kubernetes-sigs/metrics-server#190)",
        False,
        "managed control plane; APIService v1beta1.metrics.k8s.io reconciled by GKE's addon-manager",
    ),
    "aks": Flavor(
        _NONE,
        "AKS deploys metrics-server in every cluster since Kubernetes 1.10 (AKS tutorial 'Scale applications')",
        False,
        "managed control plane",
    ),
    "kubeadm": Flavor(
        _ALL,
        None,
        False,
        "self-managed control plane as static pods: bind controller-manager, scheduler, etcd metrics and "
        "kube-proxy's metricsBindAddress to a reachable address (kubeadm's default is 127.0.0.1)",
    ),
    "k3s": Flavor(
        _NONE,
        "k3s packages metrics-server (docs.k3s.io/installation/packaged-components); disable it with "
        "`--disable metrics-server` and use `generic` to install ours",
        True,
        "control-plane components run inside the k3s server process: no pods for the chart's Services to select",
    ),
    "kind": Flavor(
        _NONE,
        None,
        True,
        "kubeadm defaults (127.0.0.1 bind addresses) and self-signed kubelet serving certificates",
    ),
    "generic": Flavor(_ALL, None, False, "no assumptions: every target scraped, as the chart does by default"),
}

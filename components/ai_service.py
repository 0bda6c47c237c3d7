"""``AiService``: the unit every AI microservice of the platform is declared with.

From one validated ``ServiceConfig`` it declares what a production inference
service needs on Kubernetes: its identity (ServiceAccount), the workload
(Deployment, hardened to the restricted Pod Security Standard), how it is
reached (Service, NetworkPolicy, optional TLS Ingress), how it scales and
survives node drains (HorizontalPodAutoscaler, PodDisruptionBudget), and its
configuration (ConfigMap for plain env, Secret for secret env).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.kube import (
    http_probe,
    namespace_peer,
    restricted_container_security_context,
    restricted_pod_security_context,
    selector_labels,
    standard_labels,
    tls_ingress_spec,
)
from model.config import ClusterConfig, Environment, ServiceConfig

#: Secret env values are mounted as files here; ``<NAME>_FILE`` points at each.
SECRETS_MOUNT_PATH = "/var/run/secrets/ai-platform"
HTTP_PORT_NAME = "http"
GPU_TYPE_LABEL = "ai-platform.io/gpu-type"
SERVICE_PORT = 80


@dataclass(frozen=True)
class AiServiceArgs:
    """What an ``AiService`` is built from: validated config plus resolved inputs."""

    service: ServiceConfig
    environment: Environment
    cluster: ClusterConfig
    image: pulumi.Input[str]
    """The image to run; a digest reference in prod."""
    secret_values: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Values of ``service.secret_env``, as Pulumi secrets."""
    image_pull_secret: str | None = None
    """Pull secret of the platform registry in the service's namespace."""


class AiService(pulumi.ComponentResource):
    """One AI microservice and everything it needs to run, scale and be reached."""

    namespace: pulumi.Output[str]
    url: pulumi.Output[str]
    """In-cluster URL, e.g. ``http://text-classifier.ai-services.svc.cluster.local``."""
    external_url: pulumi.Output[str | None]
    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service

    TYPE = "ai-platform:services:AiService"

    def __init__(self, name: str, args: AiServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        self._args = args
        config = args.service
        self._labels = standard_labels(config.name, "ai-service", args.environment)
        self._selector = selector_labels(config.name)
        child = pulumi.ResourceOptions(parent=self)

        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=self._metadata(config.name),
            automount_service_account_token=False,
            image_pull_secrets=(
                [k8s.core.v1.LocalObjectReferenceArgs(name=args.image_pull_secret)] if args.image_pull_secret else None
            ),
            opts=child,
        )
        env_config = self._env_config_map(name, child)
        secret_env = self._secret_env(name, child)
        self.deployment = k8s.apps.v1.Deployment(
            name,
            metadata=self._metadata(config.name),
            spec=self._deployment_spec(account, env_config, secret_env),
            opts=child,
        )
        self.service = k8s.core.v1.Service(
            name,
            metadata=self._metadata(config.name),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=self._selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name=HTTP_PORT_NAME, port=SERVICE_PORT, target_port=HTTP_PORT_NAME, protocol="TCP"
                    )
                ],
            ),
            opts=child,
        )
        if config.autoscaling is not None:
            self._autoscaler(name, child)
        if config.max_replicas > 1:
            self._disruption_budget(name, child)
        self._network_policy(name, child)
        ingress = self._ingress(name, child) if config.ingress is not None else None

        self.namespace = pulumi.Output.from_input(config.namespace)
        self.url = pulumi.Output.from_input(f"http://{config.name}.{config.namespace}.svc.cluster.local")
        self.external_url = (
            ingress.metadata.apply(lambda _: f"https://{config.ingress.host}{config.ingress.path}")  # type: ignore[union-attr]
            if ingress is not None
            else pulumi.Output.from_input(None)
        )
        self.register_outputs(
            {
                "namespace": self.namespace,
                "url": self.url,
                "externalUrl": self.external_url,
                # One cost item: its Deployment and autoscaler declare all it reserves.
                "footprint": [],
                "costKind": "ai-service",
            }
        )

    # --- pieces ----------------------------------------------------------

    def _metadata(self, name: str, **annotations: str) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=self._args.service.namespace,
            labels=self._labels,
            annotations=annotations or None,
        )

    def _env_config_map(self, name: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.ConfigMap | None:
        """Plain env. Auto-named, so a change replaces it and rolls the pods."""
        config = self._args.service
        if not config.env:
            return None
        return k8s.core.v1.ConfigMap(
            f"{name}-env",
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=config.namespace, labels=self._labels),
            data=dict(config.env),
            immutable=True,
            opts=opts,
        )

    def _secret_env(self, name: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret | None:
        """Secret env, mounted as files (not env vars, which leak into logs and dumps)."""
        config = self._args.service
        if not config.secret_env:
            return None
        return k8s.core.v1.Secret(
            f"{name}-secret-env",
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=config.namespace, labels=self._labels),
            type="Opaque",
            string_data={key: pulumi.Output.secret(self._args.secret_values[key]) for key in config.secret_env},
            immutable=True,
            opts=opts,
        )

    def _deployment_spec(
        self,
        account: k8s.core.v1.ServiceAccount,
        env_config: k8s.core.v1.ConfigMap | None,
        secret_env: k8s.core.v1.Secret | None,
    ) -> k8s.apps.v1.DeploymentSpecArgs:
        config = self._args.service
        prod = self._args.environment == "prod"
        volumes = [k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi"))]
        mounts = [k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")]
        env: list[k8s.core.v1.EnvVarArgs] = []
        env_from: list[k8s.core.v1.EnvFromSourceArgs] = []
        if env_config is not None:
            env_from.append(
                k8s.core.v1.EnvFromSourceArgs(
                    config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=env_config.metadata.name)
                )
            )
        if secret_env is not None:
            volumes.append(
                k8s.core.v1.VolumeArgs(
                    name="secret-env",
                    secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=secret_env.metadata.name, default_mode=0o440),
                )
            )
            mounts.append(k8s.core.v1.VolumeMountArgs(name="secret-env", mount_path=SECRETS_MOUNT_PATH, read_only=True))
            env.extend(
                k8s.core.v1.EnvVarArgs(name=f"{key}_FILE", value=f"{SECRETS_MOUNT_PATH}/{key}")
                for key in config.secret_env
            )
        health = config.health
        container = k8s.core.v1.ContainerArgs(
            name=config.name,
            image=self._args.image,
            image_pull_policy="IfNotPresent",
            ports=[k8s.core.v1.ContainerPortArgs(name=HTTP_PORT_NAME, container_port=config.port, protocol="TCP")],
            env=env or None,
            env_from=env_from or None,
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests=config.resources.requests, limits=config.resources.limits
            ),
            startup_probe=http_probe(
                health.liveness_path,
                HTTP_PORT_NAME,
                period_seconds=5,
                failure_threshold=max(1, health.startup_timeout_seconds // 5),
            ),
            liveness_probe=http_probe(health.liveness_path, HTTP_PORT_NAME, period_seconds=10, failure_threshold=3),
            readiness_probe=http_probe(health.readiness_path, HTTP_PORT_NAME, period_seconds=5, failure_threshold=2),
            security_context=restricted_container_security_context(),
            volume_mounts=mounts,
        )
        node_selector, tolerations = self._gpu_placement()
        return k8s.apps.v1.DeploymentSpecArgs(
            # With an autoscaler the HPA owns the replica count; declaring it
            # here too would make every `pulumi up` fight the HPA.
            replicas=None if config.autoscaling is not None else config.replicas,
            revision_history_limit=5,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._selector),
            strategy=k8s.apps.v1.DeploymentStrategyArgs(
                type="RollingUpdate",
                # prod: surge first, never below the desired count; elsewhere
                # replace in place, so no spare (GPU) capacity is needed.
                rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                    max_surge=1 if prod else 0,
                    max_unavailable=0 if prod else 1,
                ),
            ),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=self._pod_labels()),
                spec=k8s.core.v1.PodSpecArgs(
                    service_account_name=account.metadata.name,
                    automount_service_account_token=False,
                    security_context=restricted_pod_security_context(),
                    termination_grace_period_seconds=config.termination_grace_period_seconds,
                    containers=[container],
                    volumes=volumes,
                    topology_spread_constraints=self._spread() if config.max_replicas > 1 else None,
                    node_selector=node_selector,
                    tolerations=tolerations,
                ),
            ),
        )

    def _pod_labels(self) -> dict[str, str]:
        """The standard labels, and the GPU model of GPU services (for placement reports and cost)."""
        resources = self._args.service.resources
        return {**self._labels, GPU_TYPE_LABEL: resources.gpu_type} if resources.gpu else self._labels

    def _spread(self) -> list[k8s.core.v1.TopologySpreadConstraintArgs]:
        """Spread replicas across nodes (hard in prod) and zones (best effort)."""
        selector = k8s.meta.v1.LabelSelectorArgs(match_labels=self._selector)
        hard = "DoNotSchedule" if self._args.environment == "prod" else "ScheduleAnyway"
        return [
            k8s.core.v1.TopologySpreadConstraintArgs(
                max_skew=1, topology_key="kubernetes.io/hostname", when_unsatisfiable=hard, label_selector=selector
            ),
            k8s.core.v1.TopologySpreadConstraintArgs(
                max_skew=1,
                topology_key="topology.kubernetes.io/zone",
                when_unsatisfiable="ScheduleAnyway",
                label_selector=selector,
            ),
        ]

    def _gpu_placement(self) -> tuple[dict[str, str] | None, list[k8s.core.v1.TolerationArgs] | None]:
        """GPU services go to GPU nodes and tolerate their taint; others never do."""
        if not self._args.service.resources.gpu:
            return None, None
        cluster = self._args.cluster
        toleration = k8s.core.v1.TolerationArgs(key=cluster.gpu_taint_key, operator="Exists", effect="NoSchedule")
        return dict(cluster.gpu_node_selector), [toleration]

    def _autoscaler(self, name: str, opts: pulumi.ResourceOptions) -> None:
        config = self._args.service
        scaling = config.autoscaling
        assert scaling is not None
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            name,
            metadata=self._metadata(config.name),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=self.deployment.metadata.name
                ),
                min_replicas=scaling.min_replicas,
                max_replicas=scaling.max_replicas,
                metrics=[
                    k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu",
                            target=k8s.autoscaling.v2.MetricTargetArgs(
                                type="Utilization", average_utilization=scaling.target_cpu_utilization
                            ),
                        ),
                    )
                ],
                behavior=k8s.autoscaling.v2.HorizontalPodAutoscalerBehaviorArgs(
                    # Model servers are slow to start: scale down cautiously.
                    scale_down=k8s.autoscaling.v2.HPAScalingRulesArgs(stabilization_window_seconds=300),
                ),
            ),
            opts=opts,
        )

    def _disruption_budget(self, name: str, opts: pulumi.ResourceOptions) -> None:
        """At most one replica evicted at a time; never blocks a node drain."""
        config = self._args.service
        k8s.policy.v1.PodDisruptionBudget(
            name,
            metadata=self._metadata(config.name),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._selector),
                # Pods that are not ready (crash-looping) may always be evicted.
                unhealthy_pod_eviction_policy="AlwaysAllow",
            ),
            opts=opts,
        )

    def _network_policy(self, name: str, opts: pulumi.ResourceOptions) -> None:
        """Only the ingress controller and monitoring may open connections to the pods."""
        config = self._args.service
        cluster = self._args.cluster
        peers = [namespace_peer(namespace) for namespace in (cluster.ingress_namespace, cluster.monitoring_namespace)]
        k8s.networking.v1.NetworkPolicy(
            name,
            metadata=self._metadata(config.name),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._selector),
                policy_types=["Ingress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=peers,
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=HTTP_PORT_NAME, protocol="TCP")],
                    )
                ],
            ),
            opts=opts,
        )

    def _ingress(self, name: str, opts: pulumi.ResourceOptions) -> k8s.networking.v1.Ingress:
        config = self._args.service
        ingress = config.ingress
        assert ingress is not None
        cluster = self._args.cluster
        return k8s.networking.v1.Ingress(
            name,
            metadata=self._metadata(
                config.name,
                **{
                    "cert-manager.io/cluster-issuer": cluster.cluster_issuer,
                    "nginx.ingress.kubernetes.io/proxy-body-size": ingress.max_body_size,
                    "nginx.ingress.kubernetes.io/proxy-read-timeout": str(ingress.read_timeout_seconds),
                    "nginx.ingress.kubernetes.io/proxy-send-timeout": str(ingress.read_timeout_seconds),
                },
            ),
            spec=tls_ingress_spec(
                host=ingress.host,
                path=ingress.path,
                service_name=self.service.metadata.name,
                port_name=HTTP_PORT_NAME,
                ingress_class=cluster.ingress_class_name,
            ),
            opts=opts,
        )

"""``AiService``: the unit every AI microservice of the platform is declared with.

From one validated ``ServiceConfig`` it declares what a production inference
service needs on Kubernetes: its identity (ServiceAccount), the workload
(Deployment, hardened to the restricted Pod Security Standard), how it is
reached (Service, NetworkPolicy, optional TLS Ingress), how it scales and
survives node drains (HorizontalPodAutoscaler, PodDisruptionBudget), and its
configuration (ConfigMap for plain env, Secret for secret env).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from ai_platform_policies.cost import GPU_SHARE_LABEL
from ai_platform_policies.kube import GPU_PRODUCT_LABEL, GPU_PRODUCTS, GPU_TYPE_LABEL
from components.addons.nvidia_device_plugin import SHARED_PRODUCT_SUFFIX
from components.autoscaling import WAKE_ONLY_THRESHOLD, ingress_request_query, load_query, prometheus_trigger
from components.kube import (
    http_probe,
    namespace_peer,
    restricted_container_security_context,
    restricted_pod_security_context,
    selector_labels,
    service_peer,
    spread_constraints,
    standard_labels,
    tls_ingress_spec,
)
from components.priority_classes import priority_class_name
from model.config import ClusterConfig, Environment, ServiceConfig
from model.config.services import EgressRule

#: Secret env values are mounted as files here; ``<NAME>_FILE`` points at each.
SECRETS_MOUNT_PATH = "/var/run/secrets/ai-platform"
HTTP_PORT_NAME = "http"
METRICS_PORT_NAME = "metrics"
SERVICE_PORT = 80
MODEL_VOLUME = "model"
MODEL_FETCHER = "model-fetcher"
MODEL_CREDENTIALS = "model-credentials"
#: Where the fetcher finds the secrets of ``model.credentialEnv``, one file per name.
FETCHER_CREDENTIALS = "/var/run/secrets/model-fetcher"
#: The fetcher's requests and limits: a download is network-bound. A pod reserves the larger of
#: its init and its app containers' requests, so this adds nothing next to a model server's.
FETCHER_RESOURCES = {"cpu": "250m", "memory": "256Mi"}


def gpu_products(gpu_type: str, cluster: ClusterConfig) -> list[str]:
    """The ``nvidia.com/gpu.product`` values of a GPU type's nodes (GFD renames shared GPUs)."""
    suffix = SHARED_PRODUCT_SUFFIX if cluster.gpu_sharing is not None else ""
    return [f"{product}{suffix}" for product in GPU_PRODUCTS[gpu_type]]


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
    kubernetes_version: str = "1.31"
    """The cluster's minor version (the native ``sleep`` preStop action needs 1.30)."""
    services: Mapping[str, ServiceConfig] = field(default_factory=dict)
    """Every AI service of the stack by name: whom this one may call, and who may call it."""
    prometheus_url: str | None = None
    """The platform's Prometheus, which KEDA asks for load metrics."""
    keda: Sequence[pulumi.Resource] = ()
    """What must exist before a ScaledObject (KEDA's release, with its CRDs)."""


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
            opts=pulumi.ResourceOptions.merge(child, self._deployment_options()),
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
                    ),
                    # Only Prometheus reaches it (NetworkPolicy); the ingress routes to `http` alone.
                    k8s.core.v1.ServicePortArgs(
                        name=METRICS_PORT_NAME,
                        port=config.metrics_port,
                        target_port=METRICS_PORT_NAME,
                        protocol="TCP",
                    ),
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

    def _deployment_options(self) -> pulumi.ResourceOptions:
        """How long Pulumi waits for a rollout, and who owns ``spec.replicas``.

        Pulumi waits for every replica to become Ready; a rolling update
        replaces them one at a time, so the wait is the startup budget per
        replica at the most replicas. With an autoscaler, ``spec.replicas`` is
        declared (the first rollout starts at the minimum, not Kubernetes'
        default of 1) but ignored on updates: pulumi-kubernetes then sends the
        live value while it still owns the field and drops it once the
        autoscaler has taken it over (provider/pkg/await/await.go,
        ``handleSSAIgnoreFields``), so adding autoscaling to a running service
        never falls back to one replica and later updates never fight the HPA.
        """
        config = self._args.service
        wait = f"{config.startup_budget_seconds * max(1, config.max_replicas)}s"
        return pulumi.ResourceOptions(
            custom_timeouts=pulumi.CustomTimeouts(create=wait, update=wait),
            ignore_changes=["spec.replicas"] if config.autoscaling is not None else None,
        )

    def _pre_stop(self) -> k8s.core.v1.LifecycleArgs | None:
        """A pause before SIGTERM: endpoints and the ingress controller stop routing to the pod first."""
        seconds = self._args.service.health.pre_stop_seconds
        if not seconds:
            return None
        minor = int(self._args.kubernetes_version.split(".")[1])
        if minor >= 30:  # the sleep action is beta (on by default) from 1.30: no binary needed in the image
            handler = k8s.core.v1.LifecycleHandlerArgs(sleep=k8s.core.v1.SleepActionArgs(seconds=seconds))
        else:
            handler = k8s.core.v1.LifecycleHandlerArgs(
                exec_=k8s.core.v1.ExecActionArgs(command=["sleep", str(seconds)])
            )
        return k8s.core.v1.LifecycleArgs(pre_stop=handler)

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
        env: list[k8s.core.v1.EnvVarArgs] = [
            k8s.core.v1.EnvVarArgs(name="METRICS_PORT", value=str(config.metrics_port)),
        ]
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
        init_containers = None
        if config.model is not None:
            volumes.append(self._model_volume())
            mounts.append(
                k8s.core.v1.VolumeMountArgs(name=MODEL_VOLUME, mount_path=config.model.mount_path, read_only=True)
            )
            env.append(k8s.core.v1.EnvVarArgs(name="MODEL_DIR", value=config.model.mount_path))
            if config.model.fetched:
                init_containers = [self._model_fetcher(env_from)]
            if config.model.credential_env:
                volumes.append(self._model_credentials(secret_env))
        health = config.health
        container = k8s.core.v1.ContainerArgs(
            name=config.name,
            image=self._args.image,
            image_pull_policy="IfNotPresent",
            ports=[
                k8s.core.v1.ContainerPortArgs(name=HTTP_PORT_NAME, container_port=config.port, protocol="TCP"),
                k8s.core.v1.ContainerPortArgs(
                    name=METRICS_PORT_NAME, container_port=config.metrics_port, protocol="TCP"
                ),
            ],
            env=env,
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
            lifecycle=self._pre_stop(),
            security_context=restricted_container_security_context(),
            volume_mounts=mounts,
        )
        node_selector, tolerations = self._gpu_placement()
        return k8s.apps.v1.DeploymentSpecArgs(
            # With an autoscaler, the first rollout starts at its minimum; after
            # that the HPA owns the count (see _deployment_options).
            replicas=config.min_replicas,
            revision_history_limit=5,
            # The controller marks a rollout failed when no replica became available for this long.
            progress_deadline_seconds=config.startup_budget_seconds,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._selector),
            strategy=self._rollout(prod),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=self._pod_labels()),
                spec=k8s.core.v1.PodSpecArgs(
                    service_account_name=account.metadata.name,
                    automount_service_account_token=False,
                    security_context=restricted_pod_security_context(),
                    termination_grace_period_seconds=config.termination_grace_period_seconds,
                    init_containers=init_containers,
                    containers=[container],
                    volumes=volumes,
                    topology_spread_constraints=(
                        spread_constraints(self._selector, self._args.environment) if config.max_replicas > 1 else None
                    ),
                    node_selector=node_selector,
                    tolerations=tolerations,
                    affinity=self._gpu_affinity(),
                    priority_class_name=priority_class_name(config.priority),
                ),
            ),
        )

    def _model_volume(self) -> k8s.core.v1.VolumeArgs:
        """The model: an existing claim (read-only), or a download cache each pod gets for its own life.

        The cache is a generic ephemeral volume: a PersistentVolumeClaim on
        ``storageClass`` created with the pod and deleted with it, so a large
        model lands on a real disk (not the node's root filesystem, as an
        emptyDir would) and replicas never share or fight over one copy.
        """
        model = self._args.service.model
        assert model is not None
        if not model.fetched:
            return k8s.core.v1.VolumeArgs(
                name=MODEL_VOLUME,
                persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                    claim_name=model.claim, read_only=True
                ),
            )
        assert model.size is not None, "validated: downloaded sources have a size"
        return k8s.core.v1.VolumeArgs(
            name=MODEL_VOLUME,
            ephemeral=k8s.core.v1.EphemeralVolumeSourceArgs(
                volume_claim_template=k8s.core.v1.PersistentVolumeClaimTemplateArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=self._labels),
                    spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                        access_modes=["ReadWriteOnce"],
                        storage_class_name=model.storage_class,
                        resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": model.size}),
                    ),
                )
            ),
        )

    def _model_fetcher(self, env_from: list[k8s.core.v1.EnvFromSourceArgs]) -> k8s.core.v1.ContainerArgs:
        """The init container that downloads the model into the cache before the server starts.

        Restricted like the server (non-root, read-only root filesystem, no
        capabilities); it writes only the cache and ``/tmp`` (its ``HOME``). It
        gets the service's plain env (e.g. ``AWS_REGION``, ``AWS_ENDPOINT_URL``)
        and, as files, only the secrets named in ``model.credentialEnv``,
        which its command exports for the tool alone.
        """
        model = self._args.service.model
        assert model is not None and model.fetcher_image is not None
        mounts = [
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            k8s.core.v1.VolumeMountArgs(name=MODEL_VOLUME, mount_path=model.mount_path),
        ]
        if model.credential_env:
            mounts.append(
                k8s.core.v1.VolumeMountArgs(name=MODEL_CREDENTIALS, mount_path=FETCHER_CREDENTIALS, read_only=True)
            )
        return k8s.core.v1.ContainerArgs(
            name=MODEL_FETCHER,
            image=model.fetcher_image,
            image_pull_policy="IfNotPresent",
            command=model.fetch_command(model.mount_path, FETCHER_CREDENTIALS),
            env=[
                k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp"),
                k8s.core.v1.EnvVarArgs(name="HF_HUB_DISABLE_TELEMETRY", value="1"),
            ],
            env_from=env_from or None,
            resources=k8s.core.v1.ResourceRequirementsArgs(requests=FETCHER_RESOURCES, limits=FETCHER_RESOURCES),
            security_context=restricted_container_security_context(),
            volume_mounts=mounts,
        )

    def _model_credentials(self, secret_env: k8s.core.v1.Secret | None) -> k8s.core.v1.VolumeArgs:
        """Only the secrets the download needs, as files, for the fetcher alone."""
        model = self._args.service.model
        assert model is not None and secret_env is not None, "validated: credentials are secretEnv names"
        return k8s.core.v1.VolumeArgs(
            name=MODEL_CREDENTIALS,
            secret=k8s.core.v1.SecretVolumeSourceArgs(
                secret_name=secret_env.metadata.name,
                default_mode=0o440,
                items=[k8s.core.v1.KeyToPathArgs(key=name, path=name) for name in model.credential_env],
            ),
        )

    def _rollout(self, prod: bool) -> k8s.apps.v1.DeploymentStrategyArgs:
        """Surge first in prod (never below the desired count); replace in place elsewhere and for GPUs.

        A surge pod needs one more GPU than the service holds: on a full GPU
        pool it would stay Pending until the progress deadline fails the
        rollout. GPU services therefore replace one replica at a time; prod's
        minimum of replicas (the policy pack) and the PodDisruptionBudget keep
        all but one serving throughout.
        """
        surge = prod and not self._args.service.resources.gpu
        return k8s.apps.v1.DeploymentStrategyArgs(
            type="RollingUpdate",
            rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                max_surge=1 if surge else 0, max_unavailable=0 if surge else 1
            ),
        )

    def _gpu_affinity(self) -> k8s.core.v1.AffinityArgs | None:
        """GPU services run only on nodes with their GPU model, as GPU feature discovery labels them."""
        resources = self._args.service.resources
        if not resources.gpu:
            return None
        return k8s.core.v1.AffinityArgs(
            node_affinity=k8s.core.v1.NodeAffinityArgs(
                required_during_scheduling_ignored_during_execution=k8s.core.v1.NodeSelectorArgs(
                    node_selector_terms=[
                        k8s.core.v1.NodeSelectorTermArgs(
                            match_expressions=[
                                k8s.core.v1.NodeSelectorRequirementArgs(
                                    key=GPU_PRODUCT_LABEL,
                                    operator="In",
                                    values=gpu_products(resources.gpu_type, self._args.cluster),
                                )
                            ]
                        )
                    ]
                )
            )
        )

    def _pod_labels(self) -> dict[str, str]:
        """The standard labels, and the GPU model and sharing of GPU services (for placement reports and cost)."""
        resources = self._args.service.resources
        if not resources.gpu:
            return self._labels
        labels = {**self._labels, GPU_TYPE_LABEL: resources.gpu_type}
        sharing = self._args.cluster.gpu_sharing
        if sharing is not None:
            labels[GPU_SHARE_LABEL] = str(sharing.replicas)
        return labels

    def _gpu_placement(self) -> tuple[dict[str, str] | None, list[k8s.core.v1.TolerationArgs] | None]:
        """GPU services go to GPU nodes and tolerate their taint; others never do."""
        if not self._args.service.resources.gpu:
            return None, None
        cluster = self._args.cluster
        toleration = k8s.core.v1.TolerationArgs(key=cluster.gpu_taint_key, operator="Exists", effect="NoSchedule")
        return dict(cluster.gpu_node_selector), [toleration]

    def _autoscaler(self, name: str, opts: pulumi.ResourceOptions) -> None:
        """CPU: a HorizontalPodAutoscaler. Load metrics: a KEDA ScaledObject (which runs its own HPA); never both."""
        config = self._args.service
        scaling = config.autoscaling
        assert scaling is not None
        if scaling.uses_keda:
            self._scaled_object(name, opts)
            return
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
                                type="Utilization", average_utilization=int(scaling.per_replica_target)
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

    def _scaled_object(self, name: str, opts: pulumi.ResourceOptions) -> None:
        """A KEDA ScaledObject on the service's own metric contract, read from the platform's Prometheus.

        The query returns the service's total (request rate or requests in
        flight over every replica); ``AverageValue`` makes the HPA KEDA runs
        hold total/replicas near ``target``. Scaled to zero there are no pods
        and so no series of its own: a second trigger on the ingress
        controller's request counter for the service's Ingress wakes it.
        """
        config = self._args.service
        scaling = config.autoscaling
        assert scaling is not None and self._args.prometheus_url is not None, "validated: KEDA needs monitoring"
        triggers = [
            prometheus_trigger(self._args.prometheus_url, load_query(config), scaling.per_replica_target, "load")
        ]
        if scaling.min_replicas == 0:
            # Only wakes the service: a threshold no ingress rate reaches never drives the replica count.
            triggers.append(
                prometheus_trigger(
                    self._args.prometheus_url,
                    ingress_request_query(config),
                    WAKE_ONLY_THRESHOLD,
                    "wake",
                    activation=scaling.activation_target,
                )
            )
        k8s.apiextensions.CustomResource(
            f"{name}-scaler",
            api_version="keda.sh/v1alpha1",
            kind="ScaledObject",
            metadata=self._metadata(config.name),
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": config.name},
                "minReplicaCount": scaling.min_replicas,
                "maxReplicaCount": scaling.max_replicas,
                "pollingInterval": 15,
                # How long a scaled-to-zero candidate must be idle before its last replica goes.
                "cooldownPeriod": 300,
                "advanced": {
                    "horizontalPodAutoscalerConfig": {
                        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
                    }
                },
                "triggers": triggers,
            },
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(self._args.keda))),
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
        """Who may connect to the pods, and where they may connect; the namespace denies everything else.

        In: the ingress controller on the serving port, Prometheus on the
        metrics port, and the services whose ``egress`` names this one. Out:
        the service's ``egress`` list (DNS is allowed namespace-wide).
        """
        config = self._args.service
        cluster = self._args.cluster
        http = [k8s.networking.v1.NetworkPolicyPortArgs(port=HTTP_PORT_NAME, protocol="TCP")]
        ingress = [
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[namespace_peer(cluster.ingress_namespace)], ports=http
            ),
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[namespace_peer(cluster.monitoring_namespace)],
                ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=METRICS_PORT_NAME, protocol="TCP")],
            ),
        ]
        callers = [caller for caller in self._args.services.values() if self._calls_me(caller)]
        if callers:
            ingress.append(
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[service_peer(caller.namespace, caller.name) for caller in callers], ports=http
                )
            )
        k8s.networking.v1.NetworkPolicy(
            name,
            metadata=self._metadata(config.name),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._selector),
                policy_types=["Ingress", "Egress"],
                ingress=ingress,
                egress=[self._egress_rule(rule) for rule in config.egress],
            ),
            opts=opts,
        )

    def _calls_me(self, caller: ServiceConfig) -> bool:
        return any(rule.service == self._args.service.name for rule in caller.egress)

    def _egress_rule(self, rule: EgressRule) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
        def tcp(ports: list[int] | list[str]) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
            return [k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP") for port in ports]

        if rule.service is not None:
            target = self._args.services[rule.service]
            return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[service_peer(target.namespace, target.name)], ports=tcp(rule.ports or [target.port])
            )
        if rule.namespace is not None:
            return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[namespace_peer(rule.namespace)], ports=tcp(rule.ports)
            )
        return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
            to=[
                k8s.networking.v1.NetworkPolicyPeerArgs(
                    ip_block=k8s.networking.v1.IPBlockArgs(cidr=str(rule.cidr), except_=list(rule.except_) or None)
                )
            ],
            ports=tcp(rule.ports),
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

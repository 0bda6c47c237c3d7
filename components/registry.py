"""``ContainerRegistry``: the platform's private registry for AI service images.

CNCF Distribution as our own resources (not a chart): a rendered
``config.yml``, token auth from ``RegistryTokenServer`` (CI pushes, nodes
only pull, nobody deletes), a PersistentVolumeClaim
(protected in prod), a single hardened replica (filesystem storage on a
ReadWriteOnce volume cannot be shared), a Service, a TLS Ingress that accepts
multi-GB layer uploads (up to ``registry.maxUploadSize`` per request), and its
certificate, which image pushes wait for. Pull secrets and push credentials
are ``RegistryAccess``'s, the same as for an external registry.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.kube import (
    default_deny,
    http_probe,
    namespace_peer,
    platform_namespace,
    restricted_container_security_context,
    selector_labels,
    standard_labels,
    tls_ingress_spec,
    workload_spec,
)
from components.network import acme_solver, declare_allows
from components.registry_auth import SIGNER_SECRET, RegistryTokenServer, RegistryTokenServerArgs
from components.registry_config import REGISTRY_SIGNER_DIR, REGISTRY_SIGNER_FILE, registry_config_yaml
from model.config import ClusterConfig, Environment, RegistryConfig

NAME = "registry"
TLS_SECRET = "registry-tls"
#: How long a first `pulumi up` waits for the ACME certificate (DNS must point at the ingress by then).
CERTIFICATE_WAIT = "20m"
PORT = 5000
METRICS_PORT = 5001


@dataclass(frozen=True)
class ContainerRegistryArgs:
    config: RegistryConfig
    environment: Environment
    cluster: ClusterConfig
    password: pulumi.Input[str]
    """The push user's password, a Pulumi secret."""


class ContainerRegistry(pulumi.ComponentResource):
    """A private image registry: CI pushes, the AI namespaces pull, each with its own credential."""

    TYPE = "ai-platform:registry:ContainerRegistry"

    host: pulumi.Output[str]
    username: pulumi.Output[str]
    password: pulumi.Output[str]
    pull_username: str
    pull_password: pulumi.Output[str]
    certificate: k8s.apiextensions.CustomResource
    """The registry's TLS certificate; Pulumi waits until cert-manager reports it Ready."""

    def __init__(self, name: str, args: ContainerRegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        config = args.config
        self._args = args
        assert config.host is not None, "validated: the in-cluster registry has a host"
        self._host: str = config.host
        self._labels = standard_labels(NAME, "registry", args.environment)
        password = pulumi.Output.secret(args.password)
        child = pulumi.ResourceOptions(parent=self)

        namespace = platform_namespace(f"{name}-ns", config.namespace, self._labels, "restricted", child)
        inside = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        # The registry needs no egress (filesystem storage): only its ingress allows below.
        default_deny(config.namespace, self._labels, inside)
        # cert-manager's HTTP-01 solver for the registry's Certificate runs here.
        declare_allows(config.namespace, [acme_solver(args.cluster)], self._labels, inside)
        settings = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=self._metadata(),
            data={"config.yml": registry_config_yaml(host=self._host)},
            immutable=True,
            opts=inside,
        )
        tokens = RegistryTokenServer(
            f"{name}-auth",
            RegistryTokenServerArgs(
                config=config,
                environment=args.environment,
                cluster=args.cluster,
                push_password=password,
                tls_secret=TLS_SECRET,
            ),
            opts=inside,
        )
        storage = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-storage",
            metadata=self._metadata(NAME),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"],
                storage_class_name=config.storage_class,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": config.storage_size}),
            ),
            # Images are data: in prod neither `pulumi destroy` nor a refactor may drop them.
            # retain_on_delete: even a deliberate `pulumi destroy` (after unprotecting) leaves the images.
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[namespace],
                protect=args.environment == "prod",
                retain_on_delete=args.environment == "prod",
            ),
        )
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa", metadata=self._metadata(NAME), automount_service_account_token=False, opts=inside
        )
        k8s.apps.v1.Deployment(
            name,
            metadata=self._metadata(NAME),
            spec=self._deployment(account, settings, storage),
            # The pod mounts the token signing certificate, which cert-manager must have issued.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, tokens.signer]),
        )
        service = k8s.core.v1.Service(
            name,
            metadata=self._metadata(NAME),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector_labels(NAME),
                ports=[
                    k8s.core.v1.ServicePortArgs(name="http", port=PORT, target_port="http"),
                    k8s.core.v1.ServicePortArgs(name="metrics", port=METRICS_PORT, target_port="metrics"),
                ],
            ),
            opts=inside,
        )
        self._network_policy(name, inside)
        self.certificate = self._certificate(name, inside)
        self._ingress(name, service, inside)
        self.host = pulumi.Output.from_input(self._host)
        self.username = pulumi.Output.from_input(config.username)
        self.password = password
        self.pull_username = tokens.pull_username
        self.pull_password = tokens.pull_password
        self.register_outputs(
            # One cost item: its Deployments and claim declare all it reserves.
            {
                "host": self.host,
                "username": self.username,
                "password": self.password,
                "pullUsername": self.pull_username,
                "footprint": [],
            }
        )

    def _metadata(self, name: str | None = None) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=self._args.config.namespace, labels=self._labels)

    def _deployment(
        self,
        account: k8s.core.v1.ServiceAccount,
        settings: k8s.core.v1.ConfigMap,
        storage: k8s.core.v1.PersistentVolumeClaim,
    ) -> k8s.apps.v1.DeploymentSpecArgs:
        mounts = [
            k8s.core.v1.VolumeMountArgs(name="config", mount_path="/etc/docker/registry", read_only=True),
            k8s.core.v1.VolumeMountArgs(name="token-signer", mount_path=REGISTRY_SIGNER_DIR, read_only=True),
            k8s.core.v1.VolumeMountArgs(name="data", mount_path="/var/lib/registry"),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
        ]
        volumes = [
            k8s.core.v1.VolumeArgs(
                name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=settings.metadata.name)
            ),
            # Only the certificate that verifies tokens: the signing key stays with the token server.
            k8s.core.v1.VolumeArgs(
                name="token-signer",
                secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=SIGNER_SECRET,
                    default_mode=0o440,
                    items=[k8s.core.v1.KeyToPathArgs(key="tls.crt", path=REGISTRY_SIGNER_FILE)],
                ),
            ),
            k8s.core.v1.VolumeArgs(
                name="data",
                persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                    claim_name=storage.metadata.name
                ),
            ),
            k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi")),
        ]
        container = k8s.core.v1.ContainerArgs(
            name=NAME,
            image=self._args.config.image,
            image_pull_policy="IfNotPresent",
            ports=[
                k8s.core.v1.ContainerPortArgs(name="http", container_port=PORT),
                k8s.core.v1.ContainerPortArgs(name="metrics", container_port=METRICS_PORT),
            ],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "250m", "memory": "512Mi"}, limits={"cpu": "500m", "memory": "512Mi"}
            ),
            liveness_probe=http_probe("/", "http", period_seconds=10, failure_threshold=3),
            readiness_probe=http_probe("/", "http", period_seconds=5, failure_threshold=2),
            security_context=restricted_container_security_context(),
            volume_mounts=mounts,
        )
        return workload_spec(
            name=NAME,
            labels=self._labels,
            environment=self._args.environment,
            account=account,
            containers=[container],
            volumes=volumes,
            # One writer on a ReadWriteOnce volume: replace, never run two at once.
            replicas=1,
            strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
        )

    def _network_policy(self, name: str, opts: pulumi.ResourceOptions) -> None:
        cluster = self._args.cluster
        k8s.networking.v1.NetworkPolicy(
            name,
            metadata=self._metadata(NAME),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels(NAME)),
                policy_types=["Ingress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[namespace_peer(cluster.ingress_namespace)],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port="http", protocol="TCP")],
                    ),
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[namespace_peer(cluster.monitoring_namespace)],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port="metrics", protocol="TCP")],
                    ),
                ],
            ),
            opts=opts,
        )

    def _certificate(self, name: str, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        """The registry's certificate, declared (not left to ingress-shim) so that pushes can wait for it.

        ``pulumi.com/waitFor`` makes Pulumi wait until cert-manager reports the
        certificate Ready, so an image build on a first `pulumi up` starts only
        once Docker and the kubelets will trust the registry: a publicly trusted
        ACME certificate, which needs the host's DNS to point at the ingress.
        """
        config = self._args.config
        return k8s.apiextensions.CustomResource(
            f"{name}-certificate",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAME,
                namespace=config.namespace,
                labels=self._labels,
                annotations={"pulumi.com/waitFor": "condition=Ready"},
            ),
            spec={
                "secretName": TLS_SECRET,
                "dnsNames": [self._host],
                "issuerRef": {
                    "name": self._args.cluster.cluster_issuer,
                    "kind": "ClusterIssuer",
                    "group": "cert-manager.io",
                },
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            },
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create=CERTIFICATE_WAIT))
            ),
        )

    def _ingress(self, name: str, service: k8s.core.v1.Service, opts: pulumi.ResourceOptions) -> None:
        config = self._args.config
        cluster = self._args.cluster
        k8s.networking.v1.Ingress(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAME,
                namespace=config.namespace,
                labels=self._labels,
                annotations={
                    # The TLS secret comes from the Certificate above, not from ingress-shim.
                    # Layers are often several GB: a bound per request (one layer upload) of
                    # `registry.maxUploadSize`, no buffering, long timeouts.
                    "nginx.ingress.kubernetes.io/proxy-body-size": config.max_upload_size,
                    "nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
                    "nginx.ingress.kubernetes.io/proxy-read-timeout": str(config.upload_timeout_seconds),
                    "nginx.ingress.kubernetes.io/proxy-send-timeout": str(config.upload_timeout_seconds),
                },
            ),
            spec=tls_ingress_spec(
                host=self._host,
                path="/",
                service_name=service.metadata.name,
                port_name="http",
                ingress_class=cluster.ingress_class_name,
            ),
            opts=opts,
        )

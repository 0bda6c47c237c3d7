"""AiService behaviour per environment, and for GPU versus CPU services."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import sdk
from infra.offline.check import Rendered, render
from tests.conftest import StackWriter, base_config, base_service
from tests.helpers import container, manifest, manifests_of, pod_spec, resources_of

SECRET_CIPHERTEXT = "v1:c2VjcmV0LWNpcGhlcnRleHQ="


def render_config(write_stack: StackWriter, environment: str, *services: dict[str, Any], **extra: Any) -> Rendered:
    return render(write_stack(base_config(environment, services=list(services), **extra)))


@pytest.fixture
def prod_autoscaled(write_stack: StackWriter) -> Rendered:
    service = base_service(
        replicas=3,
        autoscaling={"minReplicas": 3, "maxReplicas": 10, "targetCPUUtilization": 65},
        ingress={"host": "classify.example.com"},
        env={"LOG_LEVEL": "info", "WORKERS": 2},
        secretEnv=["API_TOKEN"],
    )
    return render_config(
        write_stack,
        "prod",
        service,
        serviceSecrets={"text-classifier": {"API_TOKEN": {"secure": SECRET_CIPHERTEXT}}},
    )


def test_prod_autoscaled_service_starts_at_the_minimum_then_leaves_replicas_to_the_hpa(
    prod_autoscaled: Rendered,
) -> None:
    deployment = manifest(prod_autoscaled, "Deployment", "text-classifier")
    hpa = manifest(prod_autoscaled, "HorizontalPodAutoscaler", "text-classifier")

    # Declared for the first rollout (never Kubernetes' default of 1), ignored on updates: under
    # server-side apply the provider then keeps the live count and yields the field to the HPA.
    assert deployment["spec"]["replicas"] == 3
    [resource] = [r for r in resources_of(prod_autoscaled, "kubernetes:apps/v1:Deployment")]
    assert resource.options["ignoreChanges"] == ["spec.replicas"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["minReplicas"] == 3
    assert hpa["spec"]["maxReplicas"] == 10
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "text-classifier"}
    [metric] = hpa["spec"]["metrics"]
    assert metric["resource"] == {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 65}}


def test_prod_rollout_never_drops_below_desired_and_spreads_hard(prod_autoscaled: Rendered) -> None:
    deployment = manifest(prod_autoscaled, "Deployment", "text-classifier")
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    spread = {c["topologyKey"]: c["whenUnsatisfiable"] for c in pod_spec(deployment)["topologySpreadConstraints"]}
    assert spread == {"kubernetes.io/hostname": "DoNotSchedule", "topology.kubernetes.io/zone": "ScheduleAnyway"}


def test_multi_replica_service_gets_a_budget_that_never_blocks_drains(prod_autoscaled: Rendered) -> None:
    pdb = manifest(prod_autoscaled, "PodDisruptionBudget", "text-classifier")
    deployment = manifest(prod_autoscaled, "Deployment", "text-classifier")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]


def test_pods_follow_the_restricted_pod_security_standard(prod_autoscaled: Rendered) -> None:
    deployment = manifest(prod_autoscaled, "Deployment", "text-classifier")
    pod = pod_spec(deployment)
    main = container(deployment)
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] >= 10000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = main["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert {"mountPath": "/tmp", "name": "tmp"} in main["volumeMounts"]
    account = manifest(prod_autoscaled, "ServiceAccount", "text-classifier")
    assert account["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "text-classifier"


def test_probes_use_the_service_health_paths(prod_autoscaled: Rendered) -> None:
    main = container(manifest(prod_autoscaled, "Deployment", "text-classifier"))
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    startup = main["startupProbe"]
    assert startup["httpGet"]["path"] == "/healthz"
    assert startup["periodSeconds"] * startup["failureThreshold"] == 300


def test_recommended_labels_and_selector(prod_autoscaled: Rendered) -> None:
    deployment = manifest(prod_autoscaled, "Deployment", "text-classifier")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "text-classifier"
    assert labels["app.kubernetes.io/part-of"] == "ai-platform"
    assert labels["app.kubernetes.io/managed-by"] == "pulumi"
    assert labels["ai-platform.io/environment"] == "prod"
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()


def peers(rule: dict[str, Any], side: str) -> set[str]:
    return {peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in rule[side]}


def test_network_policy_admits_the_ingress_to_http_and_prometheus_to_metrics_only(prod_autoscaled: Rendered) -> None:
    policy = manifest(prod_autoscaled, "NetworkPolicy", "text-classifier")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    admitted = {frozenset(peers(rule, "from")): rule["ports"] for rule in policy["spec"]["ingress"]}
    assert admitted == {
        frozenset({"ingress-nginx"}): [{"port": "http", "protocol": "TCP"}],
        frozenset({"monitoring"}): [{"port": "metrics", "protocol": "TCP"}],
    }
    assert "egress" not in policy["spec"] or policy["spec"]["egress"] == []


def test_every_ai_namespace_denies_all_traffic_but_dns(prod_autoscaled: Rendered) -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in manifests_of(prod_autoscaled, "NetworkPolicy", "ai-services")}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    [dns] = policies["allow-dns"]["egress"]
    assert peers(dns, "to") == {"kube-system"}
    assert dns["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]


def test_egress_allow_list_opens_exactly_the_declared_destinations(write_stack: StackWriter) -> None:
    caller = base_service(
        egress=[
            {"service": "llm", "ports": [8000]},
            {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"], "ports": [443]},
            {"namespace": "vector-db", "ports": [6333]},
        ]
    )
    llm = base_service(name="llm", namespace="ai-inference", port=8000)
    rendered = render_config(write_stack, "prod", caller, llm)
    egress = manifest(rendered, "NetworkPolicy", "text-classifier")["spec"]["egress"]
    to_llm, to_internet, to_db = egress
    assert to_llm["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "llm"
    assert peers(to_llm, "to") == {"ai-inference"} and to_llm["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert to_internet["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]
    assert peers(to_db, "to") == {"vector-db"}
    # ...and the callee admits the caller on its serving port.
    admitted = manifest(rendered, "NetworkPolicy", "llm")["spec"]["ingress"]
    from_caller = [r for r in admitted if any("podSelector" in peer for peer in r["from"])]
    assert from_caller == [
        {
            "from": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ai-services"}},
                    "podSelector": {
                        "matchLabels": {
                            "app.kubernetes.io/instance": "text-classifier",
                            "app.kubernetes.io/name": "text-classifier",
                        }
                    },
                }
            ],
            "ports": [{"port": "http", "protocol": "TCP"}],
        }
    ]


def test_metrics_are_served_on_their_own_port_never_the_serving_one(prod_autoscaled: Rendered) -> None:
    main = container(manifest(prod_autoscaled, "Deployment", "text-classifier"))
    assert {p["name"]: p["containerPort"] for p in main["ports"]} == {"http": 8080, "metrics": 9090}
    assert {"name": "METRICS_PORT", "value": "9090"} in main["env"]
    service = manifest(prod_autoscaled, "Service", "text-classifier")
    assert {p["name"]: p["targetPort"] for p in service["spec"]["ports"]} == {"http": "http", "metrics": "metrics"}
    [ingress] = manifests_of(prod_autoscaled, "Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["port"] == {"name": "http"}


def test_pods_pause_before_sigterm_so_rollouts_drop_no_requests(write_stack: StackWriter) -> None:
    modern = render_config(write_stack, "prod", base_service())
    assert container(manifest(modern, "Deployment", "text-classifier"))["lifecycle"] == {
        "preStop": {"sleep": {"seconds": 5}}
    }
    older = render(write_stack(base_config("prod", services=[base_service()], kubernetesVersion="1.29")))
    assert container(manifest(older, "Deployment", "text-classifier"))["lifecycle"] == {
        "preStop": {"exec": {"command": ["sleep", "5"]}}
    }


def test_waits_and_progress_deadline_follow_the_startup_budget(write_stack: StackWriter) -> None:
    slow = base_service(
        name="llm",
        replicas=3,
        autoscaling={"minReplicas": 3, "maxReplicas": 6},
        health={"startupTimeoutSeconds": 900, "imagePullSeconds": 600},
    )
    rendered = render_config(write_stack, "prod", slow)
    deployment = manifest(rendered, "Deployment", "llm")
    assert deployment["spec"]["progressDeadlineSeconds"] == 1500
    [resource] = resources_of(rendered, "kubernetes:apps/v1:Deployment")
    # One replica at a time (maxSurge 1), up to the autoscaling maximum: 6 x 1500 s.
    assert resource.options["customTimeouts"] == {"create": "9000s", "update": "9000s"}


def test_ingress_has_tls_and_the_service_reports_its_urls(prod_autoscaled: Rendered) -> None:
    ingress = manifest(prod_autoscaled, "Ingress", "text-classifier")
    assert ingress["spec"]["tls"] == [{"hosts": ["classify.example.com"], "secretName": "text-classifier-tls"}]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "platform-issuer"
    [component] = resources_of(prod_autoscaled, "ai-platform:services:AiService")
    assert component.outputs == {
        "namespace": "ai-services",
        "url": "http://text-classifier.ai-services.svc.cluster.local",
        "externalUrl": "https://classify.example.com/",
        # One cost item, priced from its Deployment and autoscaler.
        "footprint": [],
        "costKind": "ai-service",
    }


def test_plain_env_in_a_config_map_secret_env_as_files(prod_autoscaled: Rendered) -> None:
    [config_map] = manifests_of(prod_autoscaled, "ConfigMap")
    [secret] = manifests_of(prod_autoscaled, "Secret", "ai-services")
    main = container(manifest(prod_autoscaled, "Deployment", "text-classifier"))

    assert config_map["data"] == {"LOG_LEVEL": "info", "WORKERS": "2"}
    assert main["envFrom"] == [{"configMapRef": {"name": config_map["metadata"]["name"]}}]
    assert secret["stringData"] == {"API_TOKEN": "[secret]"}
    assert {"name": "API_TOKEN_FILE", "value": "/var/run/secrets/ai-platform/API_TOKEN"} in main["env"]
    volumes = {v["name"]: v for v in pod_spec(manifest(prod_autoscaled, "Deployment", "text-classifier"))["volumes"]}
    assert volumes["secret-env"]["secret"]["secretName"] == secret["metadata"]["name"]


def test_secret_values_stay_secret_in_the_recording(prod_autoscaled: Rendered) -> None:
    [secret] = [
        s for s in resources_of(prod_autoscaled, "kubernetes:core/v1:Secret") if "AiService" in (s.parent or "")
    ]
    string_data = secret.inputs["stringData"]
    # Each value is a Pulumi secret (never plaintext in state), however the SDK wraps the map.
    assert sdk.is_secret(string_data) or all(sdk.is_secret(value) for value in string_data.values())
    dumped = json.dumps([r.as_json() for r in prod_autoscaled.resources])
    assert "offline-secret-" not in dumped


def test_dev_single_replica_has_no_autoscaler_budget_or_spread(write_stack: StackWriter) -> None:
    rendered = render_config(write_stack, "dev", base_service(replicas=1))
    deployment = manifest(rendered, "Deployment", "text-classifier")

    assert deployment["spec"]["replicas"] == 1
    [resource] = resources_of(rendered, "kubernetes:apps/v1:Deployment")
    assert resource.options["ignoreChanges"] == []  # a fixed count is ours to keep
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    assert "topologySpreadConstraints" not in pod_spec(deployment)
    assert manifests_of(rendered, "HorizontalPodAutoscaler") == []
    assert manifests_of(rendered, "PodDisruptionBudget") == []
    assert manifests_of(rendered, "Ingress") == []
    assert manifests_of(rendered, "ConfigMap") == []


def test_budget_exists_whenever_more_than_one_replica_can_run(write_stack: StackWriter) -> None:
    rendered = render_config(
        write_stack, "staging", base_service(replicas=1, autoscaling={"minReplicas": 1, "maxReplicas": 3})
    )
    assert manifest(rendered, "PodDisruptionBudget", "text-classifier")["spec"]["maxUnavailable"] == 1
    spread = pod_spec(manifest(rendered, "Deployment", "text-classifier"))["topologySpreadConstraints"]
    assert {c["whenUnsatisfiable"] for c in spread} == {"ScheduleAnyway"}


def test_gpu_service_runs_on_gpu_nodes_with_whole_gpus(write_stack: StackWriter) -> None:
    gpu = base_service(name="llm", resources={"cpu": "4", "memory": "24Gi", "gpu": 2})
    rendered = render_config(
        write_stack,
        "prod",
        gpu,
        cluster={"context": "prod", "gpuNodeSelector": {"gpu-type": "a100"}},
        addons={"nvidiaDevicePlugin": {"version": "0.17.0"}},
    )
    deployment = manifest(rendered, "Deployment", "llm")
    resources = container(deployment)["resources"]

    assert resources["limits"]["nvidia.com/gpu"] == "2"
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"]
    assert pod_spec(deployment)["nodeSelector"] == {"gpu-type": "a100"}
    assert pod_spec(deployment)["tolerations"] == [
        {"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}
    ]


def test_cpu_service_never_tolerates_gpu_nodes(write_stack: StackWriter) -> None:
    rendered = render_config(write_stack, "prod", base_service())
    deployment = manifest(rendered, "Deployment", "text-classifier")
    resources = container(deployment)["resources"]

    assert "tolerations" not in pod_spec(deployment)
    assert "nodeSelector" not in pod_spec(deployment)
    assert "nvidia.com/gpu" not in resources["limits"]
    assert resources["limits"] == {"cpu": "500m", "memory": "1Gi"}  # Guaranteed QoS by default


def test_services_land_in_restricted_namespaces_through_one_explicit_provider(write_stack: StackWriter) -> None:
    rendered = render_config(
        write_stack,
        "prod",
        base_service(),
        base_service(name="embedder", namespace="ai-search"),
        cluster={"context": "prod-eu", "renderYamlToDirectory": "build/yaml"},
    )
    namespaces = {ns["metadata"]["name"]: ns["metadata"]["labels"] for ns in manifests_of(rendered, "Namespace")}
    assert set(namespaces) == {"ai-services", "ai-search", "ci-identities"}
    assert all(labels["pod-security.kubernetes.io/enforce"] == "restricted" for labels in namespaces.values())
    [provider] = resources_of(rendered, "pulumi:providers:kubernetes")
    assert provider.inputs["context"] == "prod-eu"
    assert provider.inputs["renderYamlToDirectory"] == "build/yaml"
    kubernetes_objects = [r for r in rendered.resources if r.type.startswith("kubernetes:")]
    assert kubernetes_objects and all(r.options["provider"] == provider.urn for r in kubernetes_objects)
    services = resources_of(rendered, "ai-platform:services:AiService")
    assert all(any("Namespace" in urn for urn in s.options["dependsOn"]) for s in services)

"""Stack config validation: every bad value names its key, and nothing is declared."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.offline.runtime import run_program
from infra.offline.schema import available_versions
from infra.offline.stack_file import read_stack_file
from model.config import SUPPORTED_KUBERNETES_MINORS
from model.stack_config import ConfigError, parse_platform_config
from tests.conftest import StackWriter, base_config, base_service
from tests.helpers import REGISTRY_AUTH_IMAGE, assert_refused


def with_service(**overrides: Any) -> dict[str, Any]:
    return base_config(services=[base_service(**overrides)])


def with_resources(**overrides: Any) -> dict[str, Any]:
    return with_service(resources={"cpu": "500m", "memory": "1Gi", **overrides})


SECRET = {"secure": "v1:abc"}

BAD_CONFIGS: list[tuple[str, dict[str, Any], str, str]] = [
    # (case, config, key path, message fragment)
    ("wrong type", with_service(replicas="three"), "services[0].replicas", "valid integer"),
    (
        "image ref into the registry the same up creates",
        base_config(
            services=[base_service(image={"ref": "registry.example.com/ai/x:1@sha256:" + "a" * 64})],
            registry={"host": "registry.example.com", "authImage": REGISTRY_AUTH_IMAGE},
            registryPassword=SECRET,
        ),
        "services[0].image.ref",
        "empty on a first `pulumi up`",
    ),
    (
        "dev builds into the in-cluster registry the dev CA signs",
        base_config(
            "dev",
            services=[base_service(image={"build": "services/text-classifier"})],
            registry={"host": "registry.dev.example.com", "authImage": REGISTRY_AUTH_IMAGE},
            addons={"certManager": {"version": "v1.16.1"}},
            registryPassword=SECRET,
        ),
        "services[0].image.build",
        "self-signed dev CA",
    ),
    (
        "builds into the in-cluster registry without cert-manager",
        base_config(
            services=[base_service(image={"build": "services/text-classifier"})],
            registry={"host": "registry.example.com", "authImage": REGISTRY_AUTH_IMAGE},
            registryPassword=SECRET,
        ),
        "services[0].image.build",
        "publicly trusted certificate",
    ),
    (
        "registry host and external",
        base_config(registry={"host": "r.example.com", "external": {"host": "ghcr.io/x"}}),
        "registry",
        "exactly one of 'host'",
    ),
    (
        "render mode with Helm add-ons",
        base_config(cluster={"renderYamlToDirectory": "out"}, addons={"keda": {"version": "2.16.0"}}),
        "cluster.renderYamlToDirectory",
        "replaces the provider",
    ),
    ("metrics on the serving port", with_service(metricsPort=8080), "services[0]", "metricsPort (8080) must differ"),
    (
        "grace shorter than the preStop pause",
        with_service(terminationGracePeriodSeconds=5, health={"preStopSeconds": 10}),
        "services[0]",
        "must exceed health.preStopSeconds",
    ),
    ("env shadows the metrics port", with_service(env={"METRICS_PORT": "1"}), "services[0]", "METRICS_PORT"),
    (
        "egress to two places",
        with_service(egress=[{"cidr": "10.0.0.0/8", "namespace": "x", "ports": [1]}]),
        "services[0].egress[0]",
        "exactly one of",
    ),
    (
        "egress cidr not a network",
        with_service(egress=[{"cidr": "10.0.0.1/8", "ports": [443]}]),
        "services[0].egress[0].cidr",
        "not a network in CIDR notation",
    ),
    ("egress without ports", with_service(egress=[{"namespace": "db"}]), "services[0].egress[0]", "list the TCP"),
    (
        "egress to an unknown service",
        with_service(egress=[{"service": "nope"}]),
        "services[0].egress[0].service",
        "no service named 'nope'",
    ),
    ("negative replicas", with_service(replicas=-1), "services[0].replicas", "greater than or equal to 0"),
    ("unknown service key", with_service(replicaz=3), "services[0].replicaz", "unknown key"),
    ("unknown top-level key", base_config(servises=[]), "ai-platform:servises", "unknown key"),
    ("cpu not a quantity", with_resources(cpu="1.5 cores"), "services[0].resources.cpu", "not a Kubernetes quantity"),
    ("memory not a quantity", with_resources(memory="lots"), "services[0].resources.memory", "not a Kubernetes"),
    ("zero cpu", with_resources(cpu="0"), "services[0].resources.cpu", "greater than zero"),
    ("limit below request", with_resources(cpuLimit="100m"), "services[0].resources", "lower than the request"),
    ("fractional gpu", with_resources(gpu=0.5), "services[0].resources.gpu", "valid integer"),
    ("gpu as text", with_resources(gpu="1"), "services[0].resources.gpu", "valid integer"),
    ("name not DNS", with_service(name="Text_Classifier"), "services[0].name", "not a valid service name"),
    ("name too long", with_service(name="a" * 64), "services[0].name", "at most 63"),
    ("name starts with digit", with_service(name="1classifier"), "services[0].name", "starting with a letter"),
    ("namespace not DNS", with_service(namespace="AI"), "services[0].namespace", "DNS-1123 label"),
    ("bad image", with_service(image={"ref": "Registry/AI:latest tag"}), "services[0].image.ref", "image reference"),
    ("image without source", with_service(image={}), "services[0].image", "set exactly one of"),
    ("port zero", with_service(port=0), "services[0].port", "greater than or equal to 1"),
    ("port too big", with_service(port=70000), "services[0].port", "less than or equal to 65535"),
    ("port as text", with_service(port="8080"), "services[0].port", "valid integer"),
    (
        "autoscaling min above max",
        with_service(autoscaling={"minReplicas": 5, "maxReplicas": 2}),
        "services[0].autoscaling",
        "minReplicas (5) is greater than maxReplicas (2)",
    ),
    (
        "autoscaling target out of range",
        with_service(autoscaling={"minReplicas": 1, "maxReplicas": 2, "targetCPUUtilization": 150}),
        "services[0].autoscaling.targetCPUUtilization",
        "less than or equal to 100",
    ),
    ("env var name", with_service(env={"LOG-LEVEL": "info"}), "services[0].env.LOG-LEVEL", "environment variable"),
    ("secretEnv var name", with_service(secretEnv=["api token"]), "services[0].secretEnv[0]", "environment variable"),
    ("env in both", with_service(env={"A": "1"}, secretEnv=["A"]), "services[0]", "both env and secretEnv"),
    ("ingress host", with_service(ingress={"host": "not a host"}), "services[0].ingress.host", "DNS hostname"),
    ("error ratio", with_service(slo={"errorRatio": 1.5}), "services[0].slo.errorRatio", "less than 1"),
    (
        "missing resources",
        base_config(services=[{"name": "x", "image": {"ref": "a/b:1"}}]),
        "services[0].resources",
        "is required",
    ),
    ("environment", base_config(environment="qa"), "ai-platform:environment", "'dev', 'staging' or 'prod'"),
    ("version with patch", base_config(kubernetesVersion="1.31.2"), "kubernetesVersion", "'major.minor'"),
    ("version 2.0", base_config(kubernetesVersion="2.0"), "kubernetesVersion", "'major.minor'"),
    ("version unsupported", base_config(kubernetesVersion="1.99"), "kubernetesVersion", "not supported"),
    (
        "duplicate names",
        base_config(services=[base_service(), base_service()]),
        "services[1].name",
        "already used by services[0]",
    ),
    (
        "secret env without value",
        with_service(secretEnv=["API_TOKEN"]),
        "services[0].secretEnv",
        "API_TOKEN has no value",
    ),
    (
        "secret for unknown service",
        base_config(serviceSecrets={"nobody": {"TOKEN": SECRET}}),
        "serviceSecrets.nobody",
        "no service named 'nobody'",
    ),
    ("cluster key typo", base_config(cluster={"contxt": "prod"}), "cluster.contxt", "unknown key"),
    (
        "gpu selector value",
        base_config(cluster={"gpuNodeSelector": {"gpu": "yes please"}}),
        "cluster.gpuNodeSelector.gpu",
        "label value",
    ),
]


@pytest.mark.parametrize(
    ("config", "key", "fragment"),
    [pytest.param(config, key, fragment, id=case) for case, config, key, fragment in BAD_CONFIGS],
)
def test_bad_config_names_the_key_and_declares_nothing(
    write_stack: StackWriter, config: dict[str, Any], key: str, fragment: str
) -> None:
    assert_refused(write_stack(config), key, fragment)


def test_every_problem_is_reported_at_once_with_the_stack_file() -> None:
    values = {
        "ai-platform:environment": "qa",
        "ai-platform:kubernetesVersion": "1.31",
        "ai-platform:services": '[{"name": "x", "image": {"ref": "a/b:1"}, "port": 0,'
        ' "resources": {"cpu": "1.5 cores", "memory": "1Gi"}}]',
    }
    with pytest.raises(ConfigError) as raised:
        parse_platform_config(values, "stacks/Pulumi.prod.yaml")

    lines = str(raised.value).splitlines()
    assert lines[0] == "invalid stack configuration (3 problems):"
    assert (
        "stacks/Pulumi.prod.yaml: ai-platform:environment: Input should be 'dev', 'staging' or 'prod', got 'qa'"
        in lines
    )
    assert (
        "stacks/Pulumi.prod.yaml: ai-platform:services[0].resources.cpu: "
        "'1.5 cores' is not a Kubernetes quantity (examples: 500m, 2, 1Gi, 512Mi)"
    ) in lines
    assert any(line.startswith("stacks/Pulumi.prod.yaml: ai-platform:services[0].port:") for line in lines)


def test_secret_values_are_never_echoed(write_stack: StackWriter) -> None:
    config = base_config(serviceSecrets={"text-classifier": {"API_TOKEN": {"secure": "v1:x"}}, "x": "hunter2"})
    with pytest.raises(ConfigError) as raised:
        run_program(read_stack_file(write_stack(config)))
    assert "hunter2" not in str(raised.value)
    assert "offline-secret" not in str(raised.value)


def test_valid_config_parses_with_defaults() -> None:
    values = {
        "ai-platform:environment": "dev",
        "ai-platform:kubernetesVersion": "1.30",
        "ai-platform:services": '[{"name": "a", "image": {"ref": "r/a:1"}, "resources": {"cpu": 1, "memory": "1Gi"}}]',
        "kubernetes:context": "ignored: another namespace",
    }
    config = parse_platform_config(values, "stacks/Pulumi.dev.yaml")
    service = config.services[0]
    assert service.resources.cpu == "1"
    assert service.port == 8080
    assert service.health.readiness_path == "/readyz"
    assert config.cluster.gpu_node_selector == {"feature.node.kubernetes.io/pci-10de.present": "true"}


def test_every_supported_kubernetes_version_has_schemas() -> None:
    installed = set(available_versions())
    assert {f"1.{minor}" for minor in SUPPORTED_KUBERNETES_MINORS} <= installed


SECURE = {"secure": "v1:c2VjcmV0"}


@pytest.mark.parametrize(
    ("config", "key", "fragment"),
    [
        (
            base_config(services=[base_service(env={"TOKEN": SECURE})]),
            "ai-platform:services[0].env.TOKEN",
            "would be stored in plaintext",
        ),
        (
            base_config(
                registry={"host": "registry.platform.example.com", "authImage": REGISTRY_AUTH_IMAGE, "username": SECURE}
            ),
            "ai-platform:registry.username",
            "list the variable in `secretEnv`",
        ),
        (
            base_config(
                services=[base_service(secretEnv=["A", "B"])],
                serviceSecrets={"text-classifier": {"A": SECURE, "B": "in-clear"}},
            ),
            "ai-platform:serviceSecrets.text-classifier.B",
            "must be a `secure:` value",
        ),
    ],
)
def test_every_secure_leaf_stays_secret_or_is_refused(
    write_stack: StackWriter, config: dict[str, Any], key: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        read_stack_file(write_stack(config))
    assert any(p.startswith(f"{key}:") and fragment in p for p in raised.value.problems), raised.value.problems


def test_the_engine_path_refuses_a_secret_outside_the_secret_keys() -> None:
    """Under the engine only whole keys are marked secret: the key is named."""
    values = {"ai-platform:environment": "dev", "ai-platform:kubernetesVersion": "1.31", "ai-platform:services": "[]"}
    with pytest.raises(ConfigError) as raised:
        parse_platform_config(values, "stacks/Pulumi.dev.yaml", {"ai-platform:services"})
    assert any(p.startswith("ai-platform:services: holds a `secure:` value") for p in raised.value.problems)


def test_no_problem_message_ever_shows_a_secret_value(write_stack: StackWriter) -> None:
    secret = "s3cr3t-value-never-shown"
    values = {
        "ai-platform:environment": "dev",
        "ai-platform:kubernetesVersion": "1.31",
        "ai-platform:registryPassword": json.dumps([secret]),
        "ai-platform:serviceSecrets": json.dumps({"text-classifier": {"API": [secret]}}),
    }
    with pytest.raises(ConfigError) as raised:
        parse_platform_config(
            values, "stacks/Pulumi.dev.yaml", {"ai-platform:registryPassword", "ai-platform:serviceSecrets"}
        )
    rendered = raised.value.render()
    assert secret not in rendered
    assert "ai-platform:registryPassword: is not valid (a secret: its value is not shown)" in rendered


def test_the_engine_path_refuses_a_secret_key_given_in_plaintext() -> None:
    values = {
        "ai-platform:environment": "dev",
        "ai-platform:kubernetesVersion": "1.31",
        "ai-platform:registryPassword": "hunter2",
    }
    with pytest.raises(ConfigError) as raised:
        parse_platform_config(values, "stacks/Pulumi.dev.yaml", set())
    assert any(p.startswith("ai-platform:registryPassword: must be a secret") for p in raised.value.problems)
    assert "hunter2" not in raised.value.render()

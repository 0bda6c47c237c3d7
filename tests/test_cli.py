"""The offline tool's fixed interface: outputs, JSON report and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.offline import cli, manifests
from infra.offline.runtime import PROJECT_ROOT
from tests.conftest import StackWriter, base_config, base_service


def run_cli(*args: str, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.offline", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        timeout=120,
    )


def test_render_writes_one_object_per_file_and_the_resource_list(tmp_path: Path) -> None:
    result = run_cli("render", "--stack", "prod", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr

    files = sorted((tmp_path / "manifests").glob("*.yaml"))
    assert files
    for path in files:
        documents = list(yaml.safe_load_all(path.read_text()))
        assert len(documents) == 1
        assert {"apiVersion", "kind", "metadata"} <= documents[0].keys()
    deployment = yaml.safe_load((tmp_path / "manifests" / "ai-services.deployment.text-classifier.yaml").read_text())
    assert isinstance(deployment["spec"]["revisionHistoryLimit"], int)

    resources = json.loads((tmp_path / "resources.json").read_text())
    assert {"urn", "type", "name", "parent", "custom", "inputs", "options"} <= resources[0].keys()
    assert {"protect", "retainOnDelete", "dependsOn", "provider"} <= resources[0]["options"].keys()
    types = {r["type"] for r in resources}
    assert {"ai-platform:index:Platform", "ai-platform:services:AiService", "pulumi:providers:kubernetes"} <= types
    deployments = {r["name"]: r for r in resources if r["type"] == "kubernetes:apps/v1:Deployment"}
    for service in ("text-classifier", "llm-inference"):
        assert deployments[service]["parent"].endswith("ai-platform:services:AiService::" + service)
    assert deployments["registry"]["parent"].endswith("ai-platform:registry:ContainerRegistry::registry")


def test_check_json_report(tmp_path: Path) -> None:
    result = run_cli("check", "--stack", "dev", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["stack"] == "dev"
    assert report["environment"] == "dev"
    assert report["schemaErrors"] == []
    assert report["resources"] > report["manifests"] > 0
    assert isinstance(report["violations"], list)


def test_invalid_config_exits_2_without_traceback_or_output(write_stack: StackWriter, tmp_path: Path) -> None:
    stack = write_stack(base_config(services=[base_service(port=0)]), name="broken")
    out = tmp_path / "out"
    result = run_cli("render", "--config", str(stack), "--out", str(out))

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{stack}: ai-platform:services[0].port:" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("config: [1, 2", "not valid YAML"),
        ("- a list", "must be a mapping"),
        ("config:\n  environment: prod\n", "config keys must be '<namespace>:<name>'"),
    ],
)
def test_unreadable_stack_files_exit_2(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "Pulumi.odd.yaml"
    path.write_text(content)
    result = run_cli("check", "--config", str(path))
    assert result.returncode == 2
    assert fragment in result.stderr


def test_missing_stack_exits_2() -> None:
    result = run_cli("check", "--stack", "nope")
    assert result.returncode == 2
    assert "Pulumi.nope.yaml: no such stack file" in result.stderr


def test_schema_errors_exit_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    real_to_manifests = manifests.to_manifests

    def manifests_with_a_typo(resources: list[Any]) -> list[Any]:
        manifests = real_to_manifests(resources)
        deployment = next(m for m in manifests if m.kind == "Deployment")
        deployment.body["spec"]["replicaz"] = 3
        return manifests

    monkeypatch.setattr(manifests, "to_manifests", manifests_with_a_typo)
    assert cli.main(["check", "--stack", "dev", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert any("'replicaz' was unexpected" in error for error in report["schemaErrors"])


def test_config_json_schema_describes_the_stack_keys() -> None:
    result = run_cli("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    keys = schema["properties"]["config"]["properties"].keys()
    assert {f"ai-platform:{key}" for key in ("environment", "kubernetesVersion", "services", "cluster")} <= keys
    service = schema["$defs"]["ServiceConfig"]
    assert service["additionalProperties"] is False
    assert "secretEnv" in service["properties"]


def test_program_imports_its_packages_under_the_engine_layout() -> None:
    """The language host runs `runpy.run_path('.')` from infra/; the packages come from the install, not sys.path."""
    program = (
        "import json, os, sys\n"
        "from pathlib import Path\n"
        "assert not any(os.path.isdir(os.path.join(p, 'components')) for p in sys.path if p), sys.path\n"
        "from infra import sdk\n"
        "class M(sdk.Mocks):\n"
        "    def new_resource(self, args): return args.name + '-id', args.inputs\n"
        "    def call(self, args): return {}, None\n"
        "monitor = sdk.RecordingMonitor(M())\n"
        "sdk.run_program(Path('.'), monitor, project='ai-platform', stack='ci', preview=True,\n"
        "                config=json.loads(os.environ['STACK_CONFIG']), secret_keys=frozenset())\n"
        "print(len(monitor.recorded))\n"
    )
    config = {
        "ai-platform:environment": "dev",
        "ai-platform:kubernetesVersion": "1.31",
        "ai-platform:services": json.dumps([base_service()]),
    }
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-P", "-c", program],
        cwd=PROJECT_ROOT / "infra",
        env={**env, "STACK_CONFIG": json.dumps(config)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) > 5


def test_check_fails_on_one_replica_in_prod(write_stack: StackWriter) -> None:
    stack = write_stack(base_config("prod", services=[base_service(replicas=1)]), name="prod")
    result = run_cli("check", "--config", str(stack), "--json")

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["schemaErrors"] == []
    [violation] = [v for v in report["violations"] if v["policy"] == "workload-minimum-replicas"]
    assert violation["enforcementLevel"] == "mandatory"
    assert violation["urn"].endswith("kubernetes:apps/v1:Deployment::text-classifier")
    assert "at least 3 are required" in violation["message"]


def test_the_same_stack_is_only_advised_in_dev(write_stack: StackWriter) -> None:
    stack = write_stack(
        base_config("dev", services=[base_service(replicas=1, image={"ref": "python:3.12"})]), name="dev"
    )
    result = run_cli("check", "--config", str(stack), "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {v["enforcementLevel"] for v in report["violations"]} == {"advisory"}
    assert "approved-registries" in {v["policy"] for v in report["violations"]}


def test_invalid_policy_config_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "policy.json"
    bad.write_text('{"all": "strict"}')
    result = run_cli("check", "--stack", "dev", "--policy-config", str(bad))
    assert result.returncode == 2
    assert "'strict' is not an enforcement level" in result.stderr

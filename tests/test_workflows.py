"""The GitHub workflows lint clean and do what the day-to-day flow promises."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.offline.runtime import PROJECT_ROOT

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"


def actionlint(*args: str, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("actionlint") or str(PROJECT_ROOT / ".venv" / "bin" / "actionlint")
    return subprocess.run(
        [binary, "-color=false", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def load(name: str) -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return document


def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_every_workflow_passes_actionlint() -> None:
    result = actionlint()
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows"
    broken.mkdir(parents=True)
    (broken / "broken.yml").write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope.nope }}\n"
    )
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert actionlint(cwd=tmp_path).returncode != 0


@pytest.mark.parametrize("name", ["pull-request.yml", "deploy.yml", "drift.yml"])
def test_actions_are_pinned_to_exact_versions(name: str) -> None:
    for step in steps(load(name)):
        if "uses" in step:
            reference = step["uses"].split("@", 1)[1]
            assert reference.count(".") == 2, f"{step['uses']} is not an exact version"


def test_pull_requests_preview_with_the_policy_pack_and_comment() -> None:
    workflow = load("pull-request.yml")
    [preview] = [s for s in steps(workflow) if s.get("uses", "").startswith("pulumi/actions@")]
    inputs = preview["with"]
    assert inputs["command"] == "preview"
    assert inputs["policyPacks"] == "policies"
    assert inputs["policyPackConfigs"] == "policies/config/${{ matrix.stack }}.json"
    assert inputs["comment-on-pr"] is True and inputs["edit-pr-comment"] is True
    offline = " ".join(s.get("run", "") for s in steps(workflow))
    assert "infra.offline check" in offline and "infra.offline diff" in offline and "make test" in offline


def test_main_deploys_dev_then_staging_then_prod_behind_environments() -> None:
    job = load("deploy.yml")["jobs"]["up"]
    assert job["strategy"]["matrix"]["stack"] == ["dev", "staging", "prod"]
    assert job["strategy"]["max-parallel"] == 1
    assert job["environment"] == "${{ matrix.stack }}"
    [up] = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert up["with"]["command"] == "up" and up["with"]["policyPacks"] == "policies"


def test_drift_detection_expects_no_changes_after_a_refresh() -> None:
    workflow = load("drift.yml")
    assert workflow[True]["schedule"]  # `on` parses as True in YAML 1.1
    [preview] = [s for s in steps(workflow) if s.get("uses", "").startswith("pulumi/actions@")]
    assert preview["with"]["refresh"] is True and preview["with"]["expect-no-changes"] is True


def test_deploy_installs_only_what_the_program_and_its_policy_pack_need() -> None:
    workflow = load("deploy.yml")
    install = " ".join(step.get("run", "") for step in workflow["jobs"]["up"]["steps"])
    assert "--require-hashes -r requirements.txt -r policies/requirements.txt" in install
    assert "--no-deps -e ." in install
    assert "requirements/dev.txt" not in install and "make" not in install.split()
    # The offline gate (which needs the development tools) runs first, in a job without credentials.
    assert workflow["jobs"]["up"]["needs"] == ["gate"]
    assert "secrets." not in yaml.safe_dump(workflow["jobs"]["gate"])

"""The GitHub workflows lint clean and do what the day-to-day flow promises."""

from __future__ import annotations

import re
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
    [comment] = [
        s for s in workflow["jobs"]["preview"]["steps"] if s.get("uses", "").startswith("actions/github-script@")
    ]
    assert "steps.preview.outputs.output" in comment["env"]["OUTPUT"]
    assert "updateComment" in comment["with"]["script"]
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


# --- Least privilege: which job holds which credentials --------------------------------------------

WORKFLOW_NAMES = ["pull-request.yml", "deploy.yml", "drift.yml"]


def jobs_with_secrets(workflow: dict[Any, Any]) -> dict[str, dict[str, Any]]:
    """Jobs that read a secret other than the workflow's own GITHUB_TOKEN."""
    return {
        name: job
        for name, job in workflow["jobs"].items()
        if re.search(r"secrets\.(?!GITHUB_TOKEN\b)", yaml.safe_dump(job))
    }


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_credentials_come_only_from_github_environments(name: str) -> None:
    """No repository-wide KUBECONFIG or Pulumi token: each job gets its environment's, or none."""
    for job_name, job in jobs_with_secrets(load(name)).items():
        assert "environment" in job, f"{name}: job {job_name} reads secrets outside a GitHub environment"


def test_each_kind_of_job_has_an_environment_of_its_own() -> None:
    environments = {
        name: {job["environment"] for job in load(name)["jobs"].values() if "environment" in job}
        for name in WORKFLOW_NAMES
    }
    # Pull requests: read-only previews; main: the deployers; the schedule: the drift readers.
    assert environments == {
        "pull-request.yml": {"preview-${{ matrix.stack }}"},
        "deploy.yml": {"${{ matrix.stack }}"},
        "drift.yml": {"drift-${{ matrix.stack }}"},
    }
    # The deploy environments are reached from pushes to main only (and GitHub limits them to main).
    assert load("deploy.yml")[True] == {"push": {"branches": ["main"]}}
    # pull_request, never pull_request_target: a pull request's code never runs with the base's secrets.
    assert set(load("pull-request.yml")[True]) == {"pull_request"}
    preview = load("pull-request.yml")["jobs"]["preview"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in preview["if"]


def test_a_failed_preview_fails_the_check_whatever_the_comment_does() -> None:
    job_steps = load("pull-request.yml")["jobs"]["preview"]["steps"]
    [preview] = [s for s in job_steps if s.get("id") == "preview"]
    assert "continue-on-error" not in preview and "if" not in preview
    comment = next(s for s in job_steps if s.get("uses", "").startswith("actions/github-script@"))
    assert comment["if"] == "always()" and comment["continue-on-error"] is True
    verdict = job_steps[-1]
    assert verdict["if"] == "always()"
    assert verdict["env"]["OUTCOME"] == "${{ steps.preview.outcome }}"
    assert verdict["run"] == 'test "$OUTCOME" = success'
    # The verdict step really fails on anything but success.
    for outcome, code in (("success", 0), ("failure", 1), ("cancelled", 1)):
        result = subprocess.run(["bash", "-c", verdict["run"]], env={"OUTCOME": outcome}, check=False)
        assert result.returncode == code


# --- Jenkins ---------------------------------------------------------------------------------------

JENKINSFILE = PROJECT_ROOT / "Jenkinsfile"


def block_after(text: str, opening: int) -> str:
    """The body of the ``{...}`` block whose opening brace is at or after ``opening``."""
    start = text.index("{", opening)
    depth = 0
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[start + 1 : index]
    raise AssertionError("unbalanced braces")


def jenkins_stages() -> dict[str, str]:
    text = JENKINSFILE.read_text()
    return {match.group(1): block_after(text, match.end()) for match in re.finditer(r"stage\('([^']+)'\)", text)}


def pipeline_environment() -> str:
    text = JENKINSFILE.read_text()
    pipeline = block_after(text, text.index("pipeline {"))
    return block_after(pipeline, pipeline.index("environment {"))


def test_jenkins_binds_no_credential_for_the_whole_pipeline() -> None:
    environment = pipeline_environment()
    assert "credentials(" not in environment and "PULUMI_ACCESS_TOKEN" not in environment
    text = JENKINSFILE.read_text()
    helper = text[text.index("def pulumiUp") :]
    assert "withCredentials" not in helper and "credentials(" not in helper


def test_jenkins_deploy_credentials_only_in_deploy_stages_on_main() -> None:
    stages = jenkins_stages()
    bound = {name: re.findall(r"credentialsId: ['\"]([^'\"]+)['\"]", body) for name, body in stages.items()}
    for name, credentials in bound.items():
        body = stages[name]
        if any("deploy" in credential for credential in credentials):
            assert "when { branch 'main' }" in body, f"stage {name} binds deploy credentials off main"
            assert all("preview" not in credential for credential in credentials)
        if any("preview" in credential for credential in credentials):
            assert "when { changeRequest() }" in body and all("deploy" not in c for c in credentials)
    assert bound["Deploy prod"] == ["pulumi-deploy-token", "kubeconfig-deploy-prod"]
    assert bound["Deploy dev"] == ["pulumi-deploy-token", "kubeconfig-deploy-dev"]
    assert bound["Preview"] == ["pulumi-preview-token", "kubeconfig-preview-${stack}"]
    # Stages that build any branch bind nothing.
    assert bound["Install"] == bound["Test"] == bound["Offline check"] == []
    assert JENKINSFILE.read_text().count("withCredentials(") == 4


def shell_scripts() -> list[str]:
    return re.findall(r'sh """(.*?)"""', JENKINSFILE.read_text(), flags=re.DOTALL)


def test_every_jenkins_pipeline_runs_in_bash_with_pipefail() -> None:
    piped = [script for script in shell_scripts() if "|" in script]
    assert piped, "the preview pipes into tee"
    for script in shell_scripts():
        assert script.startswith("#!/bin/bash\n") and "set -euo pipefail" in script


def test_a_failed_jenkins_preview_fails_the_build(tmp_path: Path) -> None:
    """The Preview stage's script, run as Jenkins runs it, with a `pulumi` that fails."""
    [preview] = [script for script in shell_scripts() if "pulumi preview" in script]
    script = tmp_path / "preview.sh"
    script.write_text(preview.replace("${stack}", "dev"))
    script.chmod(0o755)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pulumi").write_text("#!/bin/sh\necho 'error: preview failed'\nexit 1\n")
    (fake / "pulumi").chmod(0o755)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "activate").write_text(f'PATH="{fake}:$PATH"\n')
    # Jenkins' sh step executes the script file; its shebang picks bash.
    result = subprocess.run([str(script)], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert (tmp_path / "preview-dev.txt").read_text() == "error: preview failed\n"
    # The same commands as Jenkins ran them before (no shebang: `/bin/sh -xe`, no pipefail) pass: fail-open.
    old = tmp_path / "old.sh"
    old.write_text(script.read_text().replace("#!/bin/bash\n", "").replace("set -euo pipefail", ""))
    lenient = subprocess.run(["/bin/sh", "-xe", str(old)], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert lenient.returncode == 0

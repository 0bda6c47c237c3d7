"""The offline diff on real git history: a temporary repository with two commits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra.offline.diff import CHANGED_SECRET, compare, format_markdown
from infra.offline.runtime import PROJECT_ROOT

NEW_CIPHERTEXT = "v1:cm90YXRlZA==:bmV3LXNlY3JldC12YWx1ZQ=="


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def offline(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.offline", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This project's tracked files, committed; then one commit that changes prod."""
    repo = tmp_path_factory.mktemp("repo")
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in files.splitlines():
        source = PROJECT_ROOT / name
        if source.is_file():
            target = repo / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")

    stack_file = repo / "stacks" / "Pulumi.prod.yaml"
    stack = yaml.safe_load(stack_file.read_text())
    config = stack["config"]
    services = config["ai-platform:services"]
    classifier = next(s for s in services if s["name"] == "text-classifier")
    classifier["autoscaling"]["minReplicas"] = 5  # a replica change
    services[:] = [s for s in services if s["name"] != "llm-inference"]  # a removed service
    services.append(  # an added service
        {
            "name": "embedder",
            "image": {"ref": "ghcr.io/example/embedder:1.0.0@sha256:" + "c" * 64},
            "replicas": 3,
            "resources": {"cpu": "1", "memory": "2Gi"},
        }
    )
    config["ai-platform:serviceSecrets"]["text-classifier"]["API_TOKEN"]["secure"] = NEW_CIPHERTEXT  # a rotated secret
    stack_file.write_text(yaml.safe_dump(stack, sort_keys=False))
    git(repo, "commit", "-q", "-am", "scale, add embedder, drop llm-inference, rotate the token")
    return repo


def test_no_changes_against_head(repository: Path) -> None:
    result = offline(repository, "diff", "--stack", "prod", "--base", "HEAD")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "stack prod: no changes"


def test_text_diff_against_the_previous_commit(repository: Path) -> None:
    result = offline(repository, "diff", "--stack", "prod", "--base", "HEAD~1")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "+ kubernetes:apps/v1:Deployment embedder" in out
    assert "- kubernetes:apps/v1:Deployment llm-inference" in out
    assert "~ kubernetes:autoscaling/v2:HorizontalPodAutoscaler text-classifier" in out
    assert "    spec.minReplicas: 3 -> 5" in out
    assert f"stringData.API_TOKEN: {CHANGED_SECRET} -> {CHANGED_SECRET}" in out
    assert NEW_CIPHERTEXT not in out and "offline-secret-" not in out
    # The ResourceQuota follows the services it caps.
    assert "~ kubernetes:core/v1:ResourceQuota" in out
    # Cost before and after, and per service.
    assert "cost per month (USD, fewest to most replicas): 2,379.75 to 4,615.15 -> " in out
    assert "    cost llm-inference: 2,052.47 to 4,104.94 -> — (-4,104.94)" in out
    assert "    cost text-classifier: 78.40 to 261.34 -> 130.67 to 261.34 (+0.00)" in out
    assert "    cost embedder: — -> " in out


def test_markdown_diff_names_the_service_and_field_with_counts_first(repository: Path) -> None:
    result = offline(repository, "diff", "--stack", "prod", "--base", "HEAD~1", "--format", "markdown")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("<details><summary><b>prod</b>: +")
    assert ", cost USD " in lines[0]
    assert "| cost item | before | after | change (most replicas) |" in lines
    assert (
        "| `kubernetes:autoscaling/v2:HorizontalPodAutoscaler` **text-classifier** | `spec.minReplicas` | `3` | `5` |"
        in lines
    )
    assert "</details>" in lines[-2:]


def test_image_changes_show_old_and_new_digests() -> None:
    base = [
        {
            "urn": "u",
            "type": "kubernetes:apps/v1:Deployment",
            "name": "svc",
            "inputs": {"image": "r/a@sha256:old"},
            "options": {},
        }
    ]
    head = [{**base[0], "inputs": {"image": "r/a@sha256:new"}}]
    diff = compare("prod", base, head)
    [change] = diff.changed
    assert (change.fields[0].old, change.fields[0].new) == ("r/a@sha256:old", "r/a@sha256:new")
    assert "`r/a@sha256:old` | `r/a@sha256:new`" in format_markdown(diff)


def test_an_unknown_base_has_its_own_exit_code(repository: Path) -> None:
    result = offline(repository, "diff", "--stack", "prod", "--base", "no-such-ref")
    assert result.returncode == 3
    assert "--base 'no-such-ref' is not a commit of this repository" in result.stderr
    assert "Traceback" not in result.stderr

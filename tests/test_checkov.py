"""checkov, an outside auditor, finds nothing in the prod manifests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from infra.offline.check import render, stack_path
from infra.offline.manifests import write_render
from infra.offline.runtime import PROJECT_ROOT
from tests import test_model_storage as model_storage
from tests.conftest import base_config

CHECKOV = PROJECT_ROOT / ".tools-venv" / "bin" / "checkov"
#: "Image Pull Policy should be Always": our images are pinned by digest instead.
WAIVED = {"CKV_K8S_15"}

pytestmark = pytest.mark.integration


def checkov() -> str:
    found = str(CHECKOV) if CHECKOV.exists() else shutil.which("checkov")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("checkov is not installed (make setup installs it into .tools-venv)")
        pytest.skip("checkov is not installed; run make setup")
    return found


def audit(stack_file: Path, directory: Path) -> tuple[list[str], int]:
    """checkov's failed checks (bar the waived ones) on a stack's rendered manifests, and how many passed."""
    binary = checkov()
    rendered = render(stack_file)
    write_render(directory, rendered.resources, rendered.manifests)

    result = subprocess.run(
        [
            binary,
            "-d",
            str(directory / "manifests"),
            "--framework",
            "kubernetes",
            "--skip-download",
            "-o",
            "json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [
        f"{check['check_id']} {check['resource']}: {check['check_name']}"
        for item in reports
        for check in item.get("results", {}).get("failed_checks", [])
        if check["check_id"] not in WAIVED
    ]
    return failed, sum(item.get("summary", {}).get("passed", 0) for item in reports)


def test_checkov_finds_nothing_in_prod_manifests(tmp_path: Path) -> None:
    failed, passed = audit(stack_path("prod"), tmp_path)
    assert failed == []
    assert passed > 100  # it really looked at the Deployments, Services, ...


def test_checkov_finds_nothing_in_a_service_whose_model_is_downloaded(tmp_path: Path) -> None:
    """The fetcher init container, its credentials (files, not env) and the per-pod cache pass too."""
    stack = tmp_path / "Pulumi.prod.yaml"
    config = base_config("prod", services=[model_storage.llm()], serviceSecrets=model_storage.SECRETS)
    stack.write_text(yaml.safe_dump({"config": config}))
    failed, passed = audit(stack, tmp_path / "render")
    assert failed == []
    assert passed > 20

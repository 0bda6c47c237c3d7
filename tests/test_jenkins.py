"""Jenkins: the job's git credential exists, its URL cannot inject Groovy, agents build with a pinned CLI and Docker."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from components.addons.jenkins import (
    AGENT_RESOURCES,
    DOCKER_HOST,
    Jenkins,
    JenkinsArgs,
    groovy_string,
    multibranch_job,
)
from components.addons.jenkins_plugins import CHARTS, EXTRA_PLUGINS
from infra.offline.check import Rendered
from model.config import JenkinsConfig
from tests.conftest import StackWriter
from tests.helpers import JENKINS_IMAGES, assert_refused, manifest, resources_of
from tests.test_collisions import platform

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = "https://x/y.git');println('injected"


def jenkins_values(rendered: Rendered) -> dict[str, Any]:
    [release] = [r for r in resources_of(rendered, "kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "jenkins"]
    values: dict[str, Any] = release.inputs["values"]
    return values


@pytest.mark.parametrize(
    "url",
    [
        HOSTILE,
        "https://x/y.git\\');println(\\'injected",
        "https://x/y .git",
        "http://github.com/example/ai-platform.git",
        "git@github.com:example/ai-platform.git",
        "https://x/${jenkins-admin-password}",
        "https://x/{{ .Values }}",
    ],
)
def test_a_repository_url_that_is_not_a_plain_https_git_url_is_refused(url: str, write_stack: StackWriter) -> None:
    config = platform(jenkins={"version": "5.7.0", "repositoryUrl": url, **JENKINS_IMAGES})
    assert_refused(write_stack(config), "jenkins.repositoryUrl", "should match pattern")


def test_the_url_is_escaped_for_a_groovy_single_quoted_string_anyway() -> None:
    assert groovy_string("a'b\\c") == "'a\\'b\\\\c'"
    job = multibranch_job(HOSTILE, None)
    [remote] = [line.strip() for line in job.splitlines() if "remote(" in line]
    assert remote == "remote('https://x/y.git\\');println(\\'injected')"
    # One literal: every quote inside it is escaped, so the string ends only at the last quote.
    body = remote.removeprefix("remote('").removesuffix("')")
    assert re.search(r"(?<!\\)'", body) is None


def test_the_git_credential_the_job_names_is_declared_from_a_secret(rendered_stack: Callable[[str], Rendered]) -> None:
    prod = rendered_stack("prod")
    controller = jenkins_values(prod)["controller"]
    scripts = controller["JCasC"]["configScripts"]
    [domain] = yaml.safe_load(scripts["credentials"])["credentials"]["system"]["domainCredentials"]
    [credential] = domain["credentials"]
    assert credential["usernamePassword"]["id"] == "git"
    # jenkins 5.7.0 mounts each additionalExistingSecrets key as /run/secrets/additional/<name>-<key>,
    # which JCasC resolves as ${<name>-<key>}.
    assert controller["additionalExistingSecrets"] == [{"name": "jenkins-git", "keyName": "token"}]
    assert credential["usernamePassword"]["password"] == "${jenkins-git-token}"
    assert "credentialsId('git')" in yaml.safe_load(scripts["jobs"])["jobs"][0]["script"]
    secret = manifest(prod, "Secret", "jenkins-git")
    assert set(secret["stringData"]) == {"token"}


def test_without_a_token_the_job_names_no_credential() -> None:
    url = "https://github.com/example/ai-platform.git"
    config = JenkinsConfig.model_validate({"version": "5.7.0", "repositoryUrl": url, **JENKINS_IMAGES})
    values = Jenkins.values(JenkinsArgs(chart=config, environment="prod"))
    scripts = values["controller"]["JCasC"]["configScripts"]
    assert "credentials" not in scripts
    assert "additionalExistingSecrets" not in values["controller"]
    assert "credentialsId" not in scripts["jobs"]


@pytest.mark.parametrize(
    ("image", "fragment"),
    [
        ("docker.io/pulumi/pulumi-python-3.11:3.272.0", "name:tag@sha256:<digest>"),
        ("docker.io/pulumi/pulumi-python-3.11@sha256:" + "0" * 64, "name:tag@sha256:<digest>"),
    ],
)
def test_agent_images_must_be_pinned_by_tag_and_digest(image: str, fragment: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(fragment)):
        JenkinsConfig(version="5.7.0", agent_image=image, docker_image=JENKINS_IMAGES["dockerImage"])
    with pytest.raises(ValidationError, match="agentImage: is required"):
        JenkinsConfig(version="5.7.0", docker_image=JENKINS_IMAGES["dockerImage"])
    JenkinsConfig(enabled=False)  # a disabled Jenkins needs no images


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_the_agents_pulumi_cli_is_at_least_the_sdk(rendered_stack: Callable[[str], Rendered]) -> None:
    """The SDK gates features on the CLI's support (`SupportsFeature`): a CLI older than the SDK fails them."""
    [sdk] = re.findall(r"^pulumi==([0-9.]+)", (ROOT / "requirements.txt").read_text(), flags=re.MULTILINE)
    template = yaml.safe_load(jenkins_values(rendered_stack("prod"))["agent"]["podTemplates"]["pulumi"])
    [pulumi] = [c for c in template[0]["containers"] if c["name"] == "pulumi"]
    # pulumi/pulumi-docker-containers: "Tags on each image match the installed version of Pulumi".
    name, tag = pulumi["image"].split("@")[0].rsplit(":", 1)
    assert name.startswith("docker.io/pulumi/pulumi-python")
    assert version(tag) >= version(sdk), f"agent CLI {tag} is older than the SDK {sdk}"


def test_the_agent_pod_has_a_docker_daemon_and_declared_resources(rendered_stack: Callable[[str], Rendered]) -> None:
    prod = rendered_stack("prod")
    [template] = yaml.safe_load(jenkins_values(prod)["agent"]["podTemplates"]["pulumi"])
    containers = {c["name"]: c for c in template["containers"]}
    assert set(containers) == set(AGENT_RESOURCES)
    pulumi, docker = containers["pulumi"], containers["docker"]
    assert {"envVar": {"key": "DOCKER_HOST", "value": DOCKER_HOST}} in pulumi["envVars"]
    assert docker["image"].split("@")[0].endswith("-dind-rootless")
    assert pulumi["privileged"] is False and docker["privileged"] is True
    for container in containers.values():
        assert {"resourceRequestCpu", "resourceRequestMemory", "resourceLimitCpu", "resourceLimitMemory"} <= set(
            container
        ), container["name"]
    # The socket directory is one volume both containers mount.
    assert DOCKER_HOST.removeprefix("unix://").startswith(template["volumes"][0]["emptyDirVolume"]["mountPath"])
    # The privileged daemon is why the namespace enforces `privileged`; nothing else of Jenkins needs it.
    namespace = manifest(prod, "Namespace", "jenkins")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_plugins_are_the_newest_that_run_on_the_charts_core() -> None:
    pins = {plugin.name: plugin for plugin in EXTRA_PLUGINS}
    # jenkins.md: the next releases need 2.479.1 (github-branch-source 1809.v088b_5f22c768) and 2.492.1
    # (pipeline-utility-steps 2.19.0), newer than chart 5.7.0's core.
    assert pins["github-branch-source"].version == "1807.v50351eb_7dd13"
    assert pins["pipeline-utility-steps"].version == "2.18.0"
    assert all(plugin.runs_on(CHARTS["5.7.0"].core) for plugin in EXTRA_PLUGINS)

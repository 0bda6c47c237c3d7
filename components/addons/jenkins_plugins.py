"""Which Jenkins core each pinned plugin needs, and which core each chart version runs: facts, with sources.

``jenkins-plugin-cli`` (in the controller's ``init`` container) refuses a
plugin that needs a newer core than the image's, and the controller then
never becomes ready: an ``atomic`` release times out and rolls back. So every
plugin the platform pins records the core its release requires (the
``jenkins.version`` of its ``pom.xml`` at the release tag), and
``tests/test_addons.py`` checks each against the core of the chart version a
stack installs. Pin a new plugin version or chart version only with its facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


def core_version(version: str) -> tuple[int, ...]:
    """A Jenkins core version (``2.462.2``) as comparable numbers."""
    return tuple(int(part) for part in version.split("."))


@dataclass(frozen=True)
class Plugin:
    """A plugin pinned to one release, and the oldest Jenkins core that release runs on."""

    name: str
    version: str
    required_core: str
    source: str
    """Where ``required_core`` comes from."""

    @property
    def pin(self) -> str:
        """As ``plugins.txt`` and the chart's plugin lists spell it."""
        return f"{self.name}:{self.version}"

    def runs_on(self, core: str) -> bool:
        return core_version(self.required_core) <= core_version(core)


@dataclass(frozen=True)
class ChartRelease:
    """What one jenkins chart version installs: its controller core and its default plugins."""

    core: str
    image: str
    source: str
    default_plugins: tuple[Plugin, ...]


#: Chart versions whose controller core is known; a stack's ``jenkins.version`` must be one of them.
CHARTS: Mapping[str, ChartRelease] = {
    "5.7.0": ChartRelease(
        core="2.462.2",
        image="docker.io/jenkins/jenkins:2.462.2-jdk17",
        source="jenkinsci/helm-charts tag jenkins-5.7.0: charts/jenkins/Chart.yaml appVersion 2.462.2; "
        "templates/_helpers.tpl controller.image.tag = <appVersion>-<tagLabel jdk17>",
        default_plugins=(
            Plugin(
                "kubernetes",
                "4290.v93ea_4b_b_26a_61",
                "2.426.3",
                "jenkinsci/kubernetes-plugin tag 4290.v93ea_4b_b_26a_61, pom.xml:46",
            ),
            Plugin(
                "workflow-aggregator",
                "600.vb_57cdd26fdd7",
                "2.361.4",
                "jenkinsci/workflow-aggregator-plugin tag 600.vb_57cdd26fdd7, pom.xml:65",
            ),
            Plugin("git", "5.5.1", "2.440.3", "jenkinsci/git-plugin tag git-5.5.1, pom.xml:67-68 (baseline 2.440, .3)"),
            Plugin(
                "configuration-as-code",
                "1850.va_a_8c31d3158b_",
                "2.440.3",
                "jenkinsci/configuration-as-code-plugin tag 1850.va_a_8c31d3158b_, pom.xml:42",
            ),
        ),
    )
}

#: Plugins beyond the chart's defaults (``controller.additionalPlugins``).
EXTRA_PLUGINS: tuple[Plugin, ...] = (
    # 1.90 needs core 2.479.1 (tag job-dsl-1.90, pom.xml:37-38): too new for chart 5.7.0's 2.462.2.
    Plugin("job-dsl", "1.89", "2.462.1", "jenkinsci/job-dsl-plugin tag job-dsl-1.89, pom.xml:36"),
    # The newest releases whose core fits chart 5.7.0's 2.462.2; the next ones need 2.479.1
    # (github-branch-source 1809.v088b_5f22c768, pom.xml:37-38) and 2.492.1 (pipeline-utility-steps 2.19.0).
    Plugin(
        "github-branch-source",
        "1807.v50351eb_7dd13",
        "2.440.3",
        "jenkinsci/github-branch-source-plugin tag 1807.v50351eb_7dd13, pom.xml:36",
    ),
    Plugin(
        "pipeline-utility-steps",
        "2.18.0",
        "2.440.3",
        "jenkinsci/pipeline-utility-steps-plugin tag pipeline-utility-steps-2.18.0, pom.xml:61",
    ),
)

"""Supply chain: images only from approved registries, pinned; Helm charts at exact versions."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from ai_platform_policies.kube import HELM_RELEASE_TYPES, containers, describe, pod_spec
from ai_platform_policies.references import EXACT_VERSION, image_digest, image_registry, image_tag
from ai_platform_policies.rule import Config, props, resource_rule


def approved(image: str, entries: set[str]) -> bool:
    """An entry is a registry host (``registry.example.com``) or a repository prefix
    (``docker.io/library/registry``), which approves that repository alone."""
    registry = image_registry(image)
    name = image.split("@", 1)[0]
    if registry == "docker.io" and not name.startswith("docker.io/"):
        name = f"docker.io/{name}" if "/" in name else f"docker.io/library/{name}"
    repository = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    return registry in entries or repository in entries


@resource_rule(
    "approved-registries",
    "Container images come only from the registries and repositories the policy config approves.",
    severity="high",
    remediation="Push the image to the platform registry (or mirror it there) and reference it from there; "
    "approve a single outside repository with an entry such as docker.io/library/registry.",
    thresholds={"allowedRegistries": {"type": "array", "items": {"type": "string"}, "default": []}},
)
def approved_registries(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    # Only the pack's config approves: the stack file is what a pull request edits.
    allowed = set(config["allowedRegistries"])
    for label, container in containers(pod_spec(args.resource_type, props(args))):
        image = container["image"].string() or ""
        if not approved(image, allowed):
            report(
                f"{describe(label, container)} pulls {image!r} from {image_registry(image)}, which is not approved "
                f"(approved: {', '.join(sorted(allowed)) or 'none'}).",
                None,
            )


@resource_rule(
    "image-tag-pinned",
    "Images are never untagged or `latest`, and are pinned by digest where required.",
    severity="high",
    remediation="Reference images as registry/repo:version@sha256:<digest>.",
    thresholds={"requireDigest": {"type": "boolean", "default": False}},
)
def image_tag_pinned(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    for label, container in containers(pod_spec(args.resource_type, props(args))):
        image = container["image"].string() or ""
        digest = image_digest(image) is not None
        tag = image_tag(image)
        if tag == "latest":
            report(f"{describe(label, container)} uses the mutable 'latest' tag ({image}).", None)
        elif tag is None and not digest:
            report(f"{describe(label, container)} uses an untagged image ({image}), which means 'latest'.", None)
        if config["requireDigest"] and not digest:
            report(f"{describe(label, container)} is not pinned by digest ({image}).", None)


@resource_rule(
    "helm-chart-version-pinned",
    "Every Helm release pins an exact chart version.",
    severity="high",
    remediation="Set the release's `version` to an exact chart version such as 4.11.3 (no ranges, never empty).",
)
def helm_chart_version_pinned(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    if args.resource_type not in HELM_RELEASE_TYPES:
        return
    version = props(args)["version"].string()
    if not version:
        report("no chart version: every install could pull a different chart.", None)
    elif not EXACT_VERSION.match(version):
        report(f"chart version {version!r} is not an exact version.", None)

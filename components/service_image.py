"""``ServiceImage``: build an AI service's image from source and push it to the platform registry.

pulumi-docker builds the service folder for ``linux/amd64`` and pushes it to
the platform registry with the registry's credentials. The tag is a digest of
the build context (the files Docker would send, honouring
``.dockerignore``), so unchanged code is the same image and no rollout, and a
code change is one new tag, one build and exactly one rollout. Deployments
use the pushed image by its registry digest.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker as docker

PLATFORM = "linux/amd64"


def context_files(context: Path) -> list[Path]:
    """Files Docker would send as build context, minus ``.dockerignore`` matches."""
    ignore_file = context / ".dockerignore"
    patterns = [
        line.strip().rstrip("/")
        for line in (ignore_file.read_text().splitlines() if ignore_file.exists() else [])
        if line.strip() and not line.startswith("#")
    ]

    def ignored(relative: str) -> bool:
        parts = relative.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return any(fnmatch.fnmatch(prefix, pattern) for pattern in patterns for prefix in prefixes) or any(
            fnmatch.fnmatch(relative, pattern) for pattern in patterns
        )

    return sorted(
        path for path in context.rglob("*") if path.is_file() and not ignored(path.relative_to(context).as_posix())
    )


def context_digest(context: Path) -> str:
    """A SHA-256 over the build context's paths and contents."""
    files = context_files(context)
    # Services built from one folder hash it once; a file that changes invalidates it.
    stamp = tuple((path, stat.st_mtime_ns, stat.st_size) for path in files for stat in (path.stat(),))
    return _digest(context, stamp)


@functools.cache
def _digest(context: Path, stamp: tuple[tuple[Path, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for path, _, _ in stamp:
        digest.update(path.relative_to(context).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@dataclass(frozen=True)
class ServiceImageArgs:
    context: Path
    """The service folder (with its Dockerfile)."""
    repository: pulumi.Input[str]
    """``<registry host>/ai/<service>``."""
    registry_host: pulumi.Input[str]
    """``host[:port]`` Docker logs in to."""
    username: pulumi.Input[str] | None = None
    password: pulumi.Input[str] | None = None
    """Push credentials; none for an open local registry (kind's, minikube's)."""


class ServiceImage(pulumi.ComponentResource):
    """A service image built from source, pushed, and referenced by digest."""

    TYPE = "ai-platform:services:ServiceImage"

    tag: str
    image_ref: pulumi.Output[str]
    """``<registry>/ai/<service>@sha256:<digest>``: what Deployments run."""

    def __init__(self, name: str, args: ServiceImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        self.tag = context_digest(args.context)[:16]
        image_name = pulumi.Output.concat(args.repository, ":", self.tag)
        # Relative to the program's working directory (infra/ under the engine), so the
        # inputs do not depend on where the repository is checked out.
        context = Path(os.path.relpath(args.context))
        image = docker.Image(
            name,
            image_name=image_name,
            build=docker.DockerBuildArgs(
                context=context.as_posix(),
                dockerfile=(context / "Dockerfile").as_posix(),
                platform=PLATFORM,
                # Reuse layers of the image already pushed for this exact source, if any.
                cache_from=docker.CacheFromArgs(images=[image_name]),
                args={"BUILDKIT_INLINE_CACHE": "1"},
            ),
            registry=(
                docker.RegistryArgs(
                    server=args.registry_host, username=args.username, password=pulumi.Output.secret(args.password)
                )
                if args.username is not None and args.password is not None
                else None
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.image_ref = image.repo_digest
        self.register_outputs({"imageRef": self.image_ref, "tag": self.tag})
